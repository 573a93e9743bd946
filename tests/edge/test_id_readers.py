"""Card reader plug-ins: the registry of kinds, the simulator the tests use, and the serial skeleton's errors.
A card read stays in memory: its repr hides the number, the name and the birth date."""

from __future__ import annotations

import copy
import logging
import pickle
import sys
import threading
import time
import types
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from humiao.edge.idcheck.number import InvalidNumber, check_character
from humiao.edge.idcheck.readers import (
    PYSERIAL,
    READER_KINDS,
    READERS,
    CardRead,
    CardReader,
    ReaderConfig,
    ReaderError,
    ReaderNotImplemented,
    SerialReader,
    SimulatedReader,
    make_reader,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2024, 6, 14, 23, 30, tzinfo=UTC)  # 15 June in Shanghai
SECRET = b"s" * 32


def number_for(birth: date, sequence: int = 123, region: str = "110105") -> str:
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


def card(name: str, birth: date, sequence: int = 123) -> CardRead:
    return CardRead(number=number_for(birth, sequence), name=name, birth_date=birth)


ADULT = card("张伟", date(1990, 3, 4))
CHILD = card("李小明", date(2010, 6, 16), 457)  # 14 tomorrow in Shanghai


def assert_hidden(shown: str, read: CardRead) -> None:
    for secret in [read.number, read.number[:17], read.number[6:14], read.name, read.birth_date.isoformat()]:
        assert secret not in shown


def test_a_card_read_hides_what_the_chip_gave():
    for read in (ADULT, CHILD):
        shown = repr(read) + str(read) + f"{read}" + repr([read]) + repr({"card": read})
        assert_hidden(shown, read)
        assert repr(read) == "CardRead(number=<hidden>, name=<hidden>, birth_date=<hidden>)"
        for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError, match="not pickled or copied"):
                attempt(read)
    assert not hasattr(ADULT, "photo")  # the chip's photo is never carried


def test_a_card_read_checks_into_age_facts_and_a_keyed_hash():
    adult, child = ADULT.check(AT, SHANGHAI), CHILD.check(AT, SHANGHAI)
    assert (adult.age, adult.minor) == (34, False)
    assert (child.age, child.under_14, child.minor) == (13, True, True)
    assert adult.keyed_hash(SECRET) != child.keyed_hash(SECRET)
    assert_hidden(repr(child), CHILD)


def test_a_chip_whose_birth_date_is_not_the_numbers_is_refused():
    odd = CardRead(number=ADULT.number, name=ADULT.name, birth_date=date(1990, 3, 5))
    with pytest.raises(InvalidNumber) as caught:
        odd.check(AT, SHANGHAI)
    assert caught.value.reason == "birth date"
    wrong_check = "0" if ADULT.number[-1] != "0" else "1"
    garbled = CardRead(number=ADULT.number[:-1] + wrong_check, name=ADULT.name, birth_date=ADULT.birth_date)
    with pytest.raises(InvalidNumber) as caught:
        garbled.check(AT, SHANGHAI)
    assert caught.value.reason == "check character"


def test_the_simulator_reads_cards_in_order_then_times_out():
    reader = SimulatedReader()
    with reader:
        reader.feed(ADULT, CHILD)
        reader.feed(ADULT)
        assert reader.read(timeout=1.0) is ADULT
        assert reader.read(timeout=1.0) is CHILD
        assert reader.read(timeout=0) is ADULT
        started = time.monotonic()
        assert reader.read(timeout=0.05) is None
        assert time.monotonic() - started >= 0.04
        assert reader.read(timeout=0) is None and reader.read(timeout=-1) is None


def test_the_simulator_hands_over_a_card_placed_while_it_waits():
    reader = SimulatedReader(ReaderConfig(kind="simulated", name="counter-2"))
    reader.open()
    placing = threading.Timer(0.05, reader.feed, args=(CHILD,))
    placing.start()
    try:
        assert reader.read(timeout=5.0) is CHILD
    finally:
        placing.cancel()
        reader.close()


def test_the_simulator_must_be_open_and_forgets_unread_cards_on_close():
    reader = SimulatedReader()
    with pytest.raises(ReaderError, match="'counter': not open"):
        reader.read(timeout=0)
    reader.open()
    reader.feed(ADULT, CHILD)
    reader.close()
    reader.open()
    assert reader.read(timeout=0) is None
    assert repr(reader) == "SimulatedReader(name='counter')"


def test_nothing_of_a_card_is_logged(caplog):
    caplog.set_level(logging.DEBUG)
    reader = make_reader(ReaderConfig(kind="simulated"))
    assert isinstance(reader, SimulatedReader)
    with reader:
        reader.feed(CHILD)
        read = reader.read(timeout=1.0)
        assert read is not None
        citizen = read.check(AT, SHANGHAI)
        citizen.keyed_hash(SECRET)
        citizen.forget()
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert_hidden(logged, CHILD)


def test_reader_kinds_are_one_list():
    assert [k.kind for k in READER_KINDS] == ["simulated", "serial"]
    assert dict(READERS) == {"simulated": SimulatedReader, "serial": SerialReader}
    assert all(issubclass(k, CardReader) for k in READER_KINDS)
    with pytest.raises(TypeError):
        CardReader(ReaderConfig(kind="simulated"))  # type: ignore[abstract]


def test_reader_configuration_is_checked():
    with pytest.raises(ValidationError, match="must be one of simulated, serial"):
        ReaderConfig(kind="bluetooth")
    with pytest.raises(ValidationError, match="needs reader.device"):
        ReaderConfig(kind="serial")
    with pytest.raises(ValidationError, match="Extra inputs"):
        ReaderConfig.model_validate({"kind": "simulated", "port": "/dev/ttyUSB0"})
    assert isinstance(make_reader(ReaderConfig(kind="serial", device="/dev/ttyUSB0")), SerialReader)


def serial_reader(device) -> SerialReader:
    reader = make_reader(ReaderConfig(kind="serial", name="front-desk", device=device))
    assert isinstance(reader, SerialReader)
    return reader


def test_the_serial_skeleton_names_a_missing_device(tmp_path):
    with pytest.raises(ReaderError, match=r"serial reader 'front-desk': no such device .*ttyNONE"):
        serial_reader(tmp_path / "ttyNONE").open()


def test_the_serial_skeleton_without_pyserial_names_the_protocol_and_the_package(tmp_path, monkeypatch):
    device = tmp_path / "ttyUSB0"
    device.touch()
    monkeypatch.setitem(sys.modules, "serial", None)  # as if pyserial were not installed
    with pytest.raises(NotImplementedError) as caught:
        serial_reader(device).open()
    err = caught.value
    assert isinstance(err, ReaderNotImplemented) and isinstance(err, ReaderError)
    message = str(err)
    assert message.startswith(f"serial reader 'front-desk' on {device}: not implemented yet, missing ")
    assert "the card reader vendor's protocol" in message and PYSERIAL in message


def test_the_serial_skeleton_opens_the_device_then_names_the_vendor_protocol(tmp_path, monkeypatch):
    device = tmp_path / "ttyUSB0"
    device.touch()
    opened: list[tuple[str, int, bool]] = []

    class FakePort:
        def __init__(self, path: str, baudrate: int, timeout: float) -> None:
            self.path, self.baudrate = path, baudrate

        def close(self) -> None:
            opened.append((self.path, self.baudrate, True))

    monkeypatch.setitem(sys.modules, "serial", types.SimpleNamespace(Serial=FakePort))
    reader = make_reader(ReaderConfig(kind="serial", name="front-desk", device=device, baudrate=9600))
    with pytest.raises(ReaderNotImplemented, match="vendor's protocol") as caught:
        reader.open()
    assert opened == [(str(device), 9600, True)]  # opened and closed again
    assert "pyserial" not in str(caught.value)
    with pytest.raises(ReaderNotImplemented, match="vendor's protocol"):
        reader.read(timeout=1.0)
    reader.close()


def test_the_serial_skeleton_reports_a_device_it_cannot_open(tmp_path, monkeypatch):
    device = tmp_path / "ttyUSB0"
    device.touch()

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setitem(sys.modules, "serial", types.SimpleNamespace(Serial=refuse))
    with pytest.raises(ReaderError, match="cannot open .*ttyUSB0.*Permission denied"):
        serial_reader(device).open()
