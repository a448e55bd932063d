import os

from celery import Celery

# What the environment chose, before the demo default below: portal/wsgi.py falls back to
# production instead (this module is imported first, by portal/__init__.py).
SETTINGS_FROM_ENVIRONMENT = os.environ.get("DJANGO_SETTINGS_MODULE", "")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _ensure_embedded_folders(sender, **kwargs):
    """The filesystem broker and the file result backend need their folders before the
    first message or result, also in a process that has not run django.setup() yet."""
    from django.conf import settings

    from portal.folders import ensure_embedded_folders

    ensure_embedded_folders(settings)
