"""Forms of the balance and instances pages. They only parse input: the money rules
(bounds, what a move costs, the balance) are the billing services', which say why."""

from django import forms

from accounts.text import NoControlCharactersFormMixin
from fleet.models import InstanceOption, InstancePackage


class TopUpForm(forms.Form):
    # Text, not a number field: the service's message says the bounds and the format.
    amount = forms.CharField(
        label="Amount to add (EUR)",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class AutoTopUpForm(forms.Form):
    prefix = "auto"  # on the same page as TopUpForm: its own field names and ids

    enabled = forms.BooleanField(label="Top up automatically", required=False)
    below_days = forms.CharField(
        label="When my balance covers fewer than (days of spending)",
        max_length=3,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    how = forms.ChoiceField(
        label="Charge my default card",
        choices=[("amount", "a fixed amount"), ("target", "up to a target balance")],
        widget=forms.RadioSelect,
        initial="amount",
    )
    amount = forms.CharField(
        label="Amount (EUR)",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )


class InstanceSettingsForm(forms.Form):
    package = forms.ModelChoiceField(
        label="Package",
        queryset=InstancePackage.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of the packages offered."},
    )
    expected_cpe_devices = forms.IntegerField(
        label="Expected CPE devices",
        min_value=0,
        max_value=10_000_000,
        initial=0,
        error_messages={"invalid": "Enter a whole number of devices, 0 or more."},
    )
    options = forms.ModelMultipleChoiceField(
        label="Options",
        queryset=InstanceOption.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, current_package=None, current_options=(), **kwargs):
        super().__init__(*args, **kwargs)
        packages = InstancePackage.objects.filter(is_active=True)
        options = InstanceOption.objects.filter(is_active=True)
        if current_package is not None:  # an instance keeps what it has, offered or not
            packages = packages | InstancePackage.objects.filter(pk=current_package.pk)
        if current_options:
            options = options | InstanceOption.objects.filter(code__in=list(current_options))
        self.fields["package"].queryset = packages.order_by("daily_price", "code")
        self.fields["options"].queryset = options.order_by("code")


class InstanceCreateForm(NoControlCharactersFormMixin, InstanceSettingsForm):
    name = forms.CharField(label="Name", max_length=100)
    control_character_labels = {"name": "instance name"}

    field_order = ["name", "package", "expected_cpe_devices", "options"]


class ConfirmForm(forms.Form):
    """The amount the customer saw: the service refuses when it changed."""

    expected_amount = forms.DecimalField(max_digits=14, decimal_places=2, widget=forms.HiddenInput)
