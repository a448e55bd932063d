"""MDM API keys: created by staff, shown once, stored as a SHA-256 hash."""

import hashlib
import hmac
import secrets
from typing import Annotated

from django.utils import timezone

from audit.services import Actor, audit_record
from fleet.models import ApiKey

# The raw key is "<prefix>.<secret>": 8 hex characters to find the row, then 43
# URL-safe characters (256 bits) of secret.
_PREFIX_BYTES = 4
_SECRET_BYTES = 32


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(
    *, name: Annotated[str, "which MDM platform uses it"], actor: Actor
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the raw key, which is never stored nor shown again."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    raw_key = f"{prefix}.{secrets.token_urlsafe(_SECRET_BYTES)}"
    api_key = ApiKey.objects.create(name=name, prefix=prefix, hashed_key=_hash(raw_key))
    audit_record(actor=actor, action="api_key.create", target=api_key, after={"name": name})
    return api_key, raw_key


def api_key_authenticate(*, raw_key: Annotated[str, "as the client sent it"]) -> ApiKey | None:
    """The active key matching `raw_key`, its last use stamped; None for anything else."""
    prefix, dot, _secret = raw_key.partition(".")
    if not dot or len(prefix) != _PREFIX_BYTES * 2:
        return None
    api_key = ApiKey.objects.filter(prefix=prefix, is_active=True).first()
    # Constant-time comparison: the hash must not leak through response timing.
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, _hash(raw_key)):
        return None
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    return api_key


def api_key_deactivate(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    if api_key.is_active:
        ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)
        api_key.is_active = False
        audit_record(
            actor=actor,
            action="api_key.deactivate",
            target=api_key,
            before={"is_active": True},
            after={"is_active": False},
        )
    return api_key
