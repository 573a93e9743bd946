"""Every word the hub shows people, from one message catalogue per language.

The catalogues are ``hub/catalogue/<language>/*.json``: flat objects, a key → a template whose ``{name}``
placeholders take the message's parameters (no format specs: the panel's script fills the same templates).
A language is a folder; adding one means adding a folder with the same keys (``tests/hub/test_catalogue.py``
fails on a key or a placeholder one language lacks). The files in a folder are only for editing in parts
(rules, panel, reports, errors …); a key lives in one of them.

What the hub stores for people to read later — an alarm's reasoning, its history — is a *message*: a key and
its parameters (``{"code": "rules.id_check", "params": {...}}``), rendered in the reader's language when it is
read (the API, the panel, PDF and XLSX). A parameter may itself be a message, or a list of messages (joined as
the language joins a list), so a venue type or a holiday is named in the reader's words too.

Errors the API answers with are messages as well: ``raise Problem(403, "error.not_allowed", ...)``; the body
has ``detail`` in the caller's language (``?lang=``, else ``Accept-Language``, else Chinese) beside ``code``
and ``params``."""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

CATALOGUE = Path(__file__).with_name("catalogue")
DEFAULT = "zh-CN"
FALLBACK = "en"  # a key missing in a language (caught by the tests) is shown in English rather than as a code
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

SEMICOLONS = "list.semicolons"  # {"items": [...]}: items that hold commas themselves, joined as the language does
LEGACY = "text.legacy"  # words stored as text before the catalogue: {"en": ..., "zh": ...}, shown as written
Message = dict[str, Any]  # {"code": key, "params": {name: value | Message | [Message, ...]}}


@cache
def languages() -> tuple[str, ...]:
    """The languages there are catalogues for, the default first (read once: a new language needs a restart)."""
    found = sorted(p.name for p in CATALOGUE.iterdir() if p.is_dir() and any(p.glob("*.json")))
    return tuple(sorted(found, key=lambda lang: lang != DEFAULT))


@cache
def catalogue(lang: str) -> dict[str, str]:
    """A language's whole catalogue (every file of its folder); KeyError for a language there is none of."""
    folder = CATALOGUE / lang
    if lang not in languages():
        raise KeyError(lang)
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        if clash := merged.keys() & entries.keys():
            raise ValueError(f"{path}: keys also in another file of {lang}: {sorted(clash)}")
        merged.update(entries)
    return _generated(lang) | merged


def _generated(lang: str) -> dict[str, str]:
    """Entries kept where their one source is (in Chinese and English): the wire's ID-check words
    (``proto/vocabulary.py``: ``result.*``, ``document.*``, ``readmethod.*``, shared with the edge's console) and the
    statute table's (``hub/rules/statutes.py``: ``venue.*``, ``forbidden.*``) and the audit log's actions
    (``hub/audit.py``: ``auditaction.*``). Another language's catalogue may
    give its own; without, these show in English."""
    from humiao.hub.rules.statutes import RULES
    from humiao.proto import vocabulary

    side = {"zh-CN": "zh", "en": "en"}.get(lang)
    if side is None:
        return {}
    out = {
        f"{kind}.{code}": words[side]
        for kind, table in (
            ("result", vocabulary.RESULTS),
            ("document", vocabulary.DOCUMENTS),
            ("readmethod", vocabulary.READ_METHODS),
        )
        for code, words in table.items()
    }
    from humiao.hub.audit import ACTIONS, WORDS

    out |= {f"auditaction.{a}": WORDS[a][side] for a in ACTIONS}
    for code, rule in RULES.items():
        out[f"venue.{code}"] = rule.name_zh if side == "zh" else rule.name_en
        out[f"forbidden.{code}"] = rule.forbidden_zh if side == "zh" else rule.forbidden
    return out


@cache
def supported(lang: str | None) -> str:
    """The catalogue for a language tag (``zh``, ``zh-CN``, ``zh-Hans-CN``, ``en-GB`` …), or the default."""
    if not lang:
        return DEFAULT
    tag = lang.strip().lower()
    have = {name.lower(): name for name in languages()}
    if tag in have:
        return have[tag]
    primary = tag.split("-")[0]
    return next((name for low, name in have.items() if low.split("-")[0] == primary), DEFAULT)


def negotiate(accept_language: str | None) -> str:
    """The best catalogue for an ``Accept-Language`` header (its q-values honoured), else the default."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, i, tag))
    have = {name.lower().split("-")[0] for name in languages()}
    for _, _, tag in sorted(ranked):
        if tag.lower().split("-")[0] in have:
            return supported(tag)
    return DEFAULT


def language(request: Request) -> str:
    """The caller's language: ``?lang=``, else ``Accept-Language``, else the default (Chinese)."""
    if asked := request.query_params.get("lang"):
        return supported(asked)
    return negotiate(request.headers.get("accept-language"))


LangDep = Annotated[str, Depends(language)]
"""The caller's language (a catalogue's name: ``zh-CN``, ``en``)."""

_CURRENT: ContextVar[str] = ContextVar("humiao_language", default=DEFAULT)


def current() -> str:
    """The language of the request being answered (set for each request by ``hub/app.py``; the default outside
    one), so that every message rendered while answering it — an alarm's reasoning in a list, the live feed, a
    venue's alarms — is in the caller's words without each route passing it along."""
    return _CURRENT.get()


def use(lang: str) -> object:
    """Answer in ``lang`` from here on in this context (a token for ``ContextVar.reset``)."""
    return _CURRENT.set(supported(lang))


def msg(code: str, **params: Any) -> Message:
    """A message to store or send: a catalogue key and its parameters."""
    return {"code": code, "params": params} if params else {"code": code}


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str)


def text(code: str, lang: str = DEFAULT, /, **params: Any) -> str:
    """A catalogue entry in ``lang`` with its parameters filled (each rendered in ``lang`` too)."""
    entries = catalogue(supported(lang))
    template = entries.get(code)
    if template is None:
        template = catalogue(FALLBACK).get(code)
    if template is None:
        raise KeyError(f"no catalogue entry {code!r}")
    if not params:
        return template
    values = {name: _value(value, lang) for name, value in params.items()}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render(message: Message | str | None, lang: str = DEFAULT) -> str:
    """A stored message in ``lang``; a plain string (a person's own words, a comment) as it is."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if message["code"] == SEMICOLONS:
        return text("list.semi", lang).join(_value(v, lang) for v in message.get("params", {}).get("items", []))
    if message["code"] == LEGACY:
        said = message.get("params", {})
        return said.get("zh" if supported(lang).startswith("zh") else "en") or said.get("en", "")
    return text(message["code"], lang, **message.get("params", {}))


def _value(value: Any, lang: str) -> str:
    if is_message(value):
        return render(value, lang)
    if isinstance(value, list):
        return text("list.sep", lang).join(_value(v, lang) for v in value)
    if isinstance(value, bool):
        return text("word.yes" if value else "word.no", lang)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def term(kind: str, code: str, lang: str = DEFAULT) -> str:
    """A code of one of the hub's lists (``venue``, ``dept``, ``role``, ``cs`` …) in words; unknown: the code."""
    try:
        return text(f"{kind}.{code}", lang)
    except KeyError:
        return code


class Refusal(ValueError):
    """A service refusing something people asked for, in words they can act on: a catalogue key and parameters
    (``str()`` is the English, for logs and the command line); a router answers it as a ``Problem``."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(text(code, FALLBACK, **params))
        self.code, self.params = code, params


class Problem(HTTPException):
    """An API error people read: a catalogue key and its parameters, answered in the caller's language as
    ``detail`` with ``code`` and ``params`` beside it (``hub/app.py`` installs the handler)."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(status, text(code, FALLBACK, **params), headers)
        self.code, self.params = code, params

    @classmethod
    def of(cls, status: int, refusal: Refusal) -> Problem:
        """A service's refusal as the API's answer."""
        return cls(status, refusal.code, **refusal.params)
