"""The hub override (``MLHUB_USER_CONFIG``) of bench/sync.py: every server is the tiny one.

Loaded last by hubconfig/jupyterhub_config.py, like an admin's override file; everything else
(roles, reports to the portal, the proxy) stays as configured there.
"""

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file

c.JupyterHub.spawner_class = "bench.tiny_spawner.TinySpawner"
