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
    """The broker connection: TLS and a password per identity, always (``humiao hub broker init``
    makes the CA, the broker's certificate and the hub's identities; proto/acl.py their rights)."""

    host: str = "127.0.0.1"
    port: int = Field(8883, ge=1, le=65535)
    client_id: str = Field(
        "hub.w1",
        pattern=r"^hub\.[a-z0-9][a-z0-9_-]{0,40}$",
        description="this worker's broker identity, 'hub.<name>', unique per worker: its user name and "
        "client id (the broker binds the two); the broker keeps its session (and queued alerts) by it",
    )
    secrets_dir: Path | None = Field(
        None,
        description="the broker's CA certificate (ca.crt) and the hub identities' passwords "
        "(<identity>.password, 0600), as humiao hub broker init writes them; default <data_dir>/broker",
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


class SecurityConfig(Section):
    """End-to-end signatures (proto/signing.py) and the replay window (hub/verify.py)."""

    signing_key: Path | None = Field(
        None, description="the hub's Ed25519 key (base64); default <data_dir>/hub-signing.key, made on first start"
    )
    max_age_s: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="a message signed longer ago than this is refused as a replay (an edge signs when it "
        "sends, so a spooled alert is signed afresh; the broker queues for a stopped hub up to session_expiry_s)",
    )
    max_future_s: float = Field(
        300.0, ge=0, description="clock skew allowed: a message signed later than now + this is refused"
    )
    key_refresh_s: float = Field(
        2.0, gt=0, le=60, description="how often a worker re-reads enrolled and revoked device keys"
    )
    unknown_alert_grace_s: float = Field(
        600.0,
        gt=0,
        description="an ID check whose alert is not stored yet is left unconfirmed (the edge sends it "
        "again) for this long after it was signed, then kept aside",
    )


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
    worker_name: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]{0,64}$",
        description="answered in an X-Humiao-Worker header on every response (which worker behind the "
        "reverse proxy served a request); empty: no header",
    )


class RulesConfig(Section):
    """Settings for items ../shared/RULES.md marks ◦ (interpretation) — see hub/rules/README.md."""

    violations: ViolationConfig = ViolationConfig()
    calendar: CalendarConfig = CalendarConfig()
    evaluate_interval_s: float = Field(30.0, gt=0, le=3600, description="re-check open verdicts (check windows)")
    key_periods: KeyPeriodConfig = KeyPeriodConfig()


Role = Literal["all", "web", "ingest"]


class HubConfig(Section):
    data_dir: Path = Field(default_factory=data_home)
    role: Role = Field(
        "all",
        description="what this worker runs (humiao hub run --role): all; web, the API and panel only "
        "(no broker connection: its hub → edge messages go through the outbox table); ingest, the "
        "broker subscription, the alarm rules, the purges and the outbox, with /healthz, /readyz, /metrics",
    )
    database: DatabaseConfig = DatabaseConfig()
    mqtt: HubMqttConfig = HubMqttConfig()
    ingest: IngestConfig = IngestConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    http: HttpConfig = HttpConfig()
    rules: RulesConfig = RulesConfig()
    auth: AuthConfig = AuthConfig()
    security: SecurityConfig = SecurityConfig()

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'hub.db'}"

    def private_key_path(self) -> Path:
        return self.evidence.private_key or self.data_dir / "evidence.key"

    def signing_key_path(self) -> Path:
        return self.security.signing_key or self.data_dir / "hub-signing.key"

    def broker_dir(self) -> Path:
        """Where ``humiao hub broker init`` leaves the hub's broker passwords and the CA certificate."""
        return self.mqtt.secrets_dir or self.data_dir / "broker"

    def broker_password_file(self, identity: str | None = None) -> Path:
        """The password of a hub identity (default: this worker's, ``mqtt.client_id``)."""
        return self.broker_dir() / f"{identity or self.mqtt.client_id}.password"

    def ca_file(self) -> Path:
        return self.broker_dir() / "ca.crt"
