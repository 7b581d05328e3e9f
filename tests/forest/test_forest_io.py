"""Save and load: identical predictions, one tree at a time, and refusal of bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from forest_helpers import QUICK

from forest.build import ForestOptions, train_forest
from forest.datasets import Dataset
from forest.errors import ForestFormatError
from forest.forest import NeuralForest
from forest.io import MANIFEST, SCALING, WEIGHTS, ForestReader, load_forest, save_forest


@pytest.fixture(scope="module")
def saved(mixed_forest: NeuralForest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_forest(mixed_forest, tmp_path_factory.mktemp("forest") / "digits")


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A private copy of the saved forest that a test may damage."""
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _edit_manifest(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    m = json.loads((folder / MANIFEST).read_text())
    edit(m)
    (folder / MANIFEST).write_text(json.dumps(m))


def test_save_then_load_gives_identical_predictions(mixed_forest: NeuralForest, saved: Path,
                                                    digits: Dataset) -> None:
    loaded = load_forest(saved)
    a, b = mixed_forest.predict(digits.x_test), loaded.predict(digits.x_test)
    assert torch.equal(a.probs, b.probs) and torch.equal(a.trees, b.trees)
    assert torch.equal(a.weights, b.weights)
    assert loaded.top_k == mixed_forest.top_k and loaded.kinds == mixed_forest.kinds
    assert loaded.meta["report"]["accuracy"] == mixed_forest.meta["report"]["accuracy"]


def test_manifest_describes_every_tree(mixed_forest: NeuralForest, saved: Path) -> None:
    m = json.loads((saved / MANIFEST).read_text())
    assert m["schema_version"] == 1 and m["format"] == "nf-forest"
    assert m["weights"]["size_bytes"] == (saved / WEIGHTS).stat().st_size
    kinds = mixed_forest.tree_kinds()
    for t, entry in enumerate(m["trees"]):
        spec = mixed_forest.group_of(t)[0].spec
        assert entry["kind"] == kinds[t] and entry["id"] == t
        assert entry["tensors"] == {k: list(v) for k, v in spec.param_shapes().items()}
        assert entry["parameter_bytes"] == 4 * spec.n_parameters
        assert len(entry["sha256"]) == 64
    assert m["router"]["tree_region"] == mixed_forest.router.tree_region.tolist()
    assert m["training"]["options"]["top_k"] == 2


def test_one_tree_loads_alone_even_if_another_tree_is_damaged(
        mixed_forest: NeuralForest, copy: Path) -> None:
    # safetensors: 8-byte header length, JSON header with byte offsets, then the data.
    header_len = int.from_bytes((copy / WEIGHTS).read_bytes()[:8], "little")
    header = json.loads((copy / WEIGHTS).read_bytes()[8 : 8 + header_len])
    start, _ = header["tree.0.linears.0.weight"]["data_offsets"]
    raw = bytearray((copy / WEIGHTS).read_bytes())
    raw[8 + header_len + start] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(raw))
    reader = ForestReader(copy)  # the size and header are intact
    tree = reader.tree(1)
    for name, v in tree.state_dict().items():
        assert torch.equal(v, mixed_forest.groups[0].params[name][1])
    with pytest.raises(ForestFormatError, match=r"weights\.safetensors: tree 0's weights do "
                                                r"not match their sha256"):
        reader.tree(0)
    with pytest.raises(ForestFormatError, match="tree 0's weights do not match"):
        load_forest(copy)


def test_truncated_weights_are_refused(copy: Path) -> None:
    data = (copy / WEIGHTS).read_bytes()
    (copy / WEIGHTS).write_bytes(data[:-100])
    with pytest.raises(ForestFormatError,
                       match=rf"{WEIGHTS}: truncated: {len(data) - 100} bytes, the manifest "
                             rf"says {len(data)}"):
        load_forest(copy)


def test_weights_of_another_forest_are_refused(copy: Path, digits: Dataset,
                                               mixed_forest: NeuralForest) -> None:
    opts = ForestOptions(**{**mixed_forest.meta["options"], "fit": QUICK, "stem_fit": QUICK,
                            "kinds": ("cnn", "mlp"), "seed": 7})
    other, _ = train_forest(digits, opts)
    other_dir = save_forest(other, copy.parent / "other")
    assert (other_dir / WEIGHTS).stat().st_size == (copy / WEIGHTS).stat().st_size
    shutil.copy(other_dir / WEIGHTS, copy / WEIGHTS)
    with pytest.raises(ForestFormatError, match=f"{WEIGHTS}: belongs to another forest"):
        load_forest(copy)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(schema_version=2), "schema version 2; this version of forest reads "
                                           "schema 1"),
    (lambda m: m.update(format="zip"), "not an nf-forest manifest"),
    (lambda m: m.pop("router"), "missing key 'router'"),
    (lambda m: m["trees"].pop(), "lists 5 trees but forest.n_trees is 6"),
    (lambda m: m["trees"][2].update(sha256="0" * 64), "tree 2's weights do not match"),
    (lambda m: m["trees"][3]["tensors"].update({"linears.0.weight": [1, 2]}),
     r"tree 3 \(mlp\): layer 'linears.0.weight' has shape \[1, 2\] in its weights entry, "
     r"but groups\[1\].spec gives \[6, 36\]"),
    (lambda m: m["weights"].update(size_bytes=12), "is [0-9]+ bytes, the manifest says 12"),
    (lambda m: m["router"].update(sha256="f" * 64), "the router's weights do not match"),
])
def test_corrupted_manifests_are_refused(copy: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    _edit_manifest(copy, edit)
    with pytest.raises(ForestFormatError, match=message):
        load_forest(copy)


def test_unreadable_files_are_refused_with_their_name(copy: Path) -> None:
    (copy / MANIFEST).write_text("{not json")
    with pytest.raises(ForestFormatError, match=rf"{MANIFEST}: not valid JSON"):
        load_forest(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(ForestFormatError, match=rf"{MANIFEST}: not found"):
        load_forest(copy)


def test_garbage_weights_of_the_right_size_are_refused(copy: Path) -> None:
    size = (copy / WEIGHTS).stat().st_size
    (copy / WEIGHTS).write_bytes(b"\xff" * size)
    with pytest.raises(ForestFormatError, match=f"{WEIGHTS}: not a readable safetensors file"):
        load_forest(copy)


def test_the_input_scaling_is_saved_hashed_and_loaded(mixed_forest: NeuralForest, copy: Path,
                                                      digits: Dataset) -> None:
    m = json.loads((copy / MANIFEST).read_text())
    assert m["input_scaling"]["file"] == SCALING
    loaded = load_forest(copy).input_scaling
    assert loaded is not None and digits.scaling is not None
    assert (loaded.mean == digits.scaling.mean).all() and (loaded.std == digits.scaling.std).all()
    doc = json.loads((copy / SCALING).read_text())
    doc["mean"][20] += 1.0
    (copy / SCALING).write_text(json.dumps(doc))
    with pytest.raises(ForestFormatError, match=rf"{SCALING}: does not match its sha256"):
        load_forest(copy)


def test_a_folder_saved_without_input_scaling_still_loads(copy: Path) -> None:
    _edit_manifest(copy, lambda m: m.update(input_scaling=None))
    (copy / SCALING).unlink()
    assert ForestReader(copy).input_scaling() is None
    assert load_forest(copy).input_scaling is None


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["trees"][0].update(kind="transformer"),
     r"tree 0: kind 'transformer' is not allowed; it must be one of cnn, mlp, rnn"),
    (lambda m: m["trees"][0].update(kind="mlp"),
     r"tree 0: kind 'mlp' is not allowed; it must be its group's kind 'cnn'"),
    (lambda m: m["stem"]["spec"].update(width=7),
     r"the stem gives features \[6, 7\], forest.feature_shape says \[6, 6\]"),
    (lambda m: m["router"].update(n_regions=5),
     r"router: tensors .* but its spec gives \{'weight': \[5, 36\], 'bias': \[5\]\}"),
    (lambda m: m["groups"][1]["spec"].update(kind="transformer"),
     r"groups\[1\].spec.kind 'transformer' is not a tree kind; allowed: cnn, mlp, rnn"),
    # a layer size edited in the spec: named with both shapes, not torch's RuntimeError
    (lambda m: m["groups"][1]["spec"].update(hidden=[32]),
     r"tree 3 \(mlp\): layer 'linears.0.weight' has shape \[6, 36\] in its weights entry, "
     r"but groups\[1\].spec gives \[32, 36\]"),
])
def test_unknown_kinds_and_edited_layer_sizes_are_refused_at_open(copy: Path, edit,  # type: ignore[no-untyped-def]
                                                                  message: str) -> None:
    _edit_manifest(copy, edit)
    with pytest.raises(ForestFormatError, match=message):
        ForestReader(copy)


def test_a_layer_size_edited_in_spec_and_entry_disagrees_with_the_weights(copy: Path) -> None:
    def edit(m: dict) -> None:  # type: ignore[type-arg]
        m["groups"][1]["spec"]["hidden"] = [32]
        for t in range(3, 6):
            m["trees"][t]["tensors"].update({"linears.0.weight": [32, 36],
                                             "linears.0.bias": [32],
                                             "linears.1.weight": [10, 32]})
    _edit_manifest(copy, edit)
    with pytest.raises(ForestFormatError, match=r"tensor 'tree.3.linears.0.weight' has shape "
                                                r"\[6, 36\], the manifest says \[32, 36\]"):
        ForestReader(copy).tree(3)


@pytest.mark.parametrize("name", ["/etc/hostname", "../outside.safetensors", "link"])
def test_a_weights_file_outside_the_folder_is_refused(copy: Path, name: str) -> None:
    shutil.copy(copy / WEIGHTS, copy.parent / "outside.safetensors")
    (copy / "link").symlink_to(copy.parent / "outside.safetensors")
    _edit_manifest(copy, lambda m: m["weights"].update(file=name))
    with pytest.raises(ForestFormatError,
                       match=rf"weights\.file '{name}' (must be a file name relative|resolves "
                             rf"to .*outside the forest folder)"):
        ForestReader(copy)
