"""The citizen identity number (公民身份号码, GB 11643-1999): 18 characters, checked, turned into age facts.

Layout: a 6-digit region code (GB/T 2260; its first two digits the province), the birth date YYYYMMDD,
a 3-digit sequence (odd for men), and the ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X`` for 10).

``parse(text, at, tz)`` normalises what staff typed or a reader returned (whitespace removed, full-width
digits and ``x`` accepted, ``X`` kept), then checks, in this order: the length, the characters, the province
(``PROVINCES``; no county list), the birth date (a real calendar date, not before 1900 and not after the
venue's date at ``at`` in ``tz``) and the check character. It returns a ``CitizenNumber`` or raises
``InvalidNumber`` whose only text is one of the fixed ``REASONS`` (words a console can show, in Chinese and
English), never the number.

Ages are in whole years on the venue's calendar date at ``at`` in ``tz`` (the check at 23:30 UTC is already
the next day in Asia/Shanghai). A person reaches an age on the birthday itself; someone born on 29 February
has the birthday on 1 March in a non-leap year (so is the younger age one day longer, the cautious reading
for minors). ``under_14`` is age < 14, ``minor`` age < 18.

What leaves the counter is the ``AgeFacts`` and ``CitizenNumber.keyed_hash(secret)``: HMAC-SHA256 of the
normalised 18 characters with the venue's secret (``venue_secret``: a 0600 file, created on first use, that
never leaves the venue), so repeat visits link within that venue only. A ``CitizenNumber`` keeps the number
privately for the hash until ``forget()``; its ``repr``/``str`` show the age facts only, and it refuses to be
pickled or copied, so it cannot reach a spool, a log line or a message by accident.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Literal, NoReturn

from humiao.files import create_private_text, read_private_text

LENGTH = 18
# GB/T 2260 province-level codes (the first two digits): 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71 Taiwan,
# 81 Hong Kong, 82 Macao, and 91 as the brief allows. A full county list is deliberately not embedded.
PROVINCES = frozenset(
    f"{p}"
    for p in [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
    + [71, 81, 82, 91]
)
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHECK_CHARACTERS = "10X98765432"  # indexed by (Σ digit × weight) mod 11
EARLIEST_BIRTH = date(1900, 1, 1)
UNDER_14, ADULT = 14, 18
SECRET_BYTES = 32  # the venue secret: at least this many random bytes (stored as hex)

Lang = Literal["zh", "en"]

# The one vocabulary of refusals: the reason (the exception's only text) → words for the console.
REASONS: dict[str, dict[str, str]] = {
    "wrong length": {"zh": "号码位数不对（应为18位）", "en": "wrong length (18 characters expected)"},
    "characters": {"zh": "号码含有无效字符", "en": "invalid characters"},
    "region code": {"zh": "地址码不对", "en": "region code"},
    "birth date": {"zh": "出生日期不对", "en": "birth date"},
    "check character": {"zh": "校验码不对", "en": "check character"},
    "document type": {"zh": "证件类型不对", "en": "document type"},
    "unreadable": {"zh": "未能识读证件号码，请重试或手工录入", "en": "could not read the number: try again or type it"},
}

_DIGITS = frozenset("0123456789")
# full-width digits and X (an IME's output), and lowercase x → the standard's characters
_TO_STANDARD = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"\uff38": "X", "\uff58": "X", "x": "X"})


class IdCheckError(ValueError):
    """A refusal whose only text is one of ``REASONS`` (never the number, a name or a date)."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError("not one of the ID-check reasons")  # the argument itself is not echoed
        super().__init__(reason)
        self.reason = reason

    def words(self, lang: Lang) -> str:
        return REASONS[self.reason][lang]


class InvalidNumber(IdCheckError):
    """The number is not a valid citizen identity number: ``reason`` says which part."""


class InvalidBirthDate(IdCheckError):
    """A birth date entered by hand is not a real date between 1900 and today (``reason``: 'birth date')."""


@dataclass(frozen=True)
class AgeFacts:
    """What may be sent about a person's age: whole years and the two flags derived from them."""

    age: int
    under_14: bool = field(init=False)
    minor: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.age < 0:
            raise ValueError("an age cannot be negative")
        object.__setattr__(self, "under_14", self.age < UNDER_14)
        object.__setattr__(self, "minor", self.age < ADULT)


def local_date(at: datetime, tz: tzinfo) -> date:
    """The venue's calendar date at the instant ``at`` (which must carry its time zone)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the time of the check must be timezone-aware")
    return at.astimezone(tz).date()


def birthday_in(birth: date, year: int) -> date:
    """The birthday in ``year``: 29 February falls on 1 March in a non-leap year."""
    if (birth.month, birth.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 3, 1)
    return birth.replace(year=year)


def age_on(birth: date, day: date) -> int:
    """Whole years on ``day``: the age is reached on the birthday itself."""
    years = day.year - birth.year
    return years if day >= birthday_in(birth, day.year) else years - 1


def age_facts(birth: date, at: datetime, tz: tzinfo) -> AgeFacts:
    """The age facts for a birth date (entered by hand, or read from a chip) at ``at`` in the venue's ``tz``;
    a date before 1900 or after the venue's date is refused (``InvalidBirthDate``)."""
    today = local_date(at, tz)
    if not EARLIEST_BIRTH <= birth <= today:
        raise InvalidBirthDate("birth date")
    return AgeFacts(age_on(birth, today))


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(first17) != LENGTH - 1 or not set(first17) <= _DIGITS:
        raise ValueError("the check character needs 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def normalise(text: str) -> str:
    """The 18 characters the standard writes: whitespace removed, full-width digits and x accepted, X upper
    case. Only the length and the characters are checked here (``InvalidNumber``)."""
    number = "".join(text.split()).translate(_TO_STANDARD)
    if len(number) != LENGTH:
        raise InvalidNumber("wrong length")
    if not (set(number[:17]) <= _DIGITS and (number[17] in _DIGITS or number[17] == "X")):
        raise InvalidNumber("characters")
    return number


def _birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:  # not a calendar date (digits only: normalise checked them)
        return None


def _check_secret(venue_secret: bytes) -> None:
    if not isinstance(venue_secret, bytes) or len(venue_secret) < SECRET_BYTES:
        raise ValueError(f"the venue secret must be at least {SECRET_BYTES} bytes")


def keyed_hash(number: str, venue_secret: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised 18 characters with the venue's secret. Only the length and the
    characters are checked; hash numbers that ``parse`` accepted (``CitizenNumber.keyed_hash``)."""
    _check_secret(venue_secret)
    return hmac.new(venue_secret, normalise(number).encode("ascii"), hashlib.sha256).hexdigest()


class CitizenNumber:
    """A valid number checked at a time: its age facts, and its keyed hash on request.

    The number is kept privately (for ``keyed_hash``) until ``forget()``; it is in no attribute the
    object shows, not in ``repr``/``str``, and the object cannot be pickled or copied. Neither the birth
    date nor the sex digit is kept. Make one with ``parse``.
    """

    __slots__ = ("_number", "facts")

    def __init__(self, number: str, facts: AgeFacts) -> None:
        self._number: str | None = number
        self.facts = facts

    @property
    def age(self) -> int:
        return self.facts.age

    @property
    def under_14(self) -> bool:
        return self.facts.under_14

    @property
    def minor(self) -> bool:
        return self.facts.minor

    def keyed_hash(self, venue_secret: bytes) -> str:
        if self._number is None:
            raise RuntimeError("the number was forgotten: take its keyed hash before forget()")
        return keyed_hash(self._number, venue_secret)

    def forget(self) -> None:
        """Drop the number; the age facts stay."""
        self._number = None

    def __repr__(self) -> str:
        f = self.facts
        return f"CitizenNumber(age={f.age}, under_14={f.under_14}, minor={f.minor}, number=<hidden>)"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a CitizenNumber holds an ID number: it is not pickled or copied")


def parse(text: str, at: datetime, tz: tzinfo) -> CitizenNumber:
    """A citizen identity number typed or read at ``at`` (timezone-aware) in a venue whose time zone is ``tz``;
    ``InvalidNumber`` (with a reason from ``REASONS``) when it is not a valid one."""
    today = local_date(at, tz)
    number = normalise(text)
    if number[:2] not in PROVINCES:
        raise InvalidNumber("region code")
    birth = _birth_date(number)
    if birth is None or not EARLIEST_BIRTH <= birth <= today:
        raise InvalidNumber("birth date")
    if check_character(number[:17]) != number[17]:
        raise InvalidNumber("check character")
    return CitizenNumber(number, AgeFacts(age_on(birth, today)))


def venue_secret(path: Path, create: bool = True) -> bytes:
    """The venue's ID-check secret from its file (hex, 0600): created with ``SECRET_BYTES`` random bytes when
    missing (``create``), tightened to 0600 when looser. Copy it to the venue's other edge boxes so their
    hashes link; never to the hub. A malformed file is an error that names the path, not the content."""
    path = Path(path)
    if create:
        create_private_text(path, secrets.token_hex(SECRET_BYTES) + "\n")
    text = read_private_text(path, "ID-check venue secret")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"ID-check venue secret {path}: expected at least {2 * SECRET_BYTES} hexadecimal characters")
    return secret
