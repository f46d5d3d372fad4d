"""The API's JSON parser: DRF's, with a bound on nesting.

Python's JSON decoder recurses once per level: an array nested a few thousand deep raised
``RecursionError``, a 500, even on endpoints that need no login. No body of this API nests
more than a few levels, so anything deeper than ``MAX_DEPTH`` is refused as a 400 before it
is decoded.
"""

from __future__ import annotations

import codecs
import re
from itertools import accumulate
from operator import itemgetter

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

MAX_DEPTH = 32

# A JSON string, escapes included: brackets inside one are text, not nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit``, without decoding it.

    Exact for valid JSON; in invalid JSON the decoder stops at the first error, no deeper than
    counted here. No recursion, linear in the body, and it stops at the first level too deep:
    the body that used to exhaust the decoder costs next to nothing."""
    brackets = map(itemgetter(0), _BRACKETS.finditer(_STRING.sub("", text)))
    depths = accumulate(map(_STEP.__getitem__, brackets))
    return next(filter(limit.__lt__, depths), None) is not None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        too_deep = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."
        if nests_deeper_than(text, MAX_DEPTH):
            raise ParseError(too_deep)
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            # Not expected after the check above; still a bad body, never a 500.
            raise ParseError(too_deep) from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
