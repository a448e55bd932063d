from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from portal.context import customer_required


def home(request):
    return redirect("portal:subscriptions")


@customer_required
def not_yet_available(request, *, customer, title: str, nav: str):
    return render(request, "portal/not_yet_available.html", {"title": title, "nav": nav})


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links: send them to the SVG icon."""
    return redirect(static("favicon.svg"))
