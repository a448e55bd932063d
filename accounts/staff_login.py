"""Staff log in to the admin in one step: e-mail, password and the 6-digit code of their
authenticator app (a confirmed TOTP device), all on one page.

One answer for every refusal (unknown address, wrong password, wrong or missing code, not
staff, no device), so the page never tells that a password was right. Attempts are counted
per address and per client IP (accounts.throttle) before anything is checked: past the
limit an attempt is refused without looking at the password.
"""

from dataclasses import dataclass
from math import ceil

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.throttle import throttle_count, throttle_key, throttle_reset, throttle_retry_seconds

STAFF_LOGIN_REFUSED = (
    "Enter a correct e-mail, password and 6-digit code from your authenticator app."
)


class StaffLoginError(Exception):
    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.message = message
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class StaffLogin:
    """Who logs in, and the device that verified the code (django_otp.login takes it)."""

    user: User
    device: TOTPDevice


def staff_login_check(*, request, email: str, password: str, code: str, client_ip: str):
    """Returns a StaffLogin when the password and the code are both right; raises
    StaffLoginError otherwise."""
    email = (email or "").strip().lower()
    code = "".join((code or "").split())
    window = settings.STAFF_LOGIN_RATE_WINDOW
    # Counted first, atomically: concurrent attempts cannot slip past the limit.
    address_key = throttle_key(scope="staff-login", kind="address", subject=email)
    for key, limit in (
        (
            throttle_key(scope="staff-login", kind="ip", subject=client_ip),
            settings.STAFF_LOGIN_ATTEMPTS_PER_IP,
        ),
        (address_key, settings.STAFF_LOGIN_ATTEMPTS_PER_ADDRESS),
    ):
        if throttle_count(key=key, window=window) > limit:
            minutes = ceil(throttle_retry_seconds(key=key, window=window) / 60)
            raise StaffLoginError(
                f"Too many attempts; try again in {minutes} minute{'' if minutes == 1 else 's'}.",
                rate_limited=True,
            )
    # ModelBackend hashes the password even for an unknown address (same work either way).
    user = authenticate(request, username=email, password=password)
    if user is None or not user.is_staff:
        raise StaffLoginError(STAFF_LOGIN_REFUSED)
    device = _device_matching(user=user, code=code)
    if device is None:
        raise StaffLoginError(STAFF_LOGIN_REFUSED)
    throttle_reset(key=address_key)
    return StaffLogin(user=user, device=device)


def _device_matching(*, user: User, code: str) -> TOTPDevice | None:
    """The confirmed TOTP device of `user` that accepts `code`. django-otp's throttle
    applies: a device locked after wrong codes accepts nothing until its wait is over."""
    if len(code) != 6 or not code.isdigit():
        return None
    with transaction.atomic():
        devices = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices.order_by("pk"):
            allowed, _ = device.verify_is_allowed()
            if allowed and device.verify_token(code):
                return device
    return None
