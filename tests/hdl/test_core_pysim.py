"""A small program on MicroCore in the Amaranth simulator, through the cmd/rsp streams with
random idle cycles and backpressure, against the golden model."""

from __future__ import annotations

import random

import numpy as np
from amaranth.sim import Simulator
from streams import recv, send

from nfcore import isa
from nfcore.config import CoreConfig
from nfcore.golden import CoreState
from nfcore.hdl.core import CmdKind, MicroCore
from nfcore.isa import Activation

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=8)


def _word(row: np.ndarray) -> int:
    return int.from_bytes(bytes(row), "little")


def test_small_program_matches_golden() -> None:
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

    dut = MicroCore(config=CORE)
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
