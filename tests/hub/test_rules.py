"""The statute table, the holiday calendar and the violation decision (../shared/RULES.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from humiao.hub.rules.calendar import CalendarConfig, HolidayCalendar, Period, statutory_days
from humiao.hub.rules.statutes import RULES, Department, rule_for
from humiao.hub.rules.violations import Outcome, Status, ViolationConfig, decide

CST = dt.timezone(dt.timedelta(hours=8))
CAL = HolidayCalendar()


def at(y, m, d, h=20) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=CST)


def checked(result: str, when: dt.datetime, age: int = 16) -> Outcome:
    return Outcome(result, age, age < 14, when + dt.timedelta(minutes=1))


def test_every_venue_type_has_a_rule_with_sources_and_enforcers():
    assert set(RULES) == {"ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment"}
    for r in RULES.values():
        assert r.enforcers and r.sources and all(s.certainty in "✔~◦" for s in r.sources)
    assert rule_for("ktv").lead is Department.CULTURE_TOURISM and rule_for("hotel").lead is Department.POLICE
    with pytest.raises(ValueError, match="unknown venue type"):
        rule_for("sauna")


@pytest.mark.parametrize("year", [2025, 2026, 2027, 2030])
def test_thirteen_statutory_days(year):
    days = statutory_days(year)
    assert len(days) == 13
    assert dt.date(year, 1, 1) in days and dt.date(year, 5, 2) in days and dt.date(year, 10, 3) in days
    assert list(days.values()).count("Spring Festival") == 4


def test_known_dates():
    assert CAL.statutory(dt.date(2026, 2, 16)) == "Spring Festival"  # lunar New Year's Eve 2026
    assert CAL.statutory(dt.date(2025, 10, 6)) == "Mid-Autumn Festival"
    assert CAL.statutory(dt.date(2026, 6, 19)) == "Dragon Boat Festival"
    assert CAL.statutory(dt.date(2026, 10, 5)) is None  # inside the National Day block, not one of the 13
    swapped = HolidayCalendar(CalendarConfig(swapped_days_count_as_holidays=True))
    assert "swapped" in swapped.statutory(dt.date(2026, 10, 7))
    assert swapped.statutory(dt.date(2031, 10, 7)) is None  # no data for that year: fail closed


@pytest.mark.parametrize("venue", ["ktv", "bar", "internet_cafe"])
def test_closed_venues(venue):
    t = at(2026, 11, 23)
    assert decide(venue, t, checked("minor_admitted", t), t + dt.timedelta(hours=1), CAL).status is Status.CONFIRMED
    assert decide(venue, t, checked("minor_refused", t), t, CAL).status is Status.NONE
    assert decide(venue, t, checked("adult_admitted", t, age=30), t, CAL).status is Status.NONE
    assert decide(venue, t, None, t + dt.timedelta(minutes=3), CAL).status is Status.PENDING
    late = decide(venue, t, None, t + dt.timedelta(minutes=30), CAL)
    assert late.status is Status.SUSPECTED and any("no ID check" in r for r in late.reasons)
    assert decide(venue, t, checked("not_checked", t), t, CAL).status is Status.SUSPECTED


def test_arcade_holiday_versus_workday():
    holiday, workday = at(2026, 10, 2), at(2026, 11, 24)
    v = decide("arcade", holiday, checked("minor_admitted", holiday), holiday, CAL)
    assert v.status is Status.NONE and "statutory holiday (National Day)" in v.calendar
    v = decide("arcade", workday, checked("minor_admitted", workday), workday, CAL)
    assert v.status is Status.SUSPECTED and v.calendar == "ordinary working day"
    assert any("game devices" in r for r in v.reasons)
    weekend = at(2026, 11, 28)  # a Saturday is not a statutory holiday for arcades
    assert decide("arcade", weekend, checked("minor_admitted", weekend), weekend, CAL).status is Status.SUSPECTED
    # an unchecked alert on a holiday is no suspicion: minors may use the devices then
    assert decide("arcade", holiday, None, holiday + dt.timedelta(hours=1), CAL).status is Status.NONE


def test_hotel_esports_script():
    t = at(2026, 11, 24)
    assert decide("hotel", t, checked("minor_admitted", t), t, CAL).status is Status.SUSPECTED
    assert decide("esports_hotel", t, checked("minor_admitted", t), t, CAL).status is Status.SUSPECTED
    whole = ViolationConfig(esports_whole_hotel=True)
    assert decide("esports_hotel", t, checked("minor_admitted", t), t, CAL, whole).status is Status.CONFIRMED
    assert decide("script_entertainment", t, checked("minor_admitted", t), t, CAL).status is Status.CONFIRMED
    sat = at(2026, 11, 28)
    assert decide("script_entertainment", sat, checked("minor_admitted", sat), sat, CAL).status is Status.NONE
    summer = HolidayCalendar(
        CalendarConfig(
            school_vacations=[Period(name="summer 2026", start=dt.date(2026, 7, 4), end=dt.date(2026, 8, 31))]
        )
    )
    july = at(2026, 7, 15)  # a Wednesday in the summer vacation
    assert decide("script_entertainment", july, checked("minor_admitted", july), july, summer).status is Status.NONE


def test_reasoning_names_the_calendar_and_the_law_without_identity():
    t = at(2026, 11, 24)
    v = decide("ktv", t, checked("minor_admitted", t, age=13), t, CAL)
    text = " ".join(v.reasons)
    assert "under 14" in text and "age 13" in text and "2026-11-24 20:00" in text
    assert any("未成年人保护法" in s for s in v.sources)
    assert v.departments[0] is Department.CULTURE_TOURISM


def test_the_documented_table_is_the_code():
    from pathlib import Path

    from humiao.hub.rules.statutes import markdown_table

    doc = (Path(__file__).resolve().parents[2] / "hub" / "rules" / "README.md").read_text()
    assert markdown_table() in doc


def test_the_reasoning_is_also_in_chinese():
    t = at(2026, 10, 2)
    v = decide("arcade", t, checked("minor_admitted", t, age=12), t, CAL)
    assert len(v.reasons_zh) == len(v.reasons) and v.calendar_zh == "法定节假日（国庆节）"
    assert "12 岁" in v.reasons_zh[1] and "未满14周岁" in v.reasons_zh[1] and "游戏设备" in v.reasons_zh[2]
    late = decide("ktv", at(2026, 11, 24), None, at(2026, 11, 24) + dt.timedelta(hours=1), CAL)
    assert "接纳未成年人" in late.reasons_zh[-1] and CAL.describe(dt.date(2026, 11, 24), "zh") == "普通工作日"
