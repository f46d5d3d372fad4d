"""``/api/v1/usage/``: CPU, memory and GPU hours reserved per day, week or month, of the
caller by default; of anyone, a group or a template for admins."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets

from portal.usage.ranges import DEFAULT_DAYS, subject_and_range
from portal.usage.reads import GRANULARITIES, MOST_DAYS, usage_periods


class UsagePeriodSerializer(serializers.Serializer):
    period = serializers.DateField(source="start", help_text="its first day (UTC)")
    cpu_hours = serializers.FloatField(help_text="core-hours reserved")
    memory_gib_hours = serializers.FloatField(help_text="GiB-hours of memory reserved")
    gpu_hours = serializers.FloatField(help_text="GPU-hours reserved")
    runs = serializers.IntegerField(help_text="runs that started in it")


USAGE_PARAMETERS = [
    OpenApiParameter(
        "user",
        OpenApiTypes.STR,
        description="This person's usage (username); admins only, except one's own.",
    ),
    OpenApiParameter("group", OpenApiTypes.STR, description="This group's usage; admins only."),
    OpenApiParameter(
        "template", OpenApiTypes.STR, description="This template's usage; admins only."
    ),
    OpenApiParameter(
        "since",
        OpenApiTypes.DATE,
        description=f"First day (UTC, included). Default: {DEFAULT_DAYS} days before until.",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATE,
        description=f"Last day (UTC, included). Default: today. At most {MOST_DAYS} days.",
    ),
    OpenApiParameter(
        "granularity",
        OpenApiTypes.STR,
        enum=list(GRANULARITIES),
        description="A row per day (default), week (from Monday) or month.",
    ),
]


class UsageViewSet(viewsets.GenericViewSet):
    """Reserved resources over time, one row per period with zeros where nothing ran; a
    running workspace counts up to now. A person sees their own; admins anyone's
    (``user``), a group's or a template's (one of them)."""

    serializer_class = UsagePeriodSerializer

    @extend_schema(
        parameters=USAGE_PARAMETERS,
        responses={
            200: UsagePeriodSerializer(many=True),
            400: OpenApiResponse(description="A bad date or granularity, or until before since."),
            403: OpenApiResponse(description="Someone else's, a group's or a template's usage."),
        },
    )
    def list(self, request):
        params = request.query_params
        subject, since, until = subject_and_range(params, by=request.user, most_days=MOST_DAYS)
        periods = usage_periods(
            subject=subject,
            since=since,
            until=until,
            granularity=params.get("granularity") or "day",
        )
        page = self.paginate_queryset(periods)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
