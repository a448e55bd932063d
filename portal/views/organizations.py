"""The organization page: its mode and what to do, licences in use, and its devices."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from billing.selectors import organization_for_customer, organization_payment_deadlines
from fleet.models import DeviceState, Organization
from fleet.selectors import organization_devices, organization_status
from portal.context import customer_required

DEVICES_PER_PAGE = 25


@customer_required
def organization_detail(request, pk: int, *, customer):
    try:
        organization = organization_for_customer(customer=customer, pk=pk)
    except Organization.DoesNotExist:
        raise Http404("No such organization") from None
    state = request.GET.get("state", "")
    if state not in DeviceState.values:
        state = ""
    search = request.GET.get("q", "").strip()[:64]
    devices = organization_devices(organization=organization, state=state, serial_search=search)
    page = Paginator(devices, DEVICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/organization.html",
        {
            "organization": organization,
            "status": organization_status(organization=organization),
            "subscription": organization.subscription,
            "deadlines": organization_payment_deadlines(
                organization=organization, today=timezone.now().date()
            ),
            "page": page,
            "state": state,
            "search": search,
            "states": DeviceState.choices,
            "nav": "subscriptions",
        },
    )
