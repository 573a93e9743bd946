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
from humiao.hub.messages import Message, msg
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
    reasons: list[Message] = field(default_factory=list)  # the reasoning, as messages (hub/messages.py)
    calendar: Message = field(default_factory=dict)  # what the calendar says of the day, as a message


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
        calendar=calendar.day_message(day),
    )
    cal = verdict.calendar
    forbidden = msg(f"forbidden.{rule.venue_type}")

    def say(code: str, **params: object) -> None:
        verdict.reasons.append(msg(code, **params))

    say("rules.alert", at=f"{local:%Y-%m-%d %H:%M}", tz=cfg.timezone, venue=msg(f"venue.{rule.venue_type}"))

    if outcome is None or outcome.result == "not_checked":
        waited = max(0.0, (now - alerted_at).total_seconds() / 60)
        window = f"{cfg.id_check_window_min:g}"
        if outcome is None and waited < cfg.id_check_window_min:
            verdict.status = Status.PENDING
            say("rules.pending", waited=f"{waited:.0f}", window=window)
        elif not _minor_restricted_now(rule, day, calendar, cfg):
            say("rules.unchecked_open_today", calendar=cal)
        else:
            verdict.status = Status.SUSPECTED
            if outcome:
                say("rules.unchecked_device", outcome=msg("result.not_checked"), forbidden=forbidden)
            else:
                say("rules.unchecked_window", window=window, forbidden=forbidden)
        return verdict

    known = outcome.result in RESULTS
    words = msg(f"result.{outcome.result}") if known else outcome.result
    minor = outcome.result in MINOR_RESULTS
    at = f"{outcome.checked_at.astimezone(tz):%H:%M}"
    if minor and outcome.under_14:
        say("rules.checked_minor_under14", at=at, outcome=words, age=outcome.age_years)
    elif minor:
        say("rules.checked_minor", at=at, outcome=words, age=outcome.age_years)
    else:
        say("rules.checked", at=at, outcome=words)
    if outcome.result == "adult_admitted":
        say("rules.adult")
        return verdict
    if outcome.result in ("minor_refused", "no_id_refused", "left_before_check"):
        say(f"rules.{outcome.result}")
        return verdict
    if outcome.result not in ADMITTED:
        verdict.status = Status.SUSPECTED  # an outcome the rules do not know: an inspector looks
        say("rules.unknown_outcome", outcome=outcome.result)
        return verdict

    # a minor was admitted, with a guardian or without
    guardian = outcome.result == "minor_admitted_with_guardian"
    whole_esports = rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE and cfg.esports_whole_hotel
    if rule.minors is MinorRule.NEVER or whole_esports:
        verdict.status = Status.CONFIRMED
        say("rules.minor_admitted_forbidden", forbidden=forbidden)
        if guardian:
            say("rules.guardian_no_excuse_esports" if whole_esports else "rules.guardian_no_excuse")
    elif rule.minors in (MinorRule.RECORD_GUARDIAN, MinorRule.NOT_IN_ESPORTS_ZONE):
        _hotel(verdict, rule, outcome, guardian, say)
    elif rule.minors is MinorRule.DEVICES_HOLIDAYS_ONLY:
        if calendar.statutory(day):
            say("rules.arcade_devices_ok", calendar=cal)
        else:
            verdict.status = Status.SUSPECTED
            say(
                "rules.arcade_devices_not_today_guardian" if guardian else "rules.arcade_devices_not_today",
                calendar=cal,
            )
    elif rule.minors is MinorRule.HOLIDAYS_WEEKENDS_VACATIONS:
        if _open_to_minors(day, calendar):
            say("rules.open_today", calendar=cal)
        else:
            verdict.status = Status.CONFIRMED
            say("rules.closed_today_guardian" if guardian else "rules.closed_today", calendar=cal, forbidden=forbidden)
    return verdict


def _hotel(verdict: Verdict, rule: VenueRule, outcome: Outcome, guardian: bool, say: Callable[..., None]) -> None:
    """A minor admitted to a hotel, or to a mixed e-sports hotel (whose ordinary rooms are a hotel's):
    the law lets the minor stay, and asks the hotel to ask and record the guardian's contact and the
    co-occupants' relationship (未保法 art. 57, penalty art. 122; the police's "five musts"). Staff's
    own outcome says whether it did: both records → the hotel did what the law asks; a record missing →
    confirmed. In a mixed e-sports hotel the minor may not use the e-sports zone, which an entrance
    camera cannot see: with the records made, that remains to be checked (suspected)."""
    missing = [
        msg(key)
        for key, done in (
            ("rules.part.guardian_contact", outcome.guardian_contact_recorded),
            ("rules.part.co_occupants", outcome.co_occupants_recorded),
        )
        if not done
    ]
    esports = rule.minors is MinorRule.NOT_IN_ESPORTS_ZONE
    if missing:
        verdict.status = Status.CONFIRMED
        say(
            "rules.hotel_missing",
            esports=msg("rules.part.esports_ordinary_rooms" if esports else "text.empty"),
            guardian=msg("rules.part.with_guardian" if guardian else "text.empty"),
            missing=missing[0] if len(missing) == 1 else msg("rules.part.both_records"),
            forbidden=msg(f"forbidden.{rule.venue_type}"),
        )
        return
    if esports:
        verdict.status = Status.SUSPECTED
        say("rules.hotel_esports_zone")
        return
    say("rules.hotel_recorded")


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
