"""The broker's rules (proto/acl.py), enrolment documents (proto/enrolment.py) and the device's
identity files (edge/identity.py): who may publish and subscribe where; a request that is altered or
not made by its key is refused; secrets are 0600 and only the hub can open the device's password."""

from __future__ import annotations

import json

import pytest

from humiao.edge.config import EdgeConfig
from humiao.edge.identity import DeviceIdentity, NotEnrolled, enroll
from humiao.proto import acl, sealed, signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest, TrustFile

from tests.support.devices import STAND_IN_CA
from tests.support.files import mode


def test_a_device_publishes_only_its_own_edge_kinds_and_reads_only_its_own_hub_kinds():
    rules = acl.device_rules("d1", "v1", "e1")
    assert acl.allowed(rules, "publish", "humiao/v1/d1/v1/e1/alert")
    assert acl.allowed(rules, "publish", "humiao/v1/d1/v1/e1/idcheck")
    assert not acl.allowed(rules, "publish", "humiao/v1/d1/v1/e2/alert")  # another device
    assert not acl.allowed(rules, "publish", "humiao/v1/d1/v1/e1/receipt")  # a hub kind
    assert not acl.allowed(rules, "publish", "humiao/v1/d1/v1/e1/selfie")
    assert acl.allowed(rules, "subscribe", "humiao/v1/d1/v1/e1/evidence_request")
    assert acl.allowed(rules, "receive", "humiao/v1/d1/v1/e1/receipt")
    for stolen in (
        "humiao/#",
        "humiao/v1/+/+/+/alert",
        "$share/hub/humiao/v1/+/+/+/alert",
        "humiao/v1/d1/v1/+/receipt",
    ):
        assert not acl.allowed(rules, "subscribe", stolen), stolen
    assert not acl.allowed(rules, "receive", "humiao/v1/d1/v1/e2/receipt")


def test_only_hub_workers_join_the_hubs_shared_subscription():
    worker = acl.hub_worker_rules("hub")
    assert all(acl.allowed(worker, "subscribe", f) for f in acl.hub_subscriptions("hub"))
    assert "$share/hub/humiao/v1/+/+/+/alert" in acl.hub_subscriptions("hub")
    assert not acl.allowed(worker, "subscribe", "$share/other/humiao/v1/+/+/+/alert")
    assert not acl.allowed(worker, "publish", "humiao/v1/d1/v1/e1/alert")  # a worker cannot speak for a device
    assert acl.allowed(worker, "publish", "humiao/v1/d1/v1/e1/receipt")
    cli = acl.hub_cli_rules()
    assert acl.allowed(cli, "publish", "humiao/v1/d1/v1/e1/evidence_request")
    assert not acl.allowed(cli, "publish", "humiao/v1/d1/v1/e1/evidence_ack")
    tail = acl.tail_rules()
    assert acl.allowed(tail, "subscribe", "humiao/v1/#") and not any(r.action == "publish" for r in tail)


def test_identities_are_named_from_topic_safe_ids():
    assert acl.device_username("d1", "v1", "e1") == "edge.d1.v1.e1"
    assert acl.device_of("edge.d1.v1.e1") == ("d1", "v1", "e1")
    assert acl.device_of("hub.w1") is None and acl.device_of("edge.d1.v1") is None
    with pytest.raises(ValueError):
        acl.device_username("d1", "v.1", "e1")  # a dot would make names ambiguous
    with pytest.raises(ValueError):
        acl.hub_username("W 1")


def _trust(tmp_path) -> tuple[TrustFile, object]:
    hub_key = tmp_path / "hub" / "evidence.key"
    sealed.generate_keypair(hub_key, hub_key.with_suffix(".pub"))
    hub_signer = signing.Signer.generate(tmp_path / "hub" / "sign.key")
    trust = TrustFile(
        hub_signing_key=signing.public_text(hub_signer.public),
        hub_evidence_key=sealed.public_text(sealed.load_public(hub_key.with_suffix(".pub"))),
        ca_pem=STAND_IN_CA,
        broker_host="broker.example",
        broker_port=8883,
    )
    (tmp_path / "trust.json").write_text(trust.dumps())
    return trust, sealed.load_private(hub_key)


def _edge(tmp_path) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {"device": {"district_id": "d1", "venue_id": "v1", "device_id": "e1", "state_dir": str(tmp_path / "edge")}}
    )


def test_enrolment_makes_the_key_on_the_device_and_only_the_hub_opens_the_password(tmp_path):
    _trust_file, hub_private = _trust(tmp_path)
    cfg = _edge(tmp_path)
    with pytest.raises(NotEnrolled, match="humiao edge enroll"):
        DeviceIdentity.load(cfg)
    out, request = enroll(cfg, tmp_path / "trust.json")
    ident = DeviceIdentity.load(cfg)
    where = tmp_path / "edge" / "identity"
    assert mode(where) == 0o700 and mode(where / "device.key") == 0o600 and mode(where / "broker.password") == 0o600
    assert ident.username == "edge.d1.v1.e1" and ident.signer.key_id == request.key_id
    loaded = EnrolmentRequest.load(out)
    assert loaded.broker_password(hub_private) == (where / "broker.password").read_text().strip()
    text = out.read_text()
    assert (where / "broker.password").read_text().strip() not in text  # only sealed in the request
    assert "PRIVATE" not in text and (where / "device.key").read_text().strip() not in text
    # enrolling again keeps the key (the hub enrols the same key again); --new-key replaces it
    assert enroll(cfg, tmp_path / "trust.json")[1].key_id == request.key_id
    assert enroll(cfg, tmp_path / "trust.json", new_key=True)[1].key_id != request.key_id


def test_an_altered_or_foreign_enrolment_request_is_refused(tmp_path):
    trust, hub_private = _trust(tmp_path)
    out, _ = enroll(_edge(tmp_path), tmp_path / "trust.json")
    data = json.loads(out.read_text())
    for field, value in (
        ("venue_id", "v2"),
        ("device_id", "e9"),
        ("public_key", signing.public_text(signing.Signer.generate(tmp_path / "other.key").public)),
    ):
        with pytest.raises(EnrolmentError, match="signature does not verify"):
            EnrolmentRequest.load(json.dumps({**data, field: value}))
    with pytest.raises(EnrolmentError, match="not a Humiao enrolment request"):
        EnrolmentRequest.load(json.dumps({**data, "kind": "x"}))
    with pytest.raises(EnrolmentError, match="not JSON"):
        EnrolmentRequest.load(b"\xff")
    # a request made with another hub's trust file: this hub cannot open its password
    other_key = tmp_path / "other" / "evidence.key"
    sealed.generate_keypair(other_key, other_key.with_suffix(".pub"))
    with pytest.raises(EnrolmentError, match="not sealed to this hub"):
        EnrolmentRequest.load(out).broker_password(sealed.load_private(other_key))
    assert EnrolmentRequest.load(out).broker_password(hub_private)


def test_a_trust_file_must_be_whole(tmp_path):
    trust, _ = _trust(tmp_path)
    data = json.loads(trust.dumps())
    for broken, match in (
        ({**data, "kind": "x"}, "not a Humiao hub trust file"),
        ({k: v for k, v in data.items() if k != "ca_pem"}, "missing or bad field"),
        ({**data, "hub_signing_key": "AAAA"}, "hub_signing_key"),
        ({**data, "ca_pem": "hello"}, "not a PEM certificate"),
    ):
        with pytest.raises(EnrolmentError, match=match):
            TrustFile.load(json.dumps(broken))


def test_keys_are_made_once_when_several_workers_start_together(tmp_path):
    """Two hub workers on a fresh data directory must end up with the same keys (the first one's)."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "hub" / "hub-signing.key"
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: signing.Signer.load_or_generate(path).key_id, range(16)))
    assert len(ids) == 1 and mode(path) == 0o600
    evidence = tmp_path / "hub" / "evidence.key"
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: sealed.ensure_keypair(evidence, evidence.with_suffix(".pub")), range(16)))
    assert made.count(True) == 1 and mode(evidence) == 0o600
    public = sealed.load_private(evidence).public_key()
    assert sealed.public_text(public) == evidence.with_suffix(".pub").read_text().strip()
    assert not list((tmp_path / "hub").glob(".*.tmp"))  # no half-made files left behind
