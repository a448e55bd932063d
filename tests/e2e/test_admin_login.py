"""Staff log in to the admin in one step, in the browser."""

import re

from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.staff_login import STAFF_LOGIN_REFUSED
from tests.e2e.conftest import staff_log_in
from tests.staff import STAFF_PASSWORD, totp_token


def test_staff_log_in_with_password_and_code_on_one_page(_browser, page, live_server, staff_user):
    device = TOTPDevice.objects.create(user=staff_user, name="app", confirmed=True)
    code = totp_token(device)

    staff_log_in(page, staff_user.email, "not-the-password", code)
    expect(page.locator(".errornote")).to_have_text(STAFF_LOGIN_REFUSED)

    staff_log_in(page, staff_user.email, STAFF_PASSWORD, code)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # Elsewhere, the right password with a wrong code gets the same answer as a wrong
    # password, and no device list. (After it, django-otp makes the device wait a moment.)
    other = _browser.new_context(base_url=live_server.url)
    other.set_default_timeout(10_000)  # milliseconds
    elsewhere = other.new_page()
    staff_log_in(
        elsewhere, staff_user.email, STAFF_PASSWORD, "123456" if code != "123456" else "654321"
    )
    expect(elsewhere.locator(".errornote")).to_have_text(STAFF_LOGIN_REFUSED)
    expect(elsewhere.locator("select")).to_have_count(0)
    expect(elsewhere.get_by_text("OTP")).to_have_count(0)
    expect(elsewhere.get_by_label("6-digit code")).to_be_visible()
    other.close()
