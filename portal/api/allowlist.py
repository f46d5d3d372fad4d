"""``/api/v1/allowlist/``: who may join while the allow-list is active (admins only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from portal.accounts import allowlist
from portal.accounts.models import AllowListEntry
from portal.api.permissions import IsAdmin


class AllowListEntrySerializer(serializers.ModelSerializer):
    value = serializers.CharField(
        max_length=254, help_text='a username, or an e-mail domain such as "example.org"'
    )

    class Meta:
        model = AllowListEntry
        fields = ["id", "kind", "value", "note", "created_at"]
        read_only_fields = ["created_at"]


class AllowListViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The allow-list. Empty (and no dynamic whitelist file enabled): everyone may sign up.
    Otherwise only people it names, by username or e-mail domain; admins always may."""

    serializer_class = AllowListEntrySerializer
    permission_classes = [IsAdmin]
    queryset = AllowListEntry.objects.all()

    @extend_schema(responses={201: AllowListEntrySerializer})
    def create(self, request):
        form = AllowListEntrySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        entry = allowlist.allowlist_add(**form.validated_data, by=request.user)
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        allowlist.allowlist_remove(entry=instance, by=self.request.user)
