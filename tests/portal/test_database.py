from __future__ import annotations

import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_portal_uses_the_database_that_database_url_names():
    wanted = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == wanted
