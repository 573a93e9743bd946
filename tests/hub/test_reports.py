"""Reports: figures for a district and period, and the three formats, read back as a user would."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from humiao.hub import alarms, cases, reports
from humiao.hub.access import Principal

from tests.support.hubapi import Browser

pytestmark = pytest.mark.services


@pytest.fixture
def hub(seeded_hub):
    h = seeded_hub
    ct = Principal("ct-d1", "culture_tourism", "d1")
    with h.sessions() as s:  # a confirmed violation at ktv1 with a decided fine
        from humiao.hub import store
        from humiao.hub.tables import Alarm
        from humiao.proto.ids import uuid7

        alarm = s.get(Alarm, h.alarm_ids["ktv1"])
        now = datetime.now(UTC)
        store.id_checks(
            s,
            [
                {
                    "check_id": str(uuid7()),
                    "event_id": alarm.event_id,
                    "district_id": "d1",
                    "venue_id": "ktv1",
                    "device_id": "edge1",
                    "checked_at": now,
                    "received_at": now,
                    "result": "minor_admitted",
                    "age_years": 15,
                    "under_14": False,
                    "id_keyed_hash": "secret-hash",
                    "checksum_valid": True,
                }
            ],
        )
        alarms.evaluate(s, now=now)
        c = cases.open_case(s, ct, [alarm.id])
        cases.assign_officers(s, c, ct, [{"user": "a", "enforcement_id": "1"}, {"user": "b", "enforcement_id": "2"}])
        cases.record_inspection(s, c, ct, "minor admitted")
        cases.notify_right_to_respond(s, c, ct)
        cases.legal_review(s, c, ct, "ok")
        cases.decide(s, c, ct, "fine", "art. 48", fine_yuan=12000)
        s.commit()
        h.case_number = c.number
    return h


def month() -> str:
    return datetime.now(UTC).astimezone(reports.TZ).strftime("%Y-%m")


def test_periods():
    assert (reports.Period.parse("2026-02").end - reports.Period.parse("2026-02").start).days == 28
    q = reports.Period.parse("2026q4")
    assert (q.label, str(q.start), str(q.end)) == ("2026Q4", "2026-10-01", "2027-01-01")
    with pytest.raises(reports.ReportError):
        reports.Period.parse("November")


def test_three_formats(hub, tmp_path):
    with hub.sessions() as s:
        f = reports.figures(s, "d1", reports.Period.parse(month()), hub.calendar)
    assert f.alarms == 2 and f.by_verdict["confirmed"] == 1 and f.by_type == {"ktv": {"confirmed": 1}}
    assert f.penalties == {"fine": 1} and f.fines_yuan == 12000 and f.cases[0]["number"] == hub.case_number
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f).decode("utf-8-sig"))))
    assert [(r["venue_id"], r["verdict"], r["case"]) for r in rows] == [("ktv1", "confirmed", hub.case_number)]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(reports.to_xlsx(f)))
    assert wb.sheetnames == [
        "Summary",
        "Per day",
        "By venue type",
        "Violations",
        "Cases",
        "Repeat venues",
        "ID checks 证件查验",
    ]
    assert len(wb["Summary"]._charts) == 2 and wb["Cases"]["G2"].value == "fine"
    import pypdf

    pdf = pypdf.PdfReader(io.BytesIO(reports.to_pdf(f)))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert len(pdf.pages) >= 2 and "联合执法通报" in text and hub.case_number in text and "12000" in text
    assert (
        "歌舞娱乐场所" in text and "确认违法 confirmed" in text
    )  # the violation as the regulations name it, not codes
    assert "secret-hash" not in text and pdf.pages[0].images  # the chart image is on page 1


def test_download_over_http_is_scoped_and_audited(hub):
    ct = Browser(hub, "ct-d1")
    r = ct.get(f"/api/reports/d1/{month()}.pdf")
    assert r.status_code == 200 and r.content[:5] == b"%PDF-" and "attachment" in r.headers["content-disposition"]
    assert ct.get(f"/api/reports/d2/{month()}.pdf").status_code == 403
    assert ct.get(f"/api/reports/d1/{month()}.doc").status_code == 404
    assert Browser(hub, "op-ktv").get(f"/api/reports/d1/{month()}.csv").status_code == 403
    events = Browser(hub, "auditor").get("/api/audit", params={"action": "report.download"}).json()["events"]
    assert [(e["object_id"], e["why"]) for e in events] == [("d1", f"{month()}.pdf")]


def report_cli(*args: str, env: dict[str, str] | None = None, cwd=None):
    """``humiao hub report ARGS`` as an operator runs it; the environment has no ``HUMIAO_HUB__…``
    but those in ``env``."""
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith("HUMIAO_HUB__")}
    return subprocess.run(
        [sys.executable, "-m", "humiao.cli", "hub", "report", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_cli(tmp_path, hub):
    env = {"HUMIAO_HUB__DATA_DIR": str(hub.cfg.data_dir), "HUMIAO_HUB__DATABASE__URL": hub.cfg.database.url}
    out = tmp_path / "r.xlsx"
    done = report_cli("--district", "d1", "--month", month(), "--format", "xlsx", "--out", str(out), env=env)
    assert done.returncode == 0 and out.stat().st_size > 1000, done.stderr


def test_cli_refuses_an_unknown_district_and_lists_the_known_ones(tmp_path, hub):
    env = {"HUMIAO_HUB__DATA_DIR": str(hub.cfg.data_dir), "HUMIAO_HUB__DATABASE__URL": hub.cfg.database.url}
    done = report_cli("--district", "d7", "--month", month(), env=env, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "knows no district 'd7'" in done.stderr and "known districts: d1, d2" in done.stderr, done.stderr
    assert list(tmp_path.glob("humiao-*")) == []


def test_cli_refuses_when_there_is_no_hub_database_and_creates_none(tmp_path):
    """Without a configuration the report would read the default SQLite database: it names it and says
    how to point at the hub, and neither the database nor its directory appears."""
    data_home = tmp_path / "xdg"
    done = report_cli("--district", "d1", "--month", month(), env={"XDG_DATA_HOME": str(data_home)}, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"no hub database at sqlite:///{data_home}/humiao/hub/hub.db (no such file)" in done.stderr
    assert "--config FILE" in done.stderr and "HUMIAO_HUB__DATABASE__URL=" in done.stderr, done.stderr
    assert not data_home.exists() and list(tmp_path.glob("humiao-*")) == []

    empty = tmp_path / "empty.db"  # a database that is not a hub's: refused, left as it was
    empty.write_bytes(b"")
    config = tmp_path / "hub.yaml"
    config.write_text(f"database:\n  url: sqlite:///{empty}\n")
    done = report_cli("--district", "d1", "--month", month(), "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and "(it has no hub tables)" in done.stderr, done.stderr
    assert empty.read_bytes() == b"" and list(tmp_path.glob("humiao-*")) == []


# -- counting: each person-visit once, confirmed apart from suspected ---------------------------------
@pytest.fixture
def visits(seeded_hub):
    """The seeded hub with a month's visits in d1 (tests/hub/outcomes.py ``add_visits``)."""
    from tests.hub.outcomes import add_visits

    add_visits(seeded_hub)
    return seeded_hub


def test_confirmed_and_suspected_are_counted_apart_and_each_visit_once(visits):
    with visits.sessions() as s:
        f = reports.figures(s, "d1", reports.Period.parse(month()), visits.calendar)
    assert f.alarms == 5  # five alerts in d1: walk-ups and repeated checks add none
    assert dict(f.by_verdict) == {"confirmed": 2, "suspected": 1, "none": 2}
    assert f.by_type == {"ktv": {"confirmed": 1, "suspected": 1}, "hotel": {"confirmed": 1}}
    assert sorted((v["venue_id"], v["verdict"]) for v in f.violations) == [
        ("hotel1", "confirmed"),
        ("ktv1", "confirmed"),
        ("ktv1", "suspected"),
    ]
    assert f.repeat_venues == [
        {"venue_id": "ktv1", "venue": "ktv ktv1", "confirmed": 1, "suspected": 1, "violations": 2}
    ]  # hotel1 has one violation: not a repeat venue
    k = {v.venue_id: v for v in f.idchecks}
    assert k["ktv1"].alerts == 3 and k["ktv1"].outcomes == {"minor_admitted": 1, "minor_refused": 1}
    assert (k["ktv1"].walk_up_checks, k["ktv1"].minors_refused, k["ktv1"].no_outcome) == (2, 2, 1)
    assert k["hotel1"].alerts == 2 and k["hotel1"].outcomes == {"minor_admitted": 1, "minor_admitted_with_guardian": 1}

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(reports.to_xlsx(f)))
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True)}
    assert summary["confirmed 确认违法"] == 2 and summary["suspected 疑似违法"] == 1
    assert summary["walk-up checks 主动查验"] == 2 and summary["minors refused 劝离未成年人"] == 2
    # in the window: ktv1's minor admitted and hotel1's two (the late minor refused is not)
    assert summary["checked within 10 min 时限内查验"] == "3 (60%)"
    assert list(wb["Repeat venues"].iter_rows(values_only=True)) == [
        ("venue_id", "venue", "confirmed", "suspected"),
        ("ktv1", "ktv ktv1", 1, 1),
    ]
    types = list(wb["By venue type"].iter_rows(values_only=True))
    assert types == [
        ("venue type 类型", "confirmed 确认违法", "suspected 疑似违法"),
        ("旅馆 hotel", 1, 0),
        ("歌舞娱乐场所 KTV / dance venue", 1, 1),
    ]
    checks = [list(r) for r in wb["ID checks 证件查验"].iter_rows(values_only=True)]
    header = checks[0]
    ktv_row = dict(zip(header, next(r for r in checks if r[0] == "ktv1"), strict=True))
    assert ktv_row["alerts 预警"] == 3 and ktv_row["walk-up checks 主动查验"] == 2
    assert ktv_row["alerts: Minor, refused entry 预警结果：未成年人，已劝离"] == 1  # words, never codes
    assert (
        ktv_row["minors at walk-up checks 主动查验发现未成年人"] == 1 and ktv_row["no check recorded 无查验记录"] == 1
    )
    assert not any("minor_refused" in str(c) for r in checks for c in r)

    import pypdf

    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(reports.to_pdf(f))).pages)
    squeezed = "".join(text.split())
    assert "IDchecks证件查验" in squeezed and "未成年人，已劝离" in squeezed and "确认违法confirmed" in squeezed
    assert "5e5e5e" not in text and "minor_refused" not in text
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f).decode("utf-8-sig"))))
    assert sorted(r["verdict"] for r in rows) == ["confirmed", "confirmed", "suspected"]


def test_the_dashboard_counts_confirmed_and_suspected_apart(visits):
    d = Browser(visits, "ct-d1").get("/api/dashboard").json()  # culture & tourism: the KTV's alarms
    assert d["violations"] == {"confirmed": 1, "suspected": 1}
    assert d["by_venue_type"] == {"ktv": {"confirmed": 1, "suspected": 1}}
    assert d["by_verdict"] == {"confirmed": 1, "suspected": 1, "none": 1}
    assert [(r["venue_id"], r["name"], r["confirmed"], r["suspected"]) for r in d["repeat_venues"]] == [
        ("ktv1", "ktv ktv1", 1, 1)
    ]
    police = Browser(visits, "police-d1").get("/api/dashboard").json()  # KTV and hotel alarms both
    assert police["violations"] == {"confirmed": 2, "suspected": 1}
    assert police["by_venue_type"]["hotel"] == {"confirmed": 1, "suspected": 0}
    assert Browser(visits, "op-ktv").get("/api/dashboard").json()["violations"] == {"confirmed": 1, "suspected": 1}
