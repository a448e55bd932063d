"""Payments: every payment the customer made (or we collected for them), how, its status
and its refunds, newest first, and a receipt PDF for each one we received. Thin:
billing.selectors_payments reads and labels; another customer's payment is a 404."""

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import Payment
from billing.pdf import payment_receipt_pdf_render
from billing.selectors_payments import (
    payment_receipt_for_customer,
    payment_rows,
    payments_for_customer,
)
from portal.context import customer_required

PAYMENTS_PER_PAGE = 25


@customer_required
@require_GET
def payments(request, *, customer):
    page = Paginator(payments_for_customer(customer=customer), PAYMENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "portal/payments.html",
        {"page": page, "rows": payment_rows(page.object_list), "nav": "payments"},
    )


@customer_required
@require_GET
def payment_receipt(request, *, customer, pk):
    try:
        payment = payment_receipt_for_customer(customer=customer, pk=pk)
    except Payment.DoesNotExist as missing:
        raise Http404("No such payment") from missing
    response = HttpResponse(payment_receipt_pdf_render(payment=payment), "application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-R-{payment.pk:06d}.pdf"'
    return response
