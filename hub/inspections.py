"""Key periods and inspection lists: which venues of a district to visit first, and why.

Key periods (RULES.md, ~): summer and winter school vacations, statutory holidays, school start,
exams — the vacations and extra periods are settings (``KeyPeriodConfig``), the statutory holidays
come from the calendar. The list ranks a district's venues by their recent record: confirmed and
suspected alarms in the look-back window, an escalation the record already suggests, a school
within 200 m, the dishonest-venue list, a missing 未成年人禁入/限入 sign.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from humiao.config import Section
from humiao.hub import cases
from humiao.hub.messages import Message, msg, render
from humiao.hub.rules.calendar import HolidayCalendar, Period, holiday_message
from humiao.hub.tables import Alarm, Venue


class KeyPeriodConfig(Section):
    periods: list[Period] = Field(default_factory=list, description="◦ extra key periods: school start, exams …")
    lookback_days: int = Field(90, ge=7, le=730)


def key_period_messages(day: dt.date, calendar: HolidayCalendar, cfg: KeyPeriodConfig) -> list[Message | str]:
    """The key periods ``day`` falls in, as messages (configured names as written)."""
    out: list[Message | str] = []
    if name := calendar.statutory(day):
        out.append(msg("keyperiod.statutory", name=holiday_message(name)))
    if name := calendar.school_vacation(day):
        out.append(msg("keyperiod.vacation", name=name))
    out += [p.name for p in cfg.periods if p.start <= day <= p.end]
    return out


def key_periods(day: dt.date, calendar: HolidayCalendar, cfg: KeyPeriodConfig, lang: str = "en") -> list[str]:
    """The key periods ``day`` falls in, in words (``lang``: a catalogue's language; ``zh`` is zh-CN)."""
    lang = "zh-CN" if lang == "zh" else lang
    return [render(m, lang) for m in key_period_messages(day, calendar, cfg)]


def inspection_list(
    session: Session, district: str, now: dt.datetime, cfg: KeyPeriodConfig | None = None
) -> list[dict]:
    cfg = cfg or KeyPeriodConfig()
    since = now - dt.timedelta(days=cfg.lookback_days)
    counts = {
        (v, verdict): n
        for v, verdict, n in session.execute(
            select(Alarm.venue_id, Alarm.verdict, func.count())
            .where(Alarm.district_id == district, Alarm.raised_at >= since)
            .group_by(Alarm.venue_id, Alarm.verdict)
        ).all()
    }
    out = []
    for venue in session.scalars(select(Venue).where(Venue.district_id == district).order_by(Venue.id)):
        confirmed, suspected = counts.get((venue.id, "confirmed"), 0), counts.get((venue.id, "suspected"), 0)
        score, why = 3 * confirmed + 2 * suspected, []
        if confirmed or suspected:
            why.append(msg("insp.record", confirmed=confirmed, suspected=suspected, days=cfg.lookback_days))
        esc = cases.escalation(session, venue.id, now)
        if esc["advice"] != "per_facts":
            score += 3
            why.append(msg("insp.escalation", suggestion=esc["suggestion"]))
        m = venue.nearest_school_m
        for flag, points, said in (
            (venue.near_school, 2, msg("insp.near_school", metres=m)),
            (venue.dishonest_list, 2, msg("insp.dishonest")),
            (not venue.sign_posted, 1, msg("insp.no_sign")),
        ):
            if flag:
                score += points
                why.append(said)
        out.append(
            {
                "venue_id": venue.id,
                "name": venue.name,
                "venue_type": venue.venue_type,
                "address": venue.address,
                "score": score,
                "reasons": why,  # messages (hub/messages.py)
            }
        )
    return sorted(out, key=lambda r: (-r["score"], r["venue_id"]))
