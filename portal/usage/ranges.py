"""A range of UTC days asked for in a request's ``since`` and ``until`` (and whose use, in
``user``, ``group`` or ``template``): one reading for the API, the usage pages and the CSV
export, so a date refused in one is refused in all, with the same words."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date

from portal.errors import ServiceError
from portal.usage.reads import Subject, range_check, usage_subject

# Without ?since: the 30 days up to ?until.
DEFAULT_DAYS = 30


def day_param(params: Mapping[str, str], name: str) -> date | None:
    """The date in ``params[name]`` (None when absent or empty); a 400 that says what is
    wrong otherwise."""
    value = params.get(name)
    if not value:
        return None
    refused = ServiceError(f"{name} must be a date, e.g. 2026-11-27.")
    try:
        day = parse_date(value)  # ValueError: well formed, but no such day
    except ValueError:
        raise refused from None
    if day is None:
        raise refused
    if day == date.max:  # its day's end is past the last moment Python knows
        raise ServiceError(f"{name} must be before {date.max}.")
    return day


def day_range(
    params: Mapping[str, str], *, most_days: int, default_days: int = DEFAULT_DAYS
) -> tuple[date, date]:
    """(since, until) from ``params``: until defaults to today (UTC), since to
    ``default_days`` days up to until; at most ``most_days`` days, until not before since."""
    until = day_param(params, "until") or timezone.now().date()
    since = day_param(params, "since") or until - timedelta(days=default_days - 1)
    range_check(since, until, most_days=most_days)
    return since, until


def subject_and_range(
    params: Mapping[str, str], *, by, most_days: int
) -> tuple[Subject, date, date]:
    """Whose use ``by`` asks for (their own by default; others' for admins only, refused
    first) and over which days."""
    subject = usage_subject(
        by=by, user=params.get("user"), group=params.get("group"), template=params.get("template")
    )
    return (subject, *day_range(params, most_days=most_days))
