"""Login by e-mailed code and by password, in Chromium, as the billing contact does it."""

import re
from datetime import timedelta

import time_machine
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import ask_for_code
from tests.portal.conftest import code_from_mail


def session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "sessionid"), None)


def authenticated_sessions() -> int:
    return sum("_auth_user_id" in s.get_decoded() for s in Session.objects.all())


def assert_not_logged_in(page):
    assert authenticated_sessions() == 0
    page.goto("/subscriptions/")
    assert "/login/" in page.url


def test_first_login_by_code_then_password_logout_and_password_login(page, customer):
    page.goto("/subscriptions/")
    assert "/login/" in page.url
    page.get_by_label("E-mail address").fill("billing@acme.example")
    page.get_by_role("button", name="Send me a code").click()
    expect(
        page.get_by_text("If this address belongs to a customer, a code is on its way")
    ).to_be_visible()
    expect(page.get_by_text("valid for 10 minutes")).to_be_visible()
    field = page.get_by_label("6-digit code")
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") == "numeric"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "valid for 10 minutes" in message.body
    assert "valid for 10 minutes" in message.alternatives[0][0]
    anonymous_session = session_cookie(page)

    field.fill(code_from_mail("billing@acme.example"))
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("heading", name="Subscriptions").wait_for()
    assert page.url.endswith("/subscriptions/")
    expect(page.get_by_role("link", name="Acme Paris")).to_be_visible()
    assert session_cookie(page) != anonymous_session  # the session id rotated

    page.get_by_role("link", name="Account Information").click()
    page.get_by_role("link", name="Change password").click()
    assert page.locator('input[type="password"]').count() == 2  # no current password yet
    page.get_by_label("New password", exact=True).fill("tulip-orbit-42")
    page.get_by_label("New password confirmation").fill("tulip-orbit-42")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your password is set.")).to_be_visible()
    expect(page.get_by_role("heading", name="Account Information")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert_not_logged_in(page)

    page.get_by_role("link", name="Log in with your password").click()
    page.get_by_label("E-mail address").fill("billing@acme.example")
    page.get_by_label("Password").fill("tulip-orbit-42")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Subscriptions").wait_for()
    expect(page.get_by_role("link", name="Acme Paris")).to_be_visible()
    assert len(mail.outbox) == 1  # the password login sent nothing


def test_an_expired_code_is_refused(page, customer):
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        ask_for_code(page, customer.email)
        code = code_from_mail(customer.email)
        traveller.shift(timedelta(minutes=10, seconds=1))
        page.get_by_label("6-digit code").fill(code)
        page.get_by_role("button", name="Log in").click()
        expect(
            page.get_by_text(
                "This code has expired: a code is valid for 10 minutes. Ask for a new code."
            )
        ).to_be_visible()
        assert_not_logged_in(page)
    assert len(mail.outbox) == 1


def test_a_wrong_code_five_times_voids_the_code(page, customer):
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        ask_for_code(page, customer.email)
        code = code_from_mail(customer.email)
        wrong = "111111" if code != "111111" else "222222"
        for left in (4, 3, 2, 1):
            page.get_by_label("6-digit code").fill(wrong)
            page.get_by_role("button", name="Log in").click()
            page.get_by_text(re.compile(rf"That code is not right.*\({left} tr")).wait_for()
            traveller.shift(timedelta(seconds=30))  # past django-otp's throttle delay
        page.get_by_label("6-digit code").fill(wrong)
        page.get_by_role("button", name="Log in").click()
        expect(
            page.get_by_text("it was the 5th wrong code: this code no longer works.")
        ).to_be_visible()
        traveller.shift(timedelta(seconds=30))
        # Even the right code no longer works.
        page.get_by_label("6-digit code").fill(code)
        page.get_by_role("button", name="Log in").click()
        expect(
            page.get_by_text(
                "5 wrong codes were entered, so this code no longer works. Ask for a new code."
            )
        ).to_be_visible()
        assert_not_logged_in(page)
    assert len(mail.outbox) == 1


def test_an_unknown_address_gets_the_same_page_and_no_e_mail(page, customer):
    ask_for_code(page, customer.email)
    known = page.locator("main").inner_text().replace(customer.email, "ADDRESS")
    known_fields = page.locator("main input:not([type=hidden])").count()
    page.get_by_role("link", name="Use another address").click()

    ask_for_code(page, "nobody@nowhere.example")
    unknown = page.locator("main").inner_text().replace("nobody@nowhere.example", "ADDRESS")
    assert unknown == known
    assert page.locator("main input:not([type=hidden])").count() == known_fields
    assert [m.to for m in mail.outbox] == [[customer.email]]

    page.get_by_label("6-digit code").fill("123456")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("That code is not right.")).to_be_visible()
    assert_not_logged_in(page)
    assert len(mail.outbox) == 1
