"""Staff helpers for tests: the admin login asks for the password and a TOTP code."""

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

STAFF_PASSWORD = "staff-password-1"  # tests.factories.StaffUserFactory's


def totp_token(device: TOTPDevice) -> str:
    """The device's current 6-digit code, as an authenticator app shows it."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"
