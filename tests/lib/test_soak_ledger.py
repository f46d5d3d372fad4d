"""The soak's ledger (bench/soak_ledger.py): a failure is the fault's own only when it
overlapped the fault's window, its settling time included; any other is unexplained."""

from __future__ import annotations

import time

from bench.soak_ledger import Ledger


def test_a_failure_during_a_fault_is_the_faults_own():
    ledger = Ledger(settle=5)
    window = ledger.fault_started("hub")
    ledger.failed("create", "POST workspaces 503", started=time.monotonic())
    ledger.fault_ended(window)
    assert ledger.during_faults == {("create", "hub"): 1}
    assert ledger.failures == {}


def test_a_failure_while_the_fault_settles_is_still_its_own():
    ledger = Ledger(settle=5)
    window = ledger.fault_started("portal")
    ledger.fault_ended(window)
    window.started -= 10  # the fault ended just now, after 10 s
    window.ended -= 3  # ... and 3 s ago: within the 5 s of settling
    ledger.failed("open", "open 503", started=time.monotonic())
    assert ledger.during_faults == {("open", "portal"): 1}


def test_a_failure_after_the_settling_time_is_unexplained_with_an_example():
    ledger = Ledger(settle=5)
    window = ledger.fault_started("proxy")
    ledger.fault_ended(window)
    window.started, window.ended = window.started - 30, window.ended - 20
    ledger.failed("stop", "became error", started=time.monotonic(), message="spawner died")
    ledger.failed("stop", "became error", started=time.monotonic(), message="another")
    assert ledger.failures == {("stop", "became error"): 2}
    assert ledger.examples == {("stop", "became error"): "spawner died"}
    assert ledger.during_faults == {}


def test_an_operation_begun_before_a_fault_and_failing_in_it_is_the_faults():
    ledger = Ledger(settle=0)
    begun = time.monotonic() - 60  # a start waiting a minute, then the engine restarts
    ledger.fault_started("engine")  # not recovered yet: its window is open
    ledger.failed("start", "not running in 180s", started=begun)
    assert ledger.during_faults == {("start", "engine"): 1}


def test_recovery_is_the_longest_of_each_kind():
    ledger = Ledger()
    for took in (2.0, 7.5):
        window = ledger.fault_started("hub")
        window.started -= took
        ledger.fault_ended(window)
    assert round(ledger.recovery_seconds()["hub"]) == 8
    assert ledger.fault_counts() == {"hub": 2}
