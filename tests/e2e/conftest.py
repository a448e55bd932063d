"""Browser helpers. The real login (e-mailed code) is another issue's; until it lands,
tests log the browser in by handing it a session made with Django's test client."""

import pytest
from django.conf import settings
from django.test import Client


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
