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


def shot(page, name: str) -> None:
    """A full-page screenshot into artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def panel_sign_in(page, url: str, user: str, password: str) -> None:
    """Sign in to the inspectors' panel at ``url`` and wait until it names the user."""
    page.goto(f"{url}/panel")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.locator("#who").filter(has_text=user).wait_for()
