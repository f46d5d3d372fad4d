"""With ``stop_at_budget``, the budget pass stops the running workspaces of a used-up budget
through the stop service (by nobody, audited), with the reason on the workspace's card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.audit.models import AuditEntry
from portal.budgets.models import Budget
from portal.budgets.watch import budgets_pass
from portal.workspaces.models import Workspace
from tests.portal.scripted_hub import ScriptedHub
from tests.portal.usage_runs import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]
DEC_2 = datetime(2026, 12, 2, tzinfo=UTC)
STOPPED = (
    "Stopped: the CPU budget of 10 core-hours per calendar month (UTC) is used up; it resets "
    "on 2027-01-01 00:00 UTC."
)


@pytest.fixture
def hub(hub_double):
    return hub_double(ScriptedHub())


def test_a_used_up_budget_stops_running_workspaces_with_the_reason(
    client, alice, bob, clock, hub, workspace_of
):
    Budget.objects.create(user=alice, cpu_hours=10, stop_at_budget=True)
    running = workspace_of(alice, state=Workspace.State.RUNNING)
    others = workspace_of(bob, state=Workspace.State.RUNNING)
    run(DEC_2, DEC_2 + timedelta(hours=10))
    assert budgets_pass().stopped == 1
    running.refresh_from_db()
    assert (running.state, running.message) == ("stopping", STOPPED)
    assert hub.paths == [("DELETE", "/users/alice/servers/thesis")]
    others.refresh_from_db()
    assert others.state == "running"
    entry = AuditEntry.objects.get(action="workspace.stop")
    assert (entry.actor, entry.target, entry.detail, entry.source) == (
        None,
        "alice/thesis",
        STOPPED,
        "scheduler",
    )
    client.force_login(alice)
    assert STOPPED in client.get("/").content.decode()  # on the workspace's card


def test_without_stop_at_budget_nothing_is_stopped(alice, clock, hub, workspace_of, settings):
    Budget.objects.create(user=alice, cpu_hours=10)
    workspace_of(alice, state=Workspace.State.RUNNING)
    run(DEC_2, DEC_2 + timedelta(hours=20))
    assert budgets_pass().stopped == 0
    settings.BUDGET_STOP_AT_BUDGET = True  # the default of budgets that leave it empty
    assert budgets_pass().stopped == 1


def test_just_under_the_budget_nothing_is_stopped(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, cpu_hours=10, stop_at_budget=True)
    workspace_of(alice, state=Workspace.State.RUNNING)
    run(DEC_2, DEC_2 + timedelta(hours=9.99))
    assert budgets_pass().stopped == 0
    assert hub.paths == []


def test_a_used_up_gpu_budget_stops_only_workspaces_with_gpus(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, gpu_hours=1, stop_at_budget=True)
    with_gpu = workspace_of(alice, "gpu", state=Workspace.State.RUNNING, gpus="1")
    workspace_of(alice, "cpu", state=Workspace.State.RUNNING)
    run(DEC_2, DEC_2 + timedelta(hours=1), gpus=1)
    assert budgets_pass().stopped == 1
    assert hub.paths == [("DELETE", "/users/alice/servers/gpu")]
    with_gpu.refresh_from_db()
    assert with_gpu.message.startswith("Stopped: the GPU budget of 1 GPU-hours per calendar")


def test_a_hub_that_is_down_ends_the_round_and_the_next_pass_tries_again(
    alice, clock, hub_double, workspace_of
):
    hub_double(ScriptedHub(down=True))
    Budget.objects.create(user=alice, cpu_hours=10, stop_at_budget=True)
    workspace_of(alice, "one", state=Workspace.State.RUNNING)
    workspace_of(alice, "two", state=Workspace.State.RUNNING)
    run(DEC_2, DEC_2 + timedelta(hours=10))
    report = budgets_pass()
    assert (report.stopped, len(report.problems)) == (0, 1)
    assert set(Workspace.objects.values_list("state", flat=True)) == {"running"}
    hub_double(ScriptedHub())
    assert budgets_pass().stopped == 2
