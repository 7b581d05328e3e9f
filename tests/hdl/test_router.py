"""MeshRouter: parameter errors name the parameter and the allowed range; its InputQueue."""

from __future__ import annotations

from typing import Any

import pytest
from amaranth.sim import Simulator

from nfcore.arch.noc import Port
from nfcore.errors import ConfigError
from nfcore.hdl.router import InputQueue, MeshRouter


@pytest.mark.parametrize("kwargs,message", [
    ({"lanes": 4, "x": 0, "y": 0}, "lanes = 4: a flit must hold the 64-bit header"),
    ({"lanes": 8, "x": 256, "y": 0}, "x = 256 is out of range 0..255"),
    ({"lanes": 8, "x": 0, "y": 0, "fifo_depth": 1}, "fifo_depth = 1 is out of range 2..16"),
    ({"lanes": 8, "x": 0, "y": 0, "ports": frozenset({Port.EAST})}, "must include LOCAL"),
])
def test_router_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MeshRouter(**kwargs)


@pytest.mark.parametrize("depth", [2, 3])
def test_input_queue_is_a_fifo_with_a_register_only_ready(depth: int) -> None:
    """`InputQueue`: `w.ready` is "not full"; entries leave in order with their route, one-hot;
    a flit pushed into an empty queue is the head one cycle later."""
    dut = InputQueue(lanes=8, depth=depth)
    seen: list[tuple[int, int, int]] = []

    async def bench(ctx: Any) -> None:
        ctx.set(dut.r.ready, 0)
        for k in range(depth):
            assert ctx.get(dut.w.ready)
            ctx.set(dut.w.payload, {"data": 100 + k, "last": k % 2})
            ctx.set(dut.w_route, list(Port)[k % len(Port)])
            ctx.set(dut.w.valid, 1)
            await ctx.tick()
            assert ctx.get(dut.r.valid)  # the first flit is the head from the next cycle
        ctx.set(dut.w.valid, 0)
        assert not ctx.get(dut.w.ready)  # full
        ctx.set(dut.r.ready, 1)
        while ctx.get(dut.r.valid):
            head = ctx.get(dut.r.payload)
            seen.append((head.flit.data, head.flit.last, head.route))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(100 + k, k % 2, 1 << (k % len(Port))) for k in range(depth)]
