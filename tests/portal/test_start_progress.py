"""The hub's progress stream reaches the page through the portal: the spawn follower writes
each event to the row, and the API (which the page polls) reads it from there."""

from __future__ import annotations

import pytest

from portal.workspaces import services
from portal.workspaces.models import Workspace
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
State = Workspace.State


def test_each_progress_event_is_kept_for_the_page(api, alice, workspace_of):
    workspace = workspace_of(alice, state=State.STARTING)
    stream = [
        {"progress": 20, "message": "Creating the network"},
        {"progress": 60, "message": "Container started, waiting for it to answer"},
    ]
    outcome = services.spawn_outcome(workspace, patience=5, hub=ScriptedHub(progress=[stream]))
    assert outcome == (State.ERROR, "Container started, waiting for it to answer")
    api.force_authenticate(alice)
    shown = api.get(f"/api/v1/workspaces/{workspace.pk}/").json()
    assert (shown["progress"], shown["progress_message"]) == (
        60,
        "Container started, waiting for it to answer",
    )


def test_progress_never_overwrites_a_row_that_is_no_longer_starting(alice, workspace_of):
    workspace = workspace_of(alice, state=State.STOPPED)
    stream = [{"progress": 80, "message": "late event"}]
    services.spawn_outcome(workspace, patience=5, hub=ScriptedHub(progress=[stream]))
    workspace.refresh_from_db()
    assert (workspace.progress, workspace.progress_message) == (0, "")


def test_odd_progress_values_are_clamped(alice, workspace_of):
    workspace = workspace_of(alice, state=State.STARTING)
    stream = [{"progress": 250, "message": "x" * 400}]
    services.spawn_outcome(workspace, patience=5, hub=ScriptedHub(progress=[stream]))
    workspace.refresh_from_db()
    assert (workspace.progress, len(workspace.progress_message)) == (100, 300)


def test_a_start_the_hub_refuses_changes_nothing(alice, workspace_of):
    workspace = workspace_of(alice, progress=100, progress_message="Server ready")
    with pytest.raises(services.HubError):
        services.workspace_start(workspace=workspace, by=alice)  # the hub is down here
    workspace.refresh_from_db()
    assert (workspace.state, workspace.progress, workspace.progress_message) == (
        State.STOPPED,
        100,
        "Server ready",
    )
