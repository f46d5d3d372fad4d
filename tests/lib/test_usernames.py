"""The hub form of a username and the names refused (lib/usernames.py): pure, no database."""

from __future__ import annotations

import sys

import pytest

from lib.usernames import ALLOWED, hub_form, refusal


@pytest.mark.parametrize(
    "names",
    [
        ("jürgen", "jÜrgen", "JÜRGEN", "ju\u0308rgen"),  # the last: ü as u + combining diaeresis
        ("ss", "ß", "ẞ", "SS"),
        ("ǆ", "ǅ", "Ǆ", "dž"),
        ("alice", "ALICE", "Ａｌｉｃｅ"),  # full-width letters
        ("ffoo", "ﬀoo"),
    ],
)
def test_names_that_differ_in_case_or_form_have_one_hub_form(names):
    assert len({hub_form(name) for name in names}) == 1


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (".", "at least one letter or digit"),
        ("..", "at least one letter or digit"),
        ("-_", "at least one letter or digit"),
        ("a/b", "may hold only"),
        ("has space", "may hold only"),
        ("x" * 151, "may hold only"),
        ("аlice", "may not mix scripts that look alike (Cyrillic, Latin)"),  # Cyrillic а
        ("pаypal", "may not mix scripts"),
        ("αlpha", "may not mix scripts that look alike (Greek, Latin)"),  # Greek α
    ],
)
def test_it_refuses_names_no_one_may_have(name, why):
    assert why in refusal(name)


@pytest.mark.parametrize(
    "name", ["alice", "jürgen", "İlker", "иван", "田中たろう", "john.doe@example.org", "a1-b_c"]
)
def test_it_accepts_names_of_one_script_and_japanese_mixes(name):
    assert refusal(name) == ""


def test_the_hub_form_is_stable_under_itself_and_the_hubs_lower_for_every_character():
    # JupyterHub lower-cases the name it is given: the form must come back unchanged, or two
    # portal rows could again meet in one hub name.
    moved = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if not ALLOWED.fullmatch(char):
            continue
        form = hub_form(char)
        if hub_form(form) != form or form.lower() != form:
            moved.append(hex(code))
    assert moved == []
