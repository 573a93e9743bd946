"""File-mode helpers for the storage tests of edge and hub."""

from __future__ import annotations

import os
import stat

import pytest


@pytest.fixture
def usual_umask():
    """The common default (0022): files would come out 0644 and directories 0755 without care."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
