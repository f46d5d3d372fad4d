"""Shared personas: alice (user), bob (another user), carol (admin), mallory (not approved)."""

from __future__ import annotations

import pytest

PASSWORD = "correct-horse-battery"

# pytest-xdist (`make test-fast`, `pytest -n`): one test at a time to whichever worker is free,
# in collection order, as `--dist load` does, so that on each worker pytest-django's order still
# holds (a transactional test empties that worker's database, rows of data migrations included,
# so it runs after the worker's other database tests); except that the tests of these paths all
# run on one worker, one after another. tests/spawners/: its Docker tests remove whatever
# carries their hub's label before and after each test or module, and a module's in-process
# hub is made once. test_installable.py: its wheel is built once. (xdist_group marks with
# --dist loadgroup no longer group anything on pytest 9.2: pytest-xdist#1386.)
ONE_WORKER = ("tests/spawners/", "tests/lib/test_installable.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "load":
        return None  # another --dist asked for by name
    from xdist.scheduler import LoadScopeScheduling

    class OneTestAtATimeButSomePathsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((path for path in ONE_WORKER if nodeid.startswith(path)), nodeid)

    return OneTestAtATimeButSomePathsTogether(config, log)


# More than pyproject.toml's 600 s: tests/deploy and the `mlhub` image fixture build the MLHub
# (and compose's PostgreSQL) image when it is not built from this checkout yet (about four
# minutes here; .ci/run builds them before the tests), then start it; tests/upgrade builds the
# release's image and virtualenv once a machine.
IMAGE_BUILD_TIMEOUT = 1800


# The folders whose tests run at the end of their tier, in this order (`make test` runs
# tests/soak in a pytest of its own, after the Docker tests: Makefile SOAK).
LAST = ("browser", "soak")


def pytest_collection_modifyitems(config, items):
    # The browser tests last (a stable sort: each module's order kept): `make test` runs the
    # chart's releases in the cluster beside the first part of the other lanes (Makefile
    # FIRST_CLUSTER_TESTS), beside Docker's tests rather than Chromium's. After them the soak,
    # which restarts the Docker engine: no other test may have a container then.
    items.sort(
        key=lambda item: (
            LAST.index(item.path.parent.name) + 1 if item.path.parent.name in LAST else 0
        )
    )
    if not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        builds = item.path.parent.name in ("deploy", "upgrade") or "mlhub" in item.fixturenames
        if builds and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(IMAGE_BUILD_TIMEOUT))


@pytest.fixture(autouse=True)
def _hub_is_down_unless_started(settings):
    # Unit tests talk to a hub address where nothing listens: every hub call is a real
    # connection refusal (503), never a silent success.
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"
    settings.HUB_API_TOKEN = "unit-test-token"


@pytest.fixture
def fresh_throttles(db):
    """No throttle counts from before (they live in Django's cache), none left after."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _person(django_user_model, username: str, **extra):
    from portal.accounts.models import User

    approval = extra.pop("approval", User.Approval.APPROVED)
    return django_user_model.objects.create_user(
        username=username, password=PASSWORD, approval=approval, **extra
    )


@pytest.fixture
def make_person(db, django_user_model):
    """``make_person(username, **fields)``: an approved person with PASSWORD, like alice."""
    return lambda username, **extra: _person(django_user_model, username, **extra)


@pytest.fixture
def alice(db, django_user_model):
    return _person(django_user_model, "alice")


@pytest.fixture
def bob(db, django_user_model):
    return _person(django_user_model, "bob")


@pytest.fixture
def carol(db, django_user_model):
    return _person(django_user_model, "carol", is_staff=True)


@pytest.fixture
def mallory(db, django_user_model):
    from portal.accounts.models import User

    return _person(django_user_model, "mallory", approval=User.Approval.PENDING)


@pytest.fixture
def workspace_of(db):
    """Make a workspace row directly (no hub involved): ``workspace_of(alice, state=...)``."""
    from portal.workspaces.models import Workspace, WorkspaceTemplate

    def make(owner, name: str = "thesis", **fields):
        defaults = {"image": "mlhub-workspace:latest", "cpu": 1, "memory": 2**30}
        template = fields.pop("template", None) or WorkspaceTemplate.objects.get(name="default")
        return Workspace.objects.create(
            owner=owner, name=name, template=template, **{**defaults, **fields}
        )

    return make


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


# One real stack for the whole session, shared by the integration and browser tests.
# The MLHub image, run once for the session (tests/deploy/, tests/browser/).
from tests.deploy.mlhub_image import mlhub  # noqa: E402,F401
from tests.docker_engine import docker_client  # noqa: E402,F401
from tests.hub_stack import hub  # noqa: E402,F401


@pytest.fixture
def hub_double(monkeypatch):
    """``hub_double(double)``: every caller of the hub in the portal gets ``double`` (an
    instance, or a class for a new one per call) from the one seam,
    ``portal.hub.client.hub_client``, which no module imports by name
    (tests/portal/test_hub_seam.py)."""

    def install(double):
        make = double if isinstance(double, type) else lambda: double
        monkeypatch.setattr("portal.hub.client.hub_client", make)
        return double

    return install
