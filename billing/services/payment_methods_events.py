"""What the card gateway tells us about a saved method after it was saved: a SEPA mandate
revoked at the bank (mandate.updated, inactive), a card the network renewed
(payment_method.automatically_updated), a method removed at the gateway
(payment_method.detached). Audited; the customer is told when they can no longer pay
with it.

A method that cannot be charged any more is removed (kept as a record for its payments)
and is no longer the default, even while invoices are open (unlike a removal by the
customer, which is refused then): collecting from it would fail. The customer is asked
to choose another when it was the default and invoices are open.
"""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.gateways import interface as gw
from billing.models import InvoiceStatus, PaymentMethod
from billing.notifications import notify_payment_method_removed
from billing.services.locks import lock_customer


def _method(gateway_ref: str) -> PaymentMethod | None:
    """Ours with that Stripe id: a live one first (a removed one is kept for its payments)."""
    if not gateway_ref:
        return None
    methods = PaymentMethod.objects.filter(gateway="stripe", gateway_ref=gateway_ref)
    return (
        methods.filter(removed_at__isnull=True).order_by("-pk").first()
        or methods.order_by("-pk").first()
    )


def payment_method_gateway_event(*, event: gw.GatewayEvent, actor: Actor) -> str:
    data = event.data
    if event.type == "mandate.updated":
        if data.get("status") != "inactive":
            return f"ignored: mandate {data.get('status') or 'unknown'}"
        method = _method(str(data.get("payment_method") or ""))
        if method is None:
            return "ignored: no such payment method"
        return payment_method_unusable(
            method=method, why="the bank mandate was revoked", actor=actor
        )
    method = _method(str(data.get("id") or ""))
    if method is None:
        return "ignored: no such payment method"
    if event.type == "payment_method.detached":
        return payment_method_unusable(
            method=method,
            why="it was removed from your account at our payment provider",
            actor=actor,
        )
    if event.type == "payment_method.automatically_updated":
        return payment_method_refresh_card(method=method, card=data.get("card") or {}, actor=actor)
    return "ignored: type"


@transaction.atomic
def payment_method_unusable(*, method: PaymentMethod, why: str, actor: Actor) -> str:
    """Removed and no longer the default; the customer told, once (a removed method is
    left alone)."""
    customer = lock_customer(pk=method.customer_id)
    method = PaymentMethod.objects.select_for_update().get(pk=method.pk)
    if method.removed_at is not None:
        return f"payment method {method.pk}: already removed"
    was_default = method.is_default
    method.is_default = False
    method.removed_at = timezone.now()
    method.save(update_fields=["is_default", "removed_at"])
    audit_record(
        actor=actor,
        action="payment_method.unusable",
        target=method,
        before={"default": was_default},
        after={"method": str(method), "default": False, "why": why},
    )
    choose_another = was_default and customer.invoices.filter(status=InvoiceStatus.OPEN).exists()
    notify_payment_method_removed(
        customer=customer,
        method=method,
        why=why,
        choose_another=choose_another,
        url=f"{settings.PORTAL_BASE_URL.rstrip('/')}{reverse('portal:payment_method')}",
    )
    return f"payment method {method.pk}: removed"


@transaction.atomic
def payment_method_refresh_card(*, method: PaymentMethod, card: dict, actor: Actor) -> str:
    """The card network renewed the card: its new expiry and last 4, audited."""
    lock_customer(pk=method.customer_id)
    method = PaymentMethod.objects.select_for_update().get(pk=method.pk)
    before = {"last4": method.last4, "exp_month": method.exp_month, "exp_year": method.exp_year}
    if card.get("last4"):
        method.last4 = str(card["last4"])[:4]
    if isinstance(card.get("exp_month"), int):
        method.exp_month = card["exp_month"]
    if isinstance(card.get("exp_year"), int):
        method.exp_year = card["exp_year"]
    after = {"last4": method.last4, "exp_month": method.exp_month, "exp_year": method.exp_year}
    if after == before:
        return f"payment method {method.pk}: unchanged"
    method.save(update_fields=["last4", "exp_month", "exp_year"])
    audit_record(
        actor=actor, action="payment_method.updated", target=method, before=before, after=after
    )
    return f"payment method {method.pk}: updated"
