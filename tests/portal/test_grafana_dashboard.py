"""deploy/grafana/mlhub.json asks only for series that exist: the portal's, as its ``/metrics``
writes them, and JupyterHub's own; and it shows every one the portal exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from portal.metrics.collector import PortalCollector

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "mlhub.json"
# Grafana's own variables and PromQL's words are not metric names.
METRIC = re.compile(r"\b(?:mlhub|jupyterhub)_[a-z_]+\b")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def exprs() -> list[str]:
    found = [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]
    found += [var["definition"] for var in dashboard()["templating"]["list"] if "definition" in var]
    return found


def series_of(text: str) -> dict[str, set[str]]:
    """{family: the sample names it writes}, from the families' types (a labelled histogram
    writes no sample before its first observation)."""
    return {
        family.name: {family.name + s for s in SUFFIXES.get(family.type, [""])}
        for family in text_string_to_metric_families(text)
    }


@pytest.fixture
def portal_series(db) -> dict[str, set[str]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return series_of(generate_latest(registry).decode())


def hub_series() -> dict[str, set[str]]:
    import jupyterhub.metrics  # noqa: F401  (registers the hub's metrics)

    text = generate_latest(REGISTRY).decode()
    return {k: v for k, v in series_of(text).items() if k.startswith("jupyterhub_")}


def test_every_series_the_dashboard_asks_for_is_exported(portal_series):
    exported = set().union(*portal_series.values(), *hub_series().values())
    asked = {name for expr in exprs() for name in METRIC.findall(expr)}
    assert asked - exported == set()
    assert len(asked) > 20  # the check looked at something


def test_every_series_the_portal_exports_is_on_the_dashboard(portal_series):
    text = " ".join(exprs())
    unused = {
        family for family, names in portal_series.items() if not names & set(METRIC.findall(text))
    }
    assert unused == set()


def test_every_query_goes_to_the_chosen_prometheus():
    panels = [panel for panel in dashboard()["panels"] if panel["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_each_portal_query_counts_every_replica_once():
    # Every replica answers the same totals: a plain sum over the scraped instances would
    # multiply them. Each mlhub_ series is first taken as the max over instances.
    for expr in exprs():
        if "mlhub_" in expr and not expr.startswith("label_values"):
            assert "max" in expr, expr
