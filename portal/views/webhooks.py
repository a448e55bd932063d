"""Gateway webhooks: real HTTP endpoints the gateways call (no session, no CSRF: the
signature is the authentication). The gateway module verifies the signature; the billing
service stores the event once and acts on it. A bad signature answers 400 and changes
nothing; an event already received or of a type we ignore answers 200.

Each client IP (accounts.client_ip) may call WEBHOOK_REQUESTS_PER_MINUTE times a minute,
far more than a gateway sends; past it the answer is 429 before the body is read or the
database touched (the gateways retry later)."""

import logging
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.client_ip import client_ip
from accounts.throttle import throttle_count, throttle_key, throttle_retry_seconds
from billing.gateways import card_gateway, paypal_gateway
from billing.gateways.errors import GatewayError
from billing.services.webhooks import webhook_receive

log = logging.getLogger(__name__)


WEBHOOK_RATE_WINDOW = 60  # seconds


def _rate_limited(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        key = throttle_key(scope="webhook", kind="ip", subject=client_ip(request))
        if throttle_count(key=key, window=WEBHOOK_RATE_WINDOW) > (
            settings.WEBHOOK_REQUESTS_PER_MINUTE
        ):
            response = HttpResponse("too many requests", status=429, content_type="text/plain")
            response["Retry-After"] = str(
                throttle_retry_seconds(key=key, window=WEBHOOK_RATE_WINDOW)
            )
            return response
        return view(request, *args, **kwargs)

    return wrapped


def _acknowledge(stored) -> HttpResponse:
    return HttpResponse(
        "duplicate" if stored is None else stored.outcome, content_type="text/plain"
    )


@csrf_exempt
@require_POST
@_rate_limited
def stripe_webhook(request):
    try:
        event = card_gateway().webhook_event(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except GatewayError as error:
        log.warning("Stripe webhook refused: %s", error.code)
        return HttpResponseBadRequest(error.code, content_type="text/plain")
    return _acknowledge(webhook_receive(event=event))


@csrf_exempt
@require_POST
@_rate_limited
def paypal_webhook(request):
    try:
        event = paypal_gateway().webhook_event(headers=dict(request.headers), body=request.body)
    except GatewayError as error:
        log.warning("PayPal webhook refused: %s", error.code)
        return HttpResponseBadRequest(error.code, content_type="text/plain")
    return _acknowledge(webhook_receive(event=event))
