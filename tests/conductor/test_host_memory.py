"""Host memory probes: lazy loading holds fewer trees than whole, and the figures are sane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conductor_helpers import SavedForest

from nfcore.errors import NFCoreError
from nfcore.flows.host_memory import host_memory, probe


def test_lazy_loads_only_routed_trees_and_whole_loads_all(saved_forest: SavedForest,
                                                          image_dir: Path) -> None:
    x = saved_forest.data.x_test[:1]  # one request: top-2 of 6 trees
    mem = host_memory(saved_forest.folder, image_dir, x)
    assert mem["requests"] == 1
    assert mem["lazy_trees_loaded"] == 2
    assert mem["whole_trees_loaded"] == saved_forest.forest.n_trees == 6
    assert 0 < mem["base_mib"] < mem["opened_mib"] <= mem["lazy_mib"]
    assert mem["weight_bytes_touched_per_request"] > 0


def test_a_failing_probe_names_itself(saved_forest: SavedForest, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", saved_forest.data.x_test[:1])
    with pytest.raises(NFCoreError, match="probe 'lazy' failed"):
        probe("lazy", saved_forest.folder, tmp_path / "no_image", tmp_path / "x.npy",
              tmp_path / "log.jsonl")
