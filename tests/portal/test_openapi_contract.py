"""The published contract, ``/api/v1/schema/``, is valid OpenAPI that generated clients accept,
and drf-spectacular generates it without a warning (a warning is a part of the API it had
to guess)."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_the_published_schema_is_valid_openapi(api):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    spec = yaml.safe_load(response.content)
    assert spec["openapi"].startswith("3.")
    validate(spec)  # raises, naming the part, on anything OpenAPI does not allow


def test_drf_spectacular_generates_it_without_a_warning(tmp_path):
    schema = tmp_path / "schema.yaml"
    # --fail-on-warn: any warning or error of the generator fails the command.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(schema))
    assert yaml.safe_load(schema.read_text())["paths"]
