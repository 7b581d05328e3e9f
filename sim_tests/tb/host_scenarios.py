"""Requests served through the host port, which the array RTL and the model both replay.

A `HostReplay` puts one compiled tree on every core of a small mesh (random seeded weights,
kinds mlp, cnn and rnn in turn, each quantized, lowered to one core of
`sim_tests.tb.scenarios.CORE` and wrapped by `nfcore.compiler.lower.host_io.with_host_io`:
RECV of the input packet, the tree, SEND of the result to the host) and makes a seeded
sequence of requests, each calling `top_k` distinct trees with a random input, arriving
`gap_cycles` apart on average (uniform 0 .. 2 * gap): short gaps make packets meet at the
host port and on links, so some wait. The host dispatches them as `nfcore.sim.net.dispatch` states;
`sim_tests/host_replay_cocotb.py` drives the RTL so and compares every request's completion
cycle and outputs with `nfcore.sim.net.dispatch.run_requests`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from forest.export import ConvLayer, ElmanCell, TreeExport
from nfcore.compiler.lower.host_io import input_payload, with_host_io
from nfcore.compiler.lower.program import CoreProgram, lower_tree
from nfcore.compiler.quant.tree import quantize_tree
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.golden.core import CoreState
from nfcore.sim.net.dispatch import HostRequest, TreeCall
from sim_tests.tb.scenarios import CORE, Coord, CoreSetup

KINDS = ("mlp", "cnn", "rnn")


@dataclass(frozen=True)
class HostReplay:
    name: str
    rows: int
    cols: int
    seed: int
    requests_n: int
    gap_cycles: int
    top_k: int = 2

    @property
    def config(self) -> NFCoreConfig:
        return NFCoreConfig(core=CORE, mesh=MeshConfig(rows=self.rows, cols=self.cols))

    def trees(self) -> dict[Coord, Tree]:
        """Every core's tree (tag: the core's index)."""
        return _trees(self.rows, self.cols, self.seed)

    def setups(self) -> dict[Coord, CoreSetup]:
        zeros = np.zeros((CORE.act_words, CORE.lanes), dtype=np.uint8)
        return {c: CoreSetup(t.served.weights, zeros, t.served.instructions())
                for c, t in self.trees().items()}

    def states(self) -> dict[Coord, CoreState]:
        """Golden cores loaded as the RTL test loads them."""
        out = {}
        for c, s in self.setups().items():
            out[c] = CoreState(CORE)
            out[c].load_weights(s.weights)
            out[c].act[:] = s.act
            out[c].load_program([i.encode() for i in s.program])
        return out

    def requests(self) -> list[HostRequest]:
        trees = self.trees()
        coords = sorted(trees, key=lambda c: (c[1], c[0]))
        rng = np.random.default_rng(self.seed + 1)
        out, cycle = [], 0
        for _ in range(self.requests_n):
            cycle += int(rng.integers(0, 2 * self.gap_cycles + 1))
            picked = rng.choice(len(coords), size=min(self.top_k, len(coords)), replace=False)
            calls = []
            for i in picked:
                c = coords[int(i)]
                x = rng.integers(-128, 128, size=trees[c].input_shape)
                calls.append(TreeCall(c, _tag(c, self.cols), input_payload(trees[c].served, x)))
            out.append(HostRequest(cycle, tuple(calls)))
        return out

    def reference(self, request: HostRequest) -> list[npt.NDArray[np.int8]]:
        """Each call's int8 outputs: the tree lowered alone (no host I/O) on a golden core,
        its input written to the scratchpad."""
        out = []
        for call in request.calls:
            plain = self.trees()[call.core].plain
            state = CoreState(CORE)
            state.load_weights(plain.weights)
            state.load_program(plain.program)
            state.act[plain.input_addr:plain.input_addr + len(call.payload)] = call.payload
            state.run()
            out.append(state.read_vector(plain.output_addr, plain.output_len))
        return out


@dataclass(frozen=True)
class Tree:
    plain: CoreProgram
    """The tree lowered to one core (input and output in the scratchpad)."""
    served: CoreProgram
    """`plain` with its host RECV and SEND (`with_host_io`)."""
    input_shape: tuple[int, ...]


def _tag(c: Coord, cols: int) -> int:
    return c[1] * cols + c[0]


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
def _trees(rows: int, cols: int, seed: int) -> dict[Coord, Tree]:
    rng = np.random.default_rng(seed)
    out = {}
    for k, c in enumerate((x, y) for y in range(rows) for x in range(cols)):
        tree = _tree(KINDS[k % len(KINDS)], rng)
        q = quantize_tree(tree, rng.normal(size=(20, *tree.input_shape)), tree_id=f"{c}")
        plain = lower_tree(q, CORE, f"{c}")
        out[c] = Tree(plain, with_host_io(plain, CORE, _tag(c, cols), f"{c}"),
                      tuple(tree.input_shape))
    return out


HOST_REPLAYS: dict[str, HostReplay] = {r.name: r for r in (
    HostReplay("host_2x2_busy", 2, 2, 301, 40, 60),
    HostReplay("host_3x3_busy", 3, 3, 302, 40, 40),
)}
"""The replays the RTL suite runs (`sim_tests/test_host_replay_rtl.py`)."""
