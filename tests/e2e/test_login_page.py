from playwright.sync_api import expect


def test_login_page_loads_in_a_real_browser(page):
    page.goto("/subscriptions/")
    # Not logged in: the portal sends the visitor to the login page.
    assert "/login/" in page.url
    expect(page.get_by_role("heading", name="Log in to your billing portal")).to_be_visible()
    field = page.get_by_label("E-mail address")
    assert field.get_attribute("type") == "email"
    assert field.get_attribute("autocomplete") == "email"
