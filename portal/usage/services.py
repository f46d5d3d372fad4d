"""Usage intervals from the portal's own state changes.

Every writer of a workspace's state (an action's answer, the hub's report, the sync pass)
ends in ``portal.workspaces.services.state_written``, which calls ``state_written`` here with
the time the hub's word carries. A state of ``running`` opens an interval, ``stopped`` or
``error`` closes it, and the workspace's delete closes it as ``deleted``
(``workspaces_deleted``). Out of order: a second ``running`` while one is open changes
nothing, a close with nothing open creates nothing, a close dated before the start ends the
interval at its start (zero long).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Max, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from portal.quotas.limits import gpu_count
from portal.usage.models import UsageGroup, UsageInterval

End = UsageInterval.End
# The workspace states that end a run, and how.
ENDS = {"stopped": End.STOPPED, "error": End.ERROR}


def state_written(*, workspace, at: datetime, lost: bool = False) -> None:
    """The workspace's state as just written (``workspace.state``), said by the hub at ``at``;
    ``lost``: the hub no longer has its server (the sync pass's correction)."""
    if workspace.state == "running":
        interval_open(workspace=workspace, at=at)
    elif workspace.state in ENDS:
        how = End.LOST if lost else ENDS[workspace.state]
        intervals_close(workspace_ids=[workspace.pk], at=at, how=how)


def interval_open(*, workspace, at: datetime) -> UsageInterval | None:
    """Open the workspace's interval at ``at`` unless one is open; the new one, or None.

    It never begins before the workspace's last run ended (a late report must not count a
    time twice). Two writers at once: the database's one-open-interval constraint refuses the
    second, which is then the "already open" case.
    """
    runs = UsageInterval.objects.filter(workspace_id=workspace.pk)
    if runs.filter(ended_at__isnull=True).exists():
        return None
    last_end = runs.aggregate(last=Max("ended_at"))["last"]
    names = groups_of(workspace.owner_id)
    try:
        with transaction.atomic():
            interval = UsageInterval.objects.create(
                workspace_id=workspace.pk,
                workspace_name=workspace.name,
                owner_id=workspace.owner_id,
                owner_name=workspace.owner.username,
                template_id=workspace.template_id,
                template_name=workspace.template.name,
                cpu=workspace.cpu,
                memory=workspace.memory,
                gpus=gpu_count(workspace),
                started_at=max(at, last_end) if last_end else at,
            )
            UsageGroup.objects.bulk_create(
                UsageGroup(interval=interval, name=name) for name in sorted(set(names))
            )
    except IntegrityError:
        return None  # another writer opened it in between
    return interval


def groups_of(owner_id: int) -> list[str]:
    """The names of the person's groups now."""
    return list(Group.objects.filter(user=owner_id).values_list("name", flat=True))


def intervals_close(*, workspace_ids: Iterable[int], at: datetime, how: str) -> int:
    """Close the open intervals of these workspaces at ``at`` (at its start, if that is
    later); how many. One conditional update: a closed interval is never written again."""
    return UsageInterval.objects.filter(
        workspace_id__in=list(workspace_ids), ended_at__isnull=True
    ).update(
        ended_at=Greatest("started_at", Value(at, output_field=DateTimeField())),
        ended_how=how,
        closed_at=timezone.now(),
    )


def workspaces_deleted(*, workspace_ids: Iterable[int], at: datetime) -> int:
    """These workspaces are gone (the hub removed their servers at ``at``): their runs end."""
    return intervals_close(workspace_ids=workspace_ids, at=at, how=End.DELETED)
