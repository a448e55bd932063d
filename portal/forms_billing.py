"""Forms of the subscription and invoice pages. They only parse input: the rules (range,
devices in the field, plan, status) are checked by the billing services, which say why."""

from decimal import Decimal

from django import forms

from billing.models import InvoiceStatus

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
    expected_net_amount = forms.DecimalField(
        widget=forms.HiddenInput, max_digits=14, decimal_places=2
    )

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
    def expected(self) -> Decimal:
        return self.cleaned_data["expected_net_amount"]


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "All statuses")]
        + [(s.value, s.label) for s in InvoiceStatus if s != InvoiceStatus.DRAFT],
    )
    year = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Year")

    def __init__(self, *args, years: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [("", "All years")] + [(y, str(y)) for y in years]
