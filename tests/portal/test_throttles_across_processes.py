"""Every throttle counts once for all of the portal's processes (gunicorn runs several
workers, Helm several pods): a count kept per process lets each of N workers pass the whole
rate. Each "worker" here is its own Python, with the portal's own settings and one SQLite
file made by ``migrate``, as in ``make run``."""

from __future__ import annotations

import json

from tests.portal.test_deploy_checks import production_environment, python_json, run_python

TOKEN = "/api/v1/auth/token/"
SIGNUP = "/api/v1/auth/signup/"

# One process: the given posts, in order, with an empty body (a 400 that still counts: the
# throttle comes before the body is read, and no password is tried, so no lockout).
WORKER = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(headers={"host": "localhost"})
answers = []
for path in json.loads(sys.argv[1]):
    response = client.post(path, {}, content_type="application/json")
    answers.append([path, response.status_code, response.json().get("detail")])
print(json.dumps(answers))
"""


def worker(environ: dict[str, str], *paths: str) -> list[list]:
    return python_json(environ, WORKER, json.dumps(paths))


def test_two_processes_share_one_count_for_every_throttle(tmp_path):
    environ = production_environment(tmp_path, MLHUB_TOKEN_RATE="3/min", MLHUB_SIGNUP_RATE="2/hour")
    migrate = run_python(environ, "-m", "django", "migrate", "--noinput", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr

    first = worker(environ, TOKEN, TOKEN, SIGNUP)
    second = worker(environ, TOKEN, SIGNUP, TOKEN, SIGNUP)

    assert [status for _, status, _ in first] == [400, 400, 400]
    # The second process has seen one of each until then: only a shared count refuses it.
    assert [status for _, status, _ in second] == [400, 400, 429, 429]
    assert second[2][2].startswith("Too many token requests from this address. Expected ")
    assert second[3][2].startswith("Request was throttled. Expected available in ")
