"""A tiny forest trained once per session into a shared cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import TINY_FOREST, write_sweep

from nfcore.sweep.forests import ensure_forest
from nfcore.sweep.spec import ForestSpec, SweepSpec


@pytest.fixture(scope="session")
def forest_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("forests")
    ensure_forest(ForestSpec(**TINY_FOREST), cache)
    return cache


@pytest.fixture()
def tiny_spec(tmp_path: Path) -> SweepSpec:
    return SweepSpec.load(write_sweep(tmp_path, {"core.lanes": [8, 16],
                                                 "core.weight_sram_bytes": [2048, 4096]}))
