"""Every page template of MLHub, in one place: the portal's (`portal/`, Django's templates,
the admin's overrides among them) and the hub's (`hub/`, JupyterHub's `template_paths`).

A package only so that `pip install .` installs the folders as package data and both find
them beside this file, in a checkout and in an installed copy alike (``FOLDER``)."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
