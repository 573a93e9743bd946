"""The staff console's web server: the desk (``edge.idcheck.desk``) as a page for the phone or tablet at the
counter, served by the edge agent on the venue's LAN with the standard library only (the edge role installs
no web framework).

    ConsoleServer(cfg, desk, state_dir, venue_type, ocr=…, reader=…, cameras=…).start()  → the port
    …  .stop()                                                   ends the live streams, closes the port, the reader

``ocr``: ``CardOcr(threads).read_bytes`` (``edge.idcheck.ocr``) or None; ``reader``: a ``CardReader`` the
console opens at start and closes at stop, or None; ``cameras``: the camera ids a walk-up check may name;
``venue_type``: ``policy.venue_type`` (hotels answer the two guardian-record questions when admitting a minor
with a guardian; elsewhere they are not asked). Staff accounts: ``humiao edge staff add NAME``.

HTTP API (JSON unless said; every route but the page, its static files and signing in needs a session):

    GET  /                               the page (console.html); /static/console.js, console.css, words.json
    POST /api/session                    sign in {name, pin, lang} → {staff, lang, idle_s}; sets the cookie
    GET  /api/session                    who is signed in
    POST /api/signout                    sign out (ends the session and its live stream)
    POST /api/lang                       {lang: "zh"|"en"}: the session's language (errors come in it)
    GET  /api/state                      pending checks, recent outcomes, what can read IDs here
    GET  /api/events                     the same state as Server-Sent Events, pushed on every desk change
    GET  /api/checks/<event_id>/crop     a pending check's face crop (JPEG, no-store; 404 once answered/expired)
    POST /api/read/chip                  {} → the card on the reader (waits up to CHIP_WAIT_S)
    POST /api/read/photo                 JPEG/PNG bytes (≤ 8 MB) → the number read by OCR, in memory
    POST /api/read/number                {number} → typed, or typed by a keyboard-wedge scanner
    POST /api/read/document              {document, birth_date} → another document, its birth date typed
    POST /api/record                     {event_id|null, outcome, reading_id|null, camera_id?,
                                          guardian_contact_recorded?, co_occupants_recorded?}

A read answers with ``{reading_id, age, under_14, minor, document, method}`` (words for both languages), and
nothing else: never the number, a name or an image; a refused number answers 422 with the reason's words.
Errors are ``{"error": words in the session's language}`` with a 4xx status, never a 500 for bad input.

Live updates are Server-Sent Events rather than long polling: one GET that the browser's ``EventSource``
keeps open and reconnects by itself (no client code for retries, works on old phone browsers), carried by
``desk.wait`` so a change reaches the page at once; each stream re-checks its session every second and ends
(``event: end``) when the session is signed out, expires or its account is removed, or when the page has gone
(its connection closed), and the server's stop ends every stream. Streams are counted (``MAX_STREAMS``) and
do not count as use of the session, so an open page still signs out after ``session_idle_min`` without a tap.

Security: the session cookie is HttpOnly, SameSite=Strict (``__Host-`` and Secure over TLS), random, kept in
memory and idle-expired; sign-in is throttled (``staff.SignInThrottle``) with one message for every failure.
A POST needs its content type (JSON, or the image's) and the ``X-Humiao-Console`` header, which a cross-site
form cannot send and a cross-site script cannot without a CORS preflight this server never grants; an
``Origin`` or ``Sec-Fetch-Site`` from another site is refused too. Bodies are capped (64 KB, photos 8 MB). Every
answer carries a CSP without inline script, ``frame-ancestors 'none'``, nosniff and no-referrer; the API and
the crops are ``no-store``. The log has the method, the route (never a query or an id) and the status only.

TLS: a non-loopback ``host`` is served over HTTPS only, with ``tls_cert``/``tls_key`` or else a self-signed
ECDSA certificate made once in ``state_dir/console-tls`` (key 0600; names: the host or the box's LAN
address, the hostname, localhost) whose SHA-256 fingerprint is logged (and is ``fingerprint``) so staff can
compare it with the one their browser shows. A plain HTTP request to that port gets a short refusal naming
the https:// address. Loopback may be plain HTTP: the browser counts it as a secure context (camera allowed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import ipaddress
import json
import logging
import math
import re
import secrets
import select
import socket
import socketserver
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from humiao.edge.console.staff import Busy, SignInThrottle, StaffBook, address_key
from humiao.edge.console.words import LANGS, WORDS, both, catalogue, reason_words, say
from humiao.edge.idcheck import documents, number
from humiao.edge.idcheck.config import ConsoleConfig
from humiao.edge.idcheck.desk import CheckDesk, DeskError, Reading
from humiao.edge.idcheck.number import CitizenNumber, IdCheckError
from humiao.edge.idcheck.outcomes import READ_METHODS, OutcomeError, result
from humiao.edge.idcheck.readers import CardReader, ReaderError
from humiao.files import private_dir, write_private_text
from humiao.pki import server_certificate

log = logging.getLogger("humiao.edge.console")

OcrFn = Callable[[bytes, datetime, tzinfo], CitizenNumber]

JSON_MAX = 64 * 1024
PHOTO_MAX = 8 * 1024 * 1024
CHIP_WAIT_S = 15.0  # a chip read waits this long for a card on the reader
OCR_WAIT_S = 30.0  # a photo waits this long for the (one) OCR slot
SOCKET_TIMEOUT_S = 30.0  # per read/write on a connection (a slow or idle client lets go of its thread)
HEADER_S = 10.0  # a request's line and headers arrive within this (also: an idle kept-alive connection closes)
BODY_S = 60.0  # a request's body arrives within this (a photo of up to PHOTO_MAX on a slow Wi-Fi)
HANDSHAKE_S = 10.0  # a TLS handshake finishes within this
SSE_TICK_S = 1.0  # a live stream re-checks its session and the server's stop this often
KEEPALIVE_S = 15.0
MAX_STREAMS = 16
MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 12  # connections from one address (an IPv6 /64) at once: a tablet opens 6 and one stream
MAX_SESSIONS = 100
SESSION_MAX_S = 12 * 3600.0  # a session ends after a shift even while in use
RECENT_SHOWN = 20
CSRF_HEADER = "X-Humiao-Console"
COOKIE = "humiao_console"
HOTELS = frozenset({"hotel", "esports_hotel"})  # venues where admitting a minor asks the guardian record
TLS_DIR = "console-tls"
TLS_CERT, TLS_KEY = "console.crt", "console.key"
CERT_DAYS = 825
RENEW_DAYS = 30

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
STATIC = {"/": "console.html", "/static/console.js": "console.js", "/static/console.css": "console.css"}
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


class ConsoleError(RuntimeError):
    """The console cannot start as configured (address, TLS files): the message says what to change."""


class _Reply(Exception):
    """An answer other than success, raised from anywhere in a request's handling."""

    def __init__(self, status: int, key: str, extra: dict[str, Any] | None = None, words: dict[str, str] | None = None):
        super().__init__(key)
        self.status, self.key, self.extra, self.words = status, key, extra or {}, words


# -- sessions ------------------------------------------------------------------------------------------
@dataclass
class Session:
    token: str
    staff: str
    lang: str
    created: float
    last_used: float


class Sessions:
    """Signed-in staff, in memory: a random token per sign-in, idle expiry, a cap on how many."""

    def __init__(self, idle_s: float, exists: Callable[[str], bool], clock: Callable[[], float] = time.monotonic):
        self.idle_s = idle_s
        self._exists = exists
        self._clock = clock
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def new(self, staff: str, lang: str) -> Session:
        now = self._clock()
        s = Session(secrets.token_urlsafe(32), staff, lang, now, now)
        with self._lock:
            self._by_token[s.token] = s
            while len(self._by_token) > MAX_SESSIONS:
                oldest = min(self._by_token.values(), key=lambda x: x.last_used)
                del self._by_token[oldest.token]
        return s

    def get(self, token: str, touch: bool) -> Session | None:
        now = self._clock()
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            if now - s.last_used > self.idle_s or now - s.created > SESSION_MAX_S:
                del self._by_token[token]
                return None
            if touch:
                s.last_used = now
        if not self._exists(s.staff):  # the account was removed (humiao edge staff remove)
            self.end(token)
            return None
        return s

    def end(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)


# -- routes --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # what the log shows
    handler: str
    session: bool = True
    touch: bool = True  # counts as use of the session (idle expiry)
    body: str = "json"  # POST bodies: "json" or "photo"


def _route(method: str, path: str, handler: str, **kw: Any) -> Route:
    pattern = re.escape(path).replace(r"\{id\}", r"(?P<id>[A-Za-z0-9_.:-]{1,128})")
    return Route(method, re.compile(pattern), path, handler, **kw)


ROUTES: tuple[Route, ...] = (
    *(_route("GET", p, "_static", session=False, touch=False) for p in STATIC),
    _route("GET", "/static/words.json", "_words", session=False, touch=False),
    _route("POST", "/api/session", "_sign_in", session=False),
    _route("GET", "/api/session", "_whoami", touch=False),
    _route("POST", "/api/signout", "_sign_out"),
    _route("POST", "/api/lang", "_set_lang"),
    _route("GET", "/api/state", "_state", touch=False),
    _route("GET", "/api/events", "_events", touch=False),
    _route("GET", "/api/checks/{id}/crop", "_crop", touch=False),
    _route("POST", "/api/read/chip", "_read_chip"),
    _route("POST", "/api/read/photo", "_read_photo", body="photo"),
    _route("POST", "/api/read/number", "_read_number"),
    _route("POST", "/api/read/document", "_read_document"),
    _route("POST", "/api/record", "_record"),
)


def _find(method: str, path: str) -> tuple[Route, re.Match[str]]:
    allowed = []
    for r in ROUTES:
        m = r.pattern.fullmatch(path)
        if m is not None:
            if r.method == method:
                return r, m
            allowed.append(r.method)
    if allowed:
        raise _Reply(405, "err.method", {"_allow": ", ".join(allowed)})
    raise _Reply(404, "err.not_found")


# -- the server ------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


class ConsoleServer:
    """The staff console for one desk. ``start()`` binds and serves on a daemon thread (the port);
    ``stop()`` ends every stream and closes the port. ``cameras``: the camera ids staff may name for a
    walk-up check (the agent's configured cameras)."""

    def __init__(
        self,
        cfg: ConsoleConfig,
        desk: CheckDesk,
        state_dir: Path,
        venue_type: str,
        *,
        ocr: OcrFn | None = None,
        reader: CardReader | None = None,
        lang_default: str | None = None,
        cameras: Sequence[str] = (),
    ) -> None:
        self.cfg = cfg
        self.desk = desk
        self.state_dir = Path(state_dir)
        self.venue_type = venue_type
        self.ocr = ocr
        self.reader = reader
        self.lang_default = lang_default if lang_default in LANGS else cfg.lang
        self.cameras = tuple(dict.fromkeys(cameras))
        self.guardian_questions = venue_type in HOTELS
        self.staff = StaffBook(cfg.staff_file or self.state_dir / "staff.json")
        self.throttle = SignInThrottle()
        self.sessions = Sessions(cfg.session_idle_min * 60.0, self.staff.exists)
        self.fingerprint: str | None = None  # SHA-256 of the TLS certificate, when served over TLS
        self.stopping = threading.Event()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._streams_open = 0
        self._streams_lock = threading.Lock()
        self._reader_ok = False
        self._reader_lock = threading.Lock()
        self._ocr_slot = threading.BoundedSemaphore(1)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._static = self._load_static()

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def tls(self) -> bool:
        return self._httpd is not None and self._httpd.tls is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise ConsoleError("the console is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.cfg.host
        if _wildcard(host):
            host = next(iter(_lan_addresses()), "127.0.0.1")
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    def start(self) -> int:
        if self._httpd is not None:
            return self.port
        host = self.cfg.host
        tls = None
        if not is_loopback(host) or self.cfg.tls_cert is not None or self.cfg.tls_key is not None:
            tls = self._tls_context(host)
        if tls is None and not is_loopback(host):  # never: a LAN address always gets a certificate above
            raise ConsoleError(f"console.host {host}: refusing to serve plain HTTP on a non-loopback address")
        cls = _Server6 if ":" in host else _Server
        try:
            httpd = cls((host, self.cfg.port), _Handler)
        except OSError as err:
            raise ConsoleError(f"console: cannot listen on {host}:{self.cfg.port}: {err.strerror or err}") from None
        httpd.console, httpd.tls = self, tls
        self._httpd = httpd
        self.stopping.clear()
        self._open_reader()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="console", daemon=True
        )
        self._thread.start()
        log.info("staff console on %s", self.url)
        return self.port

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        deadline = time.monotonic() + 3 * SSE_TICK_S
        while self._streams_open and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.reader is not None and self._reader_ok:
            with suppress(ReaderError, OSError):
                self.reader.close()
        self._reader_ok = False

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_reader(self) -> None:
        if self.reader is None:
            return
        try:
            self.reader.open()
            self._reader_ok = True
        except (ReaderError, OSError) as err:  # the console still serves camera and typed reading
            log.error("console: card reader %r not available: %s", self.reader.name, err)
            self._reader_ok = False

    def _load_static(self) -> dict[str, tuple[bytes, str]]:
        folder = resources.files("humiao.edge.console") / "static"
        out = {}
        for path, name in STATIC.items():
            out[path] = ((folder / name).read_bytes(), STATIC_TYPES[Path(name).suffix])
        out["/static/words.json"] = (
            json.dumps(catalogue(), ensure_ascii=False).encode("utf-8"),
            "application/json; charset=utf-8",
        )
        return out

    # -- TLS ---------------------------------------------------------------------------------------
    def _tls_context(self, host: str) -> ssl.SSLContext:
        cfg = self.cfg
        if (cfg.tls_cert is None) != (cfg.tls_key is None):
            raise ConsoleError(
                "console.tls_cert and console.tls_key go together: give both, or neither for a self-signed "
                f"certificate in {self.state_dir / TLS_DIR}"
            )
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            cert_path, key_path = Path(cfg.tls_cert), Path(cfg.tls_key)
        else:
            cert_path, key_path = self_signed(self.state_dir / TLS_DIR, console_names(host))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            ctx.load_cert_chain(cert_path, key_path)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ssl.SSLError, ValueError) as err:
            raise ConsoleError(f"console TLS: cannot use {cert_path} with {key_path}: {err}") from None
        self.fingerprint = fingerprint(cert)
        log.warning(
            "staff console certificate %s, SHA-256 fingerprint %s: staff compare it with the one the browser shows",
            cert_path,
            self.fingerprint,
        )
        return ctx

    # -- what the handlers do ------------------------------------------------------------------------
    def state(self, session: Session) -> dict[str, Any]:
        desk = self.desk
        version = desk.version
        now = desk.now().timestamp()
        return {
            "version": version,
            "staff": session.staff,
            "lang": session.lang,
            "venue": both(f"venue.{self.venue_type}") if f"venue.{self.venue_type}" in WORDS["zh"] else None,
            "guardian_questions": self.guardian_questions,
            "reader": self._reader_ok,
            "ocr": self.ocr is not None,
            "cameras": list(self.cameras),
            "window_s": desk.window_s,
            "pending": [
                {
                    "event_id": p.event_id,
                    "camera_id": p.camera_id,
                    "alerted_at": p.alerted_at,
                    "seconds_left": max(0, math.ceil(p.deadline - now)),
                    "age_estimate": round(p.age_estimate),
                    "crop": p.crop_jpeg is not None,
                }
                for p in desk.pending()
            ],
            "recent": [
                {
                    "check_id": r.check_id,
                    "checked_at": r.checked_at,
                    "camera_id": r.camera_id,
                    "result": dict(result(r.result).words),
                    "age_years": r.age_years,
                    "under_14": r.under_14,
                    "method": dict(READ_METHODS[r.method]) if r.method else None,
                    "document": dict(documents.BY_CODE[r.document].words) if r.document else None,
                    "walk_up": r.walk_up,
                    "staff": r.staff,
                }
                for r in desk.recent()[:RECENT_SHOWN]
            ],
        }

    def read_chip(self) -> Reading:
        if self.reader is None:
            raise _Reply(409, "err.reader_none")
        if not self._reader_ok:
            self._open_reader()
            if not self._reader_ok:
                raise _Reply(503, "err.reader_down")
        if not self._reader_lock.acquire(timeout=1.0):
            raise _Reply(503, "err.busy")
        try:
            card = self.reader.read(CHIP_WAIT_S)
        except (ReaderError, OSError):
            log.error("console: card reader %r failed", self.reader.name)
            raise _Reply(503, "err.reader_down") from None
        finally:
            self._reader_lock.release()
        if card is None:
            raise _Reply(422, "err.no_card", {"retry": True})
        citizen = card.check(self.desk.now(), self.desk.tz)
        del card
        return self.desk.reading_from_number(citizen, "chip")

    def read_photo(self, data: bytes, ctype: str) -> Reading:
        if self.ocr is None:
            raise _Reply(409, "err.ocr_none")
        magic = JPEG_MAGIC if ctype == "image/jpeg" else PNG_MAGIC
        if not data.startswith(magic):
            raise _Reply(415, "err.image")
        if not self._ocr_slot.acquire(timeout=OCR_WAIT_S):
            raise _Reply(503, "err.busy")
        try:
            citizen = self.ocr(data, self.desk.now(), self.desk.tz)
        except IdCheckError:
            raise
        except Exception as err:  # a picture the OCR cannot take: "could not be read" (its text is not logged)
            log.warning("console: camera reading failed (%s)", type(err).__name__)
            raise _Reply(422, "err.unreadable", {"retry": True}, words=both("err.unreadable")) from None
        finally:
            self._ocr_slot.release()
            del data
        return self.desk.reading_from_number(citizen, "ocr")

    def read_number(self, text: object) -> Reading:
        if not isinstance(text, str) or len(text) > 64:
            raise IdCheckError("wrong length")
        citizen = number.parse(text, self.desk.now(), self.desk.tz)
        return self.desk.reading_from_number(citizen, "manual")

    def read_document(self, code: object, birth: object) -> Reading:
        if not isinstance(code, str):
            raise IdCheckError("document type")
        doc = documents.document(code)
        if not isinstance(birth, str) or len(birth) > 32:
            raise number.InvalidBirthDate("birth date")
        facts = documents.manual_entry(doc, documents.birth_date_from_text(birth), self.desk.now(), self.desk.tz)
        return self.desk.reading_from_document(doc, facts)

    def record(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        event_id, code, reading_id = body.get("event_id"), body.get("outcome"), body.get("reading_id")
        camera = body.get("camera_id")
        contact, co = body.get("guardian_contact_recorded"), body.get("co_occupants_recorded")
        if not (
            isinstance(code, str)
            and (event_id is None or isinstance(event_id, str))
            and (reading_id is None or isinstance(reading_id, str))
            and (camera is None or isinstance(camera, str))
            and all(v is None or isinstance(v, bool) for v in (contact, co))
        ):
            raise _Reply(400, "err.bad_request")
        res = result(code)  # OutcomeError: unknown outcome
        if res.guardian_record and self.guardian_questions:
            if not (isinstance(contact, bool) and isinstance(co, bool)):
                raise _Reply(422, "err.guardian_missing")
        elif contact is not None or co is not None:
            raise _Reply(422, "err.guardian_not_asked")
        if not event_id and camera and camera not in self.cameras:
            raise _Reply(422, "err.camera")
        rec = self.desk.record(
            event_id or None,
            res.code,
            reading_id or None,
            session.staff,
            camera_id=(camera or "") if not event_id else "",
            guardian_contact_recorded=bool(contact),
            co_occupants_recorded=bool(co),
        )
        return {"recorded": {"result": dict(res.words), "age_years": rec.age_years, "walk_up": rec.walk_up}}

    def stream_opened(self, delta: int) -> None:
        with self._streams_lock:
            self._streams_open += delta


def reading_json(r: Reading) -> dict[str, Any]:
    """What a read may tell the page: no number, no name, no image."""
    return {
        "reading_id": r.reading_id,
        "age": r.facts.age,
        "under_14": r.facts.under_14,
        "minor": r.facts.minor,
        "document": dict(documents.BY_CODE[r.document].words),
        "method": dict(READ_METHODS[r.method]),
    }


# -- TLS certificate -----------------------------------------------------------------------------------
def _lan_addresses() -> list[str]:
    """The box's address on the LAN (the one its default route leaves from); no packet is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            addr = s.getsockname()[0]
    except OSError:
        return []
    return [addr] if addr and not ipaddress.ip_address(addr).is_loopback else []


def console_names(host: str) -> list[str]:
    """The names a self-signed certificate for ``host`` carries: the host (or, bound to every address, the
    LAN address), the machine's hostname, localhost and 127.0.0.1."""
    names = _lan_addresses() if _wildcard(host) else [host]
    hostname = socket.gethostname()
    if hostname:
        names += [hostname] + ([f"{hostname}.local"] if "." not in hostname else [])
    names += ["localhost", "127.0.0.1"]
    return list(dict.fromkeys(_normal(n) for n in names if n))


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {_normal(str(n)) for n in san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate as browsers show it: upper-case hex pairs joined by colons."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _usable(cert_path: Path, key_path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    now = dt.datetime.now(dt.UTC)
    return (
        cert.public_key() == key.public_key()
        and set(names) <= _cert_names(cert)
        and cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_DAYS)
    )


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """(certificate, key) in ``directory``: kept while it is valid for ``names`` and not near its end, else
    made again (ECDSA P-256, the key 0600)."""
    directory = private_dir(directory)
    cert_path, key_path = directory / TLS_CERT, directory / TLS_KEY
    if _usable(cert_path, key_path, names):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Humiao staff console (self-signed)"),
        ]
    )
    cert = server_certificate(name, key, names, dt.datetime.now(dt.UTC) + dt.timedelta(days=CERT_DAYS))
    write_private_text(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    tmp = cert_path.with_name(cert_path.name + ".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.chmod(0o644)
    tmp.replace(cert_path)
    log.warning("made a self-signed certificate for the staff console (%s): %s", ", ".join(names), cert_path)
    return cert_path, key_path


# -- HTTP ----------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32
    console: ConsoleServer
    tls: ssl.SSLContext | None = None

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._per_address: dict[str, int] = {}
        self._per_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up in DNS (getfqdn), which can hang on a LAN box
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def _take(self, client_address: Any) -> bool:
        """A connection slot for this client: at most MAX_CONNECTIONS in all, MAX_PER_ADDRESS from one address."""
        if not self._slots.acquire(blocking=False):
            return False
        key = address_key(str(client_address[0]))
        with self._per_lock:
            if self._per_address.get(key, 0) >= MAX_PER_ADDRESS:
                self._slots.release()
                return False
            self._per_address[key] = self._per_address.get(key, 0) + 1
        return True

    def _give_back(self, client_address: Any) -> None:
        key = address_key(str(client_address[0]))
        with self._per_lock:
            left = self._per_address.get(key, 1) - 1
            if left > 0:
                self._per_address[key] = left
            else:
                self._per_address.pop(key, None)
        self._slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._take(client_address):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._give_back(client_address)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._give_back(client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr for any error escaping a handler: one log line instead."""
        log.warning("console: a connection ended with an error")

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_S if self.tls is not None else SOCKET_TIMEOUT_S)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if not first:
            return
        if first != b"\x16":  # not a TLS handshake: plain HTTP to the HTTPS port
            self._refuse_plain(request)
            return
        try:  # the handshake runs here, on the request's own thread (not in the accept loop)
            conn = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            _handshake(conn, time.monotonic() + HANDSHAKE_S)
            conn.settimeout(SOCKET_TIMEOUT_S)
        except (ssl.SSLError, OSError):
            return  # e.g. a browser that does not trust the certificate yet, or one too slow to finish
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        finally:
            with suppress(OSError):
                conn.close()

    def _refuse_plain(self, request: socket.socket) -> None:
        with suppress(OSError):
            request.settimeout(1.0)
            request.recv(65536)
        where = self.console.url
        body = f"The staff console is served over HTTPS only: {where}\n请使用 HTTPS 访问查验台：{where}\n".encode()
        head = (
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\r\n"
        ).encode()
        with suppress(OSError):
            request.sendall(head + body)
        log.info("plain HTTP request refused (HTTPS only)")


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handshake(conn: ssl.SSLSocket, deadline: float) -> None:
    """A TLS handshake that must end by ``deadline`` however slowly its bytes trickle in."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("TLS handshake too slow")
        conn.settimeout(left)
        try:
            conn.do_handshake()
            return
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue


class _DeadlineReader(io.RawIOBase):
    """The connection's reading side, which gives up once the handler's deadline has passed: a client that
    sends its request one byte at a time (each within the socket timeout) still loses its thread."""

    def __init__(self, handler: _Handler) -> None:
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        conn = self._handler.connection
        deadline = self._handler.deadline
        timeout = SOCKET_TIMEOUT_S
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request too slow")
            timeout = min(timeout, left)
        conn.settimeout(timeout)
        try:
            return conn.recv_into(buffer)
        finally:
            conn.settimeout(SOCKET_TIMEOUT_S)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "humiao-console"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S

    _route_name = "(unparsed)"
    _status = 0
    deadline: float | None = None  # when the part of the request being read must have arrived
    _lang = "zh"
    _token: str | None = None

    # -- the log: method, route, status; never a query, an id or a body ---------------------------------
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log_message("")

    def log_error(self, format: str, *args: Any) -> None:
        return None  # http.server's error messages quote the request line

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s %s", self.command or "-", self._route_name, self._status)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line or header, an unknown method): JSON words,
        nothing of the request echoed."""
        self.close_connection = True
        key = {404: "err.not_found", 405: "err.method", 501: "err.method", 413: "err.too_large"}.get(
            code, "err.bad_request"
        )
        lang = self._lang if self._lang in LANGS else "zh"
        with suppress(OSError):
            self._send(code, json.dumps({"error": say(key, lang)}, ensure_ascii=False).encode(), "application/json")

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineReader(self), 64 * 1024)

    def handle_one_request(self) -> None:
        # the request line and headers (and, on a kept-alive connection, the wait for them) within HEADER_S
        self.deadline = time.monotonic() + HEADER_S
        try:
            super().handle_one_request()
        finally:
            self.deadline = None

    # -- dispatch ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _refuse_method(self) -> None:
        self._dispatch(self.command or "-")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _refuse_method

    def _dispatch(self, method: str) -> None:
        self.deadline = time.monotonic() + BODY_S  # the headers are in; the body, if any, within BODY_S
        console = self.server.console
        self._lang = console.lang_default
        self._route_name = "(unknown)"
        body_pending = method not in ("GET", "HEAD") or bool(self.headers.get("Content-Length"))
        try:
            route, match = _find(method, urlsplit(self.path).path)
            self._route_name = route.name
            self._token = self._cookie()
            session = console.sessions.get(self._token, touch=route.touch) if self._token else None
            if session is not None:
                self._lang = session.lang
            if route.session and session is None:
                raise _Reply(401, "err.session")
            body: Any = None
            if method == "POST":
                self._check_csrf()
                body = self._body(route.body)
                body_pending = False
            getattr(self, route.handler)(session, match, body)
        except _Reply as r:
            self._reply_error(r, body_pending)
        except IdCheckError as err:  # a number, birth date or document refused: the reason's words, no number
            words = reason_words(err.reason)
            self._reply_error(_Reply(422, "", {"reason": words, "unreadable": True}, words=words), body_pending)
        except DeskError as err:
            self._reply_error(_Reply(409, "", words={"zh": err.words("zh"), "en": err.words("en")}), body_pending)
        except OutcomeError as err:
            self._reply_error(_Reply(422, "", words={"zh": err.words("zh"), "en": err.words("en")}), body_pending)
        except Busy:
            self._reply_error(_Reply(503, "err.busy"), body_pending)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception as err:  # a bug: logged by type and place only (a message might quote input)
            where = "".join(traceback.format_tb(err.__traceback__))
            log.error("console: %s %s failed: %s\n%s", method, self._route_name, type(err).__name__, where)
            with suppress(OSError):
                self._reply_error(_Reply(500, "err.internal"), True)

    def _reply_error(self, r: _Reply, close: bool) -> None:
        if close:
            self.close_connection = True  # the body was not read: the connection cannot carry another request
        text = r.words[self._lang] if r.words else say(r.key, self._lang)
        payload = {"error": text, **{k: v for k, v in r.extra.items() if not k.startswith("_")}}
        headers = [("Allow", r.extra["_allow"])] if "_allow" in r.extra else []
        if r.status == 401 and self._token and r.key == "err.session":
            headers.append(("Set-Cookie", self._cookie_header("", clear=True)))
        self._json(r.status, payload, headers)

    # -- plumbing ----------------------------------------------------------------------------------
    def _cookie_name(self) -> str:
        return f"__Host-{COOKIE}" if self.server.tls else COOKIE

    def _cookie_header(self, token: str, clear: bool = False) -> str:
        parts = [f"{self._cookie_name()}={token}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if self.server.tls:
            parts.append("Secure")
        if clear:
            parts.append("Max-Age=0")
        return "; ".join(parts)

    def _cookie(self) -> str | None:
        name = self._cookie_name()
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";"):
                k, _, v = part.strip().partition("=")
                if k == name and 0 < len(v) <= 128:
                    return v
        return None

    def _origin(self) -> str:
        return f"{'https' if self.server.tls else 'http'}://{self.headers.get('Host', '')}"

    def _check_csrf(self) -> None:
        if self.headers.get(CSRF_HEADER) != "1":
            raise _Reply(403, "err.csrf")
        origin = self.headers.get("Origin")
        if origin is not None and origin != self._origin():
            raise _Reply(403, "err.csrf")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise _Reply(403, "err.csrf")

    def _body(self, kind: str) -> Any:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind == "photo":
            if ctype not in ("image/jpeg", "image/png"):
                raise _Reply(415, "err.image")
        elif ctype != "application/json":
            raise _Reply(415, "err.content_type")
        if self.headers.get("Transfer-Encoding"):
            raise _Reply(411, "err.length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise _Reply(411, "err.length")
        if not re.fullmatch(r"[0-9]{1,9}", raw, re.ASCII):  # no sign, no spaces, no underscores, no 10**100
            raise _Reply(400, "err.bad_request")
        length = int(raw)
        cap = PHOTO_MAX if kind == "photo" else JSON_MAX
        if length > cap:
            raise _Reply(413, "err.photo_too_large" if kind == "photo" else "err.too_large")
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise _Reply(400, "err.bad_request")
        if kind == "photo":
            return (data, ctype)
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[…]]]] nested too deep
            raise _Reply(400, "err.bad_request") from None
        if not isinstance(parsed, dict):
            raise _Reply(400, "err.bad_request")
        return parsed

    def _send(
        self, status: int, body: bytes, ctype: str, headers: Sequence[tuple[str, str]] = (), cache: str = "no-store"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for k, v in SECURITY_HEADERS:
            self.send_header(k, v)
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send(
            status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8", headers
        )

    # -- the routes ----------------------------------------------------------------------------------
    def _static(self, session: Session | None, match: re.Match[str], body: Any) -> None:
        data, ctype = self.server.console._static[match.group(0)]
        self._send(200, data, ctype, cache="no-cache")

    def _words(self, session: Session | None, match: re.Match[str], body: Any) -> None:
        data, ctype = self.server.console._static["/static/words.json"]
        self._send(200, data, ctype, cache="no-cache")

    def _sign_in(self, session: Session | None, match: re.Match[str], body: dict[str, Any]) -> None:
        console = self.server.console
        lang = body.get("lang")
        self._lang = lang if isinstance(lang, str) and lang in LANGS else console.lang_default
        name, pin = body.get("name"), body.get("pin")
        name = name.strip().lower()[:64] if isinstance(name, str) else ""
        pin = pin.strip()[:64] if isinstance(pin, str) else ""
        address = str(self.client_address[0])
        wait = console.throttle.begin(address, name)  # counted as a failure until the PIN proves otherwise
        if wait > 0:
            raise _Reply(401, "err.signin", {"retry_after": math.ceil(wait)})
        ok: bool | None = None
        try:
            ok = console.staff.verify(name, pin)
        finally:
            console.throttle.finish(address, name, ok)
        if not ok:
            raise _Reply(401, "err.signin", {"retry_after": math.ceil(console.throttle.wait_s(address, name))})
        if session is not None:
            console.sessions.end(session.token)
        s = console.sessions.new(name, self._lang)
        log.info("console: %s signed in", name)
        self._json(200, self._who(s), [("Set-Cookie", self._cookie_header(s.token))])

    def _who(self, s: Session) -> dict[str, Any]:
        return {"staff": s.staff, "lang": s.lang, "idle_s": self.server.console.sessions.idle_s}

    def _whoami(self, session: Session, match: re.Match[str], body: Any) -> None:
        self._json(200, self._who(session))

    def _sign_out(self, session: Session, match: re.Match[str], body: Any) -> None:
        self.server.console.sessions.end(session.token)
        self._json(200, {}, [("Set-Cookie", self._cookie_header("", clear=True))])

    def _set_lang(self, session: Session, match: re.Match[str], body: dict[str, Any]) -> None:
        lang = body.get("lang")
        if not isinstance(lang, str) or lang not in LANGS:
            raise _Reply(422, "err.lang")
        session.lang = self._lang = lang
        self._json(200, self._who(session))

    def _state(self, session: Session, match: re.Match[str], body: Any) -> None:
        self._json(200, self.server.console.state(session))

    def _crop(self, session: Session, match: re.Match[str], body: Any) -> None:
        jpeg = self.server.console.desk.crop(match.group("id"))
        if jpeg is None:
            raise _Reply(404, "err.not_found")
        self._send(200, jpeg, "image/jpeg")

    def _events(self, session: Session, match: re.Match[str], body: Any) -> None:
        console = self.server.console
        if not console.streams.acquire(blocking=False):
            raise _Reply(503, "err.busy")
        console.stream_opened(1)
        try:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.send_header("Connection", "close")
            for k, v in SECURITY_HEADERS:
                self.send_header(k, v)
            self.end_headers()
            self._event("retry: 3000\n\n")
            version: int | None = None
            last = time.monotonic()
            while not console.stopping.is_set():
                if self._client_gone():
                    break
                current = console.sessions.get(session.token, touch=False)
                if current is None:
                    self._event("event: end\ndata: {}\n\n")
                    break
                now_v = console.desk.version if version is None else console.desk.wait(version, SSE_TICK_S)
                if now_v != version:
                    version = now_v
                    state = json.dumps(console.state(current), ensure_ascii=False)
                    self._event(f"event: state\ndata: {state}\n\n")
                    last = time.monotonic()
                elif time.monotonic() - last >= KEEPALIVE_S:
                    self._event(": keepalive\n\n")
                    last = time.monotonic()
        finally:
            console.stream_opened(-1)
            console.streams.release()

    def _client_gone(self) -> bool:
        """Whether the page closed its stream (the browser sends nothing after the request but its close)."""
        conn = self.connection
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            if not readable:
                return False
            if isinstance(conn, ssl.SSLSocket):  # a TLS close_notify, or the end of the connection
                conn.settimeout(0.2)
                try:
                    return conn.recv(1) == b""
                finally:
                    conn.settimeout(SOCKET_TIMEOUT_S)
            return conn.recv(1, socket.MSG_PEEK) == b""
        except TimeoutError:
            return False
        except (OSError, ValueError):
            return True

    def _event(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8"))
        self.wfile.flush()

    def _read_chip(self, session: Session, match: re.Match[str], body: Any) -> None:
        self._json(200, reading_json(self.server.console.read_chip()))

    def _read_photo(self, session: Session, match: re.Match[str], body: tuple[bytes, str]) -> None:
        data, ctype = body
        self._json(200, reading_json(self.server.console.read_photo(data, ctype)))

    def _read_number(self, session: Session, match: re.Match[str], body: dict[str, Any]) -> None:
        reading = self.server.console.read_number(body.pop("number", None))
        self._json(200, reading_json(reading))

    def _read_document(self, session: Session, match: re.Match[str], body: dict[str, Any]) -> None:
        reading = self.server.console.read_document(body.get("document"), body.get("birth_date"))
        self._json(200, reading_json(reading))

    def _record(self, session: Session, match: re.Match[str], body: dict[str, Any]) -> None:
        self._json(200, self.server.console.record(session, body))
