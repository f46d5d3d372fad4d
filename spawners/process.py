"""Workspaces as local processes: the embedded default (``EXECUTION_MODE=process``).

For trying MLHub on any machine without a Docker engine. Every workspace is a
``jupyterhub-singleuser`` process of the hub's own user, with a folder per workspace under
``<data>/homes/<user>/``. There is no isolation between users and no CPU or memory limit:
never use it for people who should not trust each other.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default

from lib import env
from spawners.naming import server_label
from spawners.readiness import ReadyWhenListening
from spawners.state_reports import ReportsState


class MLHubProcessSpawner(ReportsState, ReadyWhenListening, SimpleLocalProcessSpawner):
    @default("home_dir_template")
    def _home_dir_template_default(self) -> str:
        return str(env.data_dir() / "homes" / "{username}")

    @default("cmd")
    def _cmd_default(self) -> list[str]:
        # The singleuser server of the hub's own environment, whatever PATH says.
        return [str(Path(sys.executable).parent / "jupyterhub-singleuser")]

    @default("args")
    def _args_default(self) -> list[str]:
        # jupyter-server refuses to run as root unless told; containers and CI run as root.
        return ["--allow-root"] if os.getuid() == 0 else []

    # Upstream waits 30 s after SIGINT, then 30 s after SIGTERM. A single-user server with a
    # lab tab still open does not finish its shutdown while the tab's connections last, so
    # only the SIGKILL ended it: a minute for every such stop. A server with no open tab
    # stops within a second of the SIGINT; ten seconds for it, five after SIGTERM, then the
    # kill.
    @default("interrupt_timeout")
    def _interrupt_timeout_default(self) -> int:
        return 10

    @default("term_timeout")
    def _term_timeout_default(self) -> int:
        return 5

    @property
    def workspace_dir(self) -> Path:
        return Path(self.home_dir) / (self.name or "default")

    @default("notebook_dir")
    def _notebook_dir_default(self) -> str:
        return str(self.workspace_dir)

    async def start(self):
        if self.user_options:
            # Names only: env values may be secrets and never go to the log.
            self.log.info(
                "process mode: %s runs without limits or image; ignored options: %s",
                server_label(self),
                ", ".join(sorted(self.user_options)),
            )
        self.workspace_dir.mkdir(parents=True, exist_ok=True)
        return await super().start()

    async def delete_forever(self):
        """The workspace is deleted: its folder goes with it."""
        shutil.rmtree(self.workspace_dir, ignore_errors=True)
