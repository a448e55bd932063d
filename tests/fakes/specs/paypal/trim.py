"""Regenerates the trimmed request schemas in this folder from PayPal's published OpenAPI
descriptions (github.com/paypal/paypal-rest-api-specifications, openapi/*.json):

    python tests/fakes/specs/paypal/trim.py <checkout_orders_v2.json> \\
        <payments_payment_v2.json> <notifications_webhooks_v1.json> <commit>

Kept: the request body of each call the gateway makes, and every schema it reaches, with
only what a request check needs (type, properties, required, items, allOf/anyOf/oneOf,
additionalProperties, enum). Descriptions, examples and responses are dropped.
"""

import json
import sys
from pathlib import Path

KEEP = ("type", "properties", "required", "items", "allOf", "anyOf", "oneOf", "enum")
HERE = Path(__file__).parent
CALLS = {
    # file, (method, path) -> name in the output
    "orders_v2.json": (
        0,
        {
            ("post", "/v2/checkout/orders"): "create_order",
            ("post", "/v2/checkout/orders/{id}/capture"): "capture_order",
        },
    ),
    "payments_v2.json": (1, {("post", "/v2/payments/captures/{capture_id}/refund"): "refund"}),
    "webhooks_v1.json": (
        2,
        {("post", "/v1/notifications/verify-webhook-signature"): "verify_webhook_signature"},
    ),
}
# Free-form on purpose: PayPal's own event, sent back to PayPal byte for byte.
FREE = {"verify_webhook_signature": ["webhook_event"]}


def trim(node, schemas, spec):
    if isinstance(node, list):
        return [trim(n, schemas, spec) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in schemas:
            schemas[name] = None
            schemas[name] = trim(spec["components"]["schemas"][name], schemas, spec)
        return {"$ref": f"#/schemas/{name}"}
    out = {}
    for key in KEEP:
        if key not in node:
            continue
        if key == "properties":
            out[key] = {k: trim(v, schemas, spec) for k, v in node[key].items()}
        elif key in ("items", "allOf", "anyOf", "oneOf"):
            out[key] = trim(node[key], schemas, spec)
        else:
            out[key] = node[key]
    if isinstance(node.get("additionalProperties"), bool):
        out["additionalProperties"] = node["additionalProperties"]
    return out


def main(sources, commit):
    specs = [json.loads(Path(s).read_text()) for s in sources]
    for output, (index, calls) in CALLS.items():
        spec, schemas, requests = specs[index], {}, {}
        for (method, path), name in calls.items():
            body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
            requests[name] = {"method": method.upper(), "path": path}
            requests[name]["schema"] = trim(body["schema"], schemas, spec)
            for field in FREE.get(name, []):
                target = schemas[requests[name]["schema"]["$ref"].rsplit("/", 1)[-1]]
                target["properties"][field] = {"type": "object"}
        document = {
            "source": f"paypal/paypal-rest-api-specifications@{commit}, openapi/"
            + Path(sources[index]).name,
            "requests": requests,
            "schemas": schemas,
        }
        (HERE / output).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:4], sys.argv[4])
