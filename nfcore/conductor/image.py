"""What the Conductor needs from a compiled forest, and one way to get it without an image.

`CompiledForest` is the interface: a forest's trees as integer models (`QuantizedTree`) and
programs (`TreeProgram`, one or more cores each, with their mesh coordinates), loaded one tree
at a time, plus whether a tree is resident in SRAM or paged from DRAM. A compiled forest image
(`nfcore.compiler.forest_image`) provides it; `OnDemandForest` compiles a tree the first time
it is asked for, from the saved float forest, calibrated on rows the caller gives. It exists
for forests that have no image and for tests; its placement is a plain one (tree t on core
t mod cores, row-major) and every tree is resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from forest.io import ForestReader
from nfcore.compiler import compile_tree
from nfcore.compiler.quantize_tree import QuantizedTree
from nfcore.compiler.split import TreeProgram
from nfcore.config import NFCoreConfig


@dataclass(frozen=True, eq=False)
class CompiledTree:
    """One tree as the backends run it."""

    tree_id: int
    quant: QuantizedTree
    program: TreeProgram
    resident: bool = True

    @property
    def weight_bytes(self) -> int:
        """Bytes of its weight SRAM images, over all its cores (row headers included)."""
        return sum(int(c.weights.size) for c in self.program.cores)

    @property
    def coords(self) -> list[tuple[int, int]]:
        return [c.coord for c in self.program.cores]


class CompiledForest(Protocol):
    """A compiled forest whose trees load one at a time."""

    @property
    def n_trees(self) -> int: ...

    def load_tree(self, tree_id: int) -> CompiledTree:
        """Read (and check) tree `tree_id`'s integer model and program, and no other tree's."""
        ...


class OnDemandForest:
    """Compile each tree of the forest at `forest_dir` when it is first loaded.

    `calib_features` (n, *feature_shape) are the rows every tree is calibrated on (the stem's
    output of training rows).
    """

    def __init__(self, forest_dir: str | Path, cfg: NFCoreConfig,
                 calib_features: npt.ArrayLike) -> None:
        self.reader = ForestReader(forest_dir)
        self.cfg = cfg
        self.calib = np.asarray(calib_features, dtype=np.float32)
        self.compiles = 0

    @property
    def n_trees(self) -> int:
        return self.reader.n_trees

    def load_tree(self, tree_id: int) -> CompiledTree:
        mesh = self.cfg.mesh
        n_cores = mesh.rows * mesh.cols
        order = [((tree_id + i) % n_cores) for i in range(n_cores)]
        cores = [(c % mesh.cols, c // mesh.cols) for c in order]
        export = self.reader.tree(tree_id).export()
        q, tp = compile_tree(export, self.calib, self.cfg, cores=cores, tree_id=tree_id)
        self.compiles += 1
        return CompiledTree(tree_id, q, tp)


class _ImageTree(Protocol):
    tree_id: int
    resident: bool
    quant: QuantizedTree
    program: TreeProgram


class _ForestImage(Protocol):
    @property
    def n_trees(self) -> int: ...

    def tree(self, tree_id: int) -> _ImageTree: ...


class ImageForest:
    """A compiled forest image (`nfcore.compiler.forest_image.ForestImage`) as a
    `CompiledForest`: `load_tree` reads one tree's files (checked against their hashes)."""

    def __init__(self, image: _ForestImage) -> None:
        self.image = image

    @property
    def n_trees(self) -> int:
        return self.image.n_trees

    def load_tree(self, tree_id: int) -> CompiledTree:
        t = self.image.tree(tree_id)
        return CompiledTree(tree_id, t.quant, t.program, bool(t.resident))
