"""Reader plug-ins for the second-generation resident ID card readers venues already own.

The plug-in shape follows Frigate's detector plug-ins: a small abstract base (``CardReader``: a ``kind``,
a ``name``, ``open()``, ``close()``, ``read(timeout)``) built from one configuration section
(``ReaderConfig``), and one list of kinds (``READER_KINDS``) that ``make_reader`` picks from by name.

A ``CardRead`` carries what the chip gives that the check needs (number, name, birth date) in memory only:
its ``repr``/``str`` hide them and it refuses to be pickled or copied. The chip's photo, address and the
other fields are not carried at all: a reader plug-in drops them as it reads. ``CardRead.check`` turns a
read into a ``CitizenNumber`` (age facts and keyed hash) and refuses a chip whose birth date is not the
number's.

- ``SimulatedReader``: fed cards programmatically (tests, demonstrations); ``read`` hands them out in order.
- ``SerialReader``: a skeleton for a reader on a serial/USB device (``reader.device``). pyserial is not a
  dependency: it is imported when the reader opens, with a clear error when absent. The vendor's protocol
  is not implemented, and ``open()`` says so (``ReaderNotImplemented``).
"""

from __future__ import annotations

import importlib
import logging
import queue
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import ClassVar, NoReturn

from pydantic import Field, field_validator, model_validator

from humiao.config import Section
from humiao.edge.idcheck.number import CitizenNumber, InvalidNumber, normalise, parse

log = logging.getLogger("humiao.edge.idcheck")

# What the serial skeleton lacks: the words its error uses.
VENDOR_PROTOCOL = (
    "the card reader vendor's protocol (the commands that find and select a card and read its text "
    "through the reader's security module, as the vendor's SDK documents them)"
)
PYSERIAL = "the pyserial package (pip install pyserial)"


class ReaderError(RuntimeError):
    """A reader that cannot be used: its message names the reader and what is wrong, never a card's content."""


class ReaderNotImplemented(ReaderError, NotImplementedError):
    """A reader kind whose protocol is not written yet."""


@dataclass(frozen=True, repr=False)
class CardRead:
    """One card as the chip gave it, in memory only: never stored, logged or sent."""

    number: str = field(repr=False)
    name: str = field(repr=False)
    birth_date: date = field(repr=False)

    def check(self, at: datetime, tz: tzinfo) -> CitizenNumber:
        """The number's age facts and keyed hash at ``at`` in the venue's ``tz``; ``InvalidNumber`` when the
        number is invalid or the chip's birth date is not the one in the number ('birth date')."""
        citizen = parse(self.number, at, tz)
        if normalise(self.number)[6:14] != self.birth_date.strftime("%Y%m%d"):
            citizen.forget()
            raise InvalidNumber("birth date")
        return citizen

    def __repr__(self) -> str:
        return "CardRead(number=<hidden>, name=<hidden>, birth_date=<hidden>)"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a CardRead holds a person's ID: it is not pickled or copied")


class ReaderConfig(Section):
    kind: str = Field(description="the reader plug-in: one of READER_KINDS (simulated, serial)")
    name: str = Field("counter", min_length=1, description="this reader's label in logs and status")
    device: Path | None = Field(None, description="serial: the reader's device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(115200, gt=0, description="serial: the line speed the reader expects")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in READERS:
            raise ValueError(f"must be one of {', '.join(READERS)}")
        return v

    @model_validator(mode="after")
    def _device_when_needed(self) -> ReaderConfig:
        if READERS[self.kind].needs_device and self.device is None:
            raise ValueError(f"reader kind {self.kind!r} needs reader.device")
        return self


class CardReader(ABC):
    """A card reader plug-in. ``read`` returns the next card placed on the reader within ``timeout``
    seconds, or None; use it between ``open()`` and ``close()`` (or as a context manager)."""

    kind: ClassVar[str]
    needs_device: ClassVar[bool] = False

    def __init__(self, config: ReaderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def read(self, timeout: float) -> CardRead | None: ...

    def __enter__(self) -> CardReader:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class SimulatedReader(CardReader):
    """Cards fed programmatically (``feed``), read in the order they were fed; None when none comes in time.
    Closing it forgets the cards not read yet."""

    kind = "simulated"

    def __init__(self, config: ReaderConfig | None = None) -> None:
        super().__init__(config or ReaderConfig(kind=self.kind))
        self._cards: queue.Queue[CardRead] = queue.Queue()
        self._open = False

    def feed(self, *cards: CardRead) -> None:
        for card in cards:
            self._cards.put(card)

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False
        while True:
            try:
                self._cards.get_nowait()
            except queue.Empty:
                return

    def read(self, timeout: float) -> CardRead | None:
        if not self._open:
            raise ReaderError(f"reader {self.name!r}: not open")
        try:
            return self._cards.get(timeout=timeout) if timeout > 0 else self._cards.get_nowait()
        except queue.Empty:
            return None


class SerialReader(CardReader):
    """A skeleton for a reader on a serial or USB-serial device: it checks the device and opens it (with
    pyserial, imported here), then stops with ``ReaderNotImplemented`` naming what is missing."""

    kind = "serial"
    needs_device = True

    def _missing(self, also: list[str]) -> ReaderNotImplemented:
        return ReaderNotImplemented(
            f"serial reader {self.name!r} on {self.config.device}: not implemented yet, missing "
            + "; ".join([VENDOR_PROTOCOL, *also])
        )

    def open(self) -> None:
        device = self.config.device
        if device is None or not device.exists():
            raise ReaderError(f"serial reader {self.name!r}: no such device {device}")
        try:
            serial = importlib.import_module("serial")
        except ImportError:
            raise self._missing([PYSERIAL]) from None
        try:
            port = serial.Serial(str(device), baudrate=self.config.baudrate, timeout=1.0)
        except (OSError, ValueError) as err:  # pyserial's SerialException is an OSError
            raise ReaderError(f"serial reader {self.name!r}: cannot open {device}: {err}") from None
        port.close()
        log.info("serial reader %r: %s opens, but the vendor protocol is not implemented", self.name, device)
        raise self._missing([])

    def close(self) -> None:
        return None

    def read(self, timeout: float) -> CardRead | None:
        raise self._missing([])


# The one list of reader kinds; ``ReaderConfig.kind`` names one of them.
READER_KINDS: tuple[type[CardReader], ...] = (SimulatedReader, SerialReader)
READERS: Mapping[str, type[CardReader]] = MappingProxyType({cls.kind: cls for cls in READER_KINDS})


def make_reader(config: ReaderConfig) -> CardReader:
    return READERS[config.kind](config)
