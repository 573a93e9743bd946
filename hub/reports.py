"""Monthly and quarterly reports per district for the joint meetings: CSV, XLSX and PDF, with charts.

    period (2026-11 or 2026Q4) + district ─► figures (alarms by verdict, type and day; cases and
    penalties; repeat venues; key periods; each venue's ID checks) ─► CSV (the violations, one per
    row) | XLSX (summary, violations, cases, repeat venues, ID checks, native charts) | PDF (summary,
    charts, tables; Chinese text in an embedded CJK font)

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
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub import idchecks
from humiao.hub.registry import SLUG, neutralise_cell
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.rules.statutes import RULES
from humiao.hub.rules.violations import ViolationConfig
from humiao.hub.tables import Alarm, Alert, Case, CaseAlarm, Venue

TZ = ZoneInfo("Asia/Shanghai")
FORMATS = ("csv", "xlsx", "pdf")
VIOLATIONS = ("confirmed", "suspected")  # counted apart, everywhere
DISTRICT = re.compile(SLUG)  # district ids are the wire's topic segments (registry.SLUG)


class ReportError(ValueError):
    pass


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
                raise ReportError(f"period {text!r}: no month {mo}")
            start = date(y, mo, 1)
            return cls(f"{y:04d}-{mo:02d}", start, start + timedelta(days=cal.monthrange(y, mo)[1]))
        if m := re.fullmatch(r"([0-9]{4})Q([1-4])", text.upper()):
            y, q = cls._year(text, m[1]), int(m[2])
            start = date(y, 3 * q - 2, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return cls(f"{y:04d}Q{q}", start, end)
        raise ReportError(f"period {text!r}: a month (2026-11) or a quarter (2026Q4)")

    @staticmethod
    def _year(text: str, digits: str) -> int:
        y = int(digits)
        if not MINYEAR < y < MAXYEAR:  # the period's bounds, in UTC, must still be dates
            raise ReportError(f"period {text!r}: no year {y}")
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
        raise ReportError(f"district {district!r}: lowercase letters, digits, '_' or '-' (at most 64)")
    return district


def known_districts(session: Session) -> list[str]:
    """The districts the hub knows: those of the registry's venues and those alerts came from."""
    venues = select(Venue.district_id).distinct()
    alerts = select(Alert.district_id).distinct()
    return sorted(set(session.scalars(venues)) | set(session.scalars(alerts)))


def filename(district: str, period: Period, fmt: str) -> str:
    """A report's download name, for Content-Disposition: only a validated district id, a period label
    rebuilt from its numbers and one of the fixed extensions reach it."""
    if fmt not in FORMATS:
        raise ReportError(f"format must be one of {', '.join(FORMATS)}")
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
    violations: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    penalties: Counter = field(default_factory=Counter)
    fines_yuan: float = 0.0
    repeat_venues: list[dict] = field(default_factory=list)  # ≥ 2 violations: venue_id, venue, confirmed, suspected
    key_days: dict[date, str] = field(default_factory=dict)
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
) -> Figures:
    calendar = calendar or HolidayCalendar()
    lo, hi = period.bounds()
    f = Figures(district, period, datetime.now(UTC), per_day=dict.fromkeys(period.days(), 0))
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
        if (name := calendar.statutory(d)) or (name := calendar.school_vacation(d)):
            f.key_days[d] = name
    return f


# -- CSV ---------------------------------------------------------------------------------------
VIOLATION_COLUMNS = ("time", "venue_id", "venue", "venue_type", "verdict", "case", "calendar")
IDCHECK_SHEET = "ID checks 证件查验"


def to_csv(f: Figures) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=VIOLATION_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({c: neutralise_cell(v) for c, v in row.items()} for row in f.violations)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens Chinese text correctly


# -- XLSX --------------------------------------------------------------------------------------
def _summary_rows(f: Figures) -> list[tuple[str, object]]:
    return [
        ("district 辖区", f.district),
        ("period 期间", f.period.label),
        ("generated 生成", f.generated_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")),
        ("alarms 预警", f.alarms),
        ("confirmed 确认违法", f.by_verdict.get("confirmed", 0)),
        ("suspected 疑似违法", f.by_verdict.get("suspected", 0)),
        ("no violation 无违法", f.by_verdict.get("none", 0)),
        ("pending 待核查", f.by_verdict.get("pending", 0)),
        ("cases 案件", len(f.cases)),
        ("warnings 警告", f.penalties.get("warning", 0)),
        ("fines 罚款", f.penalties.get("fine", 0)),
        ("fines total ¥ 罚款合计", f.fines_yuan),
        ("suspensions 停业整顿", f.penalties.get("suspension", 0)),
        ("revocations 吊销许可证", f.penalties.get("revocation", 0)),
        ("repeat venues 重复违法场所", len(f.repeat_venues)),
        ("key days 重点时段", ", ".join(f"{d:%m-%d} {n}" for d, n in f.key_days.items()) or "-"),
        *_idcheck_summary(f),
    ]


def _idcheck_summary(f: Figures) -> list[tuple[str, object]]:
    alerts = sum(v.alerts for v in f.idchecks)
    checked = sum(v.checked for v in f.idchecks)
    return [
        ("ID-check alerts 查验预警", alerts),
        (f"checked within {f.window_min:g} min 时限内查验", f"{checked} ({_share(checked, alerts)})"),
        ("minors refused 劝离未成年人", sum(v.minors_refused for v in f.idchecks)),
        ("walk-up checks 主动查验", sum(v.walk_up_checks for v in f.idchecks)),
        ("minors found at walk-up checks 主动查验发现未成年人", sum(v.walk_up_minors for v in f.idchecks)),
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _minutes(seconds: float | None) -> float | str:
    return round(seconds / 60, 1) if seconds is not None else "-"


def _both(words) -> str:
    return f"{words['zh']} {words['en']}"


def _kinds(f: Figures) -> list[str]:
    """The outcome kinds the ID-check tables show: the catalogue's, and "other" only when a venue has one."""
    return [k for k in idchecks.KINDS if k != idchecks.OTHER or any(v.outcomes[k] for v in f.idchecks)]


def idcheck_table(f: Figures) -> list[list]:
    """The "ID checks 证件查验" table (XLSX sheet): a header, then a row per venue; words, never codes."""
    kinds = _kinds(f)
    header = [
        "venue id 场所编号",
        "venue 场所",
        "type 类型",
        "alerts 预警",
        f"checked within {f.window_min:g} min 时限内查验",
        "checked % 查验率",
        "median minutes to check 查验用时中位数（分钟）",
        *[f"alerts: {idchecks.words(k)['en']} 预警结果：{idchecks.words(k)['zh']}" for k in kinds],
        "no check recorded 无查验记录",
        "walk-up checks 主动查验",
        "minors at walk-up checks 主动查验发现未成年人",
        "minors refused 劝离未成年人",
    ]
    rows: list[list] = [header]
    for v in f.idchecks:
        rows.append(
            [
                v.venue_id,
                v.name,
                _type_both(v.venue_type),
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


def _cells(values) -> list:
    """A row for openpyxl with every value through ``neutralise_cell``: openpyxl stores a string that
    starts with '=' as a formula, and a spreadsheet runs + - @ too; numbers stay numbers. Control
    characters XML cannot hold (a venue name may carry one) are dropped rather than failing the report."""
    return [neutralise_cell(_XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v) for v in values]


def to_xlsx(f: Figures) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    for row in _summary_rows(f):
        ws.append(_cells(row))
    ws.column_dimensions["A"].width = 30
    days = wb.create_sheet("Per day")
    days.append(("day", "alarms", "key period"))
    for d, n in f.per_day.items():
        days.append(_cells((d.isoformat(), n, f.key_days.get(d, ""))))
    chart = BarChart()
    chart.title, chart.y_axis.title = f"Alarms per day, {f.district} {f.period.label}", "alarms"
    chart.add_data(Reference(days, min_col=2, min_row=1, max_row=len(f.per_day) + 1), titles_from_data=True)
    chart.set_categories(Reference(days, min_col=1, min_row=2, max_row=len(f.per_day) + 1))
    ws.add_chart(chart, "D2")
    types = wb.create_sheet("By venue type")
    types.append(("venue type 类型", "confirmed 确认违法", "suspected 疑似违法"))
    for t, c in sorted(f.by_type.items()):
        types.append(_cells((_type_both(t), c["confirmed"], c["suspected"])))
    if f.by_type:
        c2 = BarChart()
        c2.type, c2.grouping, c2.overlap = "bar", "stacked", 100
        c2.title = "Violations by venue type (confirmed, suspected)"
        c2.add_data(
            Reference(types, min_col=2, max_col=3, min_row=1, max_row=len(f.by_type) + 1), titles_from_data=True
        )
        c2.set_categories(Reference(types, min_col=1, min_row=2, max_row=len(f.by_type) + 1))
        ws.add_chart(c2, "D20")
    for title, rows, cols in (
        ("Violations", f.violations, VIOLATION_COLUMNS),
        ("Cases", f.cases, ("number", "venue_id", "venue", "department", "status", "opened", "decision", "fine_yuan")),
        ("Repeat venues", f.repeat_venues, ("venue_id", "venue", "confirmed", "suspected")),
    ):
        sheet = wb.create_sheet(title)
        sheet.append(_cells(cols))
        for r in rows:
            sheet.append(_cells(r[c] for c in cols))
    checks = wb.create_sheet(IDCHECK_SHEET)
    for line in idcheck_table(f):
        checks.append(_cells(line))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# -- PDF ---------------------------------------------------------------------------------------
VERDICT_LABEL = {
    "confirmed": "确认违法 confirmed",
    "suspected": "疑似违法 suspected",
    "pending": "待核查 pending",
    "none": "无违法 none",
}


def pdf_text(value: object) -> str:
    """Any value as the text of a reportlab Paragraph, which is markup: ``<img src=…>`` would embed a
    file from the hub's disk, ``<a href>`` make a link, ``&`` or ``<`` break the page. Every Paragraph in
    the report is made from text that went through here (``to_pdf``'s ``para``); markup the code adds on
    purpose is written around the escaped text, never into the data."""
    return xml_escape(str(value))


def _type_zh(venue_type: str) -> str:
    """A venue type as the regulations name it (the code where the table has no such type)."""
    return RULES[venue_type].name_zh if venue_type in RULES else venue_type


def _type_en(venue_type: str) -> str:
    return RULES[venue_type].name_en if venue_type in RULES else venue_type


def _type_both(venue_type: str) -> str:
    return f"{_type_zh(venue_type)} {_type_en(venue_type)}" if venue_type in RULES else venue_type


def _chart_png(f: Figures) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [2.2, 1]})
    days = list(f.per_day)
    colours = ["#c0392b" if d in f.key_days else "#2c7fb8" for d in days]
    a.bar([d.day for d in days], [f.per_day[d] for d in days], color=colours)
    a.set_title("Alarms per day (red: key period)", fontsize=10)
    a.set_xlabel("day of month" if len(days) <= 31 else "day")
    if len(days) > 31:
        a.set_xticks(range(1, len(days) + 1, 14))
        a.bar(range(1, len(days) + 1), [f.per_day[d] for d in days], color=colours)
    types = sorted(f.by_type)
    if types:
        confirmed = [f.by_type[t]["confirmed"] for t in types]
        b.barh([_type_en(t) for t in types], confirmed, color="#b42318", label="confirmed")
        b.barh(
            [_type_en(t) for t in types],
            [f.by_type[t]["suspected"] for t in types],
            left=confirmed,
            color="#f79009",
            label="suspected",
        )
        b.legend(fontsize=7)
    else:
        b.text(0.5, 0.5, "no violations", ha="center", va="center", transform=b.transAxes)
        b.set_xticks([])
        b.set_yticks([])
    b.set_title("Violations by venue type", fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=150)
    plt.close(fig)
    return out.getvalue()


CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)  # Debian fonts-arphic-uming


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


def to_pdf(f: Figures) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _cjk_font(pdfmetrics, UnicodeCIDFont)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    h1 = ParagraphStyle("h1", parent=body, fontSize=15, leading=20, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)

    def para(value: object, style: ParagraphStyle) -> Paragraph:
        return Paragraph(pdf_text(value), style)

    def table(rows, widths=None):
        t = Table([[para(c, body) for c in r] for r in rows], colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Humiao report {f.district} {f.period.label}",
        author="Humiao hub",
    )
    story = [
        para(f"护苗 联合执法通报 · Joint enforcement report — {f.district}, {f.period.label}", h1),
        para(
            "未成年人场所准入预警与执法情况 / Minors' venue-access alarms and enforcement. "
            "No minor is named or pictured in this report.",
            body,
        ),
        Spacer(1, 4 * mm),
        table([("item 项目", "value 数值")] + [(k, v) for k, v in _summary_rows(f)], [70 * mm, 110 * mm]),
        Spacer(1, 4 * mm),
        Image(io.BytesIO(_chart_png(f)), width=180 * mm, height=64 * mm),
        para("Repeat venues 重复违法场所", h2),
        table(
            [("venue", "name 名称", "confirmed 确认违法", "suspected 疑似违法")]
            + [(r["venue_id"], r["venue"], r["confirmed"], r["suspected"]) for r in f.repeat_venues]
            if f.repeat_venues
            else [("venue", "name 名称", "confirmed 确认违法", "suspected 疑似违法"), ("-", "-", "-", "-")]
        ),
        para(IDCHECK_SHEET, h2),
        para(
            f"Alerts answered by staff within the {f.window_min:g}-minute window; the outcome of each alert is its "
            f"latest check. Walk-up checks: staff checked someone the camera did not flag. "
            f"预警按其最后一次查验结果计；时限 {f.window_min:g} 分钟；主动查验指工作人员对摄像头未预警人员的查验。",
            body,
        ),
        table(_idcheck_pdf_rows(f), [34 * mm, 14 * mm, 20 * mm, 18 * mm, 16 * mm, 20 * mm, 58 * mm]),
        PageBreak(),
        para("Violations 违法预警明细", h2),
        table(
            [("time 时间", "venue 场所", "type 类型", "verdict 结论", "case 案件")]
            + [
                (
                    v["time"],
                    v["venue"],
                    _type_zh(v["venue_type"]),
                    VERDICT_LABEL.get(v["verdict"], v["verdict"]),
                    v["case"],
                )
                for v in f.violations
            ]
            if f.violations
            else [("time", "venue", "type", "verdict", "case"), ("-", "-", "-", "-", "-")]
        ),
        para("Cases 案件", h2),
        table(
            [("number 编号", "venue 场所", "department 部门", "status 状态", "decision 决定", "fine ¥")]
            + [(c["number"], c["venue"], c["department"], c["status"], c["decision"], c["fine_yuan"]) for c in f.cases]
            if f.cases
            else [("number", "venue", "department", "status", "decision", "fine"), ("-", "-", "-", "-", "-", "-")]
        ),
    ]

    def footer(canvas, doc_):
        canvas.setFont(font, 7)
        canvas.drawString(
            15 * mm,
            8 * mm,
            f"Humiao hub · {f.district} {f.period.label} · generated "
            f"{f.generated_at.astimezone(TZ):%Y-%m-%d %H:%M} · page {doc_.page}",
        )

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _idcheck_pdf_rows(f: Figures) -> list[tuple]:
    head = (
        "venue 场所",
        "alerts 预警",
        "checked 时限内查验",
        "median min 用时中位数",
        "minors refused 劝离未成年人",
        "walk-ups (minors) 主动查验（未成年人）",
        "outcomes 查验结果",
    )
    rows: list[tuple] = [head]
    for v in f.idchecks:
        outcomes = "; ".join(
            [f"{_both(idchecks.words(k))}: {v.outcomes[k]}" for k in idchecks.KINDS if v.outcomes[k]]
            + ([f"无查验记录 no check recorded: {v.no_outcome}"] if v.no_outcome else [])
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
    return rows if f.idchecks else [head, ("-",) * len(head)]


def render(f: Figures, fmt: str) -> tuple[bytes, str]:
    if fmt == "csv":
        return to_csv(f), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        return to_xlsx(f), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if fmt == "pdf":
        return to_pdf(f), "application/pdf"
    raise ReportError(f"format must be one of {', '.join(FORMATS)}")
