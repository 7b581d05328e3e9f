"""Compiled trees split across cores, which the array RTL tests and the simulator both run.

The hand-built scenarios of `sim_tests.tb.scenarios` test the network; these test the compiler's
split path end to end (issue 6): an mlp, a cnn and an rnn tree, each larger than one core of
`sim_tests.tb.scenarios.CORE` (256 weight words), go through `quantize_tree` and `partition_tree`
(`nfcore.compiler.lower.split`) onto a chain of cores of the 2 x 2 mesh, and `REQUESTS` requests
run one after the other (all cores RUN in the same cycle, the first core holding the input,
the last the logits; memories persist between requests, as in
`nfcore.compiler.golden_run.run_tree`). The RTL suite (`sim_tests/split_trees_cocotb.py`)
records each core's cycles per request under `SPLIT_KEY` of the shared cycles file
(`sim_tests.tb.scenarios.RTL_CYCLES_FILE`); `tests/sim/test_system_split.py` compares them with the
timing contract (`nfcore.golden.array`), the SimPy array model and the system model.

Two sources of trees, both through the same compiler path (calibration, int8 quantization,
kernel plan, split by output rows, SEND/RECV between the parts):

* `trained`: trees of two small digits forests (`forest.build.train_forest` on a shared
  6-wide stem, short training): a cnn and an rnn tree of size 32 and an mlp tree of hidden
  width 64, calibrated on the stem features of training rows and run on test rows.
  Training is single-threaded and seeded, so every process rebuilds the same weights (a
  few seconds, once per process).
* `random`: seeded random float weights, with shapes (not multiples of the lanes) that
  need up to 3 cores.
* `one_core_*`: the trees of a size-16 trained forest, which fit one core: compiled trees
  of every kind on the array without a split, for comparison.

`SplitCase.digest` hashes the weights, programs and inputs, so the RTL record of another
build of the trees is recognised as stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.arch import isa
from nfcore.compiler.lower.split import TreeProgram, partition_tree
from nfcore.compiler.quant.tree import QuantizedTree, quantize_tree
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.golden.core import CoreState
from sim_tests.tb.scenarios import CORE, Coord, CoreSetup

SPLIT_KEY = "compiled_split_trees"
"""Key, in the shared cycles file, of the compiled split trees' record. Schema:
`{name: {"setup_sha256": str, "chain": [[x, y], ...], "requests": [{"x,y": cycles, ...},
...]}}`: per request, every core's `last_run_cycles` (RUN to HALT, waits included; the
tree's cycles are the largest, the last chain core's)."""

CHAIN: tuple[Coord, ...] = ((0, 0), (1, 0), (1, 1), (0, 1))
"""The cores offered to the compiler, in the order it fills them (neighbours on the mesh)."""
REQUESTS = 3
"""Requests per tree (memories persist between them, as on the chip)."""
CALIB_ROWS = 50


@dataclass(frozen=True)
class SplitCase:
    name: str
    kind: str
    seed: int = 0
    forest_size: int = 0
    """0: random weights from `seed`; else the tree of `kind` of a trained digits forest
    of this tree size (`_trained_forest`)."""
    forest_kinds: tuple[str, ...] = ("cnn", "mlp", "rnn")

    @property
    def config(self) -> NFCoreConfig:
        """The scenarios' small core on a 2 x 2 mesh (the array build the scenarios use)."""
        return NFCoreConfig(core=CORE, mesh=MeshConfig(rows=2, cols=2))

    def build(self) -> tuple[QuantizedTree, TreeProgram, npt.NDArray[np.int8]]:
        """The quantized tree, its split program and the int8 inputs (REQUESTS, *shape)."""
        if self.forest_size:
            return _build_trained(self.kind, self.forest_size, self.forest_kinds)
        return random_split_tree(self.kind, self.seed)

    def setups(self) -> dict[Coord, CoreSetup]:
        """Every core of the mesh as the RTL test loads it (`chain_setups`)."""
        return chain_setups(self.build()[1], self.config)

    def states(self) -> dict[Coord, CoreState]:
        """Golden cores loaded as `setups` (what the RTL test loads)."""
        return {coord: s.state() for coord, s in self.setups().items()}

    def digest(self) -> str:
        """SHA-256 of the core config, every core's weights and program, and the inputs."""
        _, tp, x_int = self.build()
        h = hashlib.sha256(f"{self.name} {CORE} {REQUESTS}".encode())
        for code in tp.cores:
            h.update(repr(code.coord).encode())
            h.update(np.ascontiguousarray(code.weights).tobytes())
            h.update(b"".join(w.to_bytes(8, "little") for w in code.program))
        h.update(np.ascontiguousarray(x_int).tobytes())
        return h.hexdigest()


def chain_setups(tp: TreeProgram, cfg: NFCoreConfig) -> dict[Coord, CoreSetup]:
    """Every core of `cfg.mesh`: the chain cores' weights and programs with zero
    scratchpads; cores outside the chain only HALT."""
    zeros = np.zeros((cfg.core.act_words, cfg.core.lanes), dtype=np.uint8)
    out = {(x, y): CoreSetup(np.zeros((1, cfg.core.lanes), dtype=np.uint8), zeros,
                             [isa.halt()])
           for y in range(cfg.mesh.rows) for x in range(cfg.mesh.cols)}
    for code in tp.cores:
        out[code.coord] = CoreSetup(code.weights, zeros, code.instructions())
    return out


def _dense(rng: np.random.Generator, widths: list[int]
           ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], bool]]:
    f = np.float32
    return [(rng.normal(scale=1 / np.sqrt(a), size=(b, a)).astype(f),
             rng.normal(scale=0.1, size=b).astype(f), i < len(widths) - 2)
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))]


def _tree(kind: str, rng: np.random.Generator) -> TreeExport:
    """Shapes chosen (not multiples of the lanes) so that each tree needs 2-3 cores of CORE
    and its scratchpad fits CORE's 64 words."""
    f = np.float32
    if kind == "mlp":
        return TreeExport(kind="mlp", input_shape=(37,), head=_dense(rng, [37, 45, 29, 6]))
    if kind == "cnn":  # the conv's 19 channels and the head's first layer are split
        conv = ConvLayer(rng.normal(scale=0.3, size=(19, 3, 3)).astype(f),
                         rng.normal(scale=0.1, size=19).astype(f), 2)
        return TreeExport(kind="cnn", input_shape=(11, 3), convs=[conv],
                          head=_dense(rng, [5 * 19, 13, 5]))
    if kind == "rnn":  # the Elman cell (and its LUT) on one core, the head split
        cell = ElmanCell(rng.normal(scale=0.3, size=(12, 16)).astype(f),
                         rng.normal(scale=0.1, size=12).astype(f), 4, 12)
        return TreeExport(kind="rnn", input_shape=(5, 4), cell=cell,
                          head=_dense(rng, [12, 40, 30, 4]))
    raise ValueError(f"unknown tree kind {kind!r}")  # pragma: no cover - SPLIT_CASES only


@cache
def random_split_tree(kind: str, seed: int
                      ) -> tuple[QuantizedTree, TreeProgram, npt.NDArray[np.int8]]:
    """A random-weight tree of `kind` from `seed`, quantized, split over `CHAIN` on CORE,
    and `REQUESTS` int8 inputs."""
    rng = np.random.default_rng(seed)
    tree = _tree(kind, rng)
    q = quantize_tree(tree, rng.normal(size=(CALIB_ROWS, *tree.input_shape)), tree_id=kind)
    tp = partition_tree(q, CORE, CHAIN, tree_id=kind)
    x_int = q.quantize_input(rng.normal(size=(REQUESTS, *tree.input_shape)))
    return q, tp, x_int


@cache
def _build_trained(kind: str, size: int, kinds: tuple[str, ...]
                   ) -> tuple[QuantizedTree, TreeProgram, npt.NDArray[np.int8]]:
    from forest.datasets import load_dataset

    data = load_dataset("digits", seed=0)
    calib = np.asarray(data.x_train[:CALIB_ROWS * 4], dtype=np.float32)
    test = np.asarray(data.x_test[:REQUESTS], dtype=np.float32)
    forest = _trained_forest(size, kinds)
    tree = next(t for t in range(forest.n_trees) if forest.tree(t).export().kind == kind)
    export = forest.tree(tree).export()
    x_calib, x_test = forest.features(calib).numpy(), forest.features(test).numpy()
    q = quantize_tree(export, x_calib, tree_id=f"trained {kind} {size}")
    tp = partition_tree(q, CORE, CHAIN, tree_id=f"trained {kind} {size}")
    return q, tp, q.quantize_input(x_test)


@cache
def _trained_forest(size: int, kinds: tuple[str, ...]) -> Any:
    """A small digits forest on a 6-wide stem, one tree per kind (two if one kind) of
    `size` (mlp hidden width, cnn channels, rnn hidden units), briefly trained. Trained once
    per process, seeded and single-threaded."""
    import torch

    from forest.build import ForestOptions, train_forest
    from forest.datasets import load_dataset
    from forest.fit import FitOptions

    torch.set_num_threads(1)
    quick = FitOptions(epochs=10, min_steps=30)
    forest, _ = train_forest(load_dataset("digits", seed=0), ForestOptions(
        n_trees=len(kinds) * (2 if len(kinds) == 1 else 1), top_k=1, kinds=kinds,
        tree_size=size, stem_width=6, fit=quick, stem_fit=quick, router_steps=50, seed=0))
    return forest


SPLIT_CASES: dict[str, SplitCase] = {c.name: c for c in (
    SplitCase("trained_mlp", "mlp", forest_size=64, forest_kinds=("mlp",)),
    SplitCase("trained_cnn", "cnn", forest_size=32),
    SplitCase("trained_rnn", "rnn", forest_size=32),
    SplitCase("random_mlp", "mlp", 201),
    SplitCase("random_cnn", "cnn", 202),
    SplitCase("random_rnn", "rnn", 203),
    SplitCase("one_core_mlp", "mlp", forest_size=16),
    SplitCase("one_core_cnn", "cnn", forest_size=16),
    SplitCase("one_core_rnn", "rnn", forest_size=16),
)}
"""Every compiled tree on the array, by name (each on the 2 x 2 mesh of `sim_tests.tb.scenarios`):
split over 2-3 cores, and (`one_core_*`, trees of size 16 that fit one core) not split, so
that the array runs every kind both ways."""
