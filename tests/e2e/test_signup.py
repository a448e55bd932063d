"""Sign-up and Contact Us in a real browser: from the login page to an open account."""

import pytest
from playwright.sync_api import expect

from accounts.models import ContactRequest, SignUp, User
from billing.models import Customer
from tests.e2e.conftest import signup_token_from_mail

EMAIL = "founder@newco.example"


@pytest.fixture(autouse=True)
def _links_to_the_live_server(settings, live_server):
    """E-mailed links are built on PORTAL_BASE_URL: point it at the test server."""
    settings.PORTAL_BASE_URL = live_server.url


def fill_sign_up(page, email: str, company: str) -> None:
    page.get_by_label("Work e-mail address").fill(email)
    page.get_by_label("Company name").fill(company)
    page.get_by_role("button", name="Send me the link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("expires after 24 hours")).to_be_visible()


def link_from_mail(email: str, live_url: str) -> str:
    link = f"{live_url}/signup/confirm/?token={signup_token_from_mail(email)}"
    assert any(link in message.body for message in _mails_to(email))
    return link


def _mails_to(email):
    from django.core import mail

    return [message for message in mail.outbox if email in message.to]


def test_sign_up_confirm_and_land_logged_in_with_a_zero_balance(
    page, live_server, transactional_db
):
    page.goto("/login/")
    page.get_by_role("link", name="Sign up").click()
    fill_sign_up(page, EMAIL, "NewCo SAS")
    first = link_from_mail(EMAIL, live_server.url)

    # Signing up again with the same address sends a new link; the first stops working.
    page.goto("/signup/")
    fill_sign_up(page, EMAIL, "NewCo SAS")
    second = link_from_mail(EMAIL, live_server.url)
    assert first != second and len(_mails_to(EMAIL)) == 2
    assert SignUp.objects.filter(email=EMAIL).count() == 1
    page.goto(first)
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()

    page.goto(second)
    page.get_by_role("button", name="Open my account").click()
    expect(page.get_by_role("heading", name="Welcome, NewCo SAS")).to_be_visible()
    expect(page.locator('[data-amount="balance"]')).to_have_text("0.00 EUR")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("link", name="See your subscriptions").click()
    expect(page.get_by_role("heading", level=1, name="Subscriptions")).to_be_visible()
    assert Customer.objects.get(contact__email=EMAIL).credit_balance == 0

    # The link works once.
    users = User.objects.count()
    page.goto(second)
    expect(page.get_by_text("already used")).to_be_visible()

    # Signing up again now: a "log in here" e-mail, no second account.
    page.get_by_role("button", name="Log out").click()
    page.goto("/signup/")
    fill_sign_up(page, EMAIL, "NewCo Again")
    assert "already has an account" in _mails_to(EMAIL)[-1].body
    assert User.objects.count() == users
    assert Customer.objects.filter(contact__email=EMAIL).count() == 1


def test_contact_us_from_the_landing_page(page, transactional_db):
    page.goto("/login/")
    page.get_by_role("link", name="Contact Us").click()
    expect(page.get_by_role("heading", name="Contact Us")).to_be_visible()
    page.get_by_label("Your name").fill("Jeanne Martin")
    page.get_by_label("Company").fill("Bigcorp SA")
    page.get_by_label("E-mail address").fill("jeanne@bigcorp.example")
    page.get_by_label("Message").fill("A yearly contract for 500 licences, please.")
    page.get_by_label("I want a contract and to pay by bank transfer").check()
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("your message reached our sales team")).to_be_visible()
    request = ContactRequest.objects.get()
    assert (request.company, request.wants_contract) == ("Bigcorp SA", True)
    assert _mails_to("sales@caj.example")
