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
    assert f.alarms == 2 and f.by_verdict["confirmed"] == 1 and f.by_type == {"ktv": 1}
    assert f.penalties == {"fine": 1} and f.fines_yuan == 12000 and f.cases[0]["number"] == hub.case_number
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f).decode("utf-8-sig"))))
    assert [(r["venue_id"], r["verdict"], r["case"]) for r in rows] == [("ktv1", "confirmed", hub.case_number)]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(reports.to_xlsx(f)))
    assert wb.sheetnames == ["Summary", "Per day", "By venue type", "Violations", "Cases", "Repeat venues"]
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


def test_cli(tmp_path, hub):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "HUMIAO_HUB__DATA_DIR": str(hub.cfg.data_dir),
        "HUMIAO_HUB__DATABASE__URL": hub.cfg.database.url,
    }
    out = tmp_path / "r.xlsx"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "humiao.cli",
            "hub",
            "report",
            "--district",
            "d1",
            "--month",
            month(),
            "--format",
            "xlsx",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and out.stat().st_size > 1000, done.stderr
