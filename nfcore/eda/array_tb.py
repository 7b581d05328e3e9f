"""Requests through the host port on the array RTL under Verilator (cocotb): the testbench
of the `CoreArray` top and the product's system-level replay.

`ArrayTB` reuses `CoreTB` for each core: a `CoreView` gives `CoreTB` one core's ports of the
array under the names of a lone core's top (`cmd__valid` -> `cmd__<y>__<x>__valid`), so the
command driver, the response receiver and the golden model that mirrors every write are the
same code. `ArrayTB.replay` serves requests as the host does (`nfcore.sim.net.dispatch`).
The RTL suite's testbench (`sim_tests/tb/array_tb.py`) extends it with a common RUN, power
gating and host injection.

`run_array_replay` is what `make sim` calls: it builds the array (cached,
`nfcore.eda.rtl_runner.build_cached`), writes the job (`nfcore.eda.replay_job`) and runs this
module's cocotb test `array_replay`, which loads the cores, replays the requests and writes
the packets the host received.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb_tools.check_results import get_results

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.eda import replay_job
from nfcore.eda.replay_job import Coord, CoreLoad
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS, CoreTB, Stalls, build_cached, pack, pulse_reset
from nfcore.eda.toolchain import top_name
from nfcore.errors import ExecutionError
from nfcore.golden.core import CoreState
from nfcore.hdl.core import CmdKind
from nfcore.sim.net.array import HostDelivery
from nfcore.sim.net.dispatch import HostRequest, dispatch

__all__ = ["ArrayTB", "CoreView", "run_array_replay"]

ENV_JOB = "NFCORE_ARRAY_JOB"
"""Path stem of a `run_array_replay` job (`nfcore.eda.replay_job`)."""


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
        dut.dram_in__valid.value = 0
        dut.dram_in__payload.value = 0
        dut.dram_out__ready.value = 0
        await pulse_reset(dut)

    async def load_cores(self, loads: Mapping[Coord, CoreLoad]) -> None:
        """Write every core's `CoreLoad`, all cores at once (each has its own command bus),
        with fresh golden models that mirror the writes."""

        async def one(tb: CoreTB, load: CoreLoad) -> None:
            tb.model = CoreState(tb.core)
            await tb.write_weights(load.weights, load.weight_base_word)
            if load.act is not None:
                await tb.write_act(load.act)
            await tb.load_program(list(load.program))

        tasks = [cocotb.start_soon(one(self.cores[c], load)) for c, load in loads.items()]
        for task in tasks:
            await task

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

        flits = [[noc.encode_header(dest_x=hp.dest[0], dest_y=hp.dest[1],
                                    length=len(hp.payload), tag=hp.tag)]
                 + [int.from_bytes(bytes(w), "little") | int(k == len(hp.payload) - 1) << width
                    for k, w in enumerate(np.asarray(hp.payload, dtype=np.uint8))]
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
        for tb in self.cores.values():
            tb.dut.cmd__payload.value = run
        valid = {c: False for c in self.cores}
        for cycle in range(max_cycles):
            if len(delivered) == expected and not pending and current is None:
                break
            offering = [c for c, q in queued.items()
                        if q and (p := presented(q[0])) is not None and p <= cycle]
            for c, tb in self.cores.items():
                if valid[c] != (c in offering):
                    valid[c] = c in offering
                    tb.dut.cmd__valid.value = int(valid[c])
            if current is None:
                ready = [(max(packets[i].cycle, taken[packets[i].dest][k] + 1), i)
                         for i in pending
                         if (k := gates[i]) is not None and k < len(taken[packets[i].dest])]
                if ready and min(ready)[0] <= cycle:
                    current, flit = min(ready)[1], 0
                    pending.remove(current)
            dut.host_in__valid.value = int(current is not None)
            if current is not None:
                dut.host_in__payload.value = flits[current][flit]
            await ReadOnly()
            for c in offering:
                if self.cores[c].dut.cmd__ready.value:
                    queued[c].pop(0)
                    taken[c].append(cycle)
            if current is not None and dut.host_in__ready.value:
                flit += 1
                if flit == len(flits[current]):
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


@cocotb.test()
async def array_replay(dut: Any) -> None:
    """The job named by `ENV_JOB`: load the cores, replay the requests, write what the host
    received (`nfcore.eda.replay_job`)."""
    stem = Path(os.environ[ENV_JOB])
    cfg, loads, requests, max_cycles = replay_job.read_job(stem)
    tb = ArrayTB(dut, cfg)
    await tb.reset()
    await tb.load_cores(loads)
    delivered = await tb.replay(requests, max_cycles)
    failed = sorted(c for c, e in tb.errors().items() if e)
    assert not failed, f"cores {failed} stopped at an illegal instruction (error set)"
    replay_job.write_deliveries(replay_job.out_path(stem), delivered, cfg.core.lanes)


def run_array_replay(cfg: NFCoreConfig, loads: Mapping[Coord, CoreLoad],
                     requests: Sequence[HostRequest], build_root: Path,
                     max_cycles: int = 1_000_000) -> list[HostDelivery]:
    """Serve `requests` on the array RTL of `cfg` (its mesh, its core) under Verilator, the
    cores loaded with `loads`: the packets the host received, with the cycles it took their
    header and tail (cycle 0: the first cycle of the replay, as
    `nfcore.sim.net.dispatch.run_requests` counts). The build is cached under `build_root`.
    Raises ExecutionError if the simulation fails or has not served every request after
    `max_cycles` cycles."""
    runner, build_dir = build_cached(cfg, "array", Path(build_root))
    stem = build_dir / "replay_job"
    out = replay_job.out_path(stem)
    out.unlink(missing_ok=True)
    replay_job.write_job(stem, cfg, loads, requests, max_cycles)
    log = build_dir / "replay.log"
    try:
        results = runner.test(
            test_module="nfcore.eda.array_tb", testcase="array_replay",
            hdl_toplevel=top_name("array"), build_dir=build_dir, test_dir=build_dir,
            extra_env={ENV_JOB: str(stem)}, log_file=log)
        _, failed = get_results(results)
    except (SystemExit, RuntimeError) as exc:
        raise ExecutionError(f"RTL replay failed ({exc}); see {log}") from None
    if failed or not out.exists():
        raise ExecutionError(f"RTL replay failed; see {log}")
    return replay_job.read_deliveries(out)
