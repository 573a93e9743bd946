#!/usr/bin/env python3
"""Back up and restore a Humiao hub: its database and its keys.

    /opt/humiao/.venv/bin/python /opt/humiao/deploy/backup/hub_backup.py backup \\
        --config /etc/humiao/hub-1.yaml --out /var/backups/humiao [--keep 14]
    /opt/humiao/.venv/bin/python /opt/humiao/deploy/backup/hub_backup.py restore \\
        --config /etc/humiao/hub-1.yaml /var/backups/humiao/humiao-hub-20261124T230000Z [--force]

``backup`` writes one directory ``<out>/humiao-hub-<UTC time>/`` (0700) holding

- ``hub.db``: for SQLite, a consistent copy made with SQLite's online backup API
  (``sqlite3.Connection.backup``), safe while the workers write (never a file copy of a live WAL
  database), checked with ``PRAGMA integrity_check``; or ``hub.pgdump``: for PostgreSQL,
  ``pg_dump --format=custom`` (the password, if the URL has one, goes through ``PGPASSWORD``, never
  the command line);
- ``keys/``: the evidence key pair, the hub's signing key and the broker secrets directory
  (``<data_dir>/broker``: the hub identities' passwords and the CA certificate), every file 0600;
- ``manifest.json``: what was backed up, from where, and each file's SHA-256.

``restore`` checks every file against the manifest, then writes the database (SQLite: with the
backup API into ``database.url``'s file; PostgreSQL: ``pg_restore --clean --if-exists --no-owner``
into ``database.url``) and the keys to where the configuration puts them, 0600. Stop the hub
workers first. Existing keys that differ from the backup's, or an existing SQLite file, are
refused unless ``--force``.

The configuration is read as the hub reads it (``HUMIAO_HUB__…`` environment overrides too).
Exit status: 0 done, 1 failed (one line on standard error).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

FORMAT = 1
PREFIX = "humiao-hub-"


class BackupError(Exception):
    """A backup or restore that cannot go on; its message says why."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _private_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` with mode 0600 from its creation (never readable by others in between)."""
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
        shutil.copyfileobj(inp, out)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, dst)


def _sqlite_path(url) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError(f"not a SQLite file: {url.render_as_string(hide_password=True)}")
    return Path(url.database)


def _pg_env(url) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment carrying it (PGPASSWORD)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_online_copy(src: Path, dst: Path) -> None:
    """``src`` (possibly in use, WAL) into ``dst`` with SQLite's backup API; checked."""
    if not src.exists():
        raise BackupError(f"no SQLite database at {src}")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target, pages=1024)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        ok = target.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise BackupError(f"the copy of {src} failed its integrity check: {ok}")
    finally:
        target.close()
        source.close()
    os.chmod(dst, 0o600)


def _key_files(cfg) -> dict[str, Path]:
    """Where this hub keeps each key or secret, by its name in the backup's keys/ directory."""
    evidence = cfg.private_key_path()
    signing = cfg.signing_key_path()
    files = {
        "evidence.key": evidence,
        "evidence.pub": evidence.with_suffix(".pub"),
        "hub-signing.key": signing,
    }
    broker = cfg.broker_dir()
    if broker.is_dir():
        for f in sorted(broker.iterdir()):
            if f.is_file():
                files[f"broker/{f.name}"] = f
    return files


def load_hub_config(config: Path | None):
    from humiao.config import load_config
    from humiao.hub.config import ENV_PREFIX, HubConfig

    return load_config(HubConfig, config, prefix=ENV_PREFIX)


def backup(cfg, out: Path, keep: int | None = None, now: datetime | None = None) -> Path:
    """Back up the hub of ``cfg`` into a new directory under ``out``; its path."""
    from sqlalchemy.engine import make_url

    os.umask(0o077)
    now = now or datetime.now(UTC)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = out / f"{PREFIX}{now:%Y%m%dT%H%M%SZ}"
    work = out / (dest.name + ".part")
    if dest.exists():
        raise BackupError(f"{dest} exists already")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    url = make_url(cfg.database_url())
    if url.get_backend_name() == "sqlite":
        db_file = "hub.db"
        _sqlite_online_copy(_sqlite_path(url), work / db_file)
    elif url.get_backend_name() == "postgresql":
        db_file = "hub.pgdump"
        libpq, env = _pg_env(url)
        run = subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={work / db_file}", f"--dbname={libpq}"],
            env=env,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise BackupError(f"pg_dump failed: {run.stderr.strip()}")
        os.chmod(work / db_file, 0o600)
    else:
        raise BackupError(f"unsupported database {url.get_backend_name()}")
    keys = {}
    for name, src in _key_files(cfg).items():
        if not src.exists():
            if name in ("evidence.key", "hub-signing.key"):
                raise BackupError(f"the hub's {name} is missing at {src}: nothing could open or trust what it made")
            continue
        _private_copy(src, work / "keys" / name)
        keys[name] = _sha256(work / "keys" / name)
    manifest = {
        "format": FORMAT,
        "made_at": now.isoformat(),
        "database": {
            "backend": url.get_backend_name(),
            "url": url.render_as_string(hide_password=True),
            "file": db_file,
            "sha256": _sha256(work / db_file),
        },
        "keys": keys,
    }
    fd = os.open(work / "manifest.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2)
    os.rename(work, dest)  # a backup directory without .part is complete
    if keep:
        old = sorted(p for p in out.glob(PREFIX + "*") if p.is_dir() and not p.name.endswith(".part"))
        for p in old[:-keep]:
            shutil.rmtree(p)
    return dest


def _checked(source: Path) -> dict:
    try:
        manifest = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError) as err:
        raise BackupError(f"{source} is not a hub backup: {err}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: unknown backup format {manifest.get('format')!r}")
    wanted = {manifest["database"]["file"]: manifest["database"]["sha256"]}
    wanted.update({f"keys/{k}": v for k, v in manifest["keys"].items()})
    for name, digest in wanted.items():
        f = source / name
        if not f.is_file() or _sha256(f) != digest:
            raise BackupError(f"{f} is missing or does not match the manifest: the backup is damaged")
    return manifest


def restore(cfg, source: Path, force: bool = False) -> list[str]:
    """Restore the backup in ``source`` into the hub of ``cfg`` (stopped); what was written."""
    from sqlalchemy.engine import make_url

    os.umask(0o077)
    manifest = _checked(source)
    url = make_url(cfg.database_url())
    backend = manifest["database"]["backend"]
    if url.get_backend_name() != backend:
        raise BackupError(f"the backup holds a {backend} database; this hub's database.url is {url.get_backend_name()}")
    targets = _key_files(cfg)
    broker = cfg.broker_dir()
    for name in manifest["keys"]:
        if name.startswith("broker/"):
            targets.setdefault(name, broker / name.removeprefix("broker/"))
    if not force:
        for name in manifest["keys"]:
            t = targets[name]
            if t.exists() and _sha256(t) != manifest["keys"][name]:
                raise BackupError(f"{t} exists and differs from the backup's {name}: --force replaces it")
    done = []
    db = source / manifest["database"]["file"]
    if backend == "sqlite":
        path = _sqlite_path(url)
        if path.exists() and not force:
            raise BackupError(f"{path} exists: stop the hub and use --force to replace it")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        tmp = path.with_name(path.name + ".restore")
        tmp.unlink(missing_ok=True)
        _sqlite_online_copy(db, tmp)
        os.replace(tmp, path)
        done.append(str(path))
    else:
        libpq, env = _pg_env(url)
        run = subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error", f"--dbname={libpq}", str(db)],
            env=env,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise BackupError(f"pg_restore failed: {run.stderr.strip()}")
        done.append(url.render_as_string(hide_password=True))
    for name in manifest["keys"]:
        _private_copy(source / "keys" / name, targets[name])
        done.append(str(targets[name]))
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("backup", help="database (online) and keys into a new directory under --out")
    b.add_argument("--config", type=Path)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--keep", type=int, help="keep only this many backups in --out (the newest)")
    r = sub.add_parser("restore", help="a backup directory into the hub of --config (stop the workers first)")
    r.add_argument("source", type=Path)
    r.add_argument("--config", type=Path)
    r.add_argument("--force", action="store_true", help="replace an existing SQLite file and differing keys")
    args = p.parse_args(argv)
    from humiao.config import ConfigError

    try:
        cfg = load_hub_config(args.config)
        if args.action == "backup":
            print(backup(cfg, args.out, args.keep))
        else:
            for what in restore(cfg, args.source, args.force):
                print(f"restored {what}")
    except (BackupError, ConfigError, OSError, sqlite3.Error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
