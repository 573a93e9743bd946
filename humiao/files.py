"""Files only this user may read, for edge and hub alike: state directories Humiao creates are
0700, SQLite databases (and their -wal, -shm, -journal) 0600, whatever the umask."""

from __future__ import annotations

import os
import secrets
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


def write_private_text(path: Path, text: str) -> Path:
    """Write a secret (a key, a password) 0600, also over an existing file with a looser mode, in a
    ``private_dir``; the mode is set before anything is written."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), PRIVATE_FILE)  # O_CREAT's mode applies only to a new file
        f.write(text)
    return path


def read_private_text(path: Path, what: str) -> str:
    """A secret file's text; one that others may read is tightened to 0600 first (a copy made with a
    loose umask), one that is missing is a clear error."""
    path = Path(path)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE)
        return path.read_text().strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path}: no such file") from None


def create_private_text(path: Path, text: str) -> bool:
    """Create a secret file 0600 with ``text``, whole or not at all, only if it does not exist yet;
    whether this call created it. Two processes starting at once (two hub workers on a fresh data
    directory) end up with the same file: the first one's, which the other then reads."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    write_private_text(tmp, text)
    try:
        os.link(tmp, path)  # atomic, and refuses an existing path
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
