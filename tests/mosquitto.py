"""Tests use the project's private-service helpers (also used by the benchmarks)."""

from humiao.localsvc import Mosquitto, free_port  # noqa: F401
