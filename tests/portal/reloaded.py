"""portal.settings read again from a changed environment, for the settings' own tests."""

from __future__ import annotations

import importlib
from contextlib import contextmanager


@contextmanager
def reloaded_settings(monkeypatch, **environ):
    """portal.settings as it reads this environment; as before afterwards."""
    import portal.settings

    monkeypatch.setenv("SECRET_KEY", "x")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    try:
        yield importlib.reload(portal.settings)
    finally:
        monkeypatch.undo()
        importlib.reload(portal.settings)
