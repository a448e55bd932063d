"""Fault tests of the nightly runs: real Celery workers (`celery -A bench.faults_worker
worker`, acks_late tasks) on a private redis-server and a PostgreSQL database of their
own, and one fault in the middle of each run:

    sigkill    the worker is SIGKILLed inside a chunk's transaction (invoices written and
               numbers drawn, not committed) after a first chunk committed; a new worker
               starts and the broker hands the chunk out again: the portal's own
               settings (CELERY_VISIBILITY_TIMEOUT, set to --visibility-timeout), no
               transport options of the test's, so kombu's own sweep too (about 100 s).
    redis      the redis-server is SIGKILLed while a chunk is in its transaction and the
               other chunks are queued, then started again on the same port, empty (no
               persistence: the queued chunks are lost); the nightly task is sent again.
    watchdog   as `redis`, but nothing sends the nightly task again: the watchdog
               (billing.tasks.nightly_runs_watchdog, NIGHTLY_RUN_ALERT_MINUTES=0 here) finds
               the run incomplete, queues its missing chunks again and alerts staff once.
    dbdrop     the chunk's own database connection is terminated (pg_terminate_backend
               from a second connection) inside its transaction: OperationalError, the
               task's autoretry runs the chunk again.

Each for the renewals (`nightly_billing`, chunks of 500 subscriptions) and the instance
billing (`nightly_instance_billing`, chunks of 500 customers). Afterwards the state must
be exactly that of a run without a fault (a baseline run in this process on the same
seed): the same invoices (subscription, period, amounts, status), periods, credit,
balances, ledger rows and instances; plus one renewal invoice per subscription period,
numbers 1..N gapless, one renewal audit entry per subscription, every enabled instance
charged once for the day and balances == ledger sums (ledger_check).

    .venv/bin/python bench/faults.py \
        --database-url postgres://postgres@127.0.0.1:5432/faults_bench

The database is DROPPED and created afresh. redis-server must be on PATH (a private one
on a free port is started and killed here). Prints what it did and its checks; the last
line reads `faults=<n> violations=<n>`, exit status 1 on any violation.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import database_create  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

FAULTS = ("sigkill", "redis", "watchdog", "dbdrop")
RUNS = ("renewals", "instances")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, seconds: float, what: str) -> None:
    """Polls until predicate() is true; a deadline, not a measurement."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.2)


class RedisServer:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log, self.process = port, log, None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        import redis

        client = redis.Redis(port=self.port)
        _wait(lambda: self._ping(client), 20, f"redis-server on port {self.port}")

    @staticmethod
    def _ping(client) -> bool:
        import redis

        try:
            return client.ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=20)


class Worker:
    def __init__(self, name: str, env: dict, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "bench.faults_worker",
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                    f"--hostname={name}@faults",
                    "--queues=celery",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group
            )
        _wait(self.ready, 60, f"worker {name} ready")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited: see {self.log}")
        return f"{self.name}@faults ready" in self.log.read_text(errors="replace")

    def sigkill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.sigkill()


# ---- the database: fresh, seeded, reset -------------------------------------------------


def _reset() -> None:
    """Empty every table the runs touch; ids start at 1 again (so a seed is the same)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename NOT LIKE 'django_%%' "
            "AND tablename NOT LIKE 'auth_%%'"
        )
        (tables,) = cursor.fetchone()
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")  # noqa: S608


def _seed(run: str, count: int) -> None:
    from django.utils import timezone

    _reset()
    if run == "renewals":
        import renewals as bench_renewals

        bench_renewals._populate(count=count, today=timezone.now().date())
    else:
        import instances as bench_instances

        from billing.services.instance_billing import run_at

        at = run_at(timezone.now().date())
        bench_instances._populate(count=count, customers=count, at=at)


def _progress(run: str) -> int:
    """Committed work: renewal invoices, or instance charges."""
    from django.db import connection

    from billing.models import BalanceEntry, BalanceKind, Invoice, InvoiceKind

    if run == "renewals":
        n = Invoice.objects.filter(kind=InvoiceKind.RENEWAL).count()
    else:
        n = BalanceEntry.objects.filter(kind=BalanceKind.INSTANCE_CHARGE).count()
    connection.close()
    return n


def _fingerprint(run: str) -> dict:
    """What the run leaves behind, without what legitimately differs run to run (invoice
    numbers are given in commit order; timestamps)."""
    from billing.models import BalanceEntry, Customer, Invoice, Subscription
    from fleet.models import Instance

    if run == "renewals":
        return {
            "invoices": sorted(
                Invoice.objects.values_list(
                    "customer_id",
                    "subscription_id",
                    "kind",
                    "status",
                    "period_start",
                    "period_end",
                    "subtotal",
                    "credit_applied",
                    "vat_amount",
                    "total",
                    "amount_due",
                )
            ),
            "subscriptions": sorted(
                Subscription.objects.values_list(
                    "pk", "status", "quantity", "current_period_start", "current_period_end"
                )
            ),
            "credit": sorted(Customer.objects.values_list("pk", "credit_balance")),
        }
    return {
        "ledger": sorted(
            BalanceEntry.objects.values_list(
                "customer_id", "kind", "instance_id", "amount", "balance_after", "idempotency_key"
            )
        ),
        "balances": sorted(Customer.objects.values_list("pk", "balance")),
        "instances": sorted(
            Instance.objects.values_list("pk", "enabled", "paid_until", "paid_daily_price")
        ),
    }


def _baseline(run: str, count: int) -> dict:
    """The same seed, run in this process without a fault."""
    from django.utils import timezone

    from billing.services.instance_billing import instance_billing_run, run_at
    from billing.services.renewals import renewals_run

    _seed(run, count)
    started = time.monotonic()
    if run == "renewals":
        renewals_run(today=timezone.now().date(), actor="nightly-billing")
    else:
        instance_billing_run(at=run_at(timezone.now().date()))
    print(f"baseline {run}: {count} in {time.monotonic() - started:.1f} s, in this process")
    problems = _checks(run, count)
    if problems:
        raise SystemExit(f"baseline {run} fails its own checks: {problems}")
    return _fingerprint(run)


def _checks(run: str, count: int) -> list[str]:
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from audit.models import AuditEntry
    from billing.models import Invoice, InvoiceKind, NumberSequence, Subscription
    from billing.services.balance import ledger_check
    from billing.services.instance_billing import instance_billing_check

    today = timezone.now().date()
    problems = []
    if run == "renewals":
        invoices = Invoice.objects.filter(kind=InvoiceKind.RENEWAL)
        doubles = (
            invoices.values("subscription_id", "period_start")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        if invoices.count() != count or doubles:
            problems.append(
                f"{invoices.count()} renewal invoices ({doubles} doubled), want {count}"
            )
        prefix = f"{settings.BILLING_INVOICE_PREFIX}-{today.year}-"
        numbers = sorted(invoices.values_list("number", flat=True))
        if numbers != [f"{prefix}{n:06d}" for n in range(1, count + 1)]:
            problems.append(f"numbers not 1..{count} gapless: {numbers[:3]}...{numbers[-3:]}")
        last = NumberSequence.objects.filter(year=today.year).values_list("last_number", flat=True)
        if list(last) != [count]:
            problems.append(f"number sequence at {list(last)}, want [{count}]")
        moved = Subscription.objects.filter(current_period_start=today).count()
        due = Subscription.objects.filter(current_period_end__lte=today).count()
        if moved != count or due:
            problems.append(f"{moved} periods moved, {due} still due, want {count} and 0")
        audits = AuditEntry.objects.filter(action="subscription.renew").count()
        if audits != count:
            problems.append(f"{audits} renewal audit entries, want {count}")
    else:
        check = instance_billing_check(day=today)
        if not check.ok or check.charges != count:
            problems.append(
                f"{check.charges} charges for {count} instances, {len(check.unbilled)} "
                f"unbilled, {len(check.twice)} charged twice"
            )
        ledger = ledger_check()
        if ledger.mismatches:
            problems.append(f"{len(ledger.mismatches)} balances != ledger: {ledger.mismatches[:3]}")
    return problems


# ---- one fault ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="faults-"))
        self.redis = RedisServer(_free_port(), self.tmp / "redis.log")
        self.redis_url = f"redis://127.0.0.1:{self.redis.port}/0"
        self.env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_SETTINGS_MODULE": "portal.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": "faults-" + secrets.token_hex(24),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONPATH": str(ROOT),
            # The production setting, configured small (seconds).
            "CELERY_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
            # Chunks of 500 (production runs 2,000): a few thousand due make several
            # chunks, so a fault can land in one after another has committed.
            "BILLING_RENEWAL_CHUNK_SIZE": "500",
            # The watchdog case: a run is watched as soon as it started.
            "NIGHTLY_RUN_ALERT_MINUTES": "0",
        }
        self.workers: list[Worker] = []

    def worker(self, name: str, **env) -> Worker:
        worker = Worker(name, {**self.env, **env}, self.tmp / f"{name}.log")
        self.workers.append(worker)
        return worker

    def send(self, task: str) -> None:
        from portal.celery import app

        for attempt in range(10):
            try:
                app.send_task(task)
                return
            except Exception as error:  # noqa: BLE001 (the broker may be coming back)
                print(f"  send {task}: {error!r}, again")
                time.sleep(0.5 + attempt)
        raise RuntimeError(f"could not send {task}")

    def queues_empty(self) -> bool:
        import redis

        client = redis.Redis(port=self.redis.port)
        return client.llen("celery") == 0 and client.hlen("unacked") == 0

    def run(self, run: str, fault: str, count: int, baseline: dict) -> list[str]:
        import redis

        task = (
            "billing.tasks.nightly_billing"
            if run == "renewals"
            else ("billing.tasks.nightly_instance_billing")
        )
        _seed(run, count)
        redis.Redis(port=self.redis.port).flushall()  # the private server
        marker = self.tmp / f"{run}-{fault}.marker"
        marker.unlink(missing_ok=True)
        hooks = {"sigkill": "hang", "redis": "pause", "watchdog": "pause", "dbdrop": "terminate"}
        first = self.worker(
            f"{run}-{fault}-a",
            FAULTS_HOOK=hooks[fault],
            FAULTS_MARKER=str(marker),
            FAULTS_PAUSE=str(self.args.pause),
        )
        started = time.monotonic()
        self.send(task)
        notes = []
        if fault == "sigkill":
            _wait(marker.exists, 120, "the second chunk in its transaction")
            committed = _progress(run)
            first.sigkill()
            print(
                f"  SIGKILL worker {first.name} inside a chunk's transaction; {committed} "
                f"of {count} committed before"
            )
            self.worker(f"{run}-{fault}-b")
            print(f"  started worker {run}-{fault}-b; the broker hands the chunk out again")
        elif fault in ("redis", "watchdog"):
            _wait(marker.exists, 120, "the second chunk in its transaction")
            client = redis.Redis(port=self.redis.port)
            queued = client.llen("celery")
            committed = _progress(run)
            self.redis.kill()
            self.redis.start()
            print(
                f"  redis-server SIGKILLed and started again (empty) with {queued} chunk "
                f"task(s) queued, {committed} of {count} committed, one chunk in flight"
            )
            _wait(
                lambda: _progress(run) > committed or first.process.poll() is not None,
                60,
                "the chunk in flight committed",
            )
            if first.process.poll() is not None:
                print(f"  worker {first.name} exited ({first.process.returncode}): a new one")
                self.worker(f"{run}-{fault}-b")
            if fault == "watchdog":
                self.send("billing.tasks.nightly_runs_watchdog")
                print("  sent nightly_runs_watchdog (the nightly task is not sent again)")
            else:
                self.send(task)
                print(f"  sent {task.rsplit('.', 1)[1]} again")
        _wait(lambda: _progress(run) >= count, 180, f"{run}: all {count} done")
        _wait(self.queues_empty, 60, "the broker's queue empty, nothing unacknowledged")
        print(f"  {run}: all {count} done {time.monotonic() - started:.1f} s after the send")
        logs = "".join(w.log.read_text(errors="replace") for w in self.workers)
        if fault == "dbdrop":
            if not marker.exists():
                notes.append("the connection was never terminated")
            else:
                print(f"  {marker.read_text()} inside a chunk's transaction")
            retries = logs.count("Retry in")
            print(f"  worker log: {retries} task retry(ies) after OperationalError")
            if "OperationalError" not in logs or not retries:
                notes.append("no OperationalError retry in the worker log")
        if fault == "watchdog":
            notes += self.watchdog_checks(run)
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        problems = _checks(run, count)
        if _fingerprint(run) != baseline:
            problems.append("the state differs from the baseline run without a fault")
        return notes + problems

    def watchdog_checks(self, run: str) -> list[str]:
        """The run's record: found incomplete, queued again once, staff alerted once; the
        next tick (sent now) marks it complete, alerts and queues nothing more."""
        from django.db import connection

        from billing.models import NightlyRun

        def record() -> dict:
            values = NightlyRun.objects.filter(kind=run).values(
                "status", "requeues", "alerted_at", "finished_at"
            )
            row = values.first() or {}
            connection.close()
            return row

        first = record()
        self.send("billing.tasks.nightly_runs_watchdog")
        _wait(lambda: record().get("status") == "complete", 60, "the next tick completes")
        second = record()
        print(
            f"  the run: {first['status']}, queued again {first['requeues']}x, alerted; the "
            f"next tick: {second['status']}, queued again {second['requeues']}x in all"
        )
        if not first.get("alerted_at") or first["requeues"] != 1:
            return [f"the watchdog did not requeue and alert the run once: {first}"]
        if (second["alerted_at"], second["requeues"]) != (first["alerted_at"], 1):
            return [f"the next tick alerted or queued again: {second}"]
        return []

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.redis.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/faults_bench")
    parser.add_argument("--count", type=int, default=3000, help="due subscriptions/instances")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument(
        "--visibility-timeout", type=int, default=10, help="CELERY_VISIBILITY_TIMEOUT, seconds"
    )
    parser.add_argument("--pause", type=float, default=4.0, help="the chunk held during `redis`")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The fault tests run on PostgreSQL: pass a postgres:// URL.")
    runs = [r for r in args.runs.split(",") if r]
    faults = [f for f in args.faults.split(",") if f]
    if set(runs) - set(RUNS) or set(faults) - set(FAULTS):
        raise SystemExit(f"runs are {RUNS}, faults {FAULTS}")

    bench = Bench(args)
    database_create(args.database_url, fresh=True)
    os.environ.update(bench.env)
    os.environ["PGAPPNAME"] = "faults_bench"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"faults: database {args.database_url.rsplit('/', 1)[1]}, redis-server on port "
        f"{bench.redis.port}, logs in {bench.tmp}"
    )
    from django.conf import settings

    # The workers' broker options are the portal's settings, nothing of the test's.
    print(f"broker transport options: {settings.CELERY_BROKER_TRANSPORT_OPTIONS}")
    bench.redis.start()
    total = violations = 0
    try:
        for run in runs:
            baseline = _baseline(run, args.count)
            for fault in faults:
                print(f"{run} / {fault}: {args.count} due")
                total += 1
                try:
                    problems = bench.run(run, fault, args.count, baseline)
                except (TimeoutError, RuntimeError) as error:
                    problems = [str(error)]
                    for worker in bench.workers:
                        worker.stop()
                    bench.workers.clear()
                    if bench.redis.process.poll() is not None:
                        bench.redis.start()
                for problem in problems:
                    print(f"  VIOLATION: {problem}")
                if not problems:
                    print(f"  checked: {_summary(run, args.count)}; same state as the baseline")
                violations += len(problems)
    finally:
        bench.close()
    if not violations:
        shutil.rmtree(bench.tmp, ignore_errors=True)  # the logs are kept when something failed
    print(f"faults={total} violations={violations}")
    return 1 if violations else 0


def _summary(run: str, count: int) -> str:
    if run == "renewals":
        return (
            f"{count} renewal invoices, one per subscription period, numbers 1..{count} "
            f"gapless, {count} periods moved once, {count} audit entries"
        )
    return f"{count} instances charged once for the day, balances == ledger sums"


if __name__ == "__main__":
    sys.exit(main())
