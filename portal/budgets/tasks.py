"""The budget pass's schedule: every ``BUDGET_MINUTES``. Between passes a start is still
refused at the budget (the check on start reads use itself); the pass adds the banners, the
e-mails and the stops, so a workspace may run up to this long past a used-up budget."""

from __future__ import annotations

from portal.budgets.watch import budgets_pass
from portal.schedules import schedule_every

SCHEDULE = "budget warnings and stops"
BUDGET_MINUTES = 5


def budgets_task() -> str:
    return str(budgets_pass())


def budget_schedule_ensure() -> str:
    schedule_every(SCHEDULE, "portal.budgets.tasks.budgets_task", BUDGET_MINUTES)
    return f"every {BUDGET_MINUTES} min"
