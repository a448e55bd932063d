"""The gateways' webhooks are limited per client IP (portal/views/webhooks.py): a flood
answers 429 without reading the body or touching the database."""

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["webhook_stripe", "webhook_paypal"])
def test_a_flood_gets_429_without_a_query(settings, name, django_assert_num_queries):
    settings.WEBHOOK_REQUESTS_PER_MINUTE = 3
    flooder = Client(REMOTE_ADDR="203.0.113.66")
    url = reverse(name)
    for _ in range(3):
        # Unsigned: refused by the gateway module (400), but counted.
        assert flooder.post(url, b"{}", content_type="application/json").status_code == 400
    with django_assert_num_queries(0):
        response = flooder.post(url, b"{}" * 1000, content_type="application/json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another address (another gateway server) is not affected.
    other = Client(REMOTE_ADDR="198.51.100.8")
    assert other.post(url, b"{}", content_type="application/json").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_the_default_is_generous(settings):
    assert settings.WEBHOOK_REQUESTS_PER_MINUTE == 600
