"""cocotb tests of the `Array` top (run by test_array_rtl.py through the cocotb runner).

Every scenario of `nfcore.scenarios` runs on the 2 x 2 array with random idle cycles on
every core's `cmd` and random backpressure on its `rsp` (loading and reading back); after
each run every core's whole scratchpad is compared bit-exactly with the golden array
(`nfcore.golden_array`). Without contention each core's `last_run_cycles` equals the golden
array's count (the timing contract); with contention no core is faster than that. The
measured cycles go to the file named by `ENV_OUT` (schema: `nfcore.scenarios.RTL_CYCLES_FILE`)
for the simulator's tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb

from nfcore import isa, noc
from nfcore.golden_array import run_array
from nfcore.hdl.array_tb import ArrayTB
from nfcore.hdl.cocotb_tb import Stalls
from nfcore.scenarios import CORE, SCENARIOS, act_digest

ENV_OUT = "NFCORE_RTL_CYCLES_OUT"
SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
STALLS = Stalls(cmd_idle=0.3, rsp_stall=0.4, seed=SEED)


@cocotb.test()
async def scenarios(dut: Any) -> None:
    """Every scenario, alternating the fast wait (one trigger) and the per-cycle watch."""
    first = next(iter(SCENARIOS.values()))
    tb = ArrayTB(dut, first.config, STALLS)
    await tb.reset()
    record: dict[str, Any] = {}
    for i, sc in enumerate(SCENARIOS.values()):
        assert sc.config == first.config, f"{sc.name}: every scenario must use one build"
        await tb.load(sc.setups())
        expected = run_array({c: t.model for c, t in tb.cores.items()})
        got = await tb.run_all(watch=i % 2 == 1)
        assert not any(tb.errors().values()), f"{sc.name}: error set {tb.errors()}"
        await tb.check_scratchpads()
        for coord, result in expected.items():
            if sc.contention:
                assert got[coord] >= result.cycles, (sc.name, coord, got[coord], result.cycles)
            else:
                assert got[coord] == result.cycles, (
                    f"{sc.name} core {coord}: RTL {got[coord]} cycles, contract "
                    f"{result.cycles}")
        dut._log.info("%s: RTL %s, golden %s", sc.name, got,
                      {c: r.cycles for c, r in expected.items()})
        record[sc.name] = {
            "rows": sc.rows, "cols": sc.cols, "contention": sc.contention,
            "setup_sha256": sc.digest(),
            "cores": {f"{x},{y}": {"cycles": got[x, y],
                                   "act_sha256": act_digest(tb.cores[x, y].model.act)}
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


async def _after(tb: ArrayTB, cycles: int, flits: list[int]) -> int:
    from cocotb.triggers import ClockCycles

    await ClockCycles(tb.dut.clk, cycles)
    return await tb.inject_host(flits)
