"""The evidence service audits every request and every view itself, whoever asks — an inspector,
the rules, a command on the hub host — in the transaction that records it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from humiao.hub import audit, evidence, store
from humiao.hub.access import Principal
from humiao.hub.tables import AuditEvent, Evidence, EvidenceRequest
from humiao.hub.validate import alert_row
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import sealed
from humiao.proto.topics import parse

from tests.support import wire

pytestmark = pytest.mark.services
INSPECTOR = Principal("ct-1", "culture_tourism", "d1")


def _alert(s) -> str:
    t, payload, eid = wire.alert()
    msg = pb.Alert.FromString(payload)
    msg.evidence_available = True
    now = datetime.now(UTC)
    store.alerts(s, [{**alert_row(msg, parse(t), now), "stored_at": now}])
    s.commit()
    return eid


def _audit_rows(s) -> list[tuple]:
    return s.execute(select(AuditEvent.user_id, AuditEvent.role, AuditEvent.action, AuditEvent.object_id)).all()


def test_a_request_by_the_rules_is_audited_as_the_rules(db):
    sent = []
    with db() as s:
        eid = _alert(s)
        rid = evidence.request(s, lambda t, i, p: sent.append((t, i, p)), eid, "violation_confirmed", evidence.RULES)
        assert s.get(EvidenceRequest, rid) is not None and len(sent) == 1
        assert sent[0][1] == rid  # signed under the request id (hub/ingest.py signs what it publishes)
        assert _audit_rows(s) == [("rules", "system", "evidence.request", eid)]
        assert audit.verify(s).ok


def test_a_refused_request_writes_nothing(db):
    with db() as s:
        with pytest.raises(evidence.EvidenceError, match="no alert"):
            evidence.request(
                s, lambda t, i, p: None, "01a2089c-0000-7000-8000-000000000000", "inspector_request", INSPECTOR, "why"
            )
        assert _audit_rows(s) == []


def test_a_view_is_audited_before_the_crop_is_opened(db, tmp_path):
    key = tmp_path / "hub.key"
    sealed.generate_keypair(key, key.with_suffix(".pub"))
    private, public = sealed.load_private(key), sealed.load_public(key.with_suffix(".pub"))
    with db() as s:
        eid = _alert(s)
        with pytest.raises(evidence.EvidenceMissing, match="request it from the edge first"):
            evidence.open_for(s, private, eid, INSPECTOR, "complaint 42")
        assert _audit_rows(s) == []  # nothing shown, nothing recorded as seen
        box, cipher = sealed.seal(public, b"\xff\xd8 jpeg", eid)
        now = datetime.now(UTC)
        s.add(
            Evidence(
                event_id=eid,
                request_id="r1",
                ciphertext=box,
                cipher=cipher,
                plaintext_sha256="a" * 64,
                stored_sha256="b" * 64,
                captured_at=now,
                received_at=now,
                purge_after=now,
            )
        )
        s.commit()
        _ev, jpeg = evidence.open_for(s, private, eid, INSPECTOR, "complaint 42", "10.0.0.7")
        assert jpeg == b"\xff\xd8 jpeg"
        assert _audit_rows(s) == [("ct-1", "culture_tourism", "evidence.view", eid)]
