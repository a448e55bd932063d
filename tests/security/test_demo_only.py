"""The demo's tools refuse outside the demo and create nothing: `seed_demo` (its staff user
has a published password and TOTP key) and `staff_totp_code` (prints live staff codes).
And DEBUG is off by default as soon as SECRET_KEY is a real one, so a one-off
`manage.py` command on a server runs as production does."""

import sqlite3
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from accounts.services import staff_user_create
from billing.models import Customer, Plan
from tests.security.test_settings import PRODUCTION, REAL_KEY, run, settings_of


@pytest.mark.django_db
def test_seed_demo_refuses_outside_the_demo_and_creates_nothing():
    with pytest.raises(CommandError, match="only runs in the demo"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()
    assert not Customer.objects.exists()
    assert not Plan.objects.exists()


@pytest.fixture
def staff_device():
    return staff_user_create(email="ops@caj.example", password="s3cret-Pass!")


@pytest.mark.django_db
def test_staff_totp_code_refuses_outside_the_demo(staff_device):
    out = StringIO()
    with pytest.raises(CommandError, match="only runs in the demo"):
        call_command("staff_totp_code", email="ops@caj.example", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.django_db
def test_staff_totp_code_prints_the_code_in_the_demo(demo_settings, staff_device):
    out = StringIO()
    call_command("staff_totp_code", email="ops@caj.example", stdout=out)
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()


def test_debug_is_off_by_default_with_a_real_key():
    """manage.py without DJANGO_SETTINGS_MODULE reads the base settings: with a real key
    DEBUG is now off unless said, so the demo-only commands refuse."""
    assert settings_of(SECRET_KEY=REAL_KEY)["DEBUG"] == "False"
    assert settings_of(SECRET_KEY=REAL_KEY, DEBUG="true")["DEBUG"] == "True"
    assert settings_of()["DEBUG"] == "True"  # the demo: no key, the demo key


def _migrated_sqlite(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    migrate = (
        "from django.core.management import call_command; call_command('migrate', verbosity=0)"
    )
    result = run(migrate, manage=True, DATABASE_URL=url, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    return url


def _staff_users(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return [row[0] for row in db.execute("SELECT email FROM accounts_user")]


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(PRODUCTION, id="production settings"),
        pytest.param({"SECRET_KEY": REAL_KEY}, id="base settings with a real key"),
    ],
)
def test_seed_demo_in_a_real_process_refuses_and_the_demo_login_does_not_exist(tmp_path, env):
    url = _migrated_sqlite(tmp_path)
    seed = "from django.core.management import call_command; call_command('seed_demo')"
    result = run(seed, manage=True, DATABASE_URL=url, **env)
    assert result.returncode != 0
    assert "Refused: seed_demo only runs in the demo" in result.stderr
    assert _staff_users(url) == []
    totp = "from django.core.management import call_command; call_command('staff_totp_code')"
    result = run(totp, manage=True, DATABASE_URL=url, **env)
    assert result.returncode != 0
    assert "Refused: staff_totp_code only runs in the demo" in result.stderr
