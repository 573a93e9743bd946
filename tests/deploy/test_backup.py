"""deploy/backup/hub_backup.py on a real hub database: a backup taken while the hub is open,
restored into a fresh place (a new data directory; on PostgreSQL a new database), gives a hub with
the same alerts and alarms that still opens the sealed evidence with the restored key."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from humiao.hub import evidence
from humiao.hub.access import Principal
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig
from humiao.hub.tables import Alarm, Alert, Evidence

pytestmark = pytest.mark.services
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "backup" / "hub_backup.py"
INSPECTOR = Principal("ct-1", "culture_tourism", "d1")


def _module():
    spec = importlib.util.spec_from_file_location("hub_backup", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hub_backup = _module()


def _records(hub: Hub) -> tuple[list, list, dict]:
    with hub.sessions() as s:
        alerts = s.execute(select(Alert.event_id, Alert.venue_id, Alert.device_id).order_by(Alert.event_id)).all()
        alarms = s.execute(
            select(Alarm.id, Alarm.event_id, Alarm.verdict, Alarm.severity, Alarm.active).order_by(Alarm.id)
        ).all()
        sealed = {e.event_id: e.plaintext_sha256 for e in s.scalars(select(Evidence))}
    return [tuple(r) for r in alerts], [tuple(r) for r in alarms], sealed


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def fresh_url(db_url, tmp_path):
    """Where the restore goes: a new SQLite file, or a new PostgreSQL database on the same server."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'hub.db'}"
        return
    from tests.support.services import PG_ADMIN_URL, scratch_database

    with scratch_database(os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL), "humiao_restore") as url:
        yield url


def test_a_restored_hub_has_the_same_records_and_opens_the_sealed_evidence(seeded_hub, fresh_url, tmp_path):
    if fresh_url.startswith("postgresql") and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed (Debian: postgresql-client)")
    before = _records(seeded_hub)
    assert len(before[0]) == 3 and len(before[1]) == 3 and len(before[2]) == 3

    # taken while the hub holds its database open (SQLite in WAL mode: the online backup API)
    dest = hub_backup.backup(seeded_hub.cfg, tmp_path / "backups")
    assert _mode(dest) == 0o700 and not list((tmp_path / "backups").glob("*.part"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert {"evidence.key", "evidence.pub", "hub-signing.key"} <= set(manifest["keys"])
    for f in [dest / "manifest.json", dest / manifest["database"]["file"], *(dest / "keys").rglob("*.*")]:
        if f.is_file():
            assert _mode(f) == 0o600, f

    cfg = HubConfig(data_dir=tmp_path / "restored", database={"url": fresh_url})
    written = hub_backup.restore(cfg, dest)
    assert str(cfg.private_key_path()) in written
    for key in (cfg.private_key_path(), cfg.signing_key_path()):
        assert _mode(key) == 0o600
    assert cfg.private_key_path().read_bytes() == seeded_hub.cfg.private_key_path().read_bytes()
    assert cfg.signing_key_path().read_bytes() == seeded_hub.cfg.signing_key_path().read_bytes()

    restored = Hub(cfg)  # migrates (nothing to do) and loads the restored keys, as a worker starts
    try:
        assert _records(restored) == before
        with restored.sessions() as s:
            for event_id, digest in before[2].items():
                _, jpeg = evidence.open_for(s, restored.private_key, event_id, INSPECTOR, "restore drill")
                assert jpeg[:2] == b"\xff\xd8" and hashlib.sha256(jpeg).hexdigest() == digest
    finally:
        restored.engine.dispose()


def test_the_command_line_refuses_a_damaged_backup_and_an_existing_database(tmp_path, capsys):
    data = tmp_path / "hub"
    config = tmp_path / "hub.yaml"
    config.write_text(f"data_dir: {data}\n")
    hub = Hub(HubConfig(data_dir=data))  # makes the database and both keys
    hub.engine.dispose()

    assert hub_backup.main(["backup", "--config", str(config), "--out", str(tmp_path / "b"), "--keep", "1"]) == 0
    dest = Path(capsys.readouterr().out.strip())
    assert (dest / "hub.db").is_file()

    # restoring over a hub that has a database (and the same keys) needs --force
    assert hub_backup.main(["restore", str(dest), "--config", str(config)]) == 1
    assert "exists" in capsys.readouterr().err
    assert hub_backup.main(["restore", str(dest), "--config", str(config), "--force"]) == 0

    # a key that another hub made is not replaced without --force
    other = tmp_path / "other.yaml"
    (tmp_path / "other").mkdir()
    shutil.copy(data / "evidence.pub", tmp_path / "other" / "evidence.pub")
    (tmp_path / "other" / "evidence.key").write_text("not this hub's key\n")
    other.write_text(f"data_dir: {tmp_path / 'other'}\n")
    assert hub_backup.main(["restore", str(dest), "--config", str(other)]) == 1
    assert "differs" in capsys.readouterr().err

    # a damaged backup is refused before anything is written
    with (dest / "keys" / "evidence.key").open("ab") as f:
        f.write(b"x")
    assert hub_backup.main(["restore", str(dest), "--config", str(other), "--force"]) == 1
    assert "damaged" in capsys.readouterr().err
    assert (tmp_path / "other" / "evidence.key").read_text() == "not this hub's key\n"  # nothing written
