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
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f, "en").decode("utf-8-sig"))))
    assert [(r["Venue ID"], r["Verdict"], r["Case"], r["Venue type"]) for r in rows] == [
        ("ktv1", "Confirmed violation", hub.case_number, "KTV / dance venue")
    ]
    zh_rows = list(csv.DictReader(io.StringIO(reports.to_csv(f).decode("utf-8-sig"))))  # Chinese by default
    assert [(r["场所编号"], r["结论"], r["案件编号"], r["场所类型"]) for r in zh_rows] == [
        ("ktv1", "确认违法", hub.case_number, "歌舞娱乐场所")
    ]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(reports.to_xlsx(f, "en")))
    assert wb.sheetnames == ["Summary", "Per day", "By venue type", "Violations", "Cases", "Repeat venues", "ID checks"]
    assert len(wb["Summary"]._charts) == 2 and wb["Cases"]["G2"].value == "fine"  # the decision in words
    assert wb["Cases"]["D2"].value == "culture & tourism" and wb["Cases"]["E2"].value == "decided"
    fine = wb["Cases"]["H2"]
    assert fine.value == 12000 and fine.data_type == "n" and "¥" in fine.number_format  # a number, shown as ¥
    zh_wb = load_workbook(io.BytesIO(reports.to_xlsx(f, "zh-CN")))
    assert zh_wb.sheetnames == ["概况", "每日预警", "按场所类型", "违法明细", "案件", "重复违法场所", "证件查验"]
    assert zh_wb["案件"]["G2"].value == "罚款" and zh_wb["案件"]["D2"].value == "文化和旅游"
    import pypdf

    for lang, words in (
        ("zh-CN", ("联合执法通报", "歌舞娱乐场所", "确认违法", "文化和旅游", "已决定", "罚款")),
        (
            "en",
            ("joint enforcement report", "KTV / dance venue", "Confirmed violation", "culture & tourism", "decided"),
        ),
    ):
        pdf = pypdf.PdfReader(io.BytesIO(reports.to_pdf(f, lang)))
        text = "".join(p.extract_text() for p in pdf.pages)
        lines = text.splitlines()
        squeezed = "".join(text.split())  # narrow cells wrap words
        missing = [w for w in words if "".join(w.split()) not in squeezed]
        assert len(pdf.pages) >= 2 and not missing, (lang, missing, text)
        assert "¥12,000" in text and "12000" not in text  # money as people write it
        assert hub.case_number in lines  # a case number on one line of its own cell, never broken
        assert "culture_tourism" not in text and "confirmed\n" not in text  # words, not codes
        assert "secret-hash" not in text and sum(len(p.images) for p in pdf.pages) == 1  # the charts, one picture


def test_download_over_http_is_scoped_and_audited(hub):
    ct = Browser(hub, "ct-d1")
    r = ct.get(f"/api/reports/d1/{month()}.pdf")
    assert r.status_code == 200 and r.content[:5] == b"%PDF-" and "attachment" in r.headers["content-disposition"]
    assert ct.get(f"/api/reports/d2/{month()}.pdf").status_code == 403
    assert ct.get(f"/api/reports/d1/{month()}.doc").status_code == 404
    assert Browser(hub, "op-ktv").get(f"/api/reports/d1/{month()}.csv").status_code == 403
    events = Browser(hub, "auditor").get("/api/audit", params={"action": "report.download"}).json()["events"]
    assert [(e["object_id"], e["why"]) for e in events] == [("d1", f"{month()}.pdf")]


def test_a_report_comes_in_the_callers_language(hub):
    ct = Browser(hub, "ct-d1")
    en = ct.get(f"/api/reports/d1/{month()}.csv", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert en.status_code == 200 and en.headers["content-language"] == "en"
    assert en.content.decode("utf-8-sig").splitlines()[0] == "Time,Venue ID,Venue,Venue type,Verdict,Case,Calendar"
    zh = ct.get(f"/api/reports/d1/{month()}.csv")  # no language asked for: Chinese
    assert zh.headers["content-language"] == "zh-CN" and "结论" in zh.content.decode("utf-8-sig").splitlines()[0]
    assert "Verdict" in ct.get(f"/api/reports/d1/{month()}.csv?lang=en").content.decode("utf-8-sig")


REPORT_ERRORS = [  # user, path, status, key, words in Chinese, in English
    ("ct-d1", "d1/2026-13.pdf", 400, "report.error.month", "没有 13 月", "there is no month 13"),
    ("ct-d1", "d1/November.pdf", 400, "report.error.period", "请填写月份", "a month (2026-11) or a quarter"),
    ("ct-d1", "D1/2026-11.pdf", 400, "report.error.district", "辖区编号“D1”无效", "district id “D1” is not valid"),
    ("ct-d1", "d1/2026-11.docx", 404, "report.error.format", "格式“docx”", "format “docx” is not offered"),
    ("ct-d1", "d2/2026-11.pdf", 403, "report.error.not_yours", "无权查看辖区“d2”", "reports of district “d2”"),
    ("op-ktv", "d1/2026-11.csv", 403, "report.error.not_yours", "无权查看辖区“d1”", "reports of district “d1”"),
    ("admin", "d7/2026-11.pdf", 404, "report.error.unknown_district", "没有辖区“d7”", "knows no district “d7”"),
]


def test_report_errors_are_explained_in_the_callers_language(hub):
    users = {u: Browser(hub, u) for u in ("ct-d1", "op-ktv", "admin")}
    for user, path, status, code, zh, en in REPORT_ERRORS:
        for params, headers, words in (
            ({"lang": "zh-CN"}, {}, zh),
            ({"lang": "en"}, {}, en),
            ({}, {"Accept-Language": "en-US,en;q=0.8"}, en),
            ({}, {}, zh),  # no language asked for: Chinese
        ):
            r = users[user].get(f"/api/reports/{path}", params=params, headers=headers)
            assert r.status_code == status, (path, r.text)
            body = r.json()
            assert body["code"] == code and words in body["detail"], (path, params, headers, body)
    assert users["admin"].get(f"/api/reports/d1/{month()}.csv").status_code == 200  # any district it knows
    events = Browser(hub, "auditor").get("/api/audit", params={"action": "report.download"}).json()["events"]
    assert [(e["user"], e["object_id"]) for e in events] == [("admin", "d1")]  # refused requests download nothing


def test_the_pdf_keeps_headings_with_their_rows_and_case_numbers_whole():
    """Many violations and cases: every page the tables run onto starts with their header row, no section heading
    ends a page, and each case number is one line of text."""
    import pypdf

    from humiao.hub import charts

    p = reports.Period.parse("2026-10")
    for n in (5, 45):  # without the conditional page breaks, the "Cases" heading would end a page
        f = reports.Figures("d1", p, datetime.now(UTC), per_day=dict.fromkeys(p.days(), 0))
        f.periods = {d: charts.key_periods(d, hub_calendar()) for d in p.days()}
        numbers = [f"D1-CU-2026-{k:04d}" for k in range(1, n + 1)]
        f.violations = [
            {"time": "2026-10-02 21:00", "venue_id": "ktv1", "venue": "ktv ktv1", "venue_type": "ktv",
             "verdict": "confirmed" if k % 2 else "suspected", "case": c, "calendar": None}
            for k, c in enumerate(numbers)
        ]  # fmt: skip
        f.cases = [
            {"number": c, "venue_id": "ktv1", "venue": "ktv ktv1", "department": "police", "status": "decided",
             "opened": "2026-10-02", "decision": "fine", "fine_yuan": 5000.0}
            for c in numbers
        ]  # fmt: skip
        for lang, heads, (verdicts, time_head), (money_head, dept_head) in (
            (
                "en",
                ("Violations", "Cases", "ID checks", "Repeat venues (two or more violations)"),
                (("Confirmed violation", "Suspected violation"), "Time"),
                ("Fine", "Department"),
            ),
            (
                "zh-CN",
                ("违法预警明细", "案件", "证件查验", "重复违法场所（两次及以上违法）"),
                (("确认违法", "疑似违法"), "时间"),
                ("罚款", "部门"),
            ),
        ):
            pdf = pypdf.PdfReader(io.BytesIO(reports.to_pdf(f, lang)))
            pages = [p.extract_text().splitlines() for p in pdf.pages]
            lines = [line for page in pages for line in page]
            assert lines.count("¥5,000") == n and "5000.0" not in "".join(lines)
            assert all(lines.count(c) == 2 for c in numbers)  # each whole, on a line of its own, in both tables
            for page in pages:
                assert page[-1] not in heads, (lang, n, page[-4:])  # no heading alone at a page's foot
                if "2026-10-02 21:00" in page:  # the violations run onto this page: their header row too
                    assert time_head in page, (lang, n, page)
                if "¥5,000" in page:  # the cases, likewise
                    assert money_head in page and dept_head in page, (lang, n, page)
            if n > 40:
                assert sum("2026-10-02 21:00" in page for page in pages) >= 2  # the table did run over pages
            assert all(v in lines for v in verdicts)  # the verdicts in words


def hub_calendar():
    from humiao.hub.rules.calendar import HolidayCalendar

    return HolidayCalendar()


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

    wb = load_workbook(io.BytesIO(reports.to_xlsx(f, "en")))
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True)}
    assert summary["Confirmed violations"] == 2 and summary["Suspected violations"] == 1
    assert summary["Walk-up checks"] == 2 and summary["Minors refused"] == 2
    # in the window: ktv1's minor admitted and hotel1's two (the late minor refused is not)
    assert summary["Checked within 10 min"] == "3 (60%)"
    assert list(wb["Repeat venues"].iter_rows(values_only=True)) == [
        ("Venue ID", "Venue", "Confirmed", "Suspected"),
        ("ktv1", "ktv ktv1", 1, 1),
    ]
    types = list(wb["By venue type"].iter_rows(values_only=True))
    assert types == [("Venue type", "Confirmed", "Suspected"), ("hotel", 1, 0), ("KTV / dance venue", 1, 1)]
    zh_types = list(load_workbook(io.BytesIO(reports.to_xlsx(f)))["按场所类型"].iter_rows(values_only=True))
    assert zh_types == [("场所类型", "确认违法", "疑似违法"), ("旅馆", 1, 0), ("歌舞娱乐场所", 1, 1)]
    checks = [list(r) for r in wb["ID checks"].iter_rows(values_only=True)]
    header = checks[0]
    ktv_row = dict(zip(header, next(r for r in checks if r[0] == "ktv1"), strict=True))
    assert ktv_row["Alerts"] == 3 and ktv_row["Walk-up checks"] == 2
    assert ktv_row["Alerts: Minor, refused entry"] == 1  # words, never codes
    assert ktv_row["Minors at walk-up checks"] == 1 and ktv_row["No check recorded"] == 1
    assert not any("minor_refused" in str(c) for r in checks for c in r)
    per_day = list(wb["Per day"].iter_rows(values_only=True))
    assert per_day[0][:5] == ("Day", "Confirmed violation", "Suspected violation", "Pending check", "No violation")
    assert sum(r[1] for r in per_day[1:]) == 2 and sum(r[2] for r in per_day[1:]) == 1  # apart, day by day

    import pypdf

    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(reports.to_pdf(f))).pages)
    squeezed = "".join(text.split())
    assert "证件查验" in squeezed and "未成年人，已劝离" in squeezed and "确认违法" in squeezed
    assert "5e5e5e" not in text and "minor_refused" not in text
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f, "en").decode("utf-8-sig"))))
    assert sorted(r["Verdict"] for r in rows) == ["Confirmed violation", "Confirmed violation", "Suspected violation"]


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
