"""Grouped execution: trees of one shape as one stacked matmul per layer give the integer
reference's logits bit for bit, and the golden backend that uses it after a tree's first
(ISA-checked) batch answers exactly as the ISA model does for every batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conductor_helpers import SavedForest

from forest.export import TreeExport
from nfcore.compiler import load_forest_image, quantize_tree
from nfcore.conductor.backends import GoldenBackend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.grouped import forward_grouped, signature
from nfcore.conductor.tree_source import ImageForest
from nfcore.config import NFCoreConfig


def _conductor(sf: SavedForest, cfg: NFCoreConfig, image_dir: Path,
               grouped: bool) -> Conductor:
    image = ImageForest(load_forest_image(image_dir, cfg, forest_dir=sf.folder))
    return Conductor(sf.folder, image, GoldenBackend(cfg, grouped=grouped), None,
                     importance=False)


def test_grouped_forward_equals_each_trees_integer_reference(
        saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path) -> None:
    image = ImageForest(load_forest_image(image_dir, cfg, forest_dir=saved_forest.folder))
    quants = [image.load_tree(t).quant for t in range(image.n_trees)]
    assert len({signature(q) for q in quants}) < len(quants)  # some trees do share a shape
    rng = np.random.default_rng(0)
    xs = [rng.integers(-128, 128, size=(int(rng.integers(1, 9)), *q.input_shape))
          .astype(np.int8) for q in quants]
    for q, x, y in zip(quants, xs, forward_grouped(quants, xs), strict=True):
        assert y.dtype == np.int8 and np.array_equal(y, q.forward_int(x))


def test_the_grouped_golden_backend_answers_as_the_isa_model(
        saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path) -> None:
    grouped = _conductor(saved_forest, cfg, image_dir, grouped=True)
    isa = _conductor(saved_forest, cfg, image_dir, grouped=False)
    x = saved_forest.data.x_test
    for batch in (x[:16], x[16:40], x[40:41]):  # first batches check, later ones are grouped
        a, b = grouped.run(batch), isa.run(batch)
        assert [r.probs for r in a] == [r.probs for r in b]
        assert [r.record["trees"] for r in a] == [r.record["trees"] for r in b]
        assert [r.record["energy_pj"] for r in a] == [r.record["energy_pj"] for r in b]
    backend = grouped.backend
    assert isinstance(backend, GoldenBackend) and set(backend._cycles) == \
        set(grouped.loaded_trees())
    assert all(c is not None for c in backend._cycles.values())  # the grouped path ran


def test_grouped_importance_equals_tree_by_tree(saved_forest: SavedForest,
                                                cfg: NFCoreConfig, image_dir: Path) -> None:
    from nfcore.conductor.importance import gradient_x_input

    c = _conductor(saved_forest, cfg, image_dir, grouped=True)
    x = saved_forest.data.x_test[:24].astype(np.float32)
    routing = c.route(x)
    c._load(sorted(set(routing.trees.reshape(-1).tolist())))
    trees = {t: c.reader.tree(t).requires_grad_(False) for t in c.loaded_trees()}
    classes = np.arange(len(x)) % c.n_classes
    args = (x, routing.trees, classes, c.stem, c.router, trees)
    grouped, alone = gradient_x_input(*args), gradient_x_input(*args, grouped=False)
    assert np.abs(alone).max() > 0
    np.testing.assert_allclose(grouped, alone, rtol=1e-4, atol=1e-6 * np.abs(alone).max())


def test_grouped_layers_wider_than_one_matvec_add_their_blocks_as_the_core_does() -> None:
    rng = np.random.default_rng(4)
    quants, xs = [], []
    for _ in range(2):  # 1100 columns: two blocks, added by a VADD on the core
        w = rng.normal(scale=0.03, size=(20, 1100)).astype(np.float32)
        tree = TreeExport(kind="mlp", input_shape=(1100,),
                          head=[(w, np.zeros(20, np.float32), False)])
        q = quantize_tree(tree, rng.normal(size=(40, 1100)))
        quants.append(q)
        xs.append(q.quantize_input(rng.normal(size=(5, 1100))))
    for out, q, x in zip(forward_grouped(quants, xs), quants, xs, strict=True):
        np.testing.assert_array_equal(out, q.forward_int(x))
