"""deploy/grafana and deploy/prometheus name only metrics the server really exports, and
the alert file is a well-formed Prometheus rule file.

No rule-file validator is published on PyPI (promtool ships with Prometheus only), so the
file is checked the way Prometheus loads it: the rule-file structure (groups, unique names,
alert/record, expr, for, labels, annotations and nothing else), every ``expr`` through a
PromQL parser (promql-parser, the Rust parser GreptimeDB uses) and every ``for`` as a
Prometheus duration; then each metric selector is looked up in a real ``--workers 2``
scrape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.live_server.ops.harness import fresh_session, running_server

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"

RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression selects (parse errors raise)."""
    found: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        exprs.extend(t["expr"] for t in panel.get("targets", []))
    return exprs


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    exprs, group_names = [], set()
    for group in doc["groups"]:
        assert set(group) <= GROUP_KEYS and {"name", "rules"} <= set(group), group
        assert group["name"] not in group_names
        group_names.add(group["name"])
        alerts = set()
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS, rule
            assert ("alert" in rule) != ("record" in rule), rule
            name = rule.get("alert") or rule["record"]
            assert "alert" in rule or NAME.match(name), name
            assert name not in alerts, f"duplicate rule {name}"
            alerts.add(name)
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                promql_parser.parse_duration(rule["for"])
            for key in ("labels", "annotations"):
                assert all(
                    isinstance(k, str) and isinstance(v, str) for k, v in rule.get(key, {}).items()
                ), (name, key)
            if "alert" in rule:
                assert rule["annotations"]["summary"], name
            exprs.append(rule["expr"])
    return exprs


def test_rule_file_is_well_formed() -> None:
    exprs = rule_exprs()
    assert len(exprs) >= 6
    wanted = {"live_redis_up", "live_http_requests_total", "live_store_stream_group_lag",
              "live_http_request_duration_seconds_bucket", "live_worker_restarts_total",
              "live_store_stream_dead_letters", "live_outbox_dead_letters"}  # fmt: skip
    assert wanted <= set().union(*(metric_names(e) for e in exprs))


async def test_every_metric_named_exists_in_a_real_scrape(tmp_path: Path) -> None:
    named: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        exprs = dashboard_exprs(json.loads(path.read_text()))
        assert exprs, path
        named[path.name] = set().union(*(metric_names(e) for e in exprs))
    named[RULES.name] = set().union(*(metric_names(e) for e in rule_exprs()))
    assert DASHBOARDS, "no dashboard in deploy/grafana"

    async with running_server(tmp_path, workers=2) as server:
        async with fresh_session() as http, http.get(f"{server.base}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
        if family.type == "counter":
            exported.add(family.name + "_total")
        if family.type == "histogram":
            exported.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    for source, names in named.items():
        assert names - exported == set(), f"{source} names metrics the server does not export"
