"""One message catalogue per language: every word people are shown has an entry in each, with the same
placeholders; the panel and the hub use no key the catalogues lack; stored messages render in every language."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from humiao.hub import messages
from humiao.hub.rules import violations
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.rules.statutes import RULES
from humiao.proto import vocabulary

HUB = Path(messages.__file__).parent
STATIC = HUB / "static"
LANGS = messages.languages()
CJK = re.compile(r"[\u4e00-\u9fff]")


def files(lang: str) -> dict[str, dict[str, str]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((HUB / "catalogue" / lang).glob("*.json"))
    }


def test_there_are_two_languages_and_chinese_comes_first():
    assert LANGS[0] == "zh-CN" and "en" in LANGS


@pytest.mark.parametrize("lang", LANGS)
def test_every_language_has_every_key_with_the_same_placeholders(lang):
    reference, other = messages.catalogue("en"), messages.catalogue(lang)
    assert sorted(set(reference) - set(other)) == [], f"{lang} lacks these keys"
    assert sorted(set(other) - set(reference)) == [], f"{lang} has keys English lacks"
    for key, template in reference.items():
        ours = set(messages.PLACEHOLDER.findall(other[key]))
        assert ours == set(messages.PLACEHOLDER.findall(template)), f"{lang} {key}: placeholders differ"
        assert other[key].strip() or key == "text.empty", f"{lang} {key} is empty"


def test_each_key_is_in_one_file_and_no_entry_is_a_code():
    for lang in LANGS:
        seen: dict[str, str] = {}
        for name, entries in files(lang).items():
            for key, value in entries.items():
                assert key not in seen, f"{lang}: {key} in {name} and {seen[key]}"
                seen[key] = name
                assert isinstance(value, str)


def _keys_used_by_the_panel() -> set[str]:
    js = (STATIC / "panel.js").read_text(encoding="utf-8")
    html = (STATIC / "panel.html").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\(\s*\"([A-Za-z0-9_.]+)\"", js))
    used |= set(re.findall(r'data-i18n="([A-Za-z0-9_.]+)"', js + html))
    used |= {f"{kind}.{code}" for kind, code in re.findall(r'\blabel\(\s*"(\w+)",\s*"(\w+)"', js)}
    return {k for k in used if not k.endswith(".")}  # t("dept." + code): a family, checked in the browser


def test_the_panel_uses_no_key_the_catalogues_lack_and_writes_no_word_itself():
    used = _keys_used_by_the_panel()
    assert len(used) > 150  # the scan finds the panel's words (a scan finding nothing would pass vacuously)
    for lang in LANGS:
        assert sorted(used - set(messages.catalogue(lang))) == [], lang
    js = (STATIC / "panel.js").read_text(encoding="utf-8")
    assert not CJK.search(js), "a Chinese word written in panel.js: it belongs in the catalogue"


def _codes_in_python() -> set[str]:
    """Literal keys the hub passes to msg(), text(), Problem() and the rules' say()."""
    found = set()
    for path in HUB.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            args = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name in ("msg", "text", "say") and args and node.args[0] is args[0]:
                found.add(args[0].value)
            elif name == "Problem" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                found.add(node.args[1].value)
    return {c for c in found if re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", c)}


def test_every_key_the_hub_uses_is_in_every_catalogue():
    used = _codes_in_python()
    assert {"rules.alert", "history.verdict", "calendar.weekend", "error.no_language"} <= used  # the scan works
    used -= {messages.LEGACY, messages.SEMICOLONS}  # rendered from their own parameters
    used |= {f"verdict.{s.value}" for s in violations.Status}
    used |= {f"{kind}.{code}" for kind in ("venue", "forbidden") for code in RULES}
    used |= {f"result.{code}" for code in vocabulary.RESULTS}
    for lang in LANGS:
        assert sorted(used - set(messages.catalogue(lang))) == [], lang


def test_the_wire_and_statute_words_come_from_their_one_source():
    for code, words in vocabulary.RESULTS.items():
        assert messages.text(f"result.{code}", "zh-CN") == words["zh"]
        assert messages.text(f"result.{code}", "en") == words["en"]
    for code, rule in RULES.items():
        assert messages.text(f"venue.{code}", "zh-CN") == rule.name_zh
        assert messages.text(f"forbidden.{code}", "en") == rule.forbidden


def test_every_verdict_the_rules_can_reach_reads_in_every_language():
    """Each venue type × each outcome × a working day and a holiday: each reason renders with every placeholder
    filled, and the Chinese reads in Chinese (no English sentence, no key)."""
    import datetime as dt

    calendar = HolidayCalendar()
    seen = set()
    for day in (violations._WORKDAY, violations._HOLIDAY):
        for _, make in violations._scenarios():
            for venue_type in RULES:
                for cfg in (violations.ViolationConfig(), violations.ViolationConfig(esports_whole_hotel=True)):
                    v = violations.decide(venue_type, day, *make(day), calendar, cfg)
                    for reason in [*v.reasons, v.calendar]:
                        seen.add(reason["code"])
                        for lang in LANGS:
                            words = messages.render(reason, lang)
                            assert words and "{" not in words and not re.search(r"\b[a-z_]+\.[a-z_]+\b", words), (
                                lang,
                                reason,
                                words,
                            )
                        zh = messages.render(reason, "zh-CN")
                        assert CJK.search(zh), (reason, zh)
                        assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", zh), (reason, zh)  # no English
    assert len(seen) > 20
    assert dt  # the scenarios' times are timezone-aware datetimes


def test_languages_are_negotiated_and_unknown_ones_fall_back_to_chinese():
    assert messages.negotiate("en-GB,en;q=0.9") == "en"
    assert messages.negotiate("fr-FR, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert messages.negotiate("fr") == "zh-CN" and messages.negotiate(None) == "zh-CN"
    assert messages.supported("zh") == "zh-CN" and messages.supported("EN-us") == "en"


def test_nested_messages_lists_and_plain_words_render():
    m = messages.msg(
        "calendar.day", parts=[messages.msg("calendar.weekend"), messages.msg("calendar.vacation", name="暑假")]
    )
    assert messages.render(m, "zh-CN") == "周末、学校假期（暑假）"
    assert messages.render(m, "en") == "weekend, school vacation (暑假)"
    assert messages.render("a comment as written", "en") == "a comment as written"
    with pytest.raises(KeyError):
        messages.text("no.such.key", "en")
