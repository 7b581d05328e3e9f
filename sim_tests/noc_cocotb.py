"""cocotb tests of the network RTL (run by test_noc_rtl.py through the cocotb runner).

Every test drives its inputs with random idle cycles and its outputs with random
backpressure (except the latency test, which measures the no-contention contract), and
checks every packet against the reference model (`nfcore.noc`) in a scoreboard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cocotb

from nfcore import noc
from nfcore.hdl.noc_tb import MeshTB, RouterTB, TBParams
from nfcore.noc import Port

LATENCY_SCHEMA = 1


@cocotb.test()
async def router_random(dut: Any) -> None:
    """Random packets from all five inputs to all five outputs (U-turns included)."""
    params = TBParams.from_env()
    tb = RouterTB(dut, params)
    await tb.reset()
    ports = list(Port)
    for _ in range(params.packets):
        src, out = tb.rng.choice(ports), tb.rng.choice(ports)
        tb.send(src, tb.random_dest(out), tb.rng.randint(1, params.max_length))
    cycles = await tb.run()
    dut._log.info("%d packets in %d cycles", params.packets, cycles)


@cocotb.test()
async def mesh_random(dut: Any) -> None:
    """Random traffic between all pairs of nodes and the host."""
    params = TBParams.from_env()
    tb = MeshTB(dut, params)
    await tb.reset()
    tb.random_traffic(params.packets)
    cycles = await tb.run()
    flits = sum(len(p.flits) for p in tb.scoreboard.received)
    dut._log.info("%d packets, %d flits in %d cycles", params.packets, flits, cycles)
    assert not dut.misrouted.value, "a packet addressed inside the mesh left it"


@cocotb.test()
async def mesh_latency(dut: Any) -> None:
    """One packet at a time between every pair (no idle cycles, no backpressure): header
    latency == noc.header_latency_cycles, and the last flit follows `length` cycles later.
    Writes the measurements to params.latency_json."""
    params = TBParams.from_env()
    params.idle_flit = params.idle_packet = params.stall = 0.0
    tb = MeshTB(dut, params)
    await tb.reset()
    records = []
    for src in tb.nodes:
        for dest in tb.nodes:
            if src == dest == noc.HOST:
                continue
            length = tb.rng.randint(1, params.max_length)
            packet = tb.send(src, dest, length)
            await tb.run()
            header = packet.ejected_cycle - packet.injected_cycle
            records.append({
                "src": list(src), "dest": list(dest),
                "hops": noc.hops(noc.attach_router(src), noc.attach_router(dest)),
                "length": length, "header_latency_cycles": header,
                "last_flit_latency_cycles": packet.last_cycle - packet.injected_cycle,
                "contract_header_latency_cycles": noc.header_latency_cycles(src, dest),
            })
    if params.latency_json:
        path = Path(params.latency_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "schema": LATENCY_SCHEMA, "rows": params.rows, "cols": params.cols,
            "lanes": params.lanes, "router_hop_cycles": noc.ROUTER_HOP_CYCLES,
            "inject_cycles": noc.INJECT_CYCLES, "eject_cycles": noc.EJECT_CYCLES,
            "host": list(noc.HOST), "packets": records}, indent=1))
    for r in records:
        assert r["header_latency_cycles"] == r["contract_header_latency_cycles"], r
        assert r["last_flit_latency_cycles"] == r["header_latency_cycles"] + r["length"], r
