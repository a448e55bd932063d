"""Forms of the subscription and invoice pages. They only parse input: the rules (range,
devices in the field, plan, status) are checked by the billing services, which say why."""

from django import forms

from billing.models import InvoiceStatus, PaymentMethod, PaymentMethodKind
from billing.selectors import CREDIT_NOTES_ONLY
from billing.services.invoices_pay_all import PayAllTerms
from billing.services.payment_kinds import UNAVAILABLE_MESSAGES, payment_kinds_offered
from billing.services.payment_methods import payment_methods_chargeable, payment_methods_for

QUANTITY_ERRORS = {
    "required": "Enter the number of licences you want.",
    "invalid": "Enter a whole number of licences.",
}


class QuantityForm(forms.Form):
    """The quantity to preview."""

    quantity = forms.IntegerField(label="Number of licences", error_messages=QUANTITY_ERRORS)


class QuantityConfirmForm(QuantityForm):
    """The confirmation carries what the customer saw, so nothing else is applied."""

    previewed_quantity = forms.IntegerField(widget=forms.HiddenInput)
    # QuantityPreview.terms of the preview shown: the service refuses if it moved since.
    preview_terms = forms.CharField(widget=forms.HiddenInput, max_length=2000)

    def clean(self):
        data = super().clean()
        if (
            data.get("quantity") is not None
            and data.get("previewed_quantity") is not None
            and data["quantity"] != data["previewed_quantity"]
        ):
            raise forms.ValidationError(
                "The quantity changed after the preview. Check the new preview, then confirm."
            )
        return data

    @property
    def expected(self) -> str:
        return self.cleaned_data["preview_terms"]


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "All statuses")]
        + [(s.value, s.label) for s in InvoiceStatus if s != InvoiceStatus.DRAFT]
        + [(CREDIT_NOTES_ONLY, "Credit notes")],
    )
    year = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Year")

    def __init__(self, *args, years: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [("", "All years")] + [(y, str(y)) for y in years]


# ---- payment methods and paying an invoice ----------------------------------------------


class AddHostedMethodForm(forms.Form):
    """Add a card or a SEPA mandate: on the gateway's hosted page."""

    kind = forms.ChoiceField(
        choices=[(PaymentMethodKind.CARD, "Card"), (PaymentMethodKind.SEPA_DEBIT, "SEPA debit")]
    )


class AddOfflineMethodForm(forms.Form):
    """Choose PayPal (each invoice approved on PayPal; nothing is vaulted) or bank
    transfer: nothing to save at a gateway."""

    kind = forms.ChoiceField(
        choices=[(PaymentMethodKind.PAYPAL, "PayPal"), (PaymentMethodKind.BANK_TRANSFER, "Bank")]
    )


class PaymentMethodForm(forms.Form):
    """One of the customer's live methods, by id: any other id (unknown, removed, another
    customer's) is not a choice, and the view answers 404."""

    method = forms.ModelChoiceField(queryset=PaymentMethod.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].queryset = payment_methods_for(customer=customer)


PAY_SAVED, PAY_NEW_CARD, PAY_PAYPAL = "saved", "new_card", "paypal"


class PayInvoiceForm(forms.Form):
    """How to pay an open invoice: a saved card or SEPA mandate, a new card on the hosted
    page, or PayPal. (Bank transfer needs no form: the page shows what to quote.)"""

    how = forms.ChoiceField(
        choices=[(PAY_SAVED, "Saved method"), (PAY_NEW_CARD, "New card"), (PAY_PAYPAL, "PayPal")]
    )
    method = forms.ModelChoiceField(
        queryset=PaymentMethod.objects.none(), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].queryset = payment_methods_chargeable(customer=customer)

    def clean_how(self) -> str:
        """A way whose gateway is not configured is refused, saying so (the page does not
        offer it; this is the answer to a crafted POST)."""
        how = self.cleaned_data["how"]
        kind = {PAY_NEW_CARD: PaymentMethodKind.CARD, PAY_PAYPAL: PaymentMethodKind.PAYPAL}.get(how)
        if kind and not payment_kinds_offered()[kind]:
            raise forms.ValidationError(UNAVAILABLE_MESSAGES[kind])
        return how

    def clean(self):
        data = super().clean()
        if data.get("how") == PAY_SAVED and not data.get("method"):
            raise forms.ValidationError("Choose one of your saved payment methods.")
        return data


class PayAllForm(PayInvoiceForm):
    """Pay several open invoices at once: a saved card or SEPA mandate, or a new card.
    Carries what the page showed (each invoice and its amount due, the total) so the
    service refuses if anything changed since."""

    terms = forms.CharField(widget=forms.HiddenInput, max_length=5000)
    total = forms.DecimalField(widget=forms.HiddenInput, max_digits=14, decimal_places=2)

    def clean_how(self) -> str:
        if self.cleaned_data.get("how") == PAY_PAYPAL:
            raise forms.ValidationError(PAY_ALL_NO_PAYPAL)
        return super().clean_how()

    def clean(self):
        data = super().clean()
        if "terms" in data and "total" in data:
            try:
                data["pay_all"] = PayAllTerms.parse(data["terms"], data["total"])
            except (ValueError, ArithmeticError) as bad:
                raise forms.ValidationError("Reload the page, then pay again.") from bad
        return data


PAY_ALL_NO_PAYPAL = (
    "PayPal pays one invoice at a time: pay each invoice from its own page, or pay them all "
    "at once by card or SEPA direct debit."
)
