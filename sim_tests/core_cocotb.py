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
from programs import Workload, random_loops, random_mlp

from nfcore.arch import isa, noc
from nfcore.eda.rtl_runner import CoreTB, Stalls, core_from_env

SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
PROGRAMS = int(os.environ.get("NFCORE_TB_PROGRAMS", "150"))
LOOP_PROGRAMS = int(os.environ.get("NFCORE_TB_LOOP_PROGRAMS", "40"))
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
async def random_loop_programs(dut: Any) -> None:
    """SETLUT of random tables, LOOPs with random counts, strides (negative too) and masks
    over MATVEC (NONE/RELU/LUT), VADD and VMUL with random shifts."""
    tb, rng = await make_tb(dut, 4)
    for i in range(LOOP_PROGRAMS):
        work = random_loops(rng, tb.core)
        await load(tb, work)
        result = await tb.run_and_check()
        dut._log.info("loop program %d: %d cycles, %s", i, result.cycles,
                      dict(result.op_counts))


def _send_recv_program(rng: np.random.Generator, tb: CoreTB) -> list[isa.Instruction]:
    """SENDs to this core (0, 0) and RECVs of the same packets, some inside LOOPs with the
    SEND x-strided and the RECV y-strided. Sources in the lower half, sinks in the upper."""
    half = tb.core.act_words // 2
    program: list[isa.Instruction] = []
    while len(program) + 4 <= tb.core.imem_depth:
        n = int(rng.integers(1, 4))
        tag = int(rng.integers(0, 256))
        count = int(rng.integers(1, 4))
        src = int(rng.integers(0, half - n - 2 * (count - 1) + 1))
        dst = int(rng.integers(half, tb.core.act_words - n * count + 1))
        send = isa.send(n=n, addr=src, dest_x=0, dest_y=0, tag=tag)
        recv = isa.recv(n=n, addr=dst, tag=tag)
        if rng.random() < 0.5:
            program += [isa.loop(body=2, count=count, x_stride=2, y_stride=n, x_mask=1,
                                 y_mask=2), send, recv]
        else:
            program += [send, recv]
    return [*program, isa.halt()]


@cocotb.test()
async def send_recv_loopback(dut: Any) -> None:
    """The testbench plays the network, sending every flit back to the core. First at the
    contract's loopback latency with no stalls: cycles equal the golden array's. Then with
    random backpressure on net_out and idle cycles on net_in: cycles equal the contract plus
    the stall and wait cycles counted on the ports. Payloads bit-exact each time."""
    tb, rng = await make_tb(dut, 5)
    for i, (idle, stall) in enumerate([(0.0, 0.0)] * 3 + [(0.3, 0.4)] * 12):
        net = cocotb.start_soon(tb.loopback(tb.LOOPBACK_LATENCY, idle=idle, stall=stall))
        await tb.write_act(rng.integers(0, 256, (tb.core.act_words, tb.lanes),
                                        dtype=np.uint8))
        await tb.load_program([w.encode() for w in _send_recv_program(rng, tb)])
        result = await tb.run_and_check_network(exact=not (idle or stall))
        net.cancel()
        dut._log.info("send/recv program %d: %d cycles, %d stalls, %d waits", i,
                      result.cycles, tb.net_stall_cycles, tb.net_wait_cycles)


@cocotb.test()
async def recv_mismatch_sets_error(dut: Any) -> None:
    """A packet whose tag or length differs from the RECV's stops the core with `error`
    in the cycle it takes the header: ISSUE + wait + 1 cycles."""
    tb, _ = await make_tb(dut, 6)
    for tag, length in ((5, 2), (4, 3)):
        header = tb.flit(noc.encode_header(length=length, tag=tag), last=False)
        net = cocotb.start_soon(tb.loopback(0, inject=[header]))
        await tb.load_program([isa.recv(n=2, addr=0, tag=4).encode(), isa.halt().encode()])
        tb.net_wait_cycles = 0
        reported, measured = await tb.run()
        net.cancel()
        assert tb.error, f"tag {tag} length {length} did not set error"
        assert reported == measured == isa.ISSUE_CYCLES + tb.net_wait_cycles + 1


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
    """Unknown opcodes, reserved bits, LUT activation on VADD/VMUL, LOOP mask bits beyond
    its body, and a LOOP inside a LOOP set `error` and stop the core after the legal
    instructions before them, which cost their contract cycles plus one ISSUE for the
    illegal one. A legal RUN afterwards clears `error`."""
    tb, rng = await make_tb(dut, 3)
    lanes = tb.lanes
    vadd = isa.vadd(n=lanes + 3, a_addr=0, b_addr=2, y_addr=0)
    act_lsb = 6  # checked below against FORMATS
    assert any(f.name == "act" and f.lsb == act_lsb for f in isa.FORMATS[isa.Opcode.VADD])
    vmul = isa.vmul(n=3, a_addr=0, b_addr=1, y_addr=2)
    x_mask = next(f for f in isa.FORMATS[isa.Opcode.LOOP] if f.name == "x_mask")
    illegal = [
        0x05,
        isa.loop(body=1, count=2).encode() | 1 << (x_mask.lsb + 1),
        vmul.encode() | int(isa.Activation.LUT) << act_lsb,
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
    nested = [isa.loop(body=2, count=3), isa.loop(body=1, count=2), vadd, isa.halt()]
    await tb.load_program([i.encode() for i in nested])
    reported, _ = await tb.run()
    assert tb.error and reported == 2 * isa.ISSUE_CYCLES
    await tb.load_program([isa.halt().encode()])
    reported, _ = await tb.run()
    assert not tb.error and reported == isa.ISSUE_CYCLES
