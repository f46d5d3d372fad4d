"""A NUL character in a request's parameters or address is a 400 and reaches no database
(on PostgreSQL it was a 500: tests/portal/test_api_fuzz.py found it on the audit API)."""

from __future__ import annotations

import pytest

from portal.nul_bytes import REFUSED

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit/?actor=a%00b",
        "/api/v1/audit/?%00=x",
        "/api/v1/workspaces/?owner=alice%00",
        "/api/v1/users/?search=%00",
    ],
)
def test_the_api_refuses_a_nul_in_a_parameter(api, carol, url):
    api.force_authenticate(carol)
    response = api.get(url)
    assert response.status_code == 400
    assert response.json() == {"detail": REFUSED, "code": "invalid"}


def test_pages_refuse_it_too(client, carol):
    client.force_login(carol)
    response = client.get("/admin/audit/auditentry/?q=%00")
    assert response.status_code == 400
    assert response.content.decode() == REFUSED


def test_a_parameter_without_one_is_answered(api, carol):
    api.force_authenticate(carol)
    assert api.get("/api/v1/audit/?actor=carol").status_code == 200
