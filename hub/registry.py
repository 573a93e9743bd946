"""The registry: venues and schools, their CSV import/export, and school proximity.

A venue within ``school_radius_m`` (200 m) of a school is flagged ``near_school`` (with the distance
to the nearest), recomputed whenever venues or schools change. CSV files are UTF-8 (a BOM, as Excel
writes it, is accepted) with the header row of ``VENUE_COLUMNS`` / ``SCHOOL_COLUMNS``; an import
checks every row first and changes nothing when any row is wrong, naming row and column.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub.messages import SEMICOLONS, Message, Refusal, msg
from humiao.hub.rules.statutes import RULES
from humiao.hub.tables import School, Venue
from humiao.proto.topics import SEGMENT

SLUG = SEGMENT.pattern  # venue and district ids travel in MQTT topics: the wire's rule
EARTH_M = 6371008.8
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def neutralise_cell(value: object) -> object:
    """A value for a spreadsheet or CSV cell that no spreadsheet runs as a formula (OWASP "CSV
    injection"): a string that starts with = + - @ tab or CR gets a leading ``'``. Only strings: numbers
    (a negative fine, a longitude) are written as they are. A string that already starts with quotes
    followed by one of those gets one quote more, so that ``restore_cell`` (used on import) is its exact
    inverse: what the user typed, quote or not, comes back unchanged however often it goes round."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def restore_cell(value: object) -> object:
    """The inverse of ``neutralise_cell``, for a cell read back from an exported file: one leading quote
    off a value that, without its quotes, starts with = + - @ tab or CR; anything else unchanged (a cell
    written by hand as ``=1+1`` is kept as typed, and exported neutralised; a row's surplus fields,
    which csv gives as a list, are left for validation to refuse)."""
    if isinstance(value, str) and value.startswith("'") and value.lstrip("'").startswith(FORMULA_START):
        return value[1:]
    return value


class RegistryError(Refusal):
    """A registry file that cannot be imported, and why, in words (``registry.*``; each row's problems in
    ``params["problems"]``, messages naming row and column)."""


class VenueRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    venue_type: str
    district_id: str = Field(pattern=SLUG)
    address: str = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    licence_no: str = ""
    credit_code: str = Field("", pattern=r"^$|^[0-9A-HJ-NPQRTUWXY]{18}$")
    operator: str = ""
    legal_representative: str = ""
    sign_posted: bool = False
    sign_checked_on: date | None = None
    dishonest_list: bool = False

    @field_validator("venue_type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in RULES:
            raise PydanticCustomError("unknown_venue_type", "unknown venue type", {"expected": ", ".join(RULES)})
        return v

    @field_validator("lat", "lon", "sign_checked_on", mode="before")
    @classmethod
    def _blank(cls, v):
        return None if v == "" else v


class SchoolRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    district_id: str = Field(pattern=SLUG)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


VENUE_COLUMNS = list(VenueRow.model_fields)
SCHOOL_COLUMNS = list(SchoolRow.model_fields)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


def _parse(text: str, model: type[BaseModel], columns: list[str], what: str) -> list[BaseModel]:
    from humiao.hub.schemas import readable  # pydantic's errors as messages: the column and what it needs

    kind = msg(f"registry.what.{what}")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise RegistryError("registry.empty", what=kind)
    unknown = set(reader.fieldnames) - set(columns)
    missing = {c for c in columns if model.model_fields[c].is_required()} - set(reader.fieldnames)
    if unknown or missing:
        said = [msg("registry.unknown_columns", names=", ".join(sorted(unknown)))] if unknown else []
        said += [msg("registry.missing_columns", names=", ".join(sorted(missing)))] if missing else []
        raise RegistryError("registry.header", what=kind, problems=said, columns=", ".join(columns))
    rows: list[BaseModel] = []
    problems: list[Message] = []
    seen = set()
    for n, raw in enumerate(reader, start=2):  # row 1 is the header
        key = (raw.get("id") or "").strip()
        if key in seen:
            problems.append(msg("registry.row", row=n, problem=msg("registry.twice", id=key)))
        seen.add(key)
        try:
            rows.append(model.model_validate({k: restore_cell(v) for k, v in raw.items() if v is not None}))
        except ValidationError as err:
            problems += [msg("registry.row", row=n, problem=readable(dict(e))) for e in err.errors()]
    if problems:
        listed = msg(SEMICOLONS, items=problems[:50])
        raise RegistryError("registry.rows", what=kind, n=len(problems), problems=listed)
    return rows


def import_venues(session: Session, text: str, school_radius_m: float = 200.0) -> int:
    rows = _parse(text, VenueRow, VENUE_COLUMNS, "venues")
    now = datetime.now(UTC)
    for row in rows:
        session.merge(Venue(**row.model_dump(), updated_at=now))
    session.flush()
    flag_near_schools(session, school_radius_m)
    return len(rows)


def import_schools(session: Session, text: str, school_radius_m: float = 200.0) -> int:
    rows = _parse(text, SchoolRow, SCHOOL_COLUMNS, "schools")
    for row in rows:
        session.merge(School(**row.model_dump()))
    session.flush()
    flag_near_schools(session, school_radius_m)
    return len(rows)


def flag_near_schools(session: Session, radius_m: float = 200.0) -> None:
    schools = session.scalars(select(School)).all()
    for venue in session.scalars(select(Venue)):
        if venue.lat is None or venue.lon is None or not schools:
            venue.near_school, venue.nearest_school_m = False, None
            continue
        nearest = min(distance_m(venue.lat, venue.lon, s.lat, s.lon) for s in schools)
        venue.near_school, venue.nearest_school_m = nearest <= radius_m, round(nearest, 1)


def _export(rows, columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for obj in rows:
        values = {}
        for c in columns:
            v = getattr(obj, c)
            values[c] = "" if v is None else ("true" if v is True else "false" if v is False else neutralise_cell(v))
        writer.writerow(values)
    return out.getvalue()


def export_venues(session: Session, district: str | None = None) -> str:
    q = select(Venue).order_by(Venue.id)
    if district:
        q = q.where(Venue.district_id == district)
    return _export(session.scalars(q), VENUE_COLUMNS)


def export_schools(session: Session, district: str | None = None) -> str:
    q = select(School).order_by(School.id)
    if district:
        q = q.where(School.district_id == district)
    return _export(session.scalars(q), SCHOOL_COLUMNS)
