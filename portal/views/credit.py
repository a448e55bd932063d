"""The customer's credit: the balance and the ledger of what made and used it."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.selectors import credit_entries_for_customer, customer_credit_balance
from portal.context import customer_required

ENTRIES_PER_PAGE = 25


@customer_required
@require_GET
def credit(request, *, customer):
    entries = credit_entries_for_customer(customer=customer)
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/credit.html",
        {
            "balance": customer_credit_balance(customer=customer),
            "page": page,
            "entries": page.object_list,
            "nav": "credit",
        },
    )
