"""`mlhub_setup --collectstatic --wait-for-database=N --migrate`: a start's whole set-up in one
Django process (`make run`, the image's entry point, the chart's init container). The wait on a
database server that never answers: tests/lib/test_image_entrypoint.py."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.accounts.models import User


@pytest.mark.django_db
def test_one_call_collects_the_static_files_and_sets_up(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    out = StringIO()
    # SQLite's database is a file: nothing to wait for, so the wait ends at once.
    call_command("mlhub_setup", "--collectstatic", "--wait-for-database=600", stdout=out)
    collected = settings.STATIC_ROOT / "vendor" / "bootstrap" / "bootstrap.min.css"
    assert collected.is_file()
    assert collected.with_name("bootstrap.min.css.gz").is_file()  # compressed, as served
    assert "Hub OAuth2 client:" in out.getvalue()
    assert User.objects.filter(username="admin", is_superuser=True).exists()


@pytest.mark.django_db
def test_without_the_option_nothing_is_collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("mlhub_setup", stdout=StringIO())
    assert not settings.STATIC_ROOT.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "soon"])
def test_a_wait_outside_its_edges_is_refused_before_anything_is_set_up(raw):
    # NaN seconds would have waited forever: no deadline compares as passed.
    with pytest.raises(CommandError, match="--wait-for-database"):
        call_command("mlhub_setup", f"--wait-for-database={raw}", stdout=StringIO())
    assert not User.objects.filter(username="admin").exists()
