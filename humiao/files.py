"""Files only this user may read, for edge and hub alike: state directories Humiao creates are
0700, SQLite databases (and their -wal, -shm, -journal) 0600, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """The directory, created (with its parents) 0700 when missing; an existing one is left as it is
    (the operator's or systemd's, e.g. StateDirectoryMode)."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        path.chmod(PRIVATE_DIR)  # exactly 0700, whatever the umask
    return path


def private_sqlite_file(path: Path) -> Path:
    """Create the database file 0600 before SQLite opens it (SQLite gives -wal and -shm the database
    file's mode), in a ``private_dir``; an existing database, -wal, -shm or -journal is tightened."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    for extra in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + extra)
        if side.exists():
            side.chmod(PRIVATE_FILE)
    return path
