"""The workspace API refuses bad input and other people's workspaces, and changes nothing."""

from __future__ import annotations

import pytest

from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_workspace(alice, workspace_of):
    return workspace_of(alice)


def test_it_needs_authentication(api):
    response = api.get("/api/v1/workspaces/")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_it_refuses_people_waiting_for_approval(api, mallory):
    api.force_authenticate(mallory)
    response = api.get("/api/v1/workspaces/")
    assert response.status_code == 403
    assert "approval" in response.json()["detail"]


@pytest.mark.parametrize("name", ["", "Thesis", "1st", "a_b", "x" * 31, "-a", "a b"])
def test_it_refuses_bad_workspace_names(api, alice, name):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": name}, format="json")
    assert response.status_code == 400
    assert "detail" in response.json() or "name" in response.json()
    assert not Workspace.objects.exists()


def test_it_refuses_an_unknown_template(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "template": "huge"}, format="json")
    assert response.status_code == 400
    assert "Unknown template" in response.json()["detail"]
    assert not Workspace.objects.exists()


@pytest.mark.parametrize(
    "options", [{"cpu": 64}, {"memory": "1T"}, {"image": "evil/miner"}, {"cpu": "lots"}]
)
def test_it_refuses_resources_outside_the_template(api, alice, options):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", **options}, format="json")
    assert response.status_code == 400, response.json()
    assert not Workspace.objects.exists()


@pytest.mark.parametrize(
    ("cpu", "typed"),
    [(1e-7, "1e-07"), ("1e-7", "1e-7"), ("0.009", "0.009"), ("1m", "1m"), (0, "0"), (-1, "-1")],
)
def test_it_refuses_cpu_below_the_minimum_with_a_400_and_creates_nothing(api, alice, cpu, typed):
    # 1e-7 core once reached Docker as NanoCpus=100: a CFS quota of 0, no limit at all.
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "cpu": cpu}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json() == {
        "detail": f"cpu {typed} is below the minimum of 0.01 cores",
        "code": "invalid",
    }
    assert Workspace.objects.count() == 0


@pytest.mark.parametrize("cpu", ["nan", "inf", "1e400", pytest.param(10**400, id="10**400")])
def test_it_refuses_cpu_that_is_not_a_finite_number_with_a_400(api, alice, cpu):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "cpu": cpu}, format="json")
    assert response.status_code == 400, response.json()
    assert "is not a number of cores" in response.json()["detail"]
    assert Workspace.objects.count() == 0


@pytest.mark.parametrize("cpu", [0.01, "0.01", "10m", 2])  # 2: the default template's maximum
def test_cpu_from_the_minimum_to_the_templates_maximum_passes_the_checks(api, alice, cpu):
    # It gets as far as the hub, which is down in unit tests (503), and nothing is left behind.
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "cpu": cpu}, format="json")
    assert response.status_code == 503, response.json()
    assert Workspace.objects.count() == 0


def test_a_hub_that_is_down_is_a_503_and_leaves_nothing(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok"}, format="json")
    assert response.status_code == 503
    assert "JupyterHub" in response.json()["detail"]
    assert not Workspace.objects.exists()


def test_a_duplicate_name_is_a_conflict(api, alice, alices_workspace):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "thesis"}, format="json")
    assert response.status_code == 409
    assert Workspace.objects.count() == 1


def test_it_hides_someone_elses_workspace(api, bob, alices_workspace):
    api.force_authenticate(bob)
    base = f"/api/v1/workspaces/{alices_workspace.pk}/"
    assert api.get(base).status_code == 404
    assert api.post(base + "start/").status_code == 404
    assert api.post(base + "stop/").status_code == 404
    assert api.delete(base).status_code == 404
    assert api.get("/api/v1/workspaces/").json()["results"] == []
    assert Workspace.objects.filter(pk=alices_workspace.pk).exists()


def test_only_admins_create_for_others(api, bob, alice):
    api.force_authenticate(bob)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "owner": "alice"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only administrators may create workspaces for others.",
        "code": "admin_only",
    }
    assert not Workspace.objects.exists()


def test_admins_creating_for_nobody_get_a_404(api, carol):
    api.force_authenticate(carol)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "owner": "ghost"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No user named 'ghost'", "code": "not_found"}
    assert not Workspace.objects.exists()


def test_admins_see_every_workspace(api, carol, alices_workspace):
    api.force_authenticate(carol)
    names = [w["name"] for w in api.get("/api/v1/workspaces/").json()["results"]]
    assert names == ["thesis"]


def test_stop_of_a_stopped_workspace_is_a_conflict(api, alice, alices_workspace):
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{alices_workspace.pk}/stop/")
    assert response.status_code == 409
    assert "already stopped" in response.json()["detail"]


def test_delete_while_the_hub_is_down_keeps_the_workspace(api, alice, alices_workspace):
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/workspaces/{alices_workspace.pk}/")
    assert response.status_code == 503
    assert Workspace.objects.filter(pk=alices_workspace.pk).exists()


def test_unknown_api_paths_are_json_404s(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert "No API endpoint" in response.json()["detail"]


RESERVED = "see docs/configuration.md"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PATH": "/tmp"},
            f"env name 'PATH' is reserved (set by the hub or the image); {RESERVED}",
        ),
        (
            {"jupyterhub_api_token": "x"},
            "env name 'jupyterhub_api_token' is reserved (set by the hub or the image); "
            f"{RESERVED}",
        ),
        (
            {"JUPYTER_TOKEN": "x"},
            f"env name 'JUPYTER_TOKEN' is reserved (it configures the Jupyter server); {RESERVED}",
        ),
        (
            {"MLHUB_HUB_API_TOKEN": "x"},
            f"env name 'MLHUB_HUB_API_TOKEN' is reserved (MLHub's own settings); {RESERVED}",
        ),
        (
            {"LD_PRELOAD": "/tmp/x.so"},
            f"env name 'LD_PRELOAD' is reserved (it changes which code the workspace loads); "
            f"{RESERVED}",
        ),
        ({"MY-VAR": "x"}, "env name 'MY-VAR' is not valid: use letters, digits and _"),
        (
            {"A" * 129: "x"},
            "env name 'AAAAAAAAAAAAAAAAAAAA'... is 129 characters long, above the maximum of 128",
        ),
        (
            {"BIG": "x" * 32769},
            "env BIG is 32769 bytes long, above the maximum of 32768 bytes",
        ),
        (
            {f"V{i}": "x" for i in range(65)},
            "env has 65 variables, above the maximum of 64",
        ),
        (
            {f"V{i}": "x" * 30000 for i in range(5)},
            "env is 150015 bytes in all (NAME=value), above the maximum of 131072 bytes",
        ),
        (
            {"SECRET": "a\x00b"},
            "env SECRET contains the control character U+0000; values may hold tab and newline "
            "but no other control characters",
        ),
        (
            {"SECRET": "\x1b[31m"},
            "env SECRET contains the control character U+001B; values may hold tab and newline "
            "but no other control characters",
        ),
        ({"A": 5}, "env A must be a string, not int"),
        (["A=b"], "env must be an object of NAME: value strings"),
    ],
    ids=[
        "reserved-path",
        "reserved-hub-prefix-any-case",
        "reserved-jupyter",
        "reserved-mlhub",
        "reserved-code-loading",
        "bad-name",
        "name-too-long",
        "value-too-long",
        "too-many",
        "total-too-big",
        "nul",
        "escape",
        "not-a-string",
        "not-an-object",
    ],
)
def test_it_refuses_bad_env_with_a_400_and_creates_nothing(api, alice, env, message):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "ok", "env": env}, format="json")
    # 400, not the hub-is-down 503: refused before any call to the hub
    assert response.status_code == 400, response.json()
    assert response.json() == {"detail": message, "code": "invalid"}
    assert Workspace.objects.count() == 0


def test_it_refuses_a_lone_surrogate_in_env_with_a_400(api, alice):
    api.force_authenticate(alice)
    body = '{"name": "ok", "env": {"A": "x\\ud800"}}'  # valid JSON, not valid UTF-8 text
    response = api.post("/api/v1/workspaces/", body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json() == {
        "detail": "env A is not valid text: it holds a lone UTF-16 surrogate",
        "code": "invalid",
    }
    assert Workspace.objects.count() == 0


def test_good_env_passes_the_checks_and_reaches_the_hub(api, alice):
    # Tab and newline (a PEM key) are fine: the request gets as far as the hub, which is down
    # in unit tests (503), and nothing is left behind.
    api.force_authenticate(alice)
    env = {"KEY": "-----BEGIN KEY-----\nabc\tdef\n-----END KEY-----\n", "path_extra": "x"}
    response = api.post("/api/v1/workspaces/", {"name": "ok", "env": env}, format="json")
    assert response.status_code == 503, response.json()
    assert Workspace.objects.count() == 0
