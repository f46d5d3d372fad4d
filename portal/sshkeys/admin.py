from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from portal.admin_deletes import ServiceDeleteMixin
from portal.errors import ServiceError
from portal.sshkeys import services
from portal.sshkeys.models import SshKey


class SshKeyAddForm(forms.ModelForm):
    """An admin adds a key for someone: owner, the pasted key, and a name if not its comment."""

    key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        strip=False,
        help_text="The one line of their .pub file (ssh-ed25519, ecdsa-sha2-…, ssh-rsa).",
    )
    by = None  # the admin, set by SshKeyAdmin.get_form

    class Meta:
        model = SshKey
        fields = ["owner", "key", "name"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        # The service is the one place that refuses a key (and records refusals in the audit
        # log): call it here, where its refusal can still be shown as the form's error. The
        # admin's save then takes the key it made.
        try:
            self.added = services.ssh_key_add(
                by=self.by, owner=data["owner"], text=data["key"], name=data["name"]
            )
        except ServiceError as error:
            raise ValidationError(error.message) from None
        return data


@admin.register(SshKey)
class SshKeyAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    list_display = ["owner", "name", "key_type", "fingerprint", "created_at"]
    list_filter = ["key_type", "created_at"]
    search_fields = ["owner__username", "fingerprint"]
    list_select_related = ["owner"]
    ordering = ["owner__username", "created_at"]
    fields = ["owner", "name", "key_type", "fingerprint", "public_key", "created_at"]
    actions = ["delete_with_resources"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a key is replaced, not edited: the page shows it read-only

    def get_fields(self, request, obj=None):
        return SshKeyAddForm.Meta.fields if obj is None else self.fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SshKeyAddForm
        form = super().get_form(request, obj, **kwargs)
        form.by = request.user  # a class made for this request by modelform_factory
        return form

    def save_model(self, request, obj, form, change):
        # Made by the service in the form's clean(); the admin only needs its values.
        for field in SshKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(form.added, field.attname))
        obj._state.adding = False

    def delete_service(self, request, obj) -> None:
        services.ssh_key_remove(key=obj, by=request.user)

    @admin.action(description="Delete the selected SSH keys")
    def delete_with_resources(self, request, queryset):
        super().delete_with_resources(request, queryset)
