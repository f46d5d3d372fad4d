"""``/api/v1/budgets/``: people's and groups' budgets (admins), and ``mine/``: the caller's
budget in effect with the use so far and when it resets (everyone, their own only)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from lib.budgets import FIELDS, parse_hours, parse_period
from portal.api.permissions import IsAdmin, IsApproved
from portal.budgets import services
from portal.budgets.limits import standings_of
from portal.budgets.models import Budget


class HoursField(serializers.FloatField):
    """Hours as ``lib.budgets.parse_hours`` takes them (null: no limit at this level)."""

    def to_internal_value(self, data):
        try:
            return parse_hours(data)
        except ValueError as error:
            text = str(error)
            raise serializers.ValidationError(f"{text[0].upper()}{text[1:]}.") from None


def _hours(help_text: str) -> HoursField:
    return HoursField(allow_null=True, default=None, help_text=f"{help_text}; null: no limit here")


class BudgetSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    user = serializers.CharField(
        allow_null=True, default=None, max_length=150, help_text="whose (a username); or group"
    )
    group = serializers.CharField(
        allow_null=True, default=None, max_length=150, help_text="whose (a group's name); or user"
    )
    cpu_hours = _hours("core-hours per period")
    gpu_hours = _hours("GPU-hours per period")
    memory_gib_hours = _hours("GiB-hours of memory per period")
    period = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=10,
        help_text='"month" (calendar, UTC) or a rolling window like "30d"; "": MLHUB_BUDGET_PERIOD',
    )
    stop_at_budget = serializers.BooleanField(
        allow_null=True,
        default=None,
        help_text="stop running workspaces once a limit is used up; null: "
        "MLHUB_BUDGET_STOP_AT_BUDGET",
    )

    def validate_period(self, value: str) -> str:
        if not value:
            return ""
        try:
            return parse_period(value).text
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, budget: Budget) -> dict:
        return {
            "id": budget.pk,
            "user": budget.user.username if budget.user_id else None,
            "group": budget.group.name if budget.group_id else None,
            **{field: getattr(budget, field) for field in FIELDS},
            "period": budget.period,
            "stop_at_budget": budget.stop_at_budget,
        }


class StandingSerializer(serializers.Serializer):
    limit = serializers.FloatField(source="limit.hours", help_text="hours per period")
    used = serializers.FloatField(help_text="hours reserved in the window so far")
    period = serializers.CharField(source="limit.period.text", help_text="month or <N>d")
    since = serializers.DateField(help_text="the window's first day (UTC)")
    resets_at = serializers.DateTimeField(
        help_text="a month: its end; a rolling window: when use is under the limit again if "
        "nothing more runs (already under: the next midnight UTC, when the window moves)"
    )
    stop_at_budget = serializers.BooleanField(source="limit.stop_at_budget")
    source = serializers.CharField(
        source="limit.source", help_text='"own", "group <name>" or "default"'
    )


class MyBudgetSerializer(serializers.Serializer):
    user = serializers.CharField()
    cpu_hours = StandingSerializer(allow_null=True, help_text="null: no limit")
    gpu_hours = StandingSerializer(allow_null=True, help_text="null: no limit")
    memory_gib_hours = StandingSerializer(allow_null=True, help_text="null: no limit")


BAD_BUDGET = OpenApiResponse(
    description="Bad hours (negative, NaN, infinite, under 0.01 or over 1e9) or period, both "
    "user and group or neither, or an unknown name."
)


class BudgetViewSet(viewsets.ModelViewSet):
    """Budgets of people and groups: CPU-, GPU- and memory GiB-hours per period. A person's
    own budget wins, field by field, over their groups' most generous, then the
    MLHUB_BUDGET_* defaults. Admins only, except ``mine/``."""

    serializer_class = BudgetSerializer
    permission_classes = [IsAdmin]
    queryset = Budget.objects.select_related("user", "group").order_by(
        "group__name", "user__username", "pk"
    )
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_permissions(self):
        if self.action == "mine":
            return [IsApproved()]
        return super().get_permissions()

    @extend_schema(responses={201: BudgetSerializer, 400: BAD_BUDGET, 409: None})
    def create(self, request):
        form = BudgetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        budget = Budget()
        self._fill(budget, form.validated_data)
        services.budget_save(budget=budget, by=request.user)
        return Response(self.get_serializer(budget).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: BudgetSerializer, 400: BAD_BUDGET, 409: None})
    def update(self, request, pk=None, partial: bool = False):
        budget = self.get_object()
        form = BudgetSerializer(data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        self._fill(budget, form.validated_data)
        services.budget_save(budget=budget, by=self.request.user)
        return Response(self.get_serializer(budget).data)

    @extend_schema(responses={200: BudgetSerializer, 400: BAD_BUDGET, 409: None})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def _fill(self, budget: Budget, data: dict) -> None:
        """Set what the request gives; naming a user or a group names the budget's owner
        anew (the other is dropped)."""
        if budget.pk is None or "user" in data or "group" in data:
            whose = services.budget_whose(
                by=self.request.user, user=data.get("user"), group=data.get("group")
            )
            budget.user, budget.group = whose["user"], whose["group"]
        for name in (*FIELDS, "period", "stop_at_budget"):
            if name in data:
                setattr(budget, name, data[name])

    def perform_destroy(self, instance):
        services.budget_delete(budget=instance, by=self.request.user)

    @extend_schema(responses=MyBudgetSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def mine(self, request):
        """Your budget in effect, field by field, with the use in its window so far and
        when it resets."""
        body = {"user": request.user.username, **standings_of(request.user)}
        return Response(MyBudgetSerializer(body).data)
