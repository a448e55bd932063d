"""Writes tests/fakes/specs/stripe-<version>.json: the part of Stripe's OpenAPI description
the portal uses (the operations billing/gateways/stripe.py calls, their request schemas),
which tests/fakes/stripe_openapi.py checks every request to the fake Stripe against.

Two sources, the same output shape (OpenAPI 3.0: paths → operation → query `parameters`
and the `application/x-www-form-urlencoded` requestBody schema, `$ref`s into
components/schemas):

    .venv/bin/python tests/fakes/specs/make_stripe_spec.py --openapi spec3.json
        trims Stripe's published description (github.com/stripe/openapi, `openapi/spec3.json`
        or `latest/openapi.spec3.json` at the commit whose info.version is the pinned one).

    .venv/bin/python tests/fakes/specs/make_stripe_spec.py --sdk
        builds it from the installed stripe-python's request-parameter types
        (stripe/params/..., "generated from our OpenAPI spec" by Stripe for the SDK's pinned
        version, stripe.api_version). Used while the published description for the pinned
        version is not at hand: the SDK types are Stripe's own rendering of it. Their enums
        end in `|str` (the SDK's forward compatibility); here an enum is strict, as the API
        is, and `Literal['']` is the API's "empty string unsets".

The version written must equal settings.STRIPE_API_VERSION (the fake refuses any other
Stripe-Version). Descriptions are dropped to keep the file small.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import typing
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (method, path, SDK params module, class, where the parameters go)
OPERATIONS = [
    ("post", "/v1/customers", "stripe.params._customer_create_params", "CustomerCreateParams"),
    (
        "post",
        "/v1/checkout/sessions",
        "stripe.params.checkout._session_create_params",
        "SessionCreateParams",
    ),
    (
        "get",
        "/v1/checkout/sessions/{session}",
        "stripe.params.checkout._session_retrieve_params",
        "SessionRetrieveParams",
    ),
    (
        "post",
        "/v1/payment_intents",
        "stripe.params._payment_intent_create_params",
        "PaymentIntentCreateParams",
    ),
    (
        "get",
        "/v1/payment_intents/{intent}",
        "stripe.params._payment_intent_retrieve_params",
        "PaymentIntentRetrieveParams",
    ),
    ("post", "/v1/refunds", "stripe.params._refund_create_params", "RefundCreateParams"),
    (
        "post",
        "/v1/payment_methods/{payment_method}/detach",
        "stripe.params._payment_method_detach_params",
        "PaymentMethodDetachParams",
    ),
]


def _document(version: str, source: dict, paths: dict, schemas: dict) -> dict:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Stripe API (trimmed)", "version": version, "x-source": source},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


# ---- from the published description -------------------------------------------------------


def _strip(node):
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("description", "summary")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def from_openapi(spec: dict, source: dict) -> dict:
    paths: dict = {}
    schemas: dict = {}
    pending: list[str] = []

    def collect(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                pending.append(ref.rsplit("/", 1)[1])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for method, path, *_ in OPERATIONS:
        operation = spec["paths"][path][method]
        kept = {
            "operationId": operation["operationId"],
            "parameters": _strip(operation.get("parameters", [])),
            "requestBody": _strip(operation.get("requestBody", {})),
        }
        collect(kept)
        paths.setdefault(path, {})[method] = kept
    while pending:  # request schemas are inline in Stripe's spec; follow any $ref anyway
        name = pending.pop()
        if name not in schemas:
            schemas[name] = _strip(spec["components"]["schemas"][name])
            collect(schemas[name])
    return _document(spec["info"]["version"], source, paths, schemas)


# ---- from the SDK's generated types ---------------------------------------------------------


def from_sdk() -> dict:
    import stripe
    import typing_extensions
    from stripe._request_options import RequestOptions

    options = set(RequestOptions.__annotations__)  # api_key, idempotency_key…: not sent
    # Names RequestOptions' annotations use, which its params subclasses inherit.
    extra = {"StripeContext": object, "Mapping": typing.Mapping}
    schemas: dict = {}

    def convert(tp) -> dict:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            members = [a for a in args if a is not type(None)]
            literals = [
                v
                for a in members
                if typing.get_origin(a) is typing.Literal
                for v in typing.get_args(a)
            ]
            if str in members and any(v != "" for v in literals):
                members.remove(str)  # the SDK's forward compatibility, not the API's
            # UntypedStripeObject (a StripeObject passed back) says nothing of the wire form.
            options_ = [o for o in (convert(a) for a in members) if o] or [{}]
            return options_[0] if len(options_) == 1 else {"anyOf": options_}
        if origin is typing.Literal:
            return {"type": "string", "enum": list(args)}
        if origin in (list, typing.List):  # noqa: UP006
            return {"type": "array", "items": convert(args[0])}
        if origin in (dict, typing.Dict):  # noqa: UP006
            return {"type": "object", "additionalProperties": convert(args[1])}
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp in (float, Decimal):
            return {"type": "number"}
        if typing_extensions.is_typeddict(tp):  # the SDK's TypedDict is typing_extensions'
            name = tp.__name__
            if name not in schemas:
                schemas[name] = {}  # a placeholder first: the types refer to themselves
                schemas[name] = object_schema(tp)
            return {"$ref": f"#/components/schemas/{name}"}
        return {}  # Any, UntypedStripeObject: anything

    def object_schema(cls, skip=()) -> dict:
        hints = typing.get_type_hints(cls, localns=extra)
        properties = {k: convert(v) for k, v in sorted(hints.items()) if k not in skip}
        required = sorted(k for k in cls.__required_keys__ if k not in skip)
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    paths: dict = {}
    for method, path, module, name in OPERATIONS:
        cls = getattr(importlib.import_module(module), name)
        body = object_schema(cls, skip=options)
        operation: dict = {"operationId": f"{method.title()}{name.removesuffix('Params')}"}
        if method == "get":
            operation["parameters"] = [
                {
                    "name": key,
                    "in": "query",
                    "required": key in body.get("required", []),
                    "style": "deepObject",
                    "explode": True,
                    "schema": value,
                }
                for key, value in body["properties"].items()
            ]
        else:
            operation["requestBody"] = {
                "content": {"application/x-www-form-urlencoded": {"schema": body}},
                "required": bool(body.get("required")),
            }
        paths.setdefault(path, {})[method] = operation
    source = {
        "from": "stripe-python generated request types (stripe/params)",
        "stripe-python": stripe.VERSION,
    }
    return _document(stripe.api_version, source, paths, schemas)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--openapi", type=Path, help="Stripe's published spec3.json")
    group.add_argument("--sdk", action="store_true", help="the installed stripe-python's types")
    parser.add_argument("--commit", default="", help="stripe/openapi commit of --openapi")
    args = parser.parse_args(argv)
    if args.openapi:
        source = {"from": "github.com/stripe/openapi", "file": args.openapi.name}
        if args.commit:
            source["commit"] = args.commit
        document = from_openapi(json.loads(args.openapi.read_text()), source)
    else:
        document = from_sdk()
    out = HERE / f"stripe-{document['info']['version']}.json"
    out.write_text(json.dumps(document, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"{out.relative_to(HERE.parent.parent.parent)}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
