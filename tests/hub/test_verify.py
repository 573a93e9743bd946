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
    changed.result = pb.ID_CHECK_RESULT_MINOR_REFUSED
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
    """A batch tried again after a failed transaction must not take its own births for replays."""
    from humiao.hub.tables import Device

    birth = pb.Birth(origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"), software_version="1")
    birth.started_at.GetCurrentTime()
    payload = ingest.signed("birth", birth)
    ingest.ingestor.verifier.check(*payload)  # classified once (as a failed attempt would), not committed
    ingest.feed(payload)
    with ingest.sessions() as s:
        assert s.get(Device, "d1/venue1/edge1").software_version == "1"
    ingest.feed(payload)  # now a replay
    assert _reasons(ingest) == ["replayed"]


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
