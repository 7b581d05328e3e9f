"""Requests served through the host port, which the array RTL and the model both replay.

A `HostReplay` puts one compiled tree on every core of a small mesh (random seeded weights,
kinds mlp, cnn and rnn in turn, each quantized, lowered to one core of
`sim_tests.tb.scenarios.CORE` and wrapped by `nfcore.compiler.lower.host_io.serve_chain`:
RECV of the input packet, the tree, SEND of the result to the host), or, with `split`, a tree
split over 2-3 cores first (`sim_tests.tb.split_scenarios.random_split_tree`: the first core
RECVs, the last SENDs), and makes a seeded
sequence of requests, each calling `top_k` distinct trees with a random input, arriving
`gap_cycles` apart on average (uniform 0 .. 2 * gap): short gaps make packets meet at the
host port and on links, so some wait. The host dispatches them as `nfcore.sim.net.dispatch`
states;
`sim_tests/test_host_replay_rtl.py` serves them on the RTL through the product's path
(`nfcore.eda.array_tb.run_array_replay`, as `make sim` does) and compares every request's
completion cycle and outputs with `nfcore.sim.net.dispatch.run_requests`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.arch import isa
from nfcore.compiler.lower.host_io import serve_chain
from nfcore.compiler.lower.split import TreeProgram, partition_tree
from nfcore.compiler.quant.tree import quantize_tree
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState
from nfcore.sim.net.dispatch import HostRequest, TreeCall
from sim_tests.tb.scenarios import CORE, Coord, CoreSetup
from sim_tests.tb.split_scenarios import random_split_tree

KINDS = ("mlp", "cnn", "rnn")


@dataclass(frozen=True)
class Tree:
    plain: TreeProgram
    """The tree lowered to its core(s) (input and output in the scratchpads)."""
    served: TreeProgram
    """`plain` with its host RECV and SEND (`serve_chain`)."""
    tag: int
    input_shape: tuple[int, ...]

    @property
    def chain(self) -> tuple[Coord, ...]:
        """The cores after the first (a split tree's), in chain order."""
        return tuple(c.coord for c in self.served.cores[1:])

    def payload(self, x_int: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
        """The input packet's words for one int8 input."""
        vec = self.plain.plan.pack_input(np.asarray(x_int)[None])[0]
        out = np.zeros(isa.words_for(len(vec), CORE.lanes) * CORE.lanes, dtype=np.int8)
        out[:len(vec)] = vec
        return out.view(np.uint8).reshape(-1, CORE.lanes)

    def reference(self, payload: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
        """The int8 outputs of `plain` on the golden array, the input written to the first
        core's scratchpad."""
        states = {}
        for code in self.plain.cores:
            states[code.coord] = CoreState(CORE)
            states[code.coord].load_weights(code.weights)
            states[code.coord].load_program(code.program)
        addr = self.plain.plan.input_addr
        states[self.plain.input_coord].act[addr:addr + len(payload)] = payload
        run_array(states)
        return states[self.plain.output_coord].read_vector(self.plain.plan.output_addr,
                                                           self.plain.plan.output_len)


@dataclass(frozen=True)
class HostReplay:
    name: str
    rows: int
    cols: int
    seed: int
    requests_n: int
    gap_cycles: int
    top_k: int = 2
    split: str = ""
    """A kind: one tree of it is split over cores from (0, 0) (`split_scenarios`'s random
    split tree); "": every tree on one core."""
    router: bool = False
    """True: the tree on core (0, 0) serves as the on-chip router: every request calls it
    first (`HostRequest.router`) and its `top_k` trees, drawn from the others, wait for its
    result (`nfcore.sim.net.dispatch`)."""

    @property
    def config(self) -> NFCoreConfig:
        return NFCoreConfig(core=CORE, mesh=MeshConfig(rows=self.rows, cols=self.cols))

    def trees(self) -> dict[Coord, Tree]:
        """Every tree, by its first core (tag: that core's index)."""
        return _trees(self.rows, self.cols, self.seed, self.split)

    def setups(self) -> dict[Coord, CoreSetup]:
        zeros = np.zeros((CORE.act_words, CORE.lanes), dtype=np.uint8)
        return {code.coord: CoreSetup(code.weights, zeros, code.instructions())
                for t in self.trees().values() for code in t.served.cores}

    def states(self) -> dict[Coord, CoreState]:
        """Golden cores loaded as the RTL test loads them."""
        return {c: s.state() for c, s in self.setups().items()}

    def requests(self) -> list[HostRequest]:
        trees = self.trees()
        firsts = sorted(trees, key=lambda c: (c[1], c[0]))
        if self.router:
            firsts.remove((0, 0))
        rng = np.random.default_rng(self.seed + 1)
        out, cycle = [], 0
        for _ in range(self.requests_n):
            cycle += int(rng.integers(0, 2 * self.gap_cycles + 1))
            router = self._call(trees, (0, 0), rng) if self.router else None
            picked = rng.choice(len(firsts), size=min(self.top_k, len(firsts)), replace=False)
            calls = tuple(self._call(trees, firsts[int(i)], rng) for i in picked)
            out.append(HostRequest(cycle, calls, router))
        return out

    @staticmethod
    def _call(trees: dict[Coord, Tree], core: Coord, rng: np.random.Generator) -> TreeCall:
        t = trees[core]
        x = rng.integers(-128, 128, size=t.input_shape)
        return TreeCall(core, t.tag, t.payload(x), chain=t.chain)

    def reference(self, request: HostRequest) -> list[npt.NDArray[np.int8]]:
        """Each call's int8 outputs (the router's first), from the tree run alone."""
        return [self.trees()[c.core].reference(c.payload) for c in request.all_calls]


def _dense(rng: np.random.Generator, widths: list[int]
           ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], bool]]:
    f = np.float32
    return [(rng.normal(scale=1 / np.sqrt(a), size=(b, a)).astype(f),
             rng.normal(scale=0.1, size=b).astype(f), i < len(widths) - 2)
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))]


def _tree(kind: str, rng: np.random.Generator) -> TreeExport:
    """A small tree of `kind` with random shapes that fits one core of CORE."""
    f = np.float32
    if kind == "mlp":
        n_in = int(rng.integers(5, 20))
        return TreeExport(kind="mlp", input_shape=(n_in,),
                          head=_dense(rng, [n_in, int(rng.integers(4, 16)),
                                            int(rng.integers(2, 8))]))
    if kind == "cnn":
        length, ch, out = int(rng.integers(6, 10)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
        conv = ConvLayer(rng.normal(scale=0.3, size=(out, ch, 3)).astype(f),
                         rng.normal(scale=0.1, size=out).astype(f), 1)
        return TreeExport(kind="cnn", input_shape=(length, ch), convs=[conv],
                          head=_dense(rng, [(length - 2) * out, int(rng.integers(3, 8)), 3]))
    n_in, hid = int(rng.integers(2, 5)), int(rng.integers(4, 9))
    cell = ElmanCell(rng.normal(scale=0.3, size=(hid, n_in + hid)).astype(f),
                     rng.normal(scale=0.1, size=hid).astype(f), n_in, hid)
    return TreeExport(kind="rnn", input_shape=(int(rng.integers(2, 5)), n_in), cell=cell,
                      head=_dense(rng, [hid, 4]))


@cache
def _trees(rows: int, cols: int, seed: int, split: str) -> dict[Coord, Tree]:
    rng = np.random.default_rng(seed)
    out: dict[Coord, Tree] = {}
    taken: set[Coord] = set()
    if split:
        q, tp, _ = random_split_tree(split, seed)
        out[tp.input_coord] = Tree(tp, serve_chain(tp, CORE, 0), 0, tuple(q.input_shape))
        taken |= {c.coord for c in tp.cores}
    for k, c in enumerate((x, y) for y in range(rows) for x in range(cols)):
        if c in taken:
            continue
        tree = _tree(KINDS[k % len(KINDS)], rng)
        q = quantize_tree(tree, rng.normal(size=(20, *tree.input_shape)), tree_id=f"{c}")
        plain = partition_tree(q, CORE, (c,), tree_id=f"{c}")
        tag = c[1] * cols + c[0]
        out[c] = Tree(plain, serve_chain(plain, CORE, tag), tag, tuple(tree.input_shape))
    return out


HOST_REPLAYS: dict[str, HostReplay] = {r.name: r for r in (
    HostReplay("host_2x2_busy", 2, 2, 301, 40, 60),
    HostReplay("host_3x3_busy", 3, 3, 302, 40, 40),
    HostReplay("host_2x2_split_mlp", 2, 2, 201, 30, 60, split="mlp"),
    HostReplay("host_3x3_split_cnn", 3, 3, 202, 30, 40, split="cnn"),
    HostReplay("host_2x2_router", 2, 2, 304, 30, 40, router=True),
    HostReplay("host_3x3_router", 3, 3, 305, 30, 30, top_k=3, router=True),
    HostReplay("host_4x4_busy", 4, 4, 303, 40, 30, top_k=3),
)}
"""The replays the RTL suite runs (`sim_tests/test_host_replay_rtl.py`) and the model's tests
(`tests/sim/test_net_dispatch.py`)."""
