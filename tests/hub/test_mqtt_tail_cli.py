"""``humiao mqtt tail`` when the broker does not speak the MQTT version asked for: exit code 2 and an
error naming the other ``--protocol``, instead of waiting for ever or exiting 0.

Two kinds of broker: the demo's own (amqtt, MQTT 3.1.1 only, a real broker: given an MQTT 5 CONNECT
it says nothing), and a stand-in for what no broker here can be made to do (Mosquitto speaks both
versions, with no setting to refuse one): a TLS listener that reads each CONNECT and answers with the
CONNACK a broker refusing the version sends — return code 0x01 "unacceptable protocol version"
(MQTT 3.1.1) or reason code 0x84 "Unsupported Protocol Version" (MQTT 5) — or closes the connection
unanswered. On the wire that is all such a broker does, so the stand-in is faithful for this."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from humiao import pki
from humiao.files import write_private_text
from humiao.proto import acl

from tests.support.hubproc import ROOT
from tests.support.mosquitto import free_port

TAIL_PASSWORD = "tail-password-for-tests"


def tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1."""
    ca, ca_key = pki.make_ca(workdir / "pki")
    cert, key = pki.make_server_cert(workdir / "pki", ca, ca_key, ["127.0.0.1", "localhost"])
    return ca, cert, key


def hub_yaml(workdir: Path, ca: Path, port: int) -> Path:
    """A hub configuration whose broker is 127.0.0.1:port, with hub.tail's password and the CA."""
    secrets = workdir / "secrets"
    write_private_text(secrets / f"{acl.TAIL}.password", TAIL_PASSWORD + "\n")
    (secrets / "ca.crt").write_text(ca.read_text())
    path = workdir / "hub.yaml"
    path.write_text(
        yaml.safe_dump({"data_dir": str(workdir / "hub"), "mqtt": {"port": port, "secrets_dir": str(secrets)}})
    )
    return path


def tail(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "humiao.cli", "mqtt", "tail", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


class ConnackServer:
    """A TLS listener on 127.0.0.1 that reads each CONNECT, keeps its protocol level, and answers it
    with ``connack`` (an empty one: closes the connection without an answer)."""

    def __init__(self, cert: Path, key: Path, connack: bytes):
        self.connack = connack
        self.levels: list[int] = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    packet = self._read_packet(conn)
                    name_len = int.from_bytes(packet[0:2], "big")
                    self.levels.append(packet[2 + name_len])  # 4: MQTT 3.1.1, 5: MQTT 5, 3: MQTT 3.1
                    if self.connack:
                        conn.sendall(self.connack)
            except (OSError, IndexError):
                continue

    @staticmethod
    def _read_packet(conn) -> bytes:
        """One MQTT packet's variable header and payload (CONNECT: first byte 0x10)."""
        assert conn.recv(1) == b"\x10"
        length, shift = 0, 0
        while True:
            byte = conn.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        data = b""
        while len(data) < length:
            data += conn.recv(length - len(data))
        return data

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize(
    ("protocol", "connack", "said", "hint"),
    [
        ("3.1.1", b"\x20\x02\x00\x01", "refused the connection: Unsupported protocol version", "try --protocol 5"),
        ("5", b"\x20\x03\x00\x84\x00", "refused the connection: Unsupported protocol version", "try --protocol 3.1.1"),
        ("5", b"", "closed the connection without answering the MQTT 5 CONNECT", "try --protocol 3.1.1"),
    ],
    ids=["3.1.1-return-code-1", "5-reason-0x84", "5-closed-unanswered"],
)
def test_a_refused_protocol_version_exits_2_naming_the_other_protocol(tmp_path, protocol, connack, said, hint):
    ca, cert, key = tls_files(tmp_path)
    server = ConnackServer(cert, key, connack)
    try:
        done = tail(hub_yaml(tmp_path, ca, server.port), "--protocol", protocol)
    finally:
        server.close()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: the broker at 127.0.0.1:") and done.stderr.count("\n") == 1, done.stderr
    assert said in done.stderr and hint in done.stderr, done.stderr
    assert server.levels[0] == (5 if protocol == "5" else 4), server.levels


def test_mqtt5_against_the_demos_mqtt311_broker(tmp_path):
    """amqtt waits, silently, for the rest of an MQTT 5 CONNECT it misreads: the tail gives up after
    ``CONNACK_WAIT_S`` and names --protocol 3.1.1, which works; a refusal for another reason (a wrong
    password) exits 2 too, without the hint."""
    from humiao.cli import CONNACK_WAIT_S
    from humiao.embedded_broker import EmbeddedBroker

    ca, cert, key = tls_files(tmp_path)
    port = free_port()
    broker = EmbeddedBroker(cert, key, port=port).start()
    try:
        broker.add_identity(acl.TAIL, TAIL_PASSWORD, acl.tail_rules())
        config = hub_yaml(tmp_path, ca, port)
        done = tail(config, "--protocol", "5")
        assert done.returncode == 2, done.stderr
        assert f"did not answer the MQTT 5 CONNECT within {CONNACK_WAIT_S:g} s" in done.stderr, done.stderr
        assert "try --protocol 3.1.1" in done.stderr

        works = subprocess.Popen(
            [sys.executable, "-m", "humiao.cli", "mqtt", "tail", "--config", str(config), "--protocol", "3.1.1"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        try:
            assert works.stderr is not None and "# subscribed to humiao/v1/#" in works.stderr.readline()
        finally:
            works.kill()
            works.wait(10)

        broker.add_identity(acl.TAIL, "another password", acl.tail_rules())
        done = tail(config, "--protocol", "3.1.1")
        assert done.returncode == 2 and "refused the connection: Not authorized" in done.stderr, done.stderr
        assert "--protocol" not in done.stderr
    finally:
        broker.stop()
