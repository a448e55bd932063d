"""Customer login rules: an e-mailed 6-digit code (django-otp's EmailDevice as the first
factor) or a password. Only the billing contact of a customer logs in; staff never do.

No enumeration: an address that may not log in (unknown, staff, former contact) goes through
the same steps on a stand-in device kept in the cache: the same checks, the same e-mail
rendered (not sent), the same answers. Refusals raise `LoginError` with a message for people.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from math import ceil

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice

from accounts.models import User
from accounts.throttle import (
    throttle_cache_errors,
    throttle_count,
    throttle_key,
    throttle_peek,
    throttle_reset,
)
from audit.services import audit_record

log = logging.getLogger(__name__)

DEVICE_NAME = "Login code"
# A stand-in's token is stored as this: it never equals 6 digits, so it never verifies.
_STAND_IN_TOKEN = "stand-in"
_STAND_IN_FIELDS = (
    "token",
    "valid_until",
    "last_generated_timestamp",
    "throttling_failure_timestamp",
    "throttling_failure_count",
)
_STAND_IN_TTL = 24 * 60 * 60  # seconds: longer than any code lives


class LoginError(Exception):
    """A refused login step; `message` says what happened and what to do."""

    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.message = message
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class CodeRequest:
    """Whether a new code went out; if not (cooldown), when one may be asked for again.
    Identical for addresses that may not log in."""

    sent: bool
    retry_at: datetime | None = None


def login_normalize_email(*, email: str) -> str:
    return (email or "").strip().lower()


def login_code_validity_minutes() -> int:
    return ceil(settings.OTP_EMAIL_TOKEN_VALIDITY / 60)


def login_has_password(*, user: User) -> bool:
    # An empty field (a user made without create_user) is no password either.
    return bool(user.password) and user.has_usable_password()


def login_user_for(*, email: str) -> User | None:
    """The user who may log in to the portal with this address: an active, non-staff
    billing contact of a customer. Anyone else is treated as unknown."""
    return (
        User.objects.filter(
            email__iexact=login_normalize_email(email=email),
            is_active=True,
            is_staff=False,
            is_superuser=False,
            customer__isnull=False,
        )
        .order_by("pk")
        .first()
    )


# ---- login by code -------------------------------------------------------------------


def login_code_request(*, email: str, client_ip: str) -> CodeRequest:
    """Step 1: e-mails a new code (the old one stops working), unless the cooldown since
    the last one is still running. Refused when the address or the client IP asked too often."""
    email = login_normalize_email(email=email)
    _rate_limit_hit(
        kind="code-ip",
        subject=client_ip,
        limit=settings.PORTAL_LOGIN_CODE_REQUESTS_PER_IP,
        message="Too many login codes were asked for from your network. Wait an hour and try "
        "again, or log in with your password if you have set one.",
    )
    _rate_limit_hit(
        kind="code-address",
        subject=email,
        limit=settings.PORTAL_LOGIN_CODE_REQUESTS_PER_ADDRESS,
        message="Too many login codes were asked for this address. Wait an hour and try "
        "again, or log in with your password if you have set one.",
    )
    with transaction.atomic():
        device = _device_for(email=email)
        allowed, info = device.generate_is_allowed()
        if not allowed:
            return CodeRequest(sent=False, retry_at=info["next_generation_at"])
        # A new code gets a fresh count of wrong tries.
        device.throttle_reset(commit=False)
        device.generate_challenge(
            extra_context={"validity_minutes": login_code_validity_minutes(), "email": email}
        )
    return CodeRequest(sent=True)


def login_code_verify(*, email: str, code: str) -> EmailDevice:
    """Step 2: returns the device (its `user` logs in) when the code is right. Each wrong
    code is counted by django-otp's throttle (which also makes the next try wait); the
    PORTAL_LOGIN_CODE_MAX_WRONG-th wrong code voids the code."""
    email = login_normalize_email(email=email)
    code = "".join((code or "").split())
    if len(code) != 6 or not code.isdigit():
        raise LoginError("A code has 6 digits. Copy it from the e-mail and try again.")
    max_wrong = settings.PORTAL_LOGIN_CODE_MAX_WRONG
    refusal = None
    # The refusal is raised after the transaction commits, so the wrong try stays counted.
    with transaction.atomic():
        device = _device_for(email=email)
        now = timezone.now()
        if device.token is None:
            if device.throttling_failure_count >= max_wrong:
                refusal = (
                    f"{max_wrong} wrong codes were entered, so this code no longer works. "
                    "Ask for a new code."
                )
            else:
                refusal = (
                    "There is no code waiting for this address: it was already used, or a "
                    "new one replaced it. Ask for a new code."
                )
        elif now >= device.valid_until:
            refusal = (
                f"This code has expired: a code is valid for {login_code_validity_minutes()} "
                "minutes. Ask for a new code."
            )
        else:
            allowed, info = device.verify_is_allowed()
            if not allowed:
                wait = max(1, ceil((info["locked_until"] - now).total_seconds()))
                refusal = (
                    f"Too many wrong codes in a row. Wait {wait} second{'' if wait == 1 else 's'}, "
                    "then enter the code again."
                )
            elif device.verify_token(code):
                return device
            elif device.throttling_failure_count >= max_wrong:
                device.token = None
                device.valid_until = now
                device.save()
                refusal = (
                    f"That code is not right, and it was the {max_wrong}th wrong code: this "
                    "code no longer works. Ask for a new code."
                )
            else:
                left = max_wrong - device.throttling_failure_count
                refusal = (
                    "That code is not right. Check the latest e-mail and try again "
                    f"({left} {'try' if left == 1 else 'tries'} left for this code)."
                )
    raise LoginError(refusal)


def _device_for(*, email: str) -> EmailDevice:
    """The customer's e-mail device, locked for this transaction; a stand-in otherwise."""
    user = login_user_for(email=email)
    if user is None:
        return _stand_in_device(email=email)
    device = EmailDevice.objects.select_for_update().filter(user=user).order_by("pk").first()
    if device is None:
        device = EmailDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    device.send_mail = lambda body, **kwargs: _send_code_mail(device, body, **kwargs)
    return device


def _send_code_mail(device: EmailDevice, body: str, **kwargs) -> None:
    """Sends the code; a mail server that fails is logged, never the visitor's problem:
    the answer stays the one an unknown address gets (the code is stored, so a resend
    after the cooldown works once the server is back)."""
    try:
        EmailDevice.send_mail(device, body, **kwargs)
    except Exception:
        log.exception("The login code e-mail to user %s could not be sent", device.user_id)


def _stand_in_device(*, email: str) -> EmailDevice:
    """An unsaved EmailDevice whose state lives in the cache. django-otp's own cooldown,
    expiry and throttle code runs on it unchanged; its e-mail is rendered, never sent."""
    key = _cache_key("stand-in", email)
    device = EmailDevice(email=email, name=DEVICE_NAME, confirmed=True)
    with throttle_cache_errors():
        device.__dict__.update(cache.get(key) or {})

    def save(*args, **kwargs):
        state = {field: getattr(device, field) for field in _STAND_IN_FIELDS}
        if state["token"] is not None:
            state["token"] = _STAND_IN_TOKEN
        with throttle_cache_errors():
            cache.set(key, state, timeout=_STAND_IN_TTL)

    device.save = save
    device.send_mail = lambda body, **kwargs: None
    return device


# ---- login by password ---------------------------------------------------------------


def login_password_check(*, email: str, password: str, client_ip: str) -> User:
    """Returns the user when the address may log in and the password is theirs. Wrong
    passwords are counted per address; attempts per client IP."""
    email = login_normalize_email(email=email)
    _rate_limit_hit(
        kind="password-ip",
        subject=client_ip,
        limit=settings.PORTAL_LOGIN_PASSWORD_ATTEMPTS_PER_IP,
        message="Too many login attempts from your network. Wait an hour and try again, or "
        "log in with a code.",
    )
    failures_key = _cache_key("password-address", email)
    if throttle_peek(key=failures_key) >= settings.PORTAL_LOGIN_PASSWORD_FAILURES_PER_ADDRESS:
        raise LoginError(
            "Too many wrong passwords for this address. Wait an hour, or log in with a code "
            "instead.",
            rate_limited=True,
        )
    user = login_user_for(email=email)
    if user is not None and login_has_password(user=user):
        matches = user.check_password(password)
    else:
        # The same hashing work as a real check, so the answer time gives nothing away.
        make_password(password)
        matches = False
    if not matches:
        _rate_count(key=failures_key)
        raise LoginError(
            "That e-mail address and password do not match. Check them, or log in with a "
            "code: a forgotten password is simply a code login."
        )
    throttle_reset(key=failures_key)
    return user


@transaction.atomic
def login_password_set(*, user: User, password: str) -> None:
    """Sets (first time) or changes the portal password; Django's validators apply.
    Other sessions of the user end (the session hash covers the password)."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise LoginError(" ".join(error.messages)) from error
    first_time = not login_has_password(user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        actor=user,
        action="user.password_set" if first_time else "user.password_change",
        target=user,
    )


# ---- rate limits (accounts.throttle: cache counters, fixed windows) ------------------


def _cache_key(kind: str, subject: str) -> str:
    return throttle_key(scope="portal-login", kind=kind, subject=subject)


def _rate_count(*, key: str) -> int:
    return throttle_count(key=key, window=settings.PORTAL_LOGIN_RATE_WINDOW)


def _rate_limit_hit(*, kind: str, subject: str, limit: int, message: str) -> None:
    if _rate_count(key=_cache_key(kind, subject)) > limit:
        raise LoginError(message, rate_limited=True)
