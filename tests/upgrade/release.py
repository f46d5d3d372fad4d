"""The release the upgrade tests start from: its tag, its files, its own virtualenv, its stack
started as its ``make run`` starts it, and its MLHub image.

The release is found by its tag, or, in a clone without tags (CI's clean clone of main has
none), by the tagged commit, which main's history holds. Only a shallow clone lacks both; then
these tests fail under CI=true, saying so.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docker.errors import ImageNotFound

from lib.polling import poll_until
from lib.stack import ROOT
from tests.deploy.mlhub_image import image_built
from tests.hub_stack import ADMIN_PASSWORD, CHP, RunningHub
from tests.parts import in_ci, require

# The oldest commit CI still builds that has all an upgrade must carry over: Docker-mode
# workspaces that outlive the hub, hashed API tokens and the MLHub image (the tag's message
# says more). Moving it to a newer release is one line; an older one would need those.
RELEASE = "v0.1.0"
RELEASE_COMMIT = "4fcadea2a399e81a484a6e96060275c5d28dd094"  # what the tag names
RELEASE_IMAGE = f"mlhub:{RELEASE}"
CACHED_VENV = ROOT / "deploy" / "scripts" / "cached-venv.sh"
# What the release's `make setup` installs (requirements-dev.txt includes requirements.txt).
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")


def release_commit() -> str:
    """The release's commit, by its tag or by its id; missing, it skips (locally) or fails (CI)
    the test."""
    for name in (RELEASE, RELEASE_COMMIT):
        found = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
            capture_output=True,
            text=True,
        )
        if found.returncode == 0:
            commit = found.stdout.strip()
            assert commit == RELEASE_COMMIT, f"the tag {RELEASE} moved to {commit}: update both"
            return commit
    require(
        False,
        f"the release {RELEASE} (commit {RELEASE_COMMIT}) is not in the repository at {ROOT}, "
        "which the upgrade tests start from (a shallow clone: git fetch --unshallow)",
    )
    raise AssertionError("unreachable: require fails or skips")


def release_tree(folder: Path) -> Path:
    """The release's files, ``git archive`` of its tag, in ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", release_commit()],
        capture_output=True,
        check=True,
    )
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as files:
        files.extractall(folder, filter="data")
    return folder


def cache_folder() -> Path:
    """Where the release's virtualenv is kept: CI's cache (.ci/run's MLHUB_CACHE), or the
    checkout's .tools/ locally."""
    if os.environ.get("MLHUB_CACHE"):
        return Path(os.environ["MLHUB_CACHE"])
    return Path("/var/cache/mlhub") if in_ci() else ROOT / ".tools"


def release_venv(tree: Path) -> Path:
    """The release's own virtualenv, as its ``make setup`` makes it: its pinned requirements
    (kept under their hash, deploy/scripts/cached-venv.sh: about a minute the first time,
    from pip's cache), then ``tree`` installed editable (about two seconds)."""
    requirements = [str(tree / name) for name in REQUIREMENTS]
    made = subprocess.run(
        ["bash", str(CACHED_VENV), str(cache_folder()), "release-venv", *requirements],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    venv = Path(made.stdout.strip())
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    pip += ["--disable-pip-version-check"]
    steps = [[*pip, "--no-deps", "--no-build-isolation", "-e", str(tree)]]
    stamp = venv / ".installed"  # the Makefile's name: every requirement is in
    if not stamp.exists():
        steps.insert(0, [*pip, "-r", requirements[-1]])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (step, done.stdout[-3000:], done.stderr[-3000:])
    stamp.touch()
    return venv


@dataclass
class ReleaseHub(RunningHub):
    """The release's stack as a RunningHub (its API, its people): its log is one file."""

    log: Path | None = None

    def logs(self, lines: int = 40) -> str:
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.log.name}\n" + "\n".join(tail)


@contextlib.contextmanager
def release_stack(
    tree: Path, venv: Path, environ: dict[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """The release's stack as its ``make run`` runs it (``python -m lib.stack``: migrations,
    set-up, then every process), until it says it is up; stopped with SIGTERM as
    docs/operations.md says (its Ctrl-C), which waits for every process of it to end."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [str(venv / "bin" / "python"), "-m", "lib.stack"],
            cwd=tree,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the release's stack exited with {process.returncode}")
        return "MLHub is up" in log.read_text(errors="replace")

    try:
        try:
            poll_until(up, timeout=240, what="the release's stack", max_wait=0.5)
        except (AssertionError, TimeoutError) as error:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
            raise AssertionError(f"{error}\n{tail}") from None
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            # Its own processes are in groups of their own: only its leader goes here.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def release_environment(data: Path, hub_name: str, ports: dict[str, int], image: str) -> dict:
    """The release's stack settings, as tests/hub_stack.py's running_stack gives the current
    one (the same ports and OAuth client follow it onto the new code), with workspaces left
    running when it stops (MLHUB_CLEANUP_SERVERS=false, as in the image) and the checkout's
    Node proxy (the release's package-lock.json pins the same)."""
    environ = {
        **os.environ,
        "MLHUB_DATA_DIR": str(data),
        "MLHUB_PUBLIC_URL": f"http://localhost:{ports['public']}",
        "MLHUB_OAUTH_CLIENT_ID": f"mlhub-hub-{ports['public']}",
        "MLHUB_PORTAL_URL": f"http://127.0.0.1:{ports['portal']}",
        "MLHUB_HUB_URL": f"http://127.0.0.1:{ports['hub']}",
        "MLHUB_PROXY_API_URL": f"http://127.0.0.1:{ports['proxy_api']}",
        "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "EXECUTION_MODE": "local",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "HUB_NAME": hub_name,
        "MLHUB_WORKSPACE_IMAGES": image,
        "MLHUB_CLEANUP_SERVERS": "false",
        "MLHUB_CHP_PATH": str(CHP),
    }
    environ.pop("DATABASE_URL", None)  # its SQLite in the data directory, as `make run`'s
    return environ


def release_image(client, folder: Path) -> str:
    """The release's MLHub image, built from its own tree by its own build-image.sh, unless
    the engine has it (CI's engine keeps its images between runs, as it keeps the current
    ones: once a machine)."""
    with contextlib.suppress(ImageNotFound):
        client.images.get(RELEASE_IMAGE)
        return RELEASE_IMAGE
    began = time.monotonic()
    image_built(release_tree(folder), RELEASE_IMAGE)
    print(f"built {RELEASE_IMAGE} in {time.monotonic() - began:.0f} s")
    return RELEASE_IMAGE


def newest_migrations() -> set[tuple[str, str]]:
    """Each portal app's newest migration in this checkout (an app's label is its folder's):
    an upgraded database has them all."""
    return {
        (folder.parent.name, max(path.stem for path in folder.glob("0*.py")))
        for folder in (ROOT / "portal").glob("*/migrations")
    }
