import pytest
from django.urls import reverse

from tests.factories import StaffUserFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_customer_sees_only_their_subscriptions(client):
    mine = SubscriptionFactory(organization_name="Mine")
    SubscriptionFactory(organization_name="Theirs")
    client.force_login(mine.customer.contact)
    body = client.get(reverse("portal:subscriptions")).content.decode()
    assert "Mine" in body and mine.public_id in body
    assert "Theirs" not in body


def test_staff_account_is_not_a_customer(client):
    client.force_login(StaffUserFactory())
    assert client.get(reverse("portal:subscriptions")).status_code == 404


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("portal:invoices"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_favicon_is_linked_and_favicon_ico_redirects_to_it(client):
    svg = "/static/favicon.svg"
    body = client.get(reverse("portal:login")).content.decode()
    assert f'<link rel="icon" href="{svg}" type="image/svg+xml">' in body
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == svg
