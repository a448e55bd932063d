"""Browser fixtures: a customer whose contact logs in, a clean cache (login rate limits),
and logging in through the pages with the code read from the sent e-mail."""

import pytest
from django.core.cache import cache

from accounts.models import User
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.portal.conftest import code_from_mail


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def customer(transactional_db):
    # Made as customer_create makes contacts: no usable password until they set one.
    contact = User.objects.create_user(email="billing@acme.example")
    customer = CustomerFactory(name="Acme SAS", contact=contact)
    SubscriptionFactory(customer=customer, organization_name="Acme Paris")
    return customer


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
