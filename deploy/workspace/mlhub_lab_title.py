"""A Jupyter server extension of the workspace images: the lab's title names the workspace.

JupyterLab titles its page with the page config's ``appName``. The single-user server of
JupyterHub installs its own ``page_config_hook`` when it initialises, after every extension
has loaded, so this one wraps that hook when the server starts (the extensions' start hook
runs later) and adds the workspace's name (JupyterHub's named server) to what it returns.
Enabled by /etc/jupyter/jupyter_server_config.py, only when the server has a name.
"""

from __future__ import annotations

import os


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "mlhub_lab_title"}]


def _load_jupyter_server_extension(serverapp) -> None:
    pass


async def _start_jupyter_server_extension(serverapp) -> None:
    name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    if not name:
        return
    settings = serverapp.web_app.settings
    inner = settings.get("page_config_hook")

    def page_config_hook(handler, page_config: dict) -> dict:
        if inner is not None:
            page_config = inner(handler, page_config)
        page_config["appName"] = f"{name} · JupyterLab"
        return page_config

    settings["page_config_hook"] = page_config_hook
