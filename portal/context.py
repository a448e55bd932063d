"""Which customer is logged in. Every portal page is scoped through `customer_required`."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from billing.models import Customer


def current_customer(request) -> Customer | None:
    """The customer whose billing contact is logged in; None for staff and anonymous users."""
    if not hasattr(request, "_portal_customer"):
        user = request.user
        found = None
        if user.is_authenticated and not user.is_staff and user.is_active:
            found = Customer.objects.filter(contact=user).first()
        request._portal_customer = found
    return request._portal_customer


def customer_required(view):
    """Portal pages need a logged-in billing contact; the view receives `customer`."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        customer = current_customer(request)
        if customer is None:
            # Staff accounts and orphaned users are not customers: nothing here for them.
            raise Http404("No customer account")
        return view(request, *args, customer=customer, **kwargs)

    return wrapper


def customer(request) -> dict:
    """Template context processor."""
    return {"portal_customer": current_customer(request)}
