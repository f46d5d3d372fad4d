"""The one endpoint the hub calls: its reports of workspace states (``spawners/state_reports``).

Its credential (``MLHUB_HUB_EVENTS_TOKEN``) is checked here and nowhere else: it cannot read
or change anything but the state of a workspace that exists, and no other credential (a
person's session, API token or OAuth token, the portal's own hub token) is accepted here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.service_credentials import service_permission
from portal.workspaces import sync

IsTheHub = service_permission("HUB_EVENTS_TOKEN", "Only the hub may report workspace states here.")


class HubEventSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=150)
    server = serializers.CharField(max_length=30)
    state = serializers.ChoiceField(choices=sorted(sync.REPORTED_STATES))
    message = serializers.CharField(
        max_length=500, allow_blank=True, default="", trim_whitespace=False
    )
    # Between 2000 and 2100: any moment the hub can report, and every one a datetime can hold.
    at = serializers.FloatField(
        min_value=946684800, max_value=4102444800, help_text="when the hub saw it, epoch seconds"
    )


class HubEventView(APIView):
    authentication_classes = []  # the bearer token is the hub's, not a person's
    permission_classes = [IsTheHub]
    throttle_classes = []

    @extend_schema(exclude=True)
    def post(self, request):
        report = HubEventSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        data = report.validated_data
        try:
            workspace, applied = sync.state_report(
                user=data["user"],
                server=data["server"],
                state=data["state"],
                message=data["message"],
                at=datetime.fromtimestamp(data["at"], tz=UTC),
            )
        except sync.UnknownWorkspace as error:
            raise NotFound(str(error)) from None
        return Response({"state": workspace.state, "applied": applied}, status=status.HTTP_200_OK)
