from django.apps import AppConfig


class CleanupConfig(AppConfig):
    name = "portal.cleanup"
    verbose_name = "Cleanup"
