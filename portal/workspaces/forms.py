from __future__ import annotations

from django import forms
from django.conf import settings

from portal.workspaces.models import Template


class WorkspaceCreateForm(forms.Form):
    """The shape of the request; the service checks values against the template's bounds."""

    name = forms.CharField(
        max_length=30,
        help_text="Lowercase letters, digits and hyphens, starting with a letter",
        widget=forms.TextInput(attrs={"pattern": "[a-z][a-z0-9-]{0,29}", "autofocus": True}),
    )
    template = forms.ModelChoiceField(
        Template.objects.order_by("name"), to_field_name="name", empty_label=None
    )
    image = forms.ChoiceField(required=False, help_text="empty: the template's image")
    cpu = forms.FloatField(label="CPU", required=False, min_value=0.01, help_text="cores")
    memory = forms.CharField(required=False, max_length=20, help_text='e.g. "2G"')
    gpus = forms.CharField(label="GPUs", required=False, max_length=50, help_text='"all" or "0,1"')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        images = [("", "(template default)")] + [(i, i) for i in settings.WORKSPACE_IMAGES]
        self.fields["image"].choices = images

    def options(self) -> dict:
        data = self.cleaned_data
        return {key: data[key] for key in ("image", "cpu", "memory", "gpus") if data.get(key)}
