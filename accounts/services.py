"""Staff accounts. Staff log in to the admin with a password and a TOTP code."""

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


@transaction.atomic
def staff_user_create(*, email: str, password: str, totp_key: str | None = None) -> TOTPDevice:
    """Creates a superuser and its confirmed TOTP device. `totp_key` is hex (demo: fixed)."""
    if User.objects.filter(email__iexact=email).exists():
        raise ValueError(f"The address {email} is already used by another account.")
    user = User.objects.create_superuser(email=email, password=password)
    extra = {"key": totp_key} if totp_key else {}
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True, **extra)
