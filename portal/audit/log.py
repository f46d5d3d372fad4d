"""Writing the audit log: ``record`` for one entry, ``@audited`` around a service.

Services record; views, the API and admin classes never do. Where a call came from (page,
API, admin, scheduler, hub event, command) and the client's address are set once per
request by ``AuditSourceMiddleware`` (or ``from_source`` in commands); code running outside
any request (django-q2 tasks) is the scheduler.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import PermissionDenied, ValidationError

from portal.audit.models import AuditEntry
from portal.hub.client import HubError

log = logging.getLogger(__name__)
Source = AuditEntry.Source
Result = AuditEntry.Result

_origin: ContextVar[tuple[str, str | None]] = ContextVar(
    "audit_origin", default=(Source.SCHEDULER, None)
)


@contextmanager
def from_source(source: str, address: str | None = None) -> Iterator[None]:
    """Entries recorded inside this block come from ``source`` (and ``address``)."""
    token = _origin.set((source, address))
    try:
        yield
    finally:
        _origin.reset(token)


def record(
    *, by, action: str, target: str, result: str = Result.OK, detail: str = ""
) -> AuditEntry:
    """One entry; ``by`` is the acting person, or None for the system (the hub, a task)."""
    source, address = _origin.get()
    actor = by if getattr(by, "pk", None) else None
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.username if actor else "",
        action=action,
        target=target[:200],
        result=result,
        detail=detail,
        source=source,
        address=address,
    )


def result_of(error: Exception) -> str | None:
    """How a service's exception ends up in the log; None for a bug (not recorded)."""
    if isinstance(error, HubError):
        return Result.FAILED
    if isinstance(error, PermissionDenied | ValidationError):
        return Result.REFUSED
    status = getattr(error, "status", None)  # ServiceError, QuotaExceeded, ...
    if isinstance(status, int):
        return Result.REFUSED if status < 500 else Result.FAILED
    return None


def audited(
    action: str,
    target: Callable[[dict], str],
    detail: Callable[[dict, object], str] | None = None,
):
    """Record each call of the keyword-only service it wraps, refusals and failures included.

    ``target(kwargs)`` names what it acted on; ``detail(kwargs, returned)`` adds what an
    allowed call did (a new expiry, the owner of a new workspace). The exception is re-raised.
    """

    def decorate(service):
        @functools.wraps(service)
        def call(**kwargs):
            by = kwargs.get("by")
            try:
                returned = service(**kwargs)
            except Exception as error:
                result = result_of(error)
                if result is not None:
                    record(
                        by=by,
                        action=action,
                        target=target(kwargs),
                        result=result,
                        detail=_message(error),
                    )
                raise
            record(
                by=by,
                action=action,
                target=target(kwargs),
                detail=detail(kwargs, returned) if detail else "",
            )
            return returned

        return call

    return decorate


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return getattr(error, "message", None) or str(error)
