from django.shortcuts import redirect, render

from portal.context import customer_required


def home(request):
    return redirect("portal:subscriptions")


@customer_required
def not_yet_available(request, *, customer, title: str, nav: str):
    return render(request, "portal/not_yet_available.html", {"title": title, "nav": nav})
