"""JSON nested deeper than the API's parser allows is a 400 that says so, on every endpoint,
before anything is decoded (it was a RecursionError: a 500, even without a login)."""

from __future__ import annotations

import pytest

from portal.api import parsers
from portal.workspaces.models import Workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOO_DEEP = {"detail": "JSON parse error - nested deeper than 32 levels.", "code": "parse_error"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def post_json(api, path: str, body: str, **headers):
    return api.post(path, body, content_type="application/json", **headers)


def test_deep_json_to_the_token_endpoint_is_a_400_without_a_login(api):
    response = post_json(api, "/api/v1/auth/token/", nested(2000))
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


def test_deep_json_from_a_signed_in_person_is_a_400_and_creates_nothing(api, alice):
    answer = post_json(
        api, "/api/v1/auth/token/", f'{{"username": "alice", "password": "{PASSWORD}"}}'
    )
    assert answer.status_code == 200
    signed_in = {"HTTP_AUTHORIZATION": f"Token {answer.json()['token']}"}

    body = '{"name": "ok", "env": {"A": ' + nested(2000) + "}}"
    response = post_json(api, "/api/v1/workspaces/", body, **signed_in)

    assert response.status_code == 400
    assert response.json() == TOO_DEEP
    assert Workspace.objects.count() == 0


def test_one_level_too_many_is_refused_and_the_limit_itself_is_read(api, alice):
    api.force_authenticate(alice)

    too_deep = post_json(api, "/api/v1/workspaces/", '{"name": ' + nested(32) + "}")
    at_the_limit = post_json(api, "/api/v1/workspaces/", '{"name": ' + nested(31) + "}")

    assert too_deep.status_code == 400
    assert too_deep.json() == TOO_DEEP
    # Decoded and handed to the serializer, which refuses a list as a name.
    assert at_the_limit.status_code == 400
    assert at_the_limit.json() == {"name": ["Not a valid string."]}


def test_brackets_inside_strings_are_text_not_nesting(api, alice):
    brackets = '[{\\"' * 100  # escaped quotes too: they do not end the string
    response = post_json(
        api, "/api/v1/auth/token/", f'{{"username": "{brackets}", "password": "{PASSWORD}"}}'
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_a_body_that_still_exhausts_the_decoders_recursion_is_a_400(api, monkeypatch):
    # As if the limit were above what the decoder can recurse: its RecursionError is a 400 too.
    monkeypatch.setattr(parsers, "MAX_DEPTH", 10**6)
    response = post_json(api, "/api/v1/auth/token/", nested(100_000))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - nested deeper than 1000000 levels.",
        "code": "parse_error",
    }
