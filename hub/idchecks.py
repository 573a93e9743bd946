"""Per-venue ID-check statistics: how each venue answers the alerts its cameras raise, and what its staff
find beyond them.

    alerts (CHECK ID) at a venue in a period ─► each alert's latest ID check (several checks of one alert
    count once, the latest, as hub/alarms.py decides by it)
        ─► checked: a staff outcome within ``id_check_window_min`` (the agent's "not checked", no outcome,
           and an outcome after the window are unchecked); the share of the alerts checked
        ─► median time to check: the check's checked_at − the alert's decided_at, staff outcomes only
        ─► outcomes by kind, with proto/vocabulary.py's words (screens and reports show words, never codes)
    walk-up checks in the period (staff checked someone the camera did not flag) ─► how many, and how many
    of them were minors (what the camera missed)
    minors refused (at alerts and walk-ups) ─► the venue's successes

Nothing here reads a name, a number, an image or the keyed hash. The caller says what its viewer may see
(``who``: hub/access.py ``venues.read`` — operators their own venues, inspectors and the procuratorate
their district, the administrator every district).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub.access import Principal, scope_filter
from humiao.hub.tables import Alert, IdCheck, Venue
from humiao.hub.validate import MINOR_RESULTS
from humiao.proto import vocabulary

STAFF_OUTCOMES = frozenset(vocabulary.RESULTS) - {"not_checked"}
OTHER = "other"  # a stored result the catalogue has no words for (rows from before results were checked)
OTHER_WORDS: Mapping[str, str] = {"zh": "其他结果", "en": "other outcome"}
KINDS: tuple[str, ...] = (*vocabulary.RESULTS, OTHER)  # the order the panel and reports list them


def words(result: str) -> Mapping[str, str]:
    """A result's words in both languages (proto/vocabulary.py, the one catalogue)."""
    return vocabulary.RESULTS.get(result, OTHER_WORDS)


def _kind(result: str) -> str:
    return result if result in vocabulary.RESULTS else OTHER


@dataclass
class VenueChecks:
    venue_id: str
    district_id: str
    name: str = ""
    venue_type: str = ""
    alerts: int = 0
    checked: int = 0  # a staff outcome within the window
    outcomes: Counter[str] = field(default_factory=Counter)  # the alerts' latest outcomes, by kind
    no_outcome: int = 0  # alerts with no check at all
    times_s: list[float] = field(default_factory=list)  # staff outcomes: seconds from the alert to the check
    walk_ups: Counter[str] = field(default_factory=Counter)  # walk-up checks, by kind

    @property
    def checked_share(self) -> float | None:
        return self.checked / self.alerts if self.alerts else None

    @property
    def median_time_to_check_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s else None

    @property
    def walk_up_checks(self) -> int:
        return sum(self.walk_ups.values())

    @property
    def walk_up_minors(self) -> int:
        return sum(n for r, n in self.walk_ups.items() if r in MINOR_RESULTS)

    @property
    def minors_refused(self) -> int:
        return self.outcomes["minor_refused"] + self.walk_ups["minor_refused"]


def venue_stats(
    session: Session,
    since: datetime,
    until: datetime,
    window_min: float,
    who: Principal | None = None,
    district: str | None = None,
    venue_id: str | None = None,
) -> list[VenueChecks]:
    """The figures of every venue with an alert or a walk-up check in [since, until) that ``who`` may see
    (None: no restriction; the reports pass their district), ordered by district and venue."""
    window = timedelta(minutes=window_min)
    alert_where = [Alert.decision == "check_id", Alert.decided_at >= since, Alert.decided_at < until]
    walk_where = [IdCheck.walk_up.is_(True), IdCheck.checked_at >= since, IdCheck.checked_at < until]
    for where, district_col, venue_col in (
        (alert_where, Alert.district_id, Alert.venue_id),
        (walk_where, IdCheck.district_id, IdCheck.venue_id),
    ):
        if who is not None and (clause := scope_filter(who, "venues.read", district_col, venue_col)) is not None:
            where.append(clause)
        if district is not None:
            where.append(district_col == district)
        if venue_id is not None:
            where.append(venue_col == venue_id)

    venues: dict[str, VenueChecks] = {}

    def venue(vid: str, district_id: str) -> VenueChecks:
        return venues.setdefault(vid, VenueChecks(vid, district_id))

    alerts = session.execute(
        select(Alert.event_id, Alert.district_id, Alert.venue_id, Alert.venue_type, Alert.decided_at)
        .where(*alert_where)
        .order_by(Alert.id)
    ).all()
    latest: dict[str, tuple[str, datetime]] = {}
    for event_id, result, checked_at in session.execute(
        select(IdCheck.event_id, IdCheck.result, IdCheck.checked_at)
        .join(Alert, Alert.event_id == IdCheck.event_id)
        .where(*alert_where)
        .order_by(IdCheck.checked_at, IdCheck.id)
    ).all():
        if event_id is not None:  # the join leaves out walk-ups; the guard is for the type checker
            latest[event_id] = (result, checked_at)  # ordered: the latest check of the alert wins
    for event_id, district_id, vid, venue_type, decided_at in alerts:
        v = venue(vid, district_id)
        v.venue_type = v.venue_type or venue_type
        v.alerts += 1
        found = latest.get(event_id)
        if found is None:
            v.no_outcome += 1
            continue
        result, checked_at = found
        v.outcomes[_kind(result)] += 1
        if result in STAFF_OUTCOMES:
            took = checked_at - decided_at
            v.times_s.append(max(0.0, took.total_seconds()))
            if took <= window:
                v.checked += 1
    for district_id, vid, result in session.execute(
        select(IdCheck.district_id, IdCheck.venue_id, IdCheck.result).where(*walk_where)
    ).all():
        venue(vid, district_id).walk_ups[_kind(result)] += 1
    if venues:
        for reg in session.scalars(select(Venue).where(Venue.id.in_(sorted(venues)))):
            v = venues[reg.id]
            v.name, v.venue_type = reg.name, reg.venue_type  # the registered type wins, as for verdicts
    for v in venues.values():
        v.name = v.name or v.venue_id
    return sorted(venues.values(), key=lambda v: (v.district_id, v.venue_id))
