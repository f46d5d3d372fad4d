"""CI's short soak (issue 24): bench/soak.py for two minutes, six people, every fault at
least once, the Docker engine's restart included; nothing lost, nothing leaked.

`make test` runs it after every test that uses the Docker engine (Makefile SOAK): the
engine's restart takes every container on it down. What runs beside it uses no engine (the
integration tests without Docker, refused one if they try, tests/docker_engine.py) or waits
for the restart to end (the cluster tests' image copies, a lock). The 30-minute soak is the
benchmark's (bench/README.md, docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.soak_faults import KINDS, engine_restartable
from lib.stack import ROOT, docker_answers
from tests.parts import require

pytestmark = [pytest.mark.hub, pytest.mark.timeout(1200)]


def test_a_short_soak_with_every_fault_loses_and_leaks_nothing(tmp_path, capsys):
    require(docker_answers(), "no Docker engine answers")
    require(not engine_restartable(), f"the soak cannot restart the engine: {engine_restartable()}")
    result_file = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "2", "--people", "6"]
        + ["--json", str(result_file)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=1100,
    )
    with capsys.disabled():  # the soak's table in the run's output, pass or fail
        print("\n" + run.stdout[-6000:])
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(result_file.read_text())
    assert set(result["faults"]) == set(KINDS), result["faults"]
    assert set(result["operations"]) >= {"create", "open", "stop", "start", "delete"}
    assert result["unexplained failures"] == {}, result["examples"]
    assert result["unplanned exits"] == {}, "\n\n".join(result["unplanned exits, how"])
    assert result["leaked"] == {}
    assert result["not answering"] == []
    assert result["lost files"] == []
