"""The usage pages: a person's own (``/usage/``: use against each budget, per day, per
workspace) and the admins' (``/dashboard/usage/``: by group, by template, the top people).
They parse the range, call the reads of ``reads.py`` and ``budgets/limits.py``, and render;
the charts are SVG drawn here on the server (``lib/charts.py``), so the pages' CSP stays
strict."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from lib.budgets import LABELS, UNITS
from lib.charts import Bar, bar_chart, column_chart, number
from portal.accounts.access import require_access
from portal.budgets.limits import standings_of
from portal.errors import ServiceError, require_admin
from portal.usage.ranges import day_range
from portal.usage.reads import (
    Kind,
    Period,
    Subject,
    ranked,
    usage_by,
    usage_by_workspace,
    usage_periods,
    usage_top,
)

# The longest range the pages show: a year (the CSV export, for scripts, goes further).
MOST_PAGE_DAYS = 366
# The people the admins' page lists, the most CPU-hours first.
TOP_PEOPLE = 20


def page_range(params) -> tuple[date, date, str]:
    """(since, until, error): the range asked for, or the default 30 days and why the one
    asked for is refused (the page says so, with a 400, and still shows the default)."""
    try:
        return (*day_range(params, most_days=MOST_PAGE_DAYS), "")
    except ServiceError as refused:
        return (*day_range({}, most_days=MOST_PAGE_DAYS), refused.message)


@login_required
def my_usage(request):
    require_access(request.user)  # the one rule, as for workspaces: approved and allowed
    since, until, error = page_range(request.GET)
    subject = Subject(Kind.PERSON, request.user.username)
    days = usage_periods(subject=subject, since=since, until=until, granularity="day")
    by_workspace = usage_by_workspace(subject=subject, since=since, until=until)
    budgets = _budgets(request.user)
    context = {
        "since": since,
        "until": until,
        "error": error,
        "budgets": budgets,
        "budget_chart": mark_safe(
            bar_chart(
                [Bar(b["label"], b["percent"], b["text"]) for b in budgets],
                chart_id="budget-chart",
                title="Use against each budget",
                desc="Each bar is the use in the budget's period as a share of the budget.",
                scale=100.0,
            )
        )
        if budgets
        else "",
        "days": days,
        "day_chart": mark_safe(
            column_chart(
                [(f"{d.start}", d.cpu_hours) for d in days],
                chart_id="day-chart",
                title=f"CPU core-hours per day, {since} to {until}",
                desc=f"{len(days)} days; the most in one day "
                f"{number(max((d.cpu_hours for d in days), default=0))} core-hours.",
                unit="core-hours",
            )
        ),
        "total": _total(days, since),
        "workspaces": sorted(by_workspace.items()),
        "csv_url": _csv_url(since, until),
    }
    return render(request, "usage/mine.html", context, status=400 if error else 200)


@login_required
def everyone_usage(request):
    require_admin(request.user, "see everyone's usage")
    since, until, error = page_range(request.GET)
    groups = ranked(usage_by(kind=Kind.GROUP, since=since, until=until))
    templates = ranked(usage_by(kind=Kind.TEMPLATE, since=since, until=until))
    people, everyone = usage_top(kind=Kind.PERSON, since=since, until=until, count=TOP_PEOPLE)
    sections = [
        ("groups", "By group", "group", groups, ""),
        ("templates", "By template", "template", templates, ""),
        (
            "people",
            "Top people",
            "user",
            people,
            f"The {len(people)} who reserved the most CPU, of {everyone} who used any.",
        ),
    ]
    context = {
        "since": since,
        "until": until,
        "error": error,
        "sections": [
            {
                "slug": slug,
                "heading": heading,
                "note": note,
                "rows": rows,
                "csv_url": _csv_url(since, until, every=kind),
                "kind": kind,
                "chart": mark_safe(
                    bar_chart(
                        [
                            Bar(name, use.cpu_hours, f"{number(use.cpu_hours)} core-hours")
                            for name, use in rows
                        ],
                        chart_id=f"{slug}-chart",
                        title=f"CPU core-hours {heading.lower()}, {since} to {until}",
                        desc=f"{len(rows)} bars, the most CPU-hours first.",
                    )
                ),
            }
            for slug, heading, kind, rows, note in sections
        ],
    }
    return render(request, "usage/everyone.html", context, status=400 if error else 200)


def _budgets(user) -> list[dict]:
    """Each budget field in effect with its use, as the page shows it (no limit: left out)."""
    shown = []
    for field, found in standings_of(user).items():
        if found is None:
            continue
        limit = found.limit
        shown.append(
            {
                "field": field,
                "label": LABELS[field][0].upper() + LABELS[field][1:],
                "used": number(found.used),
                "budget": number(limit.hours),
                "unit": UNITS[field],
                "period": limit.period.label,
                "percent": found.percent(),
                "resets_at": found.resets_at,
                # A month resets at its date, shown already; a rolling window needs words.
                "when": found.when_under() if limit.period.days else "",
                "text": f"{number(found.used)} of {number(limit.hours)} {UNITS[field]} "
                f"({found.percent():.0f}%)",
            }
        )
    return shown


def _total(days: list[Period], since: date) -> Period:
    return Period(
        since,
        cpu_hours=sum(d.cpu_hours for d in days),
        memory_gib_hours=sum(d.memory_gib_hours for d in days),
        gpu_hours=sum(d.gpu_hours for d in days),
        runs=sum(d.runs for d in days),
    )


def _csv_url(since: date, until: date, **more: str) -> str:
    return f"{reverse('usage-csv')}?{urlencode({'since': since, 'until': until, **more})}"
