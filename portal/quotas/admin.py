"""Quotas are edited on a person's and on a group's admin page (an inline each)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group

from portal.budgets.admin import BudgetFormsetMixin, GroupBudgetInline
from portal.quotas.models import Quota
from portal.quotas.services import quota_formset_save


class QuotaFormsetMixin:
    """For a ModelAdmin with the quota inline: it is saved through the quota services."""

    def save_formset(self, request, form, formset, change):
        if formset.model is Quota:
            quota_formset_save(formset, by=request.user)
        else:
            super().save_formset(request, form, formset, change)


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
class GroupAdmin(BudgetFormsetMixin, QuotaFormsetMixin, DjangoGroupAdmin):
    inlines = [GroupQuotaInline, GroupBudgetInline]
