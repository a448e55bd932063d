"""The PDF of a finalized invoice and of a credit note (reportlab, A4). Everything on them
comes from the frozen documents: number, dates, lines and totals, and the invoice's
`bill_to` as it was at finalization (a credit note bills the same party as its invoice)."""

from io import BytesIO

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from billing.countries import COUNTRY_CHOICES
from billing.errors import BillingError
from billing.models import CreditNote, Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.money import money_format
from billing.selectors_payments import (
    credit_note_refund,
    payment_method_label,
    payment_paid_for,
    refund_label,
)

_COUNTRIES = dict(COUNTRY_CHOICES)
_STYLES = getSampleStyleSheet()
_BODY = ParagraphStyle("body", parent=_STYLES["Normal"], fontSize=9, leading=12)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=8, leading=10, textColor=colors.grey)
_RIGHT = ParagraphStyle("right", parent=_BODY, alignment=TA_RIGHT)
_TITLE = ParagraphStyle("title", parent=_STYLES["Title"], fontSize=15, alignment=0, spaceAfter=2)
_HEADING = ParagraphStyle("heading", parent=_BODY, fontName="Helvetica-Bold", spaceBefore=6)


def _esc(text) -> str:
    """Paragraph text is a small markup language: escape what came from people."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _amount(value, currency: str) -> str:
    # The portal's format (billing.money.money_format); the built-in fonts have no U+2212.
    return money_format(value, currency, minus="-")


def _date(value) -> str:
    return value.strftime("%d %b %Y") if value else ""


def _party(title: str, lines: list[str]) -> list:
    body = "<br/>".join(_esc(line) for line in lines if line)
    return [Paragraph(title, _HEADING), Paragraph(body, _BODY)]


def _document(buffer: BytesIO, title: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author=settings.BILLING_SELLER["name"],
        subject=title,
    )


def _header(invoice: Invoice, identity: list, width: float) -> Table:
    """Seller on the left, the document's identity on the right, the invoice's billed
    party below."""
    seller = settings.BILLING_SELLER
    bill_to = invoice.bill_to or {}
    seller_block = _party(
        _esc(seller["name"]), [seller["address"], f"VAT number: {seller['vat_number']}"]
    )
    customer_block = _party(
        "Bill to",
        [
            bill_to.get("name", ""),
            bill_to.get("address_line1", ""),
            bill_to.get("address_line2", ""),
            f"{bill_to.get('postal_code', '')} {bill_to.get('city', '')}".strip(),
            _COUNTRIES.get(bill_to.get("country", ""), bill_to.get("country", "")),
            f"VAT number: {bill_to['vat_number']}" if bill_to.get("vat_number") else "",
            bill_to.get("email", ""),
        ],
    )
    if invoice.subscription_id:
        subscription = invoice.subscription
        customer_block.append(
            Paragraph(
                f"Subscription {_esc(subscription.public_id)} "
                f"({_esc(subscription.organization_name)})",
                _SMALL,
            )
        )
    header = Table(
        [[seller_block, identity], [customer_block, ""]],
        colWidths=[width * 0.55, width * 0.45],
    )
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return header


def _totals(rows: list, width: float) -> Table:
    """Label / amount rows, right-aligned, the last one bold above a rule."""
    table = Table(rows, colWidths=[width * 0.25, width * 0.2], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 10),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
            ]
        )
    )
    return table


def _footer() -> Paragraph:
    seller = settings.BILLING_SELLER
    return Paragraph(
        f"{_esc(seller['name'])} · {_esc(seller['address'])} · VAT {seller['vat_number']}",
        _SMALL,
    )


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """The invoice as PDF bytes. Drafts have no number and no PDF."""
    if not invoice.is_finalized:
        raise BillingError("A draft invoice has no PDF: finalize it first.")
    seller = settings.BILLING_SELLER
    currency = invoice.currency
    buffer = BytesIO()
    document = _document(buffer, f"Invoice {invoice.number}")
    width = document.width
    story: list = []

    identity = [
        Paragraph(f"Invoice {_esc(invoice.number)}", _TITLE),
        Paragraph(f"Issued: {_date(invoice.issued_on)}", _RIGHT),
        Paragraph(f"Due: {_date(invoice.due_on)}", _RIGHT),
        Paragraph(f"Status: {_esc(invoice.get_status_display())}", _RIGHT),
    ]
    story += [_header(invoice, identity, width), Spacer(1, 8 * mm)]

    # Lines, with their periods (end dates are exclusive: the next period starts there).
    rows = [["Description", "Period", "Qty", "Unit price", "Amount"]]
    for line in invoice.lines.all():
        period = (
            f"{_date(line.period_start)} – {_date(line.period_end)}" if line.period_start else ""
        )
        rows.append(
            [
                Paragraph(_esc(line.description), _BODY),
                Paragraph(period, _BODY),
                str(line.quantity),
                _amount(line.unit_price, currency),
                _amount(line.amount, currency),
            ]
        )
    lines_table = Table(
        rows,
        colWidths=[width * 0.34, width * 0.28, width * 0.08, width * 0.14, width * 0.16],
        repeatRows=1,
    )
    lines_table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [lines_table, Spacer(1, 5 * mm)]

    # Totals: credit is used before VAT (DESIGN.md), so VAT is on subtotal - credit.
    totals = [["Subtotal", _amount(invoice.subtotal, currency)]]
    if invoice.credit_applied.amount:
        totals.append(["Credit applied", "-" + _amount(invoice.credit_applied, currency)])
    totals += [
        [f"VAT {invoice.vat_rate.normalize():f}%", _amount(invoice.vat_amount, currency)],
        ["Total", _amount(invoice.total, currency)],
    ]
    story.append(KeepTogether([_totals(totals, width)]))
    notes = list(invoice.credit_notes.order_by("issued_on", "id"))
    if notes:
        corrected = [
            Paragraph("Credit notes", _HEADING),
            Paragraph(
                "<br/>".join(
                    f"{_esc(note.number)} of {_date(note.issued_on)}: "
                    f"{_amount(note.total, currency)}, of which "
                    f"{_amount(note.applied_to_invoice, currency)} lowers this invoice"
                    for note in notes
                ),
                _BODY,
            ),
        ]
        story += [Spacer(1, 3 * mm), KeepTogether(corrected)]
    if invoice.vat_note:
        story += [Spacer(1, 3 * mm), Paragraph(_esc(invoice.vat_note), _BODY)]

    # Payment instructions: a bank transfer of the amount due quoting the invoice number.
    if invoice.status == InvoiceStatus.VOID:
        payment = [Paragraph("Payment", _HEADING), Paragraph("Void: nothing to pay.", _BODY)]
    elif invoice.status == InvoiceStatus.PAID:
        paid = f"Paid on {_date(invoice.paid_at)}. Thank you." if invoice.paid_at else "Paid."
        payment = [Paragraph("Payment", _HEADING), Paragraph(paid, _BODY)]
    else:
        payment = [
            Paragraph("Payment", _HEADING),
            Paragraph(
                f"Please pay {_amount(invoice.amount_due, currency)} by {_date(invoice.due_on)} "
                "by bank transfer to:",
                _BODY,
            ),
            Paragraph(
                f"Beneficiary: {_esc(seller['name'])}<br/>IBAN: {_esc(seller['iban'])}<br/>"
                f"BIC: {_esc(seller['bic'])}<br/>"
                f"Reference: <b>{_esc(invoice.number)}</b> (quote it so we can match "
                "your payment)",
                _BODY,
            ),
        ]
    story += [Spacer(1, 6 * mm), KeepTogether(payment)]
    story += [Spacer(1, 8 * mm), _footer()]
    document.build(story)
    return buffer.getvalue()


def credit_note_pdf_render(*, credit_note: CreditNote) -> bytes:
    """The credit note as PDF bytes: what it takes back of which invoice, and where the
    money went (lowering that invoice's amount due, or to the customer's credit)."""
    note = credit_note
    invoice = note.invoice
    currency = invoice.currency
    buffer = BytesIO()
    document = _document(buffer, f"Credit note {note.number}")
    width = document.width
    identity = [
        Paragraph(f"Credit note {_esc(note.number)}", _TITLE),
        Paragraph(f"Issued: {_date(note.issued_on)}", _RIGHT),
        Paragraph(f"Corrects invoice {_esc(invoice.number)} of {_date(invoice.issued_on)}", _RIGHT),
    ]
    story: list = [_header(invoice, identity, width), Spacer(1, 8 * mm)]
    story += [Paragraph("Reason", _HEADING), Paragraph(_esc(note.reason), _BODY)]
    story.append(Spacer(1, 5 * mm))
    totals = [["Subtotal credited", _amount(note.subtotal, currency)]]
    if note.taxable != note.subtotal:
        totals.append(["of which taxable", _amount(note.taxable, currency)])
    totals += [
        [f"VAT {invoice.vat_rate.normalize():f}%", _amount(note.vat_amount, currency)],
        ["Total", _amount(note.total, currency)],
    ]
    story.append(KeepTogether([_totals(totals, width)]))
    if invoice.vat_note:
        story += [Spacer(1, 3 * mm), Paragraph(_esc(invoice.vat_note), _BODY)]
    settled = [
        ["Applied to invoice " + invoice.number, _amount(note.applied_to_invoice, currency)],
        ["Credited to your account (before VAT)", _amount(note.credited, currency)],
    ]
    refund = credit_note_refund(note=note)
    if refund is not None and refund.destination != refund.TO_CREDIT:
        settled.append(
            [
                f"Refunded to {payment_method_label(refund.payment)}",
                _amount(refund.amount, currency),
            ]
        )
    split = Table(settled, colWidths=[width * 0.45, width * 0.2], hAlign="RIGHT")
    split.setStyle(
        TableStyle(
            [("FONT", (0, 0), (-1, -1), "Helvetica", 9), ("ALIGN", (1, 0), (1, -1), "RIGHT")]
        )
    )
    story += [
        Spacer(1, 6 * mm),
        KeepTogether(
            [
                Paragraph("Where the amount goes", _HEADING),
                split,
                Paragraph(
                    "The amount applied lowers what the invoice still owes; the credit is "
                    "used by your next invoices before anything is charged.",
                    _SMALL,
                ),
            ]
        ),
        Spacer(1, 8 * mm),
        _footer(),
    ]
    document.build(story)
    return buffer.getvalue()


def payment_receipt_pdf_render(*, payment: Payment) -> bytes:
    """The receipt of a payment we received: who paid what, when, how and for what, and
    what was refunded of it since. Not a tax document (the invoice is)."""
    seller = settings.BILLING_SELLER
    customer = payment.customer
    currency = payment.currency
    buffer = BytesIO()
    document = _document(buffer, f"Receipt {payment.pk}")
    width = document.width
    paid_at = payment.succeeded_at or payment.created_at
    identity = [
        Paragraph(f"Receipt R-{payment.pk:06d}", _TITLE),
        Paragraph(f"Received: {_date(paid_at.date())}", _RIGHT),
    ]
    header = Table(
        [
            [
                _party(
                    _esc(seller["name"]), [seller["address"], f"VAT number: {seller['vat_number']}"]
                ),
                identity,
            ],
            [_party("Received from", [customer.name, customer.email]), ""],
        ],
        colWidths=[width * 0.55, width * 0.45],
    )
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    rows = [
        ["Paid for", payment_paid_for(payment)],
        ["Method", payment_method_label(payment)],
        ["Amount received", _amount(payment.amount, currency)],
    ]
    details = Table(rows, colWidths=[width * 0.3, width * 0.5], hAlign="LEFT")
    details.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 9)]))
    story: list = [header, Spacer(1, 8 * mm), details]
    refunds = [refund_label(refund) for refund in payment.refunds.all()]
    if refunds:
        story += [Spacer(1, 4 * mm), Paragraph("Refunds", _HEADING)]
        story += [Paragraph(_esc(line), _BODY) for line in refunds]
    if payment.status == PaymentStatus.REVERSED:
        story += [
            Spacer(1, 4 * mm),
            Paragraph("This payment was later taken back by the bank.", _BODY),
        ]
    story += [
        Spacer(1, 6 * mm),
        Paragraph("This receipt confirms a payment; the invoice is the tax document.", _SMALL),
        Spacer(1, 8 * mm),
        _footer(),
    ]
    document.build(story)
    return buffer.getvalue()
