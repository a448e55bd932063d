"""Local stand-ins for the gateways' hosted pages: Stripe Checkout (setup and payment
mode), PayPal's approval page and a 3-D Secure challenge. Like the real ones they need no
login: the unguessable session, charge or order id in the URL is the key. They exist only
while the sandbox is the gateway: with PAYMENT_SANDBOX off (production) portal/urls.py
does not route them at all, and each view answers 404 once that is off or the real
gateway's keys are set (checked per request, whatever the URLconf)."""

from django import forms
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.gateways import SANDBOX, card_gateway_name, paypal_gateway_name, sandbox
from billing.gateways.errors import GatewayError
from billing.gateways.interface import FAILED, REQUIRES_ACTION, SUCCEEDED
from billing.models import SandboxKind


class CardForm(forms.Form):
    number = forms.CharField(label="Card number", max_length=30)
    expiry = forms.CharField(label="Expiry (MM/YY)", max_length=7)
    cvc = forms.CharField(label="CVC", max_length=4)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="card", **kwargs)
        attrs = {
            "number": {"autocomplete": "cc-number", "inputmode": "numeric"},
            "expiry": {"autocomplete": "cc-exp", "placeholder": "12/34"},
            "cvc": {"autocomplete": "cc-csc", "inputmode": "numeric"},
        }
        for name, extra in attrs.items():
            self.fields[name].widget.attrs.update(extra)

    def clean_number(self) -> str:
        number = "".join(self.cleaned_data["number"].split())
        try:
            sandbox.card_for_number(number)
        except GatewayError as error:
            raise forms.ValidationError(error.message) from None
        return number

    def clean_expiry(self) -> tuple[int, int]:
        month, _, year = self.cleaned_data["expiry"].replace(" ", "").partition("/")
        if not (month.isdigit() and year.isdigit() and len(year) in (2, 4)):
            raise forms.ValidationError("Enter the expiry as MM/YY.")
        month_n, year_n = int(month), int(year) + (2000 if len(year) == 2 else 0)
        if not sandbox.card_expiry_valid(month_n, year_n):
            raise forms.ValidationError("This card has expired: use a future date.")
        return month_n, year_n

    def clean_cvc(self) -> str:
        cvc = self.cleaned_data["cvc"].strip()
        if not (cvc.isdigit() and len(cvc) in (3, 4)):
            raise forms.ValidationError("Enter the 3 or 4 digits on the card.")
        return cvc

    def method_fields(self) -> dict:
        month, year = self.cleaned_data["expiry"]
        return {"card_number": self.cleaned_data["number"], "exp_month": month, "exp_year": year}


class SepaForm(forms.Form):
    holder = forms.CharField(label="Account holder", max_length=100)
    iban = forms.CharField(label="IBAN", max_length=42)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="sepa", **kwargs)
        self.fields["holder"].widget.attrs.update({"autocomplete": "name"})

    def clean_iban(self) -> str:
        from stdnum import iban

        value = self.cleaned_data["iban"]
        if not iban.is_valid(value):
            raise forms.ValidationError("Enter a valid IBAN, e.g. DE89 3704 0044 0532 0130 00.")
        return iban.compact(value)


def _card_sandbox_only():
    if card_gateway_name() != SANDBOX:
        raise Http404("The card sandbox is off.")


def _paypal_sandbox_only():
    if paypal_gateway_name() != SANDBOX:
        raise Http404("The PayPal sandbox is off.")


def _or_404(lookup, ref):
    try:
        return lookup(ref)
    except GatewayError:
        raise Http404("No such sandbox object.") from None


@require_http_methods(["GET", "POST"])
def checkout(request, session_id):
    """Stripe Checkout's stand-in: save a card or an IBAN (setup mode), or pay (payment)."""
    _card_sandbox_only()
    session = _or_404(sandbox.sandbox_session, session_id)
    p = session.payload
    setup = session.kind == SandboxKind.SETUP_SESSION
    error = ""
    if setup and p.get("method_ref"):
        return HttpResponseRedirect(sandbox.sandbox_success_url(session))
    if not setup and p.get("charge_ref"):
        charge = sandbox.sandbox_charge(p["charge_ref"]).payload
        if charge["status"] == SUCCEEDED:
            return HttpResponseRedirect(sandbox.sandbox_success_url(session))
        if charge["status"] == REQUIRES_ACTION:
            return redirect("sandbox:authenticate", p["charge_ref"])
        if charge["status"] == FAILED and request.method == "GET":
            error = charge["error_message"]

    kinds = p.get("kinds", ["card"])
    card_form = CardForm(request.POST if request.POST.get("pay_with") == "card" else None)
    sepa_form = SepaForm(request.POST if request.POST.get("pay_with") == "sepa_debit" else None)
    if request.method == "POST":
        form = card_form if request.POST.get("pay_with") == "card" else sepa_form
        if form.is_bound and form.is_valid():
            try:
                if setup:
                    if form is card_form:
                        fields = card_form.method_fields()
                    else:
                        fields = {
                            "iban": sepa_form.cleaned_data["iban"],
                            "holder": sepa_form.cleaned_data["holder"],
                        }
                    sandbox.sandbox_setup_complete(session.ref, **fields)
                    return HttpResponseRedirect(sandbox.sandbox_success_url(session))
                result = sandbox.sandbox_payment_pay(session.ref, **card_form.method_fields())
            except GatewayError as failure:
                error = failure.message
            else:
                if result.status == SUCCEEDED:
                    return HttpResponseRedirect(sandbox.sandbox_success_url(session))
                if result.status == REQUIRES_ACTION:
                    return HttpResponseRedirect(result.action_url)
                error = result.error_message
    return render(
        request,
        "sandbox/checkout.html",
        {
            "session": session,
            "setup": setup,
            "takes_card": "card" in kinds,
            "takes_sepa": "sepa_debit" in kinds,
            "card_form": card_form,
            "sepa_form": sepa_form,
            "error": error,
            "amount": p.get("amount"),
            "currency": p.get("currency"),
            "test_cards": sandbox.TEST_CARDS.values(),
            "test_ibans": sandbox.TEST_IBANS,
        },
    )


@require_http_methods(["GET", "POST"])
def authenticate(request, charge_ref):
    """A 3-D Secure challenge's stand-in: Complete or Fail, then back to return_url."""
    _card_sandbox_only()
    charge = _or_404(sandbox.sandbox_charge, charge_ref)
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("complete", "fail"):
            back = sandbox.sandbox_authenticate(charge.ref, complete=action == "complete")
            if back:
                return HttpResponseRedirect(back)
            charge = sandbox.sandbox_charge(charge.ref)
    return render(request, "sandbox/authenticate.html", {"charge": charge, "p": charge.payload})


@require_http_methods(["GET", "POST"])
def paypal(request, order_id):
    """PayPal's approval page stand-in: Pay with PayPal (approve) or Cancel."""
    _paypal_sandbox_only()
    order = _or_404(sandbox.sandbox_order, order_id)
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            return HttpResponseRedirect(sandbox.sandbox_order_cancel_url(order.ref))
        if request.POST.get("action") == "pay":
            try:
                back = sandbox.sandbox_order_approve(
                    order.ref, decline_funding=request.POST.get("decline_funding") == "on"
                )
            except GatewayError as failure:
                error = failure.message
            else:
                return HttpResponseRedirect(back)
    return render(
        request,
        "sandbox/paypal.html",
        {"order": order, "p": order.payload, "error": error},
    )
