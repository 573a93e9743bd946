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
from humiao.hub.rules.calendar import HolidayCalendar, Period, holiday_zh
from humiao.hub.tables import Alarm, Venue


class KeyPeriodConfig(Section):
    periods: list[Period] = Field(default_factory=list, description="◦ extra key periods: school start, exams …")
    lookback_days: int = Field(90, ge=7, le=730)


def key_periods(day: dt.date, calendar: HolidayCalendar, cfg: KeyPeriodConfig, lang: str = "en") -> list[str]:
    """The key periods ``day`` falls in (``lang``: en or zh; configured names are shown as written)."""
    zh, out = lang == "zh", []
    if name := calendar.statutory(day):
        out.append(f"法定节假日：{holiday_zh(name)}" if zh else f"statutory holiday: {name}")
    if name := calendar.school_vacation(day):
        out.append(f"学校假期：{name}" if zh else f"school vacation: {name}")
    out += [p.name for p in cfg.periods if p.start <= day <= p.end]
    return out


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
        score, why, why_zh = 3 * confirmed + 2 * suspected, [], []
        if confirmed or suspected:
            why.append(f"{confirmed} confirmed and {suspected} suspected violations in {cfg.lookback_days} days")
            why_zh.append(f"近{cfg.lookback_days}天确认违法{confirmed}次、疑似违法{suspected}次")
        esc = cases.escalation(session, venue.id, now)
        if esc["suggestion"] != "per the facts":
            score += 3
            why.append(f"record suggests {esc['suggestion']} at the next violation")
            why_zh.append(f"按违法记录，再次违法建议{esc['suggestion_zh']}")
        m = venue.nearest_school_m
        for flag, points, text, text_zh in (
            (venue.near_school, 2, f"school within 200 m ({m} m)", f"200米内有学校（{m}米）"),
            (venue.dishonest_list, 2, "on the dishonest-venue list", "列入失信名单"),
            (not venue.sign_posted, 1, "no 未成年人禁入/限入 sign on record", "无未成年人禁入/限入标志记录"),
        ):
            if flag:
                score += points
                why.append(text)
                why_zh.append(text_zh)
        out.append(
            {
                "venue_id": venue.id,
                "name": venue.name,
                "venue_type": venue.venue_type,
                "address": venue.address,
                "score": score,
                "reasons": why,
                "reasons_zh": why_zh,
            }
        )
    return sorted(out, key=lambda r: (-r["score"], r["venue_id"]))
