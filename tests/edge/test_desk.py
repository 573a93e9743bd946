"""The counter's desk: pending checks, readings reduced to age facts, outcomes, expiry as "not checked"."""

from __future__ import annotations

import threading
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from humiao.edge.idcheck.desk import READING_TTL_S, CheckDesk, DeskError, RecordedCheck
from humiao.edge.idcheck.documents import BY_CODE, manual_entry
from humiao.edge.idcheck.number import check_character, parse
from humiao.edge.idcheck.outcomes import OutcomeError
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.vocabulary import wire_name

TZ = ZoneInfo("Asia/Shanghai")
SECRET = bytes(range(32))
T0 = 1_790_000_000.0  # 2026-09-21


def number(birth: str, seq: str = "123") -> str:
    first = "110105" + birth + seq
    return first + check_character(first)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def desk():
    sent: list[RecordedCheck] = []
    clock = Clock()
    d = CheckDesk(600, sent.append, SECRET, TZ, clock=clock)
    d.sent, d.clock = sent, clock  # type: ignore[attr-defined]
    return d


def read(desk, birth: str):
    return desk.reading_from_number(parse(number(birth), desk.now(), TZ), "manual")


def test_an_adult_checked_in_time_goes_out_with_age_and_hash_only(desk):
    desk.add("e1", "cam0", T0, 16.5, b"jpeg")
    assert [p.event_id for p in desk.pending()] == ["e1"] and desk.crop("e1") == b"jpeg"
    reading = read(desk, "19900101")
    rec = desk.record("e1", "adult_admitted", reading.reading_id, "counter-1")
    assert (rec.event_id, rec.result, rec.age_years, rec.under_14, rec.walk_up) == (
        "e1",
        "adult_admitted",
        36,
        False,
        False,
    )
    assert rec.document == "citizen_id" and rec.method == "manual" and rec.checksum_valid and rec.staff == "counter-1"
    assert len(rec.id_keyed_hash) == 64 and number("19900101") not in repr(rec)
    assert rec.alerted_at == T0 and desk.sent == [rec]
    assert desk.pending() == [] and desk.crop("e1") is None  # the crop goes with the check
    with pytest.raises(DeskError):  # answered once
        desk.record("e1", "no_id_refused", None, "counter-1")


def test_the_keyed_hash_links_one_person_within_the_venue_only(desk):
    a = read(desk, "20100304").id_keyed_hash
    b = read(desk, "20100304").id_keyed_hash
    other = CheckDesk(600, lambda r: None, bytes(32 * [7]), TZ)
    c = other.reading_from_number(parse(number("20100304"), other.now(), TZ), "chip").id_keyed_hash
    assert a == b and a != c


@pytest.mark.parametrize(
    ("birth", "code", "ok"),
    [
        ("19900101", "adult_admitted", True),
        ("19900101", "minor_refused", False),
        ("20100304", "adult_admitted", False),
        ("20100304", "minor_refused", True),
        ("20100304", "minor_admitted_with_guardian", True),
        ("20100304", "minor_admitted", True),
        ("20100304", "no_id_refused", False),  # an ID was read
        ("20100304", "not_checked", False),  # the agent's only
    ],
)
def test_the_outcome_must_agree_with_the_age_read(desk, birth, code, ok):
    desk.add("e1", "cam0", T0, 15, None)
    reading = read(desk, birth)
    if ok:
        assert desk.record("e1", code, reading.reading_id, "s").result == code
    else:
        with pytest.raises(OutcomeError) as err:
            desk.record("e1", code, reading.reading_id, "s")
        assert err.value.words("zh") and err.value.words("en") and desk.sent == []
        assert [p.event_id for p in desk.pending()] == ["e1"]  # still waiting for a good outcome


def test_outcomes_that_name_an_age_need_an_id_and_the_others_none(desk):
    desk.add("e1", "cam0", T0, 15, None)
    with pytest.raises(OutcomeError, match="read the ID first"):
        desk.record("e1", "minor_refused", None, "s")
    rec = desk.record("e1", "left_before_check", None, "s")
    assert rec.age_years is None and rec.document == "" and rec.method == "" and rec.id_keyed_hash == ""


def test_the_guardian_record_is_kept_only_for_the_outcome_that_asks(desk):
    desk.add("e1", "cam0", T0, 15, None)
    desk.add("e2", "cam0", T0, 15, None)
    r1 = desk.record(
        "e1",
        "minor_admitted_with_guardian",
        read(desk, "20100304").reading_id,
        "s",
        guardian_contact_recorded=True,
        co_occupants_recorded=False,
    )
    r2 = desk.record(
        "e2",
        "minor_refused",
        read(desk, "20100304").reading_id,
        "s",
        guardian_contact_recorded=True,
        co_occupants_recorded=True,
    )
    assert (r1.guardian_contact_recorded, r1.co_occupants_recorded) == (True, False)
    assert (r2.guardian_contact_recorded, r2.co_occupants_recorded) == (False, False)


def test_another_document_with_a_typed_birth_date(desk):
    passport = BY_CODE["passport"]
    facts = manual_entry(passport, date(2013, 5, 1), desk.now(), TZ)
    reading = desk.reading_from_document(passport, facts)
    rec = desk.record(None, "minor_refused", reading.reading_id, "s", camera_id="cam0")
    assert (rec.document, rec.method, rec.id_keyed_hash, rec.checksum_valid) == ("passport", "manual", "", False)
    assert rec.under_14 and rec.age_years == 13 and rec.walk_up and rec.event_id == "" and rec.alerted_at is None


def test_a_reading_is_used_once_and_forgotten_after_its_time(desk):
    desk.add("e1", "cam0", T0, 15, None)
    desk.add("e2", "cam0", T0, 15, None)
    reading = read(desk, "19900101")
    desk.record("e1", "adult_admitted", reading.reading_id, "s")
    with pytest.raises(DeskError, match="expired"):
        desk.record("e2", "adult_admitted", reading.reading_id, "s")
    late = read(desk, "19900101")
    desk.clock.t += READING_TTL_S + 1
    with pytest.raises(DeskError, match="expired"):
        desk.record("e2", "adult_admitted", late.reading_id, "s")


def test_a_check_with_no_outcome_in_its_window_is_reported_not_checked(desk):
    desk.add("e1", "cam0", T0, 15, b"jpeg")
    desk.add("e2", "cam0", T0 + 300, 15, None)
    desk.clock.t = T0 + 599
    assert desk.expire() == []
    desk.clock.t = T0 + 600
    [rec] = desk.expire()
    assert (rec.event_id, rec.result, rec.staff, rec.walk_up) == ("e1", "not_checked", "", False)
    assert [p.event_id for p in desk.pending()] == ["e2"] and desk.crop("e1") is None
    with pytest.raises(DeskError):
        desk.record("e1", "no_id_refused", None, "s")


def test_past_its_window_a_check_takes_no_outcome_but_not_checked(desk):
    desk.add("e1", "cam0", T0, 15, None)
    desk.clock.t = T0 + 600  # the deadline passed; the status loop has not run expire yet
    with pytest.raises(DeskError, match="window ran out"):
        desk.record("e1", "no_id_refused", None, "s")
    assert [rec.result for rec in desk.expire()] == ["not_checked"] and desk.sent[0].event_id == "e1"


def test_an_outcome_the_agent_could_not_keep_is_not_lost():
    failing = [True]
    sent: list[RecordedCheck] = []

    def sink(rec):
        if failing[0]:
            raise OSError("No space left on device")
        sent.append(rec)

    clock = Clock()
    desk = CheckDesk(600, sink, SECRET, TZ, clock=clock)
    desk.add("e1", "cam0", T0, 15, b"jpeg")
    reading = desk.reading_from_number(parse(number("19900101"), desk.now(), TZ), "manual")
    with pytest.raises(OSError):
        desk.record("e1", "adult_admitted", reading.reading_id, "s")
    # the check and the reading are still there: staff try again once the disk has room
    assert [p.event_id for p in desk.pending()] == ["e1"] and desk.crop("e1") == b"jpeg"
    assert desk.recent() == [] and desk.counts.get("adult_admitted", 0) == 0
    failing[0] = False
    rec = desk.record("e1", "adult_admitted", reading.reading_id, "s")
    assert sent == [rec] and desk.pending() == []
    # the same for the agent's own "not checked"
    desk.add("e2", "cam0", T0, 15, None)
    failing[0] = True
    clock.t = T0 + 600
    with pytest.raises(OSError):
        desk.expire()
    assert [p.event_id for p in desk.pending()] == ["e2"]
    failing[0] = False
    assert [r.event_id for r in desk.expire()] == ["e2"] and sent[-1].result == "not_checked"


def test_a_live_page_wakes_when_something_changes(desk):
    v = desk.version
    threading.Timer(0.05, lambda: desk.add("e1", "cam0", T0, 15, None)).start()
    assert desk.wait(v, 5) == v + 1
    assert desk.wait(v + 1, 0.05) == v + 1  # nothing new: back after the timeout


def test_every_recorded_check_becomes_a_wire_message_without_the_id(desk):
    from humiao.edge.config import EdgeConfig
    from humiao.edge.messages import Messages

    m = Messages(EdgeConfig(), [])
    desk.add("0190e3a1-0000-7000-8000-000000000001", "cam0", T0, 15, None)
    rec = desk.record(
        "0190e3a1-0000-7000-8000-000000000001",
        "minor_admitted_with_guardian",
        read(desk, "20100304").reading_id,
        "counter-1",
        guardian_contact_recorded=True,
        co_occupants_recorded=True,
    )
    msg = m.idcheck(rec)
    assert wire_name(pb.IdCheckResult.Name(msg.result), "ID_CHECK_RESULT_") == "minor_admitted_with_guardian"
    assert msg.document == pb.DOCUMENT_TYPE_CITIZEN_ID and msg.method == pb.READ_METHOD_MANUAL
    assert msg.age_known and msg.age_years == 16 and not msg.walk_up and msg.guardian_contact_recorded
    assert msg.alerted_at.ToNanoseconds() == int(T0 * 1e9) and msg.origin.camera_id == "cam0"
    wire = msg.SerializeToString()
    assert number("20100304").encode() not in wire and b"20100304" not in wire
    desk.add("e9", "cam0", T0, 15, None)
    desk.clock.t += 601
    out = m.idcheck(desk.expire()[0])
    assert out.result == pb.ID_CHECK_RESULT_NOT_CHECKED and not out.age_known
    assert out.document == pb.DOCUMENT_TYPE_UNSPECIFIED and out.method == pb.READ_METHOD_UNSPECIFIED
