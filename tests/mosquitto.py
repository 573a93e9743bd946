"""Tests use the project's private-Mosquitto helper (also used by the benchmarks)."""

from humiao.localbroker import Mosquitto, free_port  # noqa: F401
