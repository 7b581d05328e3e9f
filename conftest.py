"""Test order: the array RTL suites write the cycles that tests/sim/test_array_agreement.py,
tests/sim/test_system_split.py and tests/sim/test_system_paging.py compare with the system model, so
in one session they run first (`make test` runs tests/ before sim_tests/ otherwise)."""

from __future__ import annotations

import pytest

FIRST = ("sim_tests/test_array_rtl.py", "sim_tests/test_split_trees_rtl.py",
         "sim_tests/test_paging_rtl.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.nodeid.startswith(FIRST) else 1)
