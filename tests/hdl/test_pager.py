"""`WeightPager` inside a `PoweredCore` (Amaranth simulator): a weight packet on `net_in`
lands in the weight SRAM, one word per cycle, and a MATVEC over the paged weights matches the
golden model; a RECV's packet is left alone; a gated core takes nothing until woken."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from amaranth.sim import Simulator
from streams import recv, send

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig, NFCoreConfig, PowerConfig
from nfcore.golden.core import CoreState
from nfcore.hdl.core import CmdKind
from nfcore.hdl.power import PoweredCore, PowerState

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=8)


def _cmd(kind: CmdKind, addr: int = 0, data: int = 0, count: int = 0) -> dict[str, Any]:
    return {"kind": kind, "addr": addr, "data": data, "count": count}


def _word(row: np.ndarray) -> int:
    return int.from_bytes(bytes(row.astype(np.uint8)), "little")


def test_paged_weights_run_a_matvec_bit_exactly() -> None:
    cfg = NFCoreConfig(core=CORE, power=PowerConfig(wake_up_cycles=3))
    dut = PoweredCore(config=cfg, coord=(0, 0))
    rng = np.random.default_rng(2)
    prng = random.Random(2)
    rows, cols, waddr = 6, 12, 9
    weights = isa.pack_matvec(rng.integers(-128, 128, (rows, cols)), rng.integers(-99, 99, rows),
                              rng.integers(1, 1 << 16, rows), rng.integers(12, 18, rows), 8)
    x = rng.integers(0, 256, (2, 8), dtype=np.uint8)
    program = [isa.matvec(rows=rows, cols=cols, w_addr=waddr, x_addr=0, y_addr=4), isa.halt()]
    golden = CoreState(CORE)
    golden.load_weights(weights, waddr)
    golden.act[0:2] = x
    golden.load_program([i.encode() for i in program])
    golden.run()
    other = noc.encode_header(dest_x=0, dest_y=0, length=1, tag=3)
    header = noc.encode_weight_header(dest_x=0, dest_y=0, length=len(weights), waddr=waddr)
    flits = [{"data": header, "last": 0}] + [
        {"data": _word(w), "last": int(k == len(weights) - 1)} for k, w in enumerate(weights)]
    seen: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        # A RECV's packet at net_in is not taken by an idle core.
        ctx.set(dut.net_in.payload, {"data": other, "last": 0})
        ctx.set(dut.net_in.valid, 1)
        for _ in range(3):
            await ctx.tick()
            assert not ctx.get(dut.net_in.ready) and not ctx.get(dut.paging)
        ctx.set(dut.net_in.valid, 0)
        # Gated: the weight packet waits until a command wakes the core.
        await send(ctx, dut.cmd, _cmd(CmdKind.SLEEP))
        ctx.set(dut.net_in.payload, flits[0])
        ctx.set(dut.net_in.valid, 1)
        for _ in range(4):
            await ctx.tick()
            assert not ctx.get(dut.net_in.ready)
        assert ctx.get(dut.power_state) == PowerState.GATED
        await send(ctx, dut.cmd, _cmd(CmdKind.WRITE_ACT, 0, _word(x[0])))
        # Awake and idle: the header is taken at once, then a word per offered cycle.
        taken = []
        for k, flit in enumerate(flits):
            if k and prng.random() < 0.3:
                ctx.set(dut.net_in.valid, 0)
                await ctx.tick()
            ctx.set(dut.net_in.payload, flit)
            ctx.set(dut.net_in.valid, 1)
            assert ctx.get(dut.net_in.ready), f"flit {k} not taken when offered"
            assert ctx.get(dut.paging) == int(k > 0)
            assert ctx.get(dut.cmd.ready) == int(k == 0)
            taken.append(k)
            await ctx.tick()
        ctx.set(dut.net_in.valid, 0)
        assert not ctx.get(dut.paging) and ctx.get(dut.cmd.ready)
        await send(ctx, dut.cmd, _cmd(CmdKind.WRITE_ACT, 1, _word(x[1])))
        for addr, instr in enumerate(program):
            await send(ctx, dut.cmd, _cmd(CmdKind.WRITE_PROG, addr, instr.encode()))
        await send(ctx, dut.cmd, _cmd(CmdKind.RUN))
        await ctx.tick().until(dut.done)
        seen["error"] = ctx.get(dut.error)
        await send(ctx, dut.cmd, _cmd(CmdKind.READ_ACT, 4, count=1))
        seen["y"] = (await recv(ctx, dut.rsp))["data"]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not seen["error"]
    assert seen["y"] == _word(golden.act[4])


def test_recv_does_not_take_a_weight_packet() -> None:
    """A program's RECV that meets a weight packet stops with `error` and leaves it."""
    cfg = NFCoreConfig(core=CORE)
    dut = PoweredCore(config=cfg, coord=(0, 0))
    header = noc.encode_weight_header(dest_x=0, dest_y=0, length=1, waddr=0)
    program = [isa.recv(n=1, addr=0, tag=0), isa.halt()]

    async def bench(ctx: Any) -> None:
        for addr, instr in enumerate(program):
            await send(ctx, dut.cmd, _cmd(CmdKind.WRITE_PROG, addr, instr.encode()))
        await send(ctx, dut.cmd, _cmd(CmdKind.RUN))
        ctx.set(dut.net_in.payload, {"data": header, "last": 0})
        ctx.set(dut.net_in.valid, 1)
        while not ctx.get(dut.done):
            assert not ctx.get(dut.net_in.ready)
            await ctx.tick()
        await ctx.tick()
        assert ctx.get(dut.error)
        # Now idle: the pager takes it.
        assert ctx.get(dut.net_in.ready)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
