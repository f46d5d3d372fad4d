#!/usr/bin/env python
"""Django's command-line utility for the MLHub portal, with the environment `make run` gives
its processes (lib/stack.py): the data directory and the secrets generated in it, so a
command run by hand (`manage.py mlhub_backup DEST`) finds what the running portal uses."""

import os
import sys

if __name__ == "__main__":
    from lib.stack import stack_environment

    os.environ.update(stack_environment())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
