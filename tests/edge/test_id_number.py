"""The citizen identity number (GB 11643-1999), ages at the venue's date, the keyed hash, the venue secret,
and the document types with their birth dates entered by hand.

Check characters are computed here independently of the module (ISO 7064 MOD 11-2 the recursive way, where
the module uses a weight table), and checked against the standard's published examples.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import pickle
import traceback
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from humiao.edge.idcheck import documents
from humiao.edge.idcheck.number import (
    REASONS,
    AgeFacts,
    CitizenNumber,
    IdCheckError,
    InvalidBirthDate,
    InvalidNumber,
    age_on,
    check_character,
    keyed_hash,
    parse,
    venue_secret,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 23:30 UTC on 14 June 2024 is 07:30 on 15 June in Shanghai
AT = datetime(2024, 6, 14, 23, 30, tzinfo=UTC)
SHANGHAI_TODAY = date(2024, 6, 15)
SECRET_A, SECRET_B = b"a" * 32, bytes(range(32))
# GB/T 2260 province-level codes, written out independently of the module
PROVINCE_CODES = [
    *(f"{p}" for p in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46)),
    *(f"{p}" for p in (50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 91)),
]
STANDARD_EXAMPLE = "11010519491231002X"  # GB 11643-1999: Beijing Chaoyang, born 31 Dec 1949, sequence 002
STANDARD_EXAMPLE_1880 = "440524188001010014"  # GB 11643-1999: Guangdong, born 1 Jan 1880 (before 1900 here)


def mod11_2(digits: str) -> str:
    """ISO 7064 MOD 11-2 by the recursive method: p ← (p + digit) × 2 mod 11, then (12 − p) mod 11."""
    p = 0
    for c in digits:
        p = (p + int(c)) * 2 % 11
    value = (12 - p) % 11
    return "X" if value == 10 else str(value)


def make_number(region: str, birth: date, sequence: int) -> str:
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + mod11_2(body)


def expected_age(birth: date, today: date) -> int:
    # comparing (month, day) puts 29 Feb after 28 Feb and before 1 Mar: the 1 March rule, independently
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def refusal(text: str, at: datetime = AT, tz: ZoneInfo = SHANGHAI) -> InvalidNumber:
    with pytest.raises(InvalidNumber) as caught:
        parse(text, at, tz)
    return caught.value


def assert_hides(shown: str, number: str) -> None:
    for part in {number, number[:17], number[6:14], number[:6], number[10:], number.lower()} - {""}:
        assert part not in shown


def assert_exception_hides(err: BaseException, number: str) -> None:
    """No digit at all: the reasons are words only, and nothing is chained to the refusal."""
    shown = "".join([str(err), repr(err), *map(str, err.args), *traceback.format_exception_only(err)])
    assert not any(c.isdigit() for c in shown), shown
    assert err.__cause__ is None and err.__context__ is None
    assert_hides(shown, number)


valid_numbers = st.builds(
    make_number,
    st.builds(lambda p, rest: f"{p}{rest:04d}", st.sampled_from(PROVINCE_CODES), st.integers(0, 9999)),
    st.dates(min_value=date(1900, 1, 1), max_value=SHANGHAI_TODAY),
    st.integers(0, 999),
)


# --- check characters and the standard's examples


def test_the_standards_examples():
    assert mod11_2(STANDARD_EXAMPLE[:17]) == check_character(STANDARD_EXAMPLE[:17]) == "X"
    citizen = parse(STANDARD_EXAMPLE, AT, SHANGHAI)
    assert (citizen.age, citizen.under_14, citizen.minor) == (74, False, False)
    # the other example's check character is right, but a birth in 1880 is refused here
    assert mod11_2(STANDARD_EXAMPLE_1880[:17]) == check_character(STANDARD_EXAMPLE_1880[:17]) == "4"
    assert refusal(STANDARD_EXAMPLE_1880).reason == "birth date"


def test_check_character_needs_17_ascii_digits():
    for bad in ["1101051949123100", "110105194912310021", "11010519491231OO2", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢"]:
        with pytest.raises(ValueError, match="17 ASCII digits"):
            check_character(bad)


@given(valid_numbers)
def test_every_valid_number_parses_and_its_check_character_round_trips(number):
    citizen = parse(number, AT, SHANGHAI)
    assert check_character(number[:17]) == number[17]
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    age = expected_age(birth, SHANGHAI_TODAY)
    assert citizen.facts == AgeFacts(age)
    assert (citizen.age, citizen.under_14, citizen.minor) == (age, age < 14, age < 18)
    assert_hides(repr(citizen) + str(citizen), number)


@given(valid_numbers, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_a_changed_character_is_refused_without_showing_the_number(number, position, char):
    changed = number[:position] + char + number[position + 1 :]
    if changed == number:
        return
    err = refusal(changed)
    assert err.reason in REASONS
    assert_exception_hides(err, changed)


@pytest.mark.parametrize(
    "number",
    [
        STANDARD_EXAMPLE,
        make_number("440524", date(1980, 1, 1), 1),
        make_number("310104", date(2012, 2, 29), 457),  # under 14
        make_number("650102", date(2006, 6, 15), 998),  # 18 today
        make_number("820000", date(1999, 12, 20), 0),
    ],
)
def test_every_single_substitution_is_refused_and_the_check_character_alone_catches_it(number):
    parse(number, AT, SHANGHAI)
    for position in range(18):
        for char in "0123456789X":
            if char == number[position]:
                continue
            changed = number[:position] + char + number[position + 1 :]
            err = refusal(changed)
            if position == 17:
                assert err.reason == "check character"
            elif char != "X":  # a digit for a digit: whatever else is refused first, the check catches it too
                assert check_character(changed[:17]) != changed[17]
            else:
                assert err.reason == "characters"


@pytest.mark.parametrize("number", [STANDARD_EXAMPLE, make_number("440524", date(1980, 1, 1), 1)])
def test_adjacent_transpositions_in_the_digits_are_caught_by_the_check_character(number):
    for i in range(16):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert check_character(swapped[:17]) != swapped[17]
            refusal(swapped)


def test_typing_is_normalised_spaces_lowercase_x_and_full_width():
    full_width = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "ｘ" for c in STANDARD_EXAMPLE)
    for typed in ["110105 19491231 002x", " 11010519491231002x\n", "110105\u300019491231002X", full_width]:
        citizen = parse(typed, AT, SHANGHAI)
        assert citizen.keyed_hash(SECRET_A) == keyed_hash(STANDARD_EXAMPLE, SECRET_A)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "wrong length"),
        (STANDARD_EXAMPLE[:17], "wrong length"),
        (STANDARD_EXAMPLE + "1", "wrong length"),
        ("110105491231002", "wrong length"),  # a first-generation 15-digit number
        ("11010519491231002Y", "characters"),
        ("1101051949123100X2", "characters"),
        ("11O10519491231002X", "characters"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "characters"),  # Arabic-Indic digits are not the standard's
        (make_number("000000", date(1980, 1, 1), 1), "region code"),
        (make_number("101010", date(1980, 1, 1), 1), "region code"),
        (make_number("161010", date(1980, 1, 1), 1), "region code"),
        (make_number("991010", date(1980, 1, 1), 1), "region code"),
        ("11010519491231002" + "1", "check character"),
    ],
)
def test_refusal_reasons(text, reason):
    err = refusal(text)
    assert err.reason == reason and str(err) == reason
    assert err.words("en") and err.words("zh") == REASONS[reason]["zh"]
    assert_exception_hides(err, text)


def body_with(birth_digits: str) -> str:
    body = "110105" + birth_digits + "123"
    return body + mod11_2(body)


@pytest.mark.parametrize(
    ("birth_digits", "valid"),
    [
        ("19000229", False),  # 1900 was not a leap year
        ("20000229", True),  # 2000 was
        ("20230229", False),
        ("20240229", True),
        ("19000101", True),
        ("18991231", False),  # before 1900
        ("20241301", False),
        ("20240631", False),
        ("20240600", False),
        ("00000000", False),
        ("20240615", True),  # today in Shanghai at 23:30 UTC on 14 June
        ("20240616", False),  # tomorrow in Shanghai
    ],
)
def test_birth_dates(birth_digits, valid):
    number = body_with(birth_digits)
    if valid:
        parse(number, AT, SHANGHAI)
    else:
        assert refusal(number).reason == "birth date"


def test_tomorrow_is_refused_in_the_venues_time_zone():
    today = body_with("20240615")
    assert parse(today, AT, SHANGHAI).age == 0
    assert refusal(today, AT, ZoneInfo("UTC")).reason == "birth date"  # still 14 June in UTC
    tomorrow = (AT.astimezone(SHANGHAI) + timedelta(days=1)).date()
    assert refusal(body_with(f"{tomorrow:%Y%m%d}")).reason == "birth date"


def test_the_time_of_the_check_must_carry_its_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse(STANDARD_EXAMPLE, datetime(2024, 6, 15, 7, 30), SHANGHAI)


@pytest.mark.parametrize(
    ("birth", "tz", "age", "under_14", "minor"),
    [
        (date(2010, 6, 15), SHANGHAI, 14, False, True),  # the 14th birthday (already 15 June in Shanghai)
        (date(2010, 6, 16), SHANGHAI, 13, True, True),  # the day before the 14th birthday
        (date(2010, 6, 15), ZoneInfo("UTC"), 13, True, True),  # the same instant is still 14 June in UTC
        (date(2006, 6, 15), SHANGHAI, 18, False, False),  # the 18th birthday
        (date(2006, 6, 16), SHANGHAI, 17, False, True),  # the day before it
        (date(2006, 6, 15), ZoneInfo("UTC"), 17, False, True),
        (date(2024, 6, 15), SHANGHAI, 0, True, True),
    ],
)
def test_age_boundaries_at_2330_utc(birth, tz, age, under_14, minor):
    citizen = parse(make_number("110105", birth, 12), AT, tz)
    assert (citizen.age, citizen.under_14, citizen.minor) == (age, under_14, minor)
    assert repr(citizen) == f"CitizenNumber(age={age}, under_14={under_14}, minor={minor}, number=<hidden>)"
    assert documents.manual_entry("passport", birth, AT, tz) == citizen.facts


def test_born_on_29_february_the_birthday_is_1_march_in_other_years():
    number = make_number("310104", date(2012, 2, 29), 457)
    before = datetime(2026, 2, 28, 15, 30, tzinfo=UTC)  # 23:30 on 28 Feb in Shanghai
    on = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)  # 00:30 on 1 Mar in Shanghai
    assert parse(number, before, SHANGHAI).under_14 and parse(number, before, SHANGHAI).age == 13
    assert not parse(number, on, SHANGHAI).under_14 and parse(number, on, SHANGHAI).age == 14
    assert age_on(date(2012, 2, 29), date(2024, 2, 28)) == 11
    assert age_on(date(2012, 2, 29), date(2024, 2, 29)) == 12  # a leap year has the day itself
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(0, 120 * 366))
def test_age_on_agrees_with_an_independent_count(birth, days):
    day = birth + timedelta(days=days)
    assert age_on(birth, day) == expected_age(birth, day)


# --- the keyed hash and the venue secret


def test_keyed_hash_is_hmac_sha256_per_venue_and_never_a_plain_hash():
    citizen = parse(STANDARD_EXAMPLE, AT, SHANGHAI)
    a, b = citizen.keyed_hash(SECRET_A), citizen.keyed_hash(SECRET_B)
    assert a != b and len(a) == len(b) == 64 and int(a, 16) >= 0
    assert a == hmac.new(SECRET_A, STANDARD_EXAMPLE.encode(), hashlib.sha256).hexdigest()
    for plain in [STANDARD_EXAMPLE, STANDARD_EXAMPLE.lower(), STANDARD_EXAMPLE[:17]]:
        assert hashlib.sha256(plain.encode()).hexdigest() not in (a, b)
    assert a == keyed_hash(" 11010519491231002x ", SECRET_A)
    other = parse(make_number("110105", date(1949, 12, 31), 3), AT, SHANGHAI)
    assert other.keyed_hash(SECRET_A) != a


def test_keyed_hash_needs_a_real_secret():
    citizen = parse(STANDARD_EXAMPLE, AT, SHANGHAI)
    for weak in [b"", b"short", b"x" * 31]:
        with pytest.raises(ValueError, match="at least 32 bytes"):
            citizen.keyed_hash(weak)


def test_the_number_is_kept_privately_and_can_be_forgotten():
    citizen = parse(STANDARD_EXAMPLE, AT, SHANGHAI)
    shown = repr(citizen) + str(citizen) + f"{citizen}" + repr(citizen.facts) + repr(vars(citizen.facts))
    assert_hides(shown, STANDARD_EXAMPLE)
    assert not hasattr(citizen, "__dict__")
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="not pickled or copied"):
            attempt(citizen)
    citizen.forget()
    with pytest.raises(RuntimeError, match="forgotten") as caught:
        citizen.keyed_hash(SECRET_A)
    assert_hides(str(caught.value), STANDARD_EXAMPLE)
    assert citizen.age == 74 and isinstance(citizen, CitizenNumber)


def test_an_id_check_error_takes_only_its_own_words():
    with pytest.raises(ValueError, match="not one of the ID-check reasons") as caught:
        InvalidNumber(STANDARD_EXAMPLE)
    assert_hides(str(caught.value), STANDARD_EXAMPLE)
    for reason, words in REASONS.items():
        assert set(words) == {"zh", "en"} and all(words.values())
        assert not any(c.isdigit() for c in reason)
        assert pickle.loads(pickle.dumps(InvalidNumber(reason))).reason == reason


def test_venue_secret_is_created_once_0600_and_read_back(tmp_path):
    path = tmp_path / "state" / "idcheck" / "venue.secret"
    with pytest.raises(FileNotFoundError):
        venue_secret(path, create=False)
    first = venue_secret(path)
    assert len(first) == 32 and venue_secret(path) == first and venue_secret(path, create=False) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == first.hex()
    path.chmod(0o644)
    assert venue_secret(path) == first and path.stat().st_mode & 0o777 == 0o600
    assert venue_secret(tmp_path / "other.secret") != first


def test_a_malformed_venue_secret_is_named_not_shown(tmp_path):
    path = tmp_path / "venue.secret"
    for content in ["not hex at all, a password\n", "ab" * 31 + "\n"]:
        path.write_text(content)
        with pytest.raises(ValueError, match="64 hexadecimal characters") as caught:
            venue_secret(path)
        assert str(path) in str(caught.value) and content.strip() not in str(caught.value)


# --- documents and birth dates entered by hand


def test_documents_are_one_list_with_codes_and_words():
    codes = [d.code for d in documents.DOCUMENTS]
    assert codes == [
        "citizen_id",
        "passport",
        "hk_macao_permit",
        "taiwan_permit",
        "foreign_permanent_residence",
        "other",
    ]
    assert len(set(codes)) == len(codes) and set(documents.BY_CODE) == set(codes)
    for doc in documents.DOCUMENTS:
        assert set(doc.words) == {"zh", "en"} and doc.label("zh") and doc.label("en")
        assert doc.code.isascii() and doc.code == doc.code.lower()
        assert doc.manual_birth_date == (doc.code != "citizen_id")
        assert documents.document(doc.code) is doc
    assert documents.CITIZEN_ID.label("zh") == "居民身份证"
    with pytest.raises(IdCheckError) as caught:
        documents.document("driving_licence")
    assert caught.value.reason == "document type"


def test_manual_entry_gives_the_same_age_facts():
    passport = documents.document("passport")
    assert documents.manual_entry(passport, date(2010, 6, 15), AT, SHANGHAI) == AgeFacts(14)
    facts = documents.manual_entry("taiwan_permit", date(2010, 6, 16), AT, SHANGHAI)
    assert (facts.age, facts.under_14, facts.minor) == (13, True, True)
    assert documents.manual_entry("other", date(2006, 6, 15), AT, SHANGHAI).minor is False
    assert documents.manual_entry("hk_macao_permit", date(2006, 6, 16), AT, SHANGHAI).minor is True


@pytest.mark.parametrize("birth", [date(1899, 12, 31), date(2024, 6, 16), date(2030, 1, 1)])
def test_manual_entry_refuses_impossible_birth_dates(birth):
    with pytest.raises(InvalidBirthDate) as caught:
        documents.manual_entry("foreign_permanent_residence", birth, AT, SHANGHAI)
    assert caught.value.reason == "birth date" and not any(c.isdigit() for c in str(caught.value))


def test_manual_entry_is_not_for_the_citizen_id_card():
    with pytest.raises(IdCheckError) as caught:
        documents.manual_entry("citizen_id", date(2000, 1, 1), AT, SHANGHAI)
    assert caught.value.reason == "document type"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20100615", date(2010, 6, 15)),
        ("2010-06-15", date(2010, 6, 15)),
        ("2010/6/5", date(2010, 6, 5)),
        ("2010.06.15", date(2010, 6, 15)),
        ("2010年6月15日", date(2010, 6, 15)),
        ("２０１０年６月１５日", date(2010, 6, 15)),
        (" 2000-02-29 ", date(2000, 2, 29)),
        ("1900-02-29", None),
        ("2010615", None),
        ("2010-13-01", None),
        ("15/06/2010", None),
        ("", None),
    ],
)
def test_birth_date_from_text(text, expected):
    if expected is None:
        with pytest.raises(InvalidBirthDate):
            documents.birth_date_from_text(text)
    else:
        assert documents.birth_date_from_text(text) == expected
