"""Format-2 images: multi-core trees of every kind round-trip; mismatches are refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from compiler_helpers import random_dense, random_tree, trained_tree, tree_inputs

from forest.export import TreeExport
from nfcore.arch import isa
from nfcore.compiler import compile_mlp, compile_tree
from nfcore.compiler.golden_run import run_tree
from nfcore.compiler.images.core_image import load_image, save_image
from nfcore.compiler.images.tree_image import FORMAT_VERSION, load_tree_image, save_tree_image
from nfcore.config import CoreConfig, MeshConfig, NFCoreConfig
from nfcore.errors import ImageError

CFG = NFCoreConfig(core=CoreConfig(weight_sram_bytes=2048, act_sram_bytes=1 << 13),
                   mesh=MeshConfig(rows=2, cols=4))


def _tree(kind: str) -> TreeExport:
    rng = np.random.default_rng(5)
    if kind == "mlp":
        return TreeExport(kind="mlp", input_shape=(30,), head=random_dense(rng, [30, 60, 6]))
    base = random_tree(rng, kind, small=True)
    return dataclasses.replace(base, head=random_dense(rng, [base.head[0][0].shape[1], 60, 4]))


def _save(tmp_path: Path, kind: str) -> tuple[Path, object, object]:
    tree = _tree(kind)
    q, tp = compile_tree(tree, tree_inputs(np.random.default_rng(0), tree, 40), CFG,
                         tree_id=f"{kind}-1")
    return save_tree_image(tmp_path / kind, tp, q, CFG), q, tp


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn"])
def test_multi_core_round_trip_is_exact(tmp_path: Path, kind: str) -> None:
    path, q, tp = _save(tmp_path, kind)
    img = load_tree_image(path, CFG)
    assert len(img.program.cores) == len(tp.cores) >= 2  # type: ignore[attr-defined]
    for a, b in zip(img.program.cores, tp.cores, strict=True):  # type: ignore[attr-defined]
        assert a.coord == b.coord and a.program == b.program and a.pieces == b.pieces
        np.testing.assert_array_equal(a.weights, b.weights)
    x_int = img.quant.quantize_input(tree_inputs(np.random.default_rng(1), _tree(kind), 5))
    ref = q.forward_int(x_int)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(img.quant.forward_int(x_int), ref)
    np.testing.assert_array_equal(run_tree(img.program, CFG.core, x_int)[0], ref)
    m = img.manifest
    assert m["format_version"] == FORMAT_VERSION == 2 and m["config_hash"] == CFG.hash()
    assert m["tree"]["kind"] == kind and m["tree"]["id"] == f"{kind}-1"
    assert m["cores"][0]["listing"][-1] == "HALT"
    again = save_tree_image(tmp_path / "again", img.program, img.quant, CFG)
    for name in [p.name for p in path.iterdir()]:
        assert (again / name).read_bytes() == (path / name).read_bytes(), name


def test_a_file_that_disagrees_with_quant_json_is_named(tmp_path: Path) -> None:
    path, _, tp = _save(tmp_path, "rnn")
    other, _, _ = _save(tmp_path / "o", "cnn")
    manifest = json.loads((path / "manifest.json").read_text())
    # swap in another tree's quant.json with a manifest entry that vouches for it
    (path / "quant.json").write_bytes((other / "quant.json").read_bytes())
    manifest["files"]["quant.json"] = json.loads(
        (other / "manifest.json").read_text())["files"]["quant.json"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match="quant.json holds a cnn tree, the manifest says rnn"):
        load_tree_image(path, CFG)


def test_corrupt_core_file_is_refused(tmp_path: Path) -> None:
    path, _, _ = _save(tmp_path, "cnn")
    blob = bytearray((path / "core_1_0.weights").read_bytes())
    blob[3] ^= 1
    (path / "core_1_0.weights").write_bytes(bytes(blob))
    with pytest.raises(ImageError, match=r"core_1_0.weights: sha256 .* does not match"):
        load_tree_image(path, CFG)


def test_config_and_mesh_mismatches_are_named(tmp_path: Path) -> None:
    path, q, tp = _save(tmp_path, "mlp")
    other = dataclasses.replace(CFG, core=dataclasses.replace(CFG.core, imem_depth=128))
    with pytest.raises(ImageError, match=r"different config \(core.imem_depth: image 256, "
                                         r"config 128\)"):
        load_tree_image(path, other)
    narrow = dataclasses.replace(CFG, mesh=MeshConfig(rows=1, cols=1))
    with pytest.raises(ImageError, match=r"core \(1, 0\) is outside the config's mesh of "
                                         r"mesh.cols = 1 x mesh.rows = 1"):
        save_tree_image(tmp_path / "x", tp, q, narrow)  # type: ignore[arg-type]


def test_format_1_mlp_images_still_load(tmp_path: Path) -> None:
    cfg = NFCoreConfig()
    t = trained_tree("wine")
    q, prog = compile_mlp(t.tree.layers(), t.data.x_train, cfg)
    path = save_image(tmp_path / "v1", prog, q, cfg)
    img = load_tree_image(path, cfg)
    x_int = q.quantize_input(t.data.x_test[:5])
    np.testing.assert_array_equal(run_tree(img.program, cfg.core, x_int)[0], q.forward_int(x_int))
    v2, _, _ = _save(tmp_path, "mlp")
    with pytest.raises(ImageError, match="format_version 2 is not supported .*load_tree_image"):
        load_image(v2, CFG)
    assert isa.Opcode.SEND not in [i.op for i in img.program.cores[0].instructions()]
