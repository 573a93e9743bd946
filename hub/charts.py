"""The hub's charts, drawn on the server (matplotlib) in the reader's language: SVG for the panel's dashboard,
PNG for the PDF report. One place draws each chart, so the dashboard and the report show the same thing.

    alarms per day   stacked bars by verdict (confirmed / suspected / pending / no violation — each its own
                     segment with its own number: confirmed and suspected are never one number); key periods
                     shaded behind the bars (statutory holidays, configured key periods, school vacations)
                     and weekends hatched, each explained in the legend; axes labelled
    violations by    confirmed and suspected side by side for each venue type (the statute table's words),
    venue type       the number at the end of each bar; axes labelled

Every word comes from the message catalogue (keys ``chart.…`` and ``report.verdict.…``). Text is drawn as
paths (``svg.fonttype`` ``path``), so the Chinese shows in any browser without the font; the CJK font
(Debian fonts-wqy-zenhei) is needed on the hub only. Output is deterministic: no date in the SVG's
metadata and a fixed id salt, so the same figures give the same bytes.
"""

from __future__ import annotations

import io
import logging
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from humiao.hub import messages
from humiao.hub.rules.calendar import HolidayCalendar, holiday_message
from humiao.hub.rules.statutes import RULES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from humiao.hub.inspections import KeyPeriodConfig

log = logging.getLogger("humiao.hub.charts")

NAMES = ("alarms-per-day", "violations-by-type")  # the dashboard's charts: GET /api/dashboard/charts/<name>.svg
VERDICTS = ("confirmed", "suspected", "pending", "none")  # the stacking order, bottom up
VIOLATIONS = ("confirmed", "suspected")
STYLE = {  # verdict: (fill, hatch) — the hatch tells them apart in black and white too
    "confirmed": ("#b42318", ""),
    "suspected": ("#f79009", "\\\\\\"),
    "pending": ("#5d6b82", ".."),
    "none": ("#a9c4a3", ""),
}
# key periods: statutory holidays first (what the arcade rule and the inspectors care most about); a day takes
# the colour of the first kind it is in, and weekends are hatched over whatever colour it has
KINDS = ("statutory", "key", "vacation", "weekend")
SHADE = {"statutory": "#f9c9c4", "key": "#c9dcf7", "vacation": "#fbe7a6"}
WEEKEND_HATCH = "//"
WEEKEND_INK = "#c3c8d1"
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # Debian fonts-arphic-uming
)
PNG_DPI = 200
WIDTH = 7.5  # inches: the PDF's text width (180 mm) at about its size; the dashboard's card at about 1.3×
PER_DAY_HEIGHT = 3.6
BY_TYPE_WIDTH = 4.6  # the dashboard's narrower card

_LOCK = threading.Lock()  # matplotlib's settings are process-wide: one chart at a time
_fonts: list[str] = []


@dataclass(frozen=True)
class KeyPeriod:
    kind: str  # one of KINDS
    name: str = ""  # statutory: the calendar's (English) name; key, vacation: as configured


@dataclass
class Day:
    day: date
    counts: Mapping[str, int]  # verdict → alarms raised that day
    periods: Sequence[KeyPeriod] = field(default_factory=tuple)


def key_periods(day: date, calendar: HolidayCalendar, cfg: KeyPeriodConfig | None = None) -> list[KeyPeriod]:
    """The key periods ``day`` is in: the hub's calendar (statutory holidays, school vacations), the
    configured key periods (``rules.key_periods``: school start, exams …) and the weekend."""
    out = []
    if name := calendar.statutory(day):
        out.append(KeyPeriod("statutory", name))
    out += [KeyPeriod("key", p.name) for p in (cfg.periods if cfg else ()) if p.start <= day <= p.end]
    if name := calendar.school_vacation(day):
        out.append(KeyPeriod("vacation", name))
    if day.weekday() >= 5:
        out.append(KeyPeriod("weekend"))
    return out


def period_name(p: KeyPeriod, lang: str) -> str:
    """A key period's own name in the reader's language (statutory holidays have both; configured ones
    are shown as written)."""
    if p.kind == "statutory":
        return messages.render(holiday_message(p.name), lang)
    return p.name


def describe_period(kind: str, names: Sequence[str], lang: str) -> str:
    """``statutory: New Year's Day, …`` in words (the legend's and the report's)."""
    if kind == "weekend":
        return messages.text("chart.period.weekend", lang)  # the legend's own says how it is marked
    return messages.text(f"chart.period.{kind}", lang, names=("、" if _zh(lang) else ", ").join(names))


def venue_type(code: str, lang: str) -> str:
    """A venue type in the reader's words: the catalogue's, else the statute table's, else the code."""
    words = messages.term("venue", code, lang)
    if words != code:
        return words
    if code in RULES:
        return RULES[code].name_zh if _zh(lang) else RULES[code].name_en
    return code


def verdict(code: str, lang: str) -> str:
    try:
        return messages.text(f"report.verdict.{code}", lang)
    except KeyError:
        return code


def _zh(lang: str) -> bool:
    return messages.supported(lang).startswith("zh")


# -- drawing ---------------------------------------------------------------------------------------------------
def cjk_font() -> str | None:
    """The CJK font file the charts use (registered with matplotlib once), or None (Chinese shows as boxes)."""
    if _fonts:
        return _fonts[0]
    from matplotlib import font_manager

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # "weight normal … using 500": harmless
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in CJK_FONTS:
        if Path(path).exists():
            if path not in known:
                font_manager.fontManager.addfont(path)
            _fonts.append(path)
            return path
    log.warning("no CJK font found (sudo apt-get install fonts-wqy-zenhei): the charts' Chinese text shows as boxes")
    return None


def _rc() -> dict:
    families = ["DejaVu Sans"]
    if path := cjk_font():
        from matplotlib import font_manager

        families.append(font_manager.FontProperties(fname=path).get_name())  # per-glyph fallback for the CJK
    return {
        "font.family": families,
        "font.size": 10,
        "svg.fonttype": "path",  # text as outlines: the browser needs no CJK font
        "svg.hashsalt": "humiao",  # fixed ids: the same chart is the same bytes
        "axes.spines.top": False,
        "axes.spines.right": False,
        "hatch.linewidth": 0.6,
        "hatch.color": "#344054",  # the verdicts' hatches (the weekend's is lighter)
    }


@contextmanager
def drawing() -> Iterator[None]:
    """Matplotlib set up for the hub's charts (fonts, SVG ids), one chart at a time: build and save inside."""
    import matplotlib

    with _LOCK, matplotlib.rc_context(_rc()):
        yield


def save(fig: Figure, fmt: str) -> bytes:
    """The figure as SVG (text as paths) or PNG (``PNG_DPI``), without a creation date."""
    out = io.BytesIO()
    if fmt == "svg":
        fig.savefig(out, format="svg", metadata={"Date": None})
    elif fmt == "png":
        fig.savefig(out, format="png", dpi=PNG_DPI, metadata={"Software": None})
    else:
        raise ValueError(f"chart format {fmt!r}: svg or png")
    return out.getvalue()


def alarms_per_day(days: Sequence[Day], lang: str, fmt: str = "svg", *, title: bool = True) -> bytes:
    """The alarms-per-day chart as SVG or PNG (``title``: False where the page heads it already)."""
    with drawing():
        fig = _figure(WIDTH, PER_DAY_HEIGHT + (0.3 if title else 0))
        draw_per_day(fig, days, lang, title=title)
        return save(fig, fmt)


def violations_by_type(
    by_type: Mapping[str, Mapping[str, int]], lang: str, fmt: str = "svg", *, title: bool = True
) -> bytes:
    """The violations-by-venue-type chart as SVG or PNG (``title``: False where the page heads it already)."""
    with drawing():
        fig = _figure(BY_TYPE_WIDTH, by_type_height(by_type) - (0 if title else 0.3))
        draw_by_type(fig, by_type, lang, title=title)
        return save(fig, fmt)


def report_png(days: Sequence[Day], by_type: Mapping[str, Mapping[str, int]], lang: str) -> tuple[bytes, float]:
    """Both charts, one above the other, as one PNG for the PDF report, with its height / width."""
    with drawing():
        low = by_type_height(by_type)
        high = PER_DAY_HEIGHT + 0.3
        fig = _figure(WIDTH, high + low)
        top, bottom = cast(Any, fig.subfigures(2, 1, height_ratios=[high, low]))
        draw_per_day(top, days, lang)
        draw_by_type(bottom, by_type, lang)
        return save(fig, "png"), (high + low) / WIDTH


def by_type_height(by_type: Mapping[str, Mapping[str, int]]) -> float:
    return 1.7 + 0.5 * max(len(by_type), 1)


def _figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) if len(text) > width else text


def _title(fig, text: str) -> None:
    fig.suptitle(text, x=0.01, ha="left", fontsize=11, fontweight="bold")


def draw_per_day(fig, days: Sequence[Day], lang: str, *, title: bool = True) -> None:
    """Alarms per day into ``fig`` (a figure or subfigure; inside ``drawing()``): a stacked segment per verdict
    with its own number, key periods shaded and weekends hatched behind the bars, named in the legend."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    ax = fig.add_subplot()
    xs = list(range(len(days)))
    top = max([sum(d.counts.get(v, 0) for v in VERDICTS) for d in days] + [1])
    names: dict[str, list[str]] = {k: [] for k in KINDS}
    weekends = False
    for x, d in zip(xs, days, strict=True):
        kinds = [p.kind for p in d.periods]
        for p in d.periods:
            if (n := period_name(p, lang)) and n not in names[p.kind]:
                names[p.kind].append(n)
        if shade := next((SHADE[k] for k in KINDS if k in kinds and k in SHADE), None):
            ax.axvspan(x - 0.5, x + 0.5, color=shade, lw=0, zorder=0)
        if "weekend" in kinds:
            weekends = True
            ax.axvspan(
                x - 0.5, x + 0.5, facecolor="none", hatch=WEEKEND_HATCH, hatchcolor=WEEKEND_INK, lw=0, zorder=0.5
            )
    bottom = [0] * len(days)
    fits = top / 12  # a segment this tall holds its number
    handles: list = []
    for v in VERDICTS:
        values = [d.counts.get(v, 0) for d in days]
        colour, hatch = STYLE[v]
        bars = ax.bar(
            xs,
            values,
            0.78,
            bottom=bottom,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            lw=0.4,
            zorder=2,
            label=verdict(v, lang),
        )
        # each segment's own number (never a sum of verdicts): inside it where it fits, else beside its top
        inside = [str(n) if n and n >= fits else "" for n in values]
        ink = "white" if v in ("confirmed", "pending") else "black"  # legible on the fill
        shown = ax.bar_label(bars, labels=inside, label_type="center", fontsize=8, color=ink)
        beside = [str(n) if n and n < fits else "" for n in values]
        if any(beside):
            edge = ax.bar_label(bars, labels=beside, label_type="edge", fontsize=7, color=colour, padding=1)
            shown = [a if a.get_text() else b for a, b in zip(shown, edge, strict=True)]
        for label, d in zip(shown, days, strict=True):  # named in the SVG: n-<verdict>-<day>
            if label.get_text():
                label.set_gid(f"n-{v}-{d.day.isoformat()}")
        bottom = [b + n for b, n in zip(bottom, values, strict=True)]
        handles.append(bars)
    for k in KINDS:
        if k == "weekend" and weekends:
            handles.append(
                Patch(
                    facecolor="white",
                    hatch=WEEKEND_HATCH,
                    hatchcolor="#98a2b3",
                    edgecolor="#98a2b3",
                    label=messages.text("chart.legend.weekend", lang),
                )
            )
        elif k != "weekend" and names[k]:
            handles.append(
                Patch(color=SHADE[k], label=_wrap(describe_period(k, names[k], lang), 17 if _zh(lang) else 32))
            )
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.set_ylim(0, top * 1.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    step = max(1, -(-len(days) // 16))  # at most 16 dates under the axis
    ticks = xs[::step]
    ax.set_xticks(ticks, [days[i].day.strftime("%m-%d") for i in ticks], rotation=45, ha="right")
    first, last = (days[0].day.isoformat(), days[-1].day.isoformat()) if days else ("", "")
    ax.set_xlabel(messages.text("chart.per_day.x", lang, start=first, end=last))
    ax.set_ylabel(messages.text("chart.per_day.y", lang))
    ax.grid(axis="y", color="#eaecf0", lw=0.6, zorder=1)
    fig.legend(handles=handles, loc="outside lower left", ncols=3, fontsize=9, frameon=False)
    if title:
        _title(fig, messages.text("chart.per_day.title", lang))


def draw_by_type(fig, by_type: Mapping[str, Mapping[str, int]], lang: str, *, title: bool = True) -> None:
    """Violations by venue type into ``fig`` (inside ``drawing()``): confirmed and suspected as two bars side by
    side, each with its number, most first."""
    from matplotlib.ticker import MaxNLocator

    ax = fig.add_subplot()
    if title:
        _title(fig, messages.text("chart.by_type.title", lang))
    types = sorted(by_type, key=lambda t: (-sum(by_type[t].get(v, 0) for v in VIOLATIONS), t))
    if not types:
        ax.text(0.5, 0.5, messages.text("chart.by_type.none", lang), ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ys = range(len(types))
    height = 0.38
    for i, v in enumerate(VIOLATIONS):
        colour, hatch = STYLE[v]
        bars = ax.barh(
            [y - height / 2 + i * height for y in ys],
            [by_type[t].get(v, 0) for t in types],
            height,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            lw=0.4,
            label=verdict(v, lang),
            zorder=2,
        )
        ax.bar_label(bars, padding=3, fontsize=9)
    ax.set_yticks(list(ys), [_wrap(venue_type(t, lang), 24) for t in types])
    ax.invert_yaxis()  # most first
    most = max(by_type[t].get(v, 0) for t in types for v in VIOLATIONS)
    ax.set_xlim(0, max(most, 1) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(messages.text("chart.by_type.x", lang))
    ax.set_ylabel(messages.text("chart.by_type.y", lang))
    ax.grid(axis="x", color="#eaecf0", lw=0.6, zorder=1)
    fig.legend(loc="outside lower left", ncols=2, fontsize=9, frameon=False)  # constrained layout makes room
