"""What staff may record at an ID check, as one list: a code for the wire, words for the console, and what
each outcome needs.

    adult verified ─ minor refused ─ minor admitted with a guardian ─ minor admitted ─ no ID, refused
    ─ left before the check ─ (not checked within the window: the agent's own, never a member of staff's)

An outcome that names an age needs one read from a document (``AgeFacts``) and the age must agree with it: an
adult outcome for a minor's card is refused, and the other way round. Outcomes without an ID (no ID, left,
not checked) carry no age, no document and no hash. The guardian record (hotels, "five musts") is two yes/no
answers: the guardian's contact asked and recorded, the co-occupants' relationship asked and recorded; the
details stay with the venue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from humiao.edge.idcheck.number import AgeFacts, Lang
from humiao.proto import vocabulary

AgeNeed = Literal["adult", "minor", "none"]


class OutcomeError(ValueError):
    """An outcome that cannot be recorded as given; ``words(lang)`` is what the console shows."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self._words = {"zh": zh, "en": en}

    def words(self, lang: Lang) -> str:
        return self._words[lang]


@dataclass(frozen=True)
class Result:
    code: str  # the wire's ID_CHECK_RESULT_<CODE>
    words: Mapping[str, str]
    age: AgeNeed  # which age the document must show
    by_staff: bool = True  # False: only the agent records it (the check window ran out)
    guardian_record: bool = False  # the console asks the two guardian-record questions

    def label(self, lang: Lang) -> str:
        return self.words[lang]


def _result(code: str, age: AgeNeed, **kw: bool) -> Result:
    return Result(code, vocabulary.RESULTS[code], age, **kw)


# The one list of outcomes, in the order the console offers them (words: humiao.proto.vocabulary).
RESULTS: tuple[Result, ...] = (
    _result("adult_admitted", "adult"),
    _result("minor_refused", "minor"),
    _result("minor_admitted_with_guardian", "minor", guardian_record=True),
    _result("minor_admitted", "minor", guardian_record=True),  # hotels: art. 57 applies to a minor alone too
    _result("no_id_refused", "none"),
    _result("left_before_check", "none"),
    _result("not_checked", "none", by_staff=False),
)
BY_CODE: Mapping[str, Result] = MappingProxyType({r.code: r for r in RESULTS})

# How the age was read (the wire's READ_METHOD_<CODE>), with its words.
READ_METHODS: Mapping[str, Mapping[str, str]] = vocabulary.READ_METHODS


def result(code: str) -> Result:
    found = BY_CODE.get(code)
    if found is None:
        raise OutcomeError("未知的查验结果", "unknown outcome")
    return found


def check(res: Result, facts: AgeFacts | None, *, by_staff: bool = True) -> None:
    """Whether ``res`` may be recorded with these age facts (``None``: no document read)."""
    if by_staff and not res.by_staff:
        raise OutcomeError("该结果由系统自动记录", "this outcome is recorded by the agent only")
    if res.age == "none":
        if facts is not None:
            raise OutcomeError(
                "已读取证件，请选择成年或未成年的结果", "an ID was read: choose an adult or minor outcome"
            )
        return
    if facts is None:
        raise OutcomeError("请先读取证件", "read the ID first")
    if res.age == "adult" and facts.minor:
        raise OutcomeError("证件显示未满18周岁", "the ID shows a minor")
    if res.age == "minor" and not facts.minor:
        raise OutcomeError("证件显示已满18周岁", "the ID shows an adult")
