"""The project is an installable package: its wheel carries every file of portal, hubconfig,
spawners and lib (templates, static files, migrations included), and an installed copy
imports, finds its files and passes Django's checks with the checkout nowhere on the path.

The wheel is built the way `make setup` installs the checkout (no build isolation, so nothing
is downloaded), from a copy of the checkout so no build/ folder is left in it or reused."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from jupyterhub._data import DATA_FILES_PATH

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "hubconfig", "spawners", "lib", "templates")
# What is neither source nor needed to build: environments, state, caches, earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    ".tools",
    "data",
    "build",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
)
# The venv's own packages, without its .pth files: the editable install's finder would
# otherwise serve whatever the wheel lacks from the checkout.
VENV_SITE_PACKAGES = sysconfig.get_paths()["purelib"]
BOOTSTRAP_CSS = f"{DATA_FILES_PATH}/static/components/bootstrap/dist/css"

INSPECT = """
import json, sys
from pathlib import Path

import django
import hubconfig, lib.stack, portal.settings, spawners.docker, spawners.kubernetes, templates
from lib import env

django.setup()
from django.contrib.staticfiles import finders
from django.db.migrations.loader import MigrationLoader
from django.template.loader import get_template

ours = ("portal", "hubconfig", "spawners", "lib", "templates")
loader = MigrationLoader(None, load=False)
loader.load_disk()
print(json.dumps({
    "modules": sorted(
        getattr(module, "__file__", None) or "?"
        for name, module in sys.modules.items()
        if name.split(".")[0] in ours
    ),
    "template": get_template("base.html").origin.name,
    "admin override": get_template("admin/accounts/user/reject.html").origin.name,
    "static": finders.find("mlhub/mlhub.css"),
    "bootstrap": finders.find("vendor/bootstrap/bootstrap.min.css"),
    "migrations": sorted(
        sys.modules[type(migration).__module__].__file__
        for migration in loader.disk_migrations.values()
        if type(migration).__module__.startswith("portal.")
    ),
    "hub config": str(lib.stack.HUB_CONFIG),
    "hub templates": sorted(map(str, (templates.FOLDER / "hub").iterdir())),
    "in checkout": env.IN_CHECKOUT,
    "proxy": env.chp_path(),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("build")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(tmp / "dist"), str(source)],
        check=True,
        timeout=120,
    )
    (built,) = (tmp / "dist").glob("mlhub-0.1.0-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        + ["--target", str(site), str(wheel)],
        check=True,
        timeout=120,
    )
    return site


def installed_python(site: Path, tmp_path: Path, *args: str, **environ: str | None):
    """``python args`` with only the installed copy and the venv's packages importable, from
    an empty folder, configured as in production (unless ``environ`` says otherwise)."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLHUB_", "DJANGO_", "SECRET_KEY", "DATABASE_URL", "PYTHON"))
        and name not in {"DEBUG", "ALLOWED_HOSTS", "HUB_NAME", "EXECUTION_MODE"}
    }
    empty = tmp_path / "cwd"
    empty.mkdir(exist_ok=True)
    env = {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(site), VENV_SITE_PACKAGES]),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": secrets.token_urlsafe(64)[:50],
        "DEBUG": "false",
        "MLHUB_DATA_DIR": str(tmp_path / "data"),
        "MLHUB_PUBLIC_URL": "https://hub.example.org",
        **environ,
    }
    env = {name: value for name, value in env.items() if value is not None}
    # -S: no site-packages but PYTHONPATH's, so no .pth file runs.
    return subprocess.run(
        [sys.executable, "-S", *args],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_carries_every_file_of_the_packages_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    in_checkout = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }

    assert sorted(in_checkout - names) == []
    assert {name.split("/")[0] for name in names} == {*PACKAGES, "mlhub-0.1.0.dist-info"}
    assert {
        "templates/portal/base.html",
        "portal/static/mlhub/mlhub.css",
        "portal/accounts/migrations/0001_initial.py",
        "templates/hub/not_running.html",
        "hubconfig/jupyterhub_config.py",
    } <= names


def test_the_wheel_requires_the_pinned_requirements(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("mlhub-0.1.0.dist-info/METADATA").decode()
    required = [line.split(": ", 1)[1] for line in metadata.splitlines() if "Requires-Dist" in line]
    pinned = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]

    assert "Requires-Python: >=3.11" in metadata
    assert len(required) == len(pinned)
    assert "Django==5.2.19" in required


def test_an_installed_copy_runs_from_its_own_files(site, tmp_path):
    result = installed_python(site, tmp_path, "-c", INSPECT)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    outside = [
        path
        for key in ("modules", "migrations", "hub templates")
        for path in found[key]
        if not path.startswith(f"{site}/")
    ]
    assert outside == []
    assert "portal/accounts/migrations/0001_initial.py" in "\n".join(found["migrations"])
    assert found["template"] == f"{site}/templates/portal/base.html"
    assert found["admin override"] == f"{site}/templates/portal/admin/accounts/user/reject.html"
    assert found["static"] == f"{site}/portal/static/mlhub/mlhub.css"
    # Bootstrap is the jupyterhub package's own, wherever that is installed (not in the wheel).
    assert found["bootstrap"] == f"{BOOTSTRAP_CSS}/bootstrap.min.css"
    assert found["hub config"] == f"{site}/hubconfig/jupyterhub_config.py"
    assert f"{site}/templates/hub/not_running.html" in found["hub templates"]
    # No checkout: the proxy is the one on PATH unless MLHUB_CHP_PATH names another.
    assert (found["in checkout"], found["proxy"]) == (False, "configurable-http-proxy")


def test_an_installed_copy_passes_the_deploy_checks_and_migrates(site, tmp_path):
    check = installed_python(
        site, tmp_path, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"
    )
    migrate = installed_python(site, tmp_path, "-m", "django", "migrate", "--noinput", "-v", "0")

    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["System check identified no issues (1 silenced)."]
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "data" / "portal.sqlite3").is_file()


def test_an_installed_copy_needs_a_data_directory(site, tmp_path):
    result = installed_python(site, tmp_path, "-c", "import portal.settings", MLHUB_DATA_DIR=None)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: MLHUB_DATA_DIR must be set: MLHub is "
        "installed, not run from its checkout, and keeps its state (databases, secrets) there"
    )
