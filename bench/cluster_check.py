"""Local multi-process check: bin/run-cluster (gunicorn with 2 web processes, 2 Celery
workers, 1 beat, production settings) on PostgreSQL and Redis runs the nightly billing
while pages are being served.

    .venv/bin/python bench/cluster_check.py \
        --database-url postgres://postgres@127.0.0.1:5432/deploy_cluster \
        --redis-url redis://127.0.0.1:6379/9

The database is DROPPED and created afresh and the Redis database is FLUSHED: give it ones
of your own. Steps: start the cluster (it migrates), seed the demo, add --extra
subscriptions due today, then CLIENTS threads fetch portal pages (logged in as the demo
contact), /healthz and a static file on 127.0.0.1 while `billing.tasks.nightly_billing`
is sent through the broker; the fetching stops once every due subscription has its
renewal invoice (or after --max-seconds). Then SIGTERM to the cluster's process group.
Checks: every response 200 (no 5xx, no connection error), one renewal invoice per due
subscription, the cluster stopped, no traceback in its output. Prints its figures; the
last line reads `OK ...` or `FAILED: ...` (exit status 1).
"""

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import database_create  # noqa: E402

PAGES = ["/subscriptions/", "/invoices/", "/credit/", "/balance/", "/instances/", "/account/"]
ANONYMOUS = ["/healthz", "/login/"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, cookie: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {what} not within {seconds:.0f} s")
        time.sleep(0.25)


def _setup_django(database_url: str, redis_url: str, secret_key: str) -> None:
    """This process seeds, logs in and sends the task: the base settings on the cluster's
    database, broker and SECRET_KEY (the session cookie must be valid there)."""
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secret_key,
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="portal.settings.base",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PGAPPNAME="cluster_check",  # not counted among the cluster's connections
    )
    import django

    django.setup()


def _seed(extra: int) -> int:
    """The demo, plus `extra` subscriptions of Acme due today; returns how many are due."""
    from django.core.management import call_command

    # The benchmark's own throw-away database gets the demo data: seed_demo refuses
    # outside the demo, and this process runs DEBUG off to measure like production.
    from django.test import override_settings
    from django.utils import timezone

    from billing.models import Customer, Plan, Subscription
    from billing.services.renewals import subscriptions_due_for_renewal
    from fleet.models import Organization

    with override_settings(DEMO=True):
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    today = timezone.now().date()
    acme = Customer.objects.get(contact__email="billing@acme.example")
    plan = Plan.objects.get(code="core-monthly-eur")
    organizations = Organization.objects.bulk_create(
        [
            Organization(name=f"Cluster org {i}", licensed=True, licence_count=5)
            for i in range(extra)
        ]
    )
    Subscription.objects.bulk_create(
        [
            Subscription(
                customer=acme,
                organization=organization,
                organization_name=organization.name,
                plan=plan,
                quantity=5,
                billing_day=today.day,
                billing_month=today.month,
                current_period_start=today.replace(day=1) if today.day > 1 else today,
                current_period_end=today,
            )
            for organization in organizations
        ]
    )
    return subscriptions_due_for_renewal(today=today).count()


def _session_cookie() -> str:
    from django.conf import settings
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email="billing@acme.example"))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _renewal_invoices_today() -> int:
    from django.db import connection
    from django.utils import timezone

    from billing.models import Invoice

    count = Invoice.objects.filter(kind="renewal", period_start=timezone.now().date()).count()
    connection.close()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/deploy_cluster"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--clients", type=int, default=8, help="concurrent page fetchers")
    parser.add_argument("--extra", type=int, default=1000, help="extra subscriptions due")
    parser.add_argument("--rounds", type=int, default=2, help="each client's least rounds")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    import redis

    started = time.monotonic()
    name = database_create(args.database_url, fresh=True)
    redis.Redis.from_url(args.redis_url).flushdb()
    port = _free_port()
    secret_key = "cluster-check-" + secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="cluster-check-", suffix=".log")[1])
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "PORT": str(port),
        "SECRET_KEY": secret_key,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    print(f"cluster: bin/run-cluster on {base}, database {name}, broker {args.redis_url}")
    print(f"cluster: output in {log}")
    with log.open("wb") as out:
        cluster = subprocess.Popen(  # its own process group, as in a terminal
            [str(ROOT / "bin" / "run-cluster")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    problems: list[str] = []
    try:

        def up() -> bool:
            if cluster.poll() is not None:
                raise SystemExit(f"FAILED: run-cluster exited ({cluster.returncode}): see {log}")
            text = log.read_text(errors="replace")
            return (
                _get(base + "/healthz")[0] == 200
                and len(re.findall(r"worker[12]@\S+ ready", text)) == 2
                and "beat: Starting" in text
            )

        _wait(up, 120, "the cluster up (healthz 200, 2 workers ready, beat started)")
        up_seconds = time.monotonic() - started
        print(f"cluster: up after {up_seconds:.1f} s (fresh database, migrated by bin/serve)")

        _setup_django(args.database_url, args.redis_url, secret_key)
        due = _seed(args.extra)
        cookie = _session_cookie()
        status, body = _get(base + "/login/")
        static = re.search(rb"/static/css/[\w.-]+\.css", body)
        static_url = static.group().decode() if static else "/static/missing.css"
        print(f"seeded: demo + {args.extra} subscriptions; {due} due for renewal today")

        statuses: Counter = Counter()
        failures: list[str] = []
        stop = threading.Event()
        sampled = threading.Event()
        lock = threading.Lock()

        def fetcher(index: int) -> None:
            urls = [(p, cookie) for p in PAGES] + [(p, None) for p in ANONYMOUS]
            urls.append((static_url, None))
            i = index
            least = index + args.rounds * len(urls)
            while i < least or not stop.is_set():
                path, with_cookie = urls[i % len(urls)]
                i += 1
                code, content = _get(base + path, with_cookie)
                with lock:
                    statuses[code] += 1
                    if code != 200 and len(failures) < 10:
                        failures.append(f"{path}: {code} {content[:200]!r}")

        from django.db import connection

        peak = {"connections": 0}

        def sampler() -> None:
            import psycopg

            with psycopg.connect(
                args.database_url.replace("postgres://", "postgresql://", 1), autocommit=True
            ) as conn:
                mine = conn.info.backend_pid
                while not sampled.is_set():
                    (count,) = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> %s AND application_name <> 'cluster_check'",
                        [name, mine],
                    ).fetchone()
                    peak["connections"] = max(peak["connections"], count)
                    time.sleep(0.1)

        connection.close()  # this process's own Django connection: not counted
        threads = [threading.Thread(target=fetcher, args=(i,)) for i in range(args.clients)]
        fetch_started = time.monotonic()
        for thread in [*threads, sampling := threading.Thread(target=sampler)]:
            thread.start()
        try:
            from portal.celery import app

            result = app.send_task("billing.tasks.nightly_billing")
            outcome = result.get(timeout=args.max_seconds)
            print(f"nightly_billing (through the broker): {outcome}")
            deadline = fetch_started + args.max_seconds
            while _renewal_invoices_today() < due and time.monotonic() < deadline:
                time.sleep(0.5)
            billing_seconds = time.monotonic() - fetch_started
        finally:
            stop.set()  # each client still ends its --rounds
            for thread in threads:
                thread.join()
            sampled.set()
            sampling.join()
        issued = _renewal_invoices_today()
        requests = sum(statuses.values())
        fetch_seconds = time.monotonic() - fetch_started
        print(
            f"pages: {requests} requests by {args.clients} clients in {fetch_seconds:.1f} s "
            f"({requests / fetch_seconds:.0f}/s), statuses {dict(statuses)}"
        )
        print(f"renewals: {issued} invoices for {due} due, all in {billing_seconds:.1f} s")
        print(
            f"database: peak {peak['connections']} connections of the cluster "
            "(budget: 2 web + 2 workers x 1 + beat)"
        )
        if statuses.get(200, 0) != requests:
            problems.append(f"{requests - statuses.get(200, 0)} responses not 200: {failures}")
        if issued != due:
            problems.append(f"{issued} renewal invoices, want {due}")
    finally:
        stop_started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=60)
            print(
                f"stop: SIGTERM to the process group, exited after "
                f"{time.monotonic() - stop_started:.1f} s"
            )
        except subprocess.TimeoutExpired:
            problems.append("the cluster did not stop within 60 s of SIGTERM")
            os.killpg(cluster.pid, signal.SIGKILL)
    leftovers = subprocess.run(
        ["pgrep", "-f", f"bind 127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout.split()
    if leftovers:
        problems.append(f"gunicorn still running: {leftovers}")
    text = log.read_text(errors="replace")
    errors = [line for line in text.splitlines() if re.search(r"Traceback|ERROR|CRITICAL", line)]
    if errors:
        problems.append(f"{len(errors)} error lines in the cluster output, first: {errors[0]}")
    fivexx = len(re.findall(r'" 5\d\d ', text))
    access_lines = text.count(' HTTP/1.1" ')
    print(f"access log: {access_lines} lines, {fivexx} with a 5xx status")
    if fivexx:
        problems.append(f"{fivexx} 5xx in the access log")
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print(
        f"OK requests={requests} non_200=0 invoices={issued} due={due} "
        f"peak_connections={peak['connections']} total_seconds={time.monotonic() - started:.0f}"
    )
    log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
