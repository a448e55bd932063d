"""Account balance (the prepaid balance of cloud instances): the balance and how long it
lasts, a top-up by card on the gateway's hosted page, the ledger (paginated, and as CSV),
a chart of the last 90 days drawn on the server, and the automatic top-up settings."""

import csv
from datetime import UTC

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.errors import BillingError
from billing.models import BalanceEntry, PaymentStatus
from billing.money import money_format
from billing.services.balance import BALANCE_CURRENCY
from billing.services.payment_kinds import METHOD_UNAVAILABLE, payment_kinds_offered
from billing.services.top_ups import (
    auto_top_up_configure,
    auto_top_up_has_card,
    balance_forecast,
    top_up_bounds,
    top_up_finish,
    top_up_start,
)
from portal.balance_chart import balance_chart
from portal.context import customer_required
from portal.forms_cloud import AutoTopUpForm, TopUpForm

ENTRIES_PER_PAGE = 25


def _entries(customer):
    return (
        BalanceEntry.objects.filter(customer=customer)
        .select_related("instance")
        .order_by("-created_at", "-id")
    )


def _auto_initial(customer) -> dict:
    target = customer.auto_top_up_target
    return {
        "enabled": customer.auto_top_up_enabled,
        "below_days": customer.auto_top_up_below_days,
        "how": "target" if target is not None else "amount",
        "amount": target if target is not None else (customer.auto_top_up_amount or ""),
    }


def _page(request, customer, *, top_up_form=None, auto_form=None, status=200):
    page = Paginator(_entries(customer), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    low, high = top_up_bounds()
    customer.refresh_from_db(fields=["balance"])
    return render(
        request,
        "portal/balance.html",
        {
            "nav": "balance",
            "currency": BALANCE_CURRENCY,
            "forecast": balance_forecast(customer=customer),
            "top_up_form": top_up_form or TopUpForm(),
            "auto_form": auto_form or AutoTopUpForm(initial=_auto_initial(customer)),
            "has_card": auto_top_up_has_card(customer=customer),
            "card_offered": payment_kinds_offered()["card"],
            "low": low,
            "high": high,
            "page": page,
            "entries": page.object_list,
            "chart": balance_chart(customer=customer, today=timezone.now().date()),
        },
        status=status,
    )


@customer_required
@require_GET
def balance(request, *, customer):
    return _page(request, customer)


@customer_required
@require_POST
def top_up(request, *, customer):
    """Checks the amount, opens a Payment and sends the customer to the hosted page."""
    form = TopUpForm(request.POST)
    form.is_valid()
    return_path = reverse("portal:balance_top_up_return")
    try:
        started = top_up_start(
            customer=customer,
            amount=form.cleaned_data.get("amount", ""),
            actor=request.user,
            success_url=request.build_absolute_uri(return_path)
            + "?payment={PAYMENT_ID}&session_id={SESSION_ID}",
            cancel_url=request.build_absolute_uri(reverse("portal:balance")),
        )
    except BillingError as error:
        if error.code == METHOD_UNAVAILABLE:  # the page offers no top-up form then
            messages.error(request, error.message)
            return redirect("portal:balance")
        form.add_error("amount", error.message)
        return _page(request, customer, top_up_form=form, status=400)
    return redirect(started.redirect_url)


@customer_required
@require_GET
def top_up_return(request, *, customer):
    """Back from the hosted page: the payment's result recorded and the balance credited,
    once (the webhook may have done it already; a second visit changes nothing)."""
    try:
        payment = top_up_finish(
            customer=customer, payment_id=request.GET.get("payment"), actor=request.user
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("portal:balance")
    customer.refresh_from_db(fields=["balance"])
    amount = money_format(payment.amount, payment.currency)
    now = money_format(customer.balance, BALANCE_CURRENCY)
    if payment.status == PaymentStatus.SUCCEEDED:
        messages.success(request, f"Thank you: {amount} is on your balance, which is now {now}.")
    elif payment.status == PaymentStatus.FAILED:
        messages.error(
            request,
            f"The top-up of {amount} did not go through. "
            f"{payment.failure_message or 'Nothing was charged; try again.'}",
        )
    elif payment.status == PaymentStatus.PENDING:
        messages.info(request, f"Your top-up of {amount} is on its way: it shows here once paid.")
    else:
        messages.info(request, f"The top-up of {amount} was not paid. Nothing was charged.")
    return redirect("portal:balance")


def _csv_text(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@customer_required
@require_GET
def ledger_csv(request, *, customer):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="balance-ledger.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["date", "kind", "instance", "period_start", "period_end", "amount", "balance_after"]
    )
    for entry in _entries(customer).iterator(chunk_size=2000):
        writer.writerow(
            [
                entry.created_at.astimezone(UTC).isoformat(),
                entry.get_kind_display(),
                _csv_text(entry.instance.name) if entry.instance else "",
                entry.period_start.isoformat() if entry.period_start else "",
                entry.period_end.isoformat() if entry.period_end else "",
                f"{entry.amount:.2f}",
                f"{entry.balance_after:.2f}",
            ]
        )
    return response


@customer_required
@require_http_methods(["GET", "POST"])
def auto_top_up(request, *, customer):
    if request.method == "GET":
        return redirect(reverse("portal:balance") + "#auto-top-up")
    form = AutoTopUpForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    try:
        auto_top_up_configure(
            customer=customer,
            enabled=data.get("enabled", False),
            below_days=data.get("below_days", ""),
            how=data.get("how", ""),
            amount=data.get("amount", ""),
            actor=request.user,
        )
    except BillingError as error:
        form.add_error(None, error.message)
        return _page(request, customer, auto_form=form, status=400)
    messages.success(request, "Your automatic top-up settings are saved.")
    return redirect("portal:balance")
