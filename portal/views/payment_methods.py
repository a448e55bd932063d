"""Payment Method: the customer's live methods, which is the default, and adding (a card
or SEPA mandate on the gateway's hosted page, PayPal, bank transfer), choosing the default
and removing one. Thin: billing.services.payment_methods decides and says why not.

Every POST goes through a form; a method id that is not one of the customer's live
methods (unknown, removed, another customer's) is a 404 and changes nothing."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.errors import BillingError
from billing.models import PaymentMethodKind
from billing.services import payment_methods as services
from billing.services.payment_kinds import payment_kinds_offered
from portal.context import customer_required
from portal.forms_billing import AddHostedMethodForm, AddOfflineMethodForm, PaymentMethodForm


def _render_list(request, customer, *, status=200):
    return render(
        request,
        "portal/payment_method.html",
        {
            "methods": services.payment_methods_for(customer=customer),
            "has_bank_transfer": services.payment_methods_for(customer=customer)
            .filter(kind=PaymentMethodKind.BANK_TRANSFER)
            .exists(),
            "has_paypal": services.payment_methods_for(customer=customer)
            .filter(kind=PaymentMethodKind.PAYPAL)
            .exists(),
            "seller": settings.BILLING_SELLER,
            "sepa_creditor_id": settings.BILLING_SEPA_CREDITOR_ID,
            "offered": payment_kinds_offered(),
            "nav": "payment",
        },
        status=status,
    )


@customer_required
@require_GET
def payment_method(request, *, customer):
    return _render_list(request, customer)


@customer_required
@require_POST
def payment_method_add(request, *, customer):
    """Add a card or a SEPA mandate: off to the gateway's hosted page."""
    form = AddHostedMethodForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a card or a SEPA direct debit.")
        return _render_list(request, customer, status=400)
    success = request.build_absolute_uri(reverse("portal:payment_method_added"))
    try:
        session = services.payment_method_setup_start(
            customer=customer,
            kind=form.cleaned_data["kind"],
            # The gateway puts the session's id in place of {SESSION_ID} (not URL-quoted).
            success_url=f"{success}?session_id={{SESSION_ID}}",
            cancel_url=request.build_absolute_uri(reverse("portal:payment_method_cancelled")),
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("portal:payment_method")
    return redirect(session.url)


@customer_required
@require_GET
def payment_method_added(request, *, customer):
    """Back from the hosted page: keep the method if we accept it, or say why not."""
    session_id = request.GET.get("session_id", "")
    if not session_id:
        messages.error(request, "Nothing was saved: no session came back from the payment page.")
        return redirect("portal:payment_method")
    try:
        method = services.payment_method_setup_finish(
            customer=customer, session_id=session_id, actor=request.user
        )
    except BillingError as error:
        messages.error(request, f"{error.message} Nothing was saved.")
    else:
        default = " It is your default payment method." if method.is_default else ""
        messages.success(request, f"{method} is saved.{default}")
    return redirect("portal:payment_method")


@customer_required
@require_GET
def payment_method_cancelled(request, *, customer):
    messages.info(request, "Nothing was saved.")
    return redirect("portal:payment_method")


@customer_required
@require_POST
def payment_method_add_offline(request, *, customer):
    """Choose PayPal (approved on PayPal for each invoice, nothing vaulted) or bank transfer."""
    form = AddOfflineMethodForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose PayPal or bank transfer.")
        return _render_list(request, customer, status=400)
    try:
        method = services.payment_method_add_offline(
            customer=customer, kind=form.cleaned_data["kind"], actor=request.user
        )
    except BillingError as error:
        messages.error(request, error.message)
    else:
        default = " It is your default payment method." if method.is_default else ""
        messages.success(request, f"{method} is added.{default}")
    return redirect("portal:payment_method")


def _method_or_404(request, customer, pk):
    """The customer's live method `pk`, checked by PaymentMethodForm from the POST (or,
    for the confirmation page, from the URL)."""
    data = request.POST if request.method == "POST" else {"method": pk}
    form = PaymentMethodForm(data, customer=customer)
    if not form.is_valid() or form.cleaned_data["method"].pk != pk:
        raise Http404("No such payment method")
    return form.cleaned_data["method"]


@customer_required
@require_POST
def payment_method_make_default(request, *, customer, pk):
    method = _method_or_404(request, customer, pk)
    try:
        method = services.payment_method_set_default(
            customer=customer, method=method, actor=request.user
        )
    except BillingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method} is now your default payment method.")
    return redirect("portal:payment_method")


@customer_required
@require_http_methods(["GET", "POST"])
def payment_method_remove(request, *, customer, pk):
    """GET: are you sure? POST: remove it (the service refuses the default while invoices
    are open, and says so)."""
    method = _method_or_404(request, customer, pk)
    if request.method == "GET":
        return render(
            request,
            "portal/payment_method_remove.html",
            {
                "method": method,
                "form": PaymentMethodForm(initial={"method": pk}, customer=customer),
                "nav": "payment",
            },
        )
    try:
        services.payment_method_remove(customer=customer, method=method, actor=request.user)
    except BillingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method} is removed.")
    return redirect("portal:payment_method")
