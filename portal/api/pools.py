"""``/api/v1/pools/``: each template's warm pool and its slots (admins). Sizes are set on
the templates (``pool_size``, ``/api/v1/templates/``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.permissions import IsAdmin
from portal.pools.models import PoolSlot
from portal.pools.reads import pools_available, pools_overview


class SlotSerializer(serializers.ModelSerializer):
    class Meta:
        model = PoolSlot
        fields = ["name", "state", "image", "cpu", "memory", "created_at", "ready_at", "detail"]
        read_only_fields = fields


class PoolSerializer(serializers.Serializer):
    template = serializers.CharField()
    image = serializers.CharField()
    size = serializers.IntegerField(help_text="slots it keeps (the template's pool_size)")
    ready = serializers.IntegerField(help_text="slots waiting to be claimed")
    warming = serializers.IntegerField(help_text="slots still loading")
    failed = serializers.IntegerField(help_text="slots that did not come up")
    last_error = serializers.CharField(help_text="why the last failed slot failed")
    slots = SlotSerializer(many=True)


class PoolsAnswerSerializer(serializers.Serializer):
    available = serializers.BooleanField(
        help_text="whether this execution mode has warm pools (Docker mode)"
    )
    pools = PoolSerializer(many=True)


class PoolsView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=PoolsAnswerSerializer)
    def get(self, request):
        answer = {"available": pools_available(), "pools": pools_overview()}
        return Response(PoolsAnswerSerializer(answer).data)
