from celery import shared_task

from accounts.signup import signup_cleanup as _signup_cleanup


@shared_task
def signup_cleanup() -> int:
    """Hourly (CELERY_BEAT_SCHEDULE): deletes the sign-ups past their expiry."""
    return _signup_cleanup()
