"""The hub as its own process (``humiao hub run``), so a test can kill -9 it and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import create_engine, func, select

from hub.models import Alert
from tests.mosquitto import free_port

ROOT = Path(__file__).resolve().parent.parent


def hub_config(workdir: Path, db_url: str, mqtt_port: int, protocol: str = "5", client_id: str = "hub-test-1",
               share_group: str | None = "hub", http_port: int | None = None) -> dict:
    return {"data_dir": str(workdir / "hubdata"), "database": {"url": db_url},
            "mqtt": {"port": mqtt_port, "protocol": protocol, "client_id": client_id, "share_group": share_group},
            "http": {"port": http_port or free_port()}, "ingest": {"batch_wait_ms": 5}}


class HubProcess:
    def __init__(self, workdir: Path, config: dict):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"hub-{config['mqtt']['client_id']}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "hub.log"

    def start(self, wait_s: float = 30) -> "HubProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "humiao.cli", "-v", "hub", "run", "--config",
                                      str(self.config_path)], cwd=str(ROOT), stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-2000:]}")
            if "subscribed to" in self.log.read_text():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"hub did not connect: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def stored_ids(db_url: str) -> list[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(Alert.event_id)).scalars())
    finally:
        engine.dispose()


def wait_for(predicate, timeout: float, step: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
