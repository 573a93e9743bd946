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

from pydantic import BaseModel, ConfigDict, Field

from hub.rules.calendar import HolidayCalendar
from hub.rules.statutes import Department, MinorRule, VenueRule, rule_for


class Status(StrEnum):
    NONE = "none"
    PENDING = "pending"
    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"


class ViolationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


def decide(venue_type: str, alerted_at: dt.datetime, outcome: Outcome | None, now: dt.datetime,
           calendar: HolidayCalendar, cfg: ViolationConfig | None = None) -> Verdict:
    cfg = cfg or ViolationConfig()
    rule = rule_for(venue_type)
    local = alerted_at.astimezone(ZoneInfo(cfg.timezone))
    day = local.date()
    verdict = Verdict(Status.NONE, venue_type, rule.forbidden, list(rule.enforcers),
                      [f"{s.citation} {s.certainty}" for s in rule.sources], calendar=calendar.describe(day))
    say = verdict.reasons.append
    say(f"alert at {local:%Y-%m-%d %H:%M} ({cfg.timezone}), {rule.name_en} ({rule.name_zh}): "
        f"the person looked under the venue's challenge age; staff were asked to check ID")

    if outcome is None or outcome.result == "not_checked":
        waited = max(0.0, (now - alerted_at).total_seconds() / 60)
        if outcome is None and waited < cfg.id_check_window_min:
            verdict.status = Status.PENDING
            say(f"no ID check recorded yet ({waited:.0f} of {cfg.id_check_window_min:g} min)")
        elif not _minor_restricted_now(rule, day, calendar, cfg):
            say(f"no ID check recorded; minors are not restricted here today ({verdict.calendar})")
        else:
            verdict.status = Status.SUSPECTED
            say("no ID check recorded" + (" (staff marked 'not checked')" if outcome else
                                          f" within {cfg.id_check_window_min:g} min") +
                f": a person who looked under the challenge age may have been admitted — {rule.forbidden}")
        return verdict

    minor = outcome.result in ("minor_refused", "minor_admitted")
    say(f"ID check at {outcome.checked_at.astimezone(ZoneInfo(cfg.timezone)):%H:%M}: {outcome.result.replace('_', ' ')}"
        + (f", age {outcome.age_years}" if minor else "") + (" (under 14: sensitive data)" if outcome.under_14 else ""))
    if outcome.result in ("adult_admitted", "minor_refused", "no_id_refused"):
        say("the venue did what the law asks" if outcome.result != "adult_admitted" else "an adult: no rule applies")
        return verdict

    # a minor was admitted
    if rule.minors is MinorRule.NEVER or (rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE and cfg.esports_whole_hotel):
        verdict.status = Status.CONFIRMED
        say(f"a minor was admitted where the law forbids it: {rule.forbidden}")
    elif rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE:
        verdict.status = Status.SUSPECTED
        say("mixed e-sports hotel: minors may use ordinary rooms; whether the minor went to the e-sports zone "
            "needs checking")
    elif rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        if calendar.statutory(day):
            say(f"{verdict.calendar}: game devices may be offered to minors today")
        else:
            verdict.status = Status.SUSPECTED
            say(f"{verdict.calendar}: minors may enter an arcade, but game devices may not be offered to them "
                "today; whether they were needs checking on site")
    elif rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        if _open_to_minors(day, calendar):
            say(f"{verdict.calendar}: minors may be admitted today")
        else:
            verdict.status = Status.CONFIRMED
            say(f"{verdict.calendar}: {rule.forbidden}")
    elif rule.minors is MinorRule.RECORD_GUARDIAN:
        verdict.status = Status.SUSPECTED
        say("a minor may stay, but the hotel must ask and record guardian contact and the co-occupants' "
            "relationship (art. 57); the record is to be checked")
    return verdict


def _open_to_minors(day: dt.date, calendar: HolidayCalendar) -> bool:
    return bool(calendar.statutory(day) or day.weekday() >= 5 or calendar.school_vacation(day))


def _minor_restricted_now(rule: VenueRule, day: dt.date, calendar: HolidayCalendar, cfg: ViolationConfig) -> bool:
    if rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        return not calendar.statutory(day)
    if rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        return not _open_to_minors(day, calendar)
    return True
