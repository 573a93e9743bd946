"""`humiao hub request-evidence` beside a running hub worker, on real Mosquitto: the request reaches
the device and is audited by the evidence service under the account that asked, and the worker keeps
its session and its shared subscription (the command once took the worker's client id, so the broker
dropped the worker while it ran)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, select

from humiao.hub.tables import AuditEvent
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing

from tests.support.devices import enroll_device
from tests.support.hubproc import HubProcess, hub_config, stored_ids, wait_for
from tests.support.services import sample_alert

pytestmark = pytest.mark.services

UNKNOWN = "01a2089c-0000-7000-8000-000000000000"


def _add_inspector(hub: HubProcess) -> None:
    """The account ct-1 (culture & tourism, district d1) in the hub's database."""
    args = ("users", "add", "ct-1", "--role", "culture_tourism", "--district", "d1", "--password-stdin")
    added = hub.command(*args, stdin="a long enough password 2026\n")
    assert added.returncode == 0, added.stderr


def test_the_cli_asks_the_edge_without_displacing_the_hub_worker(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    enrolled = enroll_device(cfg, broker)
    hub = HubProcess(tmp_path, cfg).start()
    requests: list[bytes] = []
    got = threading.Event()
    device = enrolled.client()
    device.on_message = lambda _c, _u, m: (requests.append(m.payload), got.set())
    device.subscribe(enrolled.topic("evidence_request"), qos=1)
    try:
        t, payload, first = sample_alert(enrolled.ids)
        msg = pb.Alert.FromString(payload)
        msg.evidence_available = True
        device.publish(t, enrolled.sign(t, msg.SerializeToString(), first), qos=1).wait_for_publish(5)
        assert wait_for(lambda: first in stored_ids(db_url), 30)
        _add_inspector(hub)

        done = hub.command(
            "request-evidence", first, "--reason", "inspector_request", "--by", "ct-1", "--why", "complaint 42"
        )
        assert done.returncode == 0, done.stderr
        assert got.wait(10), "the device never got the request"
        env = signing.unwrap(requests[0])
        signing.verify(env, enrolled.topic("evidence_request"), enrolled.identity.hub_public)  # signed by the hub
        req = pb.EvidenceRequest.FromString(env.body)
        assert req.event_id == first and req.requested_by == "ct-1" and req.request_id in done.stdout
        engine = create_engine(db_url)
        with engine.connect() as conn:  # the evidence service audited it, under the account that asked
            rows = conn.execute(
                select(AuditEvent.user_id, AuditEvent.role, AuditEvent.action, AuditEvent.object_id, AuditEvent.why)
            ).all()
        engine.dispose()
        assert ("ct-1", "culture_tourism", "evidence.request", first, "complaint 42") in rows

        # the worker was not displaced: it still holds its session and takes the next alert
        t2, p2, second = enrolled.alert()
        device.publish(t2, p2, qos=1).wait_for_publish(5)
        assert wait_for(lambda: second in stored_ids(db_url), 30)
        log = hub.log.read_text()
        assert "disconnected" not in log, log[-2000:]
        assert hub.proc is not None and hub.proc.poll() is None
    finally:
        device.disconnect()
        device.loop_stop()
        hub.stop()


def test_the_cli_refuses_a_requester_without_an_account(broker, tmp_path):
    hub = HubProcess(tmp_path, hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker))
    done = hub.command("request-evidence", UNKNOWN, "--reason", "inspector_request", "--by", "nobody")
    assert done.returncode == 2 and "No active account 'nobody'" in done.stderr


def test_the_cli_refuses_an_unknown_alert_with_a_clear_error(broker, tmp_path):
    hub = HubProcess(tmp_path, hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker))
    _add_inspector(hub)
    done = hub.command("request-evidence", UNKNOWN, "--reason", "inspector_request", "--by", "ct-1")
    assert done.returncode == 2 and f"error: There is no alert {UNKNOWN}" in done.stderr
