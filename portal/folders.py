"""The folders the embedded set-up writes to, created by the code that needs them.

`make run` and `manage.py` on a fresh clone use local files: the SQLite database, kombu's
filesystem broker (queue, processed and control folders), Celery's file result backend, the
beat schedule, the file cache and the e-mail files. Their folders are made here, from the
settings in force, whenever Django starts (PortalConfig.ready) or the Celery app is
configured (portal/celery.py). A database or Redis server (DATABASE_URL, REDIS_URL) needs
no folder, so nothing is made for it.
"""

from pathlib import Path

FILE_EMAIL_BACKENDS = {
    "django.core.mail.backends.filebased.EmailBackend",
    "portal.mail.FileAndConsoleEmailBackend",
}
FILE_CACHE = "django.core.cache.backends.filebased.FileBasedCache"
BROKER_FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def embedded_folders(settings) -> list[Path]:
    """The local folders the given settings write to, in creation order."""
    folders: list[Path] = []
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    in_memory = name in ("", ":memory:") or name.startswith("file:")
    if database["ENGINE"] == "django.db.backends.sqlite3" and not in_memory:
        folders.append(Path(name).parent)
    if str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
        folders += [Path(options[key]) for key in BROKER_FOLDER_OPTIONS if options.get(key)]
    result_backend = str(getattr(settings, "CELERY_RESULT_BACKEND", "") or "")
    if result_backend.startswith("file://"):
        folders.append(Path(result_backend.removeprefix("file://").removeprefix("localhost")))
    # Beat keeps its schedule in a local file whatever the broker.
    beat_schedule = getattr(settings, "CELERY_BEAT_SCHEDULE_FILENAME", "")
    if beat_schedule:
        folders.append(Path(beat_schedule).parent)
    for cache in settings.CACHES.values():
        if cache["BACKEND"] == FILE_CACHE:
            folders.append(Path(cache["LOCATION"]))
    if settings.EMAIL_BACKEND in FILE_EMAIL_BACKENDS and getattr(settings, "EMAIL_FILE_PATH", None):
        folders.append(Path(settings.EMAIL_FILE_PATH))
    return list(dict.fromkeys(folders))


def ensure_embedded_folders(settings) -> list[Path]:
    """Creates the folders of `embedded_folders` that are missing; returns them all."""
    folders = embedded_folders(settings)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders
