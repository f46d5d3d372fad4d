"""``/api/v1/templates/``: everyone reads the templates they may use; admins write them."""

from __future__ import annotations

from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from lib.resources import ResourceError, parse_memory
from portal.api.permissions import IsAdmin, IsApproved
from portal.workspaces import workspace_templates
from portal.workspaces.models import WorkspaceTemplate


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "example": "4G"})
class MemoryField(serializers.Field):
    """Bytes, or a size such as ``"512M"`` or ``"4G"`` (powers of 1024); answered in bytes."""

    def to_internal_value(self, data):
        try:
            return parse_memory(data)
        except ResourceError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value):
        return value


class TemplateSerializer(serializers.ModelSerializer):
    groups = serializers.SlugRelatedField(
        many=True,
        slug_field="name",
        queryset=Group.objects.all(),
        required=False,
        help_text="the groups that may use it; empty: everyone",
    )
    memory_default = MemoryField(required=False)
    memory_max = MemoryField(required=False)

    class Meta:
        model = WorkspaceTemplate
        fields = [
            "id",
            "name",
            "description",
            "image",
            "cpu_default",
            "cpu_max",
            "memory_default",
            "memory_max",
            "gpus_max",
            "days_to_live_default",
            "days_to_live_max",
            "groups",
            "is_default",
            "pool_size",
        ]
        # The uniqueness checks are the service's (a 409; a new default replaces the old).
        extra_kwargs = {"name": {"validators": []}, "is_default": {"validators": []}}
        validators = []


class TemplateViewSet(viewsets.ModelViewSet):
    """Workspace templates. People see those open to them; admins see and change all."""

    serializer_class = TemplateSerializer
    # The model for the API schema (its path parameter's type); what a person sees is
    # get_queryset's alone.
    queryset = WorkspaceTemplate.objects.none()

    def get_permissions(self):
        allowed = IsApproved if self.request.method in SAFE_METHODS else IsAdmin
        return [allowed()]

    def get_queryset(self):
        return WorkspaceTemplate.objects.usable_by(self.request.user).prefetch_related("groups")

    def create(self, request):
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        return self._save(form, WorkspaceTemplate(), status.HTTP_201_CREATED)

    def update(self, request, *args, partial=False, **kwargs):
        template = self.get_object()
        form = self.get_serializer(template, data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        return self._save(form, template, status.HTTP_200_OK)

    def _save(self, form, template: WorkspaceTemplate, answer: int) -> Response:
        data = dict(form.validated_data)
        groups = data.pop("groups", None)
        for field, value in data.items():
            setattr(template, field, value)
        workspace_templates.template_save(template=template, groups=groups, by=self.request.user)
        return Response(self.get_serializer(template).data, status=answer)

    def perform_destroy(self, instance):
        workspace_templates.template_delete(template=instance, by=self.request.user)
