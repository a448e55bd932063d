"""Billing history, one invoice, and its PDF. Every lookup is scoped to the logged-in
customer: another customer's invoice number is a 404, never a 403 that confirms it exists."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import Invoice
from billing.pdf import invoice_pdf_render
from billing.selectors import (
    invoice_for_customer,
    invoice_years_for_customer,
    invoices_for_customer_filtered,
)
from portal.context import customer_required
from portal.forms_billing import InvoiceFilterForm

INVOICES_PER_PAGE = 25


@customer_required
@require_GET
def invoices(request, *, customer):
    form = InvoiceFilterForm(request.GET, years=invoice_years_for_customer(customer=customer))
    filters = form.cleaned_data if form.is_valid() else {}
    found = invoices_for_customer_filtered(
        customer=customer, status=filters.get("status", ""), year=filters.get("year")
    )
    page = Paginator(found, INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/invoices.html",
        {
            "filter_form": form,
            "page": page,
            "invoices": page.object_list,
            "query": query.urlencode(),
            "nav": "invoices",
        },
    )


def _invoice_or_404(customer, number) -> Invoice:
    try:
        return invoice_for_customer(customer=customer, number=number)
    except Invoice.DoesNotExist as missing:
        raise Http404("No such invoice") from missing


@customer_required
@require_GET
def invoice_detail(request, *, customer, number):
    invoice = _invoice_or_404(customer, number)
    return render(
        request,
        "portal/invoice_detail.html",
        {
            "invoice": invoice,
            "lines": invoice.lines.all(),
            "seller": settings.BILLING_SELLER,
            "nav": "invoices",
        },
    )


@customer_required
@require_GET
def invoice_pdf(request, *, customer, number):
    invoice = _invoice_or_404(customer, number)
    response = HttpResponse(invoice_pdf_render(invoice=invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response
