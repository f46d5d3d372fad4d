"""Quotas are edited on a person's and on a group's admin page (an inline each)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group

from portal.admin_inlines import InlinesThroughServices
from portal.budgets.admin import GroupBudgetInline
from portal.budgets.models import Budget
from portal.budgets.services import budget_formset_save
from portal.quotas.models import Quota
from portal.quotas.services import quota_formset_save

# A person's and a group's quota and budget, each saved (checked, audited) by its service.
LIMIT_SAVERS = {Quota: quota_formset_save, Budget: budget_formset_save}


class QuotaInline(admin.StackedInline):
    model = Quota
    fields = ["workspaces", "running", "cpu", "memory", "gpus"]
    can_delete = True
    max_num = 1
    verbose_name_plural = "quota (empty: from their groups, then MLHUB_QUOTA_*)"


class GroupQuotaInline(QuotaInline):
    verbose_name_plural = "quota of each member (empty: MLHUB_QUOTA_*)"


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(InlinesThroughServices, DjangoGroupAdmin):
    inlines = [GroupQuotaInline, GroupBudgetInline]
    inline_savers = LIMIT_SAVERS
