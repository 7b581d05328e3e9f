"""A small trained forest (digits: shared conv stem, 3 CNN + 3 MLP trees, top-2), saved once
per session, and a 2 x 2 mesh config to serve it on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conductor_helpers import MONOLITH_PARAMS, SavedForest

from forest.build import ForestOptions, train_forest
from forest.datasets import load_dataset
from forest.fit import FitOptions
from forest.io import save_forest
from nfcore.config import NFCoreConfig


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def saved_forest(tmp_path_factory: pytest.TempPathFactory) -> SavedForest:
    data = load_dataset("digits")
    quick = FitOptions(epochs=3)
    opts = ForestOptions(n_trees=6, top_k=2, kinds=("cnn", "mlp"), tree_size=6, stem_width=6,
                         fit=quick, stem_fit=quick, router_steps=50)
    forest, _ = train_forest(data, opts)
    forest.meta["monolith"] = {"n_parameters": MONOLITH_PARAMS}
    folder = save_forest(forest, tmp_path_factory.mktemp("forest") / "digits")
    calib = forest.features(data.x_train[:256]).numpy()
    return SavedForest(folder, forest, data, calib)


@pytest.fixture(scope="session")
def cfg() -> NFCoreConfig:
    base = NFCoreConfig()
    return NFCoreConfig.from_dict({**base.to_dict(),
                                   "mesh": {**dataclasses.asdict(base.mesh), "rows": 2,
                                            "cols": 2}}, source="test")


@pytest.fixture(scope="session")
def image_dir(saved_forest: SavedForest, cfg: NFCoreConfig,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The forest compiled for `cfg` and saved as a format-3 image."""
    from nfcore.compiler import compile_forest

    image = compile_forest(saved_forest.folder, cfg, calib_x=saved_forest.data.x_train[:256],
                           progress=False)
    return image.save(tmp_path_factory.mktemp("image") / "digits")
