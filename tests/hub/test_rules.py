"""The statute table, the holiday calendar and the violation decision (../shared/RULES.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from humiao.hub.messages import render
from humiao.hub.rules.calendar import CalendarConfig, HolidayCalendar, Period, statutory_days
from humiao.hub.rules.statutes import RULES, Department, rule_for
from humiao.hub.rules.violations import Outcome, Status, ViolationConfig, decide
from humiao.proto import vocabulary

CST = dt.timezone(dt.timedelta(hours=8))
CAL = HolidayCalendar()


def EN(messages):  # noqa: N802 - the reasoning as an English reader sees it
    return [render(m, "en") for m in messages]


def ZH(messages):  # noqa: N802 - the reasoning as a Chinese reader sees it
    return [render(m, "zh-CN") for m in messages]


def at(y, m, d, h=20) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=CST)


def checked(result: str, when: dt.datetime, age: int = 16, records: tuple[bool, bool] = (False, False)) -> Outcome:
    return Outcome(result, age, 0 < age < 14, when + dt.timedelta(minutes=1), *records)


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
    assert late.status is Status.SUSPECTED and any("no ID check" in r for r in EN(late.reasons))
    assert decide(venue, t, checked("not_checked", t), t, CAL).status is Status.SUSPECTED


def test_arcade_holiday_versus_workday():
    holiday, workday = at(2026, 10, 2), at(2026, 11, 24)
    v = decide("arcade", holiday, checked("minor_admitted", holiday), holiday, CAL)
    assert v.status is Status.NONE and "statutory holiday (National Day)" in render(v.calendar, "en")
    v = decide("arcade", workday, checked("minor_admitted", workday), workday, CAL)
    assert v.status is Status.SUSPECTED and render(v.calendar, "en") == "ordinary working day"
    assert any("game devices" in r for r in EN(v.reasons))
    weekend = at(2026, 11, 28)  # a Saturday is not a statutory holiday for arcades
    assert decide("arcade", weekend, checked("minor_admitted", weekend), weekend, CAL).status is Status.SUSPECTED
    # an unchecked alert on a holiday is no suspicion: minors may use the devices then
    assert decide("arcade", holiday, None, holiday + dt.timedelta(hours=1), CAL).status is Status.NONE


def test_hotel_esports_script():
    t = at(2026, 11, 24)
    recorded = checked("minor_admitted", t, records=(True, True))
    assert decide("hotel", t, recorded, t, CAL).status is Status.NONE
    assert decide("hotel", t, checked("minor_admitted", t), t, CAL).status is Status.CONFIRMED
    # mixed e-sports hotel: the records are the ordinary rooms' duty; the zone is left to an inspector
    assert decide("esports_hotel", t, recorded, t, CAL).status is Status.SUSPECTED
    assert decide("esports_hotel", t, checked("minor_admitted", t), t, CAL).status is Status.CONFIRMED
    whole = ViolationConfig(esports_whole_hotel=True)
    assert decide("esports_hotel", t, recorded, t, CAL, whole).status is Status.CONFIRMED
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


@pytest.mark.parametrize("venue", sorted(RULES))
@pytest.mark.parametrize(
    ("result", "age", "says_en", "says_zh"),
    [
        ("adult_admitted", 30, "an adult", "成年人"),
        ("minor_refused", 16, "counted as the venue's success", "计为场所成功劝阻"),
        ("no_id_refused", 0, "no ID was shown and the person was refused", "未出示证件"),
        ("left_before_check", 0, "counted in the venue's ID-check figures", "计入场所证件查验统计"),
    ],
)
def test_outcomes_that_admit_nobody_are_no_violation_anywhere(venue, result, age, says_en, says_zh):
    t = at(2026, 11, 24)  # a working day: every venue restricts minors
    for cfg in (ViolationConfig(), ViolationConfig(esports_whole_hotel=True)):
        v = decide(venue, t, checked(result, t, age=age), t + dt.timedelta(hours=1), CAL, cfg)
        assert v.status is Status.NONE
        assert says_en in EN(v.reasons)[-1] and says_zh in ZH(v.reasons)[-1]
        # the outcome in the catalogue's words, never its code
        assert (
            vocabulary.RESULTS[result]["en"] in EN(v.reasons)[1]
            and vocabulary.RESULTS[result]["zh"] in ZH(v.reasons)[1]
        )
        assert result not in " ".join(EN(v.reasons) + ZH(v.reasons))


@pytest.mark.parametrize("venue", ["ktv", "bar", "internet_cafe"])
def test_a_guardian_does_not_make_admitting_a_minor_lawful_where_no_minor_may_enter(venue):
    t = at(2026, 10, 2)  # a statutory holiday changes nothing here
    v = decide(venue, t, checked("minor_admitted_with_guardian", t, records=(True, True)), t, CAL)
    assert v.status is Status.CONFIRMED
    assert "does not make it lawful" in EN(v.reasons)[-1] and "Minors Protection Law art. 58" in EN(v.reasons)[-1]
    assert "有监护人陪同不改变其违法性质" in ZH(v.reasons)[-1]
    assert "Minor admitted with a guardian" in EN(v.reasons)[1] and "未成年人，监护人陪同入场" in ZH(v.reasons)[1]
    whole = ViolationConfig(esports_whole_hotel=True)
    v = decide("esports_hotel", t, checked("minor_admitted_with_guardian", t, records=(True, True)), t, CAL, whole)
    assert v.status is Status.CONFIRMED and "e-sports hotels" in EN(v.reasons)[-1]


def test_with_a_guardian_arcades_and_script_venues_judge_it_as_a_minor_admitted():
    holiday, workday, sat = at(2026, 10, 2), at(2026, 11, 24), at(2026, 11, 28)
    for t, arcade, script in (
        (holiday, Status.NONE, Status.NONE),
        (workday, Status.SUSPECTED, Status.CONFIRMED),
        (sat, Status.SUSPECTED, Status.NONE),
    ):
        for result in ("minor_admitted", "minor_admitted_with_guardian"):
            assert decide("arcade", t, checked(result, t), t, CAL).status is arcade
            assert decide("script_entertainment", t, checked(result, t), t, CAL).status is script
    v = decide("arcade", workday, checked("minor_admitted_with_guardian", workday), workday, CAL)
    assert "a guardian present or not" in EN(v.reasons)[-1] and "有无监护人陪同均同" in ZH(v.reasons)[-1]


@pytest.mark.parametrize("result", ["minor_admitted", "minor_admitted_with_guardian"])
def test_hotels_are_judged_by_the_guardian_record(result):
    """未保法 art. 57: a minor may stay; the hotel must ask and record the guardian's contact and the
    co-occupants' relationship. Staff's outcome says whether it did."""
    t = at(2026, 11, 24)
    done = decide("hotel", t, checked(result, t, records=(True, True)), t, CAL)
    assert (
        done.status is Status.NONE and "no violation" in EN(done.reasons)[-1] and "不构成违法" in ZH(done.reasons)[-1]
    )
    for records, missing_en, missing_zh in (
        ((False, False), "the guardian's contact and the co-occupants' relationship", "监护人联系方式、同住人员关系"),
        ((True, False), "the co-occupants' relationship", "同住人员关系"),
        ((False, True), "the guardian's contact", "监护人联系方式"),
    ):
        v = decide("hotel", t, checked(result, t, records=records), t, CAL)
        assert v.status is Status.CONFIRMED, records
        assert f"did not record {missing_en} —" in EN(v.reasons)[-1] and "art. 57" in EN(v.reasons)[-1]
        assert f"未登记{missing_zh}——" in ZH(v.reasons)[-1] and "第五十七条" in ZH(v.reasons)[-1]
    # the mixed e-sports hotel: ordinary rooms as a hotel; with the records, the zone remains to be checked
    v = decide("esports_hotel", t, checked(result, t, records=(True, False)), t, CAL)
    assert v.status is Status.CONFIRMED and "ordinary rooms" in EN(v.reasons)[-1]
    v = decide("esports_hotel", t, checked(result, t, records=(True, True)), t, CAL)
    assert v.status is Status.SUSPECTED and "e-sports zone" in EN(v.reasons)[-1] and "电竞区域" in ZH(v.reasons)[-1]


def test_not_checked_is_the_agents_word_and_suspected_where_minors_are_restricted():
    t = at(2026, 11, 24)
    v = decide("hotel", t, checked("not_checked", t, age=0), t + dt.timedelta(minutes=20), CAL)
    assert v.status is Status.SUSPECTED
    assert "Not checked within the window" in EN(v.reasons)[-1] and "时限内未查验" in ZH(v.reasons)[-1]
    assert "staff" not in EN(v.reasons)[-1]  # the agent records it, not a member of staff
    holiday = at(2026, 10, 2)
    assert decide("arcade", holiday, checked("not_checked", holiday, 0), holiday, CAL).status is Status.NONE


def test_reasoning_names_the_calendar_and_the_law_without_identity():
    t = at(2026, 11, 24)
    v = decide("ktv", t, checked("minor_admitted", t, age=13), t, CAL)
    text = " ".join(EN(v.reasons))
    assert "under 14" in text and "age 13" in text and "2026-11-24 20:00" in text
    assert any("未成年人保护法" in s for s in v.sources)
    assert v.departments[0] is Department.CULTURE_TOURISM


def test_the_documented_table_is_the_code():
    from pathlib import Path

    from humiao.hub.rules.statutes import markdown_table
    from humiao.hub.rules.violations import verdict_table

    doc = (Path(__file__).resolve().parents[2] / "hub" / "rules" / "README.md").read_text()
    assert markdown_table() in doc
    table = verdict_table()
    assert table in doc  # the verdicts as decide() gives them, not as someone wrote them down
    lines = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
    header, rows = lines[0], {r[0]: dict(zip(lines[0], r, strict=True)) for r in lines[2:]}
    assert header[1:] == [
        "KTV / dance venue",
        "bar",
        "internet café",
        "arcade",
        "hotel",
        "e-sports hotel (mixed)",
        "all-e-sports hotel",
        "script entertainment",
    ]
    guardian = "Minor admitted with a guardian"
    assert rows[f"{guardian}, a record missing"]["hotel"] == "confirmed"
    assert rows[f"{guardian}, guardian contact and co-occupants recorded"]["hotel"] == "none"
    assert rows[f"{guardian}, guardian contact and co-occupants recorded"]["bar"] == "confirmed"
    assert {rows["Left before the check"][c] for c in header[1:]} == {"none"}


def test_the_reasoning_is_also_in_chinese():
    t = at(2026, 10, 2)
    v = decide("arcade", t, checked("minor_admitted", t, age=12), t, CAL)
    assert len(ZH(v.reasons)) == len(v.reasons) and render(v.calendar, "zh-CN") == "法定节假日（国庆节）"
    assert "12 岁" in ZH(v.reasons)[1] and "未满14周岁" in ZH(v.reasons)[1] and "游戏设备" in ZH(v.reasons)[2]
    late = decide("ktv", at(2026, 11, 24), None, at(2026, 11, 24) + dt.timedelta(hours=1), CAL)
    assert "接纳未成年人" in ZH(late.reasons)[-1] and CAL.describe(dt.date(2026, 11, 24), "zh") == "普通工作日"
