"""Per-venue ID-check statistics (hub/idchecks.py, ``GET /api/idchecks``): each alert counted once by its
latest check, checked only when staff answered within the window, the median time to check over staff
outcomes, walk-ups and the minors among them, minors refused; the outcomes in the catalogue's words; each
viewer sees only the venues it may (operators their own, inspectors their district) — on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from humiao.hub import idchecks, reports
from humiao.hub.access import Principal
from humiao.hub.tables import Venue
from humiao.proto import vocabulary

from tests.hub.outcomes import add_alert, add_check
from tests.support.hubapi import Browser

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KTV = ("d1", "ktv-a", "door-1")
BAR = ("d2", "bar-b", "door-1")
SINCE, UNTIL = T0 - timedelta(days=1), T0 + timedelta(days=1)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def checks(db):
    """A KTV in d1 with six alerts answered in every way and three walk-ups; an unregistered venue in d2;
    an alert and a walk-up outside the period."""
    with db() as s, s.begin():
        s.add(Venue(id="ktv-a", name="歌厅甲", venue_type="ktv", district_id="d1", updated_at=T0))
        a = [add_alert(s, KTV, T0) for _ in range(6)]
        add_check(s, KTV, a[0], "minor_refused", minutes(2))
        add_check(s, KTV, a[1], "adult_admitted", minutes(4))
        add_check(s, KTV, a[2], "not_checked", minutes(10))  # the agent's: unchecked
        # a[3]: no check at all
        add_check(s, KTV, a[4], "adult_admitted", minutes(1))  # corrected later: only the latest counts,
        add_check(s, KTV, a[4], "minor_refused", minutes(30))  # and that one came after the window
        add_check(s, KTV, a[5], "left_before_check", minutes(6))
        for kind in ("minor_admitted_with_guardian", "adult_admitted", "minor_refused"):
            add_check(s, KTV, None, kind, minutes(60))
        old = add_alert(s, KTV, T0 - timedelta(days=40))
        add_check(s, KTV, old, "minor_admitted", T0 - timedelta(days=40))
        add_check(s, KTV, None, "minor_refused", T0 - timedelta(days=40))
        bar = add_alert(s, BAR, T0)
        add_check(s, BAR, bar, "minor_admitted", minutes(1))
    return db


def test_each_alert_counts_once_by_its_latest_check(checks):
    with checks() as s:
        found = {v.venue_id: v for v in idchecks.venue_stats(s, SINCE, UNTIL, 10.0)}
    assert list(found) == ["ktv-a", "bar-b"]  # by district: d1, d2
    k = found["ktv-a"]
    assert (k.name, k.venue_type, k.district_id) == ("歌厅甲", "ktv", "d1")
    assert k.alerts == 6 and k.no_outcome == 1
    assert k.outcomes == {"minor_refused": 2, "adult_admitted": 1, "not_checked": 1, "left_before_check": 1}
    assert k.checked == 3 and k.checked_share == 0.5  # minor refused, adult, left: within 10 minutes by staff
    assert sorted(k.times_s) == [120.0, 240.0, 360.0, 1800.0] and k.median_time_to_check_s == 300.0
    assert (k.walk_up_checks, k.walk_up_minors, k.minors_refused) == (3, 2, 3)  # 2 at alerts + 1 walk-up
    b = found["bar-b"]  # not in the registry: its id for a name, the type its device reported
    assert (b.name, b.venue_type, b.alerts, b.checked, b.outcomes) == (
        "bar-b",
        "internet_cafe",
        1,
        1,
        {"minor_admitted": 1},
    )
    assert b.walk_up_checks == 0 and b.minors_refused == 0


def test_the_window_decides_what_counts_as_checked(checks):
    with checks() as s:
        tight = {v.venue_id: v for v in idchecks.venue_stats(s, SINCE, UNTIL, 3.0)}["ktv-a"]
        wide = {v.venue_id: v for v in idchecks.venue_stats(s, SINCE, UNTIL, 60.0)}["ktv-a"]
    assert tight.checked == 1 and wide.checked == 4  # the agent's "not checked" never counts
    assert tight.median_time_to_check_s == wide.median_time_to_check_s  # the time to check is not windowed


def test_what_each_viewer_sees(checks):
    operator = Principal("op", "venue_operator", "d1", frozenset({"ktv-a"}))
    stranger = Principal("op2", "venue_operator", "d1", frozenset({"elsewhere"}))
    inspector_d2 = Principal("ct-d2", "culture_tourism", "d2")
    auditor = Principal("aud", "auditor", None)
    with checks() as s:

        def seen(who, **kw):
            return [v.venue_id for v in idchecks.venue_stats(s, SINCE, UNTIL, 10.0, who=who, **kw)]

        assert seen(operator) == ["ktv-a"] and seen(stranger) == [] and seen(auditor) == []
        assert seen(inspector_d2) == ["bar-b"] and seen(inspector_d2, venue_id="ktv-a") == []
        assert seen(None, district="d1") == ["ktv-a"] and seen(None, venue_id="bar-b") == ["bar-b"]
        walk_ups_only = idchecks.venue_stats(s, minutes(59), minutes(61), 10.0)
    assert [(v.venue_id, v.alerts, v.walk_up_checks) for v in walk_ups_only] == [("ktv-a", 0, 3)]
    assert walk_ups_only[0].checked_share is None and walk_ups_only[0].median_time_to_check_s is None


# -- over HTTP ------------------------------------------------------------------------------------
@pytest.fixture
def hub(seeded_hub):
    """The seeded hub (alerts at ktv1 and hotel1 in d1, ktv9 in d2) with a minor refused at ktv1, a
    walk-up minor refused at hotel1 and an adult at ktv9."""
    h = seeded_hub
    from sqlalchemy import select

    from humiao.hub.tables import Alert

    with h.sessions() as s, s.begin():
        alerts = {a.venue_id: a for a in s.scalars(select(Alert))}
        at = alerts["ktv1"].decided_at
        add_check(s, ("d1", "ktv1", "edge1"), alerts["ktv1"].event_id, "minor_refused", at + timedelta(seconds=90))
        add_check(s, ("d1", "hotel1", "edge1"), None, "minor_refused", at)
        add_check(s, ("d2", "ktv9", "edge1"), alerts["ktv9"].event_id, "adult_admitted", at + timedelta(minutes=2))
    return h


def test_the_route_is_scoped_and_speaks_in_words(hub):
    ct = Browser(hub, "ct-d1")
    r = ct.get("/api/idchecks")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_min"] == 10.0 and [v["venue_id"] for v in body["venues"]] == ["hotel1", "ktv1"]
    ktv = body["venues"][1]
    assert (ktv["alerts"], ktv["checked"], ktv["checked_share"], ktv["median_time_to_check_s"]) == (1, 1, 1.0, 90.0)
    assert [o["result"] for o in ktv["outcomes"]] == list(vocabulary.RESULTS)  # every kind, the catalogue's order
    refused = next(o for o in ktv["outcomes"] if o["result"] == "minor_refused")
    assert refused == {
        "result": "minor_refused",
        "words": {"zh": "未成年人，已劝离", "en": "Minor, refused entry"},
        "alerts": 1,
        "walk_ups": 0,
    }
    hotel = body["venues"][0]
    assert (hotel["alerts"], hotel["no_outcome"], hotel["walk_ups"], hotel["walk_up_minors"]) == (1, 1, 1, 1)
    assert hotel["minors_refused"] == 1 and hotel["checked_share"] == 0.0
    assert "5e5e5e" not in r.text  # the keyed hash is never served
    assert [v["venue_id"] for v in Browser(hub, "op-ktv").get("/api/idchecks").json()["venues"]] == ["ktv1"]
    assert [v["venue_id"] for v in Browser(hub, "ct-d2").get("/api/idchecks").json()["venues"]] == ["ktv9"]
    assert [v["venue_id"] for v in Browser(hub, "admin").get("/api/idchecks").json()["venues"]] == [
        "hotel1",
        "ktv1",
        "ktv9",
    ]
    assert Browser(hub, "auditor").get("/api/idchecks").status_code == 403
    assert Browser(hub).get("/api/idchecks").status_code == 401


def test_the_route_takes_a_period_days_or_a_venue(hub):
    ct = Browser(hub, "ct-d1")
    month = datetime.now(UTC).astimezone(reports.TZ).strftime("%Y-%m")
    r = ct.get("/api/idchecks", params={"period": month, "venue_id": "ktv1"})
    assert r.status_code == 200 and [v["venue_id"] for v in r.json()["venues"]] == ["ktv1"]
    assert ct.get("/api/idchecks", params={"venue_id": "ktv9"}).json()["venues"] == []  # d2's: not shown
    assert ct.get("/api/idchecks", params={"period": "2020-01"}).json()["venues"] == []
    assert ct.get("/api/idchecks", params={"period": "November"}).status_code == 400
    assert ct.get("/api/idchecks", params={"days": 0}).status_code == 422
    assert ct.get("/api/idchecks", params={"days": 400}).status_code == 422
    assert ct.get("/api/idchecks", params={"venue_id": "ktv1\x00"}).status_code == 422  # a venue id is a slug


def test_the_venue_list_counts_confirmed_and_suspected_apart(seeded_hub):
    from tests.hub.outcomes import add_visits

    add_visits(seeded_hub)  # the visits test_reports.py counts: ktv1 one confirmed, one suspected; hotel1 one confirmed
    venues = {v["id"]: v for v in Browser(seeded_hub, "ct-d1").get("/api/venues").json()["venues"]}
    # a suspicion (nobody checked in time) is never added to a violation the ID check confirmed
    assert venues["ktv1"]["violations"] == {"confirmed": 1, "suspected": 1}
    assert venues["hotel1"]["violations"] == {"confirmed": 1, "suspected": 0}
