"""Forms of the subscription and invoice pages. They only parse input: the rules (range,
devices in the field, plan, status) are checked by the billing services, which say why."""

from django import forms

from billing.models import InvoiceStatus
from billing.selectors import CREDIT_NOTES_ONLY

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
