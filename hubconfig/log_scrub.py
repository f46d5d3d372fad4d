"""Secrets out of the hub's log: every record the hub's process makes has the values of its
secret-looking URL parameters replaced by ``[secret]`` before any handler sees it.

JupyterHub scrubs the query of the request line it logs, but not what else carries a URL:
the ``next=`` of its login redirects (``/hub/login?next=%2Fhub%2Fhome%3Ftoken%3D...``, the
secret URL-encoded once or twice), or tornado's line for a refused request
(``403 GET /hub/oauth_callback?code=...&state=... (ip): ...`` on ``tornado.general``).

Why a record factory and not a filter on a logger: a logger's filters see only the records
logged on that very logger, not those its children pass up (tornado's three loggers,
oauthlib's, the spawners' and ours all end in the hub's handlers); and traitlets replaces the
hub's handlers, with their filters, whenever the logging settings change. The factory makes
every record, whatever logger it is for and whichever handler writes it.
"""

from __future__ import annotations

import logging
import re

# A parameter is secret when its name contains one of these (JupyterHub's own list, with
# ``secret`` and ``password``): ``token``, ``access_token``, ``code``, ``state``, ``_xsrf``...
SECRET_NAMES = ("token", "auth", "key", "code", "state", "xsrf", "secret", "password")
SCRUBBED = "[secret]"

# A percent sign, itself URL-encoded any number of times: ``%``, ``%25``, ``%2525``...
_PERCENT = r"%(?:25)*"
_SECRET_PARAMETER = re.compile(
    # Where a parameter starts: a URL's ``?``, ``&`` or ``;``, encoded or not, or a word
    # boundary in plain text (``token=...`` at the start of a message or after a space).
    rf"(?P<name>(?:^|[?&;\s]|{_PERCENT}(?:3F|26))"
    rf"[\w.\-]*(?:{'|'.join(SECRET_NAMES)})[\w.\-]*"
    rf"(?:=|{_PERCENT}3D))"
    # Its value: up to the next parameter or the end of the URL, encoded or not. A value
    # already scrubbed (``[secret]``) does not match again.
    rf"(?P<value>(?:(?!{_PERCENT}(?:26|23|20))[^\s&;#\"'<>\[\]])+)",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """``text`` with the value of every secret-looking URL parameter replaced."""
    return _SECRET_PARAMETER.sub(rf"\g<name>{SCRUBBED}", text)


def scrub_record(record: logging.LogRecord, exception_formatter: logging.Formatter) -> None:
    """Scrub ``record`` in place: its message with its arguments, its traceback and stack.

    The message is formatted here (the arguments may be any objects, a request among them)
    and kept without arguments, so no later step sees the secret again.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format: keep what logging would show, scrubbed
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(exception_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def install(exception_formatter: logging.Formatter | None = None) -> None:
    """Scrub every log record this process makes from now on (once, however often called).

    ``exception_formatter`` renders tracebacks (the hub's own formatter keeps its shorter
    tracebacks of coroutines); by default, logging's.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "mlhub_scrubs", False):
        return
    formatter = exception_formatter or logging.Formatter()

    def make_scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        scrub_record(record, formatter)
        return record

    make_scrubbed_record.mlhub_scrubs = True
    logging.setLogRecordFactory(make_scrubbed_record)
