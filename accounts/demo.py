"""The demo's own tools (seed_demo's public staff credentials, staff_totp_code) run only in
the demo: DEBUG on with the key published in this repository (settings.DEMO). Anywhere
else they refuse and change nothing."""

from django.conf import settings
from django.core.management.base import CommandError


def demo_required(*, what: str) -> None:
    """Raises CommandError unless this process runs the demo settings."""
    if not getattr(settings, "DEMO", False):
        raise CommandError(
            f"Refused: {what} only runs in the demo (DEBUG on with the demo SECRET_KEY, as "
            "`make run` starts it). Nothing was changed."
        )
