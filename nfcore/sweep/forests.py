"""Trained forests for a sweep: one training per distinct `ForestSpec`, cached on disk.

A cache entry is the folder `<cache>/<key>/`: the forest as `nfcore train` writes it
(`forest/`: `manifest.json` and `weights.safetensors`, checked by `forest.io` against its
hashes), `train.safetensors` (the dataset's arrays, the monolith's weights and the
specialization figures) and `train.json` (everything else of `forest.command.TrainResult`,
and the SHA-256 of `train.safetensors`). Nothing is ever unpickled: a cache folder is data,
so a planted or corrupt file can make an entry invalid but cannot run code. An invalid entry
is refused with the reason (`ForestCacheError`) and `ensure_forest` retrains it.

The key hashes the spec and the code version, so a change to the training code retrains.
Workers read an entry once per process, so the cache folder must be visible to them: local
processes and a Dask cluster on a shared file system are.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from forest.build import ForestReport
from forest.command import TrainResult, run_train
from forest.datasets import Dataset
from forest.errors import ForestError
from forest.io import load_forest
from forest.monolith import MonolithResult, RungResult
from forest.scaling import InputScaling
from forest.specialize import Specialization
from forest.trees import TreeSpec, build_tree
from nfcore.errors import NFCoreError
from nfcore.sweep.spec import ForestSpec
from nfcore.sweep.version import code_version

FOREST_FOLDER = "forest"
"""The saved forest (as `nfcore train` writes it); the compiler reads it."""
META_FILE = "train.json"
TENSORS_FILE = "train.safetensors"
FORMAT = "nfcore-sweep-trained-forest"
FORMAT_VERSION = 2
"""2: the monolith is a ladder of (width, depth) rungs with validation accuracies."""


class ForestCacheError(NFCoreError):
    """A forest cache entry is missing a file, corrupt, or not of this format."""


def forest_key(spec: ForestSpec) -> str:
    blob = json.dumps({"forest": spec.to_dict(), "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_forest(spec: ForestSpec, cache: Path, quiet: bool = True) -> Path:
    """Train `spec` into `cache` unless a valid entry is there; return the entry's folder.

    An entry that does not load (corrupt, planted, of an older format) is reported on stderr
    with the reason and retrained in place."""
    folder = cache / forest_key(spec)
    if folder.exists():
        try:
            load_trained(str(folder))
            return folder
        except ForestCacheError as exc:
            print(f"nfcore: {exc}; retraining it", file=sys.stderr, flush=True)
            load_trained.cache_clear()
            shutil.rmtree(folder)
    # Train into a private folder and rename it: a killed run leaves no half-written entry.
    tmp = cache / f".{folder.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    trained = run_train(spec.dataset, tmp / FOREST_FOLDER, trees=spec.trees or None,
                        top_k=spec.top_k or None, kinds=None,
                        tree_size=spec.tree_size or None, epochs=spec.epochs or None,
                        tasks=spec.tasks, seed=spec.seed, quiet=quiet)
    _save(trained, tmp)
    tmp.replace(folder)
    return folder


def _save(trained: TrainResult, folder: Path) -> None:
    """`train.safetensors` and `train.json` of `trained` into `folder` (beside its forest)."""
    arrays: dict[str, np.ndarray] = {}
    data_meta: dict[str, Any] = {}
    for f in dataclasses.fields(Dataset):
        value = getattr(trained.data, f.name)
        if isinstance(value, np.ndarray):
            arrays[f"data.{f.name}"] = np.ascontiguousarray(value)
        elif isinstance(value, InputScaling):
            data_meta[f.name] = value.to_dict()
        else:
            data_meta[f.name] = value
    report = dataclasses.asdict(trained.report)
    spec = report.pop("specialization")
    arrays["report.specialization.home"] = np.asarray(spec["home"], dtype=np.float64)
    arrays["report.specialization.away"] = np.asarray(spec["away"], dtype=np.float64)
    mono = trained.monolith
    mono_meta = None
    if mono is not None:
        for name, t in mono.tree.state_dict().items():
            arrays[f"monolith.{name}"] = t.detach().cpu().numpy().copy()
        mono_meta = mono.to_dict()  # the chosen rung's weights only, not every rung's
    save_file(arrays, str(folder / TENSORS_FILE))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "tensors_sha256": _sha256(folder / TENSORS_FILE),
            "data": data_meta, "report": report, "monolith": mono_meta}
    (folder / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")


@functools.lru_cache(maxsize=4)
def load_trained(entry: str) -> TrainResult:
    """The cached training result in the folder `entry` (memoised per worker process).

    Raises `ForestCacheError` naming the entry and the reason when it is not valid."""
    folder = Path(entry)
    try:
        return _load(folder)
    except ForestCacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError,
            ForestError) as exc:  # ValueError covers json.JSONDecodeError
        raise ForestCacheError(f"forest cache entry {folder} is invalid: "
                               f"{type(exc).__name__}: {exc}") from None


def _load(folder: Path) -> TrainResult:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or \
            meta.get("format_version") != FORMAT_VERSION:
        raise ForestCacheError(f"forest cache entry {folder} is invalid: {META_FILE} is not "
                               f"a {FORMAT} file of version {FORMAT_VERSION}")
    if _sha256(folder / TENSORS_FILE) != meta["tensors_sha256"]:
        raise ForestCacheError(f"forest cache entry {folder} is invalid: {TENSORS_FILE} "
                               f"does not match the SHA-256 in {META_FILE}")
    arrays = load_file(str(folder / TENSORS_FILE))
    for a in arrays.values():
        a.setflags(write=False)
    data_fields: dict[str, Any] = {}
    for f in dataclasses.fields(Dataset):
        key = f"data.{f.name}"
        if key in arrays:
            data_fields[f.name] = arrays[key]
        elif f.name == "scaling" and meta["data"].get(f.name) is not None:
            data_fields[f.name] = InputScaling.from_dict(meta["data"][f.name])
        elif f.name in meta["data"]:
            value = meta["data"][f.name]
            data_fields[f.name] = tuple(value) if isinstance(value, list) else value
    report = dict(meta["report"])
    report["specialization"] = Specialization(arrays["report.specialization.home"],
                                              arrays["report.specialization.away"])
    mono = None
    if meta["monolith"] is not None:
        m = meta["monolith"]
        spec = TreeSpec.from_dict(m["spec"])
        params = {k.removeprefix("monolith."): torch.from_numpy(v.copy())
                  for k, v in arrays.items() if k.startswith("monolith.")}
        mono = MonolithResult(spec, build_tree(spec, params), float(m["accuracy"]),
                              float(m["target_accuracy"]), bool(m["matched"]),
                              bool(m["reached_on_validation"]),
                              [RungResult(**r) for r in m["tried"]])
    forest_dir = folder / FOREST_FOLDER
    return TrainResult(load_forest(forest_dir), ForestReport(**report), mono,
                       Dataset(**data_fields), forest_dir)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
