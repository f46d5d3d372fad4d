"""spawners/lasting.py: a condition counts from when it began, and a break starts it again."""

from __future__ import annotations

import time

from spawners.lasting import Lasting


def test_a_condition_lasts_from_its_first_sight_and_a_break_starts_the_count_again():
    lasting = Lasting()
    assert lasting.longer_than(None, 0) is False  # not holding is never "too long"
    assert lasting.longer_than("Pending", 0.2) is False
    time.sleep(0.25)
    assert lasting.longer_than("still Pending", 0.2) is True  # the same condition, other words
    assert lasting.longer_than(None, 0.2) is False
    assert lasting.since is None
    assert lasting.longer_than("Pending again", 0.2) is False
