from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "portal.metrics"
    verbose_name = "Metrics"
