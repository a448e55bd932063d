"""Portal forms: they check the shape of the input; the rules live in portal/auth.py and
billing/services/customers.py."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm

from accounts.text import NoControlCharactersFormMixin
from billing.countries import COUNTRY_CHOICES
from billing.errors import BillingError
from billing.services.customers import customer_validate_vat_number

PASSWORD_MAX_LENGTH = 4096


class CodeRequestForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code",
        max_length=12,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "size": 8,
            }
        ),
    )


class PasswordLoginForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        # Bounded: hashing a megabyte-long password would be cheap denial of service.
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class FirstPasswordForm(SetPasswordForm):
    """No password yet: the new one twice (Django's validators apply)."""


class ChangePasswordForm(PasswordChangeForm):
    """A password already: the current one, then the new one twice."""


class AccountForm(NoControlCharactersFormMixin, forms.Form):
    control_character_labels = {"name": "company name"}

    name = forms.CharField(label="Company name", max_length=200)
    address_line1 = forms.CharField(label="Address", max_length=200)
    address_line2 = forms.CharField(label="Address (line 2)", max_length=200, required=False)
    postal_code = forms.CharField(label="Postal code", max_length=20)
    city = forms.CharField(label="City", max_length=100)
    country = forms.ChoiceField(label="Country", choices=COUNTRY_CHOICES)
    vat_number = forms.CharField(
        label="VAT number",
        max_length=20,
        required=False,
        help_text="EU VAT number with its country prefix, e.g. FR40303265045. Optional.",
    )

    def clean_vat_number(self):
        try:
            return customer_validate_vat_number(vat_number=self.cleaned_data["vat_number"])
        except BillingError as error:
            raise forms.ValidationError(error.message) from error


class SignUpForm(NoControlCharactersFormMixin, forms.Form):
    control_character_labels = {"company_name": "company name"}

    email = forms.EmailField(
        label="Work e-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    company_name = forms.CharField(
        label="Company name",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    country = forms.ChoiceField(
        label="Country",
        choices=COUNTRY_CHOICES,
        initial=lambda: settings.SIGNUP_DEFAULT_COUNTRY,
        help_text="Where your company is established: it decides the VAT on your invoices.",
    )


class ContactForm(NoControlCharactersFormMixin, forms.Form):
    control_character_labels = {"name": "name", "company": "company name"}

    name = forms.CharField(
        label="Your name",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    company = forms.CharField(
        label="Company",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    message = forms.CharField(
        label="Message",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    wants_contract = forms.BooleanField(
        label="I want a contract and to pay by bank transfer",
        required=False,
    )
