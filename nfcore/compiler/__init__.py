"""The compiler: quantize a float tree, lower it to a core program, write an image.

Stages (each a module):
One tree (docs/compiler.md):
    quant.mlp        float dense layers -> `QuantizedMLP` (int8, bit-exact integer reference)
    quant.tree       `forest.export.TreeExport` (mlp, cnn, rnn) -> `QuantizedTree`
    quant.precision  the accuracy each layer's int8 format costs (`nfcore compile`'s budget)
    lower.kernels    `QuantizedTree` -> kernel plan (MATVEC/LOOP ops, scratchpad layout)
    lower.program    kernel plan -> one core's `CoreProgram` (weights, instructions, addresses)
    lower.split      kernel plan -> `TreeProgram` over a chain of cores (SEND/RECV at cuts)
    golden_run       run a `TreeProgram` on the golden model (one or many cores)
    images.core_image  `CoreProgram` + `QuantizedMLP` -> a format-1 directory, and back
    images.tree_image  `TreeProgram` + `QuantizedTree` -> a format-2 directory, and back

A whole forest (docs/compiler.md, "Forest images"):
    compile_forest      `compile_forest`: a saved forest -> `ForestImage` (every tree
                        quantized and lowered, laid out, assigned to cores, programs relocated)
    images.forest_image `ForestImage`, format 3 on disk (`save`, `load_forest_image`), lazy
                        per tree

Layout of a forest on the mesh (docs/placement.md), from a hardware-neutral `LayoutInput`:
    layout.input      trees (layer shapes, packed bytes) and router co-selection statistics
    layout.synthetic  seeded clustered layout inputs for tests and benchmarks
    layout.partition  a tree too large for one core -> parts (stages, row or column slices,
                      joins)
    layout.residency  which trees stay in SRAM, which are paged from DRAM
    layout.traffic    the placer's `MeshShape`; expected hop-bytes per request of a placement
                      (the objective)
    layout.bounds     a lower bound on it
    layout.place      greedy + annealing placement under SRAM capacity
    layout.stages     the three stages in order, timed; layout.stats: the stats dict
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from forest.export import TreeExport
from nfcore.compiler.compile_forest import compile_forest
from nfcore.compiler.images.forest_image import ForestImage, ForestTree, load_forest_image
from nfcore.compiler.lower.program import CoreProgram, LayerPlacement, lower_mlp, lower_tree
from nfcore.compiler.lower.split import Coord, TreeProgram, partition_tree
from nfcore.compiler.quant.mlp import FloatLayer, QuantizedLayer, QuantizedMLP, quantize_mlp
from nfcore.compiler.quant.tree import QuantizedTree, quantize_tree
from nfcore.config import NFCoreConfig

__all__ = [
    "CoreProgram",
    "FloatLayer",
    "ForestImage",
    "ForestTree",
    "LayerPlacement",
    "QuantizedLayer",
    "QuantizedMLP",
    "QuantizedTree",
    "TreeProgram",
    "compile_forest",
    "compile_mlp",
    "compile_tree",
    "load_forest_image",
    "lower_mlp",
    "lower_tree",
    "partition_tree",
    "quantize_mlp",
    "quantize_tree",
]


def compile_mlp(layers: Sequence[FloatLayer], calib_x: npt.ArrayLike,
                cfg: NFCoreConfig) -> tuple[QuantizedMLP, CoreProgram]:
    """Quantize float `layers` (calibrated on `calib_x`, shape (n, in)) and lower them to
    one core of `cfg`. Raises `CompileError` if the tree does not fit the core."""
    q = quantize_mlp(layers, np.asarray(calib_x), acc_bits=cfg.core.acc_bits)
    return q, lower_mlp(q, cfg.core)


def compile_tree(tree: TreeExport, calib_x: npt.ArrayLike, cfg: NFCoreConfig,
                 cores: Sequence[Coord] | None = None,
                 tree_id: int | str = 0) -> tuple[QuantizedTree, TreeProgram]:
    """Quantize `tree` (calibrated on `calib_x`, shape (n, *input_shape)) and lower it to the
    first of `cores` that hold it (default: the config's mesh, row-major from (0, 0)).
    Raises `CompileError` naming the tree if it does not fit."""
    q = quantize_tree(tree, calib_x, acc_bits=cfg.core.acc_bits, tree_id=tree_id)
    if cores is None:
        cores = [(x, y) for y in range(cfg.mesh.rows) for x in range(cfg.mesh.cols)]
    return q, partition_tree(q, cfg.core, cores, tree_id)
