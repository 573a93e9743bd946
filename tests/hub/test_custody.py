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
    )
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
