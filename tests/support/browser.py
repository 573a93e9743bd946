"""Debian's Chromium for the panel's browser tests and the panel benchmark (driven by Playwright,
nothing downloaded), and where screenshots go."""

from __future__ import annotations

from tests.support.services import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = ROOT / "artifacts" / "screenshots"
