"""cocotb test of weight paging through the `CoreArray`'s DRAM port (run by test_paging_rtl.py).

A compiled tree's weights sit in the DRAM model (`sim_tests.tb.dram_tb`, timed by the config's
`dram.latency_ns` and `dram.bandwidth_gbps`). The host sends read requests with
`to_weights` (`noc.DRAM_REQUEST_FIELDS`) through the host port; the channel answers each
with a weight packet that travels the mesh to core `DEST`, whose pager writes it into the
weight SRAM. Four pagings:

* `one_packet`, `chunks` and `slow_chunks` (a channel slower than a flit per cycle): no
  stalls anywhere, the host injecting the requests back to back: every answer flit's
  injection and the last word's write equal `nfcore.sim.system.dram.page_timeline` from the first
  request's handshake (the formula the system model uses), and the measured paging cycles
  go to the file named by `ENV_OUT` (schema: `nfcore.sim.system.paging.PAGING_CYCLES_FILE`) for
  `tests/sim/test_system_paging.py`.
* `stalled`: random idle cycles before each host flit, random backpressure on the DRAM
  port's output (`dram_out`) and on the host's `rsp` reads: the requests reach the channel
  late, and from their measured issue cycles on the timeline is again `page_timeline`'s.

Before each paging the host overwrites the core's weights with garbage over its `cmd` bus;
after the last one it runs the tree: the outputs equal the compiler's integer reference and
the golden model's scratchpad bit-exactly, and the cycles equal the timing contract.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from forest.export import TreeExport
from nfcore.arch import isa, noc
from nfcore.compiler import lower_tree, quantize_tree
from nfcore.config import DramConfig, NFCoreConfig
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS, Stalls
from nfcore.sim.system.dram import DramChannel, page_timeline
from sim_tests.tb.array_tb import ArrayTB
from sim_tests.tb.dram_tb import DramModel
from sim_tests.tb.scenarios import CORE, SCENARIOS, CoreSetup

ENV_OUT = "NFCORE_PAGING_CYCLES_OUT"
SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
DEST = (1, 1)
CHUNK_WORDS = 64
"""Request size of the multi-request pagings (a tree of this small core fits one packet)."""
SLOW_DRAM = DramConfig(latency_ns=30.0, bandwidth_gbps=8.0)
"""A channel slower than a flit per cycle (a word per 4 cycles at 500 MHz): the answer's
flits enter the mesh with gaps."""


def compiled_tree(rng: np.random.Generator) -> tuple[Any, Any, np.ndarray]:
    """A small MLP compiled for `CORE`: (quantized tree, program, int8 input)."""
    f = np.float32
    tree = TreeExport(kind="mlp", input_shape=(20,), head=[
        (rng.normal(scale=0.4, size=(24, 20)).astype(f), rng.normal(size=24).astype(f) * .1,
         True),
        (rng.normal(scale=0.3, size=(16, 24)).astype(f), np.zeros(16, f), True),
        (rng.normal(scale=0.3, size=(5, 16)).astype(f), np.zeros(5, f), False)])
    q = quantize_tree(tree, rng.normal(size=(64, 20)))
    prog = lower_tree(q, CORE)
    x_int = q.quantize_input(rng.normal(size=(1, 20)))
    return q, prog, x_int


class Clock:
    """Cycle indices from an origin: cycle k ends at the edge `origin_ns + k * period`, as
    `DramModel` counts."""

    def __init__(self) -> None:
        self.origin_ns = 0

    def start(self) -> None:
        self.origin_ns = int(get_sim_time("ns"))

    def now(self) -> int:
        """Index of the cycle that begins at the current rising edge."""
        return round((int(get_sim_time("ns")) - self.origin_ns) / CLOCK_PERIOD_NS) + 1


async def inject(dut: Any, clock: Clock, flits: list[int], rng: random.Random,
                 idle: float) -> list[int]:
    """Offer `flits` on the host port, a random idle cycle before each with probability
    `idle`; return each flit's handshake cycle."""
    cycles = []
    for flit in flits:
        await RisingEdge(dut.clk)
        while rng.random() < idle:
            dut.host_in__valid.value = 0
            await RisingEdge(dut.clk)
        dut.host_in__payload.value = flit
        dut.host_in__valid.value = 1
        while True:
            await ReadOnly()
            if dut.host_in__ready.value:
                cycles.append(clock.now())
                break
            await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.host_in__valid.value = 0
    return cycles


async def watch_paging(dut: Any, tb: ArrayTB, clock: Clock, seen: dict[str, int]) -> None:
    """Record in `seen["last"]` the last cycle core `DEST` had `paging` high (the cycle of
    its last weight write); no other core may page."""
    while True:
        await RisingEdge(dut.clk)
        cycle = clock.now()
        await ReadOnly()
        for coord, core in tb.cores.items():
            if core.dut.paging.value:
                assert coord == DEST, f"core {coord} is paging"
                seen["last"] = cycle


async def page(dut: Any, tb: ArrayTB, cfg: NFCoreConfig, memory: np.ndarray, base: int,
               words: int, chunks: list[int], *, idle: float, stall: float,
               seed: int) -> dict[str, Any]:
    """Page `words` words from DRAM word `base` into `DEST`'s weight SRAM from word 0 with
    one request per chunk, on a channel of `cfg.dram`; check the timeline; return what was
    measured."""
    clock = Clock()
    await RisingEdge(dut.clk)
    clock.start()
    dram = DramModel(dut, cfg, memory, origin_ns=lambda: clock.origin_ns, stall=stall,
                     seed=seed)
    server = cocotb.start_soon(dram.run())
    seen: dict[str, int] = {}
    watcher = cocotb.start_soon(watch_paging(dut, tb, clock, seen))
    flits, waddr = [], 0
    width = CORE.lanes * 8
    for n in chunks:
        header = noc.encode_header(to_dram=1, length=noc.dram_request_flits(True) - 1)
        payload = noc.dram_request_words(addr=base + waddr, words=n, dest_x=DEST[0],
                                         dest_y=DEST[1], to_weights=1, waddr=waddr)
        flits += [header] + [w | int(k == len(payload) - 1) << width
                             for k, w in enumerate(payload)]
        waddr += n
    assert waddr == words
    handshakes = await inject(dut, clock, flits, random.Random(seed), idle)
    per_request = noc.dram_request_flits(True)
    while len(dram.transfers) < len(chunks) or \
            len(dram.transfers[-1].sent_cycles) < chunks[-1] + 1:
        await RisingEdge(dut.clk)
    # The last write follows the last injection by the mesh's latency, well within this.
    for _ in range(4 * noc.header_latency_cycles(noc.DRAM, DEST)):
        await RisingEdge(dut.clk)
    server.cancel()
    watcher.cancel()
    # The requests: each header reaches the DRAM port its latency after its injection, or
    # later if the port stalled the request before it.
    for j, transfer in enumerate(dram.transfers):
        assert transfer.request["to_weights"] == 1 and transfer.request["waddr"] == \
            sum(chunks[:j]), transfer.request
        arrival = handshakes[j * per_request] + noc.header_latency_cycles(noc.HOST, noc.DRAM)
        assert transfer.header_offered_cycle == arrival if j == 0 or stall == 0 else \
            transfer.header_offered_cycle >= arrival, (j, transfer.header_offered_cycle)
    # From the issue cycles on, the channel, the port and the mesh follow the formula.
    issues = [t.tail_cycle for t in dram.transfers]
    free = page_timeline(DramChannel.of(cfg), CORE.lanes, DEST, chunks, handshakes[0],
                         issue_cycles=issues)
    assert [tuple(t.sent_cycles) for t in dram.transfers] == list(free.inject_cycles), \
        ([t.sent_cycles for t in dram.transfers], free.inject_cycles)
    assert seen["last"] == free.last_write_cycle, (seen, free.last_write_cycle)
    if idle == 0 and stall == 0:
        # And from the first request on, with nothing stalled.
        whole = page_timeline(DramChannel.of(cfg), CORE.lanes, DEST, chunks, handshakes[0])
        assert whole == free, (whole, free)
    tb.cores[DEST].model.load_weights(memory[base:base + words], 0)
    return {"chunks": chunks, "words": words, "latency_ns": cfg.dram.latency_ns,
            "bandwidth_gbps": cfg.dram.bandwidth_gbps, "request_cycle": handshakes[0],
            "last_write_cycle": seen["last"], "paging_cycles": seen["last"] - handshakes[0]}


@cocotb.test()
async def page_and_run_tree(dut: Any) -> None:
    rng = np.random.default_rng(SEED)
    sc = next(iter(SCENARIOS.values()))
    assert (sc.rows, sc.cols) == (2, 2) and sc.config.core == CORE
    stalls = Stalls(cmd_idle=0.3, rsp_stall=0.4, seed=SEED)
    tb = ArrayTB(dut, sc.config, stalls)
    await tb.reset()
    q, prog, x_int = compiled_tree(rng)
    words = len(prog.weights)
    lanes = CORE.lanes
    memory = rng.integers(0, 256, (4096, lanes), dtype=np.uint8)
    bases = (100, 1000, 2500, 3500)
    for base in bases:
        memory[base:base + words] = prog.weights
    act = rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8)
    vec = np.zeros(isa.words_for(prog.input_len, lanes) * lanes, dtype=np.int8)
    vec[:prog.input_len] = prog.pack_input(x_int)[0]
    act[prog.input_addr:prog.input_addr + len(vec) // lanes] = vec.view(np.uint8).reshape(-1,
                                                                                          lanes)
    setups = {c: CoreSetup(rng.integers(0, 256, (words, lanes), dtype=np.uint8),
                           rng.integers(0, 256, (CORE.act_words, lanes), dtype=np.uint8),
                           [isa.halt()]) for c in tb.cores}
    setups[DEST] = CoreSetup(setups[DEST].weights, act,
                             [isa.decode(w) for w in prog.program])
    await tb.load(setups)
    garbage = rng.integers(0, 256, (words, lanes), dtype=np.uint8)
    record = {}
    slow = dataclasses.replace(sc.config, dram=SLOW_DRAM)
    runs = (("one_packet", sc.config, noc.page_chunks(words), 0.0, 0.0),
            ("chunks", sc.config, noc.page_chunks(words, CHUNK_WORDS), 0.0, 0.0),
            ("slow_chunks", slow, noc.page_chunks(words, CHUNK_WORDS), 0.0, 0.0),
            ("stalled", sc.config, noc.page_chunks(words, CHUNK_WORDS), 0.4, stalls.rsp_stall))
    for k, (name, cfg, chunks, idle, stall) in enumerate(runs):
        await tb.cores[DEST].write_weights(garbage)
        got = await page(dut, tb, cfg, memory, bases[k], words, chunks, idle=idle,
                         stall=stall, seed=SEED + k)
        dut._log.info("paging %s: %s", name, got)
        if idle == 0 and stall == 0:
            record[name] = got
    # Run the tree on the paged weights.
    expected = {c: t.model.run() for c, t in tb.cores.items()}
    assert expected[DEST].cycles == prog.cycles
    cycles = await tb.run_all(watch=True)
    assert not any(tb.errors().values()), tb.errors()
    assert cycles[DEST] == prog.cycles, (cycles[DEST], prog.cycles)
    await tb.check_scratchpads()
    out = await tb.cores[DEST].read_vector(prog.output_addr, prog.output_len)
    np.testing.assert_array_equal(out, q.forward_int(x_int)[0])
    path = Path(os.environ[ENV_OUT])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "schema": 1, "rows": sc.rows, "cols": sc.cols, "dest": list(DEST), "lanes": lanes,
        "clock_mhz": sc.config.technology.clock_mhz, "runs": record}, indent=1))
