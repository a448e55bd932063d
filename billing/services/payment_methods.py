"""Payment methods: a card or SEPA mandate saved on the gateway's hosted page, PayPal, or
bank transfer. One live method is the default (database constraint).

Accepted cards: Visa and Mastercard, not prepaid. The hosted page blocks the others where
the gateway can; the saved method's brand and funding are checked again here, and a
refused one is detached at the gateway and not kept.
"""

import contextlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.gateways import card_gateway, card_gateway_name
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError, customer_message
from billing.models import (
    OFF_SESSION_KINDS,
    Customer,
    Gateway,
    InvoiceStatus,
    PaymentMethod,
    PaymentMethodKind,
)
from billing.services.card_rules import (  # noqa: F401 (the rule, where it was)
    ACCEPTED_CARD_BRANDS,
    payment_method_check_accepted,
)
from billing.services.locks import lock_customer
from billing.services.ownership import hosted_owner_check
from billing.services.payment_kinds import payment_kind_require
from billing.services.payments import gateway_customer

OFFLINE_KINDS = (PaymentMethodKind.PAYPAL, PaymentMethodKind.BANK_TRANSFER)


def payment_methods_for(*, customer: Customer):
    return customer.payment_methods.filter(removed_at__isnull=True).order_by(
        "-is_default", "-created_at", "-id"
    )


def payment_methods_chargeable(*, customer: Customer):
    """The live methods we can charge without the customer (card, SEPA debit), saved
    through the card gateway configured now (none when it is not: fail closed)."""
    gateway = card_gateway_name()
    if not gateway:
        return PaymentMethod.objects.none()
    return payment_methods_for(customer=customer).filter(
        kind__in=OFF_SESSION_KINDS, gateway=gateway
    )


def payment_method_default(*, customer: Customer) -> PaymentMethod | None:
    return payment_methods_for(customer=customer).filter(is_default=True).first()


def payment_method_setup_start(
    *, customer: Customer, kind: str, success_url: str, cancel_url: str
) -> gw.HostedSession:
    """Sends the customer to the gateway's page to save a card or a SEPA mandate."""
    if kind not in (PaymentMethodKind.CARD, PaymentMethodKind.SEPA_DEBIT):
        raise BillingError("Choose a card or a SEPA direct debit.", code="method_kind_invalid")
    payment_kind_require(kind=kind)
    try:
        session = card_gateway().setup_session_create(
            gw.SetupSessionRequest(
                customer=gateway_customer(customer=customer),
                kinds=(kind,),
                success_url=success_url,
                cancel_url=cancel_url,
            )
        )
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    if session.gateway_customer_ref and not customer.gateway_customer_ref:
        Customer.objects.filter(pk=customer.pk, gateway_customer_ref="").update(
            gateway_customer_ref=session.gateway_customer_ref
        )
    return session


@transaction.atomic
def payment_method_setup_finish(
    *, customer: Customer, session_id: str, actor: Actor
) -> PaymentMethod:
    """The customer is back from the hosted page: keep the method if we accept it. Safe to
    call twice (the same saved method is returned).

    The session id comes from the URL, so it is checked to be this customer's session
    (services/ownership.py) before anything else: another customer's is refused with
    nothing saved, and its method is not detached either (it is theirs)."""
    payment_kind_require(kind=PaymentMethodKind.CARD)
    gateway = card_gateway()
    try:
        saved = gateway.setup_session_result(session_id)
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    # The page adds "Nothing was saved." to every refusal.
    hosted_owner_check(
        customer=customer, owner=saved.owner, what="setup session", nothing_changed=""
    )
    try:
        payment_method_check_accepted(saved=saved)
    except BillingError:
        # It stays unused at the gateway if this fails; nothing is kept here.
        with contextlib.suppress(GatewayError):
            gateway.method_detach(saved.gateway_ref)
        raise
    customer = lock_customer(pk=customer.pk)
    existing = customer.payment_methods.filter(
        gateway=gateway.name, gateway_ref=saved.gateway_ref, removed_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    method = PaymentMethod.objects.create(
        customer=customer,
        kind=saved.kind,
        gateway=gateway.name,
        gateway_ref=saved.gateway_ref,
        brand=saved.brand,
        last4=saved.last4,
        exp_month=saved.exp_month,
        exp_year=saved.exp_year,
        funding=saved.funding,
        mandate_ref=saved.mandate_ref,
        is_default=payment_method_default(customer=customer) is None,
    )
    _audit(actor=actor, action="payment_method.add", method=method)
    return method


@transaction.atomic
def payment_method_add_offline(*, customer: Customer, kind: str, actor: Actor) -> PaymentMethod:
    """PayPal (each invoice approved on PayPal) or bank transfer: nothing to save at a
    gateway. One of each kind."""
    if kind not in OFFLINE_KINDS:
        raise BillingError("Choose PayPal or bank transfer.", code="method_kind_invalid")
    payment_kind_require(kind=kind)
    customer = lock_customer(pk=customer.pk)
    existing = payment_methods_for(customer=customer).filter(kind=kind).first()
    if existing is not None:
        return existing
    method = PaymentMethod.objects.create(
        customer=customer,
        kind=kind,
        gateway=Gateway.PAYPAL if kind == PaymentMethodKind.PAYPAL else Gateway.OFFLINE,
        is_default=payment_method_default(customer=customer) is None,
    )
    _audit(actor=actor, action="payment_method.add", method=method)
    return method


@transaction.atomic
def payment_method_set_default(
    *, customer: Customer, method: PaymentMethod, actor: Actor
) -> PaymentMethod:
    customer = lock_customer(pk=customer.pk)
    method = PaymentMethod.objects.select_for_update().get(pk=method.pk, customer=customer)
    if method.removed_at is not None:
        raise BillingError("That payment method was removed.", code="method_unavailable")
    previous = payment_method_default(customer=customer)
    if previous is not None and previous.pk != method.pk:
        PaymentMethod.objects.filter(pk=previous.pk).update(is_default=False)
    try:
        PaymentMethod.objects.filter(pk=method.pk).update(is_default=True)
    except IntegrityError:  # pragma: no cover - the customer lock serializes this
        raise BillingError("Try again.", code="retry") from None
    method.refresh_from_db()
    _audit(
        actor=actor,
        action="payment_method.default",
        method=method,
        before={"default": str(previous) if previous else None},
    )
    return method


@transaction.atomic
def payment_method_remove(*, customer: Customer, method: PaymentMethod, actor: Actor) -> None:
    """Removes a method (kept as a record for its payments). The default cannot go while
    invoices are open: they would have no way to be collected."""
    customer = lock_customer(pk=customer.pk)
    method = PaymentMethod.objects.select_for_update().get(pk=method.pk, customer=customer)
    if method.removed_at is not None:
        return
    if method.is_default and customer.invoices.filter(status=InvoiceStatus.OPEN).exists():
        raise BillingError(
            f"{method} is your default payment method and invoices are open. Choose another "
            "default first, then remove it.",
            code="default_in_use",
        )
    method.is_default = False
    method.removed_at = timezone.now()
    method.save(update_fields=["is_default", "removed_at"])
    if method.gateway_ref and method.gateway == card_gateway_name():
        gateway_ref = method.gateway_ref
        transaction.on_commit(lambda: _detach_quietly(gateway_ref))
    _audit(actor=actor, action="payment_method.remove", method=method)


def _detach_quietly(gateway_ref: str) -> None:
    # Unused at the gateway if this fails: a removed method is never charged.
    with contextlib.suppress(GatewayError):
        card_gateway().method_detach(gateway_ref)


def _audit(*, actor: Actor, action: str, method: PaymentMethod, before: dict | None = None):
    audit_record(
        actor=actor,
        action=action,
        target=method,
        before=before,
        after={"method": str(method), "default": method.is_default},
    )
