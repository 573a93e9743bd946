"""From an alert and what followed it to a verdict, with the reasoning the inspector is shown.

    alert (CHECK ID at venue V, time t) + ID-check outcome (or none within the window) + calendar
      ─► none | pending | suspected | confirmed, the rule, the enforcing departments, the reasons

- An alert is a prompt, not a finding (PIPL art. 24): only what staff found at the ID check, or the
  absence of a check, turns it into a suspicion or a violation. The latest check of an alert counts.
- An adult, a minor refused (the venue's success), no ID shown and refused, or a person who left
  before the check: no violation (the last two are counted in the venue's ID-check figures,
  hub/idchecks.py). The reasons use the outcome's words (proto/vocabulary.py).
- Minor admitted where the law forbids it: confirmed. A guardian does not make it lawful where the
  law admits no minor at all (KTV, bar, internet café, all-e-sports hotel: 未保法 art. 58 has no
  exception); in arcades and script entertainment a minor with a guardian counts as a minor admitted.
- No check recorded within ``id_check_window_min`` (◦, default 10 min), or the agent's "not checked":
  suspected ("a person who looked under the challenge age was not checked"); before that: pending.
- Arcades admit minors; the law forbids offering game devices except on statutory holidays, which an
  entrance camera cannot see: a minor admitted on a non-holiday is suspected, on a holiday nothing.
- Hotels accommodate minors, and must ask and record the guardian's contact and the co-occupants'
  relationship (art. 57, penalty art. 122): a minor admitted, with a guardian or without, with both
  records is no violation, with either missing confirmed (staff's own record says so). Mixed
  e-sports hotels: the same for their ordinary rooms; with both records the e-sports zone remains to
  be checked (suspected).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field

from humiao.config import Section
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.rules.statutes import Department, MinorRule, VenueRule, rule_for
from humiao.proto.vocabulary import RESULTS


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
    """What staff found (the hub's id_checks row; the latest of an alert's checks)."""

    result: str  # a proto/vocabulary.py RESULTS key: adult_admitted, minor_refused, … not_checked
    age_years: int
    under_14: bool
    checked_at: dt.datetime
    guardian_contact_recorded: bool = False  # hotels (art. 57): the guardian's contact asked and recorded
    co_occupants_recorded: bool = False  # hotels (art. 57): the co-occupants' relationship asked and recorded


MINOR_RESULTS = frozenset({"minor_refused", "minor_admitted_with_guardian", "minor_admitted"})
ADMITTED = frozenset({"minor_admitted_with_guardian", "minor_admitted"})
NOT_CHECKED = RESULTS["not_checked"]


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
                + (f" (the venue's device recorded '{NOT_CHECKED['en']}')" if outcome else f" within {window} min")
                + f": a person who looked under the challenge age may have been admitted — {rule.forbidden}",
                (f"前端记录为“{NOT_CHECKED['zh']}”" if outcome else f"{window} 分钟内无查验记录")
                + f"：疑似接纳了看起来低于核验年龄的人员——{rule.forbidden_zh}",
            )
        return verdict

    words = RESULTS.get(outcome.result, {"en": outcome.result.replace("_", " "), "zh": outcome.result})
    minor = outcome.result in MINOR_RESULTS
    at = outcome.checked_at.astimezone(tz)
    say(
        f"ID check at {at:%H:%M}: {words['en']}"
        + (f", age {outcome.age_years}" if minor else "")
        + (" (under 14: sensitive data)" if outcome.under_14 else ""),
        f"{at:%H:%M} 查验：{words['zh']}"
        + (f"，{outcome.age_years} 岁" if minor else "")
        + ("（未满14周岁：敏感个人信息）" if outcome.under_14 else ""),
    )
    if outcome.result == "adult_admitted":
        say("an adult: no rule applies", "成年人：不涉及违法")
        return verdict
    if outcome.result == "minor_refused":
        say(
            "the venue refused the minor, as the law asks: no violation (counted as the venue's success)",
            "场所已劝离未成年人，依法处置：不构成违法（计为场所成功劝阻）",
        )
        return verdict
    if outcome.result == "no_id_refused":
        say("no ID was shown and the person was refused: no violation", "未出示证件，已拒绝其进入：不构成违法")
        return verdict
    if outcome.result == "left_before_check":
        say(
            "the person left before staff could check: no violation (counted in the venue's ID-check figures)",
            "此人在查验前已离开：不构成违法（计入场所证件查验统计）",
        )
        return verdict
    if outcome.result not in ADMITTED:
        verdict.status = Status.SUSPECTED  # an outcome the rules do not know: an inspector looks
        say(f"an outcome the rules do not know ({outcome.result}): to be checked", "规则未知的查验结果：待核查")
        return verdict

    # a minor was admitted, with a guardian or without
    guardian = outcome.result == "minor_admitted_with_guardian"
    whole_esports = rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE and cfg.esports_whole_hotel
    if rule.minors is MinorRule.NEVER or whole_esports:
        verdict.status = Status.CONFIRMED
        say(
            f"a minor was admitted where the law forbids it: {rule.forbidden}",
            f"法律禁止的情形下接纳了未成年人：{rule.forbidden_zh}",
        )
        if guardian:
            say(
                "a guardian's presence does not make it lawful: the law admits no minor here at all, "
                "accompanied or not (未保法 art. 58"
                + (", 文旅部 + 公安部 notice on e-sports hotels)" if whole_esports else ")"),
                "有监护人陪同不改变其违法性质：法律规定此类场所不得允许未成年人进入，无论是否有监护人陪同（未保法第五十八条"
                + ("，文旅部、公安部关于电竞酒店的通知）" if whole_esports else "）"),
            )
    elif rule.minors in (MinorRule.RECORD_GUARDIAN, MinorRule.NOT_IN_ESPORTS_ZONE):
        _hotel(verdict, rule, outcome, guardian, say)
    elif rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        if calendar.statutory(day):
            say(f"{cal_en}: game devices may be offered to minors today", f"{cal_zh}：今日可向未成年人提供游戏设备")
        else:
            verdict.status = Status.SUSPECTED
            say(
                f"{cal_en}: minors may enter an arcade, but game devices may not be offered to them "
                "today"
                + (", a guardian present or not" if guardian else "")
                + "; whether they were needs checking on site",
                f"{cal_zh}：未成年人可进入游艺场所，但今日不得向其提供游戏设备"
                + ("（有无监护人陪同均同）" if guardian else "")
                + "；是否提供需现场核查",
            )
    elif rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        if _open_to_minors(day, calendar):
            say(f"{cal_en}: minors may be admitted today", f"{cal_zh}：今日可接待未成年人")
        else:
            verdict.status = Status.CONFIRMED
            say(
                f"{cal_en}: {rule.forbidden}" + (" (a guardian present does not change that)" if guardian else ""),
                f"{cal_zh}：{rule.forbidden_zh}" + ("（有监护人陪同亦然）" if guardian else ""),
            )
    return verdict


def _hotel(
    verdict: Verdict, rule: VenueRule, outcome: Outcome, guardian: bool, say: Callable[[str, str], None]
) -> None:
    """A minor admitted to a hotel, or to a mixed e-sports hotel (whose ordinary rooms are a hotel's):
    the law lets the minor stay, and asks the hotel to ask and record the guardian's contact and the
    co-occupants' relationship (未保法 art. 57, penalty art. 122; the police's "five musts"). Staff's
    own outcome says whether it did: both records → the hotel did what the law asks; a record missing →
    confirmed. In a mixed e-sports hotel the minor may not use the e-sports zone, which an entrance
    camera cannot see: with the records made, that remains to be checked (suspected)."""
    missing_en = [
        w
        for w, done in (
            ("the guardian's contact", outcome.guardian_contact_recorded),
            ("the co-occupants' relationship", outcome.co_occupants_recorded),
        )
        if not done
    ]
    missing_zh = [
        w
        for w, done in (
            ("监护人联系方式", outcome.guardian_contact_recorded),
            ("同住人员关系", outcome.co_occupants_recorded),
        )
        if not done
    ]
    esports = rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE
    if missing_en:
        verdict.status = Status.CONFIRMED
        say(
            ("mixed e-sports hotel, ordinary rooms: " if esports else "")
            + "a minor may stay"
            + (" (here with a guardian)" if guardian else "")
            + ", but the hotel must ask and record the guardian's contact and the co-occupants' relationship "
            "(未保法 art. 57, penalty art. 122); staff recorded that it did not record "
            + " and ".join(missing_en)
            + f" — {rule.forbidden}",
            ("混合型电竞酒店普通客房：" if esports else "")
            + "未成年人可以入住"
            + ("（本次有监护人陪同）" if guardian else "")
            + "，但旅馆须询问并登记其监护人联系方式及同住人员关系（未保法第五十七条，罚则第一百二十二条）；"
            "工作人员记录显示未登记" + "、".join(missing_zh) + f"——{rule.forbidden_zh}",
        )
        return
    if esports:
        verdict.status = Status.SUSPECTED
        say(
            "mixed e-sports hotel: the guardian's contact and the co-occupants' relationship were recorded, "
            "as the law asks for ordinary rooms; minors may not use the e-sports zone, and whether this one "
            "did needs checking on site",
            "混合型电竞酒店：已登记监护人联系方式及同住人员关系（普通客房依法应登记）；未成年人不得进入电竞区域，"
            "是否进入需现场核查",
        )
        return
    say(
        "a minor may stay; the hotel asked and recorded the guardian's contact and the co-occupants' "
        "relationship, as the law asks (未保法 art. 57): no violation",
        "未成年人可以入住；旅馆已依法询问并登记其监护人联系方式及同住人员关系（未保法第五十七条）：不构成违法",
    )


def _open_to_minors(day: dt.date, calendar: HolidayCalendar) -> bool:
    return bool(calendar.statutory(day) or day.weekday() >= 5 or calendar.school_vacation(day))


def _minor_restricted_now(rule: VenueRule, day: dt.date, calendar: HolidayCalendar, cfg: ViolationConfig) -> bool:
    if rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        return not calendar.statutory(day)
    if rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        return not _open_to_minors(day, calendar)
    return True


# -- the verdict table of hub/rules/README.md, computed by ``decide`` itself ---------------------------
_WORKDAY = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Tuesday
_HOLIDAY = dt.datetime(2026, 10, 2, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # National Day
_OPEN_DAY = {
    MinorRule.DEVICES_HOLIDAYS_ONLY: "statutory holiday",
    MinorRule.HOLIDAYS_WEEKENDS_VACATIONS: "holiday, weekend, vacation",
}


def _scenarios() -> list[tuple[str, Callable[[dt.datetime], tuple[Outcome | None, dt.datetime]]]]:
    """(what followed the alert, alert time → (outcome, now))."""
    minute = dt.timedelta(minutes=1)

    def staff(result: str, age: int, records: bool = False):
        return lambda t: (Outcome(result, age, False, t + minute, records, records), t + 2 * minute)

    en = {k: w["en"] for k, w in RESULTS.items()}
    return [
        (en["adult_admitted"], staff("adult_admitted", 30)),
        (en["minor_refused"] + " (the venue's success)", staff("minor_refused", 16)),
        (en["no_id_refused"], staff("no_id_refused", 0)),
        (en["left_before_check"], staff("left_before_check", 0)),
        (en["minor_admitted"] + ", guardian contact and co-occupants recorded", staff("minor_admitted", 16, True)),
        (en["minor_admitted"] + ", a record missing", staff("minor_admitted", 16)),
        (
            en["minor_admitted_with_guardian"] + ", guardian contact and co-occupants recorded",
            staff("minor_admitted_with_guardian", 16, True),
        ),
        (en["minor_admitted_with_guardian"] + ", a record missing", staff("minor_admitted_with_guardian", 16)),
        ("no check yet (within `id_check_window_min`, ◦ 10 min)", lambda t: (None, t + 3 * minute)),
        (
            f"no check after the window, or the agent's '{NOT_CHECKED['en']}'",
            lambda t: (Outcome("not_checked", 0, False, t + 10 * minute), t + 30 * minute),
        ),
    ]


def verdict_table(calendar: HolidayCalendar | None = None) -> str:
    """What ``decide`` answers for each outcome and venue type (a mixed e-sports hotel and an
    all-e-sports one apart), on a working day and, where the calendar matters, on an open day — the
    table of hub/rules/README.md (tests/hub/test_rules.py keeps the two the same)."""
    from humiao.hub.rules.statutes import RULES

    calendar = calendar or HolidayCalendar()
    columns: list[tuple[str, str, ViolationConfig]] = [
        (r.venue_type, r.name_en, ViolationConfig()) for r in RULES.values() if r.venue_type != "esports_hotel"
    ]
    columns.insert(5, ("esports_hotel", "e-sports hotel (mixed)", ViolationConfig()))
    columns.insert(6, ("esports_hotel", "all-e-sports hotel", ViolationConfig(esports_whole_hotel=True)))
    rows = [
        "| what followed the alert | " + " | ".join(name for _, name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, make in _scenarios():
        cells = []
        for venue_type, _, cfg in columns:
            work, free = (decide(venue_type, t, *make(t), calendar, cfg).status.value for t in (_WORKDAY, _HOLIDAY))
            open_day = _OPEN_DAY.get(rule_for(venue_type).minors, "holiday")
            cells.append(work if work == free else f"{open_day}: {free}; other days: {work}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
