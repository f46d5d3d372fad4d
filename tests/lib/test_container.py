"""The MLHub image's entrypoint steps that need no container (lib/container.py)."""

from __future__ import annotations

import os

import pytest

from lib.container import Refused, prepare


def test_a_failed_set_up_step_refuses_the_start_with_the_command(tmp_path):
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "MLHUB_DATA_DIR": str(tmp_path),
        # A folder that does not exist: the first step, migrate, cannot open the database.
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing/portal.sqlite3",
    }

    with pytest.raises(Refused) as refused:
        prepare(environ)

    assert str(refused.value) == "`django-admin migrate --noinput -v 0` failed (above)"
    assert not (tmp_path / "missing").exists()
