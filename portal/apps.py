from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self):
        from django.conf import settings

        from portal.folders import ensure_embedded_folders

        # Before anything opens the SQLite file, the broker or the result folder.
        ensure_embedded_folders(settings)
