"""The SQL that differs between SQLite and PostgreSQL here: seconds between two moments, as a
number the database can multiply by cores and sum (Django's own duration arithmetic gives a
duration, which neither multiplies by a float); and the collation that orders names as
Python does."""

from __future__ import annotations

from django.db import connection
from django.db.models import FloatField, Func


class SecondsBetween(Func):
    """``SecondsBetween(later, earlier)``: seconds from ``earlier`` to ``later``."""

    arity = 2
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # Stored as ISO text in UTC; julianday counts days, to about a microsecond.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
            **extra,
        )


def by_code_point() -> str:
    """The collation that orders text by code point, as Python sorts ``str`` (UTF-8's bytes
    in that order): SQLite's BINARY, PostgreSQL's "C"."""
    return "BINARY" if connection.vendor == "sqlite" else '"C"'
