"""Budgets: how many CPU-, GPU- and memory GiB-hours a person's workspaces may reserve per
period, and what the budget pass last told each person about theirs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from lib.budgets import FIELDS, parse_hours, parse_period


class Budget(models.Model):
    """The budget of one person or one group; an empty field leaves that limit to the next
    level (person → their groups' most generous → the MLHUB_BUDGET_* default → no limit)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budget",
    )
    group = models.OneToOneField(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="budget"
    )
    cpu_hours = models.FloatField(null=True, blank=True, help_text="core-hours per period")
    gpu_hours = models.FloatField(null=True, blank=True, help_text="GPU-hours per period")
    memory_gib_hours = models.FloatField(
        null=True, blank=True, help_text="GiB-hours of memory per period"
    )
    period = models.CharField(
        # "month" is 5 letters: at 4, PostgreSQL refused it (a 500 from the API, which took
        # it; the admin's form refused it); SQLite does not check lengths.
        max_length=10,
        blank=True,
        help_text="month (calendar, UTC) or a rolling window like 30d; empty: MLHUB_BUDGET_PERIOD",
    )
    stop_at_budget = models.BooleanField(
        null=True,
        blank=True,
        help_text="stop running workspaces once a limit is used up; empty: "
        "MLHUB_BUDGET_STOP_AT_BUDGET",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="budget_of_a_person_or_a_group",
            ),
        ]

    def __str__(self) -> str:
        return f"budget of {f'group {self.group}' if self.group_id else self.user}"

    def clean(self):
        errors = {}
        for field in FIELDS:
            value = getattr(self, field)
            if value is not None:
                try:
                    setattr(self, field, parse_hours(value))
                except ValueError as error:
                    errors[field] = str(error)
        if self.period:
            try:
                self.period = parse_period(self.period).text
            except ValueError as error:
                errors["period"] = str(error)
        if errors:
            raise ValidationError(errors)


class BudgetNotice(models.Model):
    """What the budget pass last found for one person and one budget field at 80 % or more
    of it: the banner on their pages (while ``level`` is set and before ``until``), and the
    e-mail sent once per level and stretch (``emailed_for``, ``emailed_level``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget_notices"
    )
    field = models.CharField(max_length=20, choices=[(f, f) for f in FIELDS])
    level = models.PositiveSmallIntegerField(default=0, help_text="80, 100, or 0: under 80 %")
    text = models.CharField(max_length=300, blank=True)
    until = models.DateTimeField(help_text="when the period resets: the banner goes then")
    emailed_for = models.DateField(null=True, help_text="the stretch the e-mail was for")
    emailed_level = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of each page's banner: one person's notices.
            models.UniqueConstraint(fields=["user", "field"], name="budget_notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.level} % of {self.field}"
