"""Gateway webhooks: real HTTP endpoints the gateways call (no session, no CSRF: the
signature is the authentication). The gateway module verifies the signature; the billing
service stores the event once and acts on it. A bad signature answers 400 and changes
nothing; an event already received or of a type we ignore answers 200."""

import logging

from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.gateways import card_gateway, paypal_gateway
from billing.gateways.errors import GatewayError
from billing.services.webhooks import webhook_receive

log = logging.getLogger(__name__)


def _acknowledge(stored) -> HttpResponse:
    return HttpResponse(
        "duplicate" if stored is None else stored.outcome, content_type="text/plain"
    )


@csrf_exempt
@require_POST
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
def paypal_webhook(request):
    try:
        event = paypal_gateway().webhook_event(headers=dict(request.headers), body=request.body)
    except GatewayError as error:
        log.warning("PayPal webhook refused: %s", error.code)
        return HttpResponseBadRequest(error.code, content_type="text/plain")
    return _acknowledge(webhook_receive(event=event))
