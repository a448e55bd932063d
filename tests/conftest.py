"""Test harness: factories live in tests/factories.py; fixtures here.

Under CI=true the suite must run on PostgreSQL, Redis and Debian's Chromium: a missing
one stops the session with an error instead of skipping tests.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

# Playwright's sync API runs an event loop in the test thread; Django's ORM must still
# be usable from it for arranging and asserting.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _ci_problems() -> list[str]:
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL must be set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5).ping()
        except redis.RedisError as error:
            problems.append(f"Redis at {settings.REDIS_URL} does not answer: {error}")
    if not Path(CHROMIUM).exists():
        problems.append(f"Chromium is missing at {CHROMIUM}")
    return problems


def pytest_sessionstart(session):
    if IN_CI:
        problems = _ci_problems()
        if problems:
            pytest.exit("CI=true but: " + "; ".join(problems), returncode=3)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Every test starts with an empty cache: login rate limits (portal and staff admin,
    where every staff_client login counts) live there."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_and_mail(settings, tmp_path):
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")


@pytest.fixture
def demo_settings(settings):
    """The demo's settings (DEBUG on with the demo key), for seed_demo and staff_totp_code,
    which refuse anywhere else."""
    settings.DEMO = True
    return settings


@pytest.fixture
def sandbox_off(settings):
    """PAYMENT_SANDBOX off, as in production, for this test: no gateway without keys. The
    URLconf is loaded first, with the tests' sandbox routes (portal/urls.py reads the
    setting once, at import): loaded now it would lack them for every later test."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports portal.urls)
    settings.PAYMENT_SANDBOX = False
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYPAL_CLIENT_ID = settings.PAYPAL_CLIENT_SECRET = ""
    return settings


@pytest.fixture(params=["sandbox", "stripe"])
def card_fake(request):
    """Runs the test twice: on the sandbox (None), and on Stripe through the real SDK
    against the fake Stripe server (the Stripe gateway selected)."""
    return request.getfixturevalue("fake_stripe") if request.param == "stripe" else None


@pytest.fixture(params=["sandbox", "paypal"])
def paypal_fake(request):
    """Runs the test twice: on the sandbox (None), and on the fake PayPal server."""
    return request.getfixturevalue("fake_paypal") if request.param == "paypal" else None


@pytest.fixture
def on_postgres(db):
    """For tests that need real row locks."""
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("This test needs PostgreSQL under CI")
        pytest.skip("needs PostgreSQL (set DATABASE_URL); SQLite serializes all writes")


# ---- staff ----------------------------------------------------------------------------


@pytest.fixture
def staff_user(db):
    from tests.factories import StaffUserFactory

    return StaffUserFactory()


@pytest.fixture
def staff_client(client, staff_user):
    """The Django test client logged in to the admin on its one-step page (e-mail,
    password, TOTP code); `staff_client.staff` is the user."""
    from django.urls import reverse
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.staff import STAFF_PASSWORD, totp_token

    device = TOTPDevice.objects.create(user=staff_user, name="app", confirmed=True)
    response = client.post(
        reverse("admin:login"),
        {
            "email": staff_user.email,
            "password": STAFF_PASSWORD,
            "code": totp_token(device),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    client.staff = staff_user
    return client


# ---- browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is missing at {CHROMIUM}")
        pytest.skip(f"Debian's Chromium is not installed ({CHROMIUM}): apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    """A fresh browser context per test, its base URL the live server."""
    context = _browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)  # milliseconds
    page = context.new_page()
    yield page
    context.close()


# ---- celery --------------------------------------------------------------------------


@pytest.fixture
def celery_worker(settings, tmp_path, transactional_db):
    """A real Celery worker thread on a real broker: Redis when REDIS_URL is set (always
    under CI), else kombu's filesystem transport in a temporary folder."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    if IN_CI and not settings.REDIS_URL:
        pytest.fail("CI needs REDIS_URL for the Celery worker tests")
    changed = (
        "broker_url",
        "broker_transport",
        "result_backend",
        "broker_transport_options",
        "task_always_eager",
        "worker_enable_remote_control",
    )
    saved = {key: app.conf[key] for key in changed}
    if settings.REDIS_URL:
        app.conf.update(
            broker_url=settings.REDIS_URL,
            broker_transport=None,
            result_backend=settings.REDIS_URL,
            broker_transport_options={},
        )
    else:
        queue = tmp_path / "queue"
        queue.mkdir()
        app.conf.update(
            broker_url="filesystem://",
            broker_transport="portal.broker_filesystem:Transport",
            result_backend=f"file://{tmp_path}",
            broker_transport_options={
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                # kombu's default is ./control: the repository root when pytest runs there.
                "control_folder": str(tmp_path / "control"),
            },
        )
    app.conf.update(task_always_eager=False, worker_enable_remote_control=False)
    _celery_drop_cached(app)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as w:
            yield w
    finally:
        app.conf.update(saved)
        _celery_drop_cached(app)
        shutil.rmtree(tmp_path / "queue", ignore_errors=True)


def _celery_drop_cached(app):
    """The broker pool also sits in kombu's global registry and the result backend is
    cached per app and thread: drop both, or the next worker test in the session fails
    with "Acquire on closed pool" or waits on this test's folder (and a worker test after
    eager tasks, e.g. the invoice e-mails queued on commit, would use their broker)."""
    from kombu import pools

    app.pool.force_close_all()
    app._pool = None
    pools.reset()
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


def pytest_collection_modifyitems(items):
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if "celery_worker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.celery_worker)


# ---- payment gateways ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_real_stripe(settings):
    """A STRIPE_SECRET_KEY in the developer's environment must not send tests to
    api.stripe.com: every test starts on the sandbox; `fake_stripe` opts in to Stripe."""
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.PAYPAL_CLIENT_ID = ""
    settings.PAYPAL_CLIENT_SECRET = ""
    settings.PAYPAL_API_BASE = ""


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """A fake Stripe API on 127.0.0.1 (tests/fakes/stripe_server.py) and the settings that
    select the Stripe gateway and point its SDK there: nothing reaches api.stripe.com."""
    from tests.fakes.stripe_server import API_KEY, FakeStripe

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    fake = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    settings.PAYMENT_GATEWAY_TIMEOUT = 5.0
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 2
    yield fake
    fake.stop()
    # A request Stripe (at the pinned version) would refuse is a bug even when the test's
    # own assertions passed; a test that sends one on purpose clears the list.
    assert not fake.spec_violations, f"Stripe would refuse: {fake.spec_violations}"


@pytest.fixture
def fake_paypal(settings):
    """A fake PayPal REST API on 127.0.0.1 (tests/fakes/paypal_server.py), and the settings
    that make billing.gateways.paypal_gateway() the real PayPal gateway pointed at it."""
    from tests.fakes import paypal_server

    fake = paypal_server.FakePayPal().start()
    settings.PAYPAL_CLIENT_ID = paypal_server.CLIENT_ID
    settings.PAYPAL_CLIENT_SECRET = paypal_server.CLIENT_SECRET
    settings.PAYPAL_WEBHOOK_ID = paypal_server.WEBHOOK_ID
    settings.PAYPAL_ENVIRONMENT = "sandbox"
    settings.PAYPAL_API_BASE = fake.url
    try:
        yield fake
    finally:
        fake.stop()
