"""Content-Security-Policy on every page (django-csp), no inline script or style anywhere
it would apply, and `Cache-Control: private, no-store` on what a logged-in user sees."""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from billing.models import InvoiceKind
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=|javascript:", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in header.split(";"))
        if part
    }


def assert_strict_policy(response):
    directives = policy(response)
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"].startswith("'self'")
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def assert_no_inline_code(html: str, where: str):
    assert not INLINE_SCRIPT.search(html), f"inline <script> in {where}"
    assert not INLINE_HANDLER.search(html), f"inline event handler in {where}"
    assert not INLINE_STYLE.search(html), f"inline style in {where}"


def no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


def test_page_templates_have_no_inline_script_or_style():
    """E-mail templates are exempt: CSP does not apply to mail, and mail needs inline style."""
    pages = [
        path
        for path in TEMPLATES.rglob("*.html")
        if "emails" not in path.relative_to(TEMPLATES).parts
    ]
    assert len(pages) > 30
    for path in pages:
        assert_no_inline_code(path.read_text(), str(path.relative_to(TEMPLATES)))


def test_anonymous_pages_carry_the_policy_and_may_be_cached(client):
    for name in ("portal:login", "portal:login_password", "portal:signup", "portal:contact"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert_strict_policy(response)
        assert_no_inline_code(response.content.decode(), name)
        assert not no_store(response)
    assert response["X-Frame-Options"] == "DENY"


@pytest.fixture
def logged_in(client):
    customer = CustomerFactory()
    invoice = invoice_create_draft(customer=customer, kind=InvoiceKind.ONE_OFF)
    invoice_add_line(
        invoice=invoice, description="Core monthly", quantity=3, unit_price=Decimal("4.00")
    )
    invoice = invoice_finalize(invoice=invoice, actor=None, issued_on=date(2026, 1, 5))
    client.force_login(customer.contact)
    return client, invoice


def test_logged_in_pages_and_the_invoice_pdf_are_private_no_store(logged_in):
    client, invoice = logged_in
    pages = [
        reverse("portal:subscriptions"),
        reverse("portal:invoices"),
        reverse("portal:invoice_detail", args=[invoice.number]),
        reverse("portal:balance"),
        reverse("portal:account"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert no_store(response), url
        assert_strict_policy(response)
        assert_no_inline_code(response.content.decode(), url)
    pdf = client.get(reverse("portal:invoice_pdf", args=[invoice.number]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert no_store(pdf)
    csv = client.get(reverse("portal:balance_ledger_csv"))
    assert no_store(csv)


def test_the_admin_needs_no_inline_exception(staff_client):
    """Every admin list and add page renders with the strict policy and no inline script
    or style: no per-path exception for /admin/."""
    seen = 0
    for model in admin.site._registry:
        meta = model._meta
        for view in ("changelist", "add"):
            try:
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}")
            except NoReverseMatch:
                continue
            response = staff_client.get(url)
            if response.status_code != 200:  # e.g. no add permission: 403
                continue
            seen += 1
            assert_strict_policy(response)
            assert no_store(response), url
            assert_no_inline_code(response.content.decode(), url)
    assert seen > 10
    response = staff_client.get(reverse("admin:index"))
    assert_strict_policy(response)
    assert no_store(response)
