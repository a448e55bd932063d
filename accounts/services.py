"""Staff accounts (admin: password + TOTP code), and ending a user's sessions."""

from django.db import transaction
from django.db.models import F
from django_otp.plugins.otp_email.models import EmailDevice
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


def user_sessions_end(*, user: User) -> None:
    """Ends every session of `user` at once: each one fails the session hash check on its
    next request (accounts.User._get_session_auth_hash)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])


@transaction.atomic
def user_portal_access_revoke(*, user: User) -> None:
    """The address no longer logs in to the portal: sessions end, the password goes, and
    any pending login code is void."""
    user_sessions_end(user=user)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    EmailDevice.objects.filter(user=user).delete()
