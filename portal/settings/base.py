"""Settings shared by every environment. Everything comes from the environment.

Defaults are the embedded demo set-up: SQLite, the filesystem Celery broker, e-mails
written under var/mail. DATABASE_URL selects PostgreSQL, REDIS_URL selects Redis.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# The demo runs with DEBUG on and a known key. Fail closed: with DEBUG off the demo key is
# refused, so a server never signs sessions with a key published in this repository, and
# DEBUG defaults to off as soon as the key is a real one (a one-off `manage.py` command on
# a server, where DJANGO_SETTINGS_MODULE is often forgotten, then runs as production does).
DEMO_SECRET_KEY = "insecure-demo-key-change-me-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=DEMO_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=SECRET_KEY == DEMO_SECRET_KEY)
if SECRET_KEY == DEMO_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "DEBUG is off but SECRET_KEY is the demo key: set SECRET_KEY in the environment "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DEBUG=true "
        "for the demo."
    )
# The demo: DEBUG on with the published key. Only then do the demo's own tools run
# (seed_demo with its public staff credentials, staff_totp_code): portal/demo.py.
DEMO = DEBUG and SECRET_KEY == DEMO_SECRET_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_email",
    "djmoney",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "audit",
    "fleet",
    "billing",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.NoStoreWhenLoggedInMiddleware",
    # A rate limit that cannot count (cache down) answers 503, never 500 nor unthrottled.
    "accounts.middleware.ThrottleUnavailableMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context.customer",
            ],
        },
    },
]

# SQLite is the embedded default. The web server and the Celery worker share the file,
# so: WAL (readers never block the writer), IMMEDIATE transactions (a writer takes the
# lock at BEGIN instead of failing on upgrade) and a busy timeout in seconds.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    # Closed after each request: runserver opens a thread, so a connection, per request,
    # and a persistent one would stay open after its thread is gone until PostgreSQL runs
    # out ("too many clients already"). Persistent connections only under a fixed number
    # of single-threaded processes: bin/serve, bin/worker (docs/DEPLOY.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)  # seconds
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# The demo serves static/ directly; production serves the collected, hashed files.
WHITENOISE_USE_FINDERS = DEBUG

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # A file cache is shared by the web server and the worker, unlike local memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)  # seconds
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# E-mail: the demo writes every message under var/mail/ and prints it to the console.
# EMAIL_URL selects a mail server (django-environ): smtp+tls://user:password@host:587,
# smtps://user:password@host:465; it sets EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS / EMAIL_USE_SSL.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="portal.mail.FileAndConsoleEmailBackend")
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url_config(EMAIL_URL))
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds: a stuck server ends here
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@caj.example")

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport (no server).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
# Without Redis: kombu's filesystem transport, writing each message atomically.
CELERY_BROKER_TRANSPORT = None if REDIS_URL else "portal.broker_filesystem:Transport"
# Redis hands a task a worker took and never acknowledged (acks_late: the worker was
# SIGKILLed, OOM) to another worker this many seconds after; kombu's default is an hour.
# Longer than the longest task (the chunk tasks' hard time limit, 300 s, billing/tasks.py)
# and than any countdown (60 s), else a task running or waiting is handed out twice;
# short enough that a dead worker's chunk is back long before staff notice. A worker scans
# for such tasks every unacked_restore_interval seconds (kombu's default scans only every
# 10th time, about every 100 s; here every 10 s, one cheap sorted-set read). The result
# backend hands nothing out: no such option there.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)  # seconds
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 10,  # seconds
        "unacked_restore_throttle": 1,
    }
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Exchange tables; kombu's default is ./control, i.e. the folder the process runs in.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
)
CELERY_RESULT_BACKEND = REDIS_URL or f"file://{VAR_DIR / 'celery' / 'results'}"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The filesystem transport has no broadcast channel: no remote control, mingle, gossip.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = bool(REDIS_URL)
NIGHTLY_RUN_ALERT_MINUTES = env.int("NIGHTLY_RUN_ALERT_MINUTES", default=30)
STAFF_ALERT_EMAIL = env.str("STAFF_ALERT_EMAIL", default="ops@caj.example")  # the watchdog's
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
CELERY_BEAT_SCHEDULE = {
    "scheduler-heartbeat": {
        "task": "portal.tasks.scheduler_heartbeat",
        "schedule": 60.0,  # seconds
    },
    "nightly-billing": {
        "task": "billing.tasks.nightly_billing",
        "schedule": crontab(minute=0, hour=0),
    },
    # Cloud instances: each enabled instance billed from the prepaid balance for the day.
    "nightly-instance-billing": {
        "task": "billing.tasks.nightly_instance_billing",
        "schedule": crontab(minute=0, hour=0),
    },
    # A nightly run still incomplete NIGHTLY_RUN_ALERT_MINUTES after it started: its
    # missing chunks queued again, staff e-mailed once (billing/services/nightly_runs.py).
    "nightly-runs-watchdog": {
        "task": "billing.tasks.nightly_runs_watchdog",
        "schedule": 300.0,  # seconds
    },
    # Payments still pending (SEPA debits, a lost webhook, a timeout): ask the gateway.
    "refresh-pending-payments": {
        "task": "billing.tasks.refresh_pending_payments",
        "schedule": 600.0,  # seconds
    },
}

# Billing rules that staff may tune.
BILLING_INVOICE_DUE_DAYS = env.int("BILLING_INVOICE_DUE_DAYS", default=14)
BILLING_INVOICE_PREFIX = env.str("BILLING_INVOICE_PREFIX", default="CAJ")
# Subscriptions renewed per chunk: one transaction and one task each (the nightly fan-out).
BILLING_RENEWAL_CHUNK_SIZE = env.int("BILLING_RENEWAL_CHUNK_SIZE", default=5000)
BILLING_SELLER = {
    "name": "CAJ Mobility SAS",
    "address": "12 rue de la Paix, 75002 Paris, France",
    "vat_number": "FR40303265045",
    # The account customers pay bank transfers to, quoting the invoice number.
    "iban": env.str("BILLING_BANK_IBAN", default="FR76 3000 6000 0112 3456 7890 189"),
    "bic": env.str("BILLING_BANK_BIC", default="AGRIFRPP"),
    "bank": env.str("BILLING_BANK_NAME", default="Crédit Agricole, Paris"),
}
# Prepaid balance: e-mail when it covers fewer than these days of the daily spend (each
# once per crossing).
BILLING_LOW_BALANCE_DAYS = env.list("BILLING_LOW_BALANCE_DAYS", cast=int, default=[7, 3])
# Prepaid balance: the least and the most a customer may top up at once by card (EUR).
BALANCE_TOP_UP_MIN = env.int("BALANCE_TOP_UP_MIN", default=10)
BALANCE_TOP_UP_MAX = env.int("BALANCE_TOP_UP_MAX", default=10000)
# Automatic collection: days after the first failed attempt to try again (then the overdue
# rules apply). Stripe's default is 8 tries in 2 weeks; Kill Bill's 8/8/8 days.
BILLING_COLLECTION_RETRY_DAYS = env.list(
    "BILLING_COLLECTION_RETRY_DAYS", cast=int, default=[1, 3, 5, 7]
)
# SEPA direct debit: our creditor identifier (ICS in France), quoted in every debit's
# pre-notification and shown beside the mandate reference. The default is a demo value.
BILLING_SEPA_CREDITOR_ID = env.str("BILLING_SEPA_CREDITOR_ID", default="FR00ZZZ999999")

# Payment gateways (billing/gateways/). Never commit keys: set them in the environment.
# The sandbox (no money moves, nothing leaves this machine, test cards "pay") stands in for
# a gateway whose keys are missing ONLY when PAYMENT_SANDBOX is on: by default in the demo
# (DEBUG), never in production (portal/settings/production.py refuses it). With it off, a
# method whose keys are missing is not offered anywhere (billing/gateways/kinds.py).
PAYMENT_SANDBOX = env.bool("PAYMENT_SANDBOX", default=DEBUG)
# Acknowledges a deployment with no online gateway at all: customers pay by bank transfer
# only. Without it, production refuses to start with no way to pay online.
PAYMENT_BANK_TRANSFER_ONLY = env.bool("PAYMENT_BANK_TRANSFER_ONLY", default=False)
# Stripe test-mode keys (sk_test_…) and PayPal's sandbox take payments that are not real
# money: production refuses them unless this says the deployment is a staging one.
PAYMENT_TEST_MODE = env.bool("PAYMENT_TEST_MODE", default=False)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # tests point it at a local fake
# The Stripe API version every request asks for (the Stripe-Version header). A constant, not
# the SDK's default: upgrading stripe-python must not change the API under us. Moving it
# means refreshing tests/fakes/specs/ (the fake checks every request against that version's
# OpenAPI description) and running the tests; README.md, Payments.
STRIPE_API_VERSION = "2026-10-28.endive"
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
PAYPAL_ENVIRONMENT = env.str("PAYPAL_ENVIRONMENT", default="sandbox")  # or "production"
PAYPAL_API_BASE = env.str("PAYPAL_API_BASE", default="")  # tests point it at a local fake
# Prefixed to every idempotency key sent to a gateway ("<id>:invoice-12-pay-1"), so two
# installations sharing one Stripe or PayPal account (staging, CI, a restored copy of the
# database) never send each other's keys. 1-32 letters, digits, "-" or "_". "demo" here;
# production requires one when Stripe or PayPal is configured (settings/payments.py).
PAYMENT_INSTALLATION_ID = env.str("PAYMENT_INSTALLATION_ID", default="demo")
PAYMENT_GATEWAY_TIMEOUT = env.float("PAYMENT_GATEWAY_TIMEOUT", default=10.0)  # seconds
PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = env.int("PAYMENT_GATEWAY_MAX_NETWORK_RETRIES", default=2)
# The sandbox gateway settles a SEPA debit this many seconds after the charge (seconds;
# charge_status() then reports it succeeded, or failed for the failing test IBAN).
SANDBOX_SEPA_SETTLE_SECONDS = env.int("SANDBOX_SEPA_SETTLE_SECONDS", default=60)
# Where the gateways send the customer back to (absolute URLs are built on it).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

# Content-Security-Policy (django-csp): only this origin's scripts, styles, images and
# fonts, no inline script or style, never framed. The admin needs no exception (Django's
# admin has no inline script). form-action also covers the redirect a form post answers
# with (Chromium enforces it), so the gateways' hosted pages are allowed once configured.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [
            SELF,
            *(["https://checkout.stripe.com"] if STRIPE_SECRET_KEY else []),
            *(
                ["https://www.paypal.com", "https://www.sandbox.paypal.com"]
                if PAYPAL_CLIENT_ID
                else []
            ),
        ],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MDM platform API",
    "DESCRIPTION": "What an MDM organization may do, and its devices.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

OTP_EMAIL_SUBJECT = "Your CAJ billing portal code"
OTP_TOTP_ISSUER = "CAJ billing portal"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Login by e-mailed code (portal/auth.py)
# django-otp's EmailDevice does the codes: 6 digits, single use, valid this long (seconds),
# a new one only after the cooldown (seconds). Its throttle waits 1, 2, 4, 8 ... seconds
# (x factor) after each wrong code; PORTAL_LOGIN_CODE_MAX_WRONG wrong codes void the code.
OTP_EMAIL_TOKEN_VALIDITY = env.int("PORTAL_LOGIN_CODE_VALIDITY", default=10 * 60)  # seconds
OTP_EMAIL_COOLDOWN_DURATION = env.int("PORTAL_LOGIN_CODE_COOLDOWN", default=60)  # seconds
OTP_EMAIL_THROTTLE_FACTOR = 1  # seconds
OTP_EMAIL_BODY_TEMPLATE_PATH = "portal/emails/login_code.txt"
OTP_EMAIL_BODY_HTML_TEMPLATE_PATH = "portal/emails/login_code.html"
PORTAL_LOGIN_CODE_MAX_WRONG = env.int("PORTAL_LOGIN_CODE_MAX_WRONG", default=5)
# Cache-based limits, counted per fixed window of PORTAL_LOGIN_RATE_WINDOW seconds.
PORTAL_LOGIN_RATE_WINDOW = env.int("PORTAL_LOGIN_RATE_WINDOW", default=60 * 60)  # seconds
PORTAL_LOGIN_CODE_REQUESTS_PER_ADDRESS = env.int(
    "PORTAL_LOGIN_CODE_REQUESTS_PER_ADDRESS", default=5
)
PORTAL_LOGIN_CODE_REQUESTS_PER_IP = env.int("PORTAL_LOGIN_CODE_REQUESTS_PER_IP", default=30)
PORTAL_LOGIN_PASSWORD_FAILURES_PER_ADDRESS = env.int(
    "PORTAL_LOGIN_PASSWORD_FAILURES_PER_ADDRESS", default=5
)
PORTAL_LOGIN_PASSWORD_ATTEMPTS_PER_IP = env.int("PORTAL_LOGIN_PASSWORD_ATTEMPTS_PER_IP", default=30)

# Staff login to the admin (accounts/staff_login.py): attempts (e-mail + password + TOTP
# code), right or wrong, per fixed window of STAFF_LOGIN_RATE_WINDOW seconds. Past a limit
# the attempt is refused unchecked. A login resets its address's count, not its IP's.
STAFF_LOGIN_RATE_WINDOW = env.int("STAFF_LOGIN_RATE_WINDOW", default=60 * 60)  # seconds
STAFF_LOGIN_ATTEMPTS_PER_ADDRESS = env.int("STAFF_LOGIN_ATTEMPTS_PER_ADDRESS", default=5)
STAFF_LOGIN_ATTEMPTS_PER_IP = env.int("STAFF_LOGIN_ATTEMPTS_PER_IP", default=30)

# Reminders and renewals (billing)
# Reminder e-mails for an unpaid invoice, in days relative to its due date (0 = on the due
# date); each stage is sent once.
BILLING_REMINDER_DAYS = env.list("BILLING_REMINDER_DAYS", cast=int, default=[0, 3, 7])

# Self sign-up (accounts/signup.py): the e-mailed link is valid this long (seconds), then
# the sign-up expires and the hourly cleanup deletes it. Requests per fixed window of
# SIGNUP_RATE_WINDOW seconds, per address and per client IP.
SIGNUP_LINK_VALIDITY = env.int("SIGNUP_LINK_VALIDITY", default=24 * 60 * 60)  # seconds
SIGNUP_RATE_WINDOW = env.int("SIGNUP_RATE_WINDOW", default=60 * 60)  # seconds
SIGNUP_REQUESTS_PER_ADDRESS = env.int("SIGNUP_REQUESTS_PER_ADDRESS", default=5)
SIGNUP_REQUESTS_PER_IP = env.int("SIGNUP_REQUESTS_PER_IP", default=20)
SIGNUP_CURRENCY = "EUR"
SIGNUP_DEFAULT_COUNTRY = "FR"
CELERY_BEAT_SCHEDULE["signup-cleanup"] = {
    "task": "accounts.tasks.signup_cleanup",
    "schedule": crontab(minute=15),  # hourly
}

# The proxies in front of the portal (accounts/client_ip.py), the outermost first, each an
# IP or a CIDR. Only when the TCP peer is the last of them is X-Forwarded-For read, for the
# client IP every rate limit counts. Empty: REMOTE_ADDR, X-Forwarded-For is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# Gateway webhooks (portal/views/webhooks.py): calls per client IP and minute; past it 429.
WEBHOOK_REQUESTS_PER_MINUTE = env.int("WEBHOOK_REQUESTS_PER_MINUTE", default=600)

# "Contact Us" (accounts/contact.py): stored, e-mailed here, listed in the admin.
STAFF_CONTACT_EMAIL = env.str("STAFF_CONTACT_EMAIL", default="sales@caj.example")
CONTACT_REQUESTS_PER_IP = env.int("CONTACT_REQUESTS_PER_IP", default=5)  # per window
CONTACT_RATE_WINDOW = env.int("CONTACT_RATE_WINDOW", default=60 * 60)  # seconds

# Sweeps (billing/services/sweeps.py): invoice e-mails and first collection attempts that a
# crash or a lost queue left undone, once older than the grace period (minutes; the
# on-commit task normally wins), at most a batch per run.
BILLING_SWEEP_GRACE_MINUTES = env.int("BILLING_SWEEP_GRACE_MINUTES", default=10)
BILLING_SWEEP_BATCH_SIZE = env.int("BILLING_SWEEP_BATCH_SIZE", default=500)
CELERY_BEAT_SCHEDULE["sweep-unfinished-work"] = {
    "task": "billing.tasks.sweep_unfinished_work",
    "schedule": 300.0,  # seconds
}
