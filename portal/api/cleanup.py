"""Cleanup for admins: queue a job (``POST /api/v1/cleanup/<job>/``), read its report
(``/api/v1/cleanup/runs/``), and the original MLHub's ``GET /services/cleanup-service/<job>``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from knox.auth import TokenAuthentication
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from lib.env import TRUE_WORDS
from portal.api.permissions import IsAdmin
from portal.cleanup import runs
from portal.cleanup.models import CleanupRun


class CleanupRunSerializer(serializers.ModelSerializer):
    asked_by = serializers.CharField(source="asked_by.username", default=None, read_only=True)
    done = serializers.SerializerMethodField(help_text="false while queued or running")

    class Meta:
        model = CleanupRun
        fields = [
            "id",
            "job",
            "dry_run",
            "asked_by",
            "asked_at",
            "finished_at",
            "done",
            "summary",
            "report",
        ]
        read_only_fields = fields

    def get_done(self, run: CleanupRun) -> bool:
        return run.finished_at is not None


DRY_RUN = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, description="1: list what would be removed, remove nothing"
)


class CleanupJobView(APIView):
    """Queue a cleanup job; its report is at the answer's ``url`` when ``done``."""

    permission_classes = [IsAdmin]
    job = ""

    @extend_schema(request=None, parameters=[DRY_RUN], responses={202: CleanupRunSerializer})
    def post(self, request):
        return self._queue(request)

    def _queue(self, request):
        dry_run = request.query_params.get("dry_run", "").strip().lower() in TRUE_WORDS
        run = runs.run_later(job=self.job, dry_run=dry_run, by=request.user)
        body = {
            **CleanupRunSerializer(run).data,
            "url": reverse("cleanup-run-detail", args=[run.pk], request=request),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class LegacyCleanupView(CleanupJobView):
    """The original's ``GET /services/cleanup-service/<job>``: a token only, never a browser
    session (a link must not start a cleanup), then the same as the POST."""

    authentication_classes = [TokenAuthentication]

    @extend_schema(exclude=True)
    def get(self, request):
        return self._queue(request)

    @extend_schema(exclude=True)
    def post(self, request):
        return self._queue(request)


class CleanupRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Cleanup runs, newest first, with their reports (admins only)."""

    serializer_class = CleanupRunSerializer
    permission_classes = [IsAdmin]
    queryset = CleanupRun.objects.select_related("asked_by")
