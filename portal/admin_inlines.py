"""Inlines of the Django admin saved through their services, so each change is checked and
audited as the API's is (a person's or a group's quota and budget)."""

from __future__ import annotations

from collections.abc import Callable


class InlinesThroughServices:
    """For a ModelAdmin: ``inline_savers`` maps an inline's model to the service that saves
    its formset (``save(formset, by=...)``); other inlines are saved as Django saves them."""

    inline_savers: dict[type, Callable] = {}

    def save_formset(self, request, form, formset, change):
        save = self.inline_savers.get(formset.model)
        if save is None:
            super().save_formset(request, form, formset, change)
        else:
            save(formset, by=request.user)
