"""The forest cache holds data only (safetensors and JSON): a planted pickle runs nothing, a
corrupt entry is refused with the reason and retrained."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sweep_helpers import TINY_FOREST

import nfcore.sweep.forests as forests
from nfcore.sweep.forests import (
    META_FILE,
    TENSORS_FILE,
    ForestCacheError,
    ensure_forest,
    forest_key,
    load_trained,
)
from nfcore.sweep.spec import ForestSpec

SPEC = ForestSpec(**TINY_FOREST)


class _Planted:
    """Unpickling this creates the file `marker`: the proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def entry(tmp_path: Path, forest_cache: Path) -> Path:
    """A private copy of the session's cache entry."""
    folder = tmp_path / "cache" / forest_key(SPEC)
    shutil.copytree(forest_cache / forest_key(SPEC), folder)
    load_trained.cache_clear()
    return folder


def test_an_entry_is_data_only_and_loads_what_was_trained(forest_cache: Path) -> None:
    folder = forest_cache / forest_key(SPEC)
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert names == {META_FILE, TENSORS_FILE, "manifest.json", "weights.safetensors",
                     "input_scaling.json"}
    trained = load_trained(str(folder))
    mono = trained.monolith
    assert mono is not None
    with torch.no_grad():
        logits = mono.tree(torch.from_numpy(np.array(trained.data.x_test)))
    # The monolith's weights came back: its accuracy is the one measured at training.
    assert np.mean(logits.argmax(1).numpy() == trained.data.y_test) == mono.accuracy
    assert trained.forest.n_trees == trained.data.n_tasks == TINY_FOREST["tasks"]
    # The input scaling came back: it maps the raw test rows onto the stored standardized ones.
    scaling = trained.data.scaling
    assert scaling is not None and scaling.n_features == trained.data.x_test[0].size


@pytest.mark.parametrize("name", [META_FILE, TENSORS_FILE])
def test_a_planted_pickle_runs_nothing_and_the_entry_is_retrained(
        entry: Path, forest_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str) -> None:
    marker = tmp_path / "planted-code-ran"
    (entry / name).write_bytes(pickle.dumps(_Planted(marker)))
    (entry / "train.pkl").write_bytes(pickle.dumps(_Planted(marker)))  # the old format's name
    with pytest.raises(ForestCacheError, match=f"forest cache entry {entry} is invalid"):
        load_trained(str(entry))

    retrained: list[Path] = []

    def train_by_copying(dataset: str, output: Path, **kw: object) -> None:
        """Training is what the session fixture did; here the good entry is copied."""
        retrained.append(output)
        shutil.copytree(forest_cache / forest_key(SPEC), output.parent, dirs_exist_ok=True)

    monkeypatch.setattr(forests, "run_train", train_by_copying)
    monkeypatch.setattr(forests, "_save", lambda trained, folder: None)
    assert ensure_forest(SPEC, entry.parent) == entry
    assert not marker.exists(), "a planted pickle ran its command"
    assert retrained and "is invalid" in capsys.readouterr().err
    assert not (entry / "train.pkl").exists()
    assert load_trained(str(entry)).forest.n_trees == TINY_FOREST["tasks"]


def test_a_corrupt_tensors_file_is_refused_with_the_reason(entry: Path) -> None:
    blob = bytearray((entry / TENSORS_FILE).read_bytes())
    blob[-1] ^= 0xFF
    (entry / TENSORS_FILE).write_bytes(bytes(blob))
    with pytest.raises(ForestCacheError, match="train.safetensors does not match the SHA-256"):
        load_trained(str(entry))
    (entry / META_FILE).write_text("{not json")
    with pytest.raises(ForestCacheError, match="is invalid: JSONDecodeError"):
        load_trained(str(entry))
