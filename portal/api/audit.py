"""``/api/v1/audit/``: the audit log for admins, newest first, filtered and paginated."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ParseError

from portal.api.permissions import IsAdmin
from portal.audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="empty: the system")

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "action", "target", "result", "detail", "source", "address"]
        read_only_fields = fields


def _moment(params: Mapping[str, str], name: str):
    value = params.get(name)
    if not value:
        return None
    refused = ParseError(
        f"{name} must be an ISO 8601 date and time, e.g. 2026-11-27T09:00:00Z.", code="invalid"
    )
    try:
        moment = parse_datetime(value)  # ValueError: well formed, but no such moment
        if moment is None:
            raise refused
        # In UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 lets through
        # (-23:29 was a 500); a moment without an offset is UTC's.
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: past year 9999 once in UTC
        raise refused from None


def audit_filtered(queryset: QuerySet[AuditEntry], params: Mapping[str, str]) -> QuerySet:
    for name, lookup in [("actor", "actor_name"), ("action", "action"), ("target", "target")]:
        if value := params.get(name):
            queryset = queryset.filter(**{lookup: value})
    for name, choices in [("result", AuditEntry.Result), ("source", AuditEntry.Source)]:
        value = params.get(name)
        if value and value not in choices.values:
            raise ParseError(
                f"Unknown {name} {value!r}; use one of: {', '.join(choices.values)}.",
                code="invalid",
            )
        if value:
            queryset = queryset.filter(**{name: value})
    if since := _moment(params, "since"):
        queryset = queryset.filter(at__gte=since)
    if until := _moment(params, "until"):
        queryset = queryset.filter(at__lt=until)
    return queryset


AUDIT_PARAMETERS = [
    OpenApiParameter("actor", OpenApiTypes.STR, description="Username of who acted."),
    OpenApiParameter("action", OpenApiTypes.STR, description='e.g. "workspace.start".'),
    OpenApiParameter("target", OpenApiTypes.STR, description='e.g. "alice/thesis" or "bob".'),
    OpenApiParameter("result", OpenApiTypes.STR, enum=AuditEntry.Result.values),
    OpenApiParameter("source", OpenApiTypes.STR, enum=AuditEntry.Source.values),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="At or after (ISO 8601)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before (ISO 8601)."),
]


class AuditViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every state-changing action, allowed or refused (admins only; read-only)."""

    serializer_class = AuditEntrySerializer
    permission_classes = [IsAdmin]
    queryset = AuditEntry.objects.all()

    @extend_schema(parameters=AUDIT_PARAMETERS)
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(audit_filtered(self.get_queryset(), request.query_params))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
