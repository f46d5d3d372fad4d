"""The usage benchmark's seeding plan (bench/usage.py): the runs it asks for, spread over the
days asked, every closed one inside the first roll-up, the same from the same seed."""

from __future__ import annotations

import random
from array import array
from datetime import UTC, date, datetime, timedelta

from bench.usage import (
    INTERVAL_COLUMNS,
    LAST_END,
    LONGEST_RUN,
    WEEKEND,
    day_counts,
    interval_rows,
    people_plan,
    runs_plan,
)

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


def plan(seed: int = 1, **more):
    people = people_plan(people=40, groups=5, rng=random.Random(seed))
    options = {"intervals": 2_000, "days": 30, "now": NOW, "running": [3, 7]} | more
    return people, list(runs_plan(people=people, rng=random.Random(seed), **options))


def test_the_days_share_out_exactly_the_runs_asked_for_weekends_less():
    counts = day_counts(total=1_000, first=date(2026, 11, 30), days=7)  # Monday to Sunday
    assert sum(counts) == 1_000
    weekday, weekend = counts[0], counts[5]
    assert abs(weekend - WEEKEND * weekday) <= 1
    assert day_counts(total=3, first=date(2026, 11, 30), days=7) == [1, 1, 1, 0, 0, 0, 0]


def test_everyone_is_in_a_group_a_few_in_two_with_one_to_three_workspaces():
    people = people_plan(people=1_000, groups=50, rng=random.Random(1))
    sizes = [len(p.groups) for p in people]
    assert set(sizes) == {1, 2} and 50 <= sizes.count(2) <= 150
    assert {len(p.workspaces) for p in people} == {1, 2, 3}
    assert {p.groups[0] for p in people} == {f"group-{g:02d}" for g in range(50)}
    assert all(len(set(p.groups)) == len(p.groups) for p in people)


def test_the_closed_runs_lie_in_the_days_asked_in_start_order_and_end_before_the_roll_up():
    _, runs = plan()
    closed = [r for r in runs if r.end is not None]
    assert len(closed) == 2_000
    assert closed[0].start >= datetime(2026, 11, 7, tzinfo=UTC)  # 30 days up to 6 December
    assert [r.start for r in closed] == sorted(r.start for r in closed)
    assert all(r.start <= r.end <= NOW - LAST_END for r in closed)
    assert all(r.end - r.start <= LONGEST_RUN for r in closed)
    sampled = [r for r in closed if r.sampled_at is not None]
    assert 0.6 < len(sampled) / len(closed) < 0.8
    assert all(r.start <= r.sampled_at <= r.end for r in sampled)


def test_the_running_people_have_one_open_run_each_of_their_first_workspace():
    _, runs = plan()
    opened = [r for r in runs if r.end is None]
    assert [(r.person, r.workspace) for r in opened] == [(3, 0), (7, 0)]
    assert all(NOW - timedelta(hours=48) <= r.start < NOW for r in opened)


def test_the_same_seed_plans_the_same_runs():
    assert plan(seed=5) == plan(seed=5)
    assert plan(seed=5)[1] != plan(seed=6)[1]


def test_the_rows_are_what_the_portal_writes_with_ids_from_one_and_their_owners():
    people, runs = plan(intervals=50)
    owners = array("l")
    rows = list(
        interval_rows(
            runs,
            plan=people,
            user_ids=[100 + i for i in range(len(people))],
            workspace_ids=[[1000 + 10 * i + w for w in range(3)] for i in range(len(people))],
            template_ids=[11, 12, 13, 14],
            owners=owners,
        )
    )
    assert len(rows) == 52 and list(owners) == [r.person for r in runs]
    row = dict(zip(INTERVAL_COLUMNS, rows[0], strict=True))
    first = runs[0]
    assert row["id"] == 1
    assert row["owner_id"] == 100 + first.person
    assert row["owner_name"] == people[first.person].name
    assert row["workspace_id"] == 1000 + 10 * first.person + first.workspace
    assert row["workspace_name"] == f"ws-{first.workspace + 1}"
    assert (row["ended_how"], row["closed_at"]) == ("stopped", first.end + timedelta(seconds=5))
    for values, r in zip(rows, runs, strict=True):
        row = dict(zip(INTERVAL_COLUMNS, values, strict=True))
        if r.sampled_at is not None:
            reserved = row["cpu"] * (r.sampled_at - r.start).total_seconds()
            assert 0 <= row["cpu_used_seconds"] <= reserved
    last = dict(zip(INTERVAL_COLUMNS, rows[-1], strict=True))
    assert (last["ended_at"], last["ended_how"], last["closed_at"]) == (None, "", None)
