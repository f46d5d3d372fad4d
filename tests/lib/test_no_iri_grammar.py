"""The environment local-process workspaces and the hub run from has no rfc3987-syntax: it
builds a grammar at import, about a second of every single-user server's start (Makefile,
UNINSTALL_RFC3987_SYNTAX). jsonschema's format checks still run without it."""

from __future__ import annotations

import importlib.util

import jsonschema


def test_no_iri_grammar_is_built_at_each_start():
    assert importlib.util.find_spec("rfc3987_syntax") is None


def test_jsonschema_still_checks_formats():
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    assert (checker.conforms("not an email", "email"), checker.conforms("a@b.org", "email")) == (
        False,
        True,
    )
