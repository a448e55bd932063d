"""Security figures, measured against the production server: bin/serve (gunicorn,
production settings) on PostgreSQL and Redis, behind a pretend TLS proxy on 127.0.0.1.

    .venv/bin/python bench/security_check.py \
        --database-url postgres://postgres@127.0.0.1:5432/security_check \
        --redis-url redis://127.0.0.1:6379/11

The database is DROPPED and created afresh and the Redis database is FLUSHED: give it ones
of your own. What it measures, each printed with its figure:

- `manage.py check --deploy` with the production settings, and that they refuse to start
  without a SECRET_KEY or with the demo one (fail closed);
- the Content-Security-Policy on anonymous and logged-in pages, `Cache-Control: private,
  no-store` on every logged-in page, the invoice PDF and the CSV, and that the pages are
  gone after logout;
- the login code with the mail server down (EMAIL_URL points at a closed port): a known
  and an unknown address get the same answer, with no 5xx;
- rate limits keyed on the client IP behind the proxy (TRUSTED_PROXIES): one address past
  its budget is refused while another is still served; the same for the webhooks.

The last line reads `OK ...` or `FAILED: ...` (exit status 1).
"""

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cluster_check import _free_port, _wait  # noqa: E402
from bench.databases import database_create  # noqa: E402

KNOWN = "billing@acme.example"  # the demo's billing contact
POLICY = ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'")
LOGGED_IN_PAGES = ["/subscriptions/", "/invoices/", "/credit/", "/balance/", "/account/"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the answer itself is what is measured


_OPENER = urllib.request.build_opener(_NoRedirect)


class Server:
    """The portal behind a pretend TLS proxy at 127.0.0.1 (a trusted proxy): every request
    says https and names its client in X-Forwarded-For."""

    def __init__(self, base: str, port: int) -> None:
        self.base, self.port = base, port

    def request(self, path, *, method="GET", client="198.51.100.1", cookie="", data=None):
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": client,
            "Origin": f"https://127.0.0.1:{self.port}",
            "Referer": f"https://127.0.0.1:{self.port}{path}",
        }
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers
        )
        started = time.perf_counter()
        try:
            with _OPENER.open(request, timeout=30) as response:  # noqa: S310 (loopback)
                status, head, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, head, content = error.code, error.headers, error.read()
        except OSError as error:  # not listening yet, or gone
            status, head, content = 0, Message(), str(error).encode()
        return status, head, content, (time.perf_counter() - started) * 1000

    def csrf(self, path: str, cookie: str = "") -> tuple[str, str]:
        """(cookie, token) from a form page."""
        _, head, content, _ = self.request(path, cookie=cookie)
        cookie = "; ".join(
            c.split(";")[0] for c in head.get_all("Set-Cookie") or [] if c.startswith("csrftoken")
        )
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)
        if not cookie or not token:
            raise SystemExit(f"FAILED: no CSRF cookie or token on {path}")
        return cookie, token.group(1).decode()


def _run_manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _setup_django(database_url: str, redis_url: str, secret_key: str) -> None:
    """This process seeds and makes the session: base settings on the server's database."""
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secret_key,
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="portal.settings.base",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    import django

    django.setup()


def _session_cookie() -> tuple[str, str]:
    """A logged-in session of the demo contact, and the number of one of its invoices."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from billing.models import Invoice

    user = User.objects.get(email=KNOWN)
    client = Client()
    client.force_login(user)
    number = Invoice.objects.filter(customer__contact=user).exclude(number=None).first().number
    return (
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
        number,
    )


def check_settings(env: dict, problems: list[str]) -> None:
    deploy = _run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    last = (deploy.stdout.strip().splitlines() or [""])[-1]
    print(f"check --deploy (production settings): exit {deploy.returncode}, {last!r}")
    if deploy.returncode != 0:
        problems.append("check --deploy: " + (deploy.stderr or deploy.stdout)[-300:])
    for label, key in (("no SECRET_KEY", ""), ("the demo SECRET_KEY", None)):
        attempt = dict(env)
        if key is None:
            from django.conf import settings

            attempt["SECRET_KEY"] = settings.DEMO_SECRET_KEY
        else:
            attempt.pop("SECRET_KEY", None)
        refused = _run_manage(attempt, "check")
        said = "ImproperlyConfigured" in refused.stderr
        print(f"production with {label}: exit {refused.returncode}, refused: {said}")
        if refused.returncode == 0 or not said:
            problems.append(f"production started with {label}")


def check_headers(server: Server, cookie: str, number: str, problems: list[str]) -> None:
    anonymous = ["/login/", "/signup/", "/contact/"]
    pages = [*LOGGED_IN_PAGES, f"/invoices/{number}/", f"/invoices/{number}/pdf/"]
    pages.append("/balance/ledger.csv")
    with_csp = no_store = 0
    for path in anonymous + pages:
        status, head, _, _ = server.request(path, cookie=cookie if path in pages else "")
        policy = head.get("Content-Security-Policy", "")
        if status == 200 and all(part in policy for part in POLICY):
            with_csp += 1
        else:
            problems.append(f"{path}: {status}, CSP {policy!r}")
        if path in pages:
            cache = head.get("Cache-Control", "")
            if status == 200 and "private" in cache and "no-store" in cache:
                no_store += 1
            else:
                problems.append(f"{path}: Cache-Control {cache!r}")
    print(f"CSP on {with_csp} of {len(anonymous) + len(pages)} pages: {POLICY}")
    print(f"Cache-Control: private, no-store on {no_store} of {len(pages)} logged-in answers")
    csrf_cookie, token = server.csrf("/account/", cookie=cookie)
    status, _, _, _ = server.request(
        "/logout/",
        method="POST",
        cookie=f"{cookie}; {csrf_cookie}",
        data={"csrfmiddlewaretoken": token},
    )
    after = server.request("/invoices/", cookie=cookie)[0]
    print(f"after logout (POST /logout/ answered {status}): /invoices/ answers {after}")
    if after == 200:
        problems.append("the invoice list still served after logout")


def check_login_code(server: Server, problems: list[str]) -> None:
    cookie, token = server.csrf("/login/")
    answers = {}
    for email in (KNOWN, "nobody@unknown.example"):
        status, head, _, ms = server.request(
            "/login/",
            method="POST",
            cookie=cookie,
            client="198.51.100.2",
            data={"csrfmiddlewaretoken": token, "email": email},
        )
        answers[email] = (status, head.get("Location"))
        print(
            f"login code for {email}, mail server down: {status} -> "
            f"{head.get('Location')} ({ms:.0f} ms)"
        )
    if len(set(answers.values())) != 1 or any(s >= 500 for s, _ in answers.values()):
        problems.append(f"login code answers differ or fail: {answers}")


def check_rate_limits(server: Server, per_ip: int, webhook_limit: int, problems: list[str]):
    cookie, token = server.csrf("/login/")
    statuses = []
    for n in range(per_ip + 1):  # distinct addresses: only the IP's budget is spent
        status, _, _, _ = server.request(
            "/login/",
            method="POST",
            cookie=cookie,
            client="203.0.113.7",
            data={"csrfmiddlewaretoken": token, "email": f"visitor{n}@unknown.example"},
        )
        statuses.append(status)
    other = server.request(
        "/login/",
        method="POST",
        cookie=cookie,
        client="203.0.113.8",
        data={"csrfmiddlewaretoken": token, "email": "visitor@unknown.example"},
    )[0]
    served = sum(1 for s in statuses if s == 302)
    print(
        f"login codes from one client IP: {served} served, then {statuses[-1]}; "
        f"another IP behind the same proxy: {other}"
    )
    if served != per_ip or statuses[-1] != 429 or other != 302:
        problems.append(f"login rate limit per IP: {statuses}, other {other}")
    flood = [
        server.request("/webhooks/stripe/", method="POST", client="203.0.113.9", data={})[0]
        for _ in range(webhook_limit + 1)
    ]
    other = server.request("/webhooks/stripe/", method="POST", client="203.0.113.10", data={})[0]
    refused = sum(1 for s in flood if s == 400)
    print(
        f"unsigned Stripe webhooks from one IP: {refused} refused as unsigned (400), then "
        f"{flood[-1]}; another IP: {other}"
    )
    if refused != webhook_limit or flood[-1] != 429 or other != 400:
        problems.append(f"webhook rate limit per IP: {flood}, other {other}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/security_check"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    import redis

    name = database_create(args.database_url, fresh=True)
    redis.Redis.from_url(args.redis_url).flushdb()
    port = _free_port()
    secret_key = "security-check-" + secrets.token_hex(24)
    per_ip, webhook_limit = 30, 40
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": secret_key,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PAYMENT_BANK_TRANSFER_ONLY": "true",  # production refuses to start with no way to pay
        "TRUSTED_PROXIES": "127.0.0.1",
        "EMAIL_URL": f"smtp://127.0.0.1:{_free_port()}",  # nothing listens: mail is down
        "EMAIL_TIMEOUT": "5",
        "PORTAL_LOGIN_CODE_REQUESTS_PER_IP": str(per_ip),
        "WEBHOOK_REQUESTS_PER_MINUTE": str(webhook_limit),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    problems: list[str] = []
    print(f"server: bin/serve on 127.0.0.1:{port}, database {name}, cache {args.redis_url}")
    _setup_django(args.database_url, args.redis_url, secret_key)
    check_settings(env, problems)

    log = Path(tempfile.mkstemp(prefix="security-check-", suffix=".log")[1])
    with log.open("wb") as out:
        server_process = subprocess.Popen(  # its own process group, stopped as a whole
            [str(ROOT / "bin/serve")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", port)
    try:
        _wait(lambda: server.request("/healthz")[0] == 200, 120, "bin/serve answering /healthz")
        from django.core.management import call_command

        # The benchmark's own throw-away database gets the demo data: seed_demo refuses
        # outside the demo, and this process runs DEBUG off to measure like production.
        from django.test import override_settings

        with override_settings(DEMO=True):
            call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
        cookie, number = _session_cookie()
        check_headers(server, cookie, number, problems)
        check_login_code(server, problems)
        check_rate_limits(server, per_ip, webhook_limit, problems)
    finally:
        os.killpg(server_process.pid, signal.SIGTERM)
        server_process.wait(timeout=60)
    lines = log.read_text().splitlines()
    server_errors = [line for line in lines if re.search(r'HTTP/1\.1" 5\d\d ', line)]
    # The one traceback expected: the known address's code mail, logged and swallowed.
    mail_failures = [i for i, line in enumerate(lines) if "could not be sent" in line]
    other_tracebacks = [
        i
        for i, line in enumerate(lines)
        if line.startswith("Traceback") and i - 1 not in mail_failures
    ]
    print(
        f"server log {log}: {len(server_errors)} answers 5xx, {len(mail_failures)} mail "
        f"failures logged, {len(other_tracebacks)} other tracebacks"
    )
    if server_errors or other_tracebacks:
        problems.append(f"server errors: {server_errors[:3]} {other_tracebacks[:3]}")
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print(
        "OK production settings fail closed, CSP and no-store on every page checked, "
        "login code the same for known and unknown with the mail server down, "
        "rate limits per client IP behind the proxy"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
