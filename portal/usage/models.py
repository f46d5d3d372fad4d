"""Usage: one interval per run of a workspace, with what it reserved, and its daily roll-ups.

An interval copies the names it is counted under (owner, groups, template, workspace) so that
it outlives all of them: a person, a workspace or a template deleted later keeps its past
usage, and a person who changes groups later does not move past usage to the new group.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ClosedIntervalError(Exception):
    """A closed interval is a record of the past: nothing may change it."""


class UsageInterval(models.Model):
    """One run of a workspace: from the hub's word that it runs to its word that it stopped
    (``ended_at`` is null while it runs)."""

    class End(models.TextChoices):
        STOPPED = "stopped"  # the hub stopped it as asked, or reported it stopped
        ERROR = "error"  # it ended in an error
        DELETED = "deleted"  # the workspace was deleted while it ran
        LOST = "lost"  # the sync pass found the hub no longer has its server

    workspace = models.ForeignKey(
        "workspaces.Workspace",
        null=True,
        on_delete=models.SET_NULL,
        related_name="usage_intervals",
    )
    workspace_name = models.CharField(max_length=30)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_name = models.CharField(max_length=150, help_text="The owner's username at the start")
    template = models.ForeignKey(
        "workspaces.WorkspaceTemplate", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    template_name = models.CharField(max_length=40)
    cpu = models.FloatField(help_text="cores reserved")
    memory = models.BigIntegerField(help_text="bytes reserved")
    gpus = models.PositiveIntegerField(help_text="GPUs reserved")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_how = models.CharField(max_length=10, choices=End.choices, blank=True)
    # When the portal learnt of the end (ended_at is the hub's time, which may be days
    # earlier): the roll-up pass finds the intervals closed since its last pass by this.
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Measured use (sampler.py), written while the run is open: null until a first sample.
    cpu_used_seconds = models.FloatField(
        null=True, blank=True, help_text="CPU seconds used, measured, as of sampled_at"
    )
    memory_peak = models.BigIntegerField(
        null=True, blank=True, help_text="the most memory seen in use, bytes"
    )
    sampled_at = models.DateTimeField(null=True, blank=True, help_text="the last sample")
    # The engine's own CPU counter and container at the last sample: the next sample adds
    # what the counter grew by, or all of it when it went down or the container is another
    # (a restart begins the counter again at zero).
    cpu_counter = models.FloatField(null=True, blank=True, editable=False)
    engine_run = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        constraints = [
            # Two writers at once (a report and the sync pass) cannot open two runs of one
            # workspace: the second insert fails and is dropped (services.interval_open).
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_interval_per_workspace",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="interval_ends_after_it_starts",
            ),
        ]
        indexes = [
            # The roll-up of a day and the reads of open intervals: runs that began before
            # the day's end and ended after its start (or not yet).
            models.Index(fields=["started_at"], name="usage_started_at"),
            models.Index(fields=["ended_at"], name="usage_ended_at"),
            # The roll-up pass: intervals closed since its last pass. Also the reads of those
            # not rolled up yet (reads._pending: those closed since the pass's mark).
            models.Index(fields=["closed_at"], name="usage_closed_at"),
            # A person's runs in a range (their usage page's per workspace and the runs not
            # rolled up yet, reads.usage_by_workspace and reads._pending): without it, every
            # run of everyone that started before the range's end is read.
            models.Index(fields=["owner_name", "started_at"], name="usage_owner_started"),
        ]

    def __str__(self) -> str:
        end = f"{self.ended_at:%Y-%m-%d %H:%M}" if self.ended_at else "now"
        return f"{self.owner_name}/{self.workspace_name} {self.started_at:%Y-%m-%d %H:%M}–{end}"

    def save(self, *args, **kwargs):
        if (
            self.pk is not None
            and type(self).objects.filter(pk=self.pk, ended_at__isnull=False).exists()
        ):
            raise ClosedIntervalError(f"The usage interval {self} is closed: it cannot change.")
        super().save(*args, **kwargs)


class UsageGroup(models.Model):
    """A group the interval's owner was in when it started (by name, as it was then)."""

    interval = models.ForeignKey(UsageInterval, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["interval", "name"], name="usage_group_once"),
        ]
        indexes = [
            # A group's open intervals, read with every page of its usage.
            models.Index(fields=["name"], name="usage_group_name"),
        ]

    def __str__(self) -> str:
        return self.name


class UsageTotals(models.Model):
    """What a roll-up holds of a subject's use over its day or month."""

    class Kind(models.TextChoices):
        PERSON = "person"
        GROUP = "group"
        TEMPLATE = "template"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=150, help_text="the username, group or template name")
    cpu_hours = models.FloatField(default=0.0)
    memory_gib_hours = models.FloatField(default=0.0)
    gpu_hours = models.FloatField(default=0.0)
    runs = models.PositiveIntegerField(default=0, help_text="runs that started this day")
    seconds = models.FloatField(default=0.0, help_text="run-seconds this day")
    # Measured use (the sampler's): CPU-hours used, the core-hours reserved over the same
    # sampled time (what efficiency divides by), and the highest peak of the day's runs.
    cpu_used_hours = models.FloatField(default=0.0)
    cpu_measured_hours = models.FloatField(
        default=0.0, help_text="core-hours reserved while measured"
    )
    memory_peak_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class UsageDay(UsageTotals):
    """The closed intervals' use on one UTC day, for one person, group or template: what the
    roll-up pass (``rollup.py``) recomputes, never adds to."""

    day = models.DateField()

    class Meta:
        constraints = [
            # Also the index of every read: one subject's days in a range.
            models.UniqueConstraint(fields=["kind", "key", "day"], name="usage_day_once"),
        ]
        indexes = [
            # The roll-up pass replaces whole days.
            models.Index(fields=["day"], name="usage_day_day"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} on {self.day}"


class UsageMonth(UsageTotals):
    """The sum of one subject's UsageDay rows in a calendar month (``runs`` and ``seconds``
    too; the peak: the highest), recomputed by the roll-up pass with the days it touches:
    a read over a year sums about 12 rows of each subject, not 365 (the admins' usage page
    of a year, 10,000 people: bench/usage.py)."""

    month = models.DateField(help_text="its first day")

    class Meta:
        constraints = [
            # Also the index of the reads of whole months (reads._stored_by_key).
            models.UniqueConstraint(fields=["kind", "key", "month"], name="usage_month_once"),
        ]
        indexes = [
            # The roll-up pass replaces whole months.
            models.Index(fields=["month"], name="usage_month_month"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} in {self.month:%Y-%m}"


class RollupPass(models.Model):
    """The last roll-up pass (one row, pk=1). The stored days hold every interval closed
    before ``mark``; reads add the open ones and those closed since."""

    mark = models.DateTimeField(help_text="Intervals closed before this are in the roll-ups")
    finished_at = models.DateTimeField()
    days = models.PositiveIntegerField(default=0, help_text="days recomputed")

    class Meta:
        verbose_name_plural = "roll-up passes"

    def __str__(self) -> str:
        return f"roll-up up to {self.mark:%Y-%m-%d %H:%M:%S}"


class SamplePass(models.Model):
    """The last pass of the usage sampler (one row, pk=1): when, how many runs it measured,
    and why it measured nothing when it could not (shown beside reserved use)."""

    finished_at = models.DateTimeField()
    sampled = models.PositiveIntegerField(default=0, help_text="runs measured")
    seconds = models.FloatField(default=0.0, help_text="how long the pass took")
    unavailable = models.CharField(
        max_length=200, blank=True, help_text="why nothing could be measured"
    )

    class Meta:
        verbose_name_plural = "sample passes"

    def __str__(self) -> str:
        return f"usage sample at {self.finished_at:%Y-%m-%d %H:%M:%S}"
