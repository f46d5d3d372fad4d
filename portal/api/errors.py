"""Every API error is JSON ``{"detail": ...}`` with the status that says what went wrong."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ServiceError
from portal.hub.client import HubError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.status)
    if isinstance(exc, HubError):
        return Response(
            {"detail": f"JupyterHub could not do this: {exc.message}", "hub_status": exc.status},
            status=503 if exc.is_outage else status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoPermissionDenied) and exc.args:
        # A service's refusal (it takes ``by=``): keep its message, DRF would drop it.
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
