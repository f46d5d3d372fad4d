"""The Helm chart deploy/helm/mlhub, rendered by the real Helm 3.17.1 of `make setup`.

Every rendered object is checked offline against the Kubernetes 1.20 API schemas (the target
cluster's version) and against 1.30's (tests/kube_schemas.py); tests/k8s/test_chart_on_cluster.py
sends the same renders to a real 1.20.2 API server.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.kube_schemas import SCHEMAS_1_30, kubernetes_1_30_errors
from tests.parts import require
from tests.pod_security import violations

# kubernetes_validate 1.24.1 still uses pkg_resources, distutils versions and RefResolver.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mlhub"
HELM = ROOT / ".tools" / "bin" / "helm"
RELEASE = "rel"
NAMESPACE = "team-a"
KUBE_VERSION = "1.20.0"

# Not a usable certificate: Helm only encodes it, and the schemas only see base64.
FAKE_CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
DATABASE_URL = "postgres://mlhub:db-password-x7@db.example.org:5432/mlhub"
# Zero to JupyterHub's way: the password apart (hub.db.password).
HUB_DATABASE_URL = "postgresql+psycopg2://jupyterhub@hubdb.example.org:5432/jupyterhub"
USER_CONFIG = "c.Spawner.start_timeout = 300\nc.JupyterHub.concurrent_spawn_limit = 50\n"

HTTPS_MANUAL = (
    "--set",
    "proxy.https.enabled=true",
    "--set-file",
    "proxy.https.manual.cert={cert}",
    "--set-file",
    "proxy.https.manual.key={key}",
)
INGRESS = ("--set", "ingress.enabled=true", "--set", "ingress.hosts={hub.example.org}")
METRICS_TOKEN = "scraper-token-0123456789"
SCRAPER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
METRICS = (
    "--set",
    f"metrics.token={METRICS_TOKEN}",
    "--set",
    "metrics.annotations=true",
    "--set-json",
    f"metrics.from=[{json.dumps(SCRAPER)}]",
)
VARIANTS = {
    "defaults": (),
    "postgresql": ("--set", f"postgresql.url={DATABASE_URL}"),
    "postgresql-two-portals": (
        "--set",
        f"postgresql.url={DATABASE_URL}",
        "--set",
        "portal.replicas=2",
    ),
    "https-manual": HTTPS_MANUAL,
    "ingress": INGRESS,
    "ingress-https-manual": INGRESS + HTTPS_MANUAL,
    "https-existing-secret": (
        "--set",
        "proxy.https.enabled=true",
        "--set",
        "proxy.https.type=secret",
        "--set",
        "proxy.https.secret.name=hub-cert",
        "--set",
        "proxy.service.type=LoadBalancer",
    ),
    "user-config": ("--set-file", "userConfig={user_config}"),
    "everything": INGRESS
    + HTTPS_MANUAL
    + (
        "--set",
        f"postgresql.url={DATABASE_URL}",
        "--set",
        "mlhub.secretToken=proxy-token-given-1234",
        "--set-file",
        "userConfig={user_config}",
        "--set",
        "singleuser.gpu.max=2",
        "--set",
        "singleuser.images={registry.example.org/gpu:1,mlhub-workspace:2}",
        "--set",
        "nodeSelector.pool=core",
        "--set",
        "mlhub.env.MLHUB_BRAND_NAME=Lab",
        *METRICS,
    ),
    "no-network-policy": ("--set", "networkPolicy.enabled=false"),
    "hub-database-of-its-own": (
        "--set",
        f"hub.db.url={HUB_DATABASE_URL}",
        "--set",
        "hub.db.password=hub-db-password-q4",
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("values")
    paths = {}
    for name, text in (("cert", FAKE_CERT), ("key", FAKE_KEY), ("user_config", USER_CONFIG)):
        path = folder / name
        path.write_text(text)
        paths[name] = str(path)
    return paths


@functools.cache
def _helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def helm(*args: str) -> subprocess.CompletedProcess:
    require(HELM.exists(), f"{HELM} is missing: run `make setup`")
    return _helm(*args)


def render(*args: str, files: dict[str, str] | None = None) -> list[dict]:
    for name, path in (files or {}).items():
        args = tuple(arg.replace(f"{{{name}}}", path) for arg in args)
    result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def refused(*args: str) -> str:
    result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert result.returncode != 0, "helm rendered values it should refuse"
    return result.stderr


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {[o['metadata']['name'] for o in objects]}"
    return found[0]


def names(objects: list[dict], kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == kind}


def containers(pod_spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod_spec.get("initContainers", []) + pod_spec["containers"]}


def plain_env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] == "Deployment"
    }


def secret_data(objects: list[dict], name: str = f"{RELEASE}-secrets") -> dict[str, str]:
    data = one(objects, "Secret", name)["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


# Lint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_helm_lint_passes(strict):
    result = helm("lint", str(CHART), *(["--strict"] if strict else []))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_the_chart_targets_kubernetes_1_20():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.20.0-0"
    refusal = refused("--kube-version", "1.19.9")
    assert "chart requires kubeVersion: >=1.20.0-0" in refusal


# Every object against the 1.20 and the 1.30 API ---------------------------------------------
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_is_valid_kubernetes_1_20(variant, files):
    objects = render(*VARIANTS[variant], files=files)
    assert objects
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_is_valid_kubernetes_1_30(variant, files):
    require(SCHEMAS_1_30.is_dir(), f"{SCHEMAS_1_30} is missing: run `make setup`")
    objects = render(*VARIANTS[variant], files=files)
    assert objects
    errors = {f"{o['kind']} {o['metadata']['name']}": kubernetes_1_30_errors(o) for o in objects}
    assert errors == dict.fromkeys(errors, [])


def test_the_defaults_render_the_parts_of_a_sqlite_trial(files):
    objects = render()
    assert names(objects, "Deployment") == {
        f"{RELEASE}-portal",
        f"{RELEASE}-hub",
        f"{RELEASE}-proxy",
    }
    assert names(objects, "Service") == {
        f"{RELEASE}-portal",
        f"{RELEASE}-hub",
        f"{RELEASE}-proxy-api",
        f"{RELEASE}-proxy-public",
    }
    assert names(objects, "PersistentVolumeClaim") == {
        f"{RELEASE}-portal-data",
        f"{RELEASE}-hub-data",
    }
    assert names(objects, "Ingress") == set()
    assert names(objects, "ConfigMap") == set()
    public = one(objects, "Service", f"{RELEASE}-proxy-public")["spec"]
    assert public["type"] == "ClusterIP"
    assert public["ports"] == [{"name": "http", "port": 80, "targetPort": "proxy-public"}]
    assert public["selector"]["mlhub.component"] == "proxy"


# The proxy apart from the hub ----------------------------------------------------------------
def test_the_proxy_runs_apart_and_the_hub_neither_starts_nor_stops_it():
    specs = pod_specs(render("--set", f"postgresql.url={DATABASE_URL}"))
    proxy = containers(specs[f"{RELEASE}-proxy"])["proxy"]
    assert proxy["command"] == ["mlhub-entrypoint", "run", "chp"]
    env = plain_env(proxy)
    assert env["MLHUB_BIND_URL"] == "http://0.0.0.0:8000"
    assert env["MLHUB_PROXY_API_URL"] == "http://0.0.0.0:8001"
    assert env["MLHUB_PORTAL_URL"] == f"http://{RELEASE}-portal:8010"  # its default target
    assert env["MLHUB_CHP_PATH"] == "/opt/mlhub/proxy/node_modules/.bin/configurable-http-proxy"
    assert "DATABASE_URL" not in {e["name"] for e in proxy["env"]}
    assert specs[f"{RELEASE}-proxy"]["automountServiceAccountToken"] is False
    hub = containers(specs[f"{RELEASE}-hub"])["hub"]
    assert plain_env(hub)["MLHUB_PROXY_EXTERNAL"] == "true"
    assert plain_env(hub)["MLHUB_PROXY_API_URL"] == f"http://{RELEASE}-proxy-api:8001"
    assert [port["name"] for port in hub["ports"]] == ["hub-api"]


def test_the_proxys_pod_does_not_restart_with_the_hubs_settings():
    """Nothing of the hub's (its secrets, its override file) is in the proxy's pod template:
    an upgrade that changes them restarts the hub, and the proxy keeps its routes."""
    plain = one(render(), "Deployment", f"{RELEASE}-proxy")["spec"]["template"]
    changed = one(render("--set", "userConfig=c.X = 1"), "Deployment", f"{RELEASE}-proxy")
    assert changed["spec"]["template"] == plain
    assert "annotations" not in plain["metadata"]


# RBAC ----------------------------------------------------------------------------------------
ROLE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "create", "delete"]},
    {
        "apiGroups": [""],
        "resources": ["persistentvolumeclaims"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "delete"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "create", "delete"],
    },
    # The usage sampler's reading of what pods use (spawners/cleanup/kube_backend.py).
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["list"]},
]


def test_the_role_grants_exactly_what_the_spawner_and_cleanup_use():
    objects = render()
    role = one(objects, "Role", f"{RELEASE}-hub")
    assert role["rules"] == ROLE_RULES
    assert names(objects, "ClusterRole") == names(objects, "ClusterRoleBinding") == set()


def test_the_role_is_bound_to_the_hub_account_in_the_release_namespace():
    objects = render()
    binding = one(objects, "RoleBinding", f"{RELEASE}-hub")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{RELEASE}-hub",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-hub", "namespace": NAMESPACE}
    ]
    assert names(objects, "ServiceAccount") == {f"{RELEASE}-hub"}


def test_only_the_hub_and_the_task_cluster_get_the_account_token():
    specs = pod_specs(render("--set", f"postgresql.url={DATABASE_URL}"))
    for name in (f"{RELEASE}-hub", f"{RELEASE}-tasks"):
        assert specs[name]["serviceAccountName"] == f"{RELEASE}-hub"
        assert specs[name]["automountServiceAccountToken"] is True
    portal = specs[f"{RELEASE}-portal"]
    assert portal["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in portal


def test_with_sqlite_only_the_tasks_container_mounts_the_token():
    portal = pod_specs(render())[f"{RELEASE}-portal"]
    assert portal["automountServiceAccountToken"] is False
    assert portal["serviceAccountName"] == f"{RELEASE}-hub"
    token_mounts = {
        name: [m for m in c["volumeMounts"] if m["name"] == "kube-api-access"]
        for name, c in containers(portal).items()
    }
    assert token_mounts == {
        "setup": [],
        "portal": [],
        "tasks": [
            {
                "name": "kube-api-access",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            }
        ],
    }


# Secrets -------------------------------------------------------------------------------------
GENERATED = {
    "SECRET_KEY": 50,
    "MLHUB_HUB_API_TOKEN": 64,
    "CONFIGPROXY_AUTH_TOKEN": 64,
    "MLHUB_OAUTH_CLIENT_SECRET": 64,
    "MLHUB_HUB_EVENTS_TOKEN": 64,
    "MLHUB_ADMIN_PASSWORD": 24,
    "JUPYTERHUB_CRYPT_KEY": 64,
}


def test_the_secret_template_keeps_existing_values_through_lookup():
    # What `lookup` finds needs a cluster; here: the template asks for this release's Secret
    # and prefers what it holds over a new random value.
    template = (CHART / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in template
    assert "get $old $key | default (randAlphaNum $length" in template
    assert 'get $old "JUPYTERHUB_CRYPT_KEY" | default' in template


def test_without_a_cluster_two_renders_make_new_random_secrets_of_the_right_length():
    first, second = (secret_data(render("--set", f"mlhub.hubName=x{n}")) for n in (1, 2))
    assert set(first) == set(GENERATED)
    for key, length in GENERATED.items():
        assert len(first[key]) == len(second[key]) == length, key
        assert first[key] != second[key], key
    for secrets in (first, second):
        assert all(value.isalnum() for value in secrets.values())
        int(secrets["JUPYTERHUB_CRYPT_KEY"], 16)  # 32 bytes, hex, as JupyterHub takes it


def test_the_given_secret_token_is_the_proxy_token():
    secrets = secret_data(render("--set", "mlhub.secretToken=proxy-token-given-1234"))
    assert secrets["CONFIGPROXY_AUTH_TOKEN"] == "proxy-token-given-1234"


def test_postgresql_url_lives_in_the_secret_only():
    objects = render("--set", f"postgresql.url={DATABASE_URL}")
    assert secret_data(objects)["DATABASE_URL"] == DATABASE_URL
    for name in ("portal", "tasks"):
        for container in containers(pod_specs(objects)[f"{RELEASE}-{name}"]).values():
            database = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
            assert database == [
                {
                    "name": "DATABASE_URL",
                    "valueFrom": {
                        "secretKeyRef": {"name": f"{RELEASE}-secrets", "key": "DATABASE_URL"}
                    },
                }
            ]
    hub = containers(pod_specs(objects)[f"{RELEASE}-hub"])["hub"]
    assert "DATABASE_URL" not in {e["name"] for e in hub["env"]}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_secret_value_is_ever_in_a_plain_env_value(variant, files):
    objects = render(*VARIANTS[variant], files=files)
    secret_values = set()
    for obj in objects:
        if obj["kind"] == "Secret":
            for value in obj["data"].values():
                secret_values.add(base64.b64decode(value).decode())
    assert secret_values
    for deployment, spec in pod_specs(objects).items():
        for name, container in containers(spec).items():
            for entry in container.get("env", []):
                where = f"{deployment}/{name} {entry['name']}"
                if "value" in entry:
                    assert not any(s in entry["value"] for s in secret_values), where
                    assert entry["name"] not in GENERATED, where
                    assert entry["name"] != "DATABASE_URL", where
                elif entry["name"] == "MLHUB_POD_IP":  # the pod's own address
                    assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
                else:
                    assert set(entry["valueFrom"]) == {"secretKeyRef"}, where


def test_processes_read_secrets_from_files():
    specs = pod_specs(render("--set", f"postgresql.url={DATABASE_URL}"))
    expected = {
        "hub": {
            "MLHUB_HUB_API_TOKEN",
            "MLHUB_OAUTH_CLIENT_SECRET",
            "MLHUB_HUB_EVENTS_TOKEN",
            "CONFIGPROXY_AUTH_TOKEN",
            "JUPYTERHUB_CRYPT_KEY",
        },
        "portal": {
            "SECRET_KEY",
            "MLHUB_HUB_API_TOKEN",
            "MLHUB_OAUTH_CLIENT_SECRET",
            "MLHUB_HUB_EVENTS_TOKEN",
        },
        "proxy": {"CONFIGPROXY_AUTH_TOKEN"},
    }
    expected["tasks"] = expected["portal"]
    for component, secret_names in expected.items():
        spec = specs[f"{RELEASE}-{component}"]
        volume = next(v for v in spec["volumes"] if v["name"] == "secrets")["secret"]
        assert {item["key"] for item in volume["items"]} == secret_names
        for container in containers(spec).values():
            env = plain_env(container)
            for secret in secret_names:
                assert env[f"{secret}_FILE"] == f"/etc/mlhub/secrets/{secret}"
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            assert mounts["secrets"]["mountPath"] == "/etc/mlhub/secrets"


def test_the_admin_password_reaches_only_the_setup_step():
    # MLHUB_ADMIN_PASSWORD is read from the environment (not _FILE) by `mlhub_setup`.
    portal = pod_specs(render())[f"{RELEASE}-portal"]
    carrying = {
        name
        for name, c in containers(portal).items()
        if any(e["name"] == "MLHUB_ADMIN_PASSWORD" for e in c.get("env", []))
    }
    assert carrying == {"setup"}


# The SQLite trial and PostgreSQL -------------------------------------------------------------
def test_sqlite_runs_the_task_cluster_in_the_portal_pod():
    objects = render()
    assert f"{RELEASE}-tasks" not in names(objects, "Deployment")
    portal = one(objects, "Deployment", f"{RELEASE}-portal")
    assert portal["spec"]["replicas"] == 1
    assert portal["spec"]["strategy"] == {"type": "Recreate"}
    spec = portal["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["portal", "tasks"]
    assert spec["containers"][1]["command"] == ["python", "-m", "django", "qcluster"]
    data = next(v for v in spec["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"] == {"claimName": f"{RELEASE}-portal-data"}
    for container in containers(spec).values():
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        assert plain_env(container)["MLHUB_DATA_DIR"] == "/data"


def test_sqlite_ignores_portal_replicas():
    portal = one(render("--set", "portal.replicas=3"), "Deployment", f"{RELEASE}-portal")
    assert portal["spec"]["replicas"] == 1


def test_postgresql_runs_the_task_cluster_in_its_own_deployment():
    objects = render("--set", f"postgresql.url={DATABASE_URL}", "--set", "portal.replicas=3")
    assert names(objects, "Deployment") == {
        f"{RELEASE}-portal",
        f"{RELEASE}-tasks",
        f"{RELEASE}-hub",
        f"{RELEASE}-proxy",
    }
    assert names(objects, "PersistentVolumeClaim") == {f"{RELEASE}-hub-data"}
    portal = one(objects, "Deployment", f"{RELEASE}-portal")
    assert portal["spec"]["replicas"] == 3
    assert [c["name"] for c in portal["spec"]["template"]["spec"]["containers"]] == ["portal"]
    tasks = one(objects, "Deployment", f"{RELEASE}-tasks")
    assert tasks["spec"]["replicas"] == 1
    spec = tasks["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["tasks"]
    assert spec["containers"][0]["command"] == ["python", "-m", "django", "qcluster"]


# The hub's database (hub.db) ------------------------------------------------------------------
def env_from_secret(container: dict) -> dict[str, str]:
    """The container's variables given from the Secret: name -> the Secret's key."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "valueFrom" in e
    }


def test_with_postgresql_the_hub_has_a_database_of_its_own_on_the_same_server():
    objects = render(
        "--set", "postgresql.url=postgres://mlhub:pw%40x@db.example.org:5432/mlhub?sslmode=require"
    )
    # The same server, user and options; the database named after the portal's.
    assert secret_data(objects)["MLHUB_HUB_DB_URL"] == (
        "postgres://mlhub:pw%40x@db.example.org:5432/mlhub_hub?sslmode=require"
    )
    hub = pod_specs(objects)[f"{RELEASE}-hub"]
    (prepare,) = hub["initContainers"]
    assert prepare["name"] == "hub-database"
    assert prepare["command"] == ["python", "-m", "hubconfig.database", "prepare"]
    assert {m["mountPath"] for m in prepare["volumeMounts"]} == {
        "/data",  # the SQLite database of a release from before, moved in
        "/tmp",
        "/etc/mlhub/secrets",
    }
    for container in (prepare, containers(hub)["hub"]):
        assert env_from_secret(container) == {"MLHUB_HUB_DB_URL": "MLHUB_HUB_DB_URL"}
    # The task cluster, where backups run, reaches it too: the server and user it has.
    tasks = containers(pod_specs(objects)[f"{RELEASE}-tasks"])["tasks"]
    assert env_from_secret(tasks) == {
        "DATABASE_URL": "DATABASE_URL",
        "MLHUB_HUB_DB_URL": "MLHUB_HUB_DB_URL",
    }
    # Nothing else that runs does.
    for name in ("portal", "proxy"):
        for container in containers(pod_specs(objects)[f"{RELEASE}-{name}"]).values():
            assert "MLHUB_HUB_DB_URL" not in env_from_secret(container), name


def test_a_hub_database_with_credentials_of_its_own_is_the_hub_pods_alone():
    objects = render(
        "--set", f"postgresql.url={DATABASE_URL}", "--set", f"hub.db.url={HUB_DATABASE_URL}"
    )
    pods = pod_specs(objects)
    assert "MLHUB_HUB_DB_URL" in env_from_secret(containers(pods[f"{RELEASE}-hub"])["hub"])
    for name in ("portal", "tasks", "proxy"):
        for container in containers(pods[f"{RELEASE}-{name}"]).values():
            assert "MLHUB_HUB_DB_URL" not in env_from_secret(container), name


def test_the_trial_keeps_the_hubs_database_in_sqlite_on_its_volume():
    objects = render()
    assert "MLHUB_HUB_DB_URL" not in secret_data(objects)
    hub = pod_specs(objects)[f"{RELEASE}-hub"]
    assert "initContainers" not in hub
    assert "MLHUB_HUB_DB_URL" not in {e["name"] for e in containers(hub)["hub"]["env"]}
    assert {"name": "data", "mountPath": "/data"} in containers(hub)["hub"]["volumeMounts"]


def test_hub_db_sqlite_pvc_keeps_the_hub_on_sqlite_beside_a_postgresql_portal():
    objects = render("--set", f"postgresql.url={DATABASE_URL}", "--set", "hub.db.type=sqlite-pvc")
    assert "MLHUB_HUB_DB_URL" not in secret_data(objects)
    assert "DATABASE_URL" in secret_data(objects)
    assert "initContainers" not in pod_specs(objects)[f"{RELEASE}-hub"]


def test_hub_db_url_and_password_are_given_to_the_hub_from_the_secret():
    objects = render(*VARIANTS["hub-database-of-its-own"])
    data = secret_data(objects)
    assert (data["MLHUB_HUB_DB_URL"], data["MLHUB_HUB_DB_PASSWORD"]) == (
        HUB_DATABASE_URL,
        "hub-db-password-q4",
    )
    assert "DATABASE_URL" not in data  # the portal stays on its SQLite trial
    hub = pod_specs(objects)[f"{RELEASE}-hub"]
    for container in containers(hub).values():
        assert env_from_secret(container) == {
            "MLHUB_HUB_DB_URL": "MLHUB_HUB_DB_URL",
            "PGPASSWORD": "MLHUB_HUB_DB_PASSWORD",  # libpq's, for a URL without one
        }


# How each process is started -----------------------------------------------------------------
def test_the_processes_start_as_the_stack_starts_them():
    specs = pod_specs(render("--set", f"postgresql.url={DATABASE_URL}"))
    hub = containers(specs[f"{RELEASE}-hub"])["hub"]
    assert hub["command"] == [
        "jupyterhub",
        "-f",
        "/etc/mlhub/jupyterhub_config.py",
        "--JupyterHub.cleanup_servers=False",
    ]
    portal = containers(specs[f"{RELEASE}-portal"])
    assert portal["portal"]["command"][:4] == [
        "gunicorn",
        "portal.wsgi",
        "--bind=0.0.0.0:8010",
        "--workers=2",
    ]
    assert portal["setup"]["command"] == [
        *("python", "-m", "django", "mlhub_setup", "--collectstatic"),
        "--wait-for-database=120",
        "--migrate",  # replicas take turns (a lock)
    ]
    assert portal["portal"]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    tasks = containers(specs[f"{RELEASE}-tasks"])
    assert tasks["wait-for-migrations"]["command"] == [
        "sh",
        "-c",
        "until python -m django migrate --check >/dev/null; do sleep 5; done",
    ]
    assert tasks["tasks"]["command"] == ["python", "-m", "django", "qcluster"]


# The image's own entrypoint is the single-host supervisor: every container names its command,
# and the image (`make hub-image`) has MLHub installed, no checkout to point at.
IMAGE_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "MLHUB_DATA_DIR": "/data",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_containers_use_the_installed_mlhub_image(variant, files):
    objects = render(*VARIANTS[variant], files=files)
    seen = 0
    for deployment, spec in pod_specs(objects).items():
        for name, container in containers(spec).items():
            where = f"{deployment}/{name}"
            assert container["image"] == "mlhub:latest", where
            assert container["command"], where
            assert "args" not in container, where
            assert container.get("workingDir", "/data") == "/data", where
            env = plain_env(container)
            assert "PYTHONPATH" not in {e["name"] for e in container["env"]}, where
            assert {key: env[key] for key in IMAGE_ENV} == IMAGE_ENV, where
            seen += 1
    assert seen >= 4
    rendered = yaml.safe_dump_all(objects)
    assert "manage.py" not in rendered
    assert "/srv/mlhub" not in rendered
    assert "appDir" not in rendered


def test_the_hub_works_in_its_state_volume():
    hub = containers(pod_specs(render())[f"{RELEASE}-hub"])["hub"]
    assert hub["workingDir"] == "/data"


def test_the_hub_gets_the_kubernetes_mode_settings():
    objects = render(
        "--set",
        "singleuser.storage.storageClass=fast",
        "--set",
        "singleuser.gpu.max=2",
        "--set",
        "singleuser.images={registry.example.org/gpu:1}",
        "--set",
        "mlhub.hubName=lab",
    )
    env = plain_env(containers(pod_specs(objects)[f"{RELEASE}-hub"])["hub"])
    assert {key: env[key] for key in HUB_K8S_ENV} == {
        "EXECUTION_MODE": "k8s",
        "HUB_NAME": "lab",
        "MLHUB_K8S_NAMESPACE": NAMESPACE,
        "MLHUB_HUB_CONNECT_URL": f"http://{RELEASE}-hub:8081",
        "MLHUB_K8S_STORAGE_CLASS": "fast",
        "MLHUB_K8S_STORAGE_CAPACITY": "10Gi",
        "MLHUB_K8S_GPU_RESOURCE": "nvidia.com/gpu",
        "MLHUB_K8S_IMAGE_PULL_POLICY": "IfNotPresent",
        "MLHUB_WORKSPACE_IMAGES": "mlhub-workspace:latest,registry.example.org/gpu:1",
        "MLHUB_CPU_MAX": "2",
        "MLHUB_DEFAULT_CPU": "1",
        "MLHUB_MEMORY_MAX": "4G",
        "MLHUB_DEFAULT_MEMORY": "2G",
        "MLHUB_GPUS_MAX": "2",
        "MLHUB_PUBLIC_URL": "http://localhost:8000",
        "MLHUB_PORTAL_URL": f"http://{RELEASE}-portal:8010",
        "MLHUB_HUB_URL": f"http://{RELEASE}-hub:8081",
        "MLHUB_BIND_URL": "http://0.0.0.0:8000",
        "MLHUB_HUB_BIND_URL": "http://0.0.0.0:8081",
        "MLHUB_PROXY_API_URL": f"http://{RELEASE}-proxy-api:8001",
        "MLHUB_RESOURCES_DIR": "/resources",
    }


HUB_K8S_ENV = (
    "EXECUTION_MODE",
    "HUB_NAME",
    "MLHUB_K8S_NAMESPACE",
    "MLHUB_HUB_CONNECT_URL",
    "MLHUB_K8S_STORAGE_CLASS",
    "MLHUB_K8S_STORAGE_CAPACITY",
    "MLHUB_K8S_GPU_RESOURCE",
    "MLHUB_K8S_IMAGE_PULL_POLICY",
    "MLHUB_WORKSPACE_IMAGES",
    "MLHUB_CPU_MAX",
    "MLHUB_DEFAULT_CPU",
    "MLHUB_MEMORY_MAX",
    "MLHUB_DEFAULT_MEMORY",
    "MLHUB_GPUS_MAX",
    "MLHUB_PUBLIC_URL",
    "MLHUB_PORTAL_URL",
    "MLHUB_HUB_URL",
    "MLHUB_BIND_URL",
    "MLHUB_HUB_BIND_URL",
    "MLHUB_PROXY_API_URL",
    "MLHUB_RESOURCES_DIR",
)


def test_the_portal_answers_to_its_service_name_and_the_public_host():
    objects = render(*INGRESS)
    env = plain_env(containers(pod_specs(objects)[f"{RELEASE}-portal"])["portal"])
    assert env["ALLOWED_HOSTS"].split(",") == [
        "hub.example.org",
        ".hub.example.org",
        f"{RELEASE}-portal",
        f"{RELEASE}-portal.{NAMESPACE}",
        f"{RELEASE}-portal.{NAMESPACE}.svc",
        "localhost",
        "127.0.0.1",
    ]
    # The ingress controller appends to X-Forwarded-For before the Node proxy does.
    assert env["MLHUB_TRUSTED_PROXY_COUNT"] == "2"
    assert env["MLHUB_PUBLIC_URL"] == "http://hub.example.org"


def test_mlhub_env_reaches_every_container_and_wins():
    objects = render(
        "--set",
        f"postgresql.url={DATABASE_URL}",
        "--set",
        "mlhub.env.MLHUB_BRAND_NAME=Lab",
        "--set",
        "mlhub.env.MLHUB_CPU_MAX=8",
        "--set",
        "mlhub.debug=true",
    )
    seen = 0
    for name, spec in pod_specs(objects).items():
        if name == f"{RELEASE}-proxy":
            continue  # test_the_proxy_gets_only_its_own_settings
        for container in containers(spec).values():
            env = plain_env(container)
            names_ = [e["name"] for e in container["env"]]
            assert len(names_) == len(set(names_))
            assert (env["MLHUB_BRAND_NAME"], env["MLHUB_CPU_MAX"], env["DEBUG"]) == (
                "Lab",
                "8",
                "true",
            )
            seen += 1
    assert seen == 6  # setup, portal, tasks' wait and tasks, the hub's database, hub


def test_the_proxy_gets_only_its_own_settings():
    """So a changed value of the hub's or the portal's does not restart it (its routes)."""
    plain = one(render(), "Deployment", f"{RELEASE}-proxy")["spec"]["template"]
    changed = render("--set", "mlhub.env.MLHUB_BRAND_NAME=Lab", "--set", "singleuser.cpu.max=8")
    assert one(changed, "Deployment", f"{RELEASE}-proxy")["spec"]["template"] == plain
    single = render("--set", "mlhub.env.MLHUB_SINGLE_ORIGIN=true")
    proxy = containers(pod_specs(single)[f"{RELEASE}-proxy"])["proxy"]
    assert plain_env(proxy)["MLHUB_SINGLE_ORIGIN"] == "true"  # it routes by host or not


def test_pods_carry_component_labels_and_never_the_workspace_label():
    objects = render("--set", f"postgresql.url={DATABASE_URL}")
    for obj in objects:
        assert "mlhub.origin" not in obj["metadata"].get("labels", {})
    for component in ("portal", "tasks", "hub", "proxy"):
        deployment = one(objects, "Deployment", f"{RELEASE}-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["mlhub.component"] == component
        assert labels["app.kubernetes.io/name"] == "mlhub"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/component"] == component
        assert deployment["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": "mlhub",
            "app.kubernetes.io/instance": RELEASE,
            "mlhub.component": component,
        }


def test_user_config_is_mounted_as_the_hub_override_file(files):
    objects = render("--set-file", f"userConfig={files['user_config']}")
    config_map = one(objects, "ConfigMap", f"{RELEASE}-user-config")
    assert config_map["data"] == {"jupyterhub_user_config.py": USER_CONFIG}
    hub = pod_specs(objects)[f"{RELEASE}-hub"]
    mount = next(m for m in containers(hub)["hub"]["volumeMounts"] if m["name"] == "user-config")
    env = plain_env(containers(hub)["hub"])
    assert mount["mountPath"] == f"{env['MLHUB_RESOURCES_DIR']}/jupyterhub_user_config.py"
    assert mount["subPath"] == "jupyterhub_user_config.py"
    volume = next(v for v in hub["volumes"] if v["name"] == "user-config")
    assert volume["configMap"]["name"] == f"{RELEASE}-user-config"


# TLS and the public port ---------------------------------------------------------------------
def test_https_without_ingress_terminates_tls_at_the_proxy(files):
    objects = render(*HTTPS_MANUAL, files=files)
    tls = one(objects, "Secret", f"{RELEASE}-proxy-tls")
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]).decode() == FAKE_CERT
    proxy = pod_specs(objects)[f"{RELEASE}-proxy"]
    env = plain_env(containers(proxy)["proxy"])
    assert (env["MLHUB_PROXY_SSL_CERT"], env["MLHUB_PROXY_SSL_KEY"]) == (
        "/etc/mlhub/tls/tls.crt",
        "/etc/mlhub/tls/tls.key",
    )
    volume = next(v for v in proxy["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == f"{RELEASE}-proxy-tls"
    public = one(objects, "Service", f"{RELEASE}-proxy-public")["spec"]
    assert public["ports"] == [{"name": "https", "port": 443, "targetPort": "proxy-public"}]
    hub = containers(pod_specs(objects)[f"{RELEASE}-hub"])["hub"]
    assert plain_env(hub)["MLHUB_PUBLIC_URL"] == "https://localhost:8000"
    assert not any("ssl" in arg for arg in hub["command"])


def test_https_with_ingress_terminates_tls_at_the_ingress(files):
    objects = render(*INGRESS, *HTTPS_MANUAL, files=files)
    ingress = one(objects, "Ingress", RELEASE)["spec"]
    hosts = ["hub.example.org", "*.hub.example.org"]
    assert ingress["tls"] == [{"secretName": f"{RELEASE}-proxy-tls", "hosts": hosts}]
    assert [rule["host"] for rule in ingress["rules"]] == hosts
    for rule in ingress["rules"]:
        assert rule["http"]["paths"] == [
            {
                "path": "/",
                "pathType": "Prefix",
                "backend": {
                    "service": {"name": f"{RELEASE}-proxy-public", "port": {"name": "http"}}
                },
            }
        ]
    hub = containers(pod_specs(objects)[f"{RELEASE}-hub"])["hub"]
    assert not any("ssl" in arg for arg in hub["command"])
    assert plain_env(hub)["MLHUB_PUBLIC_URL"] == "https://hub.example.org"
    proxy = containers(pod_specs(objects)[f"{RELEASE}-proxy"])["proxy"]
    assert "MLHUB_PROXY_SSL_CERT" not in plain_env(proxy)


def test_an_existing_tls_secret_is_used_and_none_is_made():
    objects = render(*VARIANTS["https-existing-secret"])
    assert names(objects, "Secret") == {f"{RELEASE}-secrets"}
    proxy = pod_specs(objects)[f"{RELEASE}-proxy"]
    volume = next(v for v in proxy["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "hub-cert"
    public = one(objects, "Service", f"{RELEASE}-proxy-public")["spec"]
    assert public["type"] == "LoadBalancer"


# Pod security --------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_pod_meets_the_restricted_pod_security_standard(variant, files):
    specs = pod_specs(render(*VARIANTS[variant], files=files))
    assert {name: violations(spec) for name, spec in specs.items()} == dict.fromkeys(specs, [])


@pytest.mark.parametrize("variant", ["defaults", "postgresql"])
def test_every_container_runs_on_a_read_only_image_writing_only_to_its_volumes(variant):
    specs = pod_specs(render(*VARIANTS[variant]))
    writable: dict[str, set[str]] = {}
    for pod, spec in specs.items():
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{pod}/{container['name']}"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            writable[where] = {
                m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")
            }
    # The proxy writes nothing; the others their state (/data) and /tmp, each pod its own.
    assert {where: paths for where, paths in writable.items()} == {
        where: set() if where.endswith("/proxy") else {"/data", "/tmp"} for where in writable
    }
    for spec in specs.values():
        tmp = [v for v in spec.get("volumes", []) if v["name"] == "tmp"]
        assert tmp in ([], [{"name": "tmp", "emptyDir": {}}])


def test_the_pod_security_check_would_see_a_chart_pod_run_as_root():
    specs = pod_specs(render("--set", "securityContext.runAsUser=0"))
    assert "spec.securityContext.runAsUser: 0" in violations(specs[f"{RELEASE}-hub"])


# Network policies ----------------------------------------------------------------------------
def test_network_policies_admit_only_who_needs_each_pod():
    objects = render("--set", f"postgresql.url={DATABASE_URL}")
    hub = one(objects, "NetworkPolicy", f"{RELEASE}-hub")["spec"]
    assert hub["policyTypes"] == ["Ingress"]
    (api,) = hub["ingress"]
    assert api["ports"] == [{"port": "hub-api", "protocol": "TCP"}]
    assert api["from"][0] == {"podSelector": {"matchLabels": {"mlhub.origin": "mlhub"}}}
    assert api["from"][1]["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/instance", "operator": "In", "values": [RELEASE]},
        {
            "key": "mlhub.component",
            "operator": "In",
            "values": ["hub", "portal", "tasks", "proxy"],
        },
    ]
    proxy = one(objects, "NetworkPolicy", f"{RELEASE}-proxy")["spec"]
    public, proxy_api = proxy["ingress"]
    assert public == {"ports": [{"port": "proxy-public", "protocol": "TCP"}]}
    assert proxy_api == {
        "ports": [{"port": "proxy-api", "protocol": "TCP"}],
        "from": [
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "mlhub",
                        "app.kubernetes.io/instance": RELEASE,
                        "mlhub.component": "hub",
                    }
                }
            }
        ],
    }
    portal = one(objects, "NetworkPolicy", f"{RELEASE}-portal")["spec"]
    assert portal["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [
                {
                    "podSelector": {
                        "matchExpressions": [
                            {
                                "key": "app.kubernetes.io/instance",
                                "operator": "In",
                                "values": [RELEASE],
                            },
                            {
                                "key": "mlhub.component",
                                "operator": "In",
                                "values": ["hub", "proxy"],
                            },
                        ]
                    }
                }
            ],
        }
    ]
    tasks = one(objects, "NetworkPolicy", f"{RELEASE}-tasks")["spec"]
    assert tasks["policyTypes"] == ["Ingress"]
    assert tasks["ingress"] == []


def test_network_policies_can_be_turned_off():
    assert names(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy") == set()


# Bad values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "singelUser.x=1"), "Additional property singelUser is not allowed"),
        (("--set", "proxy.https.type=bogus"), "proxy.https.type"),
        (("--set", "mlhub.debug=maybe"), "mlhub.debug"),
        (("--set", "mlhub.hubName=toolong"), "mlhub.hubName"),
        (("--set", "mlhub.baseUrl=/a/../b/"), "mlhub.baseUrl"),
        (("--set", "mlhub.baseUrl=/mlhub?x=1"), "mlhub.baseUrl"),
        (("--set", "mlhub.baseUrl=//mlhub/"), "mlhub.baseUrl"),
        (("--set", "mlhub.baseUrl=/ml hub/"), "mlhub.baseUrl"),
        (("--set", "mlhub.baseUrl=mlhub"), "mlhub.baseUrl"),
        (
            ("--set", "mlhub.baseUrl=/mlhub/", "--set", "mlhub.publicUrl=https://h.example/hub/"),
            "mlhub.publicUrl=https://h.example/hub/ ends in /hub/, but mlhub.baseUrl is /mlhub/",
        ),
        (
            ("--set", "mlhub.publicUrl=https://h.example/mlhub/"),
            "ends in /mlhub/, but mlhub.baseUrl is /",
        ),
        (("--set", "proxy.service.type=External"), "proxy.service.type"),
        (("--set", "singleuser.gpu.max=-1"), "singleuser.gpu.max"),
        (("--set", "singleuser.cpuu.max=1"), "Additional property cpuu is not allowed"),
        (("--set", "postgresql.url=mysql://db/x"), "postgresql.url"),
        (("--set", "hub.db.type=mysql"), "hub.db.type"),
        (("--set", "hub.db.url=mysql+pymysql://db/x"), "hub.db.url"),
        (
            ("--set", "hub.db.type=postgres"),
            "hub.db.type=postgres needs hub.db.url or postgresql.url",
        ),
        (
            ("--set", "postgresql.url=postgres://mlhub:pw@db.example.org:5432"),
            "postgresql.url names no database",
        ),
        (("--set", "networkPolicy.enabled=yes"), "networkPolicy.enabled"),
        (("--set", "image.appDir=/srv/mlhub"), "Additional property appDir is not allowed"),
        (
            ("--set", "proxy.https.enabled=true"),
            "proxy.https.manual.cert is required with proxy.https.type=manual",
        ),
        (
            ("--set", "proxy.https.enabled=true", "--set", "proxy.https.type=secret"),
            "proxy.https.secret.name is required with proxy.https.type=secret",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_bad_values_are_refused_naming_the_value(args, message):
    assert message in refused(*args)


# A path prefix (mlhub.baseUrl) -------------------------------------------------------------
MLHUB_CONTAINERS = {"portal", "tasks", "hub", "proxy"}


@pytest.mark.parametrize(
    "public_url", ["https://tools.example.org", "https://tools.example.org/mlhub/"]
)
def test_the_prefix_reaches_every_mlhub_container(public_url):
    objects = render("--set", "mlhub.baseUrl=/mlhub", "--set", f"mlhub.publicUrl={public_url}")
    found = {}
    for spec in pod_specs(objects).values():
        for name, container in containers(spec).items():
            env = plain_env(container)
            if "MLHUB_DATA_DIR" in env:  # an MLHub container, init containers included
                found[name] = (env.get("MLHUB_BASE_URL"), env.get("MLHUB_PUBLIC_URL"))
    assert MLHUB_CONTAINERS <= set(found)
    # Normalised with its trailing slash; the public URL without the path, which MLHub
    # would only check against the prefix.
    assert set(found.values()) == {("/mlhub/", "https://tools.example.org")}


def test_the_probes_ask_under_the_prefix():
    specs = pod_specs(render("--set", "mlhub.baseUrl=/mlhub/"))
    portal = containers(specs[f"{RELEASE}-portal"])["portal"]["readinessProbe"]["httpGet"]
    hub = containers(specs[f"{RELEASE}-hub"])["hub"]["readinessProbe"]["httpGet"]
    assert portal["path"] == "/mlhub/accounts/login/"
    assert hub["path"] == "/mlhub/hub/health"


def test_at_the_root_the_probes_and_env_are_as_before():
    specs = pod_specs(render())
    portal = containers(specs[f"{RELEASE}-portal"])["portal"]
    assert portal["readinessProbe"]["httpGet"]["path"] == "/accounts/login/"
    assert plain_env(portal)["MLHUB_BASE_URL"] == "/"
    hub = containers(specs[f"{RELEASE}-hub"])["hub"]
    assert hub["readinessProbe"]["httpGet"]["path"] == "/hub/health"


# Prometheus --------------------------------------------------------------------------------
def pod_annotations(objects: list[dict], component: str) -> dict[str, str]:
    deployment = one(objects, "Deployment", f"{RELEASE}-{component}")
    return deployment["spec"]["template"]["metadata"].get("annotations", {})


def test_metrics_annotations_tell_prometheus_where_both_metrics_are():
    objects = render("--set", "metrics.annotations=true", "--set", "mlhub.baseUrl=/mlhub/")
    portal = pod_annotations(objects, "portal")
    assert {k: v for k, v in portal.items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8010",
        "prometheus.io/path": "/mlhub/metrics",
    }
    hub = pod_annotations(objects, "hub")
    assert {k: v for k, v in hub.items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8081",
        "prometheus.io/path": "/mlhub/hub/metrics",
    }
    # Each replica answers at its own address: the portal allows it as a host.
    env = containers(pod_specs(objects)[f"{RELEASE}-portal"])["portal"]["env"]
    assert {"name": "MLHUB_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in env


def test_without_the_value_no_pod_asks_to_be_scraped():
    objects = render()
    for component in ("portal", "hub", "proxy"):
        assert not [k for k in pod_annotations(objects, component) if k.startswith("prometheus")]


def test_the_metrics_token_reaches_the_portal_and_the_hub_as_a_file_only():
    objects = render(*METRICS)
    assert secret_data(objects)["MLHUB_METRICS_TOKEN"] == METRICS_TOKEN
    specs = pod_specs(objects)
    for component in ("portal", "hub"):
        spec = specs[f"{RELEASE}-{component}"]
        volume = next(v for v in spec["volumes"] if v["name"] == "secrets")["secret"]
        assert "MLHUB_METRICS_TOKEN" in {item["key"] for item in volume["items"]}
        env = plain_env(containers(spec)[component])
        assert env["MLHUB_METRICS_TOKEN_FILE"] == "/etc/mlhub/secrets/MLHUB_METRICS_TOKEN"
    proxy = specs[f"{RELEASE}-proxy"]
    volume = next(v for v in proxy["volumes"] if v["name"] == "secrets")["secret"]
    assert "MLHUB_METRICS_TOKEN" not in {item["key"] for item in volume["items"]}
    assert "MLHUB_METRICS_TOKEN" not in secret_data(render())


def test_metrics_from_lets_the_scraper_reach_the_portal_and_the_hub_only():
    objects = render(*METRICS)
    opened = {}
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            if SCRAPER in rule.get("from", []):
                opened[policy["metadata"]["name"]] = [port["port"] for port in rule["ports"]]
    assert opened == {f"{RELEASE}-portal": ["http"], f"{RELEASE}-hub": ["hub-api"]}


def test_a_short_metrics_token_is_refused():
    assert "metrics.token" in refused("--set", "metrics.token=short")
