"""The RTL suite's testbench of the `CoreArray` top (`nfcore.hdl.core_array`) under Verilator.

`ArrayTB` extends the product's (`nfcore.eda.array_tb.ArrayTB`: a `CoreTB` per core through a
`CoreView`, loading, the host's replay of requests) with what the suite's scenarios need: a
common start (RUN on every core in the same cycle, as the golden array assumes), power
gating, raw host injection and reading counters and scratchpads. Two ways to wait for the
end of a common run:

* `watch=False` (fast): one `FallingEdge(any_busy)` trigger; the run's length comes from the
  simulation time, so no Python runs per cycle.
* `watch=True`: a Python loop per cycle checks `busy` and counts each core's cycles up to its
  `done` pulse, to be compared with `last_run_cycles`.
"""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from nfcore.config import NFCoreConfig
from nfcore.eda import array_tb
from nfcore.eda.replay_job import CoreLoad
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS, Stalls, pack
from nfcore.hdl.core import CmdKind
from nfcore.hdl.power import COUNTERS, PowerState
from sim_tests.tb.scenarios import Coord, CoreSetup

__all__ = ["ArrayTB"]


class ArrayTB(array_tb.ArrayTB):
    """Drives a `CoreArray` (Verilog top `nfcore_array`) of `cfg.mesh` cores of `cfg.core`."""

    def __init__(self, dut: Any, cfg: NFCoreConfig, stalls: Stalls | None = None) -> None:
        super().__init__(dut, cfg, stalls)
        self.run_start_ns = 0
        """Simulation time (ns) of the edge that ended the last common RUN handshake."""
        self.gated: set[Coord] = set()
        """Cores put to sleep since the last `run_all`."""
        self.slept_ns: dict[Coord, int] = {}
        """Per core, the simulation time (ns) of the edge that took its last SLEEP."""
        self.run_offsets: dict[Coord, int] = {}
        """Per core, the cycles its last RUN waited (its wake-up) after the first was taken."""

    async def load(self, setups: dict[Coord, CoreSetup]) -> None:
        """Write every core's weights, whole scratchpad and program, all cores at once, with
        fresh golden models that mirror the writes."""
        await self.load_cores({c: CoreLoad(s.weights, tuple(i.encode() for i in s.program),
                                           act=s.act) for c, s in setups.items()})

    async def sleep(self, coords: list[Coord]) -> None:
        """Gate the cores `coords` (command SLEEP, `nfcore.hdl.power`), all at once."""
        kind: Any = CmdKind.SLEEP

        async def one(c: Coord) -> None:
            await self.cores[c].send(kind)
            self.slept_ns[c] = int(get_sim_time("ns"))

        tasks = [cocotb.start_soon(one(c)) for c in coords]
        for task in tasks:
            await task
        await ReadOnly()
        for c in coords:
            state = PowerState(int(self.cores[c].dut.power_state.value))
            assert state is PowerState.GATED, f"core {c} is {state.name} after SLEEP"
        self.gated |= set(coords)
        await RisingEdge(self.dut.clk)

    async def run_all(self, *, watch: bool = False, max_cycles: int = 1_000_000
                      ) -> dict[Coord, int]:
        """Present RUN to every core in the same cycle; wait until all are idle; return
        each core's `last_run_cycles`, checked against the cycles the testbench measured
        (from the simulation time with `watch=False`: the longest run; per core with
        `watch=True`).

        An awake core takes RUN at once; a gated one (`sleep`) exactly
        `cfg.power.wake_up_cycles` later (checked; `run_offsets` holds each core's delay)."""
        dut = self.dut
        run_kind: Any = CmdKind.RUN
        run = pack(next(iter(self.cores.values())).cmd_layout, kind=run_kind.value)
        wake = self.cfg.power.wake_up_cycles
        for tb in self.cores.values():
            tb.dut.cmd__payload.value = run
            tb.dut.cmd__valid.value = 1
        offsets: dict[Coord, int] = {}
        measured: dict[Coord, int] = {}
        start_ns = 0
        edge = 0  # the first handshake edge is 0; cycle k of a run is edge offset + k
        # Per cycle in Python only while a core wakes, or all the run with `watch`.
        while len(offsets) < len(self.cores) or (watch and len(measured) < len(self.cores)):
            await ReadOnly()
            taken = [c for c, tb in self.cores.items()
                     if c not in offsets and tb.dut.cmd__ready.value]
            for coord, tb in self.cores.items():
                if watch and coord in offsets:
                    if coord in measured:
                        assert not tb.dut.busy.value, f"core {coord} busy after done"
                        continue
                    assert tb.dut.busy.value, f"core {coord} idle while running"
                    if tb.dut.done.value:
                        measured[coord] = edge - offsets[coord]
            assert edge < max_cycles, f"the array did not finish in {max_cycles} cycles"
            await RisingEdge(dut.clk)
            if edge == 0:
                start_ns = self.run_start_ns = int(get_sim_time("ns"))
            for coord in taken:
                offsets[coord] = edge
                self.cores[coord].dut.cmd__valid.value = 0
            edge += 1
        expected = {c: wake if c in self.gated else 0 for c in self.cores}
        assert offsets == expected, f"RUN taken after {offsets} cycles, expected {expected}"
        self.gated.clear()
        self.run_offsets = offsets
        if not watch:
            await FallingEdge(dut.any_busy)
            longest = round((get_sim_time("ns") - start_ns) / CLOCK_PERIOD_NS)
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert not dut.any_busy.value
        got = {c: int(tb.dut.last_run_cycles.value) for c, tb in self.cores.items()}
        await RisingEdge(dut.clk)
        if watch:
            assert got == measured, f"last_run_cycles {got}, measured {measured}"
        else:
            assert max(offsets[c] + got[c] for c in got) == longest, \
                f"last_run_cycles {got} after {offsets}, but the array ran {longest} cycles"
        return got

    async def power_counters(self) -> dict[Coord, dict[str, int]]:
        """Every core's `COUNTERS` (`nfcore.hdl.power`), read in one cycle."""
        await ReadOnly()
        out = {c: {name: int(getattr(tb.dut, name).value) for name in COUNTERS}
               for c, tb in self.cores.items()}
        await RisingEdge(self.dut.clk)
        return out

    async def check_scratchpads(self) -> None:
        """Every core's whole scratchpad against its golden model (all read at once)."""
        tasks = [cocotb.start_soon(tb.check_scratchpad()) for tb in self.cores.values()]
        for task in tasks:
            await task

    async def inject_host(self, flits: list[int]) -> int:
        """Offer raw `flits` (data | last << width) on the host port, one per accepted
        handshake. Returns the cycle of the first handshake, counted as `last_run_cycles`
        counts (1 = the cycle after the last RUN handshake of `run_all`)."""
        dut = self.dut
        first_ns: int | None = None
        for flit in flits:
            dut.host_in__payload.value = flit
            dut.host_in__valid.value = 1
            while True:
                await ReadOnly()
                taken = bool(dut.host_in__ready.value)
                await RisingEdge(dut.clk)
                if taken:
                    first_ns = int(get_sim_time("ns")) if first_ns is None else first_ns
                    break
        dut.host_in__valid.value = 0
        assert first_ns is not None
        return round((first_ns - self.run_start_ns) / CLOCK_PERIOD_NS)


# -- simulation speed (benchmarks/bench_array.py) -------------------------------------------

ENV_BENCH = "NFCORE_ARRAY_BENCH"
"""JSON of the benchmark's parameters: {"rows", "cols", "iterations", "runs", "watch"}."""
ENV_BENCH_OUT = "NFCORE_ARRAY_BENCH_OUT"
"""JSON file the benchmark test writes: {"cycles", "wall_s", "cpu_s", "runs"} (`cpu_s`: the
simulator process's CPU time, Verilator and Python together, which other load on a shared
machine does not inflate)."""


def ring_programs(rows: int, cols: int, iterations: int) -> dict[Coord, CoreSetup]:
    """Every core, `iterations` times: a 16 x 16 MATVEC, SEND of its 2 result words to the
    next core of a ring (row-major order), RECV of the previous core's."""
    import numpy as np

    from nfcore.arch import isa
    from sim_tests.tb.scenarios import CORE

    ring = [(x, y) for y in range(rows) for x in range(cols)]
    rng = np.random.default_rng(5)
    lanes = CORE.lanes
    out = {}
    for k, coord in enumerate(ring):
        nxt = ring[(k + 1) % len(ring)]
        weights = isa.pack_matvec(rng.integers(-128, 128, (16, 16)), rng.integers(-99, 99, 16),
                                  rng.integers(1, 1 << 16, 16), rng.integers(12, 18, 16), lanes)
        program = [isa.loop(body=3, count=iterations),
                   isa.matvec(rows=16, cols=16, w_addr=0, x_addr=0, y_addr=4),
                   isa.send(n=2, addr=4, dest_x=nxt[0], dest_y=nxt[1], tag=1),
                   isa.recv(n=2, addr=0, tag=1), isa.halt()]
        act = rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8)
        out[coord] = CoreSetup(weights, act, program)
    return out


@cocotb.test()
async def array_speed(dut: Any) -> None:
    """Simulated cycles per wall-clock second of an array running `ring_programs`, timing
    only the runs (not loading)."""
    import json
    import os
    import time
    from pathlib import Path

    from nfcore.config import MeshConfig
    from sim_tests.tb.scenarios import CORE

    p = json.loads(os.environ[ENV_BENCH])
    cfg = NFCoreConfig(core=CORE, mesh=MeshConfig(rows=p["rows"], cols=p["cols"]))
    tb = ArrayTB(dut, cfg)
    await tb.reset()
    await tb.load(ring_programs(p["rows"], p["cols"], p["iterations"]))
    cycles, wall_s, cpu_s = 0, 0.0, 0.0
    for _ in range(p["runs"]):
        t0, c0 = time.perf_counter(), time.process_time()
        got = await tb.run_all(watch=p["watch"])
        wall_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
        cycles += max(got.values()) + 2  # + the RUN handshake and the final idle cycle
        assert not any(tb.errors().values()), f"a core raised error: {tb.errors()}"
    Path(os.environ[ENV_BENCH_OUT]).write_text(json.dumps(
        {"cycles": cycles, "wall_s": wall_s, "cpu_s": cpu_s, "runs": p["runs"]}))
