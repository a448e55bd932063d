"""Instances (cloud DMS): the list with each one's daily price and paid period, create
(disabled, free), then enable / disable / change settings. Every move that costs or gives
money back shows its amount first (the services' preview); the confirmation carries that
amount and the service refuses it when it changed. A balance too low says what is missing
and links to the top-up."""

from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.errors import BillingError
from billing.money import money_format
from billing.services import instances as cloud
from billing.services.balance import BALANCE_CURRENCY
from fleet.models import Instance, InstanceOption
from portal.context import customer_required
from portal.forms_cloud import ConfirmForm, InstanceCreateForm, InstanceSettingsForm


def _instance_or_404(customer, pk) -> Instance:
    instance = Instance.objects.select_related("package").filter(pk=pk, customer=customer).first()
    if instance is None:
        raise Http404("No such instance")
    return instance


INSTANCES_PER_PAGE = 25


def _page(request, customer):
    """One page of the customer's instances, oldest first (the (customer, created_at, id)
    index), with each one's daily price: a fixed number of queries per page."""
    instances = (
        Instance.objects.filter(customer=customer)
        .select_related("package")
        .order_by("created_at", "id")
    )
    return Paginator(instances, INSTANCES_PER_PAGE).get_page(request.GET.get("page"))


def _rows(instances) -> list[dict]:
    prices = cloud.option_prices()
    names = dict(InstanceOption.objects.values_list("code", "name"))
    rows = []
    for instance in instances:
        rows.append(
            {
                "instance": instance,
                "options": [names.get(code, code) for code in instance.options],
                "daily": cloud.daily_price_of(
                    package_price=instance.package.daily_price,
                    per_device=instance.package.price_per_cpe_device,
                    devices=instance.expected_cpe_devices,
                    options=instance.options,
                    option_prices=prices,
                ),
            }
        )
    return rows


def _expected(request) -> Decimal | None:
    form = ConfirmForm(request.POST)
    return form.cleaned_data["expected_amount"] if form.is_valid() else None


@customer_required
@require_http_methods(["GET", "POST"])
def instances(request, *, customer):
    form = InstanceCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                instance = cloud.instance_create(
                    customer=customer,
                    name=data["name"],
                    package=data["package"],
                    expected_cpe_devices=data["expected_cpe_devices"],
                    options=[option.code for option in data["options"]],
                    actor=request.user,
                )
            except BillingError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    f"Instance {instance.name} is created, disabled: nothing is charged until "
                    "you enable it.",
                )
                return redirect("portal:instance_enable", pk=instance.pk)
        status = 400
    customer.refresh_from_db(fields=["balance"])
    page = _page(request, customer)
    return render(
        request,
        "portal/instances.html",
        {
            "nav": "instances",
            "page": page,
            "rows": _rows(page.object_list),
            "form": form,
            "balance": customer.balance,
            "currency": BALANCE_CURRENCY,
        },
        status=status,
    )


def _confirm_page(request, *, instance, action, quote=None, error=None, status=200, form=None):
    return render(
        request,
        "portal/instance_action.html",
        {
            "nav": "instances",
            "instance": instance,
            "action": action,
            "quote": quote,
            "refund": -quote.amount if quote is not None and quote.amount < 0 else None,
            "error": error,
            "form": form,
            "currency": BALANCE_CURRENCY,
        },
        status=status,
    )


@customer_required
@require_http_methods(["GET", "POST"])
def instance_enable(request, *, customer, pk):
    instance = _instance_or_404(customer, pk)
    error = None
    if request.method == "POST":
        expected = _expected(request)
        try:
            if expected is None:
                raise BillingError("Confirm the amount shown.", code="preview_changed")
            quote = cloud.instance_enable(
                instance=instance, actor=request.user, expected_amount=expected
            )
        except BillingError as error_:
            error = error_
        else:
            charged = (
                f" {money_format(quote.amount, BALANCE_CURRENCY)} was taken from your balance."
                if quote.amount > 0
                else ""
            )
            messages.success(request, f"Instance {instance.name} is enabled.{charged}")
            return redirect("portal:instances")
    if instance.enabled and error is None:
        messages.info(request, f"Instance {instance.name} is already enabled.")
        return redirect("portal:instances")
    quote = cloud.instance_enable_preview(instance=instance)
    return _confirm_page(
        request,
        instance=instance,
        action="enable",
        quote=quote,
        error=error,
        status=409 if error else 200,
    )


@customer_required
@require_http_methods(["GET", "POST"])
def instance_disable(request, *, customer, pk):
    """Disabling gives nothing back: the page says so and until when it is paid."""
    instance = _instance_or_404(customer, pk)
    if request.method == "POST":
        cloud.instance_disable(instance=instance, actor=request.user)
        messages.success(request, f"Instance {instance.name} is disabled.")
        return redirect("portal:instances")
    if not instance.enabled:
        messages.info(request, f"Instance {instance.name} is already disabled.")
        return redirect("portal:instances")
    return _confirm_page(request, instance=instance, action="disable")


@customer_required
@require_http_methods(["GET", "POST"])
def instance_edit(request, *, customer, pk):
    """Settings -> "Preview" shows what the change costs or gives back -> "Confirm"
    (carrying that amount) applies it."""
    instance = _instance_or_404(customer, pk)
    kwargs = {"current_package": instance.package, "current_options": instance.options}
    if request.method == "GET":
        form = InstanceSettingsForm(
            initial={
                "package": instance.package,
                "expected_cpe_devices": instance.expected_cpe_devices,
                "options": list(instance.options),
            },
            **kwargs,
        )
        return _confirm_page(request, instance=instance, action="edit", form=form)
    form = InstanceSettingsForm(request.POST, **kwargs)
    if not form.is_valid():
        return _confirm_page(request, instance=instance, action="edit", form=form, status=400)
    data = form.cleaned_data
    settings = {
        "package": data["package"],
        "expected_cpe_devices": data["expected_cpe_devices"],
        "options": [option.code for option in data["options"]],
    }
    error = None
    if "confirm" in request.POST:
        expected = _expected(request)
        try:
            if expected is None:
                raise BillingError("Confirm the amount shown.", code="preview_changed")
            quote = cloud.instance_change_settings(
                instance=instance, actor=request.user, expected_amount=expected, **settings
            )
        except BillingError as error_:
            error = error_
        else:
            if quote.amount > 0:
                moved = (
                    f" {money_format(quote.amount, BALANCE_CURRENCY)} was taken from your balance."
                )
            elif quote.amount < 0:
                moved = (
                    f" {money_format(-quote.amount, BALANCE_CURRENCY)} went back to your balance."
                )
            else:
                moved = ""
            messages.success(request, f"Instance {instance.name}: settings saved.{moved}")
            return redirect("portal:instances")
    try:
        quote = cloud.instance_change_preview(instance=instance, **settings)
    except BillingError as error_:
        form.add_error(None, error_.message)
        return _confirm_page(request, instance=instance, action="edit", form=form, status=400)
    return _confirm_page(
        request,
        instance=instance,
        action="edit",
        form=form,
        quote=quote,
        error=error,
        status=409 if error else 200,
    )
