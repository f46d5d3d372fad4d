"""Changing quotas: admins only, each change in the audit log (the admin's inlines and the
API both come here)."""

from __future__ import annotations

from portal.audit.log import audited
from portal.errors import invalid_is_refused, require_admin
from portal.quotas.models import LIMITS, Quota


def _whose(kwargs: dict) -> str:
    quota = kwargs["quota"]
    return f"group {quota.group}" if quota.group_id else str(quota.user)


def _limits(kwargs: dict, _) -> str:
    quota = kwargs["quota"]
    return ", ".join(f"{limit}={getattr(quota, limit)}" for limit in LIMITS)


@audited("quota.save", _whose, detail=_limits)
def quota_save(*, quota: Quota, by) -> Quota:
    """Save a person's or a group's quota (empty limits defer to the next level)."""
    require_admin(by, "change quotas")
    with invalid_is_refused():
        quota.full_clean()
    quota.save()
    return quota


@audited("quota.delete", _whose)
def quota_delete(*, quota: Quota, by) -> None:
    require_admin(by, "change quotas")
    quota.delete()


def quota_formset_save(formset, *, by) -> None:
    """Save an admin page's quota inline through the services above."""
    # Unsaved: fills in the person or group and the formset's lists the admin's history reads.
    changed = formset.save(commit=False)
    for quota in formset.deleted_objects:
        quota_delete(quota=quota, by=by)
    for quota in changed:
        quota_save(quota=quota, by=by)
