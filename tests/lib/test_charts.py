"""The SVG charts of the usage pages (lib/charts.py): bars and columns in proportion to their
values, zero and empty data drawn without dividing by zero, every text escaped, the result a
well-formed SVG that names itself for screen readers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from lib.charts import LABEL_WIDTH, VALUE_WIDTH, WIDTH, Bar, bar_chart, column_chart, number

SVG = "{http://www.w3.org/2000/svg}"
ROOM = WIDTH - LABEL_WIDTH - VALUE_WIDTH


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well formed, or this raises


def bar_widths(svg: str) -> list[float]:
    return [float(r.get("width")) for r in parsed(svg).iter(f"{SVG}rect")]


def column_heights(svg: str) -> list[float]:
    return [float(r.get("height")) for r in parsed(svg).iter(f"{SVG}rect")]


def chart(bars, **more) -> str:
    return bar_chart(bars, chart_id="c", title="T", desc="D", **more)


def columns(points) -> str:
    return column_chart(points, chart_id="c", title="T", desc="D", unit="h")


def test_bars_are_in_proportion_to_the_largest():
    widths = bar_widths(chart([Bar("a", 10), Bar("b", 5), Bar("c", 2.5)]))
    assert widths == [ROOM, ROOM / 2, ROOM / 4]


def test_bars_against_a_scale_stop_at_its_end():
    widths = bar_widths(chart([Bar("half", 50), Bar("over", 150, "150%")], scale=100))
    assert widths == [ROOM / 2, ROOM]


def test_zero_and_negative_values_are_bars_of_no_length():
    assert bar_widths(chart([Bar("a", 0), Bar("b", 0)])) == [0, 0]
    assert bar_widths(chart([Bar("a", -1), Bar("b", 2)])) == [0, ROOM]


def test_no_bars_and_no_columns_say_so():
    for svg in (chart([]), columns([])):
        root = parsed(svg)
        assert [t.text for t in root.iter(f"{SVG}text")] == ["No data"]
        assert list(root.iter(f"{SVG}rect")) == []


def test_columns_are_in_proportion_to_the_largest():
    heights = column_heights(columns([("d1", 4), ("d2", 1), ("d3", 0)]))
    assert heights == [150.0, 37.5, 0.0]


def test_all_zero_columns_are_flat():
    assert column_heights(columns([("d1", 0), ("d2", 0)])) == [0, 0]


def test_each_value_is_text_in_the_chart():
    svg = parsed(chart([Bar("physics", 7.5, "7.5 h")]))
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["physics", "7.5 h"]
    assert svg.find(f"{SVG}g/{SVG}title").text == "physics: 7.5 h"
    day = parsed(columns([("2026-12-10", 4), ("2026-12-11", 0.125)]))
    assert [t.text for t in day.iter(f"{SVG}title")] == [
        "T",
        "2026-12-10: 4 h",
        "2026-12-11: 0.12 h",
    ]
    assert [t.text for t in day.iter(f"{SVG}text")] == ["4", "0", "2026-12-10", "2026-12-11"]


def test_the_chart_is_named_for_screen_readers():
    svg = parsed(bar_chart([], chart_id="by group", title="Use", desc="Per group"))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "by-group-title by-group-desc"
    assert svg.find(f"{SVG}title").text == "Use" and svg.find(f"{SVG}desc").text == "Per group"


def test_labels_titles_and_units_are_escaped():
    evil = '<script>alert("x")</script>&'
    for svg in (
        bar_chart([Bar(evil, 1, evil)], chart_id=evil, title=evil, desc=evil),
        column_chart([(evil, 1)], chart_id=evil, title=evil, desc=evil, unit=evil),
    ):
        assert "<script>" not in svg
        texts = [e.text for e in parsed(svg).iter() if e.text]
        assert any(evil in text for text in texts)  # shown as written, not run
        assert re.fullmatch(r"[\w-]+", parsed(svg).get("id"))


def test_no_style_or_script_for_the_csp():
    svg = chart([Bar("a", 1)]) + columns([("d", 1)])
    assert "style" not in svg and "script" not in svg and " on" not in svg


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1.0, "1"),
        (2.345, "2.35"),
        (0.0, "0"),
        (0.004, "0.004"),
        (0.000556, "0.00056"),
        (1e-20, "0"),  # past twelve decimals: nothing a person reads
        (-0.001, "-0.001"),
        (1e7, "10000000"),
    ],
)
def test_numbers_are_short_and_plain(value, shown):
    assert number(value) == shown
