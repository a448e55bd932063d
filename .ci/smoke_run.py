"""CI smoke check of a running `make run`: the portal and the admin answer, and the demo
billing contact logs in with the e-mailed code. Standard library only.

usage: smoke_run.py BASE_URL MAIL_DIR [--wait SECONDS] [--pid PID]
"""

import argparse
import http.cookiejar
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

EMAIL = "billing@acme.example"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The code stands alone on its line (templates/portal/emails/login_code.txt).
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


class Client:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        """(status, final URL after redirects, body)."""
        url = self.base_url + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"Referer": url} if data is not None else {}
        request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.geturl(), error.read().decode(errors="replace")

    def post_form(self, path: str, fields: dict) -> tuple[int, str, str]:
        status, _, page = self.request(path)
        if status != 200:
            fail(f"GET {path} answered {status}")
        match = CSRF_INPUT.search(page)
        if not match:
            fail(f"no CSRF token in the form at {path}")
        return self.request(path, {"csrfmiddlewaretoken": match.group(1), **fields})


def fail(message: str):
    print(f"smoke: FAILED: {message}", flush=True)
    sys.exit(1)


def say(message: str):
    print(f"smoke: {message}", flush=True)


def running(pid: int | None) -> bool:
    """False once the process has ended (a zombie counts as ended)."""
    if pid is None:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def wait_until_up(client: Client, paths: list[str], seconds: float, pid: int | None) -> float:
    started = time.monotonic()
    for path in paths:
        while True:
            if not running(pid):
                fail(f"make run (pid {pid}) ended before {path} answered 200")
            try:
                status, _, _ = client.request(path)
            except OSError:
                status = None
            if status == 200:
                break
            if time.monotonic() - started > seconds:
                fail(f"{path} did not answer 200 within {seconds:.0f} s (last: {status})")
            time.sleep(1)
    return time.monotonic() - started


def newest_code(mail_dir: Path, after: float, seconds: float = 30) -> str:
    """The code in the newest e-mail file written after `after` (a time.time())."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        files = [p for p in mail_dir.glob("*") if p.is_file() and p.stat().st_mtime >= after]
        if files:
            newest = max(files, key=lambda p: p.stat().st_mtime)
            text = newest.read_text(errors="replace")
            if EMAIL in text and (match := CODE.search(text)):
                return match.group(1)
        time.sleep(0.5)
    fail(f"no login code for {EMAIL} in {mail_dir} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("mail_dir", type=Path)
    parser.add_argument("--wait", type=float, default=90, help="seconds to wait for the site")
    parser.add_argument("--pid", type=int, help="stop waiting if this process ends")
    args = parser.parse_args()
    client = Client(args.base_url)

    took = wait_until_up(client, ["/", "/admin/login/"], args.wait, args.pid)
    say(f"/ and /admin/login/ answer 200 ({took:.1f} s after the check started)")

    asked_at = time.time() - 1  # file times have a coarse resolution on some systems
    status, url, _ = client.post_form("/login/", {"email": EMAIL})
    if status != 200 or not url.endswith("/login/code/"):
        fail(f"asking for a code answered {status} at {url}")
    code = newest_code(args.mail_dir, asked_at)
    say(f"login code read from {args.mail_dir}")

    status, url, page = client.post_form("/login/code/", {"code": code})
    if status != 200 or "/login" in urllib.parse.urlsplit(url).path:
        fail(f"the code did not log in: {status} at {url}")
    status, url, page = client.request("/invoices/")
    if status != 200 or "/login" in urllib.parse.urlsplit(url).path:
        fail(f"/invoices/ after logging in answered {status} at {url}")
    say(f"logged in as {EMAIL}; /invoices/ answers 200")


if __name__ == "__main__":
    main()
