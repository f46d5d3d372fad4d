"""Every API error is JSON ``{"detail": ..., "code": ...}`` with the status that says what
went wrong; field errors of a request body are ``{"<field>": [...]}``, as DRF's own."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ServiceError
from portal.hub.client import HubError


def exception_handler(exc, context):
    response = _answer(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data.setdefault("code", _code_of(exc))
    return response


def _code_of(exc: Exception) -> str:
    """A short word a client can branch on, as the message is for people."""
    if isinstance(exc, ServiceError):
        return exc.code
    if isinstance(exc, HubError):
        return "hub_unavailable" if exc.is_outage else "hub_refused"
    if isinstance(exc, APIException):
        codes = exc.get_codes()
        return codes if isinstance(codes, str) else exc.default_code
    if isinstance(exc, DjangoValidationError):
        return "invalid"
    if isinstance(exc, Http404):
        return "not_found"
    return "forbidden" if isinstance(exc, DjangoPermissionDenied) else "error"


def _answer(exc, context):
    if isinstance(exc, ServiceError):
        if exc.fields:
            return Response(exc.fields, status=exc.status)
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        response = Response(body, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, HubError):
        return Response(
            {"detail": f"JupyterHub could not do this: {exc.message}", "hub_status": exc.status},
            status=503 if exc.is_outage else status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoPermissionDenied) and exc.args:
        # Django's own refusal with a reason (services raise ServiceError): keep its
        # message, DRF would drop it.
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, DjangoValidationError):
        # A model's full_clean names its fields, as DRF's own field errors do; the rest
        # (constraints over several fields) is the detail.
        if hasattr(exc, "error_dict"):
            body = {
                ("detail" if field == NON_FIELD_ERRORS else field): messages
                for field, messages in exc.message_dict.items()
            }
        else:
            body = {"detail": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
