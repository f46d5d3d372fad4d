"""Changing budgets: admins only, each change in the audit log (the admin's inlines and the
API both come here)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from lib.budgets import FIELDS
from portal.accounts.models import User
from portal.audit.log import audited
from portal.budgets.models import Budget
from portal.errors import ServiceError, invalid_is_refused, require_admin


def _whose(kwargs: dict) -> str:
    budget = kwargs["budget"]
    return f"group {budget.group}" if budget.group_id else str(budget.user)


def _values(kwargs: dict, _) -> str:
    budget = kwargs["budget"]
    shown = [f"{field}={getattr(budget, field)}" for field in FIELDS]
    shown += [f"period={budget.period or 'default'}", f"stop_at_budget={budget.stop_at_budget}"]
    return ", ".join(shown)


@audited("budget.save", _whose, detail=_values)
def budget_save(*, budget: Budget, by) -> Budget:
    """Save a person's or a group's budget (empty fields defer to the next level). A second
    budget for the same person or group is a 409: change the one they have."""
    require_admin(by, "change budgets")
    if bool(budget.user_id) == bool(budget.group_id):
        raise ServiceError("A budget is for one person (user) or one group (group): name one.")
    whose = {"user_id": budget.user_id} if budget.user_id else {"group_id": budget.group_id}
    taken = Budget.objects.exclude(pk=budget.pk).filter(**whose).first()
    if taken is not None:
        raise _taken(budget, taken)
    with invalid_is_refused():
        budget.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            budget.save()
    except IntegrityError:  # another save of the same one's budget came first
        raise _taken(budget, Budget.objects.filter(**whose).first()) from None
    return budget


def _taken(budget: Budget, taken: Budget | None) -> ServiceError:
    which = f" (id {taken.pk})" if taken else ""
    return ServiceError(
        f"{_whose({'budget': budget})} already has a budget{which}: change that one.", 409
    )


@audited("budget.delete", _whose)
def budget_delete(*, budget: Budget, by) -> None:
    require_admin(by, "change budgets")
    budget.delete()


def budget_formset_save(formset, *, by) -> None:
    """Save an admin page's budget inline through the services above."""
    # Unsaved: fills in the person or group and the formset's lists the admin's history reads.
    changed = formset.save(commit=False)
    for budget in formset.deleted_objects:
        budget_delete(budget=budget, by=by)
    for budget in changed:
        budget_save(budget=budget, by=by)


def budget_whose(*, by, user: str | None, group: str | None) -> dict:
    """The person or the group the API's ``user`` or ``group`` names, as Budget's fields; a
    400 when both, neither or an unknown name is given (admins only, before any look-up)."""
    require_admin(by, "change budgets")
    if user and group:
        raise ServiceError("Give user or group, not both: a budget is for one of them.")
    if not (user or group):
        raise ServiceError("Give user (a username) or group (a group's name).")
    if user:
        person = User.objects.named(user).filter(deleting_since__isnull=True).first()
        if person is None:
            raise ServiceError(f"No user named {user!r}.")
        return {"user": person, "group": None}
    found = Group.objects.filter(name=group).first()
    if found is None:
        raise ServiceError(f"No group named {group!r}.")
    return {"user": None, "group": found}
