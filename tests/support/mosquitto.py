"""Tests use the project's private-service helpers (also used by the benchmarks)."""

from tests.support.services import Mosquitto, free_port  # noqa: F401
