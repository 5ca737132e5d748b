"""Simulator test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every simulator test runs on one torch thread (tests/conftest.py)."""
