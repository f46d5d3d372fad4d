# Quiet defaults of both workspace images (/etc/jupyter/jupyter_server_config.py): a workspace
# asks nothing of the internet on its own. lab-overrides.json does the same on the page's
# side; the server extension mlhub_lab_title puts the workspace's name in the lab's title.
# The user's own ~/.jupyter comes first and may change any of it.
c = get_config()  # noqa: F821 -- given by the Jupyter server when it loads this file

# No news feed and no "a new version is out" check: JupyterLab would fetch both from the
# internet (jupyter.org, PyPI) and ask people about them at their first start.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# The lab's extension manager lists what the image has and installs nothing: an install from
# it would go into the container, which each start makes anew (the work folder alone is
# kept), so it would vanish at the next start; extensions belong in the image. It also spares
# each start PyPI's HTTP client and its TLS context (about 25 ms of a warm start's 90 ms of
# CPU, py-spy in a claimed slot; docs/performance.md).
c.LabApp.extension_manager = "readonly"
