"""The usage pages and the CSV export: who may see what (anonymous, waiting, a person, another
person's use, an admin), the exact figures of seeded runs, the range chooser's bad input, and
the CSV's rows and headers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils.html import escape

from portal.accounts.models import NOT_APPROVED
from portal.budgets.models import Budget
from portal.usage.models import UsageInterval
from tests.portal.conftest import NOW
from tests.portal.usage_runs import GIB, run

DEC_10 = NOW.replace(day=10, hour=8)
HOUR = timedelta(hours=1)
PAGES = ["/usage/", "/dashboard/usage/", "/usage.csv"]


@pytest.fixture
def runs(clock, budgets_unset, alice, bob):
    """alice: 2 h of 2 cores and 4 GiB on 10 December in "thesis", and a run of "gpu-box"
    going for the last hour (1 core, 1 GiB, 1 GPU); bob: 3 h of 1 core on the 10th, in group
    physics with alice's first run."""
    run(DEC_10, DEC_10 + 2 * HOUR, owner="alice", cpu=2, memory=4 * GIB, groups=("physics",))
    gpu = run(NOW - HOUR, None, owner="alice", template="gpu", gpus=1)
    gpu.workspace_name = "gpu-box"
    gpu.save()
    run(DEC_10, DEC_10 + 3 * HOUR, owner="bob", template="big", groups=("physics", "<b>"))


def page(response, status: int = 200) -> str:
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("path", PAGES)
def test_strangers_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={path}")


def test_someone_waiting_for_approval_is_refused_with_why(client, mallory):
    client.force_login(mallory)
    assert escape(NOT_APPROVED) in page(client.get("/usage/"), 403)
    refused = client.get("/usage.csv")
    assert (refused.status_code, refused.content.decode()) == (403, NOT_APPROVED + "\n")
    assert refused["Content-Type"] == "text/plain; charset=utf-8"


def test_the_admins_page_is_for_admins(client, alice):
    client.force_login(alice)
    assert "Only administrators may see everyone&#x27;s usage." in page(
        client.get("/dashboard/usage/"), 403
    )


def test_a_person_sees_their_own_use_per_day_and_per_workspace(client, alice, runs):
    client.force_login(alice)
    shown = page(client.get("/usage/"))
    assert 'href="/usage/"' in shown  # in the navigation
    assert (
        '<tr data-day="2026-12-10"><td>2026-12-10</td><td>1</td><td>4</td>\n'
        "          <td>8</td><td>0</td></tr>"
    ) in shown
    assert (
        '<tr data-workspace="gpu-box"><td>gpu-box</td><td>1</td><td>1</td>\n'
        "        <td>1</td><td>1</td></tr>"
    ) in shown
    assert "<strong data-total-cpu>5</strong> CPU core-hours" in shown
    assert "<title>2026-12-10: 4 core-hours</title>" in shown  # the day's column
    assert 'data-workspace="thesis"><td>thesis</td><td>1</td><td>4</td>' in shown


def test_another_persons_use_is_never_shown(client, bob, runs):
    client.force_login(bob)
    shown = page(client.get("/usage/"))
    assert "gpu-box" not in shown
    assert 'data-workspace="thesis"><td>thesis</td><td>1</td><td>3</td>' in shown
    assert "<title>2026-12-10: 3 core-hours</title>" in shown
    assert "gpu-box" not in page(client.get("/usage/?user=alice"))  # the page takes no subject


def test_use_against_each_budget_with_its_reset(client, alice, runs):
    Budget.objects.create(user=alice, cpu_hours=10, gpu_hours=4)
    client.force_login(alice)
    shown = page(client.get("/usage/"))
    assert "<title>CPU: 5 of 10 core-hours (50%)</title>" in shown
    assert "<title>GPU: 1 of 4 GPU-hours (25%)</title>" in shown
    assert 'data-budget="memory_gib_hours"' not in shown  # no limit: no bar
    assert '<time datetime="2027-01-01T00:00:00+00:00">2027-01-01 00:00 UTC</time>' in shown


def test_no_budget_says_so(client, alice, runs):
    client.force_login(alice)
    assert "No budget limits your use." in page(client.get("/usage/"))


@pytest.mark.parametrize(
    ("asked", "error"),
    [
        ({"since": "10/12/2026"}, "since must be a date, e.g. 2026-11-27."),
        ({"until": "2026-02-30"}, "until must be a date, e.g. 2026-11-27."),
        ({"since": "2026-12-10", "until": "2026-12-01"}, "until (2026-12-01) is before since"),
        ({"since": "2025-01-01", "until": "2026-12-17"}, "Ask for at most 366 days at a time."),
    ],
)
@pytest.mark.parametrize("path", ["/usage/", "/dashboard/usage/"])
def test_a_bad_range_is_a_400_that_says_why_and_shows_the_last_30_days(
    client, carol, runs, path, asked, error
):
    client.force_login(carol)
    shown = page(client.get(path, asked), 400)
    assert error in shown and "Showing the last 30 days instead." in shown
    assert 'name="since" value="2026-11-18"' in shown  # 30 days up to today


def test_a_chosen_range(client, alice, runs):
    client.force_login(alice)
    shown = page(client.get("/usage/", {"since": "2026-12-11", "until": "2026-12-17"}))
    assert 'data-day="2026-12-10"' not in shown
    assert shown.count("<tr data-day=") == 7
    assert 'data-workspace="thesis"' not in shown  # it ran on the 10th only


def test_an_admin_sees_groups_templates_and_the_top_people(client, carol, runs):
    client.force_login(carol)
    shown = page(client.get("/dashboard/usage/"))
    assert 'data-group="physics"><td>physics</td><td>2</td><td>7</td>' in shown
    assert 'data-group="&lt;b&gt;"><td>&lt;b&gt;</td><td>1</td><td>3</td>' in shown
    assert "<b>" not in shown  # escaped in the table and the chart
    assert 'data-template="default"><td>default</td><td>1</td><td>4</td>' in shown
    assert 'data-template="big"><td>big</td><td>1</td><td>3</td>' in shown
    assert 'data-template="gpu"><td>gpu</td><td>1</td><td>1</td>' in shown
    assert "<title>alice: 5 core-hours</title>" in shown
    assert "<title>bob: 3 core-hours</title>" in shown
    assert shown.index('data-user="alice"') < shown.index('data-user="bob"')  # most first
    assert "The 2 who reserved the most CPU, of 2 who used any." in shown
    assert shown.count("<td data-efficiency>—</td>") == 7  # marked, not yet measured
    assert 'href="/dashboard/usage/"' in page(client.get("/dashboard/"))


def test_a_person_exports_their_own_days(client, alice, runs):
    client.force_login(alice)
    response = client.get("/usage.csv", {"since": "2026-12-10", "until": "2026-12-11"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="usage-alice-2026-12-10-to-2026-12-11.csv"'
    )
    assert csv_rows(response) == [
        ["day", "kind", "name", "cpu_hours", "memory_gib_hours", "gpu_hours", "runs"],
        ["2026-12-10", "person", "alice", "4.0", "8.0", "0.0", "1"],
        ["2026-12-11", "person", "alice", "0.0", "0.0", "0.0", "0"],
    ]


def test_the_default_export_is_the_last_30_days(client, alice, runs):
    client.force_login(alice)
    response = client.get("/usage.csv")
    assert "usage-alice-2026-11-18-to-2026-12-17.csv" in response["Content-Disposition"]
    assert len(csv_rows(response)) == 1 + 30


@pytest.mark.parametrize(
    ("asked", "status", "message"),
    [
        ({"user": "bob"}, 403, "Only administrators may see someone else's usage."),
        ({"every": "group"}, 403, "Only administrators may export everyone's usage."),
        ({"since": "soon"}, 400, "since must be a date, e.g. 2026-11-27."),
    ],
)
def test_a_person_exporting_more_is_refused(client, alice, runs, asked, status, message):
    client.force_login(alice)
    response = client.get("/usage.csv", asked)
    assert (response.status_code, response.content.decode()) == (status, message + "\n")


def test_an_admin_exports_anyones_and_every_groups_days(client, carol, runs):
    client.force_login(carol)
    one = client.get("/usage.csv", {"user": "bob", "since": "2026-12-10", "until": "2026-12-10"})
    assert csv_rows(one)[1:] == [["2026-12-10", "person", "bob", "3.0", "3.0", "0.0", "1"]]
    every = client.get("/usage.csv", {"every": "group", "since": "2026-12-01"})
    assert (
        'filename="usage-every-group-2026-12-01-to-2026-12-17.csv"'
        in (every["Content-Disposition"])
    )
    assert csv_rows(every)[1:] == [
        ["2026-12-10", "group", "<b>", "3.0", "3.0", "0.0", "1"],
        ["2026-12-10", "group", "physics", "7.0", "11.0", "0.0", "2"],
    ]


def test_a_formula_in_a_name_is_not_run_by_a_spreadsheet(client, carol, clock, budgets_unset):
    run(DEC_10, DEC_10 + HOUR, groups=("=HYPERLINK(1)",))
    client.force_login(carol)
    rows = csv_rows(client.get("/usage.csv", {"every": "group", "since": "2026-12-10"}))
    assert rows[1][2] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"every": "planet"}, "every must be one of: person, group, template."),
        (
            {"group": "a", "template": "b"},
            "Ask for one of user, group or template, not group and template.",
        ),
        ({"since": "2000-01-01"}, "Ask for at most 3660 days at a time."),
    ],
)
def test_bad_export_input_is_a_400_with_a_message(client, carol, runs, asked, message):
    client.force_login(carol)
    response = client.get("/usage.csv", asked)
    assert (response.status_code, response.content.decode()) == (400, message + "\n")


def test_a_rolling_budget_says_when_it_is_under_again(client, alice, runs):
    Budget.objects.create(user=alice, cpu_hours=0.5, period="7d")  # the 10th is outside it
    client.force_login(alice)
    shown = page(client.get("/usage/"))
    assert "<title>CPU: 1 of 0.5 core-hours (200%)</title>" in shown  # over: the bar stops full
    assert "as older use leaves the 7-day window" in shown


def test_the_admins_page_shows_the_measured_efficiency(client, carol, clock, budgets_unset):
    """A run sampled over its whole 2 hours that used half of its 2 cores: 50 %."""
    measured = run(DEC_10, DEC_10 + 2 * HOUR, owner="alice", cpu=2)
    UsageInterval.objects.filter(pk=measured.pk).update(
        cpu_used_seconds=2 * 3600.0, sampled_at=DEC_10 + 2 * HOUR
    )
    client.force_login(carol)
    shown = page(client.get("/dashboard/usage/?since=2026-12-01&until=2026-12-12"))
    assert shown.count("<td data-efficiency>50 %</td>") == 2  # the template and the person
