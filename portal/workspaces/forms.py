from __future__ import annotations

from django import forms
from django.conf import settings

from lib.resources import MIN_CPU
from portal.accounts.models import APPROVED, User
from portal.bootstrap_forms import BootstrapForm
from portal.workspaces.models import WorkspaceTemplate


class WorkspaceCreateForm(BootstrapForm, forms.Form):
    """The shape of the request; the service checks values against the template's bounds.

    The template's bounds travel as data attributes of its option, so the page's script
    (``workspace-form.js``) sets each field's default and maximum when another is chosen.
    """

    name = forms.CharField(
        max_length=30,
        help_text="Lowercase letters, digits and hyphens, starting with a letter",
        widget=forms.TextInput(attrs={"pattern": "[a-z][a-z0-9-]{0,29}", "autofocus": True}),
    )
    template = forms.ModelChoiceField(
        WorkspaceTemplate.objects.none(), to_field_name="name", empty_label=None
    )
    owner = forms.ModelChoiceField(
        User.objects.none(),
        to_field_name="username",
        required=False,
        label="For",
        empty_label="(me)",
        help_text="Administrators: create it for this person",
    )
    image = forms.ChoiceField(required=False, help_text="empty: the template's image")
    cpu = forms.FloatField(label="CPU", required=False, min_value=MIN_CPU, help_text="cores")
    memory = forms.CharField(required=False, max_length=20, help_text='e.g. "2G"')
    gpus = forms.CharField(
        label="GPUs",
        required=False,
        max_length=50,
        help_text='Docker: "all" or device indices "0,1"; Kubernetes: a count',
    )
    env = forms.CharField(
        label="Environment",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40, "placeholder": "NAME=value"}),
        help_text="variables, one NAME=value a line",
    )
    days_to_live = forms.IntegerField(
        label="Days to live", required=False, min_value=0, help_text="empty: the template's"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        usable = WorkspaceTemplate.objects.usable_by(user)
        self.fields["template"].queryset = usable
        default = usable.filter(is_default=True).first() or usable.first()
        self.fields["template"].initial = default.name if default else None
        self.fields["template"].widget = TemplateSelect(choices=self.fields["template"].choices)
        images = [("", "(template default)")] + [(i, i) for i in settings.WORKSPACE_IMAGES]
        self.fields["image"].choices = images
        if user.is_admin:
            self.fields["owner"].queryset = User.objects.filter(APPROVED).order_by("username")
        else:
            del self.fields["owner"]

    def clean_env(self) -> dict[str, str]:
        """NAME=value lines as a dict; the names are checked by the service (one rule)."""
        env = {}
        for number, line in enumerate(self.cleaned_data["env"].splitlines(), start=1):
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals:
                raise forms.ValidationError(
                    f"Line {number} has no '=': write each variable as NAME=value."
                )
            env[name.strip()] = value
        return env

    def options(self) -> dict:
        data = self.cleaned_data
        keys = ("image", "cpu", "memory", "gpus", "env")
        return {key: data[key] for key in keys if data.get(key)}


class TemplateSelect(forms.Select):
    """Each option carries its template's bounds and description for the page's script."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        template = getattr(value, "instance", None)
        if template is not None:
            option["attrs"].update(
                {
                    "data-description": template.description,
                    "data-cpu": template.cpu_default,
                    "data-cpu-max": template.cpu_max,
                    "data-memory": template.memory_default // 2**20,
                    "data-memory-max": template.memory_max // 2**20,
                    "data-gpus-max": template.gpus_max,
                    "data-days": template.days_to_live_default,
                    "data-days-max": template.days_to_live_max,
                }
            )
        return option
