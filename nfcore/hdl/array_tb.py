"""cocotb testbench of the `Array` top (`nfcore.hdl.array`) under Verilator.

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

from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from nfcore.config import NFCoreConfig
from nfcore.golden import CoreState
from nfcore.hdl.cocotb_tb import CLOCK_PERIOD_NS, CoreTB, Stalls, pack
from nfcore.hdl.core import CmdKind
from nfcore.scenarios import Coord, CoreSetup

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
    """Drives an `Array` (Verilog top `nfcore_array`) of `cfg.mesh` cores of `cfg.core`."""

    def __init__(self, dut: Any, cfg: NFCoreConfig, stalls: Stalls | None = None) -> None:
        self.dut = dut
        self.cfg = cfg
        stalls = stalls or Stalls()
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
        self.run_start_ns = 0
        """Simulation time (ns) of the edge that ended the last common RUN handshake."""
        self.cores: dict[Coord, CoreTB] = {}
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
        dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

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

    async def run_all(self, *, watch: bool = False, max_cycles: int = 1_000_000
                      ) -> dict[Coord, int]:
        """RUN every core in the same cycle; wait until all are idle; return each core's
        `last_run_cycles`, checked against the cycles the testbench measured (from the
        simulation time with `watch=False`: the longest run; per core with `watch=True`)."""
        dut = self.dut
        run_kind: Any = CmdKind.RUN
        run = pack(next(iter(self.cores.values())).cmd_layout, kind=run_kind.value)
        for tb in self.cores.values():
            tb.dut.cmd__payload.value = run
            tb.dut.cmd__valid.value = 1
        await ReadOnly()
        assert all(tb.dut.cmd__ready.value for tb in self.cores.values()), \
            "a core was not idle at RUN"
        await RisingEdge(dut.clk)
        start_ns = self.run_start_ns = int(get_sim_time("ns"))
        for tb in self.cores.values():
            tb.dut.cmd__valid.value = 0
        measured: dict[Coord, int] = {}
        if watch:
            cycle = 1  # the cycle after the RUN handshake is the first one counted
            while len(measured) < len(self.cores):
                await ReadOnly()
                for coord, tb in self.cores.items():
                    if coord in measured:
                        assert not tb.dut.busy.value, f"core {coord} busy after done"
                        continue
                    assert tb.dut.busy.value, f"core {coord} idle while running"
                    if tb.dut.done.value:
                        measured[coord] = cycle
                assert cycle < max_cycles, f"the array did not finish in {max_cycles} cycles"
                await RisingEdge(dut.clk)
                cycle += 1
        else:
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
            assert max(got.values()) == longest, \
                f"last_run_cycles {got}, but the array ran {longest} cycles"
        return got

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

    def errors(self) -> dict[Coord, bool]:
        return {c: bool(tb.dut.error.value) for c, tb in self.cores.items()}
