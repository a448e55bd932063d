"""Checks a request body against PayPal's published schemas (trimmed copies in
tests/fakes/specs/paypal/): a field the schema lacks, a required one missing, or a value
outside an enum is a problem, in the fake's (issue, field, description) form."""

import json
import re
from functools import cache
from pathlib import Path

SPECS = Path(__file__).parent / "specs" / "paypal"
FILES = ("orders_v2.json", "payments_v2.json", "webhooks_v1.json")


@cache
def _documents() -> list[dict]:
    return [json.loads((SPECS / name).read_text()) for name in FILES]


def request_for(method: str, path: str) -> tuple[dict, dict] | None:
    """(the request's schema, its document) for a call PayPal defines, else None."""
    for document in _documents():
        for request in document["requests"].values():
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", request["path"])
            if request["method"] == method and re.fullmatch(pattern, path):
                return request["schema"], document
    return None


def _resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _object(schema: dict, document: dict) -> tuple[dict, list, bool]:
    """Properties and required names, allOf merged; whether it describes an object."""
    schema = _resolve(schema, document)
    properties, required = dict(schema.get("properties") or {}), list(schema.get("required") or [])
    is_object = "properties" in schema or schema.get("type") == "object"
    for part in schema.get("allOf") or []:
        more, needed, part_object = _object(part, document)
        properties.update(more)
        required += needed
        is_object = is_object or part_object
    return properties, required, is_object


def problems(method: str, path: str, body) -> list[tuple[str, str, str]]:
    found = request_for(method, path)
    if found is None or body is None:
        return []
    schema, document = found
    out: list[tuple[str, str, str]] = []
    _check(schema, body, "", document, out)
    return out


def _check(schema: dict, value, where: str, document: dict, out: list) -> None:
    schema = _resolve(schema, document)
    if schema.get("anyOf") or schema.get("oneOf"):
        return  # alternatives: not checked deeper
    if "enum" in schema and value not in schema["enum"]:
        out.append(("INVALID_PARAMETER_VALUE", where or "/", f"{value!r} is not allowed"))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(schema["items"], item, f"{where}/{index}", document, out)
        return
    properties, required, is_object = _object(schema, document)
    if not is_object:
        return
    if not isinstance(value, dict):
        out.append(("INVALID_PARAMETER_SYNTAX", where or "/", "an object is expected"))
        return
    for name in required:
        if name not in value:
            out.append(("MISSING_REQUIRED_PARAMETER", f"{where}/{name}", f"{name} is required"))
    free = schema.get("additionalProperties") is True or not properties
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, f"{where}/{name}", document, out)
        elif not free:
            out.append(
                ("UNKNOWN_FIELD", f"{where}/{name}", f"{name} is not a field of this request")
            )
