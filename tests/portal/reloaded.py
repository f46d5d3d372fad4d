"""portal.settings read again from a changed environment, for the settings' own tests."""

from __future__ import annotations

import importlib
from contextlib import contextmanager

import pytest
from django.core.exceptions import ImproperlyConfigured


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


def settings_refusal(monkeypatch, **environ) -> str:
    """What portal.settings stops with in this environment (it must stop)."""
    with pytest.raises(ImproperlyConfigured) as stopped:
        with reloaded_settings(monkeypatch, **environ):
            pass
    return str(stopped.value)
