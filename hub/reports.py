"""Monthly and quarterly reports per district for the joint meetings: CSV, XLSX and PDF, with charts, in the
reader's language.

    period (2026-11 or 2026Q4) + district ─► figures (alarms by verdict, type and day; cases and
    penalties; repeat venues; key periods; each venue's ID checks) ─► CSV (the violations, one per
    row) | XLSX (summary, per day, by venue type, violations, cases, repeat venues, ID checks, native
    charts) | PDF (summary, the charts of hub/charts.py, tables; Chinese text in an embedded CJK font)

Words: every heading, label and list code (venue types, verdicts, departments, case statuses and decisions,
ID-check outcomes) comes from the message catalogue in the reader's language (``lang``: the caller's, default
Chinese; keys ``report.…``); money is written ``¥5,000`` (XLSX: a number formatted so). Errors a person reads
(a period like 2026-13, a district id that cannot be one, a format not offered) are ``ReportError``\\s carrying
a catalogue key, answered by the API in the caller's language.

Counting: one alarm per alert and one alert per person-visit, so each visit counts once, by its
alarm's verdict (which the alert's latest ID check decided); confirmed and suspected violations are
counted apart everywhere (a suspicion is not a finding); walk-up checks are no violations, only ID-check
figures (hub/idchecks.py), whose outcomes appear in proto/vocabulary.py's words.

No report names or pictures a minor: violations carry the venue, time, verdict and case, nothing else.
"""

from __future__ import annotations

import calendar as cal
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub import charts, idchecks, messages
from humiao.hub.registry import SLUG, neutralise_cell
from humiao.hub.rules.calendar import HolidayCalendar, holiday_message
from humiao.hub.rules.violations import ViolationConfig
from humiao.hub.tables import Alarm, Alert, Case, CaseAlarm, Venue

if TYPE_CHECKING:
    from humiao.hub.inspections import KeyPeriodConfig

TZ = ZoneInfo("Asia/Shanghai")
FORMATS = ("csv", "xlsx", "pdf")
VIOLATIONS = ("confirmed", "suspected")  # counted apart, everywhere
VERDICTS = charts.VERDICTS
DISTRICT = re.compile(SLUG)  # district ids are the wire's topic segments (registry.SLUG)
DEFAULT_LANG = messages.DEFAULT


class ReportError(ValueError):
    """A request for a report that cannot be one, as a catalogue key and its parameters (``str()``: in English,
    for the command line; the API answers it in the caller's language)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(messages.text(code, "en", **params))
        self.code, self.params = code, params

    def problem(self, status: int = 400) -> messages.Problem:
        return messages.Problem(status, self.code, **self.params)


@dataclass
class Period:
    label: str
    start: date
    end: date  # exclusive

    @classmethod
    def parse(cls, text: str) -> Period:
        """A month or a quarter, ASCII digits only (``\\d`` would take full-width and Arabic-Indic
        digits); the label is rebuilt from the numbers, so it is always ``YYYY-MM`` or ``YYYYQn``."""
        if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", text):
            y, mo = cls._year(text, m[1]), int(m[2])
            if not 1 <= mo <= 12:
                raise ReportError("report.error.month", period=text, month=mo)
            start = date(y, mo, 1)
            return cls(f"{y:04d}-{mo:02d}", start, start + timedelta(days=cal.monthrange(y, mo)[1]))
        if m := re.fullmatch(r"([0-9]{4})Q([1-4])", text.upper()):
            y, q = cls._year(text, m[1]), int(m[2])
            start = date(y, 3 * q - 2, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return cls(f"{y:04d}Q{q}", start, end)
        raise ReportError("report.error.period", period=text)

    @staticmethod
    def _year(text: str, digits: str) -> int:
        y = int(digits)
        if not MINYEAR < y < MAXYEAR:  # the period's bounds, in UTC, must still be dates
            raise ReportError("report.error.year", period=text, year=y)
        return y

    def bounds(self) -> tuple[datetime, datetime]:
        return (
            datetime.combine(self.start, datetime.min.time(), TZ).astimezone(UTC),
            datetime.combine(self.end, datetime.min.time(), TZ).astimezone(UTC),
        )

    def days(self) -> list[date]:
        return [self.start + timedelta(days=k) for k in range((self.end - self.start).days)]


def check_district(district: str) -> str:
    """A district id as the registry and the wire allow it (lowercase letters, digits, '_' or '-', ≤ 64)."""
    if not DISTRICT.fullmatch(district):  # fullmatch: the pattern's $ would let a trailing newline through
        raise ReportError("report.error.district", district=district[:80])
    return district


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ReportError("report.error.format", fmt=fmt[:20], formats=", ".join(FORMATS))
    return fmt


def known_districts(session: Session) -> list[str]:
    """The districts the hub knows: those of the registry's venues and those alerts came from."""
    venues = select(Venue.district_id).distinct()
    alerts = select(Alert.district_id).distinct()
    return sorted(set(session.scalars(venues)) | set(session.scalars(alerts)))


def filename(district: str, period: Period, fmt: str) -> str:
    """A report's download name, for Content-Disposition: only a validated district id, a period label
    rebuilt from its numbers and one of the fixed extensions reach it."""
    check_format(fmt)
    label = Period.parse(period.label).label
    return f"humiao-{check_district(district)}-{label}.{fmt}"


@dataclass
class Figures:
    district: str
    period: Period
    generated_at: datetime
    alarms: int = 0
    by_verdict: Counter = field(default_factory=Counter)
    by_type: dict[str, Counter] = field(default_factory=dict)  # venue type → Counter of confirmed, suspected
    per_day: dict[date, int] = field(default_factory=dict)  # alarms per local day
    per_day_verdicts: dict[date, Counter] = field(default_factory=dict)  # local day → Counter of verdicts
    violations: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    penalties: Counter = field(default_factory=Counter)
    fines_yuan: float = 0.0
    repeat_venues: list[dict] = field(default_factory=list)  # ≥ 2 violations: venue_id, venue, confirmed, suspected
    key_days: dict[date, str] = field(default_factory=dict)  # statutory holidays, school vacations, key periods
    periods: dict[date, list[charts.KeyPeriod]] = field(default_factory=dict)  # each day's, weekends too (charts)
    idchecks: list[idchecks.VenueChecks] = field(default_factory=list)
    window_min: float = ViolationConfig().id_check_window_min


def repeat_venues(per_venue: dict[str, Counter], names: dict[str, str]) -> list[dict]:
    """Venues with two or more violations (confirmed or suspected) in the period, each once, with the
    confirmed and the suspected apart; most first."""
    rows = [
        {
            "venue_id": v,
            "venue": names.get(v, v),
            "confirmed": c["confirmed"],
            "suspected": c["suspected"],
            "violations": c["confirmed"] + c["suspected"],
        }
        for v, c in per_venue.items()
        if c["confirmed"] + c["suspected"] >= 2
    ]
    return sorted(rows, key=lambda r: (-r["violations"], -r["confirmed"], r["venue_id"]))


def figures(
    session: Session,
    district: str,
    period: Period,
    calendar: HolidayCalendar | None = None,
    window_min: float | None = None,
    key_periods: KeyPeriodConfig | None = None,
) -> Figures:
    calendar = calendar or HolidayCalendar()
    lo, hi = period.bounds()
    f = Figures(district, period, datetime.now(UTC), per_day=dict.fromkeys(period.days(), 0))
    f.per_day_verdicts = {d: Counter() for d in period.days()}
    if window_min is not None:
        f.window_min = window_min
    case_of = dict(
        session.execute(select(CaseAlarm.alarm_id, Case.number).join(Case, Case.id == CaseAlarm.case_id)).all()
    )
    rows = session.execute(
        select(Alarm, Venue)
        .outerjoin(Venue, Venue.id == Alarm.venue_id)
        .where(Alarm.district_id == district, Alarm.raised_at >= lo, Alarm.raised_at < hi)
        .order_by(Alarm.raised_at)
    ).all()
    per_venue: dict[str, Counter] = {}
    for alarm, venue in rows:
        f.alarms += 1
        f.by_verdict[alarm.verdict] += 1
        local = alarm.raised_at.astimezone(TZ)
        f.per_day[local.date()] = f.per_day.get(local.date(), 0) + 1
        f.per_day_verdicts.setdefault(local.date(), Counter())[alarm.verdict] += 1
        if alarm.verdict in VIOLATIONS:
            f.by_type.setdefault(alarm.venue_type, Counter())[alarm.verdict] += 1
            per_venue.setdefault(alarm.venue_id, Counter())[alarm.verdict] += 1
            f.violations.append(
                {
                    "time": local.strftime("%Y-%m-%d %H:%M"),
                    "venue_id": alarm.venue_id,
                    "venue": venue.name if venue else alarm.venue_id,
                    "venue_type": alarm.venue_type,
                    "verdict": alarm.verdict,
                    "case": case_of.get(alarm.id, ""),
                    "calendar": alarm.calendar,
                }
            )
    names = {v.id: v.name for v in session.scalars(select(Venue).where(Venue.district_id == district))}
    f.repeat_venues = repeat_venues(per_venue, names)
    f.idchecks = idchecks.venue_stats(session, lo, hi, f.window_min, district=district)
    for c in session.scalars(
        select(Case)
        .where(Case.district_id == district, Case.opened_at < hi, (Case.closed_at.is_(None)) | (Case.closed_at >= lo))
        .order_by(Case.id)
    ):
        f.cases.append(
            {
                "number": c.number,
                "venue_id": c.venue_id,
                "venue": names.get(c.venue_id, c.venue_id),
                "department": c.department,
                "status": c.status,
                "opened": c.opened_at.astimezone(TZ).date().isoformat(),
                "decision": c.decision or "",
                "fine_yuan": c.fine_yuan or 0,
            }
        )
        if c.decided_at and lo <= c.decided_at < hi and c.decision:
            f.penalties[c.decision] += 1
            f.fines_yuan += c.fine_yuan or 0
    for d in period.days():
        f.periods[d] = charts.key_periods(d, calendar, key_periods)
        if named := [p.name for p in f.periods[d] if p.kind != "weekend"]:
            f.key_days[d] = named[0]
    return f


# -- words -------------------------------------------------------------------------------------
def _t(key: str, lang: str, **params: Any) -> str:
    return messages.text(key, lang, **params)


def money(yuan: float | int | None) -> str:
    """An amount of yuan as people write it: ¥5,000 (¥1,234.50 with fen; never 5000.0)."""
    if yuan is None:
        return ""
    sign, value = ("-" if yuan < 0 else ""), abs(yuan)
    return f"{sign}¥{value:,.0f}" if float(value).is_integer() else f"{sign}¥{value:,.2f}"


def venue_type_words(code: str, lang: str) -> str:
    return charts.venue_type(code, lang)


def verdict_words(code: str, lang: str) -> str:
    return charts.verdict(code, lang)


def term(kind: str, code: str, lang: str) -> str:
    """A department (``dept``), case status (``cs``) or decision (``dec``) in words; an unknown code as it is."""
    return messages.term(kind, code, lang) if code else ""


def day_name(name: str, lang: str) -> str:
    """A key day's name as the calendar or the configuration gives it, in the reader's language where the
    catalogue has it (the statutory holidays); configured names as written."""
    return messages.render(holiday_message(name), lang)


def calendar_words(value: Any, lang: str) -> str:
    """What the calendar said of an alarm's day (a stored message; older rows: text) in words."""
    if messages.is_message(value) or isinstance(value, str):
        try:
            return messages.render(value, lang)
        except KeyError:
            return str(value)
    return "" if value is None else str(value)


def outcome_words(kind: str, lang: str) -> str:
    words = idchecks.words(kind)
    return words["zh"] if messages.supported(lang).startswith("zh") else words["en"]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _minutes(seconds: float | None) -> float | str:
    return round(seconds / 60, 1) if seconds is not None else "-"


def _kinds(f: Figures) -> list[str]:
    """The outcome kinds the ID-check tables show: the catalogue's, and "other" only when a venue has one."""
    return [k for k in idchecks.KINDS if k != idchecks.OTHER or any(v.outcomes[k] for v in f.idchecks)]


def chart_days(f: Figures) -> list[charts.Day]:
    return [
        charts.Day(d, f.per_day_verdicts.get(d) or ({} if not n else {"pending": n}), f.periods.get(d, ()))
        for d, n in f.per_day.items()
    ]


# -- CSV ---------------------------------------------------------------------------------------
VIOLATION_COLUMNS = ("time", "venue_id", "venue", "venue_type", "verdict", "case", "calendar")


def violation_row(v: dict, lang: str) -> dict:
    """A violation with its codes in words (the venue type, the verdict, what the calendar said)."""
    return {
        **v,
        "venue_type": venue_type_words(v["venue_type"], lang),
        "verdict": verdict_words(v["verdict"], lang),
        "calendar": calendar_words(v.get("calendar"), lang),
    }


def to_csv(f: Figures, lang: str = DEFAULT_LANG) -> bytes:
    """The violations, one per row, headings and codes in the reader's words."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([_t(f"report.col.{c}", lang) for c in VIOLATION_COLUMNS])
    for v in f.violations:
        row = violation_row(v, lang)
        w.writerow([neutralise_cell(row[c]) for c in VIOLATION_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens Chinese text correctly


# -- XLSX --------------------------------------------------------------------------------------
MONEY = "money"  # a summary value that is an amount of yuan


def summary_rows(f: Figures, lang: str) -> list[tuple[str, object]]:
    """The summary: (label, value); amounts of yuan as ``(MONEY, amount)`` values."""
    key_days = ("、" if messages.supported(lang).startswith("zh") else ", ").join(
        f"{d:%m-%d} {day_name(n, lang)}" for d, n in f.key_days.items()
    )
    alerts = sum(v.alerts for v in f.idchecks)
    checked = sum(v.checked for v in f.idchecks)
    return [
        (_t("report.sum.district", lang), f.district),
        (_t("report.sum.period", lang), f.period.label),
        (_t("report.sum.generated", lang), f.generated_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")),
        (_t("report.sum.alarms", lang), f.alarms),
        *[(_t(f"report.sum.{v}", lang), f.by_verdict.get(v, 0)) for v in ("confirmed", "suspected", "none", "pending")],
        (_t("report.sum.cases", lang), len(f.cases)),
        (_t("report.sum.warnings", lang), f.penalties.get("warning", 0)),
        (_t("report.sum.fines", lang), f.penalties.get("fine", 0)),
        (_t("report.sum.fines_total", lang), (MONEY, f.fines_yuan)),
        (_t("report.sum.suspensions", lang), f.penalties.get("suspension", 0)),
        (_t("report.sum.revocations", lang), f.penalties.get("revocation", 0)),
        (_t("report.sum.repeat", lang), len(f.repeat_venues)),
        (_t("report.sum.key_days", lang), key_days or "-"),
        (_t("report.sum.idc_alerts", lang), alerts),
        (_t("report.sum.idc_checked", lang, minutes=f"{f.window_min:g}"), f"{checked} ({_share(checked, alerts)})"),
        (_t("report.sum.minors_refused", lang), sum(v.minors_refused for v in f.idchecks)),
        (_t("report.sum.walk_ups", lang), sum(v.walk_up_checks for v in f.idchecks)),
        (_t("report.sum.walk_up_minors", lang), sum(v.walk_up_minors for v in f.idchecks)),
    ]


def idcheck_table(f: Figures, lang: str = DEFAULT_LANG) -> list[list]:
    """The ID-checks table (XLSX sheet): a header, then a row per venue; words, never codes."""
    kinds = _kinds(f)
    minutes = f"{f.window_min:g}"
    header = [
        _t("report.col.venue_id", lang),
        _t("report.col.venue", lang),
        _t("report.col.venue_type", lang),
        _t("report.col.idc_alerts", lang),
        _t("report.col.idc_checked", lang, minutes=minutes),
        _t("report.col.idc_share", lang),
        _t("report.col.idc_median", lang),
        *[_t("report.col.idc_outcome", lang, outcome=outcome_words(k, lang)) for k in kinds],
        _t("report.col.idc_no_outcome", lang),
        _t("report.col.walk_ups", lang),
        _t("report.col.walk_up_minors", lang),
        _t("report.col.minors_refused", lang),
    ]
    rows: list[list] = [header]
    for v in f.idchecks:
        rows.append(
            [
                v.venue_id,
                v.name,
                venue_type_words(v.venue_type, lang),
                v.alerts,
                v.checked,
                round(100 * v.checked_share, 1) if v.checked_share is not None else "-",
                _minutes(v.median_time_to_check_s),
                *[v.outcomes[k] for k in kinds],
                v.no_outcome,
                v.walk_up_checks,
                v.walk_up_minors,
                v.minors_refused,
            ]
        )
    return rows


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what openpyxl (XML) refuses
XLSX_MONEY = '"¥"#,##0.##;-"¥"#,##0.##'  # ¥5,000 shown, a number kept


def _cells(values) -> list:
    """A row for openpyxl with every value through ``neutralise_cell``: openpyxl stores a string that
    starts with '=' as a formula, and a spreadsheet runs + - @ too; numbers stay numbers. Control
    characters XML cannot hold (a venue name may carry one) are dropped rather than failing the report."""
    return [neutralise_cell(_XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v) for v in values]


def _sheet_name(key: str, lang: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", _t(key, lang))[:31]  # what Excel allows of a sheet's name


def to_xlsx(f: Figures, lang: str = DEFAULT_LANG) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_name("report.sheet.summary", lang)
    for label, value in summary_rows(f, lang):
        if isinstance(value, tuple) and value[0] == MONEY:
            ws.append(_cells((label, value[1])))
            ws.cell(ws.max_row, 2).number_format = XLSX_MONEY
        else:
            ws.append(_cells((label, value)))
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 22
    days = wb.create_sheet(_sheet_name("report.sheet.per_day", lang))
    days.append(
        _cells(
            (
                _t("report.col.day", lang),
                *[verdict_words(v, lang) for v in VERDICTS],
                _t("report.col.key_period", lang),
            )
        )
    )
    for d in f.per_day:
        counts = f.per_day_verdicts.get(d, Counter())
        kinds = [charts.period_name(p, lang) or charts.describe_period(p.kind, [], lang) for p in f.periods.get(d, ())]
        if not f.periods and d in f.key_days:
            kinds = [day_name(f.key_days[d], lang)]
        days.append(_cells((d.isoformat(), *[counts.get(v, 0) for v in VERDICTS], ", ".join(kinds))))
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = _t("report.chart.per_day", lang, district=f.district, period=f.period.label)
    chart.y_axis.title, chart.x_axis.title = _t("chart.per_day.y", lang), _t("report.col.day", lang)
    chart.add_data(
        Reference(days, min_col=2, max_col=1 + len(VERDICTS), min_row=1, max_row=len(f.per_day) + 1),
        titles_from_data=True,
    )
    chart.set_categories(Reference(days, min_col=1, min_row=2, max_row=len(f.per_day) + 1))
    chart.width, chart.height = 24, 9
    ws.add_chart(chart, "D2")
    types = wb.create_sheet(_sheet_name("report.sheet.by_type", lang))
    types.append(
        _cells((_t("report.col.venue_type", lang), _t("report.col.confirmed", lang), _t("report.col.suspected", lang)))
    )
    for t, c in sorted(f.by_type.items()):
        types.append(_cells((venue_type_words(t, lang), c["confirmed"], c["suspected"])))
    if f.by_type:
        c2 = BarChart()
        c2.type, c2.grouping = "bar", "clustered"  # side by side: confirmed and suspected are never one bar
        c2.title = _t("chart.by_type.title", lang)
        c2.x_axis.title, c2.y_axis.title = _t("chart.by_type.y", lang), _t("chart.by_type.x", lang)
        c2.add_data(
            Reference(types, min_col=2, max_col=3, min_row=1, max_row=len(f.by_type) + 1), titles_from_data=True
        )
        c2.set_categories(Reference(types, min_col=1, min_row=2, max_row=len(f.by_type) + 1))
        ws.add_chart(c2, "D22")
    violations = wb.create_sheet(_sheet_name("report.sheet.violations", lang))
    violations.append(_cells(_t(f"report.col.{c}", lang) for c in VIOLATION_COLUMNS))
    for v in f.violations:
        row = violation_row(v, lang)
        violations.append(_cells(row[c] for c in VIOLATION_COLUMNS))
    case_sheet = wb.create_sheet(_sheet_name("report.sheet.cases", lang))
    case_cols = ("number", "venue_id", "venue", "department", "status", "opened", "decision", "fine")
    case_sheet.append(_cells(_t(f"report.col.{c}", lang) for c in case_cols))
    for case in f.cases:
        case_sheet.append(
            _cells(
                (
                    case["number"],
                    case["venue_id"],
                    case["venue"],
                    term("dept", case["department"], lang),
                    term("cs", case["status"], lang),
                    case["opened"],
                    term("dec", case["decision"], lang),
                    case["fine_yuan"],
                )
            )
        )
        case_sheet.cell(case_sheet.max_row, len(case_cols)).number_format = XLSX_MONEY
    repeat = wb.create_sheet(_sheet_name("report.sheet.repeat", lang))
    repeat_cols = ("venue_id", "venue", "confirmed", "suspected")
    repeat.append(_cells(_t(f"report.col.{c}", lang) for c in repeat_cols))
    for r in f.repeat_venues:
        repeat.append(_cells(r[c] for c in repeat_cols))
    checks = wb.create_sheet(_sheet_name("report.sheet.idchecks", lang))
    for line in idcheck_table(f, lang):
        checks.append(_cells(line))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# -- PDF ---------------------------------------------------------------------------------------
def pdf_text(value: object) -> str:
    """Any value as the text of a reportlab Paragraph, which is markup: ``<img src=…>`` would embed a
    file from the hub's disk, ``<a href>`` make a link, ``&`` or ``<`` break the page. Every Paragraph in
    the report is made from text that went through here (``to_pdf``'s ``para``); markup the code adds on
    purpose is written around the escaped text, never into the data."""
    return xml_escape(str(value))


CJK_FONTS = charts.CJK_FONTS


def _cjk_font(pdfmetrics, UnicodeCIDFont) -> str:
    """A TrueType CJK font embedded (subset) in the PDF, so any viewer shows the Chinese text; without
    one installed, the PDF's standard STSong font, which viewers without Asian font packs cannot draw."""
    from pathlib import Path

    from reportlab.pdfbase.ttfonts import TTFont

    for path in CJK_FONTS:
        if Path(path).exists():
            if "HumiaoCJK" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("HumiaoCJK", path, subfontIndex=0))
            return "HumiaoCJK"
    import logging

    logging.getLogger("humiao.hub.reports").warning(
        "no CJK TrueType font found (sudo apt-get install fonts-wqy-zenhei): the PDF's Chinese text uses "
        "STSong-Light, which needs the viewer's Asian font pack"
    )
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


class _Unbroken(str):
    """A table cell's text that must stay on one line (a case number)."""


def to_pdf(f: Figures, lang: str = DEFAULT_LANG) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import CondPageBreak, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _cjk_font(pdfmetrics, UnicodeCIDFont)
    # lines break at spaces; a run longer than the cell (Chinese has no spaces) is split where it must be
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontSize=8, leading=10.5, splitLongWords=True)
    head = ParagraphStyle("head", parent=cell, textColor=colors.HexColor("#222222"))
    h1 = ParagraphStyle("h1", parent=body, fontSize=15, leading=20, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    h2_with_next = ParagraphStyle("h2k", parent=h2, keepWithNext=1)  # over a figure, which never splits
    width = 180 * mm
    pad = 6  # a cell's left and right padding together (reportlab's default 3 + 3)

    def para(value: object, style: ParagraphStyle) -> Paragraph:
        return Paragraph(pdf_text(value), style)

    def table(rows: list, widths: list[float] | None = None) -> Table:
        """A table whose header row repeats on each page it runs onto; ``_Unbroken`` cells never wrap."""
        if widths is not None:
            unbroken = {
                i: max(pdfmetrics.stringWidth(r[i], font, 8) for r in rows[1:] if isinstance(r[i], _Unbroken)) + pad
                for i in range(len(rows[0]))
                if any(isinstance(r[i], _Unbroken) for r in rows[1:])
            }
            for i, need in unbroken.items():  # room for the longest case number, taken from the widest column
                if need > widths[i] and need <= 70 * mm:
                    widest = max(range(len(widths)), key=lambda k: widths[k] if k != i else 0)
                    widths[widest] -= need - widths[i]
                    widths[i] = need

        def one_line(c: object, i: int) -> bool:
            return isinstance(c, _Unbroken) and (
                widths is None or pdfmetrics.stringWidth(c, font, 8) + pad <= widths[i]
            )

        data = [
            [c if one_line(c, i) else para(c, head if n == 0 else cell) for i, c in enumerate(r)]
            for n, r in enumerate(rows)
        ]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    def section(key: str, *flowables) -> list:
        """A heading never alone at a page's foot: kept with a figure; over a table, on a new page when fewer
        than ~4 of its rows would fit under it (the table's header row repeats on each page it runs onto)."""
        if len(flowables) == 1 and isinstance(flowables[0], Image):
            return [para(_t(key, lang), h2_with_next), *flowables]
        return [CondPageBreak(40 * mm), para(_t(key, lang), h2), *flowables]

    none = _t("report.none", lang)

    def rows_or_none(header: tuple, rows: list) -> list:
        return [header, *rows] if rows else [header, (none,) + ("",) * (len(header) - 1)]

    title = _t("report.title", lang, district=f.district, period=f.period.label)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author=_t("report.author", lang),
        lang=messages.supported(lang),
    )
    summary = [
        (label, money(value[1]) if isinstance(value, tuple) and value[0] == MONEY else value)
        for label, value in summary_rows(f, lang)
    ]
    png, ratio = charts.report_png(chart_days(f), f.by_type, lang)
    story = [
        para(title, h1),
        para(_t("report.subtitle", lang), body),
        Spacer(1, 4 * mm),
        table([(_t("report.item", lang), _t("report.value", lang)), *summary], [70 * mm, 110 * mm]),
        *section("report.sec.charts", Image(io.BytesIO(png), width=width, height=width * ratio)),
        *section(
            "report.sec.repeat",
            table(
                rows_or_none(
                    tuple(_t(f"report.col.{c}", lang) for c in ("venue_id", "venue", "confirmed", "suspected")),
                    [(r["venue_id"], r["venue"], r["confirmed"], r["suspected"]) for r in f.repeat_venues],
                ),
                [30 * mm, 90 * mm, 30 * mm, 30 * mm],
            ),
        ),
        *section(
            "report.sec.idchecks",
            para(_t("report.idc.note", lang, minutes=f"{f.window_min:g}"), body),
            Spacer(1, 2 * mm),
            table(_idcheck_pdf_rows(f, lang), [34 * mm, 14 * mm, 20 * mm, 18 * mm, 16 * mm, 20 * mm, 58 * mm]),
        ),
        *section(
            "report.sec.violations",
            table(
                rows_or_none(
                    tuple(_t(f"report.col.{c}", lang) for c in ("time", "venue", "venue_type", "verdict", "case")),
                    [
                        (
                            _Unbroken(v["time"]),
                            v["venue"],
                            venue_type_words(v["venue_type"], lang),
                            verdict_words(v["verdict"], lang),
                            _Unbroken(v["case"]),
                        )
                        for v in f.violations
                    ],
                ),
                [27 * mm, 48 * mm, 35 * mm, 34 * mm, 36 * mm],
            ),
        ),
        *section(
            "report.sec.cases",
            table(
                rows_or_none(
                    tuple(
                        _t(f"report.col.{c}", lang)
                        for c in ("number", "venue", "department", "status", "decision", "fine")
                    ),
                    [
                        (
                            _Unbroken(c["number"]),
                            c["venue"],
                            term("dept", c["department"], lang),
                            term("cs", c["status"], lang),
                            term("dec", c["decision"], lang),
                            money(c["fine_yuan"]) if c["decision"] == "fine" or c["fine_yuan"] else "",
                        )
                        for c in f.cases
                    ],
                ),
                [36 * mm, 46 * mm, 26 * mm, 22 * mm, 28 * mm, 22 * mm],
            ),
        ),
    ]
    generated = f"{f.generated_at.astimezone(TZ):%Y-%m-%d %H:%M}"

    def footer(canvas, doc_):
        canvas.setFont(font, 7)
        canvas.drawString(
            15 * mm,
            8 * mm,
            _t("report.footer", lang, district=f.district, period=f.period.label, generated=generated, page=doc_.page),
        )

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _idcheck_pdf_rows(f: Figures, lang: str) -> list[tuple]:
    sep = "；" if messages.supported(lang).startswith("zh") else "; "
    head = (
        _t("report.col.venue", lang),
        _t("report.col.idc_alerts", lang),
        _t("report.col.idc_checked", lang, minutes=f"{f.window_min:g}"),
        _t("report.col.idc_median", lang),
        _t("report.col.minors_refused", lang),
        _t("report.col.walk_ups_minors", lang),
        _t("report.col.outcomes", lang),
    )
    rows: list[tuple] = [head]
    for v in f.idchecks:
        outcomes = sep.join(
            [f"{outcome_words(k, lang)}: {v.outcomes[k]}" for k in idchecks.KINDS if v.outcomes[k]]
            + ([f"{_t('report.col.idc_no_outcome', lang)}: {v.no_outcome}"] if v.no_outcome else [])
        )
        rows.append(
            (
                v.name,
                v.alerts,
                f"{v.checked} ({_share(v.checked, v.alerts)})",
                _minutes(v.median_time_to_check_s),
                v.minors_refused,
                f"{v.walk_up_checks} ({v.walk_up_minors})",
                outcomes or "-",
            )
        )
    return rows if f.idchecks else [head, (_t("report.none", lang),) + ("",) * (len(head) - 1)]


def render(f: Figures, fmt: str, lang: str = DEFAULT_LANG) -> tuple[bytes, str]:
    """The report in a format (csv, xlsx, pdf) and the reader's language, with its media type."""
    lang = messages.supported(lang)
    if fmt == "csv":
        return to_csv(f, lang), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        return to_xlsx(f, lang), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if fmt == "pdf":
        return to_pdf(f, lang), "application/pdf"
    raise ReportError("report.error.format", fmt=fmt[:20], formats=", ".join(FORMATS))
