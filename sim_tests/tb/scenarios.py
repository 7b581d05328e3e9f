"""Multi-core scenarios that the array RTL tests and the system model both run.

One place defines them, so that the cocotb suite (`sim_tests/array_cocotb.py`) and the
simulator's tests (`tests/sim/test_array_agreement.py`) run the same programs on the same
data and compare cycles measured in RTL with the SimPy model's (issue 7, "Agreement with the
RTL"). A scenario is a small mesh of small cores, each with weights, an initial scratchpad
and a program; all cores start in the same cycle.

* `contention=False`: no two packets ever want one link or ejection port at once, and no
  packet waits at its destination long enough to stall its sender, so every core's cycles
  equal the golden array's (`nfcore.golden.array`, the timing contract).
* `contention=True`: packets meet on a link or at an ejection port; cycles come from the
  routers' arbitration (RTL) and from `nfcore.sim.net.oneshot` (model).
* `gated`: cores that sleep before the run and wake on RUN (`power.wake_up_cycles` later);
  packets for them wait in their routers meanwhile.

Everything is generated from the scenario's seed with numpy, so both sides rebuild the same
bytes. `RTL_CYCLES_FILE` names the file in which the RTL tests record what they measured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa
from nfcore.arch.isa import Activation, Instruction
from nfcore.config import CoreConfig, MeshConfig, NFCoreConfig
from nfcore.golden.core import CoreState

Coord = tuple[int, int]

RTL_CYCLES_FILE = "rtl_cycles.json"
"""File name, under the repository's `sim_build/`, of the cycles the array RTL tests measured.

Schema (JSON object): `{"schema": 1, "rtl_key": str, "scenarios": {name: {"rows": int, "cols": int,
"contention": bool, "setup_sha256": str, "power_window": {"cycles": int,
"lead_cycles": int}, "cores": {"x,y": {"cycles": int, "run_offset": int,
"act_sha256": str, "power": {counter: int}}}}}}`, where `rtl_key` is `rtl_key()` when measured
and `setup_sha256` is `Scenario.digest()` (so a record of older RTL, contracts, testbenches or
scenario definitions is recognised as stale and measured again, never reused), `cycles` is
the core's `last_run_cycles` (RUN to HALT, waits and stalls included), `run_offset` the cycles
its RUN handshake came after the first core's (its wake-up), and
`act_sha256` the SHA-256 of its whole scratchpad (`act_digest`) after the run, and `power`
the change of each of its power counters (`nfcore.hdl.power.COUNTERS`) over the window: from
a read just before RUN (`lead_cycles` cycles before the cycle in which RUN is presented) to a
read just after the run, `cycles` cycles in all."""

ROOT = Path(__file__).resolve().parents[2]
RTL_KEY_SOURCES = ("nfcore/hdl", "nfcore/arch", "nfcore/config.py", "nfcore/golden",
                   "nfcore/eda/verilog.py", "nfcore/eda/toolchain.py", "nfcore/eda/rtl_runner.py",
                   "nfcore/eda/array_tb.py", "nfcore/eda/replay_job.py", "nfcore/eda/verilator.vlt",
                   "sim_tests/tb", "sim_tests/array_cocotb.py", "sim_tests/split_trees_cocotb.py",
                   "sim_tests/paging_cocotb.py")
"""What an RTL measurement depends on: the RTL, the ISA/NoC contracts and config, the golden
model the testbenches check against, the Verilog and Verilator flow, and the testbenches and
scenarios."""


def rtl_key() -> str:
    """SHA-256 over the files of `RTL_KEY_SOURCES` (paths and bytes): a cycles file written
    under another key is stale."""
    h = hashlib.sha256()
    for source in RTL_KEY_SOURCES:
        path = ROOT / source
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".vlt"):
                h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


CORE = CoreConfig(lanes=8, weight_sram_bytes=256 * 8, act_sram_bytes=64 * 8, imem_depth=32,
                  acc_bits=32)
"""The small core of every scenario (short Verilator builds)."""


@dataclass(frozen=True)
class CoreSetup:
    weights: npt.NDArray[np.uint8]
    act: npt.NDArray[np.uint8]
    """The whole initial scratchpad, `(act_words, lanes)` bytes."""
    program: list[Instruction]

    def state(self) -> CoreState:
        """A golden-model core loaded as the RTL is loaded (weights, scratchpad, program)."""
        state = CoreState(CORE)
        state.load_weights(self.weights)
        state.act[:] = self.act
        state.load_program([i.encode() for i in self.program])
        return state


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: int
    cols: int
    contention: bool
    seed: int
    build: Callable[[np.random.Generator], dict[Coord, CoreSetup]]
    doc: str
    gated: frozenset[Coord] = frozenset()
    """Cores power-gated before the common RUN: they take it `power.wake_up_cycles` later
    (`nfcore.hdl.power`), so their cycles are the model's to predict, not the golden
    array's (which starts every core at once)."""

    @property
    def config(self) -> NFCoreConfig:
        return NFCoreConfig(core=CORE, mesh=MeshConfig(rows=self.rows, cols=self.cols))

    def setups(self) -> dict[Coord, CoreSetup]:
        """Every core of the mesh; those the builder leaves out just HALT."""
        built = self.build(np.random.default_rng(self.seed))
        idle = CoreSetup(np.zeros((1, LANES), dtype=np.uint8),
                         np.zeros((CORE.act_words, LANES), dtype=np.uint8), [isa.halt()])
        return {(x, y): built.get((x, y), idle)
                for y in range(self.rows) for x in range(self.cols)}

    def digest(self) -> str:
        """SHA-256 of everything the scenario loads (weights, scratchpads, programs)."""
        import hashlib

        h = hashlib.sha256(f"{self.rows}x{self.cols} {CORE}".encode())
        if self.gated:
            h.update(f"gated {sorted(self.gated)} {self.config.power}".encode())
        for coord, s in sorted(self.setups().items()):
            h.update(repr(coord).encode())
            h.update(np.ascontiguousarray(s.weights).tobytes())
            h.update(np.ascontiguousarray(s.act).tobytes())
            h.update(b"".join(i.encode().to_bytes(8, "little") for i in s.program))
        return h.hexdigest()

    def states(self) -> dict[Coord, CoreState]:
        """Golden-model cores loaded as the RTL is loaded (weights, scratchpad, program)."""
        return {coord: s.state() for coord, s in self.setups().items()}


def act_digest(act: npt.NDArray[np.uint8]) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(act, dtype=np.uint8).tobytes()).hexdigest()


# -- builders -------------------------------------------------------------------------------

LANES = CORE.lanes


def _scratchpad(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    return rng.integers(0, 256, (CORE.act_words, LANES), dtype=np.uint8)


def _layer(rng: np.random.Generator, rows: int, cols: int) -> npt.NDArray[np.uint8]:
    return isa.pack_matvec(rng.integers(-128, 128, (rows, cols)),
                           rng.integers(-2000, 2000, rows), rng.integers(1, 1 << 16, rows),
                           rng.integers(12, 18, rows), LANES)


def _tree_split(rng: np.random.Generator) -> dict[Coord, CoreSetup]:
    """A two-layer tree split across (0, 0) and (1, 0): each computes half of the hidden
    layer (8 of 16 neurons) from the same 20-element input at word 0; A sends its half to
    B, which concatenates it with its own (words 8 and 9) and runs the output layer."""
    a, b = (0, 0), (1, 0)
    x = _scratchpad(rng)
    w_a = _layer(rng, 8, 20)
    w_b = np.concatenate([_layer(rng, 8, 20), _layer(rng, 5, 16)])
    out_w = len(_layer(np.random.default_rng(0), 8, 20))  # where B's output layer starts
    act_b = _scratchpad(rng)
    act_b[:3] = x[:3]  # the same input on both cores
    return {
        a: CoreSetup(w_a, x, [
            isa.matvec(rows=8, cols=20, w_addr=0, x_addr=0, y_addr=8, act=Activation.RELU),
            isa.send(n=1, addr=8, dest_x=b[0], dest_y=b[1], tag=3),
            isa.halt()]),
        b: CoreSetup(w_b, act_b, [
            isa.matvec(rows=8, cols=20, w_addr=0, x_addr=0, y_addr=9, act=Activation.RELU),
            isa.recv(n=1, addr=8, tag=3),
            isa.matvec(rows=5, cols=16, w_addr=out_w, x_addr=8, y_addr=12),
            isa.halt()]),
    }


def _pipeline(rng: np.random.Generator) -> dict[Coord, CoreSetup]:
    """A chain around the 2 x 2 mesh, (0, 0) -> (1, 0) -> (1, 1) -> (0, 1): each core runs a
    16 x 16 RELU layer on the vector it receives (the first on its own input) and sends the
    two result words on; every packet finds its RECV waiting."""
    chain = [(0, 0), (1, 0), (1, 1), (0, 1)]
    out = {}
    for k, coord in enumerate(chain):
        program = [] if k == 0 else [isa.recv(n=2, addr=0, tag=10 + k)]
        program.append(isa.matvec(rows=16, cols=16, w_addr=0, x_addr=0, y_addr=4,
                                  act=Activation.RELU))
        if k + 1 < len(chain):
            nxt = chain[k + 1]
            program.append(isa.send(n=2, addr=4, dest_x=nxt[0], dest_y=nxt[1], tag=11 + k))
        program.append(isa.halt())
        out[coord] = CoreSetup(_layer(rng, 16, 16), _scratchpad(rng), program)
    return out


def _pairs(rng: np.random.Generator) -> dict[Coord, CoreSetup]:
    """Random message scripts within two disjoint pairs, (0, 0)-(1, 0) and (0, 1)-(1, 1),
    as `tests/hdl/test_core_pair.py` makes them (either direction, 1-2 words, some in LOOPs,
    VADD/VMUL work between). Packets use disjoint links, so there is no contention; a packet
    that waits for its RECV fits in the buffers of its path (two packets of at most 3 flits
    here, 6 slots in two routers), so its sender never stalls."""
    programs: dict[Coord, list[Instruction]] = {}
    for a, b in (((0, 0), (1, 0)), ((0, 1), (1, 1))):
        programs[a], programs[b] = [], []
        for tag in range(int(rng.integers(3, 6))):
            src, dst = (a, b) if rng.random() < 0.5 else (b, a)
            n = int(rng.integers(1, 3))
            for coord in (a, b):
                for _ in range(int(rng.integers(0, 3))):
                    op = isa.vadd if rng.random() < 0.5 else isa.vmul
                    programs[coord].append(op(n=int(rng.integers(1, 3)) * LANES, a_addr=0,
                                              b_addr=2, y_addr=28))
            send = isa.send(n=n, addr=int(rng.integers(0, 8)), dest_x=dst[0], dest_y=dst[1],
                            tag=tag)
            recv = isa.recv(n=n, addr=12 + int(rng.integers(0, 4)), tag=tag)
            if rng.random() < 0.4:
                count = int(rng.integers(2, 3))
                programs[src] += [isa.loop(body=1, count=count, x_stride=1, x_mask=1), send]
                programs[dst] += [isa.loop(body=1, count=count, y_stride=n, y_mask=1), recv]
            else:
                programs[src].append(send)
                programs[dst].append(recv)
    return {c: CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng),
                         [*p, isa.halt()]) for c, p in programs.items()}


def _two_to_one(rng: np.random.Generator, n: int) -> dict[Coord, CoreSetup]:
    """(1, 0) and (0, 1) each send an `n`-word packet to (1, 1) in their first instruction;
    the two headers reach (1, 1)'s ejection port in the same cycle (one from NORTH, one from
    WEST), so one waits for the other. (1, 1) receives both (same tag and length, into
    different words), then (0, 0) runs alone."""
    sink = (1, 1)
    out = {}
    for coord in ((1, 0), (0, 1)):
        out[coord] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
            isa.send(n=n, addr=0, dest_x=sink[0], dest_y=sink[1], tag=7), isa.halt()])
    out[sink] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
        isa.recv(n=n, addr=20, tag=7), isa.recv(n=n, addr=40, tag=7), isa.halt()])
    out[0, 0] = CoreSetup(_layer(rng, 4, 8), _scratchpad(rng), [
        isa.matvec(rows=4, cols=8, w_addr=0, x_addr=0, y_addr=1), isa.halt()])
    return out


def _crossing(rng: np.random.Generator) -> dict[Coord, CoreSetup]:
    """(0, 0) -> (1, 1) and (1, 0) -> (1, 1) both need the link (1, 0) -> (1, 1): (0, 0)'s
    packet enters (1, 0) from the west while (1, 0) injects its own; (1, 1) takes both. Long
    packets (12 words) so that the loser's sender stalls on a full path."""
    sink = (1, 1)
    out = {}
    for coord, tag in (((0, 0), 1), ((1, 0), 1)):
        out[coord] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
            isa.vadd(n=2 * LANES, a_addr=0, b_addr=2, y_addr=30),
            isa.send(n=12, addr=0, dest_x=sink[0], dest_y=sink[1], tag=tag), isa.halt()])
    out[sink] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
        isa.recv(n=12, addr=16, tag=1), isa.recv(n=12, addr=40, tag=1), isa.halt()])
    out[0, 1] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
        isa.halt()])
    return out


def _fan_in(rng: np.random.Generator) -> dict[Coord, CoreSetup]:
    """(1, 0) and (0, 1) each send 4 two-word packets (one tag) to (1, 1), which first runs
    a VADD so that both senders' headers wait at its ejection port together, then RECVs all
    8 into consecutive slots: the order of the slots is the order in which the ejection
    port's round robin granted NORTH and WEST (a fixed priority would give another)."""
    sink, n, each = (1, 1), 2, 4
    out = {}
    for coord in ((1, 0), (0, 1)):
        out[coord] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
            isa.loop(body=1, count=each, x_stride=n, x_mask=1),
            isa.send(n=n, addr=0, dest_x=sink[0], dest_y=sink[1], tag=5), isa.halt()])
    out[sink] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng), [
        isa.vadd(n=4 * LANES, a_addr=0, b_addr=4, y_addr=8),
        isa.loop(body=1, count=2 * each, y_stride=n, y_mask=1),
        isa.recv(n=n, addr=24, tag=5), isa.halt()])
    return out


def _random_dag(rng: np.random.Generator, rows: int = 2, cols: int = 2
                ) -> dict[Coord, CoreSetup]:
    """Random traffic on all cores of a rows x cols mesh, with contention nobody tuned:
    cores in row-major order ((0, 0), (1, 0), ...) send 1-3 packets each to random later
    cores (so no cycle of waits can deadlock), packets to core j all have tag j and j's
    length (1-6 words; a packet that would overflow j's slots is not sent), and each
    program interleaves its SENDs, its RECVs (one per incoming packet, into consecutive
    slots from word 24: the order of arrival decides the layout) and VADD/VMUL work at
    random."""
    order = [(x, y) for y in range(rows) for x in range(cols)]
    length = {c: int(rng.integers(1, 7)) for c in order}
    ops: dict[Coord, list[Instruction]] = {c: [] for c in order}
    incoming = dict.fromkeys(order, 0)
    for i, src in enumerate(order[:-1]):
        for _ in range(int(rng.integers(1, 4))):
            dst = order[int(rng.integers(i + 1, len(order)))]
            n = length[dst]
            if 24 + (incoming[dst] + 1) * n > CORE.act_words:
                continue
            ops[src].append(isa.send(n=n, addr=int(rng.integers(0, 24 - n)), dest_x=dst[0],
                                     dest_y=dst[1], tag=order.index(dst)))
            incoming[dst] += 1
    out = {}
    for c in order:
        recvs = [isa.recv(n=length[c], addr=24 + k * length[c], tag=order.index(c))
                 for k in range(incoming[c])]
        work = [(isa.vadd if rng.random() < 0.5 else isa.vmul)(
            n=int(rng.integers(1, 3)) * LANES, a_addr=0, b_addr=2, y_addr=20)
            for _ in range(int(rng.integers(0, 4)))]
        program: list[Instruction] = []
        queues = [ops[c], recvs, work]
        while any(queues):
            q = [q for q in queues if q][int(rng.integers(0, sum(1 for q in queues if q)))]
            program.append(q.pop(0))
        out[c] = CoreSetup(np.zeros((1, LANES), dtype=np.uint8), _scratchpad(rng),
                           [*program, isa.halt()])
    return out


RANDOM_DAGS = 18
RANDOM_DAGS_3X3 = 6
"""Random contention scenarios (`_random_dag`, seeds 70, 71, ...): enough that a model tuned
on a few of them would show its error on the others."""

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("tree_split", 2, 2, False, 61, _tree_split, _tree_split.__doc__ or ""),
    Scenario("pipeline_2x2", 2, 2, False, 62, _pipeline, _pipeline.__doc__ or ""),
    Scenario("pairs_a", 2, 2, False, 63, _pairs, _pairs.__doc__ or ""),
    Scenario("pairs_b", 2, 2, False, 64, _pairs, _pairs.__doc__ or ""),
    Scenario("two_to_one_short", 2, 2, True, 65, lambda r: _two_to_one(r, 2),
             _two_to_one.__doc__ or ""),
    Scenario("two_to_one_long", 2, 2, True, 66, lambda r: _two_to_one(r, 10),
             _two_to_one.__doc__ or ""),
    Scenario("crossing_link", 2, 2, True, 67, _crossing, _crossing.__doc__ or ""),
    Scenario("tree_split_gated", 2, 2, False, 68, _tree_split, _tree_split.__doc__ or "",
             gated=frozenset({(1, 0)})),
    Scenario("pipeline_gated", 2, 2, False, 69, _pipeline, _pipeline.__doc__ or "",
             gated=frozenset({(0, 0), (1, 1)})),
    Scenario("fan_in_round_robin", 2, 2, True, 66, _fan_in, _fan_in.__doc__ or ""),
    *(Scenario(f"random_dag_{k}", 2, 2, True, 70 + k, _random_dag, _random_dag.__doc__ or "")
      for k in range(RANDOM_DAGS)),
    *(Scenario(f"random_dag_3x3_{k}", 3, 3, True, 100 + k,
               lambda r: _random_dag(r, 3, 3), _random_dag.__doc__ or "")
      for k in range(RANDOM_DAGS_3X3)),
)}
"""Every scenario, by name (2 x 2 first, then 3 x 3). The RTL suite runs them all, one
array build per mesh size; so do the models' tests."""
