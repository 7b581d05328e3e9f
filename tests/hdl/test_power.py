"""`PoweredCore` in the Amaranth simulator: SLEEP gates the core, the next command waits
exactly `power.wake_up_cycles`, the state sequence and the per-state counters."""

from __future__ import annotations

import random
from typing import Any

import pytest
from amaranth.sim import Simulator
from streams import send

from nfcore.arch import isa
from nfcore.config import CoreConfig, NFCoreConfig, PowerConfig
from nfcore.hdl.core import CmdKind
from nfcore.hdl.power import COUNTERS, PoweredCore, PowerState

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=8)
PROGRAM = [isa.vadd(n=16, a_addr=0, b_addr=2, y_addr=4), isa.halt()]


def _counters(ctx: Any, dut: PoweredCore) -> dict[str, int]:
    return {name: ctx.get(getattr(dut, name)) for name in COUNTERS}


@pytest.mark.parametrize("wake", [0, 1, 2, 7])
def test_sleep_wake_and_counters(wake: int) -> None:
    cfg = NFCoreConfig(core=CORE, power=PowerConfig(wake_up_cycles=wake))
    dut = PoweredCore(config=cfg, coord=(0, 0))
    rng = random.Random(wake)
    seen: dict[str, Any] = {}

    def cmd(kind: CmdKind, addr: int = 0, data: int = 0) -> dict[str, Any]:
        return {"kind": kind, "addr": addr, "data": data, "count": 0}

    async def bench(ctx: Any) -> None:
        for addr, instr in enumerate(PROGRAM):
            await send(ctx, dut.cmd, cmd(CmdKind.WRITE_PROG, addr, instr.encode()), rng=rng,
                       idle=0.3)
        await send(ctx, dut.cmd, cmd(CmdKind.SLEEP))
        assert ctx.get(dut.power_state) == PowerState.GATED
        await send(ctx, dut.cmd, cmd(CmdKind.SLEEP))  # taken at once, still gated
        assert ctx.get(dut.power_state) == PowerState.GATED
        for _ in range(5):
            await ctx.tick()
        before = _counters(ctx, dut)
        ctx.set(dut.cmd.payload, cmd(CmdKind.RUN))
        ctx.set(dut.cmd.valid, 1)
        states = []
        while not ctx.get(dut.cmd.ready):
            states.append(ctx.get(dut.power_state))
            await ctx.tick()
        seen["states"] = states
        await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        # The core runs: SLEEP must wait until its sequencer is idle.
        ctx.set(dut.cmd.payload, cmd(CmdKind.SLEEP))
        ctx.set(dut.cmd.valid, 1)
        assert ctx.get(dut.power_state) == PowerState.ACTIVE
        assert not ctx.get(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)
        await ctx.tick().until(dut.done)
        seen["delta"] = {k: v - before[k] for k, v in _counters(ctx, dut).items()}
        seen["run_cycles"] = ctx.get(dut.last_run_cycles)
        assert ctx.get(dut.power_state) == PowerState.IDLE

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    expected_states = ([PowerState.GATED] + [PowerState.WAKING] * (wake - 1)) if wake else []
    assert seen["states"] == expected_states
    run = seen["run_cycles"]
    assert run == sum(isa.cycles(i, CORE.lanes) for i in PROGRAM)
    # The cycle RUN was first presented is gated (with no latency it is the handshake); then
    # the waking cycles (active), the handshake (idle) and the run (active).
    assert seen["delta"] == {
        "gated_cycles": int(wake > 0), "idle_cycles": 1,
        "active_cycles": max(wake - 1, 0) + run, "wakes": 1}
