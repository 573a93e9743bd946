"""Cases: the penalty procedure step by step, transfers, the same act never fined twice, deadlines,
escalation and inspection lists — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from humiao.hub import cases, inspections
from humiao.hub.access import Principal
from humiao.hub.tables import Alarm, Case, Evidence

from tests.support.hubapi import Browser

pytestmark = pytest.mark.services
CT = Principal("ct-d1", "culture_tourism", "d1")
POLICE = Principal("police-d1", "police", "d1")
OFFICERS = [{"user": "ct-d1", "enforcement_id": "31010001"}, {"user": "ct-d1b", "enforcement_id": "31010002"}]


@pytest.fixture
def hub(seeded_hub):
    return seeded_hub


def test_the_procedure_in_order(hub):
    with hub.sessions() as s:
        case = cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])
        assert case.status == "open" and case.department == "culture_tourism"
        assert case.number.startswith("D1-CU-") and (case.decision_deadline - case.opened_at).days == 90
        assert s.get(Evidence, s.get(Alarm, hub.alarm_ids["ktv1"]).event_id).held  # the case holds the crop
        with pytest.raises(cases.CaseError, match="At least two"):
            cases.assign_officers(s, case, CT, OFFICERS[:1])
        with pytest.raises(cases.CaseError, match="needs it to be one of: assigned, inspected"):
            cases.record_inspection(s, case, CT, "minor found in room 3")
        cases.assign_officers(s, case, CT, OFFICERS)
        cases.record_inspection(
            s,
            case,
            CT,
            "a 16-year-old in room 3; no ID check at the door",
            "photos 1-4",
            minor={"age": 16, "under_14": False, "name": "must not be kept"},
        )
        assert case.facts["minor"] == {"age": 16, "under_14": False}
        with pytest.raises(cases.CaseError, match="right to respond"):
            cases.decide(s, case, CT, "fine", "art. 48", fine_yuan=10000)
        cases.notify_right_to_respond(s, case, CT)
        with pytest.raises(cases.CaseError, match="legal review"):
            cases.decide(s, case, CT, "fine", "art. 48", fine_yuan=10000)
        cases.legal_review(s, case, Principal("legal-1", "culture_tourism", "d1"), "facts clear, basis correct")
        cases.decide(s, case, CT, "fine", "娱乐场所管理条例 art. 48", fine_yuan=10000)
        assert case.status == "decided" and (case.payment_due - case.decided_at).days == 15
        with pytest.raises(cases.CaseError, match="unpaid"):
            cases.close(s, case, CT)
        cases.record_payment(s, case, CT)
        cases.close(s, case, CT)
        s.commit()
        actions = [e.action for e in cases.history(s, case.id)]
        assert actions == [
            "opened",
            "assigned",
            "inspected",
            "respond_notice",
            "legal_review",
            "decided",
            "paid",
            "closed",
        ]
        assert cases.deadline_state(case) == "met"
    with hub.sessions() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE case_events SET actor = 'someone else'"))
        s.commit()


def test_transfer_and_the_same_act_not_fined_twice(hub):
    with hub.sessions() as s:
        mine = cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])
        cases.transfer(s, mine, CT, "police", "sign and CCTV matters are police's (art. 44, 51)")
        assert mine.department == "police" and mine.status == "open"
        ev = cases.history(s, mine.id)[-1]
        assert ev.action == "transferred" and ev.detail["from_department"] == "culture_tourism"
        with pytest.raises(cases.CaseError, match="another enforcing department"):
            cases.transfer(s, mine, POLICE, "police", "x")
        other = cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])  # culture opens its own on the same act
        for c, who in ((mine, POLICE), (other, CT)):
            cases.assign_officers(s, c, who, OFFICERS)
            cases.record_inspection(s, c, who, "minor admitted")
            cases.notify_right_to_respond(s, c, who)
            cases.legal_review(s, c, who, "ok")
        cases.decide(s, mine, POLICE, "fine", "未保法 art. 123", fine_yuan=20000)
        assert [c.number for c in cases.other_actions(s, other)] == [mine.number]
        with pytest.raises(cases.CaseError, match="already fined by police"):
            cases.decide(s, other, CT, "fine", "art. 48", fine_yuan=10000)
        cases.decide(s, other, CT, "warning", "art. 48; fined by police already")  # other penalties stay possible
        s.commit()


def test_deadlines_escalation_and_inspection_list(hub):
    now = datetime.now(UTC)
    with hub.sessions() as s:
        c = cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])
        assert cases.deadline_state(c, now) == "ok"
        assert cases.deadline_state(c, now + timedelta(days=80)) == "due_soon"
        assert cases.deadline_state(c, now + timedelta(days=91)) == "overdue"
        s.rollback()
        for k in range(3):  # three earlier warnings at ktv1 within two years
            s.add(
                Case(
                    number=f"OLD-{k}",
                    district_id="d1",
                    venue_id="ktv1",
                    venue_type="ktv",
                    department="culture_tourism",
                    status="closed",
                    source="alert",
                    rule="r",
                    opened_at=now - timedelta(days=300 + k),
                    opened_by="x",
                    decision_deadline=now,
                    officers=[],
                    facts={},
                    decision="warning",
                    decided_at=now - timedelta(days=200 + k),
                    updated_at=now,
                )
            )
        s.commit()
        esc = cases.escalation(s, "ktv1", now)
        words = cases.escalation_words(esc, "en")
        assert esc["advice"] == "suspension" and words["suggestion"] == "suspension 3-6 months"
        assert "art. 53" in words["basis"]
        assert cases.escalation(s, "hotel1", now)["advice"] == "per_facts"  # art. 53 is for KTV/arcades
        ranked = inspections.inspection_list(s, "d1", now)
        # the reasons are messages, rendered in the reader's language
        from humiao.hub.messages import render

        english = [render(m, "en") for m in ranked[0]["reasons"]]
        assert [r["venue_id"] for r in ranked][:1] == ["ktv1"] and any("suspension" in w for w in english)
        zh = cases.escalation_words(esc, "zh-CN")
        assert zh["suggestion"] == "责令停业整顿3至6个月" and "第五十三条" in zh["basis"]
        assert any("责令停业整顿" in render(m, "zh-CN") for m in ranked[0]["reasons"])
        assert {r["venue_id"] for r in ranked} == {"ktv1", "hotel1"}  # d2's venue is not on d1's list
    from humiao.hub.rules.calendar import CalendarConfig, HolidayCalendar, Period

    cal = HolidayCalendar(
        CalendarConfig(
            school_vacations=[
                Period(name="summer", start=datetime(2026, 7, 4).date(), end=datetime(2026, 8, 31).date())
            ]
        )
    )
    cfg = inspections.KeyPeriodConfig(
        periods=[Period(name="gaokao", start=datetime(2026, 6, 7).date(), end=datetime(2026, 6, 10).date())]
    )
    assert inspections.key_periods(datetime(2026, 7, 20).date(), cal, cfg) == ["school vacation: summer"]
    assert inspections.key_periods(datetime(2026, 10, 1).date(), cal, cfg) == ["statutory holiday: National Day"]
    assert inspections.key_periods(datetime(2026, 10, 1).date(), cal, cfg, "zh") == ["法定节假日：国庆节"]
    assert inspections.key_periods(datetime(2026, 7, 20).date(), cal, cfg, "zh") == ["学校假期：summer"]
    assert inspections.key_periods(datetime(2026, 6, 8).date(), cal, cfg) == ["gaokao"]


def test_evidence_is_purged_after_retention_unless_a_case_holds_it(hub):
    from humiao.hub import evidence

    with hub.sessions() as s:
        cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])  # holds ktv1's crop
        s.commit()
        later = datetime.now(UTC) + timedelta(days=31)  # past the 30-day retention
        assert evidence.purge_expired(s, later) == 2  # hotel1 and ktv9
        rows = {s.get(Alarm, hub.alarm_ids[v]).event_id: v for v in ("ktv1", "hotel1", "ktv9")}
        left = {rows[e.event_id]: (e.ciphertext is not None, e.purged_at is not None) for e in s.query(Evidence)}
    assert left == {"ktv1": (True, False), "hotel1": (False, True), "ktv9": (False, True)}
    b = Browser(hub, "police-d1")
    r = b.get(f"/api/alarms/{hub.alarm_ids['hotel1']}/evidence", params={"why": "too late"})
    assert (
        r.status_code == 404 and r.json()["code"] == "evidence.purged"
    )  # the hashes and times stay, the face does not


def test_opening_a_case_does_not_reveal_another_districts_alarm(hub):
    """An alarm of another district answers exactly as one that does not exist (status and message,
    the id the caller sent aside), alone or beside an alarm of the caller's own."""
    ct = Browser(hub, "ct-d1")
    ktv, elsewhere = hub.alarm_ids["ktv1"], hub.alarm_ids["ktv9"]  # ktv9: a KTV (culture's) in d2
    missing = max(hub.alarm_ids.values()) + 1000

    def answer(alarm_ids: list[int], unknown: int) -> tuple[int, str]:
        r = ct.post("/api/cases", json={"alarm_ids": alarm_ids}, headers={"Accept-Language": "en"})
        return r.status_code, r.json()["detail"].replace(str(unknown), "<id>")

    assert answer([elsewhere], elsewhere) == answer([missing], missing) == (409, "Unknown alarms: <id>")
    assert answer([ktv, elsewhere], elsewhere) == answer([ktv, missing], missing)
    with hub.sessions() as s:
        assert s.query(Case).count() == 0  # and nothing was opened
