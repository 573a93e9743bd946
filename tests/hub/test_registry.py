"""Venues and schools: CSV import/export round trip, validation naming row and column, the 200 m
school flag, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from humiao.hub import messages, registry
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.tables import Venue

pytestmark = pytest.mark.services

VENUES = (
    "\ufeffid,name,venue_type,district_id,address,lat,lon,licence_no,credit_code,operator,legal_representative,"
    "sign_posted,sign_checked_on,dishonest_list\n"
    "ktv-golden,金色年华KTV,ktv,xuhui,漕溪北路 1 号,31.19000,121.43700,WH-2024-001,91310104MA1FL0XX3X,"
    "金色年华娱乐有限公司,张三,true,2026-10-01,false\n"
    "cafe-7,七号网咖,internet_cafe,xuhui,,31.20000,121.44000,WB-88,,,,false,,true\n"
    "arcade-x,X 游艺,arcade,minhang,,,,,,,,false,,false\n"
)
SCHOOLS = """id,name,district_id,lat,lon
school-1,徐汇中学,xuhui,31.1915,121.437
"""


@pytest.fixture
def session(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    with sessions(engine)() as s:
        yield s
    engine.dispose()


def test_import_export_and_school_proximity(session):
    with session.begin():
        assert registry.import_schools(session, SCHOOLS) == 1
        assert registry.import_venues(session, VENUES.replace("91310104MA1FL0XX3X", "91310104MA1FL0XX3X")) == 3
    golden, cafe, arcade = (session.get(Venue, i) for i in ("ktv-golden", "cafe-7", "arcade-x"))
    assert golden.near_school and 160 < golden.nearest_school_m < 175  # 0.0015° of latitude ≈ 167 m
    assert not cafe.near_school and 900 < cafe.nearest_school_m < 1100 and cafe.dishonest_list
    assert arcade.nearest_school_m is None and not arcade.near_school  # no coordinates: not flagged
    assert golden.name == "金色年华KTV" and golden.sign_posted and str(golden.sign_checked_on) == "2026-10-01"
    text = registry.export_venues(session)
    assert text.splitlines()[0] == ",".join(registry.VENUE_COLUMNS)
    assert registry.export_venues(session, district="minhang").count("\n") == 2
    registry.import_venues(session, text)  # re-importing the export changes nothing
    session.commit()
    assert registry.export_venues(session) == text
    assert registry.export_schools(session) == SCHOOLS


def test_a_bad_file_imports_nothing_and_names_row_and_column(session):
    bad = (
        VENUES.replace("internet_cafe", "sauna").replace("MA1FL0XX3X", "MA1FL0ZZZZ").replace("31.20000", "91.2")
        + "ktv-golden,dup,ktv,xuhui,,,,,,,,false,,false\n"
    )
    with pytest.raises(registry.RegistryError) as err:
        registry.import_venues(session, bad)
    session.rollback()
    text = str(err.value)  # in English for the command line; the API answers in the caller's language
    assert "row 3, venue_type: one of ktv, bar" in text and "row 3, lat:" in text
    assert "row 5, id: 'ktv-golden' appears twice" in text
    assert "row 2, credit_code" in text  # Z is not a letter of unified social credit codes
    zh = messages.render({"code": err.value.code, "params": err.value.params}, "zh-CN")
    assert "第 3 行，venue_type：应为以下之一" in zh and "第 5 行，id：“ktv-golden”出现两次" in zh
    assert session.get(Venue, "cafe-7") is None
    with pytest.raises(registry.RegistryError, match="unknown columns colour"):
        registry.import_schools(session, "id,name,district_id,lat,lon,colour\n")


def test_distance():
    assert abs(registry.distance_m(31.0, 121.0, 31.0, 121.001) - 95.3) < 0.5
    assert registry.distance_m(31.2, 121.4, 31.2, 121.4) == 0


def test_cli_import_export(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HUMIAO_HUB__DATA_DIR": str(tmp_path / "hub")}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "humiao.cli", "hub", *args], capture_output=True, text=True, env=env, timeout=60
        )

    (tmp_path / "v.csv").write_text(VENUES, encoding="utf-8")
    done = cli("venues", "import", str(tmp_path / "v.csv"))
    assert done.returncode == 0 and "imported 3 venues" in done.stdout, done.stderr
    done = cli("venues", "export", "-", "--district", "xuhui")
    assert done.returncode == 0 and done.stdout.count("\n") == 3 and "金色年华KTV" in done.stdout
    (tmp_path / "bad.csv").write_text("id,name\nx,y\n")
    done = cli("venues", "import", str(tmp_path / "bad.csv"))
    assert done.returncode == 2 and "missing columns" in done.stderr


def test_export_neutralises_formulas_and_round_trips_without_double_escaping(session):
    """A name that a spreadsheet would run (OWASP CSV injection) is exported with a leading quote;
    importing the export takes exactly that quote off again, so export → import → export is stable
    however often it is repeated (no double escaping), and a name that really starts with a quote
    (stored by other means than an import) is kept. The price: an import reads a leading quote before
    = + - @ as that escape, as a spreadsheet would (a file saying '=x imports the name =x)."""
    names = {
        "v-link": '=HYPERLINK("http://x","y")',
        "v-at": "@SUM(1)",
        "v-plus": "+1",
        "v-minus": "-1",
        "v-quoted": "'=typed with its quote",
        "v-plain": "KTV -1 'x'",
    }
    head = "id,name,venue_type,district_id,lat,lon,operator\n"
    rows = [[vid, name, "ktv", "xuhui", "-33.5", "-70.6", "=1+1"] for vid, name in names.items()]
    raw = io.StringIO()
    csv.writer(raw, lineterminator="\n").writerows(rows)
    registry.import_venues(session, head + raw.getvalue())  # as typed, a formula or already quoted
    session.commit()
    assert {v.id: v.name for v in session.scalars(select(Venue))} == {**names, "v-quoted": "=typed with its quote"}
    session.get(Venue, "v-quoted").name = names["v-quoted"]  # a name that does start with a quote
    session.commit()
    first = registry.export_venues(session)
    exported = {r["id"]: r for r in csv.DictReader(io.StringIO(first))}
    assert {k: r["name"] for k, r in exported.items()} == {
        "v-link": '\'=HYPERLINK("http://x","y")',
        "v-at": "'@SUM(1)",
        "v-plus": "'+1",
        "v-minus": "'-1",
        "v-quoted": "''=typed with its quote",
        "v-plain": "KTV -1 'x'",
    }
    assert {r["operator"] for r in exported.values()} == {"'=1+1"}
    assert {(r["lat"], r["lon"]) for r in exported.values()} == {("-33.5", "-70.6")}  # numbers as numbers
    for _ in range(3):
        registry.import_venues(session, first)
        session.commit()
        assert {v.id: v.name for v in session.scalars(select(Venue))} == names
        assert registry.export_venues(session) == first
