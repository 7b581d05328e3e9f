"""cocotb tests of the `CoreArray` top (run by test_array_rtl.py through the cocotb runner).

Every scenario of `sim_tests.tb.scenarios` runs on the array of its size with random idle cycles on
every core's `cmd` and random backpressure on its `rsp` (loading and reading back); after
each run every core's whole scratchpad is compared bit-exactly with the golden array
(`nfcore.golden.array`). Without contention each core's `last_run_cycles` equals the golden
array's count (the timing contract). With contention the scratchpads are compared with
`nfcore.sim.net.flit` (the golden array cannot know in which order two packets of one tag
reach a RECV); scenarios with gated cores check that those take RUN `power.wake_up_cycles`
late (`ArrayTB.run_all`). The cycles of both are compared with the models in
`tests/sim/test_array_agreement.py`, through the file below, with each core's power
counters (`nfcore.hdl.power.COUNTERS`) over a window from just before RUN to just after the
run. The measured cycles and counters go to the file named by `ENV_OUT` (schema:
`sim_tests.tb.scenarios.RTL_CYCLES_FILE`) for the simulator's tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb.utils import get_sim_time

from nfcore.arch import isa, noc
from nfcore.config import DramConfig
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS, Stalls
from nfcore.golden.array import run_array
from nfcore.hdl.power import COUNTERS
from nfcore.sim.net.flit import run_array_flits
from nfcore.sim.system.dram import DramChannel
from sim_tests.tb.array_tb import ArrayTB
from sim_tests.tb.dram_tb import DramModel
from sim_tests.tb.scenarios import CORE, SCENARIOS, act_digest

ENV_OUT = "NFCORE_RTL_CYCLES_OUT"
ENV_MESH = "NFCORE_ARRAY_MESH"
"""`<rows>x<cols>`: the build's mesh; `scenarios` runs the scenarios of that size."""
ENV_ONLY = "NFCORE_ARRAY_SCENARIOS"
"""Comma-separated scenario names: `scenarios` runs only those (default: all of the size)."""
SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
STALLS = Stalls(cmd_idle=0.3, rsp_stall=0.4, seed=SEED)


@cocotb.test()
async def scenarios(dut: Any) -> None:
    """Every scenario, alternating the fast wait (one trigger) and the per-cycle watch."""
    rows, cols = (int(v) for v in os.environ.get(ENV_MESH, "2x2").split("x"))
    only = os.environ.get(ENV_ONLY)
    mine = [sc for sc in SCENARIOS.values() if (sc.rows, sc.cols) == (rows, cols)
            and (only is None or sc.name in only.split(","))]
    assert mine, f"no scenario on a {rows} x {cols} mesh (of {only or 'all'})"
    tb = ArrayTB(dut, mine[0].config, STALLS)
    record: dict[str, Any] = {}
    for i, sc in enumerate(mine):
        assert sc.config == mine[0].config, f"{sc.name}: every scenario must use one build"
        # From reset, as the models start: the routers' round-robin pointers would
        # otherwise carry the previous scenario's grants.
        await tb.reset()
        await tb.load(sc.setups())
        models = {c: t.model for c, t in tb.cores.items()}
        if sc.contention:
            # Packets of one tag and length may reach a RECV in either order; the order
            # (so the scratchpads) is the arbiters', which the flit model follows.
            run_array_flits(sc.config, models, gated=sc.gated)
            expected = {}
        else:
            expected = run_array(models)
        await tb.sleep(sorted(sc.gated))
        # The power counters over a window around the run (issue 6: the leakage accounting
        # is told each core's state cycles): read just before RUN and just after the run.
        before = await tb.power_counters()
        window_ns = int(get_sim_time("ns"))
        got = await tb.run_all(watch=i % 2 == 1)
        after = await tb.power_counters()  # before READ_ACT, which counts as active
        window = round((int(get_sim_time("ns")) - window_ns) / CLOCK_PERIOD_NS)
        lead = round((tb.run_start_ns - window_ns) / CLOCK_PERIOD_NS)
        assert not any(tb.errors().values()), f"{sc.name}: error set {tb.errors()}"
        await tb.check_scratchpads()
        for coord, result in expected.items():
            if not sc.gated:  # started apart: the models' to predict
                assert got[coord] == result.cycles, (
                    f"{sc.name} core {coord}: RTL {got[coord]} cycles, contract "
                    f"{result.cycles}")
        dut._log.info("%s: RTL %s, golden %s", sc.name, got,
                      {c: r.cycles for c, r in expected.items()})
        record[sc.name] = {
            "rows": sc.rows, "cols": sc.cols, "contention": sc.contention,
            "setup_sha256": sc.digest(),
            "power_window": {"cycles": window, "lead_cycles": lead},
            "cores": {f"{x},{y}": {"cycles": got[x, y], "run_offset": tb.run_offsets[x, y],
                                   "act_sha256": act_digest(tb.cores[x, y].model.act),
                                   "power": {k: after[x, y][k] - before[x, y][k]
                                             for k in COUNTERS}}
                      for (x, y) in got},
        }
    out = Path(os.environ[ENV_OUT])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"schema": 1, "scenarios": record}, indent=1, sort_keys=True))


@cocotb.test()
async def host_packet_to_core(dut: Any) -> None:
    """The host port injects a packet for core (1, 1), whose RECV takes it: the payload
    lands bit-exactly, and the RECV waited for the header, which ejects
    `noc.header_latency_cycles(HOST, (1, 1))` cycles after the host's handshake."""
    first = next(iter(SCENARIOS.values()))
    tb = ArrayTB(dut, first.config, STALLS)
    await tb.reset()
    setups = first.setups()
    dest = (1, 1)
    n, tag, addr = 3, 9, 5
    setups[dest] = type(setups[dest])(setups[dest].weights, setups[dest].act,
                                       [isa.recv(n=n, addr=addr, tag=tag), isa.halt()])
    await tb.load(setups)
    words = [(0x0102030405060708 * (k + 1)) & ((1 << 64) - 1) for k in range(n)]
    header = noc.encode_header(dest_x=dest[0], dest_y=dest[1], length=n, tag=tag)
    width = CORE.lanes * 8
    flits = [header] + [w | int(k == n - 1) << width for k, w in enumerate(words)]
    delay = 20
    host = cocotb.start_soon(_after(tb, delay, flits))
    expected = run_array({c: t.model for c, t in tb.cores.items() if c != dest})
    got = await tb.run_all(watch=True)
    handshake = await host
    for k, w in enumerate(words):
        tb.cores[dest].model.act[addr + k] = list(w.to_bytes(CORE.lanes, "little"))
    await tb.check_scratchpads()
    # The header ejects its latency after the host's handshake, the payload follows, then
    # HALT's FETCH and DECODE.
    arrival = handshake + noc.header_latency_cycles(noc.HOST, dest)
    assert handshake > isa.ISSUE_CYCLES, "the RECV must be waiting"
    assert got[dest] == arrival + n + isa.ISSUE_CYCLES, (got[dest], arrival)
    for coord, result in expected.items():
        assert got[coord] == result.cycles


@cocotb.test()
async def power_states(dut: Any) -> None:
    """Two cores sleep, then the host presents RUN to all: the sleepers take it exactly
    `power.wake_up_cycles` (W) late (`ArrayTB.run_all` checks) and compute bit-exactly.
    Between two reads of the counters, every core counts every cycle in exactly one state;
    a sleeper counts GATED from its SLEEP handshake to the cycle RUN reached it, then W - 1
    waking cycles as ACTIVE and one wake-up; every core counts its `last_run_cycles` as
    ACTIVE and the rest as IDLE."""
    sc = SCENARIOS["tree_split"]
    tb = ArrayTB(dut, sc.config, STALLS)
    wake = sc.config.power.wake_up_cycles
    await tb.reset()
    await tb.load(sc.setups())
    run_array({c: t.model for c, t in tb.cores.items()})  # the scratchpads to expect
    before = await tb.power_counters()
    read0_ns = int(get_sim_time("ns"))
    for coord, c in before.items():
        assert c["gated_cycles"] == c["active_cycles"] == c["wakes"] == 0, (coord, c)
    assert len({sum(c[k] for k in COUNTERS[:3]) for c in before.values()}) == 1, before
    sleepers = [(1, 0), (1, 1)]
    await tb.sleep(sleepers)
    await ClockCycles(dut.clk, 37)
    await tb.run_all()
    got = {c: int(t.dut.last_run_cycles.value) for c, t in tb.cores.items()}
    after = await tb.power_counters()  # before READ_ACT, which counts as active
    elapsed = round((int(get_sim_time("ns")) - read0_ns) / CLOCK_PERIOD_NS)
    await tb.check_scratchpads()
    for coord in tb.cores:
        d = {k: after[coord][k] - before[coord][k] for k in COUNTERS}
        asleep = coord in sleepers
        gated = (round((tb.run_start_ns - tb.slept_ns[coord]) / CLOCK_PERIOD_NS)
                 if asleep else 0)
        assert d["gated_cycles"] + d["idle_cycles"] + d["active_cycles"] == elapsed, (coord, d)
        assert d["wakes"] == int(asleep), (coord, d)
        assert d["gated_cycles"] == gated, (coord, d, gated)
        assert d["active_cycles"] == got[coord] + (max(wake - 1, 0) if asleep else 0), \
            (coord, d, got[coord])


@cocotb.test()
async def dram_read_to_core(dut: Any) -> None:
    """The host sends DRAM read requests (`to_dram` packets) through the mesh; the DRAM
    model (`sim_tests.tb.dram_tb`, with the config's latency and bandwidth, and random
    backpressure on `dram_out`) answers each with a packet that core (1, 1)'s RECV takes:
    the words land bit-exactly; the request's header reaches `dram_out`
    `header_latency_cycles(HOST, DRAM)` after the host's handshake; the channel offers the
    answer at its latency and bandwidth and the mesh takes every flit when offered; the RECV
    ends `header_latency_cycles(DRAM, (1, 1))` after the last word's injection. Twice: the
    default channel (faster than a flit per cycle) and a slow one (a word per 4 cycles)."""
    first = next(iter(SCENARIOS.values()))
    dest, tag, addr = (1, 1), 6, 3
    rng = np.random.default_rng(SEED)
    memory = rng.integers(0, 256, (4096, CORE.lanes), dtype=np.uint8)
    tb = ArrayTB(dut, first.config, STALLS)
    await tb.reset()
    slow = DramConfig(latency_ns=30.0, bandwidth_gbps=8.0)
    for k, (dram_cfg, words, start) in enumerate(((first.config.dram, 9, 100),
                                                  (slow, 5, 2000))):
        setups = first.setups()
        setups[dest] = type(setups[dest])(setups[dest].weights, setups[dest].act,
                                           [isa.recv(n=words, addr=addr, tag=tag), isa.halt()])
        await tb.load(setups)
        run_array({c: t.model for c, t in tb.cores.items() if c != dest})
        cfg = dataclasses.replace(first.config, dram=dram_cfg)
        dram = DramModel(dut, cfg, memory, origin_ns=lambda: tb.run_start_ns,
                         stall=STALLS.rsp_stall, seed=SEED + k)
        server = cocotb.start_soon(dram.run())
        request = noc.encode_dram_request(addr=start, words=words, dest_x=dest[0],
                                          dest_y=dest[1])
        header = noc.encode_header(to_dram=1, length=1, tag=tag)
        host = cocotb.start_soon(_after(tb, 7, [header, request | 1 << CORE.lanes * 8]))
        got = await tb.run_all(watch=True)
        handshake = await host
        server.cancel()
        tb.cores[dest].model.act[addr:addr + words] = memory[start:start + words]
        await tb.check_scratchpads()
        (transfer,) = dram.transfers
        assert transfer.request == {"addr": start, "words": words, "dest_x": dest[0],
                                    "dest_y": dest[1], "to_weights": 0, "waddr": 0}
        assert transfer.header_offered_cycle == \
            handshake + noc.header_latency_cycles(noc.HOST, noc.DRAM)
        channel = DramChannel.of(cfg)
        assert transfer.read is not None
        assert transfer.read.first_byte_cycle == transfer.tail_cycle + channel.latency_cycles
        # A flit per cycle at most, each when the channel has its word: the mesh never
        # stalls the DRAM here (the RECV waits).
        expected = list(np.maximum.accumulate(
            np.array(transfer.ready_cycles) - np.arange(words + 1)) + np.arange(words + 1))
        assert transfer.sent_cycles == expected, (transfer.sent_cycles, expected)
        # The last word is ready when the system model's channel says the read is done.
        assert transfer.ready_cycles[-1] == transfer.read.done_cycle, transfer.ready_cycles
        assert got[dest] == transfer.sent_cycles[-1] + \
            noc.header_latency_cycles(noc.DRAM, dest) + isa.ISSUE_CYCLES, \
            (got[dest], transfer.sent_cycles)


async def _after(tb: ArrayTB, cycles: int, flits: list[int]) -> int:
    await ClockCycles(tb.dut.clk, cycles)
    return await tb.inject_host(flits)
