# Quiet defaults of both workspace images (/etc/jupyter/jupyter_server_config.py): a workspace
# asks nothing of the internet on its own and says whose it is. lab-overrides.json does the
# same on the page's side. The user's own ~/.jupyter comes first and may change any of it.
import os

c = get_config()  # noqa: F821 -- given by the Jupyter server when it loads this file

# No news feed and no "a new version is out" check: JupyterLab would fetch both from the
# internet (jupyter.org, PyPI) and ask people about them at their first start.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# The lab's title names the workspace (JupyterHub's named server), so that two workspaces in
# two tabs can be told apart. A default server (stock JupyterHub) has no name: title unchanged.
# The page's appName is what the lab puts in the title; LabApp's app_name is no setting, so
# jupyterlab_server's page_config_hook changes it as each lab page is rendered.
_name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")


def _title_is_the_workspace(handler, page_config: dict) -> dict:
    page_config["appName"] = f"{_name} · JupyterLab"
    return page_config


if _name:
    c.ServerApp.tornado_settings = {"page_config_hook": _title_is_the_workspace}
