"""The client IP every rate limit counts (accounts/client_ip.py): X-Forwarded-For is read
only when the TCP peer is the trusted proxy (TRUSTED_PROXIES)."""

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.client_ip import client_ip
from tests.factories import CustomerFactory

PROXY = "10.0.0.5"


def ip_of(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert ip_of("203.0.113.7") == "203.0.113.7"
    assert ip_of("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert ip_of(PROXY, "198.51.100.1") == PROXY


def test_behind_the_trusted_proxy_the_address_it_saw_counts(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    assert ip_of(PROXY, "198.51.100.1") == "198.51.100.1"
    # What the client wrote before the proxy appended its peer is ignored.
    assert ip_of(PROXY, "1.2.3.4, 198.51.100.1") == "198.51.100.1"
    assert ip_of(PROXY, "garbage, 198.51.100.1") == "198.51.100.1"
    assert ip_of(PROXY, "2001:db8::1") == "2001:db8::1"
    # The proxy sent no header: the proxy's own address (never a crash).
    assert ip_of(PROXY) == PROXY
    assert ip_of(PROXY, "not an address") == PROXY


def test_a_cidr_and_two_hops(settings):
    settings.TRUSTED_PROXIES = ["192.0.2.0/24", "10.0.0.0/8"]  # CDN, then load balancer
    assert ip_of("10.1.2.3", "1.2.3.4, 198.51.100.9, 192.0.2.44") == "198.51.100.9"
    # The CDN hop is missing: the chain does not match, the peer counts.
    assert ip_of("10.1.2.3", "198.51.100.9") == "10.1.2.3"


def test_an_untrusted_peer_cannot_choose_its_address(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    assert ip_of("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert ip_of("203.0.113.7", f"198.51.100.1, {PROXY}") == "203.0.113.7"


def ask_code(client, email, forwarded):
    return client.post(reverse("portal:login"), {"email": email}, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.mark.django_db
def test_behind_the_proxy_two_customers_have_separate_budgets(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.PORTAL_LOGIN_CODE_REQUESTS_PER_IP = 2
    customers = [CustomerFactory() for _ in range(4)]
    via_proxy = Client(REMOTE_ADDR=PROXY)
    for customer in customers[:2]:
        assert ask_code(via_proxy, customer.email, "198.51.100.1").status_code == 302
    assert ask_code(via_proxy, customers[2].email, "198.51.100.1").status_code == 429
    # Another customer behind the same proxy still has a budget.
    assert ask_code(Client(REMOTE_ADDR=PROXY), customers[2].email, "198.51.100.2").status_code == (
        302
    )
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_an_untrusted_client_cannot_dodge_its_budget_with_the_header(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.PORTAL_LOGIN_CODE_REQUESTS_PER_IP = 2
    customers = [CustomerFactory() for _ in range(3)]
    client = Client(REMOTE_ADDR="203.0.113.7")
    for number, customer in enumerate(customers[:2]):
        assert ask_code(client, customer.email, f"198.51.100.{number}").status_code == 302
    assert ask_code(client, customers[2].email, "198.51.100.99").status_code == 429
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_staff_login_sign_up_and_contact_count_the_same_address(settings, monkeypatch):
    """Every rate limit takes its IP from client_ip()."""
    settings.TRUSTED_PROXIES = [PROXY]
    seen = []
    import accounts.contact
    import accounts.signup
    import accounts.staff_login

    def recording(real):
        def throttle_key(*, scope, kind, subject):
            if kind in ("ip", "code-ip", "password-ip"):
                seen.append((scope, subject))
            return real(scope=scope, kind=kind, subject=subject)

        return throttle_key

    for module in (accounts.contact, accounts.signup, accounts.staff_login):
        monkeypatch.setattr(module, "throttle_key", recording(module.throttle_key))
    import portal.auth

    monkeypatch.setattr(portal.auth, "throttle_key", recording(portal.auth.throttle_key))
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.77")
    client.post(reverse("portal:login"), {"email": "a@x.example"})
    client.post(reverse("portal:login_password"), {"email": "a@x.example", "password": "x"})
    client.post(reverse("admin:login"), {"email": "a@x.example", "password": "x", "code": "1"})
    client.post(
        reverse("portal:signup"),
        {"email": "a@x.example", "company_name": "X", "country": "FR"},
    )
    client.post(
        reverse("portal:contact"),
        {"name": "A", "company": "X", "email": "a@x.example", "message": "Hello"},
    )
    assert {scope for scope, _ in seen} == {"portal-login", "staff-login", "signup", "contact"}
    assert {subject for _, subject in seen} == {"198.51.100.77"}
