from __future__ import annotations

from django import forms

from portal.workspaces.models import Template


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(
        max_length=30,
        help_text="Lowercase letters, digits and hyphens, starting with a letter",
        widget=forms.TextInput(attrs={"pattern": "[a-z][a-z0-9-]{0,29}", "autofocus": True}),
    )
    template = forms.ModelChoiceField(
        Template.objects.order_by("name"), to_field_name="name", empty_label=None
    )
    cpu = forms.FloatField(required=False, min_value=0.01, help_text="cores")
    memory = forms.CharField(required=False, max_length=20, help_text='e.g. "2G"')

    def options(self) -> dict:
        data = self.cleaned_data
        return {key: data[key] for key in ("cpu", "memory") if data.get(key)}
