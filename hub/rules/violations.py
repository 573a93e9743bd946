"""From an alert and what followed it to a verdict, with the reasoning the inspector is shown.

    alert (CHECK ID at venue V, time t) + ID-check outcome (or none within the window) + calendar
      ─► none | pending | suspected | confirmed, the rule, the enforcing departments, the reasons

- An alert is a prompt, not a finding (PIPL art. 24): only what staff found at the ID check, or the
  absence of a check, turns it into a suspicion or a violation.
- Minor refused, or an adult: no violation. Minor admitted where the law forbids it: confirmed.
- No check recorded within ``id_check_window_min`` (◦, default 10 min): suspected ("a person who
  looked under the challenge age was not checked"); before that: pending.
- Arcades admit minors; the law forbids offering game devices except on statutory holidays, which an
  entrance camera cannot see: a minor admitted on a non-holiday is suspected, on a holiday nothing.
- Hotels accommodate minors; the guardian record is what the law asks: a minor admitted is suspected
  until the record is shown (the ID-check issue adds the record to the outcome).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field

from humiao.config import Section
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.rules.statutes import Department, MinorRule, VenueRule, rule_for


class Status(StrEnum):
    NONE = "none"
    PENDING = "pending"
    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"


class ViolationConfig(Section):
    id_check_window_min: float = Field(10.0, gt=0, description="◦ an alert with no ID check after this is suspected")
    timezone: str = Field("Asia/Shanghai", description="local time for the calendar")
    esports_whole_hotel: bool = Field(False, description="e-sports hotel with e-sports rooms only (no minors at all)")


@dataclass(frozen=True)
class Outcome:
    """What staff found (the hub's id_checks row)."""

    result: str  # adult_admitted, minor_refused, minor_admitted, no_id_refused, not_checked
    age_years: int
    under_14: bool
    checked_at: dt.datetime


@dataclass
class Verdict:
    status: Status
    venue_type: str
    rule: str
    departments: list[Department]
    sources: list[str]
    reasons: list[str] = field(default_factory=list)
    calendar: str = ""
    reasons_zh: list[str] = field(default_factory=list)  # the same reasoning in Chinese, for the panel
    calendar_zh: str = ""


def decide(
    venue_type: str,
    alerted_at: dt.datetime,
    outcome: Outcome | None,
    now: dt.datetime,
    calendar: HolidayCalendar,
    cfg: ViolationConfig | None = None,
) -> Verdict:
    cfg = cfg or ViolationConfig()
    rule = rule_for(venue_type)
    tz = ZoneInfo(cfg.timezone)
    local = alerted_at.astimezone(tz)
    day = local.date()
    verdict = Verdict(
        Status.NONE,
        venue_type,
        rule.forbidden,
        list(rule.enforcers),
        [f"{s.citation} {s.certainty}" for s in rule.sources],
        calendar=calendar.describe(day),
        calendar_zh=calendar.describe(day, "zh"),
    )
    cal_en, cal_zh = verdict.calendar, verdict.calendar_zh

    def say(en: str, zh: str) -> None:
        verdict.reasons.append(en)
        verdict.reasons_zh.append(zh)

    say(
        f"alert at {local:%Y-%m-%d %H:%M} ({cfg.timezone}), {rule.name_en} ({rule.name_zh}): "
        "the person looked under the venue's challenge age; staff were asked to check ID",
        f"{local:%Y-%m-%d %H:%M}（{cfg.timezone}）{rule.name_zh}预警："
        "此人看起来低于场所的核验年龄，已提示工作人员查验身份证件",
    )

    if outcome is None or outcome.result == "not_checked":
        waited = max(0.0, (now - alerted_at).total_seconds() / 60)
        window = f"{cfg.id_check_window_min:g}"
        if outcome is None and waited < cfg.id_check_window_min:
            verdict.status = Status.PENDING
            say(
                f"no ID check recorded yet ({waited:.0f} of {window} min)",
                f"尚无查验记录（已过 {waited:.0f} 分钟，时限 {window} 分钟）",
            )
        elif not _minor_restricted_now(rule, day, calendar, cfg):
            say(
                f"no ID check recorded; minors are not restricted here today ({cal_en})",
                f"无查验记录；今日该场所不限制未成年人（{cal_zh}）",
            )
        else:
            verdict.status = Status.SUSPECTED
            say(
                "no ID check recorded"
                + (" (staff marked 'not checked')" if outcome else f" within {window} min")
                + f": a person who looked under the challenge age may have been admitted — {rule.forbidden}",
                ("工作人员标记为未查验" if outcome else f"{window} 分钟内无查验记录")
                + f"：疑似接纳了看起来低于核验年龄的人员——{rule.forbidden_zh}",
            )
        return verdict

    minor = outcome.result in ("minor_refused", "minor_admitted")
    result_zh = {
        "adult_admitted": "成年人，已放行",
        "minor_refused": "未成年人，已劝离",
        "minor_admitted": "未成年人，已放行",
        "no_id_refused": "未出示证件，已劝离",
    }.get(outcome.result, outcome.result)
    at = outcome.checked_at.astimezone(tz)
    say(
        f"ID check at {at:%H:%M}: {outcome.result.replace('_', ' ')}"
        + (f", age {outcome.age_years}" if minor else "")
        + (" (under 14: sensitive data)" if outcome.under_14 else ""),
        f"{at:%H:%M} 查验：{result_zh}"
        + (f"，{outcome.age_years} 岁" if minor else "")
        + ("（未满14周岁：敏感个人信息）" if outcome.under_14 else ""),
    )
    if outcome.result in ("adult_admitted", "minor_refused", "no_id_refused"):
        if outcome.result == "adult_admitted":
            say("an adult: no rule applies", "成年人：不涉及违法")
        else:
            say("the venue did what the law asks", "场所已依法处置")
        return verdict

    # a minor was admitted
    if rule.minors is MinorRule.NEVER or (rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE and cfg.esports_whole_hotel):
        verdict.status = Status.CONFIRMED
        say(
            f"a minor was admitted where the law forbids it: {rule.forbidden}",
            f"法律禁止的情形下接纳了未成年人：{rule.forbidden_zh}",
        )
    elif rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE:
        verdict.status = Status.SUSPECTED
        say(
            "mixed e-sports hotel: minors may use ordinary rooms; whether the minor went to the e-sports zone "
            "needs checking",
            "混合型电竞酒店：未成年人可入住普通客房；是否进入电竞区域需现场核查",
        )
    elif rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        if calendar.statutory(day):
            say(f"{cal_en}: game devices may be offered to minors today", f"{cal_zh}：今日可向未成年人提供游戏设备")
        else:
            verdict.status = Status.SUSPECTED
            say(
                f"{cal_en}: minors may enter an arcade, but game devices may not be offered to them "
                "today; whether they were needs checking on site",
                f"{cal_zh}：未成年人可进入游艺场所，但今日不得向其提供游戏设备；是否提供需现场核查",
            )
    elif rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        if _open_to_minors(day, calendar):
            say(f"{cal_en}: minors may be admitted today", f"{cal_zh}：今日可接待未成年人")
        else:
            verdict.status = Status.CONFIRMED
            say(f"{cal_en}: {rule.forbidden}", f"{cal_zh}：{rule.forbidden_zh}")
    elif rule.minors is MinorRule.RECORD_GUARDIAN:
        verdict.status = Status.SUSPECTED
        say(
            "a minor may stay, but the hotel must ask and record guardian contact and the co-occupants' "
            "relationship (art. 57); the record is to be checked",
            "未成年人可以入住，但旅馆须询问并登记其监护人联系方式及同住人员关系（第五十七条）；登记情况待核查",
        )
    return verdict


def _open_to_minors(day: dt.date, calendar: HolidayCalendar) -> bool:
    return bool(calendar.statutory(day) or day.weekday() >= 5 or calendar.school_vacation(day))


def _minor_restricted_now(rule: VenueRule, day: dt.date, calendar: HolidayCalendar, cfg: ViolationConfig) -> bool:
    if rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        return not calendar.statutory(day)
    if rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        return not _open_to_minors(day, calendar)
    return True
