"""REST API v1. Views parse input, call one service and render; access checks are querysets."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.api.filters import (
    USER_LIST_PARAMETERS,
    WORKSPACE_LIST_PARAMETERS,
    users_filtered,
    workspaces_filtered,
)
from portal.api.permissions import IsAdmin
from portal.api.serializers import (
    ExpirySerializer,
    ExtendSerializer,
    MeSerializer,
    QuotaOwnSerializer,
    QuotaSerializer,
    RejectSerializer,
    UserCreateSerializer,
    UserSerializer,
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
    WorkspaceTokenRequestSerializer,
    WorkspaceTokenSerializer,
)
from portal.api.services import api_token_login
from portal.api.token_login import TokenRequestSerializer, TokenRequestsThrottled, TokenSerializer
from portal.quotas import services as quotas
from portal.quotas.limits import limits_of, usage_of
from portal.quotas.models import LIMITS, Quota
from portal.workspaces import services as workspaces
from portal.workspaces import workspace_tokens
from portal.workspaces.models import SyncPass, Workspace


class TokenView(APIView):
    """Trade a username and password for a new API token (``Authorization: Token <key>``).

    Each call makes another token, shown only in this answer. Repeated failures lock the
    account or the address out (429, django-axes); so does asking too often (429, DRF).
    """

    authentication_classes = []  # the password is the credential; a stale token must not 401
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="Unable to log in with provided credentials."),
            403: OpenApiResponse(
                description="The account may not use MLHub: waiting, rejected, off the allow-list."
            ),
            429: OpenApiResponse(description="Locked out or throttled; see Retry-After."),
        },
    )
    def post(self, request):
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key = api_token_login(request=request, **form.validated_data)
        return Response({"token": key})

    def throttled(self, request, wait):
        raise TokenRequestsThrottled(wait)


class MeView(APIView):
    """The caller. Any signed-in person may ask, approved or not (the hub needs to know)."""

    authentication_classes = [
        OAuth2Authentication,
        *APIView.settings.DEFAULT_AUTHENTICATION_CLASSES,
    ]
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class WorkspaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = WorkspaceSerializer
    # The model for the API schema (its path parameter's type); what a person sees is
    # get_queryset's alone.
    queryset = Workspace.objects.none()

    def get_queryset(self):
        return Workspace.objects.visible_to(self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "last_sync": SyncPass.last_started_at()}

    # Reads answer from the database; the hub keeps it in step (portal/workspaces/sync.py).
    @extend_schema(parameters=WORKSPACE_LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(
            workspaces_filtered(self.get_queryset(), request.query_params)
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceSerializer})
    def create(self, request):
        """Create a workspace and start it (``state`` is ``starting`` until it answers)."""
        form = WorkspaceCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        workspace = workspaces.workspace_create(
            by=request.user,
            owner=form.validated_data.get("owner"),
            name=form.validated_data["name"],
            template=form.validated_data.get("template"),
            options=form.options(),
            days_to_live=form.validated_data.get("days_to_live"),
        )
        return Response(self.get_serializer(workspace).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        workspace = workspaces.workspace_start(workspace=self.get_object(), by=request.user)
        return Response(self.get_serializer(workspace).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        workspace = workspaces.workspace_stop(workspace=self.get_object(), by=request.user)
        return Response(self.get_serializer(workspace).data)

    @extend_schema(
        request=WorkspaceTokenRequestSerializer,
        responses={
            200: WorkspaceTokenSerializer,
            400: OpenApiResponse(description="The lifetime is out of bounds."),
            403: OpenApiResponse(description="The caller or the owner may not use MLHub."),
            404: OpenApiResponse(description="No such workspace of the caller's."),
            409: OpenApiResponse(description="The workspace is being deleted."),
            503: OpenApiResponse(description="JupyterHub could not be reached."),
        },
    )
    @action(detail=True, methods=["post"])
    def token(self, request, pk=None):
        """A short-lived hub token that opens this workspace's server only (scripts, SSH)."""
        workspace = self.get_object()  # someone else's is a 404 before anything else
        form = WorkspaceTokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        made = workspace_tokens.workspace_token_create(
            workspace=workspace, by=request.user, lifetime=form.validated_data.get("lifetime")
        )
        body = {
            "token": made.token,
            "expires_at": made.expires_at,
            "scopes": made.scopes,
            "url": workspace.url,
        }
        # A secret in the answer: no cache on the way may keep it.
        return Response(WorkspaceTokenSerializer(body).data, headers={"Cache-Control": "no-store"})

    @extend_schema(request=ExtendSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Make it expire ``days`` from now: up to its template's maximum (admins: any)."""
        workspace = self.get_object()  # someone else's is a 404 before anything else
        form = ExtendSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        workspace = workspaces.workspace_extend(
            workspace=workspace, by=request.user, days=form.validated_data["days"]
        )
        return Response(self.get_serializer(workspace).data)

    @extend_schema(request=ExpirySerializer)
    def partial_update(self, request, pk=None):
        """Admins set ``expires_at`` directly (a past one: removed by the next expiry cleanup;
        null: never expires). Everyone else extends."""
        workspace = self.get_object()
        form = ExpirySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        workspace = workspaces.workspace_expiry_set(
            workspace=workspace, by=request.user, expires_at=form.validated_data["expires_at"]
        )
        return Response(self.get_serializer(workspace).data)

    def destroy(self, request, pk=None):
        """Stop the workspace and remove it with its resources."""
        workspaces.workspace_delete(workspace=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """People (admins only)."""

    serializer_class = UserSerializer
    permission_classes = [IsAdmin]
    # Someone being deleted is gone for the API at once (the row goes once the hub is done).
    queryset = User.objects.filter(deleting_since__isnull=True).order_by("username")

    @extend_schema(parameters=USER_LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(users_filtered(self.get_queryset(), request.query_params))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def create(self, request):
        form = UserCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user = accounts.user_create(
            username=data["username"],
            password=data.get("password"),
            email=data.get("email", ""),
            is_staff=data["is_admin"],
            approved=data["approved"],
            by=request.user,
        )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        user = accounts.user_approve(user=self.get_object(), by=request.user)
        return Response(UserSerializer(user).data)

    @extend_schema(request=RejectSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Refuse the person (the reason is shown to them): their servers stop and their
        tokens end within a minute."""
        user = self.get_object()
        form = RejectSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = accounts.user_reject(
            user=user, by=request.user, reason=form.validated_data["reason"]
        )
        return Response(UserSerializer(user).data)

    @extend_schema(methods=["GET"], responses=QuotaSerializer)
    @extend_schema(methods=["PUT"], request=QuotaOwnSerializer, responses=QuotaSerializer)
    @action(detail=True, methods=["get", "put"])
    def quota(self, request, pk=None):
        """The person's limits in effect (null: unlimited), their own quota (null: from their
        groups, then MLHUB_QUOTA_*) and what they use now. PUT sets their own quota."""
        user = self.get_object()
        own = Quota.objects.filter(user=user).first()
        if request.method == "PUT":
            form = QuotaOwnSerializer(data=request.data)
            form.is_valid(raise_exception=True)
            own = own or Quota(user=user)
            for limit, value in form.validated_data.items():
                setattr(own, limit, value)
            quotas.quota_save(quota=own, by=request.user)
        body = {
            "limits": limits_of(user),
            "own": {limit: getattr(own, limit, None) for limit in LIMITS},
            "used": asdict(usage_of(user)),
        }
        return Response(QuotaSerializer(body).data)

    def destroy(self, request, pk=None):
        """Remove the person, their workspaces and their hub account."""
        accounts.user_delete(user=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    raise NotFound(f"No API endpoint at {request.path}")
