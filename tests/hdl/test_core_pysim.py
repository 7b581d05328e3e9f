"""A small program on MicroCore in the Amaranth simulator, through the cmd/rsp streams with
random idle cycles and backpressure, against the golden model."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from streams import recv, send

from nfcore.arch import isa
from nfcore.arch.isa import Activation
from nfcore.config import CoreConfig
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState
from nfcore.hdl.core import CmdKind, MicroCore

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=8)


def _word(row: np.ndarray) -> int:
    return int.from_bytes(bytes(row), "little")


@pytest.mark.parametrize("lut_multipliers", [0, 2])
def test_small_program_matches_golden(lut_multipliers: int) -> None:
    # lut_multipliers: the FPGA build's choice for the iCE40 (same results and cycles).
    lanes = CORE.lanes
    rng = np.random.default_rng(11)
    rows, cols = 5, 11
    weights = isa.pack_matvec(rng.integers(-128, 128, (rows, cols)), rng.integers(-99, 99, rows),
                              rng.integers(1, 1 << 16, rows), rng.integers(12, 18, rows), lanes)
    program = [
        isa.matvec(rows=rows, cols=cols, w_addr=0, x_addr=0, y_addr=4, act=Activation.RELU),
        isa.vadd(n=rows, a_addr=4, b_addr=0, y_addr=4),
        isa.halt(),
    ]
    words = [i.encode() for i in program]
    act = rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8)

    golden = CoreState(CORE)
    golden.load_weights(weights)
    golden.act[:] = act
    golden.load_program(words)
    expected = golden.run()

    dut = MicroCore(config=CORE, lut_multipliers=lut_multipliers)
    stall = random.Random(5)
    result: dict[str, object] = {}

    async def command(ctx, kind, addr=0, data=0, count=0):
        payload = {"kind": kind, "addr": addr, "data": data, "count": count}
        await send(ctx, dut.cmd, payload, rng=stall, idle=0.3)

    async def bench(ctx):
        for addr, row in enumerate(weights):
            await command(ctx, CmdKind.WRITE_WEIGHT, addr, _word(row))
        for addr, row in enumerate(act):
            await command(ctx, CmdKind.WRITE_ACT, addr, _word(row))
        for addr, word in enumerate(words):
            await command(ctx, CmdKind.WRITE_PROG, addr, word)
        await command(ctx, CmdKind.RUN)
        await ctx.tick().until(dut.done)
        await ctx.tick()
        result["cycles"] = ctx.get(dut.last_run_cycles)
        result["error"] = ctx.get(dut.error)
        await command(ctx, CmdKind.READ_ACT, 0, count=CORE.act_words)
        beats = [await recv(ctx, dut.rsp, rng=stall, stall=0.4) for _ in range(CORE.act_words)]
        result["act"] = [beat.data for beat in beats]
        result["last"] = [beat.last for beat in beats]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()

    assert result["cycles"] == expected.cycles
    assert result["error"] == 0
    assert result["last"] == [0] * (CORE.act_words - 1) + [1]
    assert result["act"] == [_word(row) for row in golden.act]


def test_loop_lut_and_loopback_send_recv() -> None:
    """An RNN-like program in the Amaranth simulator: SETLUT, a LOOP over (VADD copy, MATVEC
    with act LUT, SEND to itself, RECV into a strided slot). The bench loops `net_out` back
    into `net_in` with random stalls; results equal the golden array's and cycles equal the
    contract plus the stall and wait cycles seen on the ports."""
    lanes = CORE.lanes
    rng = np.random.default_rng(12)
    table = rng.integers(0, 256, (isa.lut_words(lanes), lanes), dtype=np.uint8)
    rows, cols = 6, 16  # x_t (8) and h (8) side by side: words 8 and 9
    layer = isa.pack_matvec(rng.integers(-128, 128, (rows, cols)), rng.integers(-99, 99, rows),
                            rng.integers(1, 1 << 16, rows), rng.integers(10, 16, rows), lanes)
    weights = np.concatenate([table, layer])
    steps = 4
    program = [
        isa.setlut(w_addr=0),
        isa.loop(body=4, count=steps, x_stride=1, y_stride=1, x_mask=0b0001, y_mask=0b1000),
        isa.vadd(n=lanes, a_addr=0, b_addr=31, y_addr=8),  # x_t -> slot (word 31 is zero)
        isa.matvec(rows=rows, cols=cols, w_addr=len(table), x_addr=8, y_addr=10,
                   act=Activation.LUT),
        isa.send(n=1, addr=10, dest_x=0, dest_y=0, tag=3),
        isa.recv(n=1, addr=16, tag=3),  # h_t stored at words 16.. (y-strided)
        isa.halt(),
    ]
    words = [i.encode() for i in program]
    act = rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8)
    act[31] = 0

    golden = CoreState(CORE)
    golden.load_weights(weights)
    golden.act[:] = act
    golden.load_program(words)
    expected = run_array({(0, 0): golden})[(0, 0)]
    base = sum(isa.cycles(i, lanes) for i in expected.trace)

    dut = MicroCore(config=CORE)
    stall = random.Random(9)
    result: dict[str, object] = {}
    counts = {"stall": 0, "wait": 0}
    running = {"on": True}

    async def command(ctx, kind, addr=0, data=0, count=0):
        payload = {"kind": kind, "addr": addr, "data": data, "count": count}
        await send(ctx, dut.cmd, payload, rng=stall, idle=0.3)

    async def network(ctx):
        queue: list[dict[str, int]] = []
        offer = False
        while running["on"]:
            ready = stall.random() > 0.4
            ctx.set(dut.net_out.ready, ready)
            # An offered flit stays valid until taken.
            offer = bool(queue) and (offer or stall.random() > 0.3)
            if offer:
                ctx.set(dut.net_in.payload, queue[0])
            ctx.set(dut.net_in.valid, offer)
            *_, out_valid, out_payload, in_ready = await ctx.tick().sample(
                dut.net_out.valid, dut.net_out.payload, dut.net_in.ready)
            if out_valid:
                if ready:
                    queue.append({"data": out_payload.data, "last": out_payload.last})
                else:
                    counts["stall"] += 1
            if in_ready:
                if offer:
                    queue.pop(0)
                    offer = False
                else:
                    counts["wait"] += 1

    async def bench(ctx):
        for addr, row in enumerate(weights):
            await command(ctx, CmdKind.WRITE_WEIGHT, addr, _word(row))
        for addr, row in enumerate(act):
            await command(ctx, CmdKind.WRITE_ACT, addr, _word(row))
        for addr, word in enumerate(words):
            await command(ctx, CmdKind.WRITE_PROG, addr, word)
        await command(ctx, CmdKind.RUN)
        await ctx.tick().until(dut.done)
        await ctx.tick()
        running["on"] = False
        result["cycles"] = ctx.get(dut.last_run_cycles)
        result["error"] = ctx.get(dut.error)
        await command(ctx, CmdKind.READ_ACT, 0, count=CORE.act_words)
        beats = [await recv(ctx, dut.rsp, rng=stall, stall=0.4) for _ in range(CORE.act_words)]
        result["act"] = [beat.data for beat in beats]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(network, background=True)
    sim.run()

    assert result["error"] == 0
    assert counts["stall"] and counts["wait"], "the bench should have stalled both ports"
    assert result["cycles"] == base + counts["stall"] + counts["wait"]
    assert result["act"] == [_word(row) for row in golden.act]
    assert expected.op_counts == {"SETLUT": 1, "LOOP": 1, "VADD": steps, "MATVEC": steps,
                                  "SEND": steps, "RECV": steps, "HALT": 1}
