"""Budgets are edited on a person's and on a group's admin page (an inline each), as quotas."""

from django.contrib import admin

from portal.budgets.models import Budget


class BudgetInline(admin.StackedInline):
    model = Budget
    fields = ["cpu_hours", "gpu_hours", "memory_gib_hours", "period", "stop_at_budget"]
    can_delete = True
    max_num = 1
    verbose_name_plural = "budget (empty: from their groups, then MLHUB_BUDGET_*)"


class GroupBudgetInline(BudgetInline):
    verbose_name_plural = "budget of each member (empty: MLHUB_BUDGET_*)"
