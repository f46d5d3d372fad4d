"""The budget pass warns at 80 % and 100 % of a budget: a banner on the person's pages while it
holds, and one e-mail per level and window (again in the next window), read set-based."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.audit.models import AuditEntry
from portal.budgets.models import Budget
from portal.budgets.watch import budgets_pass
from tests.portal.usage_runs import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]
DEC_2 = datetime(2026, 12, 2, tzinfo=UTC)
AT_80 = (
    "You have used 85% of the CPU budget of 100 core-hours per calendar month (UTC); it "
    "resets on 2027-01-01 00:00 UTC."
)


@pytest.fixture
def alice_with_budget(alice):
    alice.email = "alice@example.org"
    alice.save()
    Budget.objects.create(user=alice, cpu_hours=100)
    return alice


def test_80_then_100_percent_are_each_e_mailed_once(alice_with_budget, clock, mailoutbox):
    run(DEC_2, DEC_2 + timedelta(hours=85))
    budgets_pass()
    budgets_pass()
    assert [m.subject for m in mailoutbox] == ["MLHub: 80 % of your CPU budget used"]
    assert mailoutbox[0].to == ["alice@example.org"]
    assert "have used 85 core-hours of the CPU budget of 100 core-hours per calendar month" in (
        mailoutbox[0].body
    )
    run(DEC_2 + timedelta(days=5), DEC_2 + timedelta(days=5, hours=15))
    budgets_pass()
    budgets_pass()
    assert [m.subject for m in mailoutbox][1:] == ["MLHub: your CPU budget is used up"]
    assert "New workspaces do not start. For this budget, it resets on 2027-01-01" in (
        mailoutbox[1].body
    )
    entries = AuditEntry.objects.filter(action="budget.warning").order_by("pk")
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        (None, "alice", "e-mailed alice@example.org: cpu_hours at 80 %"),
        (None, "alice", "e-mailed alice@example.org: cpu_hours at 100 %"),
    ]


def test_the_next_month_warns_again(alice_with_budget, clock, mailoutbox):
    run(DEC_2, DEC_2 + timedelta(hours=85))
    budgets_pass()
    clock.now = datetime(2027, 1, 20, tzinfo=UTC)
    budgets_pass()  # December's use is no longer in the window: nothing to say
    assert len(mailoutbox) == 1
    january = datetime(2027, 1, 5, tzinfo=UTC)
    run(january, january + timedelta(hours=90))
    budgets_pass()
    assert [m.subject for m in mailoutbox] == ["MLHub: 80 % of your CPU budget used"] * 2


def test_a_rolling_window_warns_once_per_block_of_its_days(alice_with_budget, clock, mailoutbox):
    Budget.objects.filter(user=alice_with_budget).update(period="7d")
    run(clock.now - timedelta(hours=90), clock.now - timedelta(hours=5))
    budgets_pass()
    clock.now += timedelta(days=1)
    budgets_pass()  # the same 7-day block (from 2026-12-17): not again
    clock.now += timedelta(days=6)
    run(clock.now - timedelta(hours=85), clock.now - timedelta(hours=1))
    budgets_pass()  # the next block
    assert len(mailoutbox) == 2


def test_the_banner_shows_on_the_persons_pages_while_it_holds(
    client, alice_with_budget, bob, clock
):
    run(DEC_2, DEC_2 + timedelta(hours=85))
    budgets_pass()
    client.force_login(alice_with_budget)
    assert AT_80 in client.get("/").content.decode()
    client.force_login(bob)
    assert "budget" not in client.get("/").content.decode()
    clock.now = datetime(2027, 1, 2, tzinfo=UTC)
    client.force_login(alice_with_budget)
    assert AT_80 not in client.get("/").content.decode()  # the month it was for has ended


def test_the_banner_goes_when_use_falls_under_80_percent(client, alice_with_budget, clock):
    Budget.objects.filter(user=alice_with_budget).update(period="3d")
    run(clock.now - timedelta(days=2, hours=5), clock.now - timedelta(days=2, hours=1))
    Budget.objects.filter(user=alice_with_budget).update(cpu_hours=4.5)
    budgets_pass()
    client.force_login(alice_with_budget)
    assert "You have used 89% of the CPU budget" in client.get("/").content.decode()
    clock.now += timedelta(days=1)  # the run's day has left the 3-day window
    budgets_pass()
    assert "CPU budget" not in client.get("/").content.decode()


def test_someone_without_an_address_is_counted_and_warned_once_they_have_one(
    alice_with_budget, clock, mailoutbox
):
    alice_with_budget.email = ""
    alice_with_budget.save()
    run(DEC_2, DEC_2 + timedelta(hours=85))
    assert budgets_pass().no_address == 1
    alice_with_budget.email = "alice@example.org"
    alice_with_budget.save()
    assert budgets_pass().warned == 1


def test_the_pass_reads_everyone_in_the_same_few_queries(
    make_person, clock, django_assert_max_num_queries
):
    def people(count: int, first: int) -> None:
        for n in range(first, first + count):
            person = make_person(f"p{n}")
            Budget.objects.create(user=person, cpu_hours=100)
            run(DEC_2, DEC_2 + timedelta(hours=10), owner=person.username)

    people(5, 0)
    with django_assert_max_num_queries(1000) as few:
        budgets_pass()
    people(50, 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        budgets_pass()


def test_the_set_based_read_agrees_with_each_persons(alice, bob, clock):
    from portal.usage.models import RollupPass
    from portal.usage.reads import Kind, Subject, usage_by_person, usage_periods
    from portal.usage.rollup import rollup_pass

    run(DEC_2 - timedelta(hours=3), DEC_2 + timedelta(hours=5), gpus=1)  # across the start
    run(DEC_2 + timedelta(days=3), None, owner="bob", memory=3 * 1024**3)  # still running
    rollup_pass()
    run(DEC_2 + timedelta(days=4), DEC_2 + timedelta(days=4, hours=2))  # closed since the pass
    assert RollupPass.objects.exists()
    since, until = DEC_2.date(), clock.now.date()
    everyone = usage_by_person(since=since, until=until)
    for name in ("alice", "bob"):
        days = usage_periods(
            subject=Subject(Kind.PERSON, name), since=since, until=until, granularity="month"
        )
        assert len(days) == 1
        found = everyone[name]
        for field in ("cpu_hours", "gpu_hours", "memory_gib_hours", "runs"):
            assert getattr(found, field) == pytest.approx(getattr(days[0], field)), field
