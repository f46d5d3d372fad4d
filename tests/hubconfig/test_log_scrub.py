"""The hub's log scrubbing: secret URL parameters, encoded or not, in any record of the process.

The lines are the hub's own, as it wrote them before the scrubbing (the secrets made up).
"""

from __future__ import annotations

import io
import logging

import pytest
from jupyterhub.log import CoroutineLogFormatter

from hubconfig.log_scrub import install, scrub

TOKEN = "d884c4a0e7b14c4f9c1d2e3f4a5b6c7d"
STATE = "eyJzdGF0ZV9pZCI6ICIyZjNhYTA4ZTI3MGI0OTA1YmIwZDk1ZjNiNTNhMjJhMyJ9"


def test_it_scrubs_a_token_in_a_redirects_next_encoded_once():
    line = f"302 GET /hub/home?token=[secret] -> /hub/login?next=%2Fhub%2Fhome%3Ftoken%3D{TOKEN}"
    assert scrub(line) == (
        "302 GET /hub/home?token=[secret] -> /hub/login?next=%2Fhub%2Fhome%3Ftoken%3D[secret]"
    )


def test_it_scrubs_a_state_in_a_next_and_keeps_what_is_not_secret():
    line = (
        "302 GET /hub/login?next=%2Fhub%2Fapi%2Foauth2%2Fauthorize%3Fclient_id%3Djupyterhub-user"
        "-sam-logs%26redirect_uri%3Dhttp%253A%252F%252Fsam.localhost%253A45659%252Foauth_callback"
        f"%26response_type%3Dcode%26state%3D{STATE}%253D%26x%3D1 -> /hub/oauth_login (@127.0.0.1)"
    )
    assert scrub(line) == (
        "302 GET /hub/login?next=%2Fhub%2Fapi%2Foauth2%2Fauthorize%3Fclient_id%3Djupyterhub-user"
        "-sam-logs%26redirect_uri%3Dhttp%253A%252F%252Fsam.localhost%253A45659%252Foauth_callback"
        "%26response_type%3Dcode%26state%3D[secret]%26x%3D1 -> /hub/oauth_login (@127.0.0.1)"
    )


def test_it_scrubs_a_code_encoded_twice():
    line = f"next=%2Fuser%2Fsam%2Foauth_callback%253Fcode%253Dabc123%2526access_token%253D{TOKEN}"
    assert scrub(line) == (
        "next=%2Fuser%2Fsam%2Foauth_callback%253Fcode%253D[secret]%2526access_token%253D[secret]"
    )


def test_it_scrubs_tornados_line_for_a_refused_login():
    line = (
        f"403 GET /hub/oauth_callback?code=stcinxZTA4fX&state={STATE}&iss=http%3A%2F%2Flocalhost"
        " (127.0.0.1): Your account is waiting for an administrator's approval."
    )
    assert scrub(line) == (
        "403 GET /hub/oauth_callback?code=[secret]&state=[secret]&iss=http%3A%2F%2Flocalhost"
        " (127.0.0.1): Your account is waiting for an administrator's approval."
    )


@pytest.mark.parametrize(
    "name", ["token", "access_token", "code", "state", "_xsrf", "TOKEN", "client_secret"]
)
def test_it_scrubs_every_secret_name_in_a_query(name):
    assert scrub(f"GET /x?a=1&{name}=s3cr3t;b=2") == f"GET /x?a=1&{name}=[secret];b=2"


def test_it_leaves_lines_without_secrets_as_they_are():
    line = "200 GET /hub/api/users/sam?include_stopped_servers=1&next=%2Fhub%2F (sam@1.2.3.4) 1ms"
    assert scrub(line) == line
    assert scrub("token=[secret]") == "token=[secret]"


@pytest.fixture
def hub_log():
    """What the hub's handler writes, with scrubbing installed the way the config does."""
    factory = logging.getLogRecordFactory()
    install(CoroutineLogFormatter())
    install(CoroutineLogFormatter())  # once only, however often the config is loaded
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(CoroutineLogFormatter(fmt="%(message)s", color=False))
    hub = logging.getLogger("mlhub-test-hub")
    hub.addHandler(handler)
    # As JupyterHub hooks tornado's loggers up to its own: records logged on a child logger
    # reach the hub's handlers without passing any filter of the hub's logger.
    general = logging.getLogger("mlhub-test-hub.general")
    yield general, out
    hub.removeHandler(handler)
    logging.setLogRecordFactory(factory)


def test_a_record_of_any_logger_is_scrubbed_with_its_arguments(hub_log):
    general, out = hub_log
    general.warning(
        "%d %s: %s", 403, f"GET /hub/api/users/sam?token={TOKEN} (127.0.0.1)", "Missing"
    )
    assert out.getvalue() == "403 GET /hub/api/users/sam?token=[secret] (127.0.0.1): Missing\n"
    assert logging.getLogRecordFactory()("x", 20, "", 0, "token=%s", (TOKEN,), None).msg == (
        "token=[secret]"
    )


def test_a_traceback_is_scrubbed(hub_log):
    general, out = hub_log
    try:
        raise ValueError(f"fetching http://portal/o/token/?code={TOKEN}")
    except ValueError:
        general.exception("Uncaught exception GET /hub/oauth_callback?state=%s", STATE)
    assert TOKEN not in out.getvalue()
    assert STATE not in out.getvalue()
    assert "ValueError: fetching http://portal/o/token/?code=[secret]" in out.getvalue()
