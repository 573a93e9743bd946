"""The hub's configuration: one typed section per concern, validated at start.

YAML file, then environment overrides ``HUMIAO_HUB__SECTION__FIELD`` (e.g.
``HUMIAO_HUB__DATABASE__URL=postgresql+psycopg://humiao@db/humiao``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from humiao.config import Section
from humiao.hub.auth import AuthConfig
from humiao.hub.inspections import KeyPeriodConfig
from humiao.hub.rules.calendar import CalendarConfig
from humiao.hub.rules.violations import ViolationConfig

ENV_PREFIX = "HUMIAO_HUB__"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "humiao" / "hub"


class DatabaseConfig(Section):
    url: str = Field(
        "",
        description="SQLAlchemy URL; empty: SQLite (WAL) at <data_dir>/hub.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:///… and postgresql+psycopg://… are supported")
        return v


class HubMqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = Field(
        "humiao-hub-1",
        min_length=1,
        max_length=64,
        description="unique per hub worker; the broker keeps its session (and queued alerts) by this id",
    )
    protocol: Literal["5", "3.1.1"] = "5"
    share_group: str | None = Field(
        "hub",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="MQTT shared-subscription group so hub workers split the load; null for brokers "
        "without shared subscriptions (amqtt): then run a single worker",
    )
    keepalive_s: int = Field(15, ge=5, le=600)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0, description="how long the broker queues for a stopped hub")


class IngestConfig(Section):
    batch_max: int = Field(500, ge=1, le=10000, description="messages committed per transaction, at most")
    batch_wait_ms: float = Field(20.0, ge=0, le=5000, description="longest a message waits for its batch")
    queue_max: int = Field(20000, ge=100, description="received, not yet committed; beyond it the hub stops reading")
    dead_letter_keep_bytes: int = Field(4096, ge=0, le=1 << 20, description="payload bytes kept per dead letter")
    dead_letter_keep_days: float = Field(
        30.0, gt=0, description="dead letters older than this are purged (every evidence.purge_interval_s)"
    )
    dead_letter_max_rows: int = Field(
        100_000, ge=1, description="at most this many dead letters are kept; at each purge the oldest go first"
    )


class EvidenceConfig(Section):
    private_key: Path | None = Field(
        None,
        description="the hub's X25519 key (base64); default <data_dir>/evidence.key, "
        "generated with its .pub on first start",
    )
    retention_days: float = Field(30.0, gt=0, description="crops not held by a case are purged after this")
    purge_interval_s: float = Field(3600.0, gt=0)


class HttpConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class RulesConfig(Section):
    """Settings for items ../shared/RULES.md marks ◦ (interpretation) — see hub/rules/README.md."""

    violations: ViolationConfig = ViolationConfig()
    calendar: CalendarConfig = CalendarConfig()
    evaluate_interval_s: float = Field(30.0, gt=0, le=3600, description="re-check open verdicts (check windows)")
    key_periods: KeyPeriodConfig = KeyPeriodConfig()


class HubConfig(Section):
    data_dir: Path = Field(default_factory=data_home)
    database: DatabaseConfig = DatabaseConfig()
    mqtt: HubMqttConfig = HubMqttConfig()
    ingest: IngestConfig = IngestConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    http: HttpConfig = HttpConfig()
    rules: RulesConfig = RulesConfig()
    auth: AuthConfig = AuthConfig()

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'hub.db'}"

    def private_key_path(self) -> Path:
        return self.evidence.private_key or self.data_dir / "evidence.key"
