"""Expiry warnings: a workspace near its expiry is flagged on its owner's page, in the admin
list and on the dashboard, and its owner is e-mailed once per expiry."""

from __future__ import annotations

import io
import smtplib
from datetime import timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from portal.audit.models import AuditEntry
from portal.workspaces import services
from portal.workspaces.expiry import expiry_warnings_send
from portal.workspaces.models import Workspace
from portal.workspaces.tasks import EXPIRY_SCHEDULE, expiry_schedule_ensure

pytestmark = pytest.mark.django_db
WORKSPACES = "/admin/workspaces/workspace/"
FLAG = "data-expiring-soon"


@pytest.fixture
def clock(monkeypatch):
    """The portal's "now", moved by hand: ``clock.now`` (a whole minute), ``clock.move(...)``."""

    class Clock:
        now = timezone.now().replace(second=0, microsecond=0)

        def move(self, **delta) -> None:
            self.now += timedelta(**delta)

    fixed = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fixed.now)
    return fixed


@pytest.fixture
def reachable_alice(alice):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    return alice


def expiring_in(workspace_of, owner, left: timedelta, name: str = "thesis", **fields) -> Workspace:
    return workspace_of(owner, name, expires_at=timezone.now() + left, **fields)


def test_the_page_flags_a_workspace_within_the_window_and_no_other(client, alice, workspace_of):
    # The real clock (timeuntil reads it): 30 s to spare for "5 hours".
    expiring_in(workspace_of, alice, timedelta(hours=5, seconds=30), "thesis")
    expiring_in(workspace_of, alice, timedelta(hours=25), "later")
    expiring_in(workspace_of, alice, timedelta(hours=-1), "gone")
    workspace_of(alice, "forever")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert page.count(FLAG) == 1
    assert (
        '<span class="warning" data-expiring-soon>Expires in 5\xa0hours — extend it to keep it.'
        "</span>" in page
    )
    thesis = page.split('data-workspace="thesis"')[1].split("</section>")[0]
    assert FLAG in thesis and "Extend</button>" in thesis


def test_the_admin_list_has_a_column_and_a_filter(client, carol, alice, workspace_of):
    expiring_in(workspace_of, alice, timedelta(hours=5), "thesis")
    expiring_in(workspace_of, alice, timedelta(days=3), "later")
    client.force_login(carol)
    listed = client.get(WORKSPACES).content.decode()
    assert '<div class="text"><span>Expiring soon</span></div>' in listed  # the column's header
    assert listed.count('alt="True"') == 1 and listed.count('alt="False"') == 1
    assert '<a href="?expiring_soon=yes">Within 24 hours</a>' in listed
    filtered = client.get(WORKSPACES, {"expiring_soon": "yes"}).content.decode()
    assert ">thesis</a>" in filtered and ">later</a>" not in filtered


def test_the_dashboard_flags_running_ones(client, carol, alice, workspace_of):
    expiring_in(workspace_of, alice, timedelta(hours=5), "thesis", state=Workspace.State.RUNNING)
    client.force_login(carol)
    page = client.get("/dashboard/").content.decode()
    badge = '<span class="badge rounded-pill state state-starting" data-expiring-soon>'
    assert f"{badge}expiring soon</span>" in page


def test_the_owner_is_emailed_once(reachable_alice, workspace_of, mailoutbox, clock, settings):
    workspace = expiring_in(workspace_of, reachable_alice, timedelta(hours=5))
    when = f"{workspace.expires_at:%Y-%m-%d %H:%M} UTC"

    assert expiry_warnings_send() == "1 warned, 0 without an e-mail address"

    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.from_email == settings.DEFAULT_FROM_EMAIL
    assert mail.subject == f"MLHub: your workspace thesis expires on {when}"
    assert mail.body == (
        "Hello alice,\n\n"
        f"your workspace thesis on MLHub expires on {when}. Once it has expired it may be "
        "deleted, with its files.\n\n"
        'To keep it, extend it on "My workspaces":\nhttp://localhost:8000/\n'
    )
    workspace.refresh_from_db()
    assert workspace.expiry_warned_for == workspace.expires_at
    entry = AuditEntry.objects.get(action="workspace.expiry-warning")
    assert (entry.actor, entry.target, entry.result, entry.source) == (
        None,
        "alice/thesis",
        "ok",
        "scheduler",
    )
    assert entry.detail == f"e-mailed alice@example.org: expires {when}"

    clock.move(hours=4)
    assert expiry_warnings_send() == "0 warned, 0 without an e-mail address"
    assert len(mailoutbox) == 1


def test_an_extension_warns_again_when_the_new_expiry_comes_near(
    reachable_alice, workspace_of, mailoutbox, clock
):
    workspace = expiring_in(workspace_of, reachable_alice, timedelta(hours=5))
    expiry_warnings_send()
    services.workspace_extend(workspace=workspace, by=reachable_alice, days=2)
    assert expiry_warnings_send() == "0 warned, 0 without an e-mail address"

    clock.move(hours=30)  # 18 hours left of the new expiry
    assert expiry_warnings_send() == "1 warned, 0 without an e-mail address"
    first, second = mailoutbox
    assert first.subject != second.subject
    assert second.subject.endswith(f"{clock.now + timedelta(hours=18):%Y-%m-%d %H:%M} UTC")


def test_none_for_workspaces_never_expiring_expired_outside_the_window_or_deleting(
    reachable_alice, workspace_of, mailoutbox, clock
):
    workspace_of(reachable_alice, "forever")
    expiring_in(workspace_of, reachable_alice, timedelta(minutes=-1), "gone")
    expiring_in(workspace_of, reachable_alice, timedelta(hours=24, minutes=1), "later")
    expiring_in(
        workspace_of, reachable_alice, timedelta(hours=5), "deleted", deleting_since=clock.now
    )
    assert expiry_warnings_send() == "0 warned, 0 without an e-mail address"
    assert mailoutbox == []


def test_none_for_owners_who_could_not_extend(reachable_alice, workspace_of, mailoutbox, clock):
    expiring_in(workspace_of, reachable_alice, timedelta(hours=5))
    reachable_alice.is_active = False
    reachable_alice.save(update_fields=["is_active"])
    assert expiry_warnings_send() == "0 warned, 0 without an e-mail address"
    assert mailoutbox == []


def test_people_without_an_address_are_counted_and_warned_once_they_have_one(
    alice, workspace_of, mailoutbox, clock
):
    workspace = expiring_in(workspace_of, alice, timedelta(hours=5))
    assert expiry_warnings_send() == "0 warned, 1 without an e-mail address"
    workspace.refresh_from_db()
    assert workspace.expiry_warned_for is None
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    assert expiry_warnings_send() == "1 warned, 0 without an e-mail address"
    assert [mail.to for mail in mailoutbox] == [["alice@example.org"]]


def test_an_unreachable_mail_server_ends_the_pass_and_the_next_one_sends(
    reachable_alice, workspace_of, mailoutbox, clock, settings
):
    expiring_in(workspace_of, reachable_alice, timedelta(hours=5), "thesis")
    expiring_in(workspace_of, reachable_alice, timedelta(hours=6), "notes")
    # A real SMTP connection to a port where nothing listens.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9
    assert expiry_warnings_send() == (
        "0 warned, 0 without an e-mail address; stopped, not sent to alice@example.org: "
        "[Errno 111] Connection refused"
    )
    assert not Workspace.objects.filter(expiry_warned_for__isnull=False).exists()
    [entry] = AuditEntry.objects.filter(action="workspace.expiry-warning")
    assert (entry.target, entry.result) == ("alice/thesis", "failed")
    assert entry.detail == "not sent to alice@example.org: [Errno 111] Connection refused"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert expiry_warnings_send() == "2 warned, 0 without an e-mail address"
    assert len(mailoutbox) == 2


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every recipient (as SMTP answers a bad address)."""

    def send_messages(self, messages):
        refused = {to: (550, b"No such user") for m in messages for to in m.to}
        raise smtplib.SMTPRecipientsRefused(refused)


def test_an_address_the_server_refuses_is_not_tried_again_for_that_expiry(
    reachable_alice, workspace_of, clock, settings
):
    workspace = expiring_in(workspace_of, reachable_alice, timedelta(hours=5))
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    assert expiry_warnings_send() == (
        "0 warned, 0 without an e-mail address, 1 refused by the mail server"
    )
    workspace.refresh_from_db()
    assert workspace.expiry_warned_for == workspace.expires_at
    entry = AuditEntry.objects.get(action="workspace.expiry-warning")
    assert (entry.result, entry.detail) == (
        "failed",
        "alice@example.org refused by the mail server: "
        "{'alice@example.org': (550, b'No such user')}",
    )
    assert expiry_warnings_send() == "0 warned, 0 without an e-mail address"


def test_nothing_is_flagged_or_sent_when_the_setting_is_0(
    client, carol, reachable_alice, workspace_of, mailoutbox, clock, settings
):
    settings.EXPIRY_WARNING_HOURS = 0
    workspace = expiring_in(workspace_of, reachable_alice, timedelta(minutes=30))
    assert not workspace.expiring_soon
    assert expiry_warnings_send() == "expiry warnings are off"
    assert mailoutbox == []
    client.force_login(reachable_alice)
    assert FLAG not in client.get("/").content.decode()
    client.force_login(carol)
    listed = client.get(WORKSPACES).content.decode()
    assert "Expiring soon" not in listed and "expiring_soon" not in listed


def test_the_window_follows_the_setting(reachable_alice, workspace_of, clock, settings):
    settings.EXPIRY_WARNING_HOURS = 48
    workspace = expiring_in(workspace_of, reachable_alice, timedelta(hours=47))
    assert workspace.expiring_soon
    settings.EXPIRY_WARNING_HOURS = 24
    assert not workspace.expiring_soon
    assert list(Workspace.objects.expiring_soon()) == []


def test_the_schedule_follows_the_setting(settings):
    assert expiry_schedule_ensure() == "24 h before expiry, checked every 15 min"
    schedule = Schedule.objects.get(name=EXPIRY_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "portal.workspaces.tasks.expiry_warnings",
        Schedule.MINUTES,
        15,
        -1,
    )
    assert expiry_schedule_ensure() == "24 h before expiry, checked every 15 min"
    assert Schedule.objects.filter(name=EXPIRY_SCHEDULE).count() == 1

    settings.EXPIRY_WARNING_HOURS = 0
    assert expiry_schedule_ensure() == "off"
    assert not Schedule.objects.filter(name=EXPIRY_SCHEDULE).exists()


def test_the_set_up_command_keeps_the_schedule_in_step(settings):
    out = io.StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Expiry warnings: 24 h before expiry, checked every 15 min\n" in out.getvalue()
    assert Schedule.objects.filter(name=EXPIRY_SCHEDULE).exists()

    settings.EXPIRY_WARNING_HOURS = 0
    call_command("mlhub_setup", stdout=out)
    assert "Expiry warnings: off\n" in out.getvalue()
    assert not Schedule.objects.filter(name=EXPIRY_SCHEDULE).exists()
