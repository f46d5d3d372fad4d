"""Waiting for the database to answer: PostgreSQL may start beside the portal (compose, a
chart's database), and a start should wait for it rather than fail or restart in a loop.

One wait for every start: ``mlhub_setup --wait-for-database`` (the portal's set-up) and
``mlhub_wait_for_database`` (a container with the task cluster alone, deploy/hub/entrypoint.py).
"""

from __future__ import annotations

import argparse
import math

from django.core.management.base import CommandError
from django.db import OperationalError, connection

from lib.polling import poll_until


def wait_seconds(raw: str) -> float:
    """An argparse type: seconds to wait, a finite number of 0 or more (NaN would wait
    forever: no deadline compares as passed)."""
    try:
        seconds = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(f"{raw!r} must be a finite number of seconds, 0 or more")
    return seconds


def database_wait(seconds: float) -> None:
    """Until the database server answers, ``seconds`` at most; then a CommandError with its
    last error (a wrong password is said as such, after the wait). SQLite's is a file:
    nothing to wait for, and one that cannot be opened is said by the next step."""
    if connection.vendor == "sqlite":
        return
    last = {"error": ""}

    def answers() -> bool:
        try:
            connection.ensure_connection()
        except OperationalError as error:
            last["error"] = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return False
        return True

    try:
        poll_until(answers, timeout=seconds, what="the database did not answer", max_wait=3)
    except TimeoutError as error:
        raise CommandError(f"{error}: {last['error']}") from None
