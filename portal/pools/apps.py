from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "portal.pools"
    verbose_name = "Warm pools"
