"""Pay all open invoices at once: one charge of their sum with a saved card or SEPA
mandate, or a new card on the gateway's hosted page (not PayPal; a bank transfer quotes
the invoice numbers the page lists). Thin: billing.services.invoices_pay_all re-checks
what the page showed under the locks and charges; these views send the customer where
the gateway says. An invoice number that is not the logged-in customer's is a 404."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing.errors import BillingError
from billing.models import Payment, PaymentMethodKind, PaymentStatus
from billing.money import money_format
from billing.selectors_payments import invoices_pay_all_preview
from billing.services.invoices_pay_all import (
    invoices_pay_all_charge_method,
    invoices_pay_all_hosted_start,
    pay_all_terms_of,
)
from billing.services.payment_kinds import payment_kinds_offered
from billing.services.payment_methods import payment_method_default, payment_methods_chargeable
from billing.services.payments import payment_hosted_finish, payment_refresh
from portal.context import customer_required
from portal.forms_billing import PAY_ALL_NO_PAYPAL, PAY_SAVED, PayAllForm

NOTHING_CHARGED = "Nothing was charged."


def _absolute(request, name) -> str:
    return request.build_absolute_uri(reverse(name))


@customer_required
@require_http_methods(["GET", "POST"])
def invoices_pay_all(request, *, customer):
    form = PayAllForm(request.POST or None, customer=customer)
    if request.method == "POST":
        if not form.is_valid():
            if form.has_error("method"):
                raise Http404("No such payment method")  # not one of the customer's
            said = [*form.errors.get("how", []), *form.non_field_errors()]
            messages.error(request, " ".join(said) or "Choose how to pay.")
            return redirect("portal:invoices_pay_all")
        terms = form.cleaned_data["pay_all"]
        # Every number must be one of this customer's invoices: another's is a 404.
        if customer.invoices.filter(number__in=terms.numbers).count() != len(terms.numbers):
            raise Http404("No such invoice")
        try:
            if form.cleaned_data["how"] == PAY_SAVED:
                payment = invoices_pay_all_charge_method(
                    customer=customer,
                    terms=terms,
                    method=form.cleaned_data["method"],
                    actor=request.user,
                    return_url=_absolute(request, "portal:invoices_pay_all_authenticated"),
                )
                return _outcome(request, payment)
            back = _absolute(request, "portal:invoices_pay_all_card_return")
            started = invoices_pay_all_hosted_start(
                customer=customer,
                terms=terms,
                actor=request.user,
                success_url=f"{back}?session_id={{SESSION_ID}}",
                cancel_url=_absolute(request, "portal:invoices_pay_all_cancelled"),
            )
        except BillingError as error:
            messages.error(request, error.message)
            return redirect("portal:invoices_pay_all")
        return redirect(started.redirect_url)
    preview = invoices_pay_all_preview(customer=customer)
    return render(
        request,
        "portal/invoices_pay_all.html",
        {
            "preview": preview,
            "terms": pay_all_terms_of(preview.invoices),
            "chargeable": payment_methods_chargeable(customer=customer),
            "offered": payment_kinds_offered(),
            "default": payment_method_default(customer=customer),
            "no_paypal": PAY_ALL_NO_PAYPAL,
            "seller": settings.BILLING_SELLER,
            "nav": "invoices",
        },
    )


def _outcome(request, payment: Payment):
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.action_url:
        return redirect(payment.action_url)  # 3-D Secure, then back to the return view
    amount = money_format(payment.amount, payment.currency)
    numbers = ", ".join(payment.allocations.values_list("invoice__number", flat=True))
    if payment.status == PaymentStatus.SUCCEEDED:
        messages.success(request, f"Thank you: {amount} received. Invoices {numbers} are paid.")
        return redirect("portal:invoices")
    if payment.status == PaymentStatus.PENDING:
        if payment.error_message:
            messages.info(
                request,
                "We could not hear back from the payment provider. We check again shortly: "
                "you will not be charged twice.",
            )
        elif payment.method_kind == PaymentMethodKind.SEPA_DEBIT:
            messages.info(
                request,
                f"Your payment of {amount} for invoices {numbers} is on its way: your bank "
                "confirms it within a few days. The invoices show paid then.",
            )
        else:
            messages.info(request, f"Your payment of {amount} is on its way.")
        return redirect("portal:invoices")
    if payment.status == PaymentStatus.FAILED:
        reason = payment.error_message or "The payment failed."
        messages.error(request, f"{reason} {NOTHING_CHARGED} The invoices are still open.")
        return redirect("portal:invoices_pay_all")
    messages.info(request, "The payment is not complete yet. Try again, or choose another way.")
    return redirect("portal:invoices_pay_all")


def _returned(request, customer, *, param: str, finish):
    """Back from a gateway page: the attempt must be one of this customer's payments of
    several invoices; `finish(payment, ref)` asks the service how it ended."""
    ref = request.GET.get(param, "")
    payment = (
        Payment.objects.filter(customer=customer, invoice__isnull=True, gateway_ref=ref)
        .exclude(allocations=None)
        .first()
        if ref
        else None
    )
    if payment is None:
        messages.error(request, "This payment was not found.")
        return redirect("portal:invoices")
    try:
        payment = finish(payment, ref)
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("portal:invoices")
    return _outcome(request, payment)


@customer_required
@require_GET
def invoices_pay_all_authenticated(request, *, customer):
    """Back from 3-D Secure (?payment_intent=<charge id>)."""
    return _returned(
        request,
        customer,
        param="payment_intent",
        finish=lambda payment, ref: payment_refresh(payment=payment, actor=request.user),
    )


@customer_required
@require_GET
def invoices_pay_all_card_return(request, *, customer):
    """Back from the hosted page (?session_id=…)."""
    return _returned(
        request,
        customer,
        param="session_id",
        finish=lambda payment, ref: payment_hosted_finish(
            customer=customer, session_id=ref, actor=request.user
        ),
    )


@customer_required
@require_GET
def invoices_pay_all_cancelled(request, *, customer):
    messages.info(request, f"You cancelled the payment. {NOTHING_CHARGED}")
    return redirect("portal:invoices_pay_all")
