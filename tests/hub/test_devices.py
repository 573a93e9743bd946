"""Enrolment and revocation at the hub (hub/devices.py): the registry decides where a device may be
enrolled, one active key per device, every enrolment and revocation audited, a revocation whose
broker step failed can be finished later."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from humiao.hub import devices
from humiao.hub.tables import AuditEvent, DeviceKey
from humiao.proto.enrolment import EnrolmentError

from tests.support.devices import ADMIN


class Broker:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def add_device(self, username, password, rules):
        assert password and any(r.action == "publish" for r in rules)
        self.calls.append(("add", username))

    def disable(self, username):
        self.calls.append(("disable", username))


def _audit(ingest) -> list[tuple[str, str, str]]:
    with ingest.sessions() as s:
        return [(e.action, e.object_id, e.why) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_enrolment_and_revocation_are_audited_and_one_key_is_active(ingest, tmp_path):
    from humiao.edge.identity import enroll

    trust = ingest.cfg.data_dir / "hub-trust.json"
    # the fixture enrolled d1/venue1/edge1 once; the same key again is audited again, still one key
    _, same = enroll(ingest.device.edge_config, trust)
    with ingest.sessions() as s:
        devices.enroll(s, None, same, ingest.cfg, ADMIN)
        assert len(list(s.scalars(select(DeviceKey)))) == 1
    # a new key without replace is refused; with replace the old one is revoked
    from humiao.edge.identity import enroll

    _, request = enroll(ingest.device.edge_config, trust, new_key=True)
    broker = Broker()
    with ingest.sessions() as s, pytest.raises(EnrolmentError, match="enrol with --replace"):
        devices.enroll(s, broker, request, ingest.cfg, ADMIN)
    with ingest.sessions() as s:
        devices.enroll(s, broker, request, ingest.cfg, ADMIN, replace=True)
        states = {k.key_id: k.revoked_at is not None for k in s.scalars(select(DeviceKey))}
    assert states == {ingest.device.signer.key_id: True, request.key_id: False}
    assert broker.calls == [("add", "edge.d1.venue1.edge1")]
    actions = [a for a, _, _ in _audit(ingest)]
    assert actions == ["device.enroll", "device.enroll", "device.revoke", "device.enroll"]
    assert _audit(ingest)[1][2].endswith("again")


def test_a_revocation_can_be_finished_after_the_broker_failed(ingest):
    with ingest.sessions() as s:
        first = devices.revoked_or_revoke(s, "d1/venue1/edge1", ADMIN, "stolen")
        assert first.revoked_at is not None
        again = devices.revoked_or_revoke(s, "d1/venue1/edge1", ADMIN, "stolen")
        assert again.key_id == first.key_id  # nothing more to revoke at the hub: the broker step is retried
        with pytest.raises(EnrolmentError, match="no enrolled key"):
            devices.revoked_or_revoke(s, "d1/venue1/edge9", ADMIN, "x")
    assert [a for a, _, _ in _audit(ingest)].count("device.revoke") == 1


def test_a_device_is_enrolled_only_where_the_registry_has_its_venue(ingest):
    from humiao.edge.config import EdgeConfig
    from humiao.edge.identity import enroll

    cfg = EdgeConfig.model_validate(
        {
            "device": {
                "district_id": "d2",
                "venue_id": "venue1",
                "device_id": "e1",
                "state_dir": str(ingest.cfg.data_dir / "x"),
            }
        }
    )
    _, request = enroll(cfg, ingest.cfg.data_dir / "hub-trust.json")  # venue1 is in district d1, not d2
    with ingest.sessions() as s, pytest.raises(EnrolmentError, match="not in the registry of district 'd2'"):
        devices.enroll(s, None, request, ingest.cfg, ADMIN)


def test_a_request_made_with_an_altered_trust_file_is_refused(ingest, tmp_path):
    """Someone who swaps the hub's signing key (or the CA) in the trust file on its way to the device
    would be trusted by the device; the request says which trust file the device took."""
    import json

    from humiao.edge.identity import enroll
    from humiao.proto import signing

    data = json.loads((ingest.cfg.data_dir / "hub-trust.json").read_text())
    data["hub_signing_key"] = signing.public_text(signing.Signer.generate(tmp_path / "mitm.key").public)
    (tmp_path / "altered.json").write_text(json.dumps(data))
    _, request = enroll(ingest.device.edge_config, tmp_path / "altered.json", new_key=True)
    with ingest.sessions() as s, pytest.raises(EnrolmentError, match="not this hub's"):
        devices.enroll(s, None, request, ingest.cfg, ADMIN, replace=True)
