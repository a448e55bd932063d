"""Production: secrets and hosts come from the environment; `manage.py check --deploy` passes."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEMO_SECRET_KEY, env
from .payments import payment_configuration_problem

DEBUG = False
# Fail closed: no key, or the demo key published in the repository, and nothing starts.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY == DEMO_SECRET_KEY:
    raise ImproperlyConfigured(
        "portal.settings.production needs SECRET_KEY in the environment, a long random "
        "value that is not the demo key (python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))')."
    )
DEMO = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Payments fail closed (billing/gateways/kinds.py): the sandbox never stands in for a
# missing gateway here, and a method whose keys are missing is simply not offered.
if env.bool("PAYMENT_SANDBOX", default=False):
    raise ImproperlyConfigured(
        "PAYMENT_SANDBOX is on: the sandbox lets anyone 'pay' with test cards and is refused "
        "in production. Unset it (it is for the demo and the tests)."
    )
PAYMENT_SANDBOX = False
PAYPAL_ENVIRONMENT = env.str("PAYPAL_ENVIRONMENT", default="production")
_payment_problem = payment_configuration_problem(
    stripe_secret_key=STRIPE_SECRET_KEY,  # noqa: F405
    paypal_client_id=PAYPAL_CLIENT_ID,  # noqa: F405
    paypal_client_secret=PAYPAL_CLIENT_SECRET,  # noqa: F405
    paypal_environment=PAYPAL_ENVIRONMENT,
    bank_transfer_only=PAYMENT_BANK_TRANSFER_ONLY,  # noqa: F405
    test_mode=PAYMENT_TEST_MODE,  # noqa: F405
    installation_id=env.str("PAYMENT_INSTALLATION_ID", default=""),
    # Read without base.py's demo default: a real deployment names its own identifier.
    sepa_creditor_id=env.str("BILLING_SEPA_CREDITOR_ID", default=""),
)
if _payment_problem:
    raise ImproperlyConfigured(_payment_problem)
# Required above with Stripe or PayPal; bank transfers only send no key anywhere.
PAYMENT_INSTALLATION_ID = env.str("PAYMENT_INSTALLATION_ID", default="") or "offline"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if not EMAIL_URL:  # noqa: F405 (EMAIL_URL sets the backend in base)
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Static files: collected by bin/serve (collectstatic) into STATIC_ROOT and served from
# there by WhiteNoise, with hashed names; never from the source folders.
WHITENOISE_USE_FINDERS = False
# The load balancer's health check (/healthz) may probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
