"""Every MDM API error as `{"code": ..., "message": ...}` with the right HTTP status."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from fleet.errors import FleetError

# Refusals of the fleet rules: conflicts with the data (409) or with the organization's
# mode (423 Locked); anything else the service refuses is a bad request.
_CONFLICT_CODES = {"licences_exhausted", "duplicate_serial", "move_not_allowed"}
_LOCKED_PREFIX = "organization_"


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested validation detail as {field: [messages]}."""
    if isinstance(detail, dict):
        return {
            str(field): [str(m) for m in (value if isinstance(value, list) else [value])]
            for field, value in detail.items()
        }
    items = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(m) for m in items]}


def _body(code: str, message: str, errors: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def api_exception_handler(exc, context):
    if isinstance(exc, FleetError):
        if exc.code in _CONFLICT_CODES:
            http_status = status.HTTP_409_CONFLICT
        elif exc.code.startswith(_LOCKED_PREFIX):
            http_status = status.HTTP_423_LOCKED
        else:
            http_status = status.HTTP_400_BAD_REQUEST
        return Response(_body(exc.code, exc.message), status=http_status)
    if isinstance(exc, Http404):
        return Response(_body("not_found", str(exc) or "Not found."), status=404)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        summary = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        return Response(_body("invalid", f"Invalid request. {summary}", errors), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(_body("malformed_json", f"The body is not valid JSON: {exc.detail}"), 400)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return Response(_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    return None  # A bug: let Django answer 500 and log it.
