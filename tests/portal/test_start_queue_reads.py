"""A queued start's place in line and its estimated wait: in the API (``queue_position``,
``queue_wait_seconds``) and on its card, read from the database only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.workspaces.models import RecentStart, Workspace
from portal.workspaces.start_queue import about, ordinal
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
State = Workspace.State


@pytest.fixture
def line(settings, alice, bob, workspace_of, hub_double):
    """Two starts in flight, then alice's three waiting; starts take 20 s (median)."""
    settings.START_CONCURRENCY = 2
    hub_double(ScriptedHub(down=True))  # reads never ask it
    for seconds in (10, 20, 90):
        RecentStart.objects.create(ended_at=timezone.now(), seconds=seconds)
    for name in ("b1", "b2"):
        workspace_of(bob, name, state=State.STARTING, start_asked_at=timezone.now())
    start = timezone.now()
    return [
        workspace_of(
            alice,
            name,
            state=State.STARTING,
            start_queued_at=start + timedelta(seconds=number),
            progress_message="Waiting in the start queue",
        )
        for number, name in enumerate(("a1", "a2", "a3"))
    ]


def test_the_api_shows_each_place_and_its_estimate(api, alice, line):
    api.force_authenticate(alice)
    shown = {w["name"]: w for w in api.get("/api/v1/workspaces/").json()["results"]}
    # 20 s × position / 2 starts at once.
    assert [(shown[n]["queue_position"], shown[n]["queue_wait_seconds"]) for n in shown] == [
        (1, 10),
        (2, 20),
        (3, 30),
    ]
    one = api.get(f"/api/v1/workspaces/{line[1].pk}/").json()
    assert (one["state"], one["queue_position"], one["queue_wait_seconds"]) == ("starting", 2, 20)


def test_a_workspace_not_in_the_queue_has_no_place(api, bob, line):
    api.force_authenticate(bob)
    shown = api.get("/api/v1/workspaces/").json()["results"]
    assert {(w["queue_position"], w["queue_wait_seconds"]) for w in shown} == {(None, None)}


def test_the_card_says_its_place_and_wait_instead_of_a_progress_bar(client, alice, line):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Waiting to start: 3rd in line, about 30 s" in page
    card = page[page.index('data-workspace="a3"') :]
    card = card[: card.index("</section>")]
    assert "data-queue" in card and "<progress" not in card
    assert 'data-state="starting"' in page


@pytest.mark.parametrize(
    ("number", "said"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (21, "21st")],
)
def test_places_in_line_are_said_as_people_say_them(number, said):
    assert ordinal(number) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "about 5 s"),
        (38, "about 40 s"),
        (57, "about 55 s"),
        (58, "about 1 min"),
        (150, "about 3 min"),
        (900, "about 15 min"),
    ],
)
def test_waits_are_said_roughly(seconds, said):
    assert about(seconds) == said
