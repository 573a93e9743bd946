"""Statutory holidays and key periods.

The 13 statutory days (全国年节及纪念日放假办法 art. 2, in force 2025-01-01 ✔) are computed from the
law itself: 1 Jan; lunar New Year's Eve to the 3rd day of the first lunar month; Qingming (the solar
term); 1-2 May; the Dragon Boat festival (5/5 lunar); Mid-Autumn (8/15 lunar); 1-3 Oct. Whether the
swapped days off of an announced holiday block also count is not stated (◦): a setting, off by
default; with it on, ``chinesecalendar`` says which days are inside an announced block, and for a
year it has no data for we fail closed (no extra days) and warn. School vacations are provincial:
configured per district.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings

from pydantic import Field

from humiao.config import Section

log = logging.getLogger("humiao.hub.rules")


HOLIDAY_KEYS = {
    "New Year's Day": "holiday.new_year",
    "Spring Festival": "holiday.spring_festival",
    "Qingming": "holiday.qingming",
    "Labour Day": "holiday.labour_day",
    "Dragon Boat Festival": "holiday.dragon_boat",
    "Mid-Autumn Festival": "holiday.mid_autumn",
    "National Day": "holiday.national_day",
}


def holiday_message(name: str) -> dict | str:
    """A statutory holiday as ``HolidayCalendar.statutory`` names it, as a message (its catalogue key); a name the
    table does not know (chinesecalendar's own) as it is."""
    from humiao.hub.messages import msg

    base = name.split(" (")[0]
    return msg(HOLIDAY_KEYS[base]) if base in HOLIDAY_KEYS else base


class Period(Section):
    name: str
    start: dt.date
    end: dt.date  # inclusive


class CalendarConfig(Section):
    swapped_days_count_as_holidays: bool = Field(
        False, description="◦ count the swapped days off of an announced holiday block (chinesecalendar) as holidays"
    )
    school_vacations: list[Period] = Field(default_factory=list, description="◦ provincial winter/summer vacations")


def _lunar(year: int, month: int, day: int) -> dt.date:
    from lunardate import LunarDate

    return LunarDate(year, month, day).to_solar_date()


def statutory_days(year: int) -> dict[dt.date, str]:
    """The 13 statutory holidays of a Gregorian year, each with its name."""
    from chinese_calendar import get_solar_terms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        days: dict[dt.date, str] = {dt.date(year, 1, 1): "New Year's Day"}
        for lunar_year in (year - 1, year):  # a Spring Festival block can straddle 1 January only in theory
            new_year = _lunar(lunar_year + 1, 1, 1)
            for k in range(-1, 3):
                d = new_year + dt.timedelta(days=k)
                if d.year == year:
                    days[d] = "Spring Festival"
        qingming = [d for d, name in get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 10)) if name == "清明"]
        days.update(dict.fromkeys(qingming, "Qingming"))
        days.update({dt.date(year, 5, 1): "Labour Day", dt.date(year, 5, 2): "Labour Day"})
        days[_lunar(year, 5, 5)] = "Dragon Boat Festival"
        days[_lunar(year, 8, 15)] = "Mid-Autumn Festival"
        days.update({dt.date(year, 10, k): "National Day" for k in (1, 2, 3)})
    return days


class HolidayCalendar:
    def __init__(self, cfg: CalendarConfig | None = None):
        self.cfg = cfg or CalendarConfig()
        self._years: dict[int, dict[dt.date, str]] = {}

    def statutory(self, day: dt.date) -> str | None:
        """The statutory holiday on ``day`` (name), or None."""
        days = self._years.get(day.year)
        if days is None:
            days = self._years[day.year] = statutory_days(day.year)
        if day in days:
            return days[day]
        if self.cfg.swapped_days_count_as_holidays:
            import chinese_calendar

            try:
                on, name = chinese_calendar.get_holiday_detail(day)
            except NotImplementedError:
                log.warning("chinesecalendar has no data for %d: swapped days off not counted (fail closed)", day.year)
                return None
            if on and name and chinese_calendar.is_in_lieu(day):
                return f"{name} (swapped day off)"
        return None

    def school_vacation(self, day: dt.date) -> str | None:
        return next((p.name for p in self.cfg.school_vacations if p.start <= day <= p.end), None)

    def day_message(self, day: dt.date) -> dict:
        """What the calendar says of a day, as a message (``hub/messages.py``) for the inspector's reasoning."""
        from humiao.hub.messages import msg

        parts = []
        if name := self.statutory(day):
            parts.append(msg("calendar.statutory", name=holiday_message(name)))
        if day.weekday() >= 5:
            parts.append(msg("calendar.weekend"))
        if name := self.school_vacation(day):
            parts.append(msg("calendar.vacation", name=name))  # a configured name, as the district wrote it
        return msg("calendar.day", parts=parts) if parts else msg("calendar.working_day")

    def describe(self, day: dt.date, lang: str = "en") -> str:
        """What the calendar says of a day, in words (``lang``: a catalogue's language; ``zh`` is zh-CN)."""
        from humiao.hub.messages import render

        return render(self.day_message(day), "zh-CN" if lang == "zh" else lang)
