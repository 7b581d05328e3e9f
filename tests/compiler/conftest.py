"""Fixtures for the compiler tests."""

from __future__ import annotations

import pytest
from compiler_helpers import Trained, trained_tree


@pytest.fixture(params=["wine", "digits"])
def trained(request: pytest.FixtureRequest) -> Trained:
    """A tree trained on wine, then on digits (each trained once per session)."""
    return trained_tree(request.param)
