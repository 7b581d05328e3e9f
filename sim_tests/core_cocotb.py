"""cocotb tests of the micro-core (run by test_core_rtl.py through the cocotb runner).

Every test runs with random idle cycles on `cmd` and random backpressure on `rsp`; every
program is checked against the golden model: the whole scratchpad bit-exact, and
last_run_cycles equal to the timing contract.
"""

from __future__ import annotations

import os
from typing import Any

import cocotb
import numpy as np
from programs import Workload, random_mlp

from nfcore import isa
from nfcore.hdl.cocotb_tb import CoreTB, Stalls, core_from_env

SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
PROGRAMS = int(os.environ.get("NFCORE_TB_PROGRAMS", "150"))
STALLS = Stalls(cmd_idle=0.3, rsp_stall=0.4, seed=SEED)


async def make_tb(dut: Any, salt: int) -> tuple[CoreTB, np.random.Generator]:
    tb = CoreTB(dut, core_from_env(), Stalls(STALLS.cmd_idle, STALLS.rsp_stall, SEED + salt))
    await tb.reset()
    return tb, np.random.default_rng([SEED, salt])


async def load(tb: CoreTB, work: Workload) -> None:
    await tb.write_act(work.act_init)
    await tb.write_weights(work.weights)
    await tb.load_program(work.program)


@cocotb.test()
async def random_programs(dut: Any) -> None:
    """Random MLP-like chains (shapes not multiples of lanes, RELU/NONE, VADD in place)."""
    tb, rng = await make_tb(dut, 1)
    for i in range(PROGRAMS):
        work = random_mlp(rng, tb.core)
        await load(tb, work)
        result = await tb.run_and_check()
        dut._log.info("program %d: %d cycles, %s", i, result.cycles,
                      dict(result.op_counts))


@cocotb.test()
async def weight_sram_full(dut: Any) -> None:
    """A layer whose weight region is the whole weight SRAM, then the same program again
    with new inputs (weights and program stay loaded)."""
    tb, rng = await make_tb(dut, 2)
    work = random_mlp(rng, tb.core, fill_weights=True)
    assert len(work.weights) == tb.core.weight_words
    await load(tb, work)
    await tb.run_and_check()
    await tb.write_act(rng.integers(0, 256, work.act_init.shape, dtype=np.uint8))
    await tb.run_and_check()


@cocotb.test()
async def illegal_instructions(dut: Any) -> None:
    """Planned/unknown opcodes, reserved bits and LUT activation set `error` and stop the
    core after the legal instructions before them, which cost their contract cycles plus
    one ISSUE for the illegal one. A legal RUN afterwards clears `error`."""
    tb, rng = await make_tb(dut, 3)
    lanes = tb.lanes
    vadd = isa.vadd(n=lanes + 3, a_addr=0, b_addr=2, y_addr=0)
    act_lsb = 6  # checked below against FORMATS
    assert any(f.name == "act" and f.lsb == act_lsb for f in isa.FORMATS[isa.Opcode.VADD])
    illegal = [
        int(isa.Opcode.VMUL),
        int(isa.Opcode.LOOP) | 1 << 20,
        0x3F,
        isa.halt().encode() | 1 << 63,
        vadd.encode() | 1 << isa.reserved_lsb(isa.Opcode.VADD),
        vadd.encode() | int(isa.Activation.LUT) << act_lsb,
    ]
    for word in illegal:
        await tb.write_act(rng.integers(0, 256, (tb.core.act_words, lanes), dtype=np.uint8))
        program = [vadd.encode(), word, isa.halt().encode()]
        await tb.load_program(program)
        reported, measured = await tb.run()
        assert tb.error, f"instruction {word:#018x} did not set error"
        expected = isa.cycles(vadd, lanes) + isa.ISSUE_CYCLES
        assert reported == measured == expected, (reported, measured, expected)
        tb.model.execute(vadd)
        await tb.check_scratchpad()
    await tb.load_program([isa.halt().encode()])
    reported, _ = await tb.run()
    assert not tb.error and reported == isa.ISSUE_CYCLES
