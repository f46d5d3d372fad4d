"""The fair start queue: at most ``MLHUB_START_CONCURRENCY`` starts in flight in the hub, the
rest waiting their turn, one person's first workspace before anyone's second (``queue_order``:
a workspace that is already running counts as one's first, as one in flight does).

A start asked while the limit is reached (``workspace_start``, through ``reserve``) is
*queued*: its row is ``starting``, so it holds its place in the person's running quota and
budget (checked in the same transaction), with ``start_queued_at`` set, and the hub is not
asked. A start *in flight* is a ``starting`` row the hub was asked for that has not ended.
With room and nobody waiting, a start asks the hub at once, as without a queue.

The dispatcher, ``start_queue_advance``, takes the next queued rows up to the room left and
asks the hub for each. It runs as a task when a start ends (``services.state_written``) and
every minute (``start_queue_pass``, a django-q2 schedule), which also sends back to stopped
the starts that waited longer than ``MLHUB_START_QUEUE_WAIT_SECONDS``. Two dispatchers, or a
dispatcher and a start, never count the room at once: each takes it in a transaction holding
``QUEUE_LOCK`` (portal/one_at_a_time.py), and the hub is asked after the rows are marked, out
of it.

Reads (a row's place in line, its estimated wait) come from the database only.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django_q.tasks import async_task

from portal.audit import log as audit
from portal.errors import ServiceError
from portal.hub.client import HubError
from portal.one_at_a_time import one_at_a_time_until_commit
from portal.workspaces import services
from portal.workspaces.models import RecentStart, Workspace

log = logging.getLogger(__name__)
State = Workspace.State
QUEUE_LOCK = "start-queue"
WAITING = "Waiting in the start queue"
WAITED_TOO_LONG = "Not started: waited {minutes} min in the start queue; try again"
HUB_REFUSED = "Not started: JupyterHub refused: {message}"
# The estimate takes the median of this many of the latest starts' durations.
RECENT = 20
# Before any start was timed: a Docker workspace here answers in 3-10 s (docs/performance.md).
DEFAULT_START_SECONDS = 10.0


def enabled() -> bool:
    return settings.START_CONCURRENCY > 0


@dataclass(frozen=True)
class Place:
    """A queued start as the order sees it."""

    pk: int
    owner_id: int
    queued_at: datetime
    owners_ahead: int  # the owner's workspaces running, in flight or before it in the queue

    @property
    def key(self) -> tuple:
        return (self.owners_ahead, self.queued_at, self.pk)


@dataclass(frozen=True)
class Going:
    """What the hub runs or starts now: the starts in flight (all), and each owner's
    workspaces running or in flight."""

    in_flight: int
    by_owner: Counter


def _going() -> Going:
    going = Workspace.objects.filter(
        state__in=(State.RUNNING, State.STARTING), start_queued_at=None, deleting_since=None
    )
    rows = going.order_by().values_list("owner_id", "state").annotate(count=Count("pk"))
    by_owner: Counter = Counter()
    in_flight = 0
    for owner_id, state, count in rows:
        by_owner[owner_id] += count
        in_flight += count if state == State.STARTING else 0
    return Going(in_flight, by_owner)


def queue_order(going: Going | None = None) -> list[Place]:
    """The queued starts, next first: by how many workspaces the owner has running, in
    flight or before it in the queue (everyone's first before anyone's second, also when
    the owner's first is already up), then by when each joined, then by id. Two queries."""
    going = _going() if going is None else going
    queued = Workspace.objects.start_queued().order_by("start_queued_at", "pk")
    seen: Counter = Counter()
    places = []
    for pk, owner_id, queued_at in queued.values_list("pk", "owner_id", "start_queued_at"):
        ahead = going.by_owner[owner_id] + seen[owner_id]
        places.append(Place(pk, owner_id, queued_at, ahead))
        seen[owner_id] += 1
    return sorted(places, key=lambda place: place.key)


def recent_start_seconds() -> float:
    """The median duration of the latest ``RECENT`` starts (the hub asked → ``running``), or
    ``DEFAULT_START_SECONDS`` before any was timed."""
    latest = RecentStart.objects.order_by("-pk").values_list("seconds", flat=True)[:RECENT]
    return statistics.median(latest) if latest else DEFAULT_START_SECONDS


def wait_estimate(position: int, start_seconds: float) -> float:
    """Seconds until the start in line at ``position`` (1: next) is asked of the hub.

    ``MLHUB_START_CONCURRENCY`` starts run at once and each takes about ``start_seconds``
    (the recent median, which already includes the slowing of starts that share the host),
    so about ``concurrency / start_seconds`` starts end a second, each letting the next in:
    ``start_seconds × position / concurrency``. Its own start then takes about
    ``start_seconds`` more.
    """
    return start_seconds * position / max(settings.START_CONCURRENCY, 1)


class QueueFull(ServiceError):
    """503: the start would wait longer than ``MLHUB_START_QUEUE_WAIT_SECONDS``."""

    def __init__(self, position: int, wait: float):
        limit = settings.START_QUEUE_WAIT_SECONDS
        super().__init__(
            f"Too many workspaces are starting: this one would be {ordinal(position)} in line, "
            f"about {math.ceil(wait / 60)} min, longer than the start queue's limit of "
            f"{math.ceil(limit / 60)} min. Nothing was started; try again in a few minutes.",
            503,
            "start_queue_full",
        )
        self.extra = {"queue_position": position, "queue_wait_seconds": round(wait)}
        self.retry_after = 60


def reserve(workspace: Workspace) -> int | None:
    """Inside the transaction that marks ``workspace`` starting, after the quota and budget
    checks: None when the hub may be asked now; else the start waits in the queue, and this
    is the room for starts in flight (more than 0: a dispatcher should run). Raises
    ``QueueFull`` when the estimated wait is over the limit."""
    if not enabled():
        return None
    one_at_a_time_until_commit(QUEUE_LOCK)
    going = _going()
    order = queue_order(going)
    room = settings.START_CONCURRENCY - going.in_flight
    if room > 0 and not order:
        return None
    owner = workspace.owner_id
    ahead = going.by_owner[owner] + sum(place.owner_id == owner for place in order)
    # Everyone with as few or fewer starts ahead of them is before it (they came earlier).
    position = 1 + sum(place.owners_ahead <= ahead for place in order)
    wait = wait_estimate(position, recent_start_seconds())
    if wait > settings.START_QUEUE_WAIT_SECONDS:
        raise QueueFull(position, wait)
    return room


def start_queue_advance() -> int:
    """Ask the hub to start the next queued workspaces, as many as there is room for in
    flight; how many it asked. A hub that does not answer ends the round: those taken go back
    to their places, tried again by the next round (each start that ends, each minute)."""
    taken = _take()
    asked = 0
    for number, (workspace, _) in enumerate(taken):
        if not _ask_hub(workspace):
            for left, left_queued_at in taken[number:]:
                _put_back(left, left_queued_at)
            break
        asked += 1
    return asked


def _take() -> list[tuple[Workspace, datetime]]:
    """Mark the next queued rows as asked of the hub, up to the room: with their times of
    joining the queue, in order."""
    with transaction.atomic():
        one_at_a_time_until_commit(QUEUE_LOCK)
        going = _going()
        order = queue_order(going)
        room = settings.START_CONCURRENCY - going.in_flight if enabled() else len(order)
        now = timezone.now()
        taken = {}
        for place in order[: max(room, 0)]:
            marked = Workspace.objects.start_queued().filter(pk=place.pk)
            if marked.update(
                start_queued_at=None,
                start_asked_at=now,
                progress=0,
                progress_message=services.ASKING,
            ):
                taken[place.pk] = place.queued_at
    rows = Workspace.objects.select_related("owner", "template").in_bulk(list(taken))
    return [(rows[pk], queued_at) for pk, queued_at in taken.items() if pk in rows]


def _ask_hub(workspace: Workspace) -> bool:
    """Ask the hub for one taken start; False when the hub did not answer (the caller puts it
    back in its place)."""
    try:
        running_already = services.hub_server_start(workspace)
    except HubError as error:
        if error.is_outage:
            # Asked again later; should the hub have begun it, it answers "already" then.
            log.warning("Queued start of %s not asked of the hub: %s", workspace, error)
            return False
        message = HUB_REFUSED.format(message=error.message)
        if _end(Workspace.objects.starts_in_flight(), workspace, message):
            advance_if_waiting()  # its room, for the next
            audit.record(
                by=None,
                action="workspace.start",
                target=str(workspace),
                result=audit.Result.FAILED,
                detail=message,
            )
        return True
    services.start_followed(workspace, running_already=running_already)
    return True


def _put_back(workspace: Workspace, queued_at: datetime) -> None:
    """A taken start the hub was not asked for, back in the place it had."""
    Workspace.objects.starts_in_flight().filter(pk=workspace.pk).update(
        start_queued_at=queued_at, start_asked_at=None, progress_message=WAITING
    )


def leave(workspace: Workspace, message: str) -> bool:
    """Take a queued start out of the queue, back to ``stopped`` with ``message`` (the hub
    never heard of it); False when it is not queued (any more: a dispatcher may just have
    taken it, then the hub must stop it)."""
    return _end(Workspace.objects.start_queued(), workspace, message)


def _end(rows, workspace: Workspace, message: str) -> bool:
    """``workspace`` back to ``stopped`` with ``message``, if it is among ``rows``."""
    now = timezone.now()
    ended = rows.filter(pk=workspace.pk).update(
        state=State.STOPPED,
        message=message,
        start_queued_at=None,
        start_asked_at=None,
        progress=0,
        progress_message="",
        synced_at=now,
    )
    if not ended:
        return False
    workspace.state, workspace.message, workspace.synced_at = State.STOPPED, message, now
    workspace.start_queued_at = workspace.start_asked_at = None
    services.state_written(workspace, at=now)
    return True


def start_queue_pass() -> str:
    """The scheduled pass: queued starts that waited longer than
    ``MLHUB_START_QUEUE_WAIT_SECONDS`` go back to stopped, with why on their cards and in the
    audit log (by nobody); then a dispatcher's round, should a task have been lost."""
    now = timezone.now()
    too_old = now - timedelta(seconds=settings.START_QUEUE_WAIT_SECONDS)
    ended = 0
    for workspace in Workspace.objects.start_queued().filter(start_queued_at__lt=too_old):
        minutes = math.floor((now - workspace.start_queued_at).total_seconds() / 60 + 0.5)
        message = WAITED_TOO_LONG.format(minutes=minutes)
        if leave(workspace, message):
            audit.record(by=None, action="workspace.stop", target=str(workspace), detail=message)
            ended += 1
    asked = start_queue_advance()
    return f"{ended} waited too long, {asked} asked of the hub"


def advance_later() -> None:
    """Queue a dispatcher's round for the task cluster (never a hub call inline)."""
    async_task("portal.workspaces.tasks.start_queue_advance", task_name="start queue")


def advance_if_waiting() -> None:
    """Room was just left in flight: a dispatcher's round, if any start waits for it."""
    if Workspace.objects.start_queued().exists():
        advance_later()


def start_timed(seconds: float, *, at: datetime) -> None:
    """A start took ``seconds`` (the hub asked → ``running``): kept for the estimate; the
    oldest beyond ``RecentStart.KEPT`` go."""
    kept = RecentStart.objects.create(ended_at=at, seconds=seconds)
    RecentStart.objects.filter(pk__lte=kept.pk - RecentStart.KEPT).delete()


class QueueReading:
    """The queue as one read (a page, an API answer) sees it: places and estimates for any
    number of rows at the cost of three queries, made only when a queued row is shown."""

    def __init__(self):
        self._positions: dict[int, int] | None = None
        self._start_seconds: float | None = None

    def position(self, workspace: Workspace) -> int | None:
        """1-based; None when it is not queued."""
        if workspace.start_queued_at is None or workspace.state != State.STARTING:
            return None
        if self._positions is None:
            order = queue_order()
            self._positions = {place.pk: number for number, place in enumerate(order, 1)}
        return self._positions.get(workspace.pk)

    def wait_seconds(self, workspace: Workspace) -> int | None:
        """``wait_estimate`` for its place, whole seconds; None when it is not queued."""
        position = self.position(workspace)
        if position is None:
            return None
        if self._start_seconds is None:
            self._start_seconds = recent_start_seconds()
        return round(wait_estimate(position, self._start_seconds))

    def text(self, workspace: Workspace) -> str:
        """ "Waiting to start: 3rd in line, about 40 s" (the card's; workspaces.js writes the
        same from the API's fields); empty when it is not queued."""
        position = self.position(workspace)
        if position is None:
            return ""
        wait = about(self.wait_seconds(workspace))
        return f"Waiting to start: {ordinal(position)} in line, {wait}"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"


def about(seconds: int) -> str:
    """A wait for people: "about 5 s" at least, in fives below a minute, then minutes (halves
    rounded up, as workspaces.js's Math.round)."""
    if seconds < 58:
        return f"about {max(5, 5 * math.floor(seconds / 5 + 0.5))} s"
    return f"about {math.floor(seconds / 60 + 0.5)} min"
