"""What user-supplied text can do to a report: nothing. The PDF shows markup as text (reportlab's
Paragraph would otherwise read ``<img src=…>`` off the hub's disk), spreadsheet cells never become
formulas (OWASP CSV injection), and a download's file name is built only from a validated district id
and period."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime

import pytest

from humiao.hub import reports
from humiao.hub.tables import Alarm, Venue

from tests.support.hubapi import Browser

HOSTILE_NAME = '<img src="/etc/hostname"/> <b>& <a href="file:///etc/passwd">x</a> a<b'
HOSTILE_ADDRESS = '<img src="/etc/hostname"/> <b>&'
FORMULAS = ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "-2+3", "\tx", "\rx")


def month() -> str:
    return datetime.now(UTC).astimezone(reports.TZ).strftime("%Y-%m")


def figures_with(text: str) -> reports.Figures:
    """Figures (no database) with ``text`` in every field a person can type: venue, case, district's key days."""
    p = reports.Period.parse("2026-11")
    f = reports.Figures("d1", p, datetime.now(UTC), per_day=dict.fromkeys(p.days(), 0))
    f.alarms, f.by_verdict["confirmed"], f.by_type["ktv"] = 2, 2, Counter(confirmed=2)
    v = {"venue_id": "ktv1", "venue": text, "venue_type": "ktv", "verdict": "confirmed", "case": text}
    f.violations = [{**v, "time": "2026-11-02 21:00", "calendar": text}] * 2
    f.cases = [
        {
            "number": text,
            "venue_id": "ktv1",
            "venue": text,
            "department": text,
            "status": text,
            "opened": "2026-11-02",
            "decision": text,
            "fine_yuan": -5,  # a (negative) number stays a number
        }
    ]
    f.repeat_venues = [{"venue_id": "ktv1", "venue": text, "confirmed": 2, "suspected": 0, "violations": 2}]
    f.key_days = {p.start: text}
    return f


def pdf_text(data: bytes):
    import pypdf

    pdf = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join("".join(p.extract_text() for p in pdf.pages).split())  # table cells wrap
    return pdf, text


# -- 1. PDF markup ----------------------------------------------------------------------------
def test_pdf_shows_markup_in_every_field_as_text():
    pdf, text = pdf_text(reports.to_pdf(figures_with(HOSTILE_NAME)))
    squeezed, name = "".join(text.split()), "".join(HOSTILE_NAME.split())  # narrow columns split words too
    assert squeezed.count(name) == 11, text  # key days, repeat venue, 2 violations × 2, case × 5 fields
    assert sum(len(p.images) for p in pdf.pages) == 1  # the chart, and nothing read off the disk


@pytest.mark.services
def test_pdf_of_a_venue_named_with_markup_over_http(seeded_hub):
    with seeded_hub.sessions() as s, s.begin():
        venue = s.get(Venue, "ktv1")
        venue.name, venue.address = HOSTILE_NAME, HOSTILE_ADDRESS
        s.get(Alarm, seeded_hub.alarm_ids["ktv1"]).verdict = "confirmed"
    r = Browser(seeded_hub, "ct-d1").get(f"/api/reports/d1/{month()}.pdf")
    assert r.status_code == 200, r.text
    pdf, text = pdf_text(r.content)
    assert HOSTILE_NAME in text and "/etc/passwd" in text  # as text, not as a link or a picture
    assert sum(len(p.images) for p in pdf.pages) == 1
    assert not any("/Annots" in p for p in pdf.pages)  # no <a href> became a link


# -- 2. CSV / XLSX formulas -------------------------------------------------------------------
@pytest.mark.parametrize("value", FORMULAS)
def test_cell_neutralise(value):
    from humiao.hub.registry import neutralise_cell, restore_cell

    assert neutralise_cell(value) == "'" + value
    assert neutralise_cell("'" + value) == "''" + value  # a quote the user typed survives the round trip
    for v in (value, "'" + value, "''" + value):
        assert restore_cell(neutralise_cell(v)) == v
    assert neutralise_cell(-5) == -5 and neutralise_cell(-1.5) == -1.5 and neutralise_cell(None) is None
    assert neutralise_cell("KTV -1") == "KTV -1" and neutralise_cell("'quoted'") == "'quoted'"


@pytest.mark.parametrize("value", FORMULAS[:3])
def test_csv_and_xlsx_cells_are_never_formulas(value):
    from openpyxl import load_workbook

    f = figures_with(value)
    f.district = value  # figures() is only ever given a slug; the writers must not rely on it
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(f, "en").decode("utf-8-sig"))))
    assert {r["Venue"] for r in rows} == {r["Case"] for r in rows} == {"'" + value}
    wb = load_workbook(io.BytesIO(reports.to_xlsx(f, "en")))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    typed = [c for c in cells if isinstance(c.value, str) and c.value.lstrip("'").startswith(value)]
    assert len(typed) == 14 and all(c.value == "'" + value and c.data_type == "s" for c in typed)
    assert wb["Summary"]["B1"].value == "'" + value
    fine = wb["Cases"]["H2"]
    assert fine.value == -5 and fine.data_type == "n"  # numbers are not touched


@pytest.mark.services
def test_csv_and_xlsx_over_http(seeded_hub):
    from openpyxl import load_workbook

    with seeded_hub.sessions() as s, s.begin():
        s.get(Venue, "ktv1").name = '=HYPERLINK("http://x","y")'
        s.get(Venue, "hotel1").name = "@SUM(1)"
        for vid in ("ktv1", "hotel1"):
            s.get(Alarm, seeded_hub.alarm_ids[vid]).verdict = "confirmed"
    ct = Browser(seeded_hub, "ct-d1")
    got = ct.get(f"/api/reports/d1/{month()}.csv?lang=en").content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(got)))
    assert sorted(r["Venue"] for r in rows) == ['\'=HYPERLINK("http://x","y")', "'@SUM(1)"]
    ws = load_workbook(io.BytesIO(ct.get(f"/api/reports/d1/{month()}.xlsx?lang=en").content))["Violations"]
    venues = {c.value: c.data_type for c in ws["C"][1:]}
    assert venues == {'\'=HYPERLINK("http://x","y")': "s", "'@SUM(1)": "s"}


# -- 3. file names ----------------------------------------------------------------------------
def test_filename_only_from_a_slug_and_a_period():
    assert reports.filename("d1", reports.Period.parse("2026q4"), "pdf") == "humiao-d1-2026Q4.pdf"
    assert reports.filename("xu-hui_2", reports.Period.parse("2026-11"), "csv") == "humiao-xu-hui_2-2026-11.csv"
    for district in ("D1", "d1\n", 'd1"x', "d1;", "../d1", "", "é", "a" * 65):
        with pytest.raises(reports.ReportError, match="district"):
            reports.check_district(district)
        with pytest.raises(reports.ReportError):
            reports.filename(district, reports.Period.parse("2026-11"), "pdf")
    with pytest.raises(reports.ReportError):
        reports.filename("d1", reports.Period.parse("2026-11"), "exe")
    for period in ("２０２６-１１", "٢٠٢٦-١١", "0000-01", "0001-01", "9999-12", "9999Q4", "2026-11\n", "2026-1"):
        with pytest.raises(reports.ReportError):
            reports.Period.parse(period)
    assert reports.Period.parse("2026-02").label == "2026-02"


@pytest.mark.services
def test_bad_district_or_period_refused_before_rendering(seeded_hub, monkeypatch):
    rendered = []
    real = reports.figures
    monkeypatch.setattr(reports, "figures", lambda *a, **k: rendered.append(a[1:3]) or real(*a, **k))
    admin = Browser(seeded_hub, "admin")  # reads reports of every district: only validation stands in the way
    for district, period in (
        ("D1", month()),
        ("d1%0A", month()),
        ("d1%22%3B%20x%3D", month()),
        ("d1%0D%0AX-Evil:%201", month()),
        ("d%C3%A9", month()),
        ("d1", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-%EF%BC%91%EF%BC%91"),  # ２０２６-１１, full-width digits
        ("d1", "0000-01"),
        ("d1", "9999-12"),
        ("d1", "2026-13"),
    ):
        r = admin.get(f"/api/reports/{district}/{period}.pdf", params={"lang": "en"})
        assert r.status_code == 400, (district, period, r.status_code, r.text)
        assert r.json()["detail"] and ("district" in r.json()["detail"] or "period" in r.json()["detail"])
        assert r.json()["code"].startswith("report.error.")
    assert rendered == []
    r = admin.get("/api/reports/d1/2026q4.csv")
    assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="humiao-d1-2026Q4.csv"'
    assert rendered == [("d1", reports.Period.parse("2026Q4"))]


def test_control_characters_in_a_name_do_not_break_the_xlsx_report():
    from openpyxl import load_workbook

    f = figures_with("Star\x01ry\x1f Café")
    wb = load_workbook(io.BytesIO(reports.to_xlsx(f)))  # openpyxl refused the characters: a 500 before
    names = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert "Starry Café" in names
