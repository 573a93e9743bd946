"""The documents staff accept at the door, as one list: a code for the wire, words for the screens.

The citizen identity card's age comes from its number (``humiao.edge.idcheck.number.parse``, typed or read
from the chip). For every other document staff enter the birth date by hand (``manual_entry``), which gives
the same ``AgeFacts`` (age in whole years on the venue's date, under 14, minor); the document's number is
not taken at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from types import MappingProxyType

from humiao.edge.idcheck.number import AgeFacts, IdCheckError, InvalidBirthDate, Lang, age_facts
from humiao.proto import vocabulary


@dataclass(frozen=True)
class DocumentType:
    code: str  # on the wire
    words: Mapping[str, str]  # {"zh": ..., "en": ...} for the screens
    manual_birth_date: bool  # staff enter the birth date by hand (every document but the citizen ID card)

    def label(self, lang: Lang) -> str:
        return self.words[lang]


def _doc(code: str, manual_birth_date: bool = True) -> DocumentType:
    return DocumentType(code, vocabulary.DOCUMENTS[code], manual_birth_date)


# The one list of document types, in the order a console offers them (words: humiao.proto.vocabulary).
DOCUMENTS: tuple[DocumentType, ...] = tuple(
    _doc(code, manual_birth_date=code != "citizen_id") for code in vocabulary.DOCUMENTS
)
BY_CODE: Mapping[str, DocumentType] = MappingProxyType({d.code: d for d in DOCUMENTS})
CITIZEN_ID = BY_CODE["citizen_id"]


def document(code: str) -> DocumentType:
    """The document type with this wire code; an unknown one is ``IdCheckError('document type')``."""
    found = BY_CODE.get(code)
    if found is None:
        raise IdCheckError("document type")
    return found


_FULL_WIDTH_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
_DATES = (
    re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII),
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", re.ASCII),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", re.ASCII),
)


def birth_date_from_text(text: str) -> date:
    """A birth date as a console takes it: ``YYYYMMDD``, ``YYYY-MM-DD`` (or ``/``, ``.``), ``YYYY年M月D日``;
    whitespace ignored, full-width digits accepted. ``InvalidBirthDate`` when it is not a calendar date."""
    cleaned = "".join(text.split()).translate(_FULL_WIDTH_DIGITS)
    for pattern in _DATES:
        if m := pattern.fullmatch(cleaned):
            parsed = _calendar_date(int(m[1]), int(m[2]), int(m[3]))
            if parsed is not None:
                return parsed
    raise InvalidBirthDate("birth date")


def _calendar_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def manual_entry(doc: DocumentType | str, birth: date, at: datetime, tz: tzinfo) -> AgeFacts:
    """The age facts for a document whose birth date staff entered by hand, checked at ``at`` (timezone-aware)
    in the venue's ``tz``. The citizen ID card is refused (``IdCheckError('document type')``: its number gives
    the age); a birth date before 1900 or after the venue's date is ``InvalidBirthDate``."""
    kind = document(doc) if isinstance(doc, str) else doc
    if not kind.manual_birth_date:
        raise IdCheckError("document type")
    return age_facts(birth, at, tz)
