"""The internal endpoints' credentials: each a bearer secret of one service (the hub's state
reports, the SSH gateway), good on that one endpoint only and for nothing else."""

from __future__ import annotations

import hmac

from rest_framework.permissions import BasePermission


def bearer_matches(request, expected: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.encode(), expected.encode())
    )


def service_permission(setting: str, message: str) -> type[BasePermission]:
    """A permission class admitting the bearer of ``settings.<setting>`` only."""

    class HoldsTheServiceSecret(BasePermission):
        def has_permission(self, request, view) -> bool:
            from django.conf import settings

            return bearer_matches(request, getattr(settings, setting))

    HoldsTheServiceSecret.message = message
    return HoldsTheServiceSecret
