"""The Grafana dashboard only queries metrics the service really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from inference_service.metrics import ServiceMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "age-estimator.json"
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "histogram_quantile",
    "le",
    "stage",
    "status",
    "reason",
    "route",
    "instance",
}


def exported_series() -> set[str]:

    metrics = ServiceMetrics(in_flight=lambda: 0)
    metrics.requests.labels("/predict", "POST", "200").inc()
    metrics.latency.labels("/predict", "POST").observe(0.1)
    metrics.stage.labels("detect").observe(0.01)
    metrics.refused.labels("queue_wait").inc()
    metrics.describe_model("m", "1", "cpu", "onnx")
    body, _ = metrics.exposition()
    return {
        sample.name for family in text_string_to_metric_families(body.decode()) for sample in family.samples
    }


def test_every_panel_queries_exported_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    series = exported_series()
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            # drop label matchers, strings and range windows; the rest are functions and series
            expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', "", target["expr"])
            queried |= {w for w in re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expr) if w not in PROMQL_WORDS}
    assert queried, "the dashboard queries nothing"
    assert queried <= series, f"not exported: {sorted(queried - series)}"
