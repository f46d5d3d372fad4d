"""The one blocking wait: returns the first truthy answer, backs off, and gives up in time."""

from __future__ import annotations

import time

import pytest

from lib.polling import poll_until


def test_it_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "done", "later"])
    assert poll_until(lambda: next(answers), timeout=5, what="x", first_wait=0.001) == "done"


def test_it_slows_down_up_to_its_longest_wait(monkeypatch):
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    answers = iter([False] * 6 + [True])
    poll_until(lambda: next(answers), timeout=60, what="x", first_wait=0.1, max_wait=0.5)
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_it_gives_up_naming_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        poll_until(lambda: False, timeout=0.3, what="the hub never answered", first_wait=0.05)
    assert str(caught.value) == "the hub never answered after 0.3 s"
    assert time.monotonic() - started < 1
