from __future__ import annotations

from django.db import models


class EventCount(models.Model):
    """A running total of events only one process sees as they happen (a refused start, a
    failed hub call, a start that became ready), for ``/metrics``.

    One row per metric and label set, added to with ``F()`` (``portal/metrics/counters.py``):
    every gunicorn worker, the task cluster and every replica add to the same row, so any of
    them answers a scrape with the whole total (in-process counters would each tell their
    own part, and forget it at each restart).
    """

    metric = models.CharField(max_length=60)
    # The labels as canonical JSON (sorted keys): {"action": "start", "reason": "quota_exceeded"}.
    labels = models.CharField(max_length=300, blank=True)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [
            # The F() update finds its one row by these (and a new one is made once).
            models.UniqueConstraint(fields=["metric", "labels"], name="event_count_per_labels"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}{self.labels} = {self.value:g}"
