"""One person, one hub name: the form of a username that JupyterHub uses, and the names refused.

The portal keeps a username as typed (``Jürgen``) and stores its hub form (``jürgen``) in a
column unique on every database. The hub form is NFKC, then full case folding, then NFKC
again (Unicode's NFKC_Casefold, as UTS #31 recommends for identifiers): ``jÜrgen``,
``JÜRGEN`` and ``jürgen`` are one name; so are ``ß``, ``ẞ`` and ``ss``, and ``ǅ``, ``Ǆ`` and
``ǆ``. Case-insensitive SQL (``LOWER``, ``iexact``) cannot decide this: SQLite folds only
ASCII, and neither folds ``ß`` to ``ss``.

Refused outright: names JupyterHub refuses (``.``, ``..``, ``/``), names without a letter or
digit, characters outside Django's username set, and names that mix scripts beyond what UTS
#39 calls "highly restrictive" (one script, or Latin with the Han-based sets of Japanese,
Chinese and Korean): ``аlice`` with a Cyrillic ``а`` is refused, ``иван`` and ``田中たろう``
are not. No Django here: the hub's authenticator uses the same rule.
"""

from __future__ import annotations

import re
import unicodedata

from confusable_homoglyphs import categories

# Django's UnicodeUsernameValidator's characters. The hub form is checked again, with the
# combining marks that folding may bring (``İ`` folds to ``i`` and a combining dot).
ALLOWED = re.compile(r"[\w.@+-]{1,150}")
ALLOWED_FOLDED = re.compile(r"(?:[\w.@+-]|[\u0300-\u036f])+")
# Characters shared by every script (digits, punctuation) or taking their base's.
NEUTRAL_SCRIPTS = {"COMMON", "INHERITED"}
# UTS #39 "highly restrictive": one script, or one of these combinations.
SCRIPT_SETS = (
    {"LATIN", "HAN", "HIRAGANA", "KATAKANA"},
    {"LATIN", "HAN", "BOPOMOFO"},
    {"LATIN", "HAN", "HANGUL"},
)
RULE = "letters, digits and @/./+/-/_ characters (150 at most)"


def hub_form(username: str) -> str:
    """The name JupyterHub knows this person by (stable under the hub's own ``lower()``)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
    return folded.lower()


def scripts(name: str) -> set[str]:
    """The Unicode scripts of a name's letters (digits and punctuation belong to none)."""
    return {categories.alias(char) for char in name} - NEUTRAL_SCRIPTS


def refusal(username: str) -> str:
    """Why this username cannot be anyone's; empty when it can."""
    name = hub_form(username)
    if not ALLOWED.fullmatch(username) or not ALLOWED_FOLDED.fullmatch(name) or len(name) > 150:
        return f"A username may hold only {RULE}."
    if not any(char.isalnum() for char in name):
        return "A username needs at least one letter or digit."
    found = scripts(name)
    if len(found) > 1 and not any(found <= allowed for allowed in SCRIPT_SETS):
        mixed = ", ".join(sorted(script.title() for script in found))
        return f"A username may not mix scripts that look alike ({mixed})."
    return ""
