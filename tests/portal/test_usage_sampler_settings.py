"""MLHUB_USAGE_SAMPLE_SECONDS: checked at start, its schedule kept in step by mlhub_setup,
and 0 or -1 turning the sampler off (as CLEANUP_INTERVAL_SECONDS=-1 does cleanup)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from portal.usage.sampler import OFF, measured_use_unavailable
from portal.usage.tasks import SAMPLE_SCHEDULE
from tests.portal.reloaded import reloaded_settings, settings_refusal

BOUNDS = "must be from 60 to 86400 seconds, or 0 (or -1) for no sampling"


def setup_says() -> str:
    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    return next(line for line in out.getvalue().splitlines() if line.startswith("Usage sampler"))


@pytest.mark.django_db
def test_the_sampler_runs_every_5_minutes_by_default():
    assert setup_says() == "Usage sampler: every 5 min"
    schedule = Schedule.objects.get(name=SAMPLE_SCHEDULE)
    assert (schedule.func, schedule.minutes) == ("portal.usage.tasks.sample_task", 5)


@pytest.mark.django_db
def test_off_removes_the_schedule_and_the_usage_says_so(settings):
    setup_says()
    settings.USAGE_SAMPLE_SECONDS = None  # what 0 and -1 read as
    assert setup_says() == "Usage sampler: off"
    assert not Schedule.objects.filter(name=SAMPLE_SCHEDULE).exists()
    assert measured_use_unavailable() == OFF


@pytest.mark.parametrize(("raw", "seconds"), [("0", None), ("-1", None), ("60", 60), ("90", 90)])
def test_zero_and_minus_one_mean_off_and_the_bounds_are_taken(monkeypatch, raw, seconds):
    with reloaded_settings(monkeypatch, MLHUB_USAGE_SAMPLE_SECONDS=raw) as reloaded:
        assert reloaded.USAGE_SAMPLE_SECONDS == seconds


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-2", f"MLHUB_USAGE_SAMPLE_SECONDS=-2 {BOUNDS}"),
        ("59", f"MLHUB_USAGE_SAMPLE_SECONDS=59 {BOUNDS}"),
        ("86401", f"MLHUB_USAGE_SAMPLE_SECONDS=86401 {BOUNDS}"),
        ("99999999999999999999", f"MLHUB_USAGE_SAMPLE_SECONDS=99999999999999999999 {BOUNDS}"),
        ("nan", "MLHUB_USAGE_SAMPLE_SECONDS='nan' is not an integer"),
        ("inf", "MLHUB_USAGE_SAMPLE_SECONDS='inf' is not an integer"),
        ("1e3", "MLHUB_USAGE_SAMPLE_SECONDS='1e3' is not an integer"),
        ("5m", "MLHUB_USAGE_SAMPLE_SECONDS='5m' is not an integer"),
    ],
)
def test_a_bad_interval_stops_the_start_with_a_message(monkeypatch, raw, message):
    assert settings_refusal(monkeypatch, MLHUB_USAGE_SAMPLE_SECONDS=raw) == message
