"""The one exception services raise for a request they refuse: a message, an HTTP status and
a short machine-readable code.

Services raise nothing else for a refusal (no Django ``PermissionDenied`` or
``ValidationError``): the API answers ``{"detail": message, "code": code}`` with the status
(portal/api/errors.py), a page shows the message (its view, or ``ServiceErrorMiddleware`` with
the status), the admin shows it as an error message, and the audit log records it as refused
(4xx) or failed (5xx).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import render

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# The code a refusal gets when it names none, by its status.
CODES = {
    400: "invalid",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "limit_reached",
    500: "failed",
    503: "unavailable",
}


class ServiceError(Exception):
    def __init__(self, message: str, status: int = 400, code: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or CODES.get(status, "refused")
        self.extra: dict = {}  # more for the API's answer, e.g. a quota's limit and use
        self.retry_after: int | None = None  # seconds, for a 429's Retry-After header
        # Each field's messages, when the refusal is about fields of a request: the API answers
        # them alone, in the shape of DRF's own field errors.
        self.fields: dict[str, list[str]] = {}


def forbidden(message: str, code: str = "forbidden") -> ServiceError:
    """A 403: ``raise forbidden("Only its owner ...")``."""
    return ServiceError(message, 403, code)


def require_admin(by, doing: str) -> None:
    """The one "must be an administrator" rule: ``doing`` completes "Only administrators may"."""
    if not by.is_admin:
        raise forbidden(f"Only administrators may {doing}.", "admin_only")


@contextmanager
def invalid_is_refused() -> Iterator[None]:
    """Django's own checks inside a service (a model's ``full_clean``, the site's password
    rules) end as the service's one refusal: a 400 with every message, and each field's
    messages under its name for the API, as DRF's field errors (others in the message)."""
    try:
        yield
    except ValidationError as error:
        refusal = ServiceError(" ".join(error.messages), 400, "invalid")
        if hasattr(error, "error_dict"):
            refusal.fields = {
                field: found
                for field, found in error.message_dict.items()
                if field != NON_FIELD_ERRORS
            }
        raise refusal from None


class ServiceErrorMiddleware:
    """A page's view that lets a service's refusal through gets the message on the page it
    came from, with the refusal's status (a 403 stays a 403), instead of a bare error page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, ServiceError) or request.path_info.startswith("/api/"):
            return None  # the API's own handler answers in JSON
        messages.error(request, exception.message)
        return render(request, "refused.html", {"refusal": exception}, status=exception.status)
