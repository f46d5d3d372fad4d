"""Every API error is JSON ``{"detail": ...}`` with the status that says what went wrong."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.hub.client import HubError
from portal.workspaces.services import WorkspaceError


def exception_handler(exc, context):
    if isinstance(exc, WorkspaceError):
        return Response({"detail": exc.message}, status=exc.status)
    if isinstance(exc, HubError):
        return Response(
            {"detail": f"JupyterHub could not do this: {exc.message}", "hub_status": exc.status},
            status=503 if exc.is_outage else status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoPermissionDenied) and exc.args:
        # A service's refusal (it takes ``by=``): keep its message, DRF would drop it.
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
