"""What people are told when their workspace went away without anyone stopping it."""

from __future__ import annotations

import pytest

from spawners.state_reports import exit_reason

KILLED = "The workspace was killed (signal 9: out of memory, or from outside)"


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (-9, KILLED),  # a process killed by SIGKILL
        (137, KILLED),  # a container's exit code for the same
        ("ExitCode=137, Error='', FinishedAt=2026-11-26T16:00:00Z", KILLED),  # dockerspawner
        (1, "The workspace exited by itself (exit status 1)"),
        ("ExitCode=2, Error='', FinishedAt=x", "The workspace exited by itself (exit status 2)"),
        (0, "The workspace stopped by itself (its server ended, or it was removed outside MLHub)"),
        ("gone", "The workspace stopped by itself (gone)"),
    ],
)
def test_the_reason_says_what_the_status_means(status, said):
    assert exit_reason(status) == said
