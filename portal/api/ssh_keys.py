"""People's SSH public keys: ``/api/v1/ssh-keys/``, for the SSH gateway to let them in."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from lib.usernames import hub_form
from portal.sshkeys import services
from portal.sshkeys.models import SshKey


class SshKeySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    type = serializers.CharField(source="key_type", read_only=True)
    public_key = serializers.CharField(
        read_only=True, help_text="<type> <base64>, the line for authorized_keys"
    )
    fingerprint = serializers.CharField(
        read_only=True, help_text="SHA256:…, as `ssh-keygen -lf key.pub` prints it"
    )

    class Meta:
        model = SshKey
        fields = ["id", "name", "owner", "type", "fingerprint", "public_key", "created_at"]
        read_only_fields = fields


class SshKeyAddSerializer(serializers.Serializer):
    key = serializers.CharField(
        trim_whitespace=False,
        help_text="One OpenSSH public key: the line of a .pub file (ssh-ed25519, "
        "ecdsa-sha2-nistp256/384/521, or ssh-rsa of 2048 bits or more)",
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=services.NAME_LENGTH,
        help_text="A label; the key's comment when left out",
    )
    owner = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Admins only: whose key it is"
    )


class SshKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your SSH public keys: the SSH gateway lets you in with any of them.

    A key belongs to one person only; adding one someone already has is a 409. Someone
    else's key is a 404, whoever asks (admins see anyone's).
    """

    serializer_class = SshKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's generator, nobody signed in
            return SshKey.objects.none()
        return SshKey.objects.visible_to(self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "owner",
                OpenApiTypes.STR,
                description="Admins: this person's keys (username). Default: your own; "
                "others only ever see their own.",
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        """Your keys, oldest first (admins: anyone's, with ``?owner=``)."""
        owner = request.query_params.get("owner") or request.user.username
        keys = self.get_queryset().filter(owner__hub_name=hub_form(owner))
        keys = keys.order_by("created_at", "id")
        page = self.paginate_queryset(keys)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=SshKeyAddSerializer,
        responses={
            201: SshKeySerializer,
            400: OpenApiResponse(
                description="Not an accepted public key (a private key, DSA, RSA under 2048 "
                "bits, several lines), or the person has the most keys allowed."
            ),
            403: OpenApiResponse(description="Not approved, or for someone else (not admin)."),
            409: OpenApiResponse(description="Someone already added this key."),
        },
    )
    def create(self, request):
        """Add a public key; its name defaults to the key's comment."""
        form = SshKeyAddSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key = services.ssh_key_add(
            by=request.user,
            text=form.validated_data["key"],
            name=form.validated_data["name"],
            owner=form.validated_data["owner"] or None,
        )
        return Response(self.get_serializer(key).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.ssh_key_remove(key=instance, by=self.request.user)
