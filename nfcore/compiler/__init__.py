"""The compiler: quantize a float tree, lower it to a core program, write an image.

Stages (each a module):
    quantize  float layers -> `QuantizedMLP` (int8, bit-exact integer reference)
    lower     `QuantizedMLP` -> `CoreProgram` (weight SRAM words, instructions, addresses)
    image     `CoreProgram` + quantization -> a versioned directory on disk, and back

Layout of a forest on the mesh (docs/placement.md), from a hardware-neutral `LayoutInput`:
    layout_input  trees (layer shapes, packed bytes) and router co-selection statistics
    synthetic     seeded clustered layout inputs for tests and benchmarks
    partition     a tree too large for one core -> parts (stages, row or column slices, joins)
    residency     which trees stay in SRAM, which are paged from DRAM
    traffic       expected hop-bytes per request of a placement (the objective)
    bounds        a lower bound on it
    place         greedy + annealing placement under SRAM capacity
    layout        the three stages in order, timed; layout_report: stats dict and heatmap
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nfcore.compiler.lower import CoreProgram, LayerPlacement, lower_mlp
from nfcore.compiler.quantize import FloatLayer, QuantizedLayer, QuantizedMLP, quantize_mlp
from nfcore.config import NFCoreConfig

__all__ = [
    "CoreProgram",
    "FloatLayer",
    "LayerPlacement",
    "QuantizedLayer",
    "QuantizedMLP",
    "compile_mlp",
    "lower_mlp",
    "quantize_mlp",
]


def compile_mlp(layers: Sequence[FloatLayer], calib_x: npt.ArrayLike,
                cfg: NFCoreConfig) -> tuple[QuantizedMLP, CoreProgram]:
    """Quantize float `layers` (calibrated on `calib_x`, shape (n, in)) and lower them to
    one core of `cfg`. Raises `CompileError` if the tree does not fit the core."""
    q = quantize_mlp(layers, np.asarray(calib_x), acc_bits=cfg.core.acc_bits)
    return q, lower_mlp(q, cfg.core)
