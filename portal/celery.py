import os

from celery import Celery

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
