"""Database: engine and sessions for SQLite (the embedded default, WAL) or PostgreSQL, and the
Alembic upgrade that every hub start runs first.

SQLite is this user's only (``humiao.files``): a directory the hub creates for it is 0700 (also for
the data directory), the database and its -wal and -shm 0600 whatever the umask. Every connection
has ``secure_delete`` on, and ``erase_freed`` truncates the WAL after a purge, so purged evidence
is not left in the file or its WAL.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from humiao.files import private_sqlite_file

log = logging.getLogger("humiao.hub.db")
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseUnusable(RuntimeError):
    """The database file cannot be created or opened (the message says where and why)."""


def erase_freed(session: Session) -> None:
    """SQLite, after purging secrets (with ``secure_delete`` on, so the freed pages are zeroed):
    checkpoint and truncate the WAL, whose older frames still hold the bytes. Nothing to do on
    PostgreSQL (its own VACUUM reclaims dead tuples). Run outside a transaction."""
    if session.get_bind().dialect.name != "sqlite":
        return
    busy = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    session.commit()
    if busy and busy[0]:
        log.warning("the WAL could not be truncated after a purge (the database is busy); next purge retries")


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                private_sqlite_file(Path(path))
            except OSError as err:  # a directory, no permission, a read-only disk: the operator can fix it
                raise DatabaseUnusable(f"cannot use the hub database {path}: {err.strerror}") from err
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed alert survives a power cut, because the broker is told (PUBACK) right after
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA secure_delete=ON")  # deleted or overwritten bytes (purged crops) are zeroed
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


def not_a_hub_database(url: str) -> str | None:
    """Why ``url`` holds no hub database (no such file, no such database, no hub tables), or None when
    it does. Creates and changes nothing: a SQLite file is opened read-only, and only if it exists."""
    import sqlite3

    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith("sqlite"):
        path = make_url(url).database
        if not path or path == ":memory:":
            return "an in-memory database holds no hub data"
        if not Path(path).is_file():
            return "no such file"
        try:
            with contextlib.closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as conn:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as err:
            return f"not readable as SQLite: {err}"
    else:
        engine = create_engine(url)
        try:
            names = set(inspect(engine).get_table_names())
        except SQLAlchemyError as err:
            return str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        finally:
            engine.dispose()
    if not {"alembic_version", "alerts", "venues"} <= names:
        return "it has no hub tables"
    return None


def sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command

    for name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)  # a line per plugin at every start otherwise
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
