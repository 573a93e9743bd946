"""The alarm list under load: an inspector's panel over a hub holding 10,000 alarms, in real headless Chromium.

    python -m benchmarks.panel_load --json OUT.json [--alarms 10000] [--reps 30] [--stores sqlite,postgresql]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Per store (SQLite, and PostgreSQL when a server answers at ``--pg-url``, else HUMIAO_TEST_PG_URL, else the local
one; a fresh database, dropped afterwards): a hub database with ``--alarms`` alarms raised by the hub's own rules
(``alarms.evaluate``) from stored alerts and ID checks — 60 venues of all seven types in four districts (the
inspector's, d1, holds ~40%), alerts spread over the last 30 days, answered by an adult (~55%), a minor refused
(~8%), a minor admitted (~12%) or never checked (~25%: suspected; pending for the last minutes). The hub's real web
app is served by uvicorn; Debian's Chromium (Playwright) is signed in as a police inspector of d1. Measured ``--reps``
times each, in the page (``performance.now()``; "drawn" = the rows are in the document and the next frame has begun):

- ``first_render``: from the in-app navigation to ``#/alarms`` (from another page of the panel) to its first rows;
- ``cold_load``: a fresh load of ``/panel#/alarms`` (signed in: the catalogue, ``/api/me``, ``/api/meta``, the list)
  from navigation start to the first rows;
- ``filter_response``: from a change of a filter control to the list redrawn with the matching rows and their count
  (the filters cycle through one, two and three filters at a time, each change a new address ``#/alarms?…``).

Besides (no browser): ``api``: ``GET /api/alarms?…&count=true`` (a page of 100 and the count of all matching rows)
for each filter combination; ``plans``: the database's query plan of the list and of the count for each (the
indexes used; a sort means the order did not come from an index). The target (issue 11): p95 ≤ 300 ms for the first
render and the filter response.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.report import machine, write_json

PASSWORD = "benchmark password"
USER = "police-bench"
TARGET_MS = 300.0
DISTRICTS = (("d1", 0.4), ("d2", 0.25), ("d3", 0.2), ("d4", 0.15))
VENUE_TYPES = ("ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment")
# how an alert was answered at the desk: the rules turn these into none, confirmed and suspected (pending when recent)
ANSWERS = (("adult_admitted", 0.55), ("minor_refused", 0.08), ("minor_admitted", 0.12), (None, 0.25))
# the filter states the benchmark cycles through (one, two and three filters; the address changes each time)
FILTER_STATES: list[dict[str, str]] = [
    {"verdict": "confirmed"},
    {"verdict": "suspected", "active": "true"},
    {"venue_type": "ktv"},
    {"venue_type": "hotel", "verdict": "confirmed"},
    {"active": "false"},
    {"since": "SINCE"},
    {"verdict": "suspected", "since": "SINCE"},
    {"district": "d1", "venue_type": "internet_cafe", "active": "true"},
    {"verdict": "pending"},
    {},
]
FILTER_KEYS = ("district", "venue_type", "verdict", "active", "since")


def pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 1)


def summary(ms: list[float], target: float | None = TARGET_MS) -> dict:
    out = {"n": len(ms), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "max_ms": round(max(ms), 1)}
    if target is not None:
        out["pass"] = out["p95_ms"] <= target
    return out


# -- the data ------------------------------------------------------------------------------------------------------
def populate(hub, n: int, seed: int = 11, now: datetime | None = None) -> dict:
    """``n`` alarms in ``hub``'s database, raised by the hub's rules from stored alerts and ID checks (see the module's
    docstring), the venues registered, a police inspector of d1 (``USER``); what was made, counted."""
    from sqlalchemy import func, select

    from humiao.hub import alarms, auth, store
    from humiao.hub.tables import Alarm, Venue
    from humiao.hub.validate import alert_row
    from humiao.proto import humiao_v1_pb2 as pb
    from humiao.proto.topics import parse

    from tests.hub.outcomes import AGE_FOR
    from tests.support.services import sample_alert

    rnd = random.Random(seed)
    now = now or datetime.now(UTC)
    venues = []  # (district, venue id, venue type)
    for district, _share in DISTRICTS:
        for i in range(15):
            venues.append((district, f"{district}-v{i:02d}", VENUE_TYPES[i % len(VENUE_TYPES)]))
    weights = [dict(DISTRICTS)[d] for d, _v, _t in venues]
    # times over 30 days, denser in the evenings (most visits), oldest first (ids follow time, as they do live);
    # the last 1% within the ID-check window (pending)
    span = 30 * 86400
    times = sorted(now - timedelta(seconds=rnd.triangular(0, span, span * 0.02)) for _ in range(n))
    recent = max(1, n // 100)
    times[-recent:] = sorted(now - timedelta(seconds=rnd.uniform(5, 480)) for _ in range(recent))
    with hub.sessions() as s, s.begin():
        for district, vid, vtype in venues:
            s.add(
                Venue(
                    id=vid,
                    name=f"{vtype.replace('_', ' ')} {vid}",
                    venue_type=vtype,
                    district_id=district,
                    updated_at=now,
                )
            )
        auth.create_user(s, USER, PASSWORD, "police", "d1")
    chunk = 1000
    for start in range(0, n, chunk):
        alerts, checks = [], []
        for at in times[start : start + chunk]:
            district, vid, vtype = rnd.choices(venues, weights)[0]
            origin = (district, vid, "edge1")
            t, payload, eid = sample_alert(
                origin, first_seen=at.timestamp() - 2, venue_type=pb.VenueType.Value(f"VENUE_TYPE_{vtype.upper()}")
            )
            msg = pb.Alert.FromString(payload)
            msg.decided_at.FromDatetime(at)
            alerts.append({**alert_row(msg, parse(t), at), "stored_at": at})
            answer = rnd.choices([a for a, _ in ANSWERS], [w for _, w in ANSWERS])[0]
            if answer and at < now - timedelta(minutes=10):
                checked = at + timedelta(seconds=rnd.uniform(20, 300))
                age = AGE_FOR[answer]
                checks.append(
                    {
                        "check_id": f"chk-{eid}",
                        "event_id": eid,
                        "district_id": district,
                        "venue_id": vid,
                        "device_id": "edge1",
                        "checked_at": checked,
                        "received_at": checked,
                        "result": answer,
                        "age_years": age,
                        "under_14": False,
                        "id_keyed_hash": "5e" * 32,
                        "checksum_valid": True,
                        "age_known": True,
                        "document": "citizen_id",
                        "method": "chip",
                        "walk_up": False,
                        "guardian_contact_recorded": False,
                        "co_occupants_recorded": False,
                        "staff": "desk-1",
                        "alerted_at": at,
                    }
                )
        with hub.sessions() as s, s.begin():
            store.alerts(s, alerts)
            store.id_checks(s, checks)
    while True:  # the rules' loop, as the hub runs it: rounds of at most 1000
        with hub.sessions() as s, s.begin():
            alarms.evaluate(s, now=now, limit=2000)
            if not s.info.get("alarms_more_work"):
                break
    with hub.sessions() as s:
        count = lambda col: dict(s.execute(select(col, func.count()).group_by(col)).all())  # noqa: E731
        return {
            "alarms": s.scalar(select(func.count()).select_from(Alarm)),
            "venues": len(venues),
            "days": 30,
            "by_district": count(Alarm.district_id),
            "by_verdict": count(Alarm.verdict),
            "by_venue_type": count(Alarm.venue_type),
            "active": s.scalar(select(func.count()).select_from(Alarm).where(Alarm.active)),
        }


def filled(state: dict[str, str], since: str) -> dict[str, str]:
    return {k: (since if v == "SINCE" else v) for k, v in state.items()}


# -- the database's plans ----------------------------------------------------------------------------------------
def plans(hub, since_day: str) -> dict:
    """For each filter state: the indexes the list's and the count's queries use (and whether a sort was needed),
    from the database's own EXPLAIN, with the inspector's scope as the API applies it."""
    from humiao.hub.access import Principal
    from humiao.hub.api_alarms import _list_conditions, list_count, list_page

    who = Principal(USER, "police", "d1")
    pg = hub.engine.dialect.name == "postgresql"
    out = {}
    for state in FILTER_STATES:
        f = filled(state, since_day)
        given = dict.fromkeys(
            ("district", "venue", "venue_type", "verdict", "active", "acknowledged", "since", "until")
        )
        given.update({k: v for k, v in f.items() if k not in ("active", "since")})
        if "active" in f:
            given["active"] = f["active"] == "true"
        if "since" in f:
            given["since"] = datetime.fromisoformat(f["since"]).replace(tzinfo=UTC) - timedelta(hours=8)
        conds = _list_conditions(who, **given)
        page, count = list_page(conds, 101), list_count(conds)  # the route's own queries
        key = "&".join(f"{k}={v}" for k, v in f.items()) or "(none)"
        out[key] = {"list": _plan(hub, page, pg), "count": _plan(hub, count, pg)}
    return out


def _plan(hub, query, pg: bool) -> dict:
    sql = query.compile(hub.engine, compile_kwargs={"literal_binds": True})
    with hub.engine.connect() as conn:
        if pg:
            tree = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar()
            nodes = []

            def walk(node):
                nodes.append(node)
                for child in node.get("Plans", []):
                    walk(child)

            walk(tree[0]["Plan"])
            alarm_nodes = [
                x
                for x in nodes
                if x.get("Relation Name") == "alarms"
                or x.get("Index Name", "").startswith(("ix_alarms", "alarms_pkey"))
            ]
            return {
                "alarms_read_by": sorted({x.get("Index Name") or x["Node Type"] for x in alarm_nodes}),
                "sort": any(x["Node Type"] in ("Sort", "Incremental Sort") for x in nodes),
                "plan": [f"{x['Node Type']}{' ' + x['Index Name'] if 'Index Name' in x else ''}" for x in nodes],
            }
        rows = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()]
        on_alarms = [r for r in rows if " alarms" in r and "alarm_events" not in r]
        return {
            "alarms_read_by": on_alarms,
            "sort": any("TEMP B-TREE FOR ORDER BY" in r for r in rows),
            "plan": rows,
        }


# -- the browser -------------------------------------------------------------------------------------------------
# in the page: resolves (ms since `t0`) once `ready()` holds after a DOM change, at the start of the next frame
WAIT_JS = """(ready, t0) => new Promise((resolve) => {
  const done = () => requestAnimationFrame(() => resolve(performance.now() - t0));
  if (ready()) return done();
  const obs = new MutationObserver(() => { if (ready()) { obs.disconnect(); done(); } });
  obs.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-query"] });
})"""

FIRST_RENDER_JS = (
    """async () => { const t0 = performance.now(); location.hash = "#/alarms";
  const ready = () => !!document.querySelector("#alarm-rows tr.row");
  return await ("""
    + WAIT_JS
    + """)(ready, t0); }"""
)

FILTER_JS = (
    """async (f) => { const form = document.getElementById("filters");
  const want = new URLSearchParams(f).toString();
  const t0 = performance.now();
  for (const k of ["district", "venue_type", "verdict", "active", "since"]) form.elements[k].value = f[k] || "";
  form.elements.verdict.dispatchEvent(new Event("change", { bubbles: true }));
  const rows = () => document.getElementById("alarm-rows");
  const ready = () => rows() && rows().dataset.query === want;
  return await ("""
    + WAIT_JS
    + """)(ready, t0); }"""
)

# a fresh load: the first row's arrival, recorded from the start (performance.now() counts from navigation start)
COLD_INIT_JS = """new MutationObserver((_, obs) => {
  if (document.querySelector("#alarm-rows tr.row")) {
    obs.disconnect(); requestAnimationFrame(() => { window.__firstRows = performance.now(); });
  } }).observe(document, { childList: true, subtree: true });"""


def in_browser(url: str, reps: int, since_day: str) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.support.browser import ARGS, CHROMIUM, panel_sign_in

    first, cold, filt = [], [], []
    shown = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 800})
        page = context.new_page()
        panel_sign_in(page, url, USER, PASSWORD)
        page.locator("#alarm-rows tr.row").first.wait_for()
        for i in range(reps + 1):  # the first of each is a warm-up (the browser's caches, the database's)
            page.evaluate('location.hash = "#/reports"')
            page.locator("#report-form, main h1").first.wait_for()
            ms = page.evaluate(FIRST_RENDER_JS)
            if i:
                first.append(ms)
        states = [filled(s, since_day) for s in FILTER_STATES]
        for i in range(reps + 1):
            f = states[i % len(states)]
            ms = page.evaluate(FILTER_JS, f)
            shown["&".join(f"{k}={v}" for k, v in f.items()) or "(none)"] = page.locator("#alarm-count").inner_text()
            if i:
                filt.append(ms)
        page.evaluate('location.hash = "#/alarms"')
        cold_page = context.new_page()
        cold_page.add_init_script(COLD_INIT_JS)
        for i in range(reps + 1):
            cold_page.goto("about:blank")  # a new document each time (the same address again would only be a hash)
            cold_page.goto(f"{url}/panel#/alarms")
            cold_page.wait_for_function("() => window.__firstRows !== undefined")
            if i:
                cold.append(cold_page.evaluate("window.__firstRows"))
        browser.close()
    return {
        "first_render": summary(first),
        "filter_response": summary(filt),
        "cold_load": summary(cold, None),
        "count_shown": shown,
    }


def api_timings(url: str, reps: int, since_day: str) -> dict:
    """``GET /api/alarms?…&count=true`` for each filter state, as the panel asks it: milliseconds (client side)."""
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    req = urllib.request.Request(f"{url}/api/login", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    out = {}
    for state in FILTER_STATES:
        f = filled(state, since_day)
        q = dict(f)
        if "since" in q:
            q["since"] = f"{q['since']}T00:00:00+08:00"
        query = urllib.parse.urlencode({**q, "count": "true"})
        ms, total = [], None
        for i in range(reps + 1):
            t0 = time.perf_counter()
            with urllib.request.urlopen(
                urllib.request.Request(f"{url}/api/alarms?{query}", None, {"Cookie": cookie})
            ) as r:
                data = json.loads(r.read())
            if i:
                ms.append((time.perf_counter() - t0) * 1000)
            total = data["total"]
        out["&".join(f"{k}={v}" for k, v in f.items()) or "(none)"] = {
            "total": total,
            "p50_ms": pct(ms, 50),
            "p95_ms": pct(ms, 95),
        }
    return out


def run_store(name: str, db_url: str, args, work: Path) -> dict:
    from humiao.hub.app import Hub
    from humiao.hub.config import HubConfig

    from tests.support.hubapi import served

    hub = Hub(HubConfig(data_dir=work / name, database={"url": db_url}))
    try:
        t0 = time.perf_counter()
        made = populate(hub, args.alarms)
        made["seconds_to_make"] = round(time.perf_counter() - t0, 1)
        if hub.engine.dialect.name == "postgresql":  # as autovacuum does after a bulk change (the hub never asks
            with hub.engine.begin() as conn:  # SQLite to ANALYZE: its plans here are those of a hub as it runs)
                conn.exec_driver_sql("ANALYZE")
        since_day = (datetime.now(UTC) + timedelta(hours=8) - timedelta(days=3)).date().isoformat()
        result: dict = {"data": made}
        with served(hub) as url:
            result.update(in_browser(url, args.reps, since_day))
            result["api"] = api_timings(url, max(3, args.reps // 3), since_day)
        result["plans"] = plans(hub, since_day)
        return result
    finally:
        hub.engine.dispose()


def pg_admin(cli: str | None) -> str | None:
    """The PostgreSQL server to use (``--pg-url``, HUMIAO_TEST_PG_URL, the local one) if it answers."""
    from sqlalchemy import create_engine, text

    from tests.support.services import PG_ADMIN_URL

    url = cli or os.environ.get("HUMIAO_TEST_PG_URL") or PG_ADMIN_URL
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return url
    except Exception:  # noqa: BLE001 - no server: the SQLite figures alone
        return None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--alarms", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--pg-url", default=None, help="a PostgreSQL server's admin URL (a scratch database is made)")
    args = ap.parse_args(argv)
    stores = [x.strip() for x in args.stores.split(",") if x.strip()]
    if not stores or any(x not in ("sqlite", "postgresql") for x in stores):
        ap.error(f"--stores: {args.stores!r} (sqlite, postgresql)")
    if args.alarms < 100 or args.reps < 1:
        ap.error("--alarms must be at least 100 and --reps at least 1")

    from tests.support.services import scratch_database

    result: dict = {
        "what": "the alarm list in the inspectors' panel: first render and filter response (ms)",
        "alarms": args.alarms,
        "reps": args.reps,
        "browser": "Debian chromium (headless), Playwright, 1366x800",
        "page_size": 100,
        "target": {"first_render_p95_ms": TARGET_MS, "filter_response_p95_ms": TARGET_MS},
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for store in stores:
            if store == "sqlite":
                result["sqlite"] = run_store("sqlite", f"sqlite:///{work / 'hub.db'}", args, work)
                continue
            admin = pg_admin(args.pg_url)
            if admin is None:
                result["postgresql"] = {"skipped": "no PostgreSQL server answered"}
                continue
            with scratch_database(admin, "humiao_panel_load") as url:
                result["postgresql"] = run_store("postgresql", url, args, work)
    runs = [result[s] for s in stores if "first_render" in result.get(s, {})]
    result["pass"] = bool(runs) and all(r["first_render"]["pass"] and r["filter_response"]["pass"] for r in runs)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
