"""The budget banner on a person's pages: what the budget pass last found (80 % or more of a
budget), read from its notices, never worked out inside a request."""

from __future__ import annotations

from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from portal.budgets.models import BudgetNotice


def budget_banner(request) -> dict:
    """Template context: ``budget_notices``, the texts to show the signed-in person."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {}
    # Lazy: pages that show no banner (the admin's, the API's docs) run no query.
    return {"budget_notices": SimpleLazyObject(lambda: _texts(user))}


def _texts(user) -> list[str]:
    notices = BudgetNotice.objects.filter(user=user, level__gt=0, until__gt=timezone.now())
    return list(notices.order_by("field").values_list("text", flat=True))
