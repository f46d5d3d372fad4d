"""``/metrics``: the portal's Prometheus metrics, for an admin's API token or the scraper's.

One rule: ``Authorization: Token <an admin's API token>`` or ``Authorization: Bearer
<MLHUB_METRICS_TOKEN>`` (compared in constant time). No credential, or one that is not
valid, is a 401; a valid API token of someone who is not an admin a 403. No metrics token
configured: admins only. A browser session is not a credential here: scrapers send tokens.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from portal.api.service_credentials import bearer_matches
from portal.metrics.collector import PortalCollector

SCRAPER = "metrics-token"


class MetricsTokenAuthentication(BaseAuthentication):
    """The bearer of ``MLHUB_METRICS_TOKEN``: nobody's account, good for ``/metrics`` only."""

    def authenticate(self, request):
        if bearer_matches(request, settings.METRICS_TOKEN):
            return AnonymousUser(), SCRAPER
        return None


class IsAdminOrScraper(BasePermission):
    message = "Only administrators' API tokens and the metrics token may read the metrics."
    code = "admin_only"

    def has_permission(self, request, view) -> bool:
        if request.auth == SCRAPER:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class AnyAccept(BaseContentNegotiation):
    """Refusals in the API's JSON whatever the scraper accepts: the metrics themselves are
    encoded as it asks (``choose_encoder``), outside DRF's negotiation, which would answer
    Prometheus's ``Accept: application/openmetrics-text`` with a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


class MetricsView(APIView):
    # The API's token first: its "WWW-Authenticate: Token" goes with each 401.
    authentication_classes = [TokenAuthentication, MetricsTokenAuthentication]
    permission_classes = [IsAdminOrScraper]
    throttle_classes = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept

    @extend_schema(exclude=True)
    def get(self, request):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PortalCollector())
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return HttpResponse(encoder(registry), content_type=content_type)
