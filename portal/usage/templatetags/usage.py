"""``{{ value|hours }}``: hours on the usage pages written as their charts write them
(``lib.charts.number``), so a table and its chart never disagree."""

from __future__ import annotations

from django import template

from lib.charts import number

register = template.Library()


@register.filter
def hours(value: float) -> str:
    return number(value)
