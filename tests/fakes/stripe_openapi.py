"""Checks a request to the fake Stripe against Stripe's OpenAPI description for the pinned
API version (tests/fakes/specs/stripe-<version>.json, made by specs/make_stripe_spec.py), as
Stripe itself would: the Stripe-Version header must be that version; the decoded form
parameters (`a[b][0]=x`, query and body) must fit the operation's requestBody schema (POST)
or its query parameters (GET). A parameter the spec lacks → parameter_unknown, a required
one missing → parameter_missing, a value of the wrong type or outside an enum →
parameter_invalid. A small walker over the schema forms Stripe's request schemas use
($ref, anyOf, object, array, string/enum, integer, number, boolean), every value being a
string on the wire.

`check(method, path, params, headers)` returns None, or the Stripe-shaped error body
({"type": "invalid_request_error", "code", "param", "message"}).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from django.conf import settings

SPECS = Path(__file__).resolve().parent / "specs"


@functools.cache
def spec(version: str) -> dict:
    path = SPECS / f"stripe-{version}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No trimmed Stripe spec for {version}: run tests/fakes/specs/make_stripe_spec.py"
        )
    return json.loads(path.read_text())


def _operation(document: dict, method: str, path: str) -> dict | None:
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def _error(code: str, param: str, message: str) -> dict:
    return {"type": "invalid_request_error", "code": code, "param": param, "message": message}


def _name(prefix: str, key: object) -> str:
    return f"{prefix}[{key}]" if prefix else str(key)


class _Walker:
    def __init__(self, document: dict):
        self.schemas = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def shape_fits(self, schema: dict, value: object) -> bool:
        """Whether `value` has the schema's shape (object, array, scalar): which anyOf
        branch to blame when none fits."""
        schema = self.resolve(schema)
        kind = schema.get("type")
        if kind == "object":
            return isinstance(value, dict)
        if kind == "array":
            return isinstance(value, list)
        return kind is None or isinstance(value, str)

    def check(self, schema: dict, value: object, param: str) -> dict | None:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            errors = []
            for option in schema["anyOf"]:
                error = self.check(option, value, param)
                if error is None:
                    return None
                errors.append((self.shape_fits(option, value), error))
            fitting = [e for fits, e in errors if fits]
            return (fitting or [e for _, e in errors])[0]
        kind = schema.get("type")
        if kind == "object":
            return self.check_object(schema, value, param)
        if kind == "array":
            if not isinstance(value, list):
                return _error("parameter_invalid", param, f"Invalid array: {param}.")
            for index, item in enumerate(value):
                error = self.check(schema.get("items", {}), item, _name(param, index))
                if error:
                    return error
            return None
        if kind is None:
            return None
        if not isinstance(value, str):
            return _error("parameter_invalid", param, f"Invalid {kind}: {param}.")
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(repr(v) for v in schema["enum"])
            return _error(
                "parameter_invalid",
                param,
                f"Invalid {param}: must be one of {allowed}; got {value!r}.",
            )
        valid = {
            "string": True,
            "integer": re.fullmatch(r"-?\d+", value) is not None,
            "number": re.fullmatch(r"-?\d+(\.\d+)?", value) is not None,
            "boolean": value in ("true", "false"),
        }.get(kind, True)
        if not valid:
            return _error("parameter_invalid", param, f"Invalid {kind}: {param}={value!r}.")
        return None

    def check_object(self, schema: dict, value: object, param: str) -> dict | None:
        if not isinstance(value, dict):
            return _error("parameter_invalid", param, f"Invalid object: {param}.")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", not properties)
        for key, item in value.items():
            name = _name(param, key)
            if key in properties:
                sub = properties[key]
            elif isinstance(extra, dict):
                sub = extra
            elif extra is True:
                continue
            else:
                return _error("parameter_unknown", name, f"Received unknown parameter: {name}")
            error = self.check(sub, item, name)
            if error:
                return error
        for key in schema.get("required", []):
            if key not in value:
                name = _name(param, key)
                return _error("parameter_missing", name, f"Missing required param: {name}.")
        return None


def check(method: str, path: str, params: dict, headers) -> dict | None:
    """None when Stripe at the pinned version would accept this request, else its error."""
    version = settings.STRIPE_API_VERSION
    sent = headers.get("Stripe-Version")
    if sent != version:
        return _error(
            "api_version_invalid",
            "",
            f"Stripe-Version {sent!r} is not the pinned {version!r} (settings).",
        )
    document = spec(version)
    operation = _operation(document, method, path)
    if operation is None:
        return None  # not an operation we use: the fake's router answers 404
    if method.upper() == "GET":
        schema = {
            "type": "object",
            "properties": {
                p["name"]: p["schema"]
                for p in operation.get("parameters", [])
                if p["in"] == "query"
            },
            "required": [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            ],
            "additionalProperties": False,
        }
    else:
        body = operation.get("requestBody", {}).get("content", {})
        form = body.get("application/x-www-form-urlencoded", {})
        schema = form.get("schema", {"type": "object", "additionalProperties": False})
    return _Walker(document).check(schema, params, "")
