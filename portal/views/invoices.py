"""Billing history (invoices and credit notes), one document, and its PDF. Every lookup is
scoped to the logged-in customer: another customer's number is a 404, never a 403 that
confirms it exists. Credit notes share the invoices' URLs (/invoices/CN-2026-000001/): the
number's series says which document it is."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import CreditNote, Invoice
from billing.pdf import credit_note_pdf_render, invoice_pdf_render
from billing.selectors import (
    billing_documents_for_customer,
    credit_note_for_customer,
    customer_credit_balance,
    invoice_for_customer,
    invoice_years_for_customer,
    is_credit_note_number,
)
from billing.selectors_payments import (
    credit_note_refund,
    invoice_payment_rows,
    invoices_pay_all_preview,
    payment_method_label,
)
from portal.context import customer_required
from portal.forms_billing import InvoiceFilterForm

INVOICES_PER_PAGE = 25


@customer_required
@require_GET
def invoices(request, *, customer):
    form = InvoiceFilterForm(request.GET, years=invoice_years_for_customer(customer=customer))
    filters = form.cleaned_data if form.is_valid() else {}
    found = billing_documents_for_customer(
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
            "documents": page.object_list,
            "query": query.urlencode(),
            "credit": customer_credit_balance(customer=customer),
            "pay_all": invoices_pay_all_preview(customer=customer),
            "nav": "invoices",
        },
    )


def _document_or_404(customer, number) -> Invoice | CreditNote:
    try:
        if is_credit_note_number(number):
            return credit_note_for_customer(customer=customer, number=number)
        return invoice_for_customer(customer=customer, number=number)
    except (Invoice.DoesNotExist, CreditNote.DoesNotExist) as missing:
        raise Http404("No such invoice") from missing


@customer_required
@require_GET
def invoice_detail(request, *, customer, number):
    document = _document_or_404(customer, number)
    if isinstance(document, CreditNote):
        refund = credit_note_refund(note=document)
        return render(
            request,
            "portal/credit_note_detail.html",
            {
                "note": document,
                "invoice": document.invoice,
                "refund": refund,
                "refund_to": payment_method_label(refund.payment) if refund else "",
                "nav": "invoices",
            },
        )
    return render(
        request,
        "portal/invoice_detail.html",
        {
            "invoice": document,
            "lines": document.lines.all(),
            "credit_notes": document.credit_notes.all(),
            "payments": invoice_payment_rows(invoice=document),
            "credit": customer_credit_balance(customer=customer),
            "seller": settings.BILLING_SELLER,
            "nav": "invoices",
        },
    )


@customer_required
@require_GET
def invoice_pdf(request, *, customer, number):
    document = _document_or_404(customer, number)
    if isinstance(document, CreditNote):
        content = credit_note_pdf_render(credit_note=document)
    else:
        content = invoice_pdf_render(invoice=document)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.number}.pdf"'
    return response
