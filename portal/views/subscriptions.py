"""Subscriptions overview and Edit Subscription (quantity -> preview -> confirm).

The edit page works without JavaScript: "Preview" posts the form and the page comes back
with the preview; "Update subscription" posts the previewed quantity. With JavaScript,
static/js/subscription_edit.js fetches the preview fragment as the quantity changes.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from billing.errors import BillingError
from billing.models import Subscription
from billing.money import money_format
from billing.selectors import (
    billing_overview_for_customer,
    next_renewals_for_customer,
    subscription_for_customer,
    subscription_migrated_in_period,
    subscriptions_for_customer,
    subscriptions_with_device_counts,
)
from billing.selectors_payments import invoices_pay_all_preview
from billing.services.proration import (
    DECREASE,
    SCHEDULED_DECREASE,
    subscription_check_editable,
    subscription_next_invoice_estimate,
    subscription_quantity_preview,
)
from billing.services.quantity_change import subscription_change_quantity
from fleet.selectors import organization_in_field_count
from portal.context import customer_required
from portal.forms_billing import QuantityConfirmForm, QuantityForm

SUBSCRIPTIONS_PER_PAGE = 25
# The overview's "Next renewals": the soonest ones (all of them are in the table).
NEXT_RENEWALS_SHOWN = 5


def _rows(subscriptions) -> list[dict]:
    return [
        {
            "subscription": subscription,
            "next_invoice": subscription_next_invoice_estimate(
                subscription=subscription,
                in_field=subscription.in_field,
                devices_total=subscription.devices_total,
            ),
        }
        for subscription in subscriptions_with_device_counts(subscriptions)
    ]


@customer_required
def subscriptions(request, *, customer):
    """One page of subscriptions (a customer may hold hundreds), the billing overview on
    top and the next renewals: a fixed number of queries whatever the count."""
    page = Paginator(subscriptions_for_customer(customer=customer), SUBSCRIPTIONS_PER_PAGE)
    page = page.get_page(request.GET.get("page"))
    rows = _rows(page.object_list)
    renewals = [
        row
        for row in _rows(next_renewals_for_customer(customer=customer, limit=NEXT_RENEWALS_SHOWN))
        if row["next_invoice"]
    ]
    renewals.sort(key=lambda row: row["next_invoice"].on)
    overview = billing_overview_for_customer(customer=customer, today=timezone.now().date())
    return render(
        request,
        "portal/subscriptions.html",
        {
            "rows": rows,
            "page": page,
            "renewals": renewals,
            "overview": overview,
            "pay_all": invoices_pay_all_preview(customer=customer),
            "nav": "subscriptions",
        },
    )


def _subscription_or_404(customer, public_id) -> Subscription:
    try:
        return subscription_for_customer(customer=customer, public_id=public_id)
    except Subscription.DoesNotExist as missing:
        raise Http404("No such subscription") from missing


def _preview_context(subscription, data) -> dict:
    """The preview for the submitted quantity, or why there is none."""
    form = QuantityForm(data)
    context = {"preview": None, "preview_error": None}
    if form.is_valid():
        try:
            context["preview"] = subscription_quantity_preview(
                subscription=subscription,
                quantity=form.cleaned_data["quantity"],
                today=timezone.now().date(),
            )
        except BillingError as error:
            context["preview_error"] = error.message
    else:
        context["preview_error"] = form.errors["quantity"][0]
    return context


@customer_required
@require_http_methods(["GET", "POST"])
def subscription_edit(request, *, customer, public_id):
    subscription = _subscription_or_404(customer, public_id)
    context = {"subscription": subscription, "nav": "subscriptions"}
    try:
        subscription_check_editable(subscription=subscription)
    except BillingError as error:
        # Legacy, paused, cancelled or read-only: the page says why and offers no form.
        context["refusal"] = error.message
        return render(request, "portal/subscription_edit.html", context)
    context["in_field"] = organization_in_field_count(organization=subscription.organization)
    context["migrated_on"] = subscription_migrated_in_period(subscription=subscription)

    action = request.POST.get("action")
    if request.method == "POST" and action == "confirm":
        confirm = QuantityConfirmForm(request.POST)
        refused = ""
        if confirm.is_valid():
            try:
                change = subscription_change_quantity(
                    subscription=subscription,
                    quantity=confirm.cleaned_data["quantity"],
                    actor=request.user,
                    expected_terms=confirm.expected,
                )
            except BillingError as error:
                refused = error.message
            else:
                messages.success(request, _success_message(change))
                return redirect("portal:subscription_edit", public_id=subscription.public_id)
        else:
            refused = " ".join(confirm.non_field_errors()) or "Check the form."
        context.update(_preview_context(subscription, request.POST))
        # The preview often refuses for the same reason: say it once, in the preview.
        if refused != context["preview_error"]:
            messages.error(request, refused)
    elif request.method == "POST" or "quantity" in request.GET:
        context.update(_preview_context(subscription, request.POST or request.GET))
    data = request.POST if request.method == "POST" else request.GET
    context["quantity_value"] = data.get("quantity", subscription.quantity)
    return render(request, "portal/subscription_edit.html", context)


@customer_required
@require_GET
def subscription_preview(request, *, customer, public_id):
    """The preview fragment the edit page's script swaps in as the quantity changes."""
    subscription = _subscription_or_404(customer, public_id)
    context = {"subscription": subscription}
    try:
        subscription_check_editable(subscription=subscription)
    except BillingError as error:
        context["preview_error"] = error.message
    else:
        context.update(_preview_context(subscription, request.GET))
    return render(request, "portal/subscription_preview.html", context)


def _success_message(change) -> str:
    preview = change.preview
    subscription = preview.subscription
    if change.invoice is not None:
        return (
            f"{subscription.public_id} now has {preview.new_quantity} licences. Invoice "
            f"{change.invoice.number} for {money_format(change.invoice.total)} was issued."
        )
    if preview.change == DECREASE:
        parts = [f"{subscription.public_id} now has {preview.new_quantity} licences."]
        parts += [
            f"Credit note {note.number} lowers invoice {note.invoice.number} by "
            f"{money_format(note.applied_to_invoice.amount, preview.currency)}."
            for note in change.credit_notes
            if note.applied_to_invoice.amount
        ]
        if preview.credit_gained:
            parts.append(
                f"{money_format(preview.credit_gained, preview.currency)} was added to your credit."
            )
        return " ".join(parts)
    if preview.change == SCHEDULED_DECREASE:
        return (
            f"{subscription.public_id} will have {preview.new_quantity} licences from its "
            f"renewal on {preview.effective_on:%d %b %Y}."
        )
    return f"{subscription.public_id} keeps {preview.new_quantity} licences."
