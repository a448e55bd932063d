"""Paying an open invoice: a saved card or SEPA mandate, a new card on the gateway's
hosted page, PayPal, or bank transfer (the instructions). Thin: billing.services.payments
charges, records and applies (partial payments, overpayments as credit, the organization
active again); these views send the customer where the gateway says and tell them what
happened. Every lookup is scoped to the logged-in customer: another's invoice is a 404."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing.errors import BillingError
from billing.gateways.errors import AUTHENTICATION_REQUIRED
from billing.models import (
    CreditKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.money import money, money_format
from billing.selectors import invoice_for_customer
from billing.services.payment_kinds import payment_kinds_offered
from billing.services.payment_methods import payment_method_default, payment_methods_chargeable
from billing.services.payments import (
    NOTHING_TO_PAY,
    PAYMENT_IN_PROGRESS,
    invoice_pay_refusal,
    payment_charge_method,
    payment_hosted_finish,
    payment_hosted_start,
    payment_refresh,
)
from billing.services.paypal_payments import payment_paypal_capture, payment_paypal_start
from portal.context import customer_required
from portal.forms_billing import PAY_NEW_CARD, PAY_PAYPAL, PAY_SAVED, PayInvoiceForm

NOTHING_CHARGED = "Nothing was charged."


def _invoice_or_404(customer, number) -> Invoice:
    try:
        return invoice_for_customer(customer=customer, number=number)
    except Invoice.DoesNotExist as missing:
        raise Http404("No such invoice") from missing


def _absolute(request, name, number) -> str:
    return request.build_absolute_uri(reverse(name, args=[number]))


@customer_required
@require_http_methods(["GET", "POST"])
def invoice_pay(request, *, customer, number):
    invoice = _invoice_or_404(customer, number)
    refusal = invoice_pay_refusal(invoice=invoice)
    if refusal is not None and refusal.code == NOTHING_TO_PAY:
        messages.info(request, refusal.message)
        return redirect("portal:invoice_detail", invoice.number)
    form = PayInvoiceForm(request.POST or None, customer=customer)
    if request.method == "POST":
        if not form.is_valid():
            if form.has_error("method"):
                raise Http404("No such payment method")  # not one of the customer's
            said = [*form.errors.get("how", []), *form.non_field_errors()]
            messages.error(request, " ".join(said) or "Choose how to pay.")
            return redirect("portal:invoice_pay", invoice.number)
        how = form.cleaned_data["how"]
        try:
            if how == PAY_SAVED:
                payment = payment_charge_method(
                    invoice=invoice,
                    method=form.cleaned_data["method"],
                    actor=request.user,
                    off_session=False,
                    return_url=_absolute(request, "portal:invoice_pay_authenticated", number),
                )
                return _outcome(request, invoice, payment)
            if how == PAY_NEW_CARD:
                back = _absolute(request, "portal:invoice_pay_card_return", number)
                started = payment_hosted_start(
                    invoice=invoice,
                    actor=request.user,
                    # The gateway puts the session's id in place of {SESSION_ID}.
                    success_url=f"{back}?session_id={{SESSION_ID}}",
                    cancel_url=_absolute(request, "portal:invoice_pay_cancelled", number),
                )
            else:
                assert how == PAY_PAYPAL
                started = payment_paypal_start(
                    invoice=invoice,
                    actor=request.user,
                    return_url=_absolute(request, "portal:invoice_pay_paypal_return", number),
                    cancel_url=_absolute(request, "portal:invoice_pay_cancelled", number),
                )
        except BillingError as error:
            messages.error(request, error.message)
            return redirect("portal:invoice_pay", invoice.number)
        return redirect(started.redirect_url)
    return render(
        request,
        "portal/invoice_pay.html",
        {
            "invoice": invoice,
            "chargeable": payment_methods_chargeable(customer=customer),
            "offered": payment_kinds_offered(),
            "default": payment_method_default(customer=customer),
            "pending": refusal is not None and refusal.code == PAYMENT_IN_PROGRESS,
            # PayPal, not a bank, confirms a pending PayPal payment.
            "pending_paypal": invoice.payments.filter(
                status=PaymentStatus.PENDING, method_kind=PaymentMethodKind.PAYPAL
            ).exists(),
            "seller": settings.BILLING_SELLER,
            "nav": "invoices",
        },
    )


def _outcome(request, invoice: Invoice, payment: Payment):
    """Where the customer goes, and what they are told, once the gateway answered."""
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.action_url:
        return redirect(payment.action_url)  # 3-D Secure, then back to the return view
    if payment.status == PaymentStatus.SUCCEEDED:
        messages.success(request, _paid_message(invoice, payment))
        return redirect("portal:invoice_detail", invoice.number)
    if payment.status == PaymentStatus.PENDING:
        if payment.error_message:  # the gateway did not answer: the same key is retried
            messages.info(
                request,
                "We could not hear back from the payment provider. We check again shortly: "
                "you will not be charged twice.",
            )
        elif payment.method_kind == PaymentMethodKind.PAYPAL:
            messages.info(
                request,
                f"Your PayPal payment of {money_format(payment.amount, payment.currency)} is "
                "on its way: PayPal is still confirming it. The invoice shows paid then.",
            )
        else:
            messages.info(
                request,
                f"Your payment of {money_format(payment.amount, payment.currency)} is on its "
                "way: your bank confirms it within a few days. The invoice shows paid then.",
            )
        return redirect("portal:invoice_detail", invoice.number)
    if payment.status == PaymentStatus.FAILED:
        if payment.error_code == AUTHENTICATION_REQUIRED and not payment.off_session:
            reason = "Your bank could not confirm this payment (3-D Secure failed)."
        else:
            reason = payment.failure_message or "The payment failed."
        if "Nothing was charged" not in reason:
            reason = f"{reason} {NOTHING_CHARGED}"
        messages.error(request, f"{reason} The invoice is still open.")
        return redirect("portal:invoice_pay", invoice.number)
    messages.info(request, "The payment is not complete yet. Try again, or choose another way.")
    return redirect("portal:invoice_pay", invoice.number)


def _paid_message(invoice: Invoice, payment: Payment) -> str:
    invoice.refresh_from_db()
    paid = money_format(payment.amount, payment.currency)
    if invoice.status == InvoiceStatus.PAID:
        message = f"Thank you: {paid} received. Invoice {invoice.number} is paid."
    else:
        message = (
            f"Thank you: {paid} received. {money_format(invoice.amount_due)} is still due "
            f"on invoice {invoice.number}."
        )
    credited = invoice.credit_entries.filter(kind=CreditKind.OVERPAYMENT).order_by("-pk").first()
    if credited is not None and credited.created_at >= payment.updated_at:
        amount = money(credited.amount, invoice.currency)
        message += f" You paid more than was due: {money_format(amount)} is now your credit."
    return message


def _returned(request, customer, number, *, param: str, finish, not_found: str):
    """Back from a gateway page with its reference in `param`: the attempt must be one of
    this invoice's; `finish(payment, ref)` asks the service how it ended."""
    invoice = _invoice_or_404(customer, number)
    ref = request.GET.get(param, "")
    payment = invoice.payments.filter(gateway_ref=ref).first() if ref else None
    if payment is None:
        messages.error(request, not_found)
        return redirect("portal:invoice_detail", invoice.number)
    try:
        payment = finish(payment, ref)
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("portal:invoice_detail", invoice.number)
    return _outcome(request, invoice, payment)


@customer_required
@require_GET
def invoice_pay_authenticated(request, *, customer, number):
    """Back from 3-D Secure (?payment_intent=<charge id>): ask the gateway how it ended."""
    return _returned(
        request,
        customer,
        number,
        param="payment_intent",
        finish=lambda payment, ref: payment_refresh(payment=payment, actor=request.user),
        not_found="This payment was not found.",
    )


@customer_required
@require_GET
def invoice_pay_card_return(request, *, customer, number):
    """Back from the hosted page (?session_id=…): record what the gateway says."""
    return _returned(
        request,
        customer,
        number,
        param="session_id",
        finish=lambda payment, ref: payment_hosted_finish(
            customer=customer, session_id=ref, actor=request.user
        ),
        not_found="This payment was not found.",
    )


@customer_required
@require_GET
def invoice_pay_paypal_return(request, *, customer, number):
    """Back from PayPal's approval (?token=<order id>): capture the order."""
    return _returned(
        request,
        customer,
        number,
        param="token",
        finish=lambda payment, ref: payment_paypal_capture(
            customer=customer, order_id=ref, actor=request.user
        ),
        not_found="This PayPal payment was not found.",
    )


@customer_required
@require_GET
def invoice_pay_cancelled(request, *, customer, number):
    """The customer cancelled on the hosted page or on PayPal."""
    invoice = _invoice_or_404(customer, number)
    messages.info(request, f"You cancelled the payment. {NOTHING_CHARGED}")
    return redirect("portal:invoice_pay", invoice.number)
