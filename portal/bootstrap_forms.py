"""The portal's page forms in Bootstrap's classes (templates/portal/base.html links Bootstrap).

A form mixes in ``BootstrapForm``: its widgets render with ``form-control``, ``form-select``
or ``form-check-input`` (and ``is-invalid`` while the field has errors), its labels with
``form-label`` and no colon. The admin's forms are not these, so its look is its own.
"""

from __future__ import annotations

from django import forms
from django.forms.boundfield import BoundField

# Widgets rendering several inputs (radio buttons, checkbox lists) take no class of their own.
_SEVERAL_INPUTS = (forms.RadioSelect, forms.CheckboxSelectMultiple)


def widget_class(widget: forms.Widget) -> str:
    """Bootstrap's class for a widget: ``""`` for hidden ones and those of several inputs."""
    if widget.is_hidden or isinstance(widget, _SEVERAL_INPUTS):
        return ""
    if isinstance(widget, forms.Select):
        return "form-select"
    if isinstance(widget, forms.CheckboxInput):
        return "form-check-input"
    return "form-control"


class BootstrapBoundField(BoundField):
    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        if kind := widget_class(widget):
            # Passed attrs replace the widget's own: keep a class the form's author gave it.
            given = attrs.get("class") or widget.attrs.get("class", "")
            invalid = "is-invalid" if self.errors else ""
            attrs["class"] = " ".join(c for c in (given, kind, invalid) if c)
        return attrs

    def label_tag(self, contents=None, attrs=None, label_suffix=None, tag=None):
        kind = "form-check-label" if isinstance(self.field.widget, forms.CheckboxInput) else ""
        attrs = {"class": kind or "form-label", **(attrs or {})}
        return super().label_tag(contents, attrs, "" if label_suffix is None else label_suffix, tag)


class BootstrapForm:
    """Mix into a page's form (first, before ``forms.Form`` or the form it extends)."""

    bound_field_class = BootstrapBoundField
