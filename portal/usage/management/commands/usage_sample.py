"""One usage sampler pass now: each running workspace's CPU seconds and peak memory."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from portal.usage.sampler import usage_sample


class Command(BaseCommand):
    help = "Measure every running workspace's use once (as the usage sample schedule does)."

    def handle(self, *args, **options):
        self.stdout.write(usage_sample().summary)
