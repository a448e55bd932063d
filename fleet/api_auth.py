"""MDM API authentication: `Authorization: Api-Key <prefix>.<secret>`, one key per platform."""

import re
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from fleet.models import ApiKey
from fleet.services.api_keys import api_key_authenticate

KEYWORD = "Api-Key"
# Header values are Latin-1 text; anything outside the key alphabet is refused unread.
_KEY_SHAPE = re.compile(r"[0-9a-f]{8}\.[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class MdmPlatform:
    """The `request.user` of an API request: the platform that owns the key."""

    api_key: ApiKey
    is_authenticated: bool = True

    @property
    def audit_label(self) -> str:
        # The audit trail records the platform by name (audit_record takes a string actor).
        return f"mdm-api:{self.api_key.name}"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # DRF answers 401 "not_authenticated".
        scheme, _, raw_key = header.partition(" ")
        raw_key = raw_key.strip()
        if scheme.lower() != KEYWORD.lower() or not _KEY_SHAPE.fullmatch(raw_key):
            raise AuthenticationFailed(
                f"Send the key as 'Authorization: {KEYWORD} <key>'.", code="bad_api_key"
            )
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise AuthenticationFailed(
                "This API key is unknown or deactivated.", code="bad_api_key"
            )
        return MdmPlatform(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) and say which scheme it expects.
        return f'{KEYWORD} realm="mdm"'


class HasApiKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the scheme in the OpenAPI schema (drf-spectacular finds it on import)."""

    target_class = "fleet.api_auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`: staff create keys in the admin (MDM API keys).",
        }
