from __future__ import annotations

from rest_framework import serializers

from portal.accounts.models import User
from portal.workspaces.models import Workspace
from spawners.resources import RESOURCE_OPTIONS


class WorkspaceSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    template = serializers.CharField(source="template.name", read_only=True)
    url = serializers.CharField(read_only=True, help_text="absolute, on the owner's origin")
    memory = serializers.CharField(source="memory_display", read_only=True)

    class Meta:
        model = Workspace
        fields = [
            "id",
            "name",
            "owner",
            "template",
            "state",
            "message",
            "url",
            *RESOURCE_OPTIONS,
            "created_at",
            "expires_at",
        ]
        read_only_fields = fields


class WorkspaceCreateSerializer(serializers.Serializer):
    """Only the shape is checked here; the service checks the values against the template."""

    name = serializers.CharField(max_length=100)
    template = serializers.CharField(max_length=40, default="default")
    image = serializers.CharField(max_length=200, required=False)
    cpu = serializers.JSONField(required=False, help_text="cores, e.g. 1.5")
    memory = serializers.JSONField(required=False, help_text='bytes or "512M", "2G"')
    gpus = serializers.JSONField(required=False, help_text='"all", "0,1" or [0, 1]')
    shm_size = serializers.JSONField(required=False, help_text='shared memory, e.g. "1G"')
    env = serializers.JSONField(required=False, help_text="environment variables")
    owner = serializers.CharField(
        required=False, help_text="admins only: create the workspace for this user"
    )

    def options(self) -> dict:
        data = self.validated_data
        return {key: data[key] for key in RESOURCE_OPTIONS if key in data}


class UserSerializer(serializers.ModelSerializer):
    is_admin = serializers.BooleanField(source="is_staff", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_admin", "approval", "approved_at", "date_joined"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        required=False, write_only=True, style={"input_type": "password"}
    )
    email = serializers.EmailField(required=False, default="")
    is_admin = serializers.BooleanField(default=False)
    approved = serializers.BooleanField(default=True)


class MeSerializer(serializers.ModelSerializer):
    """Who is calling; the hub's authenticator reads this after the OAuth2 code exchange."""

    hub_name = serializers.CharField(read_only=True)
    is_admin = serializers.BooleanField(read_only=True)
    approved = serializers.BooleanField(source="is_approved", read_only=True)

    class Meta:
        model = User
        fields = ["username", "hub_name", "email", "is_admin", "approved"]
        read_only_fields = fields
