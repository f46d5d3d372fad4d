"""``/usage.csv``: usage of a range as CSV, one row per day and subject, streamed.

A person gets their own days (every day of the range, zeros where nothing ran). Admins ask,
as in the API, for anyone's (``user``), a group's or a template's; or, with ``every=person``,
``group`` or ``template``, for every subject of that kind (only the days each used anything).
Refusals are plain text with their status (a script reads them as well as a person).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse

from portal.accounts.access import require_access
from portal.errors import ServiceError, require_admin
from portal.usage.ranges import day_range, subject_and_range
from portal.usage.reads import MOST_DAYS, Kind, Period, usage_days_by, usage_periods

HEADER = ("day", "kind", "name", "cpu_hours", "memory_gib_hours", "gpu_hours", "runs")
EVERY = {"person": Kind.PERSON, "group": Kind.GROUP, "template": Kind.TEMPLATE}
# A cell a spreadsheet would run as a formula (CSV injection): a group's name is free text.
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@login_required
def usage_csv(request):
    try:
        rows, named = _rows(request)
    except ServiceError as refused:
        return HttpResponse(
            refused.message + "\n", status=refused.status, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{named}.csv"'
    return response


def _rows(request) -> tuple[Iterable[tuple[date, str, str, Period]], str]:
    """The rows asked for and the file's name (``usage-<whose>-<since>-to-<until>``); a
    refusal before anything is read or sent."""
    require_access(request.user)
    params = request.GET
    every = params.get("every")
    if every:
        require_admin(request.user, "export everyone's usage")
        if every not in EVERY:
            raise ServiceError(f"every must be one of: {', '.join(EVERY)}.")
        since, until = day_range(params, most_days=MOST_DAYS)
        found = usage_days_by(kind=EVERY[every], since=since, until=until)
        rows = ((day, EVERY[every], key, use) for day, key, use in found)
        return rows, f"usage-every-{every}-{since}-to-{until}"
    subject, since, until = subject_and_range(params, by=request.user, most_days=MOST_DAYS)
    days = usage_periods(subject=subject, since=since, until=until, granularity="day")
    rows = ((day.start, subject.kind, subject.key, day) for day in days)
    return rows, f"usage-{_safe(subject.key)}-{since}-to-{until}"


class _Line:
    """What ``csv.writer`` writes to: each row's text handed back, for streaming."""

    def write(self, text: str) -> str:
        return text


def _lines(rows: Iterable[tuple[date, str, str, Period]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    for day, kind, name, use in rows:
        yield writer.writerow(
            (day, kind, _cell(name), use.cpu_hours, use.memory_gib_hours, use.gpu_hours, use.runs)
        )


def _cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA) else text


def _safe(name: str) -> str:
    """A name fit for a file name in a header: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
