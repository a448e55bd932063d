"""Browser fixtures.

- `login_by_code` logs in through the pages with the code read from the sent e-mail (the
  login tests use it);
- `log_in` hands the browser a session made with Django's test client, for tests about
  something else than logging in (faster, and independent of the login's rate limits).
"""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from playwright.sync_api import expect

from accounts.models import User
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.portal.conftest import code_from_mail

# A shared 2-core CI machine can be slow: wait longer before calling an expectation failed
# (milliseconds; nothing here measures speed).
expect.set_options(timeout=15_000)


@pytest.fixture
def customer(transactional_db):
    # Made as customer_create makes contacts: no usable password until they set one.
    contact = User.objects.create_user(email="billing@acme.example")
    customer = CustomerFactory(name="Acme SAS", contact=contact)
    SubscriptionFactory(customer=customer, organization_name="Acme Paris")
    return customer


@pytest.fixture
def log_in(live_server):
    """log_in(page_or_context, user): the browser is now logged in as `user`."""

    def _log_in(target, user):
        client = Client()
        client.force_login(user)
        context = getattr(target, "context", target)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )

    return _log_in


def ask_for_code(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Enter your code").wait_for()


def login_by_code(page, email: str) -> None:
    ask_for_code(page, email)
    page.get_by_label("6-digit code").fill(code_from_mail(email))
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def signup_token_from_mail(email: str) -> str:
    """The token of the sign-up link in the last e-mail sent to `email`."""
    sent = [message for message in mail.outbox if email in message.to]
    assert sent, f"no e-mail to {email}"
    found = re.search(r"/signup/confirm/\?token=(\S+)", sent[-1].body)
    assert found, sent[-1].body
    return found.group(1)


def staff_log_in(page, email: str, password: str, code: str) -> None:
    """Fills in and sends the admin's one-step login page."""
    page.goto("/admin/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def staff_page(_browser, live_server, staff_user):
    """A browser page logged in to the admin the way staff do it: e-mail, password and
    the current TOTP code of their authenticator app, on one page. `page.staff` is the user."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.staff import STAFF_PASSWORD, totp_token

    device = TOTPDevice.objects.create(user=staff_user, name="app", confirmed=True)
    context = _browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)  # milliseconds
    page = context.new_page()
    staff_log_in(page, staff_user.email, STAFF_PASSWORD, totp_token(device))
    page.wait_for_url("**/admin/")
    page.staff = staff_user
    yield page
    context.close()
