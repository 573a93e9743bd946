"""Chain of custody: a stored alert, its ID check and its evidence are checked against what the device
signed, and any change made to them afterwards is named (hub/custody.py, ``humiao hub audit custody``)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import yaml
from sqlalchemy import select, update

from humiao.hub import custody, devices, evidence
from humiao.hub.tables import Alert, Evidence, IdCheck
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import sealed
from humiao.proto.ids import uuid7

from tests.support.devices import ADMIN
from tests.support.services import ROOT, sample_alert


def _stored_with_check_and_crop(ingest) -> str:
    t, body, eid = sample_alert(ingest.device.ids)
    alert = pb.Alert.FromString(body)
    alert.evidence_available = True
    ingest.feed((t, ingest.device.sign(t, alert.SerializeToString(), eid)))
    check = pb.IdCheckOutcome(
        event_id=eid,
        check_id=str(uuid7()),
        origin=alert.origin,
        result=pb.ID_CHECK_RESULT_MINOR_REFUSED,
        age_years=16,
        age_known=True,
        id_keyed_hash="ab" * 32,
        checksum_valid=True,
        document=pb.DOCUMENT_TYPE_CITIZEN_ID,
        method=pb.READ_METHOD_CHIP,
        staff="desk-1",
    )
    check.alerted_at.CopyFrom(alert.decided_at)
    check.checked_at.GetCurrentTime()
    ingest.feed(ingest.signed("idcheck", check, check.check_id))
    with ingest.sessions() as s:
        rid = evidence.request(s, lambda *_: None, eid, "inspector_request", ADMIN, "test")
    jpeg = b"\xff\xd8 a face"
    box, cipher = sealed.seal(sealed.load_public(ingest.cfg.private_key_path().with_suffix(".pub")), jpeg, eid)
    ev = pb.Evidence(
        request_id=rid, event_id=eid, ciphertext=box, cipher=cipher, plaintext_sha256=hashlib.sha256(jpeg).hexdigest()
    )
    ev.captured_at.GetCurrentTime()
    ingest.feed(ingest.signed("evidence", ev, rid))
    return eid


def _findings(ingest, eid: str) -> dict[str, str | None]:
    with ingest.sessions() as s:
        return {f.record.split()[0]: (None if f.ok else f.detail) for f in custody.check(s, eid)}


def test_untouched_records_hold(ingest):
    eid = _stored_with_check_and_crop(ingest)
    assert _findings(ingest, eid) == {"alert": None, "ID": None, "evidence": None}
    # revoking the key later does not undo what it signed while it was valid
    with ingest.sessions() as s:
        devices.revoke(s, None, "/".join(ingest.device.ids), ADMIN, "box replaced")
    assert _findings(ingest, eid) == {"alert": None, "ID": None, "evidence": None}


def test_changes_made_after_storing_are_named(ingest):
    eid = _stored_with_check_and_crop(ingest)
    with ingest.sessions() as s, s.begin():
        s.execute(update(Alert).where(Alert.event_id == eid).values(p_minor=0.01))  # "he looked adult"
        s.execute(update(IdCheck).where(IdCheck.event_id == eid).values(result="adult_admitted"))
        ev = s.get(Evidence, eid)
        s.execute(update(Evidence).where(Evidence.event_id == eid).values(ciphertext=ev.ciphertext[:-1] + b"\x00"))
    found = _findings(ingest, eid)
    assert "p_minor" in found["alert"] and "result" in found["ID"] and "stored_sha256" in found["evidence"]


def test_a_moved_time_or_a_swapped_body_breaks_the_signature(ingest):
    eid = _stored_with_check_and_crop(ingest)
    with ingest.sessions() as s, s.begin():
        row = s.scalars(select(Alert).where(Alert.event_id == eid)).one()
        s.execute(update(Alert).where(Alert.event_id == eid).values(signed_at=row.signed_at.replace(year=2025)))
        other = pb.Alert.FromString(row.signed_body)
        other.p_minor = 0.01
        body = other.SerializeToString()
        s.execute(
            update(IdCheck)
            .where(IdCheck.event_id == eid)
            .values(signed_body=body, body_sha256=hashlib.sha256(body).hexdigest())
        )
    found = _findings(ingest, eid)
    assert "does not verify" in found["alert"] and "does not verify" in found["ID"]


def test_the_command_prints_the_findings_and_fails_on_a_change(ingest, tmp_path):
    eid = _stored_with_check_and_crop(ingest)
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(ingest.cfg.data_dir)}))

    def run():
        return subprocess.run(
            [sys.executable, "-m", "humiao.cli", "hub", "audit", "custody", eid, "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    ok = run()
    assert ok.returncode == 0 and ok.stdout.count("ok ") == 3, ok.stdout + ok.stderr
    with ingest.sessions() as s, s.begin():
        s.execute(update(Alert).where(Alert.event_id == eid).values(decision="pass"))
    bad = run()
    assert bad.returncode == 1 and "FAILED  alert" in bad.stderr and "decision" in bad.stderr


def test_the_outcomes_new_fields_are_checked_too(ingest):
    """The document, the guardian record, the staff account and the times come from the signed body as
    much as the result does: a change to any of them is named."""
    eid = _stored_with_check_and_crop(ingest)
    for column, value in (
        ("guardian_contact_recorded", True),
        ("document", "passport"),
        ("staff", "someone-else"),
        ("walk_up", True),
    ):
        with ingest.sessions() as s, s.begin():
            before = getattr(s.scalars(select(IdCheck).where(IdCheck.event_id == eid)).one(), column)
            s.execute(update(IdCheck).where(IdCheck.event_id == eid).values({column: value}))
        found = _findings(ingest, eid)
        assert found["ID"] is not None and column in found["ID"], (column, found)
        with ingest.sessions() as s, s.begin():
            s.execute(update(IdCheck).where(IdCheck.event_id == eid).values({column: before}))
    assert _findings(ingest, eid)["ID"] is None  # put back: it holds again


def test_a_check_stored_before_the_outcome_was_extended_still_holds(ingest):
    """A row from before migration 0010 (and before the hub checked how an outcome's fields go together):
    its signed body has none of the new fields, and the row their defaults. Custody maps the body as it
    was signed, without refusing it for what the hub checks today."""
    from datetime import UTC, datetime

    from humiao.hub import store
    from humiao.hub.validate import idcheck_fields
    from humiao.proto.topics import parse

    t, body, eid = sample_alert(ingest.device.ids)
    ingest.feed((t, ingest.device.sign(t, body, eid)))
    old = pb.IdCheckOutcome(
        event_id=eid,
        check_id=str(uuid7()),
        origin=pb.Origin(district_id="d1", venue_id="venue1", device_id="edge1"),
        result=pb.ID_CHECK_RESULT_ADULT_ADMITTED,
        age_years=30,  # an age without age_known: refused today, signed and stored then
    )
    old.checked_at.GetCurrentTime()
    topic_name, payload = ingest.signed("idcheck", old, old.check_id)
    verified = ingest.ingestor.verifier.check(topic_name, payload, False)
    row = idcheck_fields(old, parse(topic_name), datetime.now(UTC)) | verified.signature_fields(keep_body=True)
    with ingest.sessions() as s, s.begin():
        assert store.id_checks(s, [row]) == {old.check_id}
    with ingest.sessions() as s:
        stored = s.scalars(select(IdCheck)).one()
        assert (stored.age_known, stored.document, stored.walk_up, stored.staff) == (False, "", False, "")
    assert _findings(ingest, eid) == {"alert": None, "ID": None}
