"""Monitoring files of deploy/: the Prometheus configuration and alert rules checked and unit-tested by
``promtool`` (Debian's ``prometheus`` package; .ci/run installs it), and the Grafana dashboard. Every
metric an alert or a panel reads is one the code exports (edge/metrics.py, hub/ingest.py, hub/app.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from tests.conftest import ROOT, _missing

PROM = ROOT / "deploy" / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULES = PROM / "humiao.rules.yml"
RULES_TEST = PROM / "humiao.rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "humiao.json"
SOURCES = ("edge", "hub", "humiao")
BUILTIN = {"up"}  # Prometheus' own, per target

# -- the metric names the code exports ------------------------------------------------------------
_DEFINED = re.compile(r"\b(Counter|PromCounter|Gauge|Histogram|Summary)\(\s*\"(humiao_\w+)\"")
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "PromCounter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("_sum", "_count", "_created"),
}


def _defined() -> dict[str, str]:
    """Every ``humiao_*`` metric defined in the product's code: its name and its type."""
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for kind, name in _DEFINED.findall(path.read_text(encoding="utf-8")):
                found[name] = kind
    return found


def exported() -> set[str]:
    """The sample names Prometheus sees (a counter ``x`` is scraped as ``x_total``)."""
    return {name + s for name, kind in _defined().items() for s in _SUFFIXES[kind]} | BUILTIN


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels, keywords or numbers)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = re.findall(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()", e)
    return {n for n in names if n.lower() not in _KEYWORDS}


def test_the_scan_finds_the_metrics_the_code_registers():
    """The source scan above agrees with the registries themselves (edge and ingest metrics)."""
    from humiao.edge.metrics import EdgeMetrics
    from humiao.hub.ingest import IngestMetrics

    registry = CollectorRegistry()
    IngestMetrics(registry)
    families = {f.name for f in registry.collect()} | {f.name for f in EdgeMetrics().registry.collect()}
    assert families and families <= set(_defined())
    assert {"humiao_hub_purge_failures", "humiao_hub_open_alarms"} <= set(_defined())  # hub/app.py
    assert metric_names('sum by (le) (rate(a_b{x="y"}[5m])) > 1 and on (i) c unless d offset 5m') == {
        "a_b",
        "c",
        "d",
    }


# -- the rules -------------------------------------------------------------------------------------
def _rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_every_alert_has_a_for_a_severity_and_says_what_to_do():
    rules = _rules()
    assert len(rules) >= 7
    for r in rules:
        assert r.get("alert"), r
        assert r.get("for"), f"{r['alert']}: no for:"
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        ann = r["annotations"]
        assert ann.get("summary") and len(ann.get("description", "")) > 80, r["alert"]


def test_the_alerts_the_deployment_needs_are_there():
    names = {r["alert"] for r in _rules()}
    assert {
        "HumiaoEdgeOffline",
        "HumiaoEdgeBrokerDisconnected",
        "HumiaoEdgeSpoolGrowing",
        "HumiaoHubDeadLettersRising",
        "HumiaoCameraStalled",
        "HumiaoEvidencePurgeFailing",
        "HumiaoHubBrokerDisconnected",
        "HumiaoHubDatabaseErrors",
    } <= names


def test_rules_read_only_metrics_the_code_exports():
    known = exported()
    for r in _rules():
        used = metric_names(r["expr"])
        assert used, r["alert"]
        assert used <= known, f"{r['alert']} reads {sorted(used - known)}, which no code exports"


def test_the_rule_tests_cover_every_alert_firing_and_quiet():
    """humiao.rules.test.yml shows each alert firing, and each alert (or its test case) quiet too."""
    cases = [c for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {r["alert"] for r in _rules()}
    assert fired == names and quiet == names


def test_the_config_scrapes_the_jobs_the_rules_name():
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg["rule_files"] == [RULES.name]
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert jobs == {"humiao-hub", "humiao-edge"}
    for r in _rules():
        for job in re.findall(r'job="([^"]+)"', r["expr"]):
            assert job in jobs, r["alert"]


def _promtool(*args: str) -> str:
    tool = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if tool is None:
        _missing("promtool is not installed (sudo apt-get install -y prometheus): the Prometheus files are not checked")
    done = subprocess.run([tool, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_promtool_accepts_the_config_its_rules_and_edge_targets():
    out = _promtool("check", "config", str(CONFIG.relative_to(ROOT)))  # also the file_sd example
    assert "SUCCESS" in out


def test_promtool_accepts_the_rules():
    out = _promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert f"SUCCESS: {len(_rules())} rules found" in out


def test_the_alerts_fire_when_they_should_and_not_otherwise():
    out = _promtool("test", "rules", str(RULES_TEST.relative_to(ROOT)))
    assert "SUCCESS" in out


# -- the dashboard ---------------------------------------------------------------------------------
def _panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_the_dashboard_is_grafana_json_with_a_datasource_variable():
    d = json.loads(DASHBOARD.read_text())
    assert d["schemaVersion"] >= 36 and d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in _panels():
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]


def test_the_dashboard_shows_what_the_operators_watch():
    exprs = " ".join(t["expr"] for p in _panels() for t in p["targets"])
    for name in (
        "humiao_edge_alerts_total",
        "humiao_edge_spool_depth",
        "humiao_edge_broker_connected",
        "humiao_edge_camera_fps",
        "humiao_hub_queue_depth",
        "humiao_hub_alerts_stored_total",
        "humiao_hub_dead_letters_total",
        "humiao_hub_db_errors_total",
    ):
        assert name in exprs, name


def test_dashboard_panels_read_only_metrics_the_code_exports():
    known = exported()
    d = json.loads(DASHBOARD.read_text())
    queries = [(p["title"], t["expr"]) for p in _panels() for t in p["targets"]]
    queries += [(v["name"], v["definition"]) for v in d["templating"]["list"] if v["type"] == "query"]
    for title, expr in queries:
        expr = re.sub(r"label_values\((.*), \w+\)", r"\1", expr)
        used = metric_names(expr)
        assert used, title
        assert used <= known, f"{title} reads {sorted(used - known)}, which no code exports"
