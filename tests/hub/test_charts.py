"""The hub's charts (hub/charts.py), read as a person would: axes named, a legend, each verdict's own number on
its bar (confirmed and suspected never added up), the key periods marked and named, all in Chinese and in
English; SVG text drawn as outlines (no font needed in the browser) and the same bytes for the same figures; the
dashboard's chart route answers in the caller's language over what the caller may see."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, timedelta

import pytest

from humiao.hub import charts
from humiao.hub.inspections import KeyPeriodConfig
from humiao.hub.rules.calendar import CalendarConfig, HolidayCalendar

from tests.support.hubapi import Browser

SVG = "{http://www.w3.org/2000/svg}"
CALENDAR = HolidayCalendar(
    CalendarConfig(school_vacations=[{"name": "暑假", "start": "2026-07-05", "end": "2026-08-31"}])
)
KEY = KeyPeriodConfig(periods=[{"name": "开学季", "start": "2026-09-01", "end": "2026-09-07"}])
START = date(2026, 8, 28)  # vacation, school start, the weekends, then National Day (1-3 October) and after
DAYS = 40


def days() -> list[charts.Day]:
    out = []
    for k in range(DAYS):
        d = START + timedelta(days=k)
        counts = Counter()
        if k == 5:
            counts.update(confirmed=7, suspected=3, none=1)  # 7 and 3 shown apart; never 10
        elif k % 3 == 0:
            counts.update(confirmed=1, pending=1, none=4)
        out.append(charts.Day(d, counts, charts.key_periods(d, CALENDAR, KEY)))
    return out


def texts(svg: bytes) -> list[str]:
    """Every text of an SVG matplotlib drew as outlines (it names each in a comment)."""
    return [" ".join(t.split()) for t in re.findall(r"<!-- (.*?) -->", svg.decode("utf-8"), re.S)]  # lines joined


WORDS = {
    "zh-CN": {
        "title": "每日预警（按核查结论分段）",
        "x": "日期（2026-08-28 至 2026-10-06）",
        "y": "预警数",
        "legend": [
            "确认违法",
            "疑似违法",
            "待核查",
            "无违法",
            "法定节假日：中秋节、国庆节",
            "重点时段：开学季",
            "学校假期：暑假",
        ],
        "weekend": "周末（斜格）",
        "types": ["歌舞娱乐场所", "旅馆"],
        "type_axes": ["场所类型", "违法预警数"],
    },
    "en": {
        "title": "Alarms per day, by verdict",
        "x": "Day (2026-08-28 to 2026-10-06)",
        "y": "Alarms",
        "legend": [
            "Confirmed violation",
            "Suspected violation",
            "Pending check",
            "No violation",
            "Statutory holiday: Mid-Autumn Festival, National Day",
            "Key period: 开学季",
            "School vacation: 暑假",
        ],
        "weekend": "Weekend (hatched)",
        "types": ["KTV / dance venue", "hotel"],
        "type_axes": ["Venue type", "Violations (alarms)"],
    },
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_alarms_per_day_has_axes_values_legend_and_key_periods(lang):
    w = WORDS[lang]
    svg = charts.alarms_per_day(days(), lang)
    root = ET.fromstring(svg)  # well-formed SVG
    assert root.tag == f"{SVG}svg" and not list(root.iter(f"{SVG}text"))  # text as outlines: no font needed
    found = texts(svg)
    joined = " ".join(found)  # a label wrapped onto two lines is two texts
    for word in (w["title"], w["x"], w["y"], w["weekend"], *w["legend"]):
        assert word in found or word in joined, (word, found)
    assert "08-28" in found and "09-03" in found  # dates under the x axis
    numbers = dict(re.findall(r'<g id="n-([a-z]+-[0-9-]+)">\s*<!-- (.*?) -->', svg.decode()))  # on the bars
    day5, day3 = (START + timedelta(days=k) for k in (5, 3))
    assert {k: n for k, n in numbers.items() if k.endswith(str(day5))} == {
        f"confirmed-{day5}": "7",
        f"suspected-{day5}": "3",
        f"none-{day5}": "1",
    }  # each verdict its own number; never 10 (7 + 3)
    assert {k: n for k, n in numbers.items() if k.endswith(str(day3))} == {
        f"confirmed-{day3}": "1",
        f"pending-{day3}": "1",
        f"none-{day3}": "4",
    }
    assert len(numbers) == 3 * len([k for k in range(DAYS) if k == 5 or k % 3 == 0])
    assert b"<dc:date>" not in svg and svg == charts.alarms_per_day(days(), lang)  # deterministic
    other = charts.alarms_per_day(days(), "en" if lang == "zh-CN" else "zh-CN")
    assert other != svg and w["title"] not in texts(other)  # the other language's words


def test_the_key_periods_are_shaded_on_their_days():
    with charts.drawing():
        from matplotlib.figure import Figure

        fig = Figure()
        charts.draw_per_day(fig, days(), "en")
        ax = fig.axes[0]
        spans = [p for p in ax.patches if p.get_zorder() < 1]  # behind the bars
        shaded: dict[str, set[date]] = {}
        for p in spans:
            x = round(p.get_x() + p.get_width() / 2)
            colour = next((k for k, c in charts.SHADE.items() if p.get_facecolor()[:3] == _rgb(c)), None)
            kind = "weekend" if p.get_hatch() == charts.WEEKEND_HATCH else colour
            shaded.setdefault(kind, set()).add(START + timedelta(days=x))
        legend = [" ".join(t.get_text().split()) for t in fig.legends[0].get_texts()]
    assert shaded["statutory"] == {date(2026, 9, 25)} | {date(2026, 10, k) for k in (1, 2, 3)}
    assert shaded["key"] == {date(2026, 9, k) for k in range(1, 8)}
    assert shaded["vacation"] == {date(2026, 8, k) for k in range(28, 32)}
    weekends = {START + timedelta(days=k) for k in range(DAYS) if (START + timedelta(days=k)).weekday() >= 5}
    assert shaded["weekend"] == weekends and len(weekends) == 12
    assert legend[4:] == [
        "Statutory holiday: Mid-Autumn Festival, National Day",
        "Key period: 开学季",
        "School vacation: 暑假",
        "Weekend (hatched)",
    ]


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(hex_colour)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_violations_by_type_names_the_types_and_shows_each_number(lang):
    w = WORDS[lang]
    svg = charts.violations_by_type({"ktv": Counter(confirmed=4, suspected=7), "hotel": Counter(confirmed=1)}, lang)
    found = texts(svg)
    for word in (*w["types"], *w["type_axes"], *w["legend"][:2]):
        assert word in found, (word, found)
    assert {"4", "7", "1"} <= set(found) and "11" not in found  # confirmed and suspected apart
    assert "ktv" not in found  # words, not codes
    empty = texts(charts.violations_by_type({}, lang))
    assert ("本期无违法预警" if lang == "zh-CN" else "No violations in the period") in empty


def test_the_report_picture_holds_both_charts():
    png, ratio = charts.report_png(days(), {"ktv": Counter(confirmed=1)}, "zh-CN")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 0.6 < ratio < 1.2
    import struct

    width, height = struct.unpack(">II", png[16:24])
    assert width == round(charts.WIDTH * charts.PNG_DPI) and abs(height / width - ratio) < 0.01


# -- the dashboard's chart route ---------------------------------------------------------------------------------
@pytest.fixture
def visits(seeded_hub):
    from tests.hub.outcomes import add_visits

    add_visits(seeded_hub)
    return seeded_hub


@pytest.mark.services
def test_the_dashboard_charts_over_http(visits):
    police, ct = Browser(visits, "police-d1"), Browser(visits, "ct-d1")
    d = police.get("/api/dashboard", params={"lang": "en"}).json()
    assert d["charts"] == {
        "alarms-per-day": "/api/dashboard/charts/alarms-per-day.svg?days=30",
        "violations-by-type": "/api/dashboard/charts/violations-by-type.svg?days=30",
    }
    assert sum(x["confirmed"] for x in d["days"]) == 2 and sum(x["suspected"] for x in d["days"]) == 1
    for lang, hotel, title in (
        ("zh-CN", "旅馆", "每日预警（按核查结论分段）"),
        ("en", "hotel", "Alarms per day, by verdict"),
    ):
        r = police.get("/api/dashboard/charts/violations-by-type.svg", params={"lang": lang})
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert r.headers["cache-control"] == "private, no-store" and r.headers["content-language"] == lang
        assert hotel in texts(r.content)
        assert hotel not in texts(ct.get("/api/dashboard/charts/violations-by-type.svg", params={"lang": lang}).content)
        per_day = police.get("/api/dashboard/charts/alarms-per-day.svg", headers={"Accept-Language": lang})
        assert per_day.status_code == 200 and title in texts(per_day.content)
    for lang, words in (("zh-CN", "没有名为“pie”的图表"), ("en", "There is no chart “pie”")):
        r = police.get("/api/dashboard/charts/pie.svg", params={"lang": lang})
        assert r.status_code == 404 and words in r.json()["detail"]
    assert Browser(visits, "auditor").get("/api/dashboard/charts/alarms-per-day.svg").status_code == 403
    assert Browser(visits).get("/api/dashboard/charts/alarms-per-day.svg").status_code == 401
