"""Charts as SVG text, drawn on the server: a bar chart (one bar per row, e.g. per group) and a
column chart (one column per day). No script and no style attribute, only SVG's presentation
attributes and classes of the portal's stylesheet: the pages' Content-Security-Policy allows
no inline script or style, and a chart library would be one more file to keep up to date.

Each chart is accessible: ``role="img"`` named by its ``<title>`` and ``<desc>``, and every
bar or column carries its value as text (a ``<title>`` read out and shown on hover; bars show
it beside them too). Every text given is escaped here; the result is safe to put in a page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 170  # the bars' labels, left of them
VALUE_WIDTH = 150  # the bars' values, right of the longest
COLUMNS_HEIGHT = 160
AXIS_HEIGHT = 22  # the columns' first and last labels, under them
AXIS_WIDTH = 60  # the columns' scale, left of them


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str = ""  # the value as people read it ("12.5 core-hours"); the number if empty


def number(value: float) -> str:
    """Two decimals at most, without trailing zeros or an exponent: 1.0 → "1", 2.345 → "2.35";
    below 0.01 two significant digits (0.000556 → "0.00056"), so a short run is not "0"."""
    if value == 0 or abs(value) >= 0.01:
        decimals = 2
    else:  # 0.000556: 4 zeros after the point, then two digits
        decimals = min(-math.floor(math.log10(abs(value))) + 1, 12)
    shown = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if shown in ("-0", "") else shown


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, title: str, desc: str, scale: float | None = None
) -> str:
    """Horizontal bars, each as long as its value against ``scale`` (default: the largest
    value); a value past the scale is drawn full length, its text says how far past."""
    scale = max((b.value for b in bars), default=0.0) if scale is None else scale
    height = max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP)
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [_open(chart_id, title, desc, height)]
    if not bars:
        parts.append(_nothing(height))
    for n, bar in enumerate(bars):
        y = n * (BAR_HEIGHT + BAR_GAP)
        length = _share(bar.value, scale) * room
        text = escape(bar.text or number(bar.value))
        middle = y + BAR_HEIGHT / 2
        parts.append(
            f'<g class="bar"><title>{escape(bar.label)}: {text}</title>'
            f'<text x="{LABEL_WIDTH - 8}" y="{middle:g}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_short(bar.label))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'rx="2"></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{middle:g}" '
            f'dominant-baseline="middle">{text}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    columns: Sequence[tuple[str, float]], *, chart_id: str, title: str, desc: str, unit: str
) -> str:
    """One column per (label, value), as high as its value against the largest; the scale's
    top and the first and last labels written on the axes, every value in its column's
    ``<title>``."""
    top = max((value for _, value in columns), default=0.0)
    height = COLUMNS_HEIGHT + AXIS_HEIGHT
    parts = [_open(chart_id, title, desc, height)]
    if not columns:
        parts.append(_nothing(height))
    else:
        room = WIDTH - AXIS_WIDTH
        step = room / len(columns)
        unit = escape(unit)
        parts.append(
            f'<text class="axis" x="{AXIS_WIDTH - 6}" y="10" text-anchor="end">'
            f"{number(top)}</text>"
            f'<text class="axis" x="{AXIS_WIDTH - 6}" y="{COLUMNS_HEIGHT}" text-anchor="end">'
            f"0</text>"
            f'<line x1="{AXIS_WIDTH}" y1="{COLUMNS_HEIGHT}" x2="{WIDTH}" y2="{COLUMNS_HEIGHT}">'
            f"</line>"
        )
        for n, (label, value) in enumerate(columns):
            tall = _share(value, top) * (COLUMNS_HEIGHT - 10)
            parts.append(
                f'<rect class="column" x="{AXIS_WIDTH + n * step + step * 0.1:.1f}" '
                f'y="{COLUMNS_HEIGHT - tall:.1f}" width="{step * 0.8:.1f}" height="{tall:.1f}">'
                f"<title>{escape(label)}: {number(value)} {unit}</title></rect>"
            )
        below = COLUMNS_HEIGHT + AXIS_HEIGHT - 6
        parts.append(
            f'<text class="axis" x="{AXIS_WIDTH}" y="{below}">{escape(columns[0][0])}</text>'
        )
        if len(columns) > 1:
            parts.append(
                f'<text class="axis" x="{WIDTH}" y="{below}" text-anchor="end">'
                f"{escape(columns[-1][0])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _open(chart_id: str, title: str, desc: str, height: int) -> str:
    ident = re.sub(r"[^\w-]", "-", chart_id)
    return (
        f'<svg class="chart" id="{ident}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="{ident}-title {ident}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )


def _nothing(height: int) -> str:
    return f'<text x="{WIDTH / 2:g}" y="{height / 2:g}" text-anchor="middle">No data</text>'


def _share(value: float, scale: float) -> float:
    """``value``'s part of ``scale``, from 0 to 1 (nothing to compare against: 0)."""
    if scale <= 0 or value <= 0:
        return 0.0
    return min(value / scale, 1.0)


def _short(label: str, most: int = 24) -> str:
    """A label that fits left of the bars; the whole one is in the bar's title."""
    return label if len(label) <= most else label[: most - 1] + "…"
