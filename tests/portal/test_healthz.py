"""/healthz: 200 when the database and the broker answer, 503 naming the one that does
not; no login, no session, no rate limit."""

import pytest
from django.db import OperationalError

from portal.views import health

pytestmark = pytest.mark.django_db


def test_ok_when_database_and_broker_answer(client, django_assert_num_queries):
    with django_assert_num_queries(1):  # SELECT 1, no session or user lookup
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert not response.cookies  # no session, no CSRF cookie


def test_a_dead_broker_answers_503(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unreachable"}


def test_a_missing_filesystem_broker_folder_answers_503(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    assert client.get("/healthz").status_code == 503
    (tmp_path / "gone").mkdir()
    assert client.get("/healthz").status_code == 200


def test_a_dead_database_answers_503(client, monkeypatch):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DeadConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_not_rate_limited(client):
    """A load balancer probes every few seconds from one address."""
    for _ in range(100):
        assert client.get("/healthz").status_code == 200


def test_only_get(client):
    assert client.post("/healthz").status_code == 405
