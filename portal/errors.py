"""The one exception services raise for a request they refuse: a message and an HTTP status.

Pages show the message, the API answers ``{"detail": message}`` with the status, and the
audit log records it as refused (4xx) or failed (5xx).
"""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra: dict = {}  # more for the API's answer, e.g. a quota's limit and use
