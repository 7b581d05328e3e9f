"""Trained forests for a sweep: one training per distinct `ForestSpec`, cached on disk.

A cache entry is `<cache>/<key>/train.pkl` (the pickled `forest.command.TrainResult`: forest,
monolith, dataset) beside the forest folder `nfcore train` writes. The key hashes the spec
and the code version, so a change to the training code retrains. Workers read the pickle
(once per process), so the cache folder must be visible to them: local processes and a
Dask cluster on a shared file system are.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
from pathlib import Path

from forest.command import TrainResult, run_train
from nfcore.sweep.spec import ForestSpec
from nfcore.sweep.version import code_version

TRAIN_FILE = "train.pkl"
FOREST_FOLDER = "forest"
"""The saved forest (as `nfcore train` writes it) beside the pickle; the compiler reads it."""


def forest_key(spec: ForestSpec) -> str:
    blob = json.dumps({"forest": spec.to_dict(), "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_forest(spec: ForestSpec, cache: Path, quiet: bool = True) -> Path:
    """Train `spec` into `cache` unless it is there; return its pickle's path."""
    folder = cache / forest_key(spec)
    pkl = folder / TRAIN_FILE
    if pkl.is_file():
        return pkl
    trained = run_train(spec.dataset, folder / FOREST_FOLDER, trees=spec.trees or None,
                        top_k=spec.top_k or None, kinds=None,
                        tree_size=spec.tree_size or None, epochs=spec.epochs or None,
                        tasks=spec.tasks, seed=spec.seed, quiet=quiet)
    tmp = pkl.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(pickle.dumps(trained))
    tmp.replace(pkl)  # atomic: a killed run never leaves a half-written cache entry
    return pkl


@functools.lru_cache(maxsize=4)
def load_trained(pkl: str) -> TrainResult:
    """The cached training result at `pkl` (memoised per worker process)."""
    with open(pkl, "rb") as f:
        trained: TrainResult = pickle.load(f)
    return trained
