"""Test order: the array RTL suite writes the cycles that tests/sim/test_array_agreement.py
compares with the system model (and the paging test those of tests/sim/test_paging.py), so in one session it runs first (`make test` runs tests/
before sim_tests/ otherwise)."""

from __future__ import annotations

import pytest

FIRST = ("sim_tests/test_array_rtl.py", "sim_tests/test_paging_rtl.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.nodeid.startswith(FIRST) else 1)
