"""``/api/v1/usage/``: CPU, memory and GPU hours reserved per day, week or month, with the
CPU measured beside it, of the caller by default; of anyone, a group or a template for
admins."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, viewsets

from portal.usage.ranges import DEFAULT_DAYS, subject_and_range
from portal.usage.reads import GRANULARITIES, MOST_DAYS, usage_periods
from portal.usage.sampler import measured_use_unavailable


class UsagePeriodSerializer(serializers.Serializer):
    period = serializers.DateField(source="start", help_text="its first day (UTC)")
    cpu_hours = serializers.FloatField(help_text="core-hours reserved")
    memory_gib_hours = serializers.FloatField(help_text="GiB-hours of memory reserved")
    gpu_hours = serializers.FloatField(help_text="GPU-hours reserved")
    runs = serializers.IntegerField(help_text="runs that started in it")
    cpu_used_hours = serializers.FloatField(
        help_text="CPU-hours used, as the engine measured them (the usage sampler)"
    )
    efficiency = serializers.FloatField(
        allow_null=True,
        help_text="CPU used ÷ CPU reserved over the time that was measured (0.25: a quarter "
        "of what was reserved was used); null when nothing was measured",
    )
    memory_peak_bytes = serializers.IntegerField(
        allow_null=True, help_text="the most memory a run in it was seen using; null: unmeasured"
    )
    measured_use_unavailable = serializers.SerializerMethodField(
        help_text="why use is reserved only (e.g. 'the cluster serves no metrics API'), or "
        "null when the sampler measures running workspaces"
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_measured_use_unavailable(self, period) -> str | None:
        return self.context["unavailable"]


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
    running workspace counts up to now. Beside them, the CPU measured and the efficiency
    (used ÷ reserved) where the usage sampler measured. A person sees their own; admins anyone's
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
        context = {**self.get_serializer_context(), "unavailable": measured_use_unavailable()}
        rows = UsagePeriodSerializer(page, many=True, context=context)
        return self.get_paginated_response(rows.data)
