"""What the Conductor needs from a compiled forest, and one way to get it without an image.

`CompiledForest` is the interface: a forest's trees as integer models (`QuantizedTree`) and
programs (`TreeProgram`, one or more cores each, with their mesh coordinates), loaded one tree
at a time, plus whether a tree is resident in SRAM or paged from DRAM. A compiled forest image
(`nfcore.compiler.images.forest_image`, wrapped by `ImageForest`) provides it, and then the backends
run what the image puts on each core (the core's SRAM with every resident tree, the tree's
relocated program slot); `OnDemandForest` compiles a tree the first time
it is asked for, from the saved float forest, calibrated on rows the caller gives. It exists
for forests that have no image and for tests; its placement is a plain one (tree t on core
t mod cores, row-major) and every tree is resident.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from forest.io import ForestReader
from nfcore.compiler import compile_tree
from nfcore.compiler.images.forest_image import ForestImage
from nfcore.compiler.lower.split import CoreCode, TreeProgram
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.config import NFCoreConfig

CoreMemories = tuple[npt.NDArray[np.uint8], list[int]]
"""A core's weight SRAM words (words, lanes) from word 0 and the program words it runs."""


@dataclass(frozen=True, eq=False)
class CompiledTree:
    """One tree as the backends run it."""

    tree_id: int
    quant: QuantizedTree
    program: TreeProgram
    resident: bool = True
    core_memories: Callable[[int], CoreMemories] | None = None
    """Chain core k's memories as the image puts them on the chip (the core's resident SRAM
    with this tree's weights at its base, its relocated program); None: the tree alone on
    the core, weights from word 0 (`program.cores[k]`)."""
    wbuf_words: int = 0
    """Words of each core's weight reuse buffer (`core.wbuf_bytes`): events depend on it."""

    def memories(self, k: int) -> CoreMemories:
        if self.core_memories is not None:
            return self.core_memories(k)
        code = self.program.cores[k]
        return code.weights, code.program

    def on_chip(self) -> TreeProgram:
        """`program` with each core's weights and program replaced by `memories(k)`: what
        the golden model and the RTL load."""
        if self.core_memories is None:
            return self.program
        cores = []
        for k, code in enumerate(self.program.cores):
            weights, words = self.memories(k)
            cores.append(CoreCode(coord=code.coord, weights=weights, program=words,
                                  pieces=code.pieces))
        return dataclasses.replace(self.program, cores=tuple(cores))

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
        return CompiledTree(tree_id, q, tp, wbuf_words=self.cfg.core.wbuf_words)


class ImageForest:
    """A compiled forest image (format 4) as a `CompiledForest`: `load_tree` reads one
    tree's files and, when a backend runs it, the SRAM and program slots of its cores, each
    checked against its hash by the image."""

    def __init__(self, image: ForestImage) -> None:
        self.image = image

    @property
    def n_trees(self) -> int:
        return self.image.n_trees

    def load_tree(self, tree_id: int) -> CompiledTree:
        t = self.image.tree(tree_id)
        return CompiledTree(tree_id, t.quant, t.program, bool(t.resident),
                            functools.partial(self._memories, tree_id),
                            self.image.cfg.core.wbuf_words)

    def _memories(self, tree_id: int, k: int) -> CoreMemories:
        tree = self.image.tree(tree_id)
        code = tree.program.cores[k]
        sram = self.image.core_sram(code.coord)
        if not tree.resident:  # a paged tree's weights arrive at its base word
            base, n = tree.base_words[k], len(code.weights)
            grown = np.zeros((max(len(sram), base + n), sram.shape[1]), dtype=np.uint8)
            grown[: len(sram)] = sram
            grown[base:base + n] = code.weights
            sram = grown
        return sram, self.image.core_programs(code.coord)[(tree_id, k)]
