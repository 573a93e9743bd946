"""What ingest accepts: only messages signed by the device their topic names, with its enrolled,
unrevoked key, recently; evidence only for an open request to that device; an ID check only for an
alert of the same device. Everything else is a dead letter with its reason, and nothing of it is
stored. (The same attacks through a real broker: tests/test_attacks.py.)"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from humiao.hub import devices
from humiao.hub.tables import Alert, DeadLetter, Evidence, EvidenceRequest, IdCheck
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import sealed, signing
from humiao.proto.ids import uuid7

from tests.support.devices import ADMIN, enroll_device
from tests.support.services import sample_alert


def _reasons(ingest) -> list[str]:
    with ingest.sessions() as s:
        return sorted(s.scalars(select(DeadLetter.reason)))


def _count(ingest, model) -> int:
    with ingest.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _alert(ingest, at: float | None = None):
    t, body, eid = sample_alert(ingest.device.ids)
    return t, ingest.device.sign(t, body, eid, at), eid


def test_a_signed_alert_is_stored_with_its_signature(ingest):
    t, payload, eid = _alert(ingest)
    ingest.feed((t, payload))
    with ingest.sessions() as s:
        row = s.scalars(select(Alert)).one()
    env = signing.unwrap(payload)
    assert row.event_id == eid and row.signer_key_id == ingest.device.signer.key_id
    assert row.signature == env.signature and row.body_sha256 == hashlib.sha256(env.body).hexdigest()
    # what is kept is enough to check the signature again later
    again = signing.Envelope(eid, int(row.signed_at.timestamp() * 1e9), env.body, row.signer_key_id, row.signature)
    assert row.signed_at == datetime.fromtimestamp(env.signed_at_ns / 1e9, UTC)
    signing.verify(
        signing.Envelope(eid, env.signed_at_ns, env.body, env.key_id, row.signature), t, ingest.device.signer.public
    )
    assert again.key_id == env.key_id


def test_unsigned_is_refused(ingest):
    t, body, _ = sample_alert(ingest.device.ids)
    ingest.feed((t, body))
    assert _reasons(ingest) == ["unsigned"] and _count(ingest, Alert) == 0


def test_an_unenrolled_device_is_refused(ingest, tmp_path):
    stranger = signing.Signer.generate(tmp_path / "stranger.key")
    t, body, eid = sample_alert(("d1", "venue1", "edge9"))
    ingest.feed((t, stranger.sign(t, eid, body)))
    assert _reasons(ingest) == ["unknown_device"]


def test_a_forged_signature_is_refused(ingest, tmp_path):
    """Someone else's key claiming the device's key id, and an altered body under a real signature."""
    t, payload, _ = _alert(ingest)
    env = pb.Signed.FromString(payload)
    altered = pb.Alert.FromString(env.body)
    altered.age_estimate = 9.0
    env.body = altered.SerializeToString()
    ingest.feed((t, env.SerializeToString()))
    other = signing.Signer.generate(tmp_path / "other.key")
    t2, body2, eid2 = sample_alert(ingest.device.ids)
    env2 = pb.Signed.FromString(other.sign(t2, eid2, body2))
    env2.key_id = ingest.device.signer.key_id
    ingest.feed((t2, env2.SerializeToString()))
    assert _reasons(ingest) == ["forged", "forged"] and _count(ingest, Alert) == 0


def test_a_message_moved_to_another_devices_topic_is_refused(ingest, tmp_path):
    other = enroll_device(ingest.cfg, None, ("d1", "venue1", "edge2"))
    t, payload, _ = _alert(ingest)
    ingest.feed((other.topic("alert"), payload))  # edge1's signed alert, published as edge2's
    assert _reasons(ingest) == ["wrong_signer"]


def test_a_revoked_key_is_refused_within_the_refresh_time(ingest):
    t, payload, _ = _alert(ingest)
    ingest.feed((t, payload))
    with ingest.sessions() as s:
        devices.revoke(s, None, "d1/venue1/edge1", ADMIN, "stolen box")
    time.sleep(ingest.cfg.security.key_refresh_s + 0.1)
    t2, payload2, _ = _alert(ingest)
    ingest.feed((t2, payload2))
    assert _reasons(ingest) == ["revoked"] and _count(ingest, Alert) == 1


def test_an_old_or_future_message_is_refused_as_a_replay(ingest):
    month_ago = time.time() - 30 * 86400
    t, payload, _ = _alert(ingest, at=month_ago)
    t2, payload2, _ = _alert(ingest, at=time.time() + 3600)
    ingest.feed((t, payload), (t2, payload2))
    assert _reasons(ingest) == ["replayed", "replayed"] and _count(ingest, Alert) == 0


def test_a_resent_alert_is_absorbed_but_another_body_under_its_id_is_kept_aside(ingest):
    t, payload, eid = _alert(ingest)
    ingest.feed((t, payload))
    ingest.feed((t, payload))  # the broker's redelivery: a duplicate, absorbed
    t2, body2, _ = sample_alert(ingest.device.ids, event_id=eid, age=30.0)  # same id, other content
    ingest.feed((t2, ingest.device.sign(t2, body2, eid)))
    assert _count(ingest, Alert) == 1 and _reasons(ingest) == ["replayed"]
    assert ingest.ingestor.stats["duplicates"] == 1


def test_a_signed_id_that_is_not_the_alerts_is_refused(ingest):
    t, body, _ = sample_alert(ingest.device.ids)
    ingest.feed((t, ingest.device.sign(t, body, str(uuid7()))))
    assert _reasons(ingest) == ["invalid"]


def _stored_alert_with_crop(ingest):
    t, body, eid = sample_alert(ingest.device.ids)
    msg = pb.Alert.FromString(body)
    msg.evidence_available = True
    ingest.feed((t, ingest.device.sign(t, msg.SerializeToString(), eid)))
    return eid


def _evidence(ingest, eid: str, request_id: str, jpeg: bytes = b"jpeg-bytes") -> pb.Evidence:
    box, cipher = sealed.seal(sealed.load_public(ingest.cfg.private_key_path().with_suffix(".pub")), jpeg, eid)
    ev = pb.Evidence(
        request_id=request_id,
        event_id=eid,
        ciphertext=box,
        cipher=cipher,
        plaintext_sha256=hashlib.sha256(jpeg).hexdigest(),
    )
    ev.captured_at.GetCurrentTime()
    return ev


def _open_request(ingest, eid: str) -> str:
    from humiao.hub import evidence

    with ingest.sessions() as s:
        return evidence.request(s, lambda *_: None, eid, "inspector_request", ADMIN, "test")


def test_evidence_without_an_open_request_is_refused(ingest):
    eid = _stored_alert_with_crop(ingest)
    rid = str(uuid7())
    ingest.feed(ingest.signed("evidence", _evidence(ingest, eid, rid), rid))
    assert _reasons(ingest) == ["no_request"] and _count(ingest, Evidence) == 0


def test_evidence_for_a_request_is_stored_with_its_signature_and_a_second_crop_is_refused(ingest):
    eid = _stored_alert_with_crop(ingest)
    rid = _open_request(ingest, eid)
    first = _evidence(ingest, eid, rid)
    ingest.feed(ingest.signed("evidence", first, rid))
    ingest.feed(ingest.signed("evidence", first, rid))  # the same crop again: absorbed
    ingest.feed(ingest.signed("evidence", _evidence(ingest, eid, rid, b"another face"), rid))
    with ingest.sessions() as s:
        ev = s.get(Evidence, eid)
        assert ev is not None and ev.stored_sha256 == hashlib.sha256(first.ciphertext).hexdigest()
        assert ev.signer_key_id == ingest.device.signer.key_id and ev.signature
        assert s.get(EvidenceRequest, rid).fulfilled_at is not None
    assert _reasons(ingest) == ["conflict"]


def test_evidence_from_another_device_for_a_request_is_refused(ingest):
    eid = _stored_alert_with_crop(ingest)
    rid = _open_request(ingest, eid)
    other = enroll_device(ingest.cfg, None, ("d1", "venue1", "edge2"))
    t = other.topic("evidence")
    ingest.feed((t, other.sign(t, _evidence(ingest, eid, rid).SerializeToString(), rid)))
    assert _reasons(ingest) == ["wrong_device"] and _count(ingest, Evidence) == 0


def _check(eid: str, ids, result=pb.ID_CHECK_RESULT_ADULT_ADMITTED) -> pb.IdCheckOutcome:
    msg = pb.IdCheckOutcome(
        event_id=eid,
        check_id=str(uuid7()),
        origin=pb.Origin(district_id=ids[0], venue_id=ids[1], device_id=ids[2]),
        result=result,
        age_years=30,
        age_known=True,
        document=pb.DOCUMENT_TYPE_PASSPORT,
        method=pb.READ_METHOD_MANUAL,
        staff="desk-1",
    )
    msg.checked_at.GetCurrentTime()
    return msg


def test_an_id_check_for_another_devices_alert_is_refused(ingest):
    eid = _stored_alert_with_crop(ingest)
    other = enroll_device(ingest.cfg, None, ("d1", "venue1", "edge2"))
    msg = _check(eid, other.ids)
    t = other.topic("idcheck")
    ingest.feed((t, other.sign(t, msg.SerializeToString(), msg.check_id)))
    assert _reasons(ingest) == ["wrong_device"] and _count(ingest, IdCheck) == 0


def test_an_id_check_before_its_alert_waits_and_one_for_no_alert_is_kept_aside_later(ingest):
    t, body, eid = sample_alert(ingest.device.ids)
    early = _check(eid, ingest.device.ids)
    ingest.feed(ingest.signed("idcheck", early, early.check_id))
    assert _count(ingest, IdCheck) == 0 and _reasons(ingest) == [] and ingest.ingestor.stats["deferred"] == 1
    ingest.feed((t, ingest.device.sign(t, body, eid)))
    ingest.feed(ingest.signed("idcheck", early, early.check_id))  # the edge sends it again
    assert _count(ingest, IdCheck) == 1
    orphan = _check(str(uuid7()), ingest.device.ids)
    # waiting is counted from the check's own time (the edge signs every resend afresh)
    orphan.checked_at.FromSeconds(int(time.time() - ingest.cfg.security.unknown_alert_grace_s - 5))
    ingest.feed(ingest.signed("idcheck", orphan, orphan.check_id))
    assert _reasons(ingest) == ["unknown_alert"]


def test_an_id_check_sent_again_with_other_content_is_kept_aside(ingest):
    eid = _stored_alert_with_crop(ingest)
    first = _check(eid, ingest.device.ids)
    ingest.feed(ingest.signed("idcheck", first, first.check_id))
    ingest.feed(ingest.signed("idcheck", first, first.check_id))  # a resend: absorbed
    changed = pb.IdCheckOutcome()
    changed.CopyFrom(first)
    changed.result, changed.age_years = pb.ID_CHECK_RESULT_MINOR_REFUSED, 16
    ingest.feed(ingest.signed("idcheck", changed, changed.check_id))
    assert _count(ingest, IdCheck) == 1 and _reasons(ingest) == ["replayed"]
    with ingest.sessions() as s:
        assert s.scalars(select(IdCheck.result)).one() == "adult_admitted"


def test_a_status_or_alert_dated_after_its_signature_is_refused(ingest):
    """A status dated 2100 would otherwise hide every later status (and the Last Will) for good."""
    status = pb.Status(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), online=True)
    status.sent_at.FromSeconds(4102444800)  # 2100-01-01
    t, body, eid = sample_alert(ingest.device.ids)
    alert = pb.Alert.FromString(body)
    alert.decided_at.FromSeconds(4102444800)
    ingest.feed(ingest.signed("status", status), ingest.signed("alert", alert, eid))
    assert _reasons(ingest) == ["invalid", "invalid"] and _count(ingest, Alert) == 0


def test_a_message_that_fails_in_an_unforeseen_way_is_kept_aside_and_ingest_goes_on(ingest):
    """Once, a crop whose box began with a low-order key made the exchange raise ValueError, and an
    alert with a track id beyond 2^63 overflowed SQLite: the writer took both for a database outage
    and retried the batch for ever."""
    eid = _stored_alert_with_crop(ingest)
    rid = _open_request(ingest, eid)
    ev = _evidence(ingest, eid, rid)
    ev.ciphertext = bytes(32) + ev.ciphertext[32:]  # a low-order ephemeral key
    t, body, big = sample_alert(ingest.device.ids)
    huge = pb.Alert.FromString(body)
    huge.track_id = 2**64 - 1
    t2, ok, good = _alert(ingest)
    ingest.feed(ingest.signed("evidence", ev, rid), ingest.signed("alert", huge, big), (t2, ok))
    assert sorted(_reasons(ingest)) == ["invalid", "invalid"]
    with ingest.sessions() as s:
        assert set(s.scalars(select(Alert.event_id))) == {eid, good}


def test_births_are_remembered_only_once_committed(ingest):
    """A batch tried again after a failed transaction must not take its own births for replays; a birth delivered
    again is absorbed, another body under a known id is refused as a replay."""
    from humiao.hub.tables import Device

    birth = pb.Birth(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), software_version="1")
    birth.started_at.GetCurrentTime()
    payload = ingest.signed("birth", birth)
    ingest.ingestor.verifier.check(*payload)  # classified once (as a failed attempt would), not committed
    ingest.feed(payload)
    with ingest.sessions() as s:
        assert s.get(Device, "d1/venue1/edge1").software_version == "1"
    ingest.feed(payload)  # the same birth again (QoS 1: a PUBACK lost, the edge resends): absorbed
    ingest.feed(payload, payload)  # and twice in one batch
    assert _reasons(ingest) == []
    # another birth under the same id (a captured envelope's id with a body of the sender's making): a replay
    other = pb.Birth(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), software_version="2")
    other.started_at.GetCurrentTime()
    first_id = pb.Signed.FromString(payload[1]).id
    ingest.feed(ingest.signed("birth", other, first_id))
    assert _reasons(ingest) == ["replayed"]
    with ingest.sessions() as s:  # and it changed nothing
        assert s.get(Device, "d1/venue1/edge1").software_version == "1"


def test_a_key_swapped_in_the_database_is_not_trusted(ingest, tmp_path):
    """An insider who replaces a device's public key with their own cannot sign for it: the key id no
    longer matches the key, and the ring ignores the row."""
    from sqlalchemy import update

    from humiao.hub.tables import DeviceKey

    insider = signing.Signer.generate(tmp_path / "insider.key")
    with ingest.sessions() as s, s.begin():
        s.execute(update(DeviceKey).values(public_key=signing.public_text(insider.public)))
    ingest.ingestor.keys.refresh(force=True)
    t, body, eid = sample_alert(ingest.device.ids)
    env = pb.Signed.FromString(insider.sign(t, eid, body))
    env.key_id = ingest.device.signer.key_id  # claiming the enrolled key's id
    ingest.feed((t, env.SerializeToString()))
    assert _reasons(ingest) == ["unknown_device"] and _count(ingest, Alert) == 0


# -- ID-check outcomes: walk-ups and outcomes whose fields do not go together ---------------------------
def _details(ingest) -> list[tuple[str, str]]:
    with ingest.sessions() as s:
        return [(d.reason, d.detail) for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]


def test_a_walk_up_check_is_stored_once_and_raises_no_alarm(ingest):
    from humiao.hub import alarms, custody

    from tests.hub.outcomes import outcome

    walk_up = outcome(ingest.device.ids, "minor_refused", age=15)
    payload = ingest.signed("idcheck", walk_up, walk_up.check_id)
    ingest.feed(payload)
    ingest.feed(payload)  # the broker's redelivery: absorbed by its check id
    with ingest.sessions() as s:
        row = s.scalars(select(IdCheck)).one()
        assert (row.check_id, row.event_id, row.walk_up, row.result) == (walk_up.check_id, None, True, "minor_refused")
        assert (row.age_known, row.age_years, row.document, row.method, row.staff) == (
            True,
            15,
            "citizen_id",
            "chip",
            "desk-1",
        )
        assert row.alerted_at is None
        assert [f.ok for f in custody.check(s, walk_up.check_id)] == [True]  # checked by its check id
    with ingest.sessions() as s, s.begin():
        assert alarms.evaluate(s) == 0  # a walk-up is no alert: no alarm, no verdict
    assert ingest.ingestor.stats["duplicates"] == 1 and ingest.ingestor.stats["deferred"] == 0
    assert _reasons(ingest) == []


def test_a_walk_up_check_must_come_from_the_device_its_topic_names(ingest):
    from tests.hub.outcomes import outcome

    other = enroll_device(ingest.cfg, None, ("d1", "venue1", "edge2"))
    claims = outcome(("d1", "venue2", "edge2"), "adult_admitted")  # another venue's origin, on edge2's topic
    t = other.topic("idcheck")
    ingest.feed((t, other.sign(t, claims.SerializeToString(), claims.check_id)))
    mine = outcome(ingest.device.ids, "adult_admitted")
    ingest.feed((t, ingest.device.sign(t, mine.SerializeToString(), mine.check_id)))  # edge1's, as edge2's
    assert [r for r, _ in _details(ingest)] == ["invalid", "wrong_signer"] and _count(ingest, IdCheck) == 0


def test_every_kind_of_outcome_is_stored_with_the_words_keys(ingest):
    from humiao.proto import vocabulary

    from tests.hub.outcomes import outcome

    stored = {}
    for result in vocabulary.RESULTS:
        eid = _stored_alert_with_crop(ingest)
        extra = {"guardian_contact_recorded": True} if result == "minor_admitted_with_guardian" else {}
        msg = outcome(ingest.device.ids, result, eid, **extra)
        msg.alerted_at.CopyFrom(msg.checked_at)
        ingest.feed(ingest.signed("idcheck", msg, msg.check_id))
        stored[msg.check_id] = result
    assert _reasons(ingest) == []
    with ingest.sessions() as s:
        rows = {c.check_id: c for c in s.scalars(select(IdCheck))}
    assert {k: r.result for k, r in rows.items()} == stored  # vocabulary.wire_name: no prefix, lower case
    by_result = {r.result: r for r in rows.values()}
    assert by_result["minor_admitted_with_guardian"].guardian_contact_recorded
    assert not by_result["minor_admitted_with_guardian"].co_occupants_recorded
    assert by_result["no_id_refused"].document == "" and not by_result["no_id_refused"].age_known
    assert by_result["not_checked"].staff == "" and by_result["adult_admitted"].staff == "desk-1"
    assert all(not r.walk_up and r.alerted_at == r.checked_at for r in rows.values())


INCONSISTENT = [
    # (the outcome, the fields that spoil it, what the dead letter says)
    ("adult_admitted", {"age_years": 16, "under_14": False}, "adult_admitted with age_years 16 (under 18)"),
    ("adult_admitted", {"age_known": False, "age_years": 0}, "adult_admitted needs the age read from the ID"),
    ("minor_refused", {"age_years": 18}, "minor_refused with age_years 18 (18 or over)"),
    ("minor_admitted_with_guardian", {"age_years": 40}, "with age_years 40 (18 or over)"),
    ("minor_admitted", {"document": pb.DOCUMENT_TYPE_UNSPECIFIED}, "names an age, but no document or read method"),
    ("no_id_refused", {"age_known": True, "age_years": 16}, "no_id_refused carries an age"),
    ("left_before_check", {"document": pb.DOCUMENT_TYPE_PASSPORT}, "left_before_check carries a document"),
    ("not_checked", {"id_keyed_hash": "5e" * 32}, "not_checked carries a document, read method or keyed hash"),
    ("no_id_refused", {"age_years": 30}, "no_id_refused: age_known is false, but age_years 30"),
    ("adult_admitted", {"guardian_contact_recorded": True}, "the guardian record is set on adult_admitted"),
    ("minor_refused", {"co_occupants_recorded": True}, "the guardian record is set on minor_refused"),
    ("minor_refused", {"under_14": True}, "under_14 True does not agree with age_years 16"),
    ("adult_admitted", {"age_years": 300}, "age_years 300 is out of range"),
    ("not_checked", {"staff": "desk-1"}, "not_checked is recorded by the agent, but names staff"),
    ("adult_admitted", {"staff": "x" * 65}, "staff is 65 characters, at most 64"),
    ("adult_admitted", {"document": pb.DOCUMENT_TYPE_PASSPORT}, "only comes with a resident identity card"),
    ("adult_admitted", {"id_keyed_hash": "110105200001011234"}, "id_keyed_hash is not 64 lowercase hex digits"),
    ("no_id_refused", {"result": pb.ID_CHECK_RESULT_UNSPECIFIED}, "result is unspecified"),
    ("adult_admitted", {"result": 99}, "result 99 is not a known value"),
    ("adult_admitted", {"document": 42}, "document 42 is not a known value"),
    ("adult_admitted", {"walk_up": True}, "a walk-up check answers no alert, but names event_id"),
    ("adult_admitted", {"event_id": ""}, "event_id is missing (only a walk-up check answers no alert)"),
    ("adult_admitted", {"id_keyed_hash": ""}, "a resident identity card comes with its keyed hash"),
    ("minor_refused", {"checksum_valid": False}, "a resident identity card comes with its keyed hash"),
    (
        "adult_admitted",
        {"document": pb.DOCUMENT_TYPE_PASSPORT, "id_keyed_hash": "", "checksum_valid": False},
        "read method chip reads only a resident identity card",
    ),
    ("minor_refused", {"staff": ""}, "minor_refused names no member of staff"),
    ("no_id_refused", {"staff": ""}, "no_id_refused names no member of staff"),
]


def test_outcomes_whose_fields_do_not_go_together_are_kept_aside_as_invalid(ingest):
    from datetime import timedelta

    from tests.hub.outcomes import outcome

    eid = _stored_alert_with_crop(ingest)
    ids = ingest.device.ids
    for kind, fields, _ in INCONSISTENT:
        msg = outcome(ids, kind, eid, **fields)
        ingest.feed(ingest.signed("idcheck", msg, msg.check_id))
    walk_up_not_checked = outcome(ids, "not_checked")
    walk_up_alerted = outcome(ids, "adult_admitted")
    walk_up_alerted.alerted_at.CopyFrom(walk_up_alerted.checked_at)
    alerted_later = outcome(ids, "adult_admitted", eid)
    alerted_later.alerted_at.FromDatetime(datetime.now(UTC) + timedelta(minutes=5))
    from_the_future = outcome(ids, "adult_admitted", eid, checked_at=datetime.now(UTC) + timedelta(minutes=10))
    for msg in (walk_up_not_checked, walk_up_alerted, alerted_later, from_the_future):
        ingest.feed(ingest.signed("idcheck", msg, msg.check_id))
    details = _details(ingest)
    expected = [why for _, _, why in INCONSISTENT] + [
        "not_checked is the agent's answer to an alert, never a walk-up check",
        "a walk-up check has no alert, but carries alerted_at",
        "checked_at is before alerted_at",
        "checked_at is in the future",
    ]
    assert len(details) == len(expected) and {r for r, _ in details} == {"invalid"}
    for (_, detail), why in zip(details, expected, strict=True):
        assert why in detail, (why, detail)
    assert _count(ingest, IdCheck) == 0
    # and a well-formed one of each group still goes in: the checks refuse only what does not go together
    for msg in (outcome(ids, "minor_admitted", eid, co_occupants_recorded=True), outcome(ids, "left_before_check")):
        ingest.feed(ingest.signed("idcheck", msg, msg.check_id))
    assert _count(ingest, IdCheck) == 2


def test_the_replay_memory_holds_one_status_per_device(ingest):
    """A fleet sends a status every 30 s per device: the worker remembers only each device's latest status id
    (its memory stayed flat in a 10-minute soak only once statuses stopped filling the births' and deaths'
    replay memory), and that latest status delivered again (retained, after a reconnect) is ignored."""
    verifier = ingest.ingestor.verifier
    births_and_deaths = len(verifier._recent)
    payloads = []
    for _ in range(50):
        status = pb.Status(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), online=True)
        status.sent_at.GetCurrentTime()
        payloads.append(ingest.signed("status", status))
    ingest.feed(*payloads[:25])
    ingest.feed(*payloads[25:])
    assert len(verifier._recent) == births_and_deaths and len(verifier._last_status) == 1
    assert verifier.check(*payloads[-1], True) is None  # the latest again, retained: ignored
    assert _reasons(ingest) == []


def test_a_last_will_signed_long_ago_marks_the_device_offline(ingest):
    """A device's Last Will is signed when it connects, and the broker sends it when the device is gone, often
    days later: it is not a message "dated after its signature" (each will of a fleet soak was dead-lettered)."""
    from humiao.hub.tables import Device

    online = pb.Status(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), online=True)
    online.sent_at.FromSeconds(int(time.time()) - 7200)
    will = pb.Status(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), online=False)
    ingest.feed(ingest.signed("status", online, at=time.time() - 7200))
    ingest.feed(ingest.signed("status", will, at=time.time() - 7200))  # connected two hours ago, gone now
    assert _reasons(ingest) == []
    with ingest.sessions() as s:
        assert s.get(Device, "d1/venue1/edge1").online is False
