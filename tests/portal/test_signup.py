"""Self sign-up and Contact Us through the pages (accounts/signup.py, accounts/contact.py)."""

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ContactRequest, SignUp, User
from accounts.tasks import signup_cleanup
from audit.models import AuditEntry
from billing.models import Customer
from tests.factories import StaffUserFactory

# Real commits: the e-mails go out when the transaction commits (on_commit).
pytestmark = pytest.mark.django_db(transaction=True)

NEW = "founder@newco.example"


def sign_up(client, email=NEW, company="NewCo SAS", country="FR", **extra):
    return client.post(
        reverse("portal:signup"),
        {"email": email, "company_name": company, "country": country},
        follow=True,
        **extra,
    )


def link_from_mail(email: str) -> str:
    sent = [m for m in mail.outbox if email in m.to]
    assert sent, f"no e-mail to {email}"
    found = re.search(r"http\S+/signup/confirm/\?token=(\S+)", sent[-1].body)
    assert found, sent[-1].body
    return found.group(0)


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def confirm(client, token):
    return client.post(reverse("portal:signup_confirm"), {"token": token})


def page_text(response, email) -> str:
    body = response.content.decode().replace(email, "ADDRESS")
    return "\n".join(line for line in body.splitlines() if "csrfmiddlewaretoken" not in line)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_a_newcomer_signs_up_and_lands_logged_in_with_a_zero_balance(client):
    response = sign_up(client, email=" Founder@NewCo.example ")
    body = response.content.decode()
    assert "Check your inbox" in body and "expires after 24 hours" in body
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [NEW]
    assert "expires after 24 hours" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    link = link_from_mail(NEW)
    assert link.startswith("http://127.0.0.1:8000/signup/confirm/?token=") and link in html
    signup = SignUp.objects.get(email=NEW)
    # Only a hash of the token is stored.
    assert signup.token_hash == hashlib.sha256(token_of(link).encode()).hexdigest()
    assert token_of(link) not in signup.token_hash
    assert signup.expires_at == signup.created_at + timedelta(hours=24)
    assert not User.objects.filter(email=NEW).exists()

    # Opening the link shows a button; only the POST opens the account.
    response = client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200 and "Open my account" in response.content.decode()
    assert not User.objects.filter(email=NEW).exists()
    response = confirm(client, token_of(link))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:signup_welcome")
    assert logged_in(client)

    customer = Customer.objects.get(contact__email=NEW)
    assert (customer.name, customer.currency, customer.country) == ("NewCo SAS", "EUR", "FR")
    assert customer.credit_balance == 0 and customer.address_line1 == ""
    assert not customer.contact.has_usable_password()
    signup.refresh_from_db()
    assert signup.confirmed_at is not None
    assert AuditEntry.objects.filter(action="signup.confirm", target_id=str(customer.pk)).exists()
    body = client.get(reverse("portal:signup_welcome")).content.decode()
    assert "Welcome, NewCo SAS" in body and "0.00 EUR" in body
    assert client.get(reverse("portal:subscriptions")).status_code == 200


def test_the_country_is_taken_from_the_form(client):
    sign_up(client, country="DE")
    confirm(client, token_of(link_from_mail(NEW)))
    assert Customer.objects.get(contact__email=NEW).country == "DE"


def test_known_and_unknown_addresses_get_the_same_page(client, customer):
    known = sign_up(Client(), email=customer.email)
    unknown = sign_up(Client(), email=NEW)
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
    assert page_text(known, customer.email) == page_text(unknown, NEW)
    # The known address is told to log in; no link, no second account.
    to_known = [m for m in mail.outbox if customer.email in m.to]
    assert len(to_known) == 1
    assert "already has an account" in to_known[0].body
    assert "http://127.0.0.1:8000/login/" in to_known[0].body
    assert "/signup/confirm/" not in to_known[0].body
    assert not SignUp.objects.filter(email=customer.email).exists()
    assert User.objects.filter(email=customer.email).count() == 1


def test_staff_addresses_get_the_same_page_and_no_e_mail(client):
    staff = StaffUserFactory(email="ops@caj.example")
    known = sign_up(Client(), email=staff.email)
    unknown = sign_up(Client(), email=NEW)
    assert page_text(known, staff.email) == page_text(unknown, NEW)
    assert not [m for m in mail.outbox if staff.email in m.to]
    assert not SignUp.objects.filter(email=staff.email).exists()


def test_asking_again_replaces_the_link_and_opens_one_account(client):
    sign_up(client)
    first = token_of(link_from_mail(NEW))
    sign_up(client, company="NewCo Group")
    second = token_of(link_from_mail(NEW))
    assert first != second and len(mail.outbox) == 2
    assert SignUp.objects.filter(email=NEW).count() == 1

    response = confirm(Client(), first)
    assert "This link no longer works" in response.content.decode()
    assert not User.objects.filter(email=NEW).exists()

    assert confirm(client, second).status_code == 302
    assert Customer.objects.get(contact__email=NEW).name == "NewCo Group"
    assert User.objects.filter(email=NEW).count() == 1


def test_resend_on_the_check_your_inbox_page_sends_a_fresh_link(client):
    sign_up(client)
    first = token_of(link_from_mail(NEW))
    response = client.post(reverse("portal:signup_resend"), follow=True)
    assert "a new link is on its way" in response.content.decode()
    second = token_of(link_from_mail(NEW))
    assert first != second
    assert "replaced by a newer link" in confirm(Client(), first).content.decode()
    assert confirm(client, second).status_code == 302


def test_resend_without_a_sign_up_goes_back_to_the_form(client):
    response = client.post(reverse("portal:signup_resend"))
    assert response["Location"] == reverse("portal:signup")
    assert client.get(reverse("portal:signup_sent"))["Location"] == reverse("portal:signup")


def test_a_used_link_opens_nothing_and_says_so(client):
    sign_up(client)
    token = token_of(link_from_mail(NEW))
    assert confirm(client, token).status_code == 302
    other = Client()
    for response in (
        confirm(other, token),
        other.get(reverse("portal:signup_confirm"), {"token": token}),
    ):
        body = response.content.decode()
        assert response.status_code == 200
        assert "already used" in body and reverse("portal:login") in body
    assert not logged_in(other)
    assert User.objects.filter(email=NEW).count() == 1


def test_an_expired_link_offers_a_new_one_and_expired_sign_ups_are_deleted(client):
    sign_up(client)
    token = token_of(link_from_mail(NEW))
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        response = confirm(client, token)
        body = response.content.decode()
        assert "expired" in body and "Send a new link" in body
        assert 'value="NewCo SAS"' in body and f'value="{NEW}"' in body
        assert not User.objects.filter(email=NEW).exists()
        # The new link works, and replaces the expired one.
        sign_up(client)
        fresh = token_of(link_from_mail(NEW))
        assert confirm(client, fresh).status_code == 302
    assert User.objects.filter(email=NEW).count() == 1


def test_the_cleanup_deletes_sign_ups_past_their_expiry():
    client = Client()
    sign_up(client, email="old@newco.example")
    with time_machine.travel(timezone.now() + timedelta(hours=20)):
        sign_up(client, email="recent@newco.example")
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert signup_cleanup.delay().get() == 1
    assert list(SignUp.objects.values_list("email", flat=True)) == ["recent@newco.example"]


def test_an_unknown_or_missing_token_says_the_link_does_not_work(client):
    for token in ("nonsense", ""):
        response = client.get(reverse("portal:signup_confirm"), {"token": token})
        assert "This link no longer works" in response.content.decode()
        assert "Send a new link" in response.content.decode()


def test_the_address_limit_is_the_same_for_known_and_unknown_addresses(settings, customer):
    settings.SIGNUP_REQUESTS_PER_ADDRESS = 2
    answers = {}
    for email in (customer.email, NEW):
        for _ in range(2):
            assert sign_up(Client(), email=email).status_code == 200
        refused = sign_up(Client(), email=email)
        assert refused.status_code == 429
        answers[email] = page_text(refused, email)
    assert answers[customer.email] == answers[NEW]
    assert "Too many sign-up e-mails" in answers[NEW]
    assert len([m for m in mail.outbox if NEW in m.to]) == 2


def test_the_ip_limit(settings):
    settings.SIGNUP_REQUESTS_PER_IP = 2
    client = Client()
    for n in range(2):
        assert sign_up(client, email=f"a{n}@newco.example").status_code == 200
    response = sign_up(client, email="a3@newco.example")
    assert response.status_code == 429
    assert "from your network" in response.content.decode()
    assert not SignUp.objects.filter(email="a3@newco.example").exists()
    # Another network is not held up.
    assert sign_up(Client(REMOTE_ADDR="10.0.0.9"), email="a3@newco.example").status_code == 200


def test_resend_past_the_limit_says_so(settings, client):
    settings.SIGNUP_REQUESTS_PER_ADDRESS = 1
    sign_up(client)
    response = client.post(reverse("portal:signup_resend"), follow=True)
    assert "Too many sign-up e-mails" in response.content.decode()
    assert len(mail.outbox) == 1


def test_the_form_checks_its_fields(client):
    response = client.post(
        reverse("portal:signup"), {"email": "not-an-address", "company_name": "", "country": "XX"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in body and "This field is required." in body
    assert "Select a valid choice." in body
    assert not mail.outbox and not SignUp.objects.exists()


def test_a_link_for_an_address_that_got_an_account_meanwhile_opens_nothing(client, customer):
    sign_up(client)
    token = token_of(link_from_mail(NEW))
    contact = customer.contact
    contact.email = NEW
    contact.save()
    body = confirm(client, token).content.decode()
    assert "already used" in body
    assert not logged_in(client)
    assert Customer.objects.count() == 1


# ---- Contact Us ------------------------------------------------------------------------


def contact_us(client, **overrides):
    data = {
        "name": "Jeanne Martin",
        "company": "Bigcorp SA",
        "email": "Jeanne@Bigcorp.example",
        "message": "We want 500 licences on a yearly contract.",
        "wants_contract": "on",
        **overrides,
    }
    return client.post(reverse("portal:contact"), data, follow=True)


def test_the_login_page_links_sign_up_and_contact_us(client):
    body = client.get(reverse("portal:login")).content.decode()
    assert reverse("portal:signup") in body and reverse("portal:contact") in body


def test_contact_us_is_stored_and_e_mailed_to_staff(client, settings):
    response = contact_us(client)
    assert "your message reached our sales team" in response.content.decode()
    request = ContactRequest.objects.get()
    assert (request.name, request.company, request.email) == (
        "Jeanne Martin",
        "Bigcorp SA",
        "jeanne@bigcorp.example",
    )
    assert request.wants_contract and request.handled_at is None
    assert request.client_ip == "127.0.0.1"
    (message,) = mail.outbox
    assert message.to == [settings.STAFF_CONTACT_EMAIL] == ["sales@caj.example"]
    assert message.reply_to == ["jeanne@bigcorp.example"]
    assert message.subject == "Contract and bank transfer: Bigcorp SA (Jeanne Martin)"
    assert "500 licences" in message.body


def test_contact_us_refuses_header_injection_in_the_name(client):
    # Refused, no longer flattened: staff read what the visitor typed, or nothing.
    response = contact_us(client, name="Eve\nBcc: victim@example.com", wants_contract="")
    assert "The name cannot contain line breaks or control characters." in (
        response.content.decode()
    )
    assert not ContactRequest.objects.exists() and mail.outbox == []


def test_contact_us_checks_its_fields(client):
    response = client.post(reverse("portal:contact"), {"email": "nope"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert not ContactRequest.objects.exists() and not mail.outbox


def test_contact_us_is_limited_per_ip(client, settings):
    settings.CONTACT_REQUESTS_PER_IP = 2
    for _ in range(2):
        contact_us(client)
    response = contact_us(client)
    assert response.status_code == 429
    assert "Too many messages" in response.content.decode()
    assert ContactRequest.objects.count() == 2 and len(mail.outbox) == 2


def test_staff_list_search_and_mark_contact_requests_handled(staff_client):
    contact_us(Client())
    contact_us(Client(), company="Other Ltd", email="x@other.example")
    url = reverse("admin:accounts_contactrequest_changelist")
    body = staff_client.get(url, {"q": "Bigcorp"}).content.decode()
    assert "Bigcorp SA" in body and "Other Ltd" not in body
    bigcorp = ContactRequest.objects.get(company="Bigcorp SA")
    # Read-only: no add, no edit form.
    assert staff_client.get(reverse("admin:accounts_contactrequest_add")).status_code == 403
    change = staff_client.post(
        reverse("admin:accounts_contactrequest_change", args=[bigcorp.pk]), {"company": "X"}
    )
    assert change.status_code == 403
    response = staff_client.post(
        url, {"action": "mark_handled", "_selected_action": [bigcorp.pk]}, follow=True
    )
    assert "1 contact request(s) marked as handled." in response.content.decode()
    bigcorp.refresh_from_db()
    assert bigcorp.handled_at is not None and bigcorp.handled_by == staff_client.staff
    entry = AuditEntry.objects.get(action="contact_request.handled")
    assert entry.target_id == str(bigcorp.pk) and entry.actor == staff_client.staff
    assert ContactRequest.objects.get(company="Other Ltd").handled_at is None
