from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lib.resources import RESOURCE_OPTIONS
from portal.accounts import access
from portal.accounts.models import User
from portal.sshkeys.gateway import ssh_config
from portal.workspaces import workspace_tokens
from portal.workspaces.models import Workspace
from portal.workspaces.start_queue import QueueReading
from portal.workspaces.sync import is_stale

# One formatter for every row (a field built per row cost more than the row's other fields).
_WHEN = serializers.DateTimeField()


class WorkspaceSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    template = serializers.CharField(source="template.name", read_only=True)
    url = serializers.CharField(read_only=True, help_text="absolute, on the owner's origin")
    memory = serializers.CharField(source="memory_display", read_only=True)
    start_queued = serializers.BooleanField(
        read_only=True, help_text="stopped, but a task is about to start it (user-hub mode)"
    )
    queue_position = serializers.SerializerMethodField(
        help_text="its place in the start queue (1: next); null when it is not waiting there"
    )
    queue_wait_seconds = serializers.SerializerMethodField(
        help_text=(
            "about how long until the hub is asked to start it: the median of the latest "
            "starts' durations × queue_position / MLHUB_START_CONCURRENCY; null when not queued"
        )
    )
    synced_at = serializers.SerializerMethodField(
        help_text="when the state was last confirmed by the hub (a report, an action or a sync)"
    )
    stale = serializers.SerializerMethodField(
        help_text="true when not confirmed for two sync intervals: the hub may be down"
    )
    expires_in_seconds = serializers.SerializerMethodField(
        help_text="time left until it expires (0: expired); null: never expires"
    )
    ssh_config = serializers.SerializerMethodField(
        help_text="the ~/.ssh/config block that reaches it through the SSH gateway"
    )

    class Meta:
        model = Workspace
        fields = [
            "id",
            "name",
            "owner",
            "template",
            "state",
            "message",
            "progress",
            "progress_message",
            "start_queued",
            "queue_position",
            "queue_wait_seconds",
            "url",
            *RESOURCE_OPTIONS,
            "created_at",
            "expires_at",
            "expires_in_seconds",
            "synced_at",
            "stale",
            "ssh_config",
        ]
        read_only_fields = fields

    def _synced_at(self, workspace: Workspace):
        # The view puts the last sync pass in the context: one query per request, not per row.
        return workspace.synced_as_of(self.context.get("last_sync"))

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_synced_at(self, workspace: Workspace):
        synced = self._synced_at(workspace)
        return _WHEN.to_representation(synced) if synced else None

    def _queue(self) -> QueueReading:
        # One reading of the queue per answer, made when the first queued row asks for it.
        return self.context.setdefault("start_queue", QueueReading())

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=1))
    def get_queue_position(self, workspace: Workspace) -> int | None:
        return self._queue().position(workspace)

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_queue_wait_seconds(self, workspace: Workspace) -> int | None:
        return self._queue().wait_seconds(workspace)

    @extend_schema_field(serializers.BooleanField())
    def get_stale(self, workspace: Workspace) -> bool:
        return is_stale(self._synced_at(workspace))

    def get_ssh_config(self, workspace: Workspace) -> str:
        request = self.context.get("request")
        return ssh_config(workspace, request.user if request else workspace.owner)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_expires_in_seconds(self, workspace: Workspace) -> int | None:
        left = workspace.time_left
        return None if left is None else int(left.total_seconds())


class WorkspaceCreateSerializer(serializers.Serializer):
    """Only the shape is checked here; the service checks the values against the template."""

    name = serializers.CharField(max_length=100)
    template = serializers.CharField(
        max_length=40, required=False, help_text="a template's name; default: the default one"
    )
    days_to_live = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=36500,
        help_text="default: the template's; at most its days_to_live_max (admins: any)",
    )
    image = serializers.CharField(max_length=200, required=False)
    cpu = serializers.JSONField(required=False, help_text="cores, e.g. 1.5")
    memory = serializers.JSONField(required=False, help_text='bytes or "512M", "2G"')
    gpus = serializers.JSONField(
        required=False,
        help_text='a count (2), or in Docker mode "all" or device indices "0,1" / [0, 1]',
    )
    shm_size = serializers.JSONField(required=False, help_text='shared memory, e.g. "1G"')
    env = serializers.JSONField(required=False, help_text="environment variables")
    owner = serializers.CharField(
        required=False, help_text="admins only: create the workspace for this user"
    )

    def options(self) -> dict:
        data = self.validated_data
        return {key: data[key] for key in RESOURCE_OPTIONS if key in data}


class UserSerializer(serializers.ModelSerializer):
    is_admin = serializers.BooleanField(read_only=True)  # User.is_admin: active, approved staff
    email = serializers.CharField(read_only=True, help_text="empty when none was given")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "is_admin",
            "approval",
            "approved_at",
            "rejection_reason",
            "date_joined",
        ]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        required=False, write_only=True, style={"input_type": "password"}
    )
    # Optional without a default: OpenAPI's `format: email` refuses `default: ""`, which
    # generated clients then reject (tests/portal/test_openapi_contract.py).
    email = serializers.EmailField(required=False, allow_blank=True)
    is_admin = serializers.BooleanField(default=False)
    approved = serializers.BooleanField(default=True)


class ExpirySerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="any moment (a past one: the next expiry cleanup removes it)"
    )


class ExtendSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=36500,
        help_text="it expires this many days from now (never earlier than it did)",
    )


class QuotaValuesSerializer(serializers.Serializer):
    workspaces = serializers.IntegerField(allow_null=True)
    running = serializers.IntegerField(allow_null=True)
    cpu = serializers.FloatField(allow_null=True, help_text="cores")
    memory = serializers.IntegerField(allow_null=True, help_text="bytes")
    gpus = serializers.IntegerField(allow_null=True)


class QuotaOwnSerializer(serializers.Serializer):
    """A person's own quota; a limit left out or null defers to their groups, then the
    MLHUB_QUOTA_* default."""

    workspaces = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, allow_null=True, default=None
    )
    running = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, allow_null=True, default=None
    )
    cpu = serializers.FloatField(
        min_value=0, max_value=1e6, allow_null=True, default=None, help_text="cores"
    )
    memory = serializers.IntegerField(
        min_value=0, max_value=2**62, allow_null=True, default=None, help_text="bytes"
    )
    gpus = serializers.IntegerField(min_value=0, max_value=2**31 - 1, allow_null=True, default=None)


class QuotaSerializer(serializers.Serializer):
    limits = QuotaValuesSerializer(help_text="null: unlimited")
    own = QuotaValuesSerializer(help_text="the person's own quota; null: from groups or default")
    used = QuotaValuesSerializer(help_text="workspaces not being deleted; resources of live ones")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        help_text="shown to the person when they log in",
    )


class MeSerializer(serializers.ModelSerializer):
    """Who is calling; the hub's authenticator reads this after the OAuth2 code exchange."""

    hub_name = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="empty when none was given")
    is_admin = serializers.BooleanField(read_only=True)
    approved = serializers.SerializerMethodField(
        help_text="may use workspaces: approved, and on the allow-list when there is one"
    )
    refused = serializers.SerializerMethodField(help_text="why not, in the person's words")

    class Meta:
        model = User
        fields = ["username", "hub_name", "email", "is_admin", "approved", "refused"]
        read_only_fields = fields

    def get_approved(self, user: User) -> bool:
        return not access.why_refused(user)

    def get_refused(self, user: User) -> str:
        return access.why_refused(user)


class WorkspaceTokenRequestSerializer(serializers.Serializer):
    lifetime = serializers.IntegerField(
        required=False,
        help_text=(
            f"seconds, default {workspace_tokens.DEFAULT_LIFETIME}; at least "
            f"{workspace_tokens.MIN_LIFETIME}, at most MLHUB_WORKSPACE_TOKEN_MAX_SECONDS"
        ),
    )


class WorkspaceTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="shown this once; send as `Authorization: token …` to the workspace's url"
    )
    expires_at = serializers.DateTimeField()
    scopes = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(help_text="the workspace, absolute, on the owner's origin")
