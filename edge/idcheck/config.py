"""The ``idcheck`` section of the edge's configuration: the check window, the venue's time zone and secret,
the card reader, camera reading, and the staff console."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from humiao.config import Section
from humiao.edge.idcheck.readers import ReaderConfig


class ConsoleConfig(Section):
    """The staff console: a web page on the venue's LAN for the phone or tablet at the counter."""

    enabled: bool = Field(True, description="serve the console (with an mqtt section only: outcomes go to the hub)")
    host: str = Field(
        "127.0.0.1", description="listen address; anything but loopback is served over HTTPS only (tls_cert/tls_key)"
    )
    port: int = Field(8810, ge=0, le=65535, description="0: any free port (tests)")
    tls_cert: Path | None = Field(
        None, description="PEM certificate; none on a LAN address: a self-signed one is made in device.state_dir"
    )
    tls_key: Path | None = Field(None, description="its PEM key (0600)")
    staff_file: Path | None = Field(
        None, description="staff accounts (name, PIN hash; 0600); none: device.state_dir/staff.json"
    )
    session_idle_min: float = Field(30.0, gt=0, le=24 * 60, description="sign out after this long without use")
    lang: Literal["zh", "en"] = Field("zh", description="the console's first language (staff can switch)")


class IdCheckConfig(Section):
    window_s: float = Field(
        600.0,
        gt=0,
        description="after this long with no outcome the agent reports 'not checked' (keep it ≤ the hub's "
        "rules.violations.id_check_window_min)",
    )
    timezone: str = Field("Asia/Shanghai", description="the venue's time zone: ages are counted on its date")
    venue_secret_file: Path | None = Field(
        None,
        description="the venue's ID-hash secret (hex, 0600; made on first use); none: device.state_dir/venue-secret. "
        "Copy it to the venue's other boxes so their hashes link; never to the hub",
    )
    reader: ReaderConfig | None = Field(None, description="a resident-ID card reader at the counter; none: no reader")
    ocr: bool = Field(True, description="read the card held to a camera (RapidOCR, on this box, in memory)")
    ocr_threads: int = Field(1, ge=1, le=8, description="onnxruntime threads for reading cards")
    console: ConsoleConfig = ConsoleConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)") from None
        return v
