"""The Payment Method page and paying an open invoice, over HTTP with the sandbox gateway
(the tests' default). The customer's steps on the gateway's stand-in pages (saving a card,
3-D Secure, approving on PayPal) are the sandbox's own functions here; tests/e2e does them
in a browser. Every refusal is checked to change nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.gateways import sandbox
from billing.models import (
    CreditKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.overdue import overdue_mark
from billing.services.payment_methods import payment_method_add_offline
from fleet.models import OrganizationMode
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

VISA, AMEX = "4242 4242 4242 4242", "3782 822463 10005"
DECLINED, THREE_D_SECURE = "4000 0000 0000 0002", "4000 0027 6000 3184"


def open_invoice(customer, *, subscription=None, issued_days_ago=0) -> Invoice:
    draft = invoice_create_draft(customer=customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    issued_on = timezone.now().date() - timedelta(days=issued_days_ago)
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)


@pytest.fixture
def acme(client):
    subscription = SubscriptionFactory(organization_name="Acme Paris")
    client.force_login(subscription.customer.contact)
    client.customer = subscription.customer
    client.subscription = subscription
    return client


@pytest.fixture
def other_customer_method():
    other = SubscriptionFactory(organization_name="Bravo HQ").customer
    return payment_method_add_offline(
        customer=other, kind=PaymentMethodKind.BANK_TRANSFER, actor=None
    )


def counts():
    return (
        PaymentMethod.objects.count(),
        PaymentMethod.objects.filter(removed_at=None).count(),
        PaymentMethod.objects.filter(is_default=True).count(),
        Payment.objects.count(),
    )


def assert_nothing_paid(invoice, customer) -> None:
    """A failed or cancelled payment leaves everything as it was: the invoice open for its
    whole amount, no credit, no payment succeeded, and no e-mail sent."""
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due == invoice.total
    assert not invoice.payments.filter(status=PaymentStatus.SUCCEEDED).exists()
    assert not customer.credit_entries.exists()
    assert customer.credit_balance == 0
    assert mail.outbox == []


def body(response) -> str:
    return response.content.decode()


def save_method(client, kind="card", **fields):
    """Add a card / SEPA mandate: the page sends the customer to the hosted page, where
    they save it (the sandbox's function), and the return URL records it."""
    response = client.post(reverse("portal:payment_method_add"), {"kind": kind})
    assert response.status_code == 302
    location = response["Location"]
    assert "/sandbox/checkout/" in location
    session_id = location.rstrip("/").rsplit("/", 1)[1]
    session = sandbox.sandbox_session(session_id)
    success = sandbox.sandbox_success_url(session)
    assert success.startswith("http://testserver/payment-method/added/?session_id=sb_cs_")
    try:
        sandbox.sandbox_setup_complete(session_id, **fields)
    except sandbox.GatewayError:
        # The stand-in page refuses it: the customer never comes back with the session.
        return None
    return client.get(success.removeprefix("http://testserver"), follow=True)


def save_card(client, number=VISA):
    return save_method(client, card_number=number, exp_month=12, exp_year=2034)


# ---- Payment Method page ----------------------------------------------------------------


def test_no_method_yet_shows_the_add_buttons_and_the_bank_details(acme, settings):
    page = body(acme.get(reverse("portal:payment_method")))
    assert "You have no payment method yet" in page
    for button in ("Add a card", "Add a SEPA direct debit", "Choose PayPal"):
        assert button in page
    # Nothing is vaulted at PayPal: the button says what it does.
    assert "Connect PayPal" not in page
    assert "You approve each invoice on PayPal" in page
    assert "Choose bank transfer" in page
    seller = settings.BILLING_SELLER
    for detail in (seller["iban"], seller["bic"], seller["bank"]):
        assert detail in page
    assert "quote the invoice number" in page.lower()


def test_add_a_visa_card_it_is_listed_with_expiry_and_default(acme):
    response = save_card(acme)
    page = body(response)
    assert "Visa •••• 4242 is saved. It is your default payment method." in page
    method = PaymentMethod.objects.get(customer=acme.customer)
    assert (method.brand, method.last4, method.is_default) == ("visa", "4242", True)
    row = page.split(f'data-method="{method.pk}"')[1].split("</tr>")[0]
    assert "Visa •••• 4242" in row and "12/2034" in row and "Default" in row


def test_american_express_refused_on_the_page_and_by_the_service(acme):
    before = counts()
    assert save_card(acme, AMEX) is None  # the stand-in page refuses it
    # A saved Amex (a gateway that let it through) is refused on our side too.
    response = acme.post(reverse("portal:payment_method_add"), {"kind": "card"})
    session_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    amex = sandbox.sandbox_method_create(card_number=AMEX, exp_month=12, exp_year=2034)
    record = sandbox.sandbox_session(session_id)
    record.payload["method_ref"] = amex.ref
    record.save()
    page = body(
        acme.get(reverse("portal:payment_method_added"), {"session_id": session_id}, follow=True)
    )
    assert "American Express cards are not accepted" in page
    assert "Nothing was saved" in page
    assert counts() == before


def test_add_a_sepa_mandate(acme):
    page = body(save_method(acme, "sepa_debit", iban="DE89 3704 0044 0532 0130 00", holder="A"))
    assert "SEPA debit, IBAN •••• 3000 is saved" in page
    assert "IBAN ending 3000" in page


def test_bad_input_changes_nothing(acme):
    before = counts()
    for name, kind in (
        ("portal:payment_method_add", "paypal"),
        ("portal:payment_method_add", ""),
        ("portal:payment_method_add_offline", "card"),
        ("portal:payment_method_add_offline", "bitcoin"),
    ):
        response = acme.post(reverse(name), {"kind": kind})
        assert response.status_code == 400, (name, kind)
    page = body(acme.get(reverse("portal:payment_method_added"), follow=True))
    assert "Nothing was saved" in page
    page = body(
        acme.get(reverse("portal:payment_method_added"), {"session_id": "nope"}, follow=True)
    )
    assert "Nothing was saved" in page
    assert counts() == before


def test_connect_paypal_and_choose_bank_transfer(acme):
    page = body(
        acme.post(reverse("portal:payment_method_add_offline"), {"kind": "paypal"}, follow=True)
    )
    assert "PayPal is added. It is your default payment method." in page
    page = body(
        acme.post(
            reverse("portal:payment_method_add_offline"), {"kind": "bank_transfer"}, follow=True
        )
    )
    assert "Bank transfer is added." in page and "Choose PayPal" not in page
    kinds = set(acme.customer.payment_methods.values_list("kind", "is_default"))
    assert kinds == {("paypal", True), ("bank_transfer", False)}


def test_set_as_default(acme):
    save_card(acme)
    transfer = payment_method_add_offline(
        customer=acme.customer, kind=PaymentMethodKind.BANK_TRANSFER, actor=None
    )
    url = reverse("portal:payment_method_default", args=[transfer.pk])
    page = body(acme.post(url, {"method": transfer.pk}, follow=True))
    assert "Bank transfer is now your default payment method." in page
    transfer.refresh_from_db()
    assert transfer.is_default
    assert not acme.customer.payment_methods.get(kind="card").is_default


def test_set_as_default_refuses_other_customers_and_unknown_ids(acme, other_customer_method):
    save_card(acme)
    card = acme.customer.payment_methods.get()
    before = counts()
    theirs = other_customer_method.pk
    for pk, posted in (
        (theirs, theirs),  # another customer's method
        (card.pk, theirs),  # the body names another customer's
        (999999, 999999),  # unknown
        (card.pk, ""),  # nothing posted
        (card.pk, "x"),
    ):
        url = reverse("portal:payment_method_default", args=[pk])
        assert acme.post(url, {"method": posted}).status_code == 404, (pk, posted)
    assert acme.get(reverse("portal:payment_method_default", args=[card.pk])).status_code == 405
    assert counts() == before
    other_customer_method.refresh_from_db()
    assert other_customer_method.is_default


def test_remove_asks_first_then_removes(acme):
    save_card(acme)
    transfer = payment_method_add_offline(
        customer=acme.customer, kind=PaymentMethodKind.BANK_TRANSFER, actor=None
    )
    url = reverse("portal:payment_method_remove", args=[transfer.pk])
    page = body(acme.get(url))
    assert "Remove Bank transfer?" in page and "Yes, remove Bank transfer" in page
    assert PaymentMethod.objects.get(pk=transfer.pk).removed_at is None  # GET changes nothing
    page = body(acme.post(url, {"method": transfer.pk}, follow=True))
    assert "Bank transfer is removed." in page
    transfer.refresh_from_db()
    assert transfer.removed_at is not None
    assert acme.get(url).status_code == 404  # removed: no longer one of the live methods


def test_removing_the_default_while_an_invoice_is_open_is_refused(acme):
    save_card(acme)
    card = acme.customer.payment_methods.get()
    open_invoice(acme.customer)
    before = counts()
    url = reverse("portal:payment_method_remove", args=[card.pk])
    page = body(acme.post(url, {"method": card.pk}, follow=True))
    assert "Visa •••• 4242 is your default payment method and invoices are open" in page
    assert counts() == before
    card.refresh_from_db()
    assert card.is_default and card.removed_at is None


def test_remove_refuses_another_customers_method(acme, other_customer_method):
    before = counts()
    url = reverse("portal:payment_method_remove", args=[other_customer_method.pk])
    assert acme.get(url).status_code == 404
    assert acme.post(url, {"method": other_customer_method.pk}).status_code == 404
    assert counts() == before


# ---- paying an invoice ------------------------------------------------------------------


def test_pay_now_links_on_the_list_the_invoice_and_the_overview(acme):
    invoice = open_invoice(acme.customer, subscription=acme.subscription)
    pay = reverse("portal:invoice_pay", args=[invoice.number])
    for name, args in (
        ("portal:invoices", []),
        ("portal:invoice_detail", [invoice.number]),
        ("portal:subscriptions", []),
    ):
        page = body(acme.get(reverse(name, args=args)))
        assert f'href="{pay}"' in page and "Pay now" in page, name


def test_pay_page_shows_the_amount_and_the_choices(acme, settings):
    save_card(acme)
    invoice = open_invoice(acme.customer)
    page = body(acme.get(reverse("portal:invoice_pay", args=[invoice.number])))
    assert 'data-amount="pay">48.00 EUR<' in page
    assert "Pay 48.00 EUR with Visa •••• 4242 (default)" in page
    assert "Pay with a new card" in page and "Pay with PayPal" in page
    assert settings.BILLING_SELLER["iban"] in page
    assert f"Quote the invoice number {invoice.number}" in page


def test_a_paid_invoice_has_nothing_to_pay(acme):
    save_card(acme)
    invoice = open_invoice(acme.customer)
    acme.post(
        reverse("portal:invoice_pay", args=[invoice.number]),
        {"how": "saved", "method": acme.customer.payment_methods.get().pk},
    )
    before = counts()
    response = acme.get(reverse("portal:invoice_pay", args=[invoice.number]), follow=True)
    assert f"Invoice {invoice.number} has nothing left to pay." in body(response)
    card = acme.customer.payment_methods.get()
    url = reverse("portal:invoice_pay", args=[invoice.number])
    acme.post(url, {"how": "saved", "method": card.pk})
    assert counts() == before


def pay_saved(client, invoice):
    method = client.customer.payment_methods.filter(kind__in=["card", "sepa_debit"]).first()
    return client.post(
        reverse("portal:invoice_pay", args=[invoice.number]), {"how": "saved", "method": method.pk}
    )


def test_pay_an_overdue_invoice_with_the_saved_card(acme):
    save_card(acme)
    invoice = open_invoice(acme.customer, subscription=acme.subscription, issued_days_ago=40)
    overdue_mark(today=timezone.now().date())
    organization = acme.subscription.organization
    organization.refresh_from_db()
    assert organization.mode == OrganizationMode.READ_ONLY
    response = pay_saved(acme, invoice)
    assert response["Location"] == reverse("portal:invoice_detail", args=[invoice.number])
    page = body(acme.get(response["Location"]))
    assert f"Thank you: 48.00 EUR received. Invoice {invoice.number} is paid." in page
    assert "badge-paid" in page
    invoice.refresh_from_db()
    organization.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert organization.mode == OrganizationMode.ACTIVE


def test_a_declined_card_pays_nothing(acme, django_capture_on_commit_callbacks):
    save_card(acme, DECLINED)
    invoice = open_invoice(acme.customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = pay_saved(acme, invoice)
    assert response["Location"] == reverse("portal:invoice_pay", args=[invoice.number])
    page = body(acme.get(response["Location"]))
    assert (
        "Your card was declined. Try another card or payment method. Nothing was charged. "
        "The invoice is still open." in page
    )
    invoice.refresh_from_db()
    assert invoice.payments.get().status == PaymentStatus.FAILED
    assert_nothing_paid(invoice, acme.customer)


def test_3d_secure_then_back_to_the_portal(acme):
    save_card(acme, THREE_D_SECURE)
    invoice = open_invoice(acme.customer)
    response = pay_saved(acme, invoice)
    payment = invoice.payments.get()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert response["Location"] == payment.action_url
    back = sandbox.sandbox_authenticate(payment.gateway_ref, complete=True)
    assert back.startswith("http://testserver/invoices/")
    page = body(acme.get(back.removeprefix("http://testserver"), follow=True))
    assert f"Invoice {invoice.number} is paid." in page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_3d_secure_failed(acme, django_capture_on_commit_callbacks):
    save_card(acme, THREE_D_SECURE)
    invoice = open_invoice(acme.customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        pay_saved(acme, invoice)
        payment = invoice.payments.get()
        back = sandbox.sandbox_authenticate(payment.gateway_ref, complete=False)
        page = body(acme.get(back.removeprefix("http://testserver"), follow=True))
    assert "3-D Secure failed). Nothing was charged. The invoice is still open." in page
    assert invoice.payments.get().status == PaymentStatus.FAILED
    assert_nothing_paid(invoice, acme.customer)


def test_a_sepa_debit_is_pending(acme):
    save_method(acme, "sepa_debit", iban="DE89 3704 0044 0532 0130 00", holder="Acme")
    invoice = open_invoice(acme.customer)
    page = body(acme.get(pay_saved(acme, invoice)["Location"]))
    assert "your bank confirms it within a few days" in page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.payments.get().status == PaymentStatus.PENDING
    # A second attempt while it is on its way is refused by the service, and said.
    before = counts()
    page = body(acme.get(pay_saved(acme, invoice)["Location"]))
    assert "is already on its way" in page
    assert counts() == before


def test_pay_with_a_new_card_on_the_hosted_page(acme):
    invoice = open_invoice(acme.customer)
    response = acme.post(reverse("portal:invoice_pay", args=[invoice.number]), {"how": "new_card"})
    session_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    result = sandbox.sandbox_payment_pay(session_id, card_number=VISA, exp_month=12, exp_year=2034)
    assert result.status == "succeeded"
    success = sandbox.sandbox_success_url(sandbox.sandbox_session(session_id))
    page = body(acme.get(success.removeprefix("http://testserver"), follow=True))
    assert f"Invoice {invoice.number} is paid." in page
    assert PaymentMethod.objects.count() == 0  # a card paid once is not saved


def test_a_pending_paypal_payment_does_not_speak_of_a_bank(acme):
    invoice = open_invoice(acme.customer)
    response = acme.post(reverse("portal:invoice_pay", args=[invoice.number]), {"how": "paypal"})
    assert response.status_code == 302
    invoice.payments.update(status=PaymentStatus.PENDING)  # PayPal holds the capture

    page = body(acme.get(reverse("portal:invoice_pay", args=[invoice.number])))

    assert "PayPal is still confirming it" in page
    assert "already on its way: your bank" not in page
    assert "bank confirms it within a few days" not in page


def test_pay_with_paypal(acme):
    invoice = open_invoice(acme.customer)
    response = acme.post(reverse("portal:invoice_pay", args=[invoice.number]), {"how": "paypal"})
    order_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    back = sandbox.sandbox_order_approve(order_id)
    page = body(acme.get(back.removeprefix("http://testserver"), follow=True))
    assert f"Invoice {invoice.number} is paid." in page
    payment = invoice.payments.get()
    assert (payment.method_kind, payment.status) == ("paypal", PaymentStatus.SUCCEEDED)


def test_paypal_cancelled_charges_nothing(acme, django_capture_on_commit_callbacks):
    invoice = open_invoice(acme.customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        url = reverse("portal:invoice_pay", args=[invoice.number])
        response = acme.post(url, {"how": "paypal"})
        order_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
        back = sandbox.sandbox_order_cancel_url(order_id)
        page = body(acme.get(back.removeprefix("http://testserver"), follow=True))
    assert "You cancelled the payment. Nothing was charged." in page
    assert_nothing_paid(invoice, acme.customer)


def test_an_overpayment_becomes_credit(acme):
    """Money for an invoice settled meanwhile (here: by a transfer staff recorded while the
    customer was on PayPal) is all credit, as the service says."""
    from billing.services.payments import payment_record_bank_transfer

    invoice = open_invoice(acme.customer)
    response = acme.post(reverse("portal:invoice_pay", args=[invoice.number]), {"how": "paypal"})
    order_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    payment_record_bank_transfer(invoice=invoice, amount=Decimal("48.00"), actor="staff")
    back = sandbox.sandbox_order_approve(order_id)
    page = body(acme.get(back.removeprefix("http://testserver"), follow=True))
    assert "You paid more than was due: 40.00 EUR is now your credit." in page
    assert acme.customer.credit_entries.filter(kind=CreditKind.OVERPAYMENT).count() == 1


def test_pay_refuses_bad_input_and_other_customers_methods(acme, other_customer_method):
    invoice = open_invoice(acme.customer)
    url = reverse("portal:invoice_pay", args=[invoice.number])
    before = counts()
    assert acme.post(url, {"how": "saved", "method": other_customer_method.pk}).status_code == 404
    assert acme.post(url, {"how": "saved", "method": 999999}).status_code == 404
    for data in ({"how": "saved"}, {"how": "bitcoin"}, {}):
        response = acme.post(url, data)
        assert response["Location"] == url, data
    # A bank transfer "method" is not one that can be charged here.
    transfer = payment_method_add_offline(
        customer=acme.customer, kind=PaymentMethodKind.BANK_TRANSFER, actor=None
    )
    after_add = counts()
    assert acme.post(url, {"how": "saved", "method": transfer.pk}).status_code == 404
    assert counts() == after_add
    assert after_add[3] == before[3]


def test_return_views_without_a_known_payment_change_nothing(acme):
    invoice = open_invoice(acme.customer)
    before = counts()
    for name, query in (
        ("portal:invoice_pay_authenticated", {"payment_intent": "sb_pi_nope"}),
        ("portal:invoice_pay_card_return", {"session_id": "sb_cs_nope"}),
        ("portal:invoice_pay_paypal_return", {"token": "SBNOPE"}),
        ("portal:invoice_pay_authenticated", {}),
    ):
        page = body(acme.get(reverse(name, args=[invoice.number]), query, follow=True))
        assert "was not found" in page, name
    assert counts() == before


def test_another_customers_return_urls_are_404(acme):
    """B's PayPal order id on A's invoice: not found, nothing captured."""
    invoice = open_invoice(acme.customer)
    bravo = SubscriptionFactory(organization_name="Bravo HQ")
    b_invoice = open_invoice(bravo.customer)
    b_client = Client()
    b_client.force_login(bravo.customer.contact)
    response = b_client.post(
        reverse("portal:invoice_pay", args=[b_invoice.number]), {"how": "paypal"}
    )
    order_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    sandbox.sandbox_order_approve(order_id)
    url = reverse("portal:invoice_pay_paypal_return", args=[invoice.number])
    page = body(acme.get(url, {"token": order_id}, follow=True))
    assert "was not found" in page
    url = reverse("portal:invoice_pay_paypal_return", args=[b_invoice.number])
    assert acme.get(url, {"token": order_id}).status_code == 404
    assert b_invoice.payments.get().status == PaymentStatus.REQUIRES_ACTION
