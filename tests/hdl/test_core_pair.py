"""Two MicroCores exchanging packets through an ideal network that the bench plays with the
contract's latency (`noc.packet_latency_cycles`), never stalling: each core's cycles,
RECV waits included, equal the golden array's, and the scratchpads are bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState
from nfcore.hdl.core import CmdKind, MicroCore

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=32)
A, B = (0, 0), (2, 1)
Coord = tuple[int, int]


def _word(row: np.ndarray) -> int:
    return int.from_bytes(bytes(row), "little")


def test_two_cores_match_the_golden_array() -> None:
    lanes = CORE.lanes
    rng = np.random.default_rng(21)
    rows, cols = 5, 16
    layer = isa.pack_matvec(rng.integers(-128, 128, (rows, cols)), rng.integers(-99, 99, rows),
                            rng.integers(1, 1 << 16, rows), rng.integers(12, 18, rows), lanes)
    programs = {
        # A sends two words to B, works, then waits for B's answer.
        A: [isa.send(n=2, addr=0, dest_x=B[0], dest_y=B[1], tag=1),
            isa.vmul(n=8, a_addr=4, b_addr=5, y_addr=6, shift=3),
            isa.recv(n=1, addr=20, tag=2), isa.halt()],
        # B waits for A's words, runs a layer on them and answers.
        B: [isa.recv(n=2, addr=10, tag=1),
            isa.matvec(rows=rows, cols=cols, w_addr=0, x_addr=10, y_addr=12),
            isa.send(n=1, addr=12, dest_x=A[0], dest_y=A[1], tag=2), isa.halt()],
    }
    waits = _check_pair(rng, layer, programs)
    assert waits[A] > 0 and waits[B] > 0


@pytest.mark.parametrize("seed", range(3))
def test_random_message_scripts(seed: int) -> None:
    """A random script of messages between the two cores (either direction, 1..4 words,
    some inside LOOPs), with random VADD/VMUL work between them: RECVs find their packet
    waiting, or wait for it, by varying amounts."""
    rng = np.random.default_rng([22, seed])
    programs: dict[Coord, list[isa.Instruction]] = {A: [], B: []}
    for tag in range(int(rng.integers(4, 8))):
        src, dst = (A, B) if rng.random() < 0.5 else (B, A)
        n = int(rng.integers(1, 5))
        for coord in (A, B):
            for _ in range(int(rng.integers(0, 3))):
                w = int(rng.integers(1, 3))
                op = isa.vadd if rng.random() < 0.5 else isa.vmul
                programs[coord].append(op(n=w * CORE.lanes, a_addr=0, b_addr=2, y_addr=28))
        count = int(rng.integers(1, 3))
        looped = rng.random() < 0.4
        send = isa.send(n=n, addr=int(rng.integers(0, 8)), dest_x=dst[0], dest_y=dst[1],
                        tag=tag)
        recv = isa.recv(n=n, addr=12 + int(rng.integers(0, 4)), tag=tag)
        if looped:
            programs[src] += [isa.loop(body=1, count=count, x_stride=1, x_mask=1), send]
            programs[dst] += [isa.loop(body=1, count=count, y_stride=n, y_mask=1), recv]
        else:
            programs[src].append(send)
            programs[dst].append(recv)
    for coord in (A, B):
        programs[coord].append(isa.halt())
        assert len(programs[coord]) <= CORE.imem_depth
    _check_pair(rng, np.zeros((1, CORE.lanes), dtype=np.uint8), programs)


def _check_pair(rng: np.random.Generator, weights: np.ndarray,
                programs: dict[Coord, list[isa.Instruction]]) -> dict[Coord, int]:
    """Run `programs` on cores A and B (same weights, random scratchpads) in RTL and in the
    golden array; assert equal cycles and scratchpads; return the golden RECV waits."""
    lanes = CORE.lanes
    layer = weights
    acts = {c: rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8) for c in programs}
    golden = {}
    for coord, program in programs.items():
        state = CoreState(CORE)
        state.load_weights(layer)
        state.act[:] = acts[coord]
        state.load_program([i.encode() for i in program])
        golden[coord] = state
    expected = run_array(golden)

    m = Module()
    cores = {A: MicroCore(config=CORE), B: MicroCore(config=CORE)}
    m.submodules.a, m.submodules.b = cores[A], cores[B]
    got: dict[tuple[int, int], dict[str, object]] = {A: {}, B: {}}

    async def command(ctx, dut, kind, addr=0, data=0, count=0):
        ctx.set(dut.cmd.payload, {"kind": kind, "addr": addr, "data": data, "count": count})
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)

    async def network(ctx):
        # Per destination: flits in order with the cycle from which they may be offered.
        queues: dict[tuple[int, int], list[tuple[int, dict[str, int]]]] = {A: [], B: []}
        cycle = 0
        while True:
            offered = {}
            for coord, dut in cores.items():
                ctx.set(dut.net_out.ready, 1)
                q = queues[coord]
                offered[coord] = bool(q) and q[0][0] <= cycle
                if offered[coord]:
                    ctx.set(dut.net_in.payload, q[0][1])
                ctx.set(dut.net_in.valid, offered[coord])
            *_, av, ap, ar, bv, bp, br = await ctx.tick().sample(
                cores[A].net_out.valid, cores[A].net_out.payload, cores[A].net_in.ready,
                cores[B].net_out.valid, cores[B].net_out.payload, cores[B].net_in.ready)
            for src, valid, payload in ((A, av, ap), (B, bv, bp)):
                if valid:
                    dest = B if src == A else A
                    queues[dest].append((cycle + noc.packet_latency_cycles(src, dest),
                                         {"data": payload.data, "last": payload.last}))
            for coord, ready in ((A, ar), (B, br)):
                if ready and offered[coord]:
                    queues[coord].pop(0)
            cycle += 1

    async def bench(ctx):
        for coord, dut in cores.items():
            ctx.set(dut.coord_x, coord[0])
            ctx.set(dut.coord_y, coord[1])
            for addr, row in enumerate(layer):
                await command(ctx, dut, CmdKind.WRITE_WEIGHT, addr, _word(row))
            for addr, row in enumerate(acts[coord]):
                await command(ctx, dut, CmdKind.WRITE_ACT, addr, _word(row))
            for addr, instr in enumerate(programs[coord]):
                await command(ctx, dut, CmdKind.WRITE_PROG, addr, instr.encode())
        for dut in cores.values():  # RUN accepted by both in the same cycle
            ctx.set(dut.cmd.payload, {"kind": CmdKind.RUN, "addr": 0, "data": 0, "count": 0})
            ctx.set(dut.cmd.valid, 1)
        await ctx.tick()
        for dut in cores.values():
            ctx.set(dut.cmd.valid, 0)
        while ctx.get(cores[A].busy) or ctx.get(cores[B].busy):
            await ctx.tick()
        await ctx.tick()
        for coord, dut in cores.items():
            got[coord]["cycles"] = ctx.get(dut.last_run_cycles)
            got[coord]["error"] = ctx.get(dut.error)
            await command(ctx, dut, CmdKind.READ_ACT, 0, count=CORE.act_words)
            ctx.set(dut.rsp.ready, 1)
            words = []
            while len(words) < CORE.act_words:
                (payload,) = await ctx.tick().sample(dut.rsp.payload).until(dut.rsp.valid)
                words.append(payload.data)
            ctx.set(dut.rsp.ready, 0)
            got[coord]["act"] = words

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(network, background=True)
    sim.run()

    for coord in programs:
        assert got[coord]["error"] == 0
        assert got[coord]["cycles"] == expected[coord].cycles, coord
        assert got[coord]["act"] == [_word(row) for row in golden[coord].act], coord
    return {coord: expected[coord].wait_cycles for coord in programs}
