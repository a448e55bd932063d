"""Settings for the test suite: same code paths, fast hashing, e-mails in memory."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
# The tests are not the demo (seed_demo and staff_totp_code refuse unless a test says so),
# but they pay with the sandbox unless a test configures a gateway against a fake server;
# tests/security/ and tests/portal/test_production_payments.py run the production settings.
DEMO = False
PAYMENT_SANDBOX = True
# Not the demo's: the tests' keys are told apart from any other installation's.
PAYMENT_INSTALLATION_ID = "test"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests run Celery tasks eagerly unless a test starts a real worker (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
# Static files straight from static/ (no collectstatic in tests).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# Eager tasks still open the result backend: an in-memory one needs no var/ folder (a
# fresh checkout has none). The worker fixture sets its own (tests/conftest.py).
if not REDIS_URL:  # noqa: F405
    CELERY_RESULT_BACKEND = "cache+memory://"
