"""The key of the RTL cycle files: it changes with any RTL, contract or testbench source, so a
cycles file measured before an edit is measured again, never reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim_tests.tb import scenarios


def test_rtl_key_is_stable() -> None:
    assert scenarios.rtl_key() == scenarios.rtl_key()


@pytest.mark.parametrize("source", ["nfcore/hdl/router.py", "nfcore/arch/noc.py",
                                    "sim_tests/tb/array_tb.py", "nfcore/eda/verilator.vlt"])
def test_rtl_key_changes_with_each_source(source: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the sources with one byte appended to `source` gets another key."""
    for src in scenarios.RTL_KEY_SOURCES:
        path = scenarios.ROOT / src
        dest = tmp_path / src
        if path.is_dir():
            shutil.copytree(path, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest)
    monkeypatch.setattr(scenarios, "ROOT", tmp_path)
    before = scenarios.rtl_key()
    with open(tmp_path / source, "a") as f:
        f.write("\n")
    assert scenarios.rtl_key() != before
