"""cocotb testbench of the `CoreArray` top (`nfcore.hdl.core_array`) under Verilator.

`ArrayTB` reuses `CoreTB` for each core: a `CoreView` gives `CoreTB` one core's ports of the
array under the names of a lone core's top (`cmd__valid` -> `cmd__<y>__<x>__valid`), so the
command driver, the response receiver with backpressure, the golden model that mirrors every
write, and the scratchpad check are the same code. The array adds one clock, a common start
(RUN on every core in the same cycle, as the golden array assumes) and two ways to wait for
the end of a run:

* `watch=False` (fast): one `FallingEdge(any_busy)` trigger; the run's length comes from the
  simulation time, so no Python runs per cycle.
* `watch=True`: a Python loop per cycle checks `busy` and counts each core's cycles up to its
  `done` pulse, to be compared with `last_run_cycles`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS, CoreTB, Stalls, pack, pulse_reset
from nfcore.golden.core import CoreState
from nfcore.hdl.core import CmdKind
from nfcore.hdl.power import COUNTERS, PowerState
from nfcore.sim.net.array import HostDelivery
from nfcore.sim.net.dispatch import HostRequest, dispatch
from sim_tests.tb.scenarios import Coord, CoreSetup

__all__ = ["ArrayTB", "CoreView"]


class CoreView:
    """The ports of core (x, y) of an `nfcore_array` simulation, by a lone core's names."""

    SHARED = frozenset({"clk", "rst"})

    def __init__(self, dut: Any, x: int, y: int) -> None:
        self._dut, self._x, self._y = dut, x, y

    def __getattr__(self, name: str) -> Any:
        if name in self.SHARED:
            return getattr(self._dut, name)
        head, sep, rest = name.partition("__")
        return getattr(self._dut, f"{head}__{self._y}__{self._x}" + (f"__{rest}" if sep else ""))


class ArrayTB:
    """Drives a `CoreArray` (Verilog top `nfcore_array`) of `cfg.mesh` cores of `cfg.core`."""

    def __init__(self, dut: Any, cfg: NFCoreConfig, stalls: Stalls | None = None) -> None:
        self.dut = dut
        self.cfg = cfg
        stalls = stalls or Stalls()
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
        self.run_start_ns = 0
        """Simulation time (ns) of the edge that ended the last common RUN handshake."""
        self.cores: dict[Coord, CoreTB] = {}
        self.gated: set[Coord] = set()
        """Cores put to sleep since the last `run_all`."""
        self.slept_ns: dict[Coord, int] = {}
        """Per core, the simulation time (ns) of the edge that took its last SLEEP."""
        self.run_offsets: dict[Coord, int] = {}
        """Per core, the cycles its last RUN waited (its wake-up) after the first was taken."""
        for y in range(cfg.mesh.rows):
            for x in range(cfg.mesh.cols):
                seed = stalls.seed * 1000 + y * cfg.mesh.cols + x
                self.cores[x, y] = CoreTB(
                    CoreView(dut, x, y), cfg.core,
                    Stalls(stalls.cmd_idle, stalls.rsp_stall, seed), start_clock=False)

    async def reset(self) -> None:
        dut = self.dut
        for tb in self.cores.values():
            tb.dut.cmd__valid.value = 0
            tb.dut.cmd__payload.value = 0
            tb.dut.rsp__ready.value = 0
        dut.host_in__valid.value = 0
        dut.host_in__payload.value = 0
        dut.host_out__ready.value = 1
        dut.dram_in__valid.value = 0
        dut.dram_in__payload.value = 0
        dut.dram_out__ready.value = 0
        await pulse_reset(dut)

    async def load(self, setups: dict[Coord, CoreSetup]) -> None:
        """Write every core's weights, whole scratchpad and program, all cores at once (each
        has its own command bus), with fresh golden models that mirror the writes."""

        async def one(tb: CoreTB, s: CoreSetup) -> None:
            tb.model = CoreState(tb.core)
            await tb.write_weights(s.weights)
            await tb.write_act(s.act)
            await tb.load_program([i.encode() for i in s.program])

        tasks = [cocotb.start_soon(one(self.cores[c], s)) for c, s in setups.items()]
        for task in tasks:
            await task

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

    async def replay(self, requests: Sequence[HostRequest], max_cycles: int = 1_000_000
                     ) -> list[HostDelivery]:
        """Serve `requests` as the host does (`nfcore.sim.net.dispatch`): from each request's
        arrival cycle, RUN on the cmd bus of every core it calls (taken when the core is
        idle; a routed request's tree RUNs from `host.decision_cycles` after the host took
        the tail of its router's result); each input packet from the cycle after its core
        took that RUN, on the host port, one after the other (the earliest eligible first);
        the host port's output is always ready. Cycle 0 is the first cycle of this call.
        Returns the packets the host received, with the cycles it took their header and
        tail. Python runs every cycle (the host reacts to handshakes)."""
        dut, width = self.dut, self.cfg.core.lanes * 8
        runs, packets, gates, run_gates = dispatch(requests)
        run_kind: Any = CmdKind.RUN
        run = pack(next(iter(self.cores.values())).cmd_layout, kind=run_kind.value)
        queued = {c: [(r if isinstance(r, int) else r[0], run_gates.get((c, k)))
                      for k, r in enumerate(rs)] for c, rs in runs.items()}
        tails: dict[Coord, list[int]] = {}
        decision = self.cfg.host.decision_cycles

        def presented(run: tuple[int, tuple[Coord, int] | None]) -> int | None:
            cycle, gate = run
            if gate is None:
                return cycle
            src, k = gate
            got = tails.get(src, [])
            return max(cycle, got[k] + decision) if k < len(got) else None
        flits = [(hp.cycle, [noc.encode_header(dest_x=hp.dest[0], dest_y=hp.dest[1],
                                               length=len(hp.payload), tag=hp.tag)]
                  + [int.from_bytes(bytes(w), "little") | int(k == len(hp.payload) - 1) << width
                     for k, w in enumerate(np.asarray(hp.payload, dtype=np.uint8))])
                 for hp in packets]
        expected = sum(len(r.all_calls) for r in requests)
        delivered: list[HostDelivery] = []
        words: list[int] = []
        header: dict[str, int] = {}
        header_cycle = 0
        taken: dict[Coord, list[int]] = {c: [] for c in runs}
        pending = list(range(len(packets)))
        current: int | None = None
        flit = 0
        dut.host_out__ready.value = 1
        for cycle in range(max_cycles):
            if len(delivered) == expected and not pending and current is None:
                break
            offering = [c for c, q in queued.items()
                        if q and (p := presented(q[0])) is not None and p <= cycle]
            for c, tb in self.cores.items():
                tb.dut.cmd__payload.value = run
                tb.dut.cmd__valid.value = int(c in offering)
            if current is None:
                ready = [(max(packets[i].cycle, taken[packets[i].dest][k] + 1), i)
                         for i in pending
                         if (k := gates[i]) is not None and k < len(taken[packets[i].dest])]
                if ready and min(ready)[0] <= cycle:
                    current, flit = min(ready)[1], 0
                    pending.remove(current)
            dut.host_in__valid.value = int(current is not None)
            if current is not None:
                dut.host_in__payload.value = flits[current][1][flit]
            await ReadOnly()
            for c in offering:
                if self.cores[c].dut.cmd__ready.value:
                    queued[c].pop(0)
                    taken[c].append(cycle)
            if current is not None and dut.host_in__ready.value:
                flit += 1
                if flit == len(flits[current][1]):
                    current = None
            if dut.host_out__valid.value:
                value = int(dut.host_out__payload.value)
                data, last = value & ((1 << width) - 1), value >> width
                if not header:
                    header, header_cycle, words = noc.decode_header(data), cycle, []
                else:
                    words.append(data)
                    if last:
                        payload = np.array([list(w.to_bytes(width // 8, "little"))
                                            for w in words], dtype=np.uint8)
                        src = (header["src_x"], header["src_y"])
                        delivered.append(HostDelivery(src, header["tag"], payload,
                                                      header_cycle, cycle))
                        tails.setdefault(src, []).append(cycle)
                        header = {}
            await RisingEdge(dut.clk)
        else:
            raise AssertionError(f"the replay did not finish in {max_cycles} cycles")
        for tb in self.cores.values():
            tb.dut.cmd__valid.value = 0
        dut.host_in__valid.value = 0
        return delivered

    def errors(self) -> dict[Coord, bool]:
        return {c: bool(tb.dut.error.value) for c, tb in self.cores.items()}


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
