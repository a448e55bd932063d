"""Fixtures for the fleet tests: API keys, an HTTP client on the live server, a staff admin
client behind TOTP, and a browser logged in as a customer."""

import pytest
import requests
from django.conf import settings
from django.test import Client

from fleet.services.api_keys import api_key_create


@pytest.fixture
def api_key_raw(db) -> str:
    """A real key, made the way the admin makes them; the raw value a platform would hold."""
    _api_key, raw = api_key_create(name="Test MDM platform", actor="test")
    return raw


class MdmHttp:
    """requests against the live server's MDM API, with or without the key."""

    def __init__(self, base_url: str, raw_key: str):
        self.base_url = f"{base_url}/api/mdm"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {raw_key}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)  # seconds
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)


@pytest.fixture
def mdm(live_server, api_key_raw) -> MdmHttp:
    return MdmHttp(live_server.url, api_key_raw)


def browser_login(page, user) -> None:
    """Logs `user` in for the browser: a real session made by Django's test client, its
    cookie handed to the browser on the live server's host (localhost)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "domain": "localhost",
                "path": "/",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )


@pytest.fixture
def login_page():
    """`login_page(page, user)`: the browser is logged in as `user`."""
    return browser_login
