from django.shortcuts import redirect, render

from billing.selectors import invoices_for_customer, subscriptions_for_customer
from portal.context import customer_required


def home(request):
    return redirect("portal:subscriptions")


@customer_required
def subscriptions(request, *, customer):
    return render(
        request,
        "portal/subscriptions.html",
        {
            "subscriptions": subscriptions_for_customer(customer=customer),
            "nav": "subscriptions",
        },
    )


@customer_required
def invoices(request, *, customer):
    return render(
        request,
        "portal/invoices.html",
        {
            "invoices": invoices_for_customer(customer=customer),
            "nav": "invoices",
        },
    )


@customer_required
def not_yet_available(request, *, customer, title: str, nav: str):
    return render(request, "portal/not_yet_available.html", {"title": title, "nav": nav})
