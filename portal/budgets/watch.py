"""The budget pass (a django-q2 schedule, ``tasks.py``): everyone's use against their budgets,
read set-based (a few queries per period, whatever the number of people); a banner while a
budget is at 80 % or more, an e-mail once per level (80 %, 100 %) and stretch (the calendar
month, or the N-day block of a rolling window); and where ``stop_at_budget`` holds, running
workspaces of a used-up budget stopped, with the reason on their card.

Per-person reads (the day-by-day use that says when a rolling budget comes free) happen only
for an e-mail sent or a workspace stopped: once per event, never per person per pass.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from lib.budgets import FIELDS, LABELS, UNITS
from portal.accounts.models import APPROVED, User
from portal.audit.log import Result, record
from portal.budgets.limits import Limit, Standing, limits_of_everyone, standings_of
from portal.budgets.models import BudgetNotice
from portal.errors import ServiceError
from portal.hub.client import HubError
from portal.one_at_a_time import one_at_a_time
from portal.quotas.limits import gpu_count
from portal.usage.reads import usage_by_person
from portal.workspaces import services as workspaces
from portal.workspaces.models import Workspace

log = logging.getLogger(__name__)
WARNING = "budget.warning"
# A rolling window's banner is kept this long past the pass that wrote it: the next pass
# renews or clears it; one that never comes (the task cluster down) does not leave it for good.
ROLLING_BANNER_LIFE = timedelta(days=2)


@dataclass
class Report:
    people: int = 0
    warned: int = 0
    no_address: int = 0
    stopped: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.people} people at 80 % or more of a budget, {self.warned} e-mailed, "
            f"{self.no_address} without an e-mail address, {self.stopped} workspaces stopped"
        )
        return "; ".join([text, *self.problems])


@dataclass(frozen=True)
class Found:
    person: User
    limit: Limit
    used: float
    level: int  # 80 or 100


def level_of(used: float, hours: float) -> int:
    """100 at or over the budget (a start is refused then; a budget of 0 always), 80 from
    80 %, else 0."""
    return 100 if used >= hours else 80 if used >= 0.8 * hours else 0


def budgets_pass(*, now: datetime | None = None) -> Report:
    """One pass over everyone who may use MLHub (see the module's docstring)."""
    now = now or timezone.now()
    with one_at_a_time("budget pass"):
        found = _found(now)
        report = Report(people=len({f.person.pk for f in found}))
        notices = _notices_write(found, now)
        for item in found:
            if not _email(item, notices[(item.person.pk, item.limit.field)], now, report):
                break
        _stops(found, now, report)
    return report


def _found(now: datetime) -> list[Found]:
    """Everyone's budget fields at 80 % or more, and at 100 % those of 0 hours too (a start
    would be refused: workspaces to stop)."""
    people = list(User.objects.filter(APPROVED).only("pk", "username", "email"))
    limits = limits_of_everyone(person.pk for person in people)
    periods = {limit.period for each in limits.values() for limit in each.values() if limit}
    use = {}
    for period in periods:
        since, until = period.window(now)
        use[period] = usage_by_person(since=since, until=until, now=now)
    found = []
    for person in people:
        for limit in limits[person.pk].values():
            if limit is None:
                continue
            total = use[limit.period].get(person.username)
            used = getattr(total, limit.field) if total else 0.0
            level = level_of(used, limit.hours)
            if level:
                found.append(Found(person, limit, used, level))
    return found


def _notices_write(found: list[Found], now: datetime) -> dict[tuple[int, str], BudgetNotice]:
    """The banners: one notice per person and field at 80 % or more (written only when it
    changes), and those no longer at 80 % cleared. The notices by (person, field)."""
    existing = {(n.user_id, n.field): n for n in BudgetNotice.objects.all()}
    wanted: dict[tuple[int, str], BudgetNotice] = {}
    new, changed = [], []
    for item in found:
        if not item.limit.hours:
            continue  # a budget of 0: the refusal says so, no banner
        key = (item.person.pk, item.limit.field)
        text, until = _banner(item, now)
        notice = existing.get(key)
        if notice is None:
            notice = BudgetNotice(user=item.person, field=item.limit.field, until=until)
            new.append(notice)
        elif (notice.level, notice.text, notice.until) != (item.level, text, until):
            changed.append(notice)
        notice.level, notice.text, notice.until = item.level, text, until
        wanted[key] = notice
    BudgetNotice.objects.bulk_create(new)
    BudgetNotice.objects.bulk_update(changed, ["level", "text", "until"])
    cleared = [n.pk for key, n in existing.items() if n.level and key not in wanted]
    BudgetNotice.objects.filter(pk__in=cleared).update(level=0, text="")
    return wanted


def _banner(item: Found, now: datetime) -> tuple[str, datetime]:
    """The banner's text, and until when it holds at most."""
    limit = item.limit
    if limit.period.days is None:
        until = limit.period.resets_at(now, [], limit.hours)
        when = f"it resets on {until:%Y-%m-%d %H:%M} UTC"
    else:
        until = now + ROLLING_BANNER_LIFE
        when = f"use leaves it as older runs leave the {limit.period.days}-day window"
    what = limit.describe()
    if item.level < 100:
        return f"You have used {item.used / limit.hours:.0%} of {what}; {when}.", until
    stops = " and running ones are stopped" if limit.stop_at_budget else ""
    return (f"You have used up {what}: new workspaces do not start{stops}; {when}."), until


def _email(item: Found, notice: BudgetNotice | None, now: datetime, report: Report) -> bool:
    """E-mail the person once for this level and stretch; False when the mail server is down
    (the pass sends no more; the next one tries again)."""
    if notice is None:
        return True
    stretch = item.limit.period.stretch(now)
    if notice.emailed_for == stretch and notice.emailed_level >= item.level:
        return True
    address = item.person.email
    if not address:
        report.no_address += 1
        return True
    # Ours only while no other pass has sent it.
    claimed = (
        BudgetNotice.objects.filter(pk=notice.pk)
        .exclude(emailed_for=stretch, emailed_level__gte=item.level)
        .update(emailed_for=stretch, emailed_level=item.level)
    )
    if not claimed:
        return True
    target = item.person.username
    subject, body = _message(item, _standing(item, now))
    try:
        send_mail(subject, body, None, [address])
    except smtplib.SMTPRecipientsRefused as error:
        _failed(target, f"{address} refused by the mail server: {error.recipients}")
        return True
    except (smtplib.SMTPException, OSError) as error:
        BudgetNotice.objects.filter(pk=notice.pk).update(
            emailed_for=notice.emailed_for, emailed_level=notice.emailed_level
        )
        _failed(target, f"not sent to {address}: {error}")
        report.problems.append(f"stopped, not sent to {address}: {error}")
        return False
    record(
        by=None,
        action=WARNING,
        target=target,
        detail=f"e-mailed {address}: {item.limit.field} at {item.level} %",
    )
    report.warned += 1
    return True


def _standing(item: Found, now: datetime) -> Standing:
    """The person's standing in this field, read day by day (for when it comes free)."""
    return standings_of(item.person, now=now, limits={item.limit.field: item.limit})[
        item.limit.field
    ]


def _message(item: Found, standing: Standing) -> tuple[str, str]:
    brand, limit = settings.BRAND_NAME, item.limit
    used = f"{standing.used:.4g} {UNITS[limit.field]}"
    if item.level < 100:
        subject = f"{brand}: {item.level} % of your {LABELS[limit.field]} budget used"
        then = "stop" if limit.stop_at_budget else "no longer start"
        news = f"At 100 % your workspaces {then}."
    else:
        subject = f"{brand}: your {LABELS[limit.field]} budget is used up"
        stops = " and running ones are stopped" if limit.stop_at_budget else ""
        news = f"New workspaces do not start{stops}."
    body = (
        f"Hello {item.person.username},\n\n"
        f"your workspaces on {brand} have used {used} of {limit.describe()}. {news} "
        f"For this budget, {standing.when_under()}.\n\n"
        f"Your workspaces:\n{settings.SITE_URL}/\n"
    )
    return subject, body


def _failed(target: str, detail: str) -> None:
    log.warning("Budget warning for %s: %s", target, detail)
    record(by=None, action=WARNING, target=target, result=Result.FAILED, detail=detail)


def _stops(found: list[Found], now: datetime, report: Report) -> None:
    """Stop the running workspaces of used-up budgets that say so (GPU-hours: those with
    GPUs), through the stop service, each in the audit log with its reason."""
    used_up = {}
    for item in found:
        if item.level == 100 and item.limit.stop_at_budget:
            used_up.setdefault(item.person.pk, []).append(item)
    if not used_up:
        return
    running = (
        Workspace.objects.filter(
            owner_id__in=list(used_up),
            state__in=[Workspace.State.RUNNING, Workspace.State.STARTING],
            deleting_since__isnull=True,
        )
        .select_related("owner", "template")
        .order_by("pk")
    )
    for workspace in running:
        reason = _stop_reason(workspace, used_up[workspace.owner_id], now)
        if reason is None:
            continue
        try:
            workspaces.workspace_stop_by_system(workspace=workspace, reason=reason)
        except HubError as error:
            report.problems.append(f"{workspace} not stopped: {error.message}")
            if error.is_outage:
                return  # the rest would wait for the hub in turn: the next pass tries again
            continue
        except ServiceError:
            continue  # stopped or deleted meanwhile
        report.stopped += 1


def _stop_reason(workspace: Workspace, items: list[Found], now: datetime) -> str | None:
    for item in sorted(items, key=lambda i: FIELDS.index(i.limit.field)):
        if item.limit.field == "gpu_hours" and not gpu_count(workspace):
            continue  # a used-up GPU budget leaves CPU-only workspaces running
        standing = _standing(item, now)
        return f"Stopped: {item.limit.describe()} is used up; {standing.when_under()}."
    return None
