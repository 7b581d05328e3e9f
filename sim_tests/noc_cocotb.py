"""cocotb tests of the network RTL (run by test_noc_rtl.py through the cocotb runner).

Every test drives its inputs with random idle cycles and its outputs with random
backpressure (except the latency test, which measures the no-contention contract), and
checks every packet against the reference model (`nfcore.arch.noc`) in a scoreboard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from nfcore.arch import noc
from nfcore.arch.noc import Port
from sim_tests.tb.noc_tb import MeshTB, Packet, RouterTB, TBParams

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


@cocotb.test()
async def mesh_misrouted(dut: Any) -> None:
    """A packet addressed outside the mesh is consumed at the edge and sets `misrouted`;
    the network keeps working."""
    params = TBParams.from_env()
    tb = MeshTB(dut, params)
    await tb.reset()
    assert not dut.misrouted.value
    bad = noc.encode_header(dest_x=params.cols, dest_y=0, length=2)
    tb.sources[(0, 0)].queue.append(Packet(src=(0, 0), sink=None, flits=[bad, 1, 2]))
    tb.random_traffic(50)
    await tb.run()
    while tb.sources[(0, 0)].queue:  # the bad packet may still be queued behind good ones
        await RisingEdge(dut.clk)
        tb.sources[(0, 0)].drive()
        await ReadOnly()
        tb.sources[(0, 0)].sample(tb.cycle)
    for _ in range(2 * (params.rows + params.cols) * noc.ROUTER_HOP_CYCLES):
        await RisingEdge(dut.clk)
    assert dut.misrouted.value, "a packet addressed off the mesh did not set misrouted"
    tb.random_traffic(50)
    await tb.run()


@cocotb.test()
async def router_round_robin(dut: Any) -> None:
    """Every input sends packets to LOCAL at once: the output serves whole packets in the
    documented round-robin order, LOCAL first after reset, then NORTH, SOUTH, EAST, WEST,
    and again from LOCAL; back-to-back packets leave no idle cycle on the output."""
    params = TBParams.from_env()
    params.idle_flit = params.idle_packet = params.stall = 0.0
    tb = RouterTB(dut, params)
    await tb.reset()
    rounds, length = 3, 4
    for _ in range(rounds):
        for p in Port:
            tb.send(p, tb.xy, length)
    cycles = await tb.run()
    order = [packet.src for packet in tb.scoreboard.received]
    assert order == list(Port) * rounds, order
    flits = rounds * len(Port) * (1 + length)
    first = min(p.ejected_cycle for p in tb.scoreboard.received)
    last = max(p.last_cycle for p in tb.scoreboard.received)
    assert last - first + 1 == flits, f"{flits} flits took {last - first + 1} cycles ({cycles})"
