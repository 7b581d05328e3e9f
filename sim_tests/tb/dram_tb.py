"""cocotb model of the DRAM channel on a `CoreArray`'s DRAM port (`dram_out` / `dram_in`).

The channel takes `to_dram` packets from `dram_out` (with random backpressure: `ready`
low with probability `stall` in each cycle), each a read request (`noc.DRAM_REQUEST_FIELDS`:
one payload flit, or two with `to_weights`), and answers each with one packet on `dram_in`
to the request's core: header (for a RECV: the request's tag; with `to_weights`: a weight
packet header with the request's `waddr`; length = words) then the words from `memory`.
Timing is the system model's channel (`nfcore.sim.system.dram.DramChannel.of(cfg)`:
`dram.latency_ns`, `dram.bandwidth_gbps`, `technology.clock_mhz`): a request whose last flit
is taken in cycle t is issued at t; each answer flit is offered from its
`DramChannel.answer_ready_cycles`, in order, one flit per cycle at most (so, when the mesh
takes every flit when offered, at `nfcore.sim.system.dram.port_inject_cycles`). Cycles count from
`origin_ns()` (for `ArrayTB`, its `run_start_ns`, so they compare with `last_run_cycles`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.eda.rtl_runner import CLOCK_PERIOD_NS
from nfcore.sim.system.dram import DramChannel, DramRead

__all__ = ["DramModel", "DramTransfer"]


@dataclass
class DramTransfer:
    """One request and its answer, in cycles from the model's `origin_ns()`."""

    header: dict[str, int]
    request: dict[str, int]
    header_offered_cycle: int
    """First cycle the request's header was valid on `dram_out`."""
    tail_cycle: int = -1
    """Cycle the request's last flit was taken."""
    read: DramRead | None = None
    ready_cycles: list[int] = field(default_factory=list)
    """Per answer flit (header first), the cycle the channel had it ready."""
    sent_cycles: list[int] = field(default_factory=list)
    """Per answer flit, the cycle `dram_in` took it."""


class DramModel:
    def __init__(self, dut: Any, cfg: NFCoreConfig, memory: npt.NDArray[np.uint8], *,
                 origin_ns: Callable[[], int] = lambda: 0, stall: float = 0.0,
                 seed: int = 0) -> None:
        """`memory`: the DRAM's contents, `(words, lanes)` bytes. `origin_ns()`: the
        simulation time (ns) of the edge that ends cycle 0 (read whenever a cycle is
        counted, so it may change, as `ArrayTB.run_start_ns` does at RUN)."""
        self.dut, self.cfg, self.memory = dut, cfg, memory
        self.lanes = cfg.core.lanes
        self.channel = DramChannel.of(cfg)
        self.stall, self.rng = stall, random.Random(seed)
        self.transfers: list[DramTransfer] = []
        self.origin_ns = origin_ns

    def _cycle(self) -> int:
        """Index of the cycle that begins now (at a rising edge): cycle k ends at the edge
        `origin_ns() + k * CLOCK_PERIOD_NS`."""
        return round((int(get_sim_time("ns")) - self.origin_ns()) / CLOCK_PERIOD_NS) + 1

    async def run(self) -> None:
        """Serve requests forever (start with `cocotb.start_soon`, cancel when done)."""
        dut = self.dut
        width = self.lanes * 8
        incoming: list[int] = []  # flits of the request being received
        queue: list[tuple[DramTransfer, list[int]]] = []  # answers: flits left to send
        while True:
            await RisingEdge(dut.clk)
            now = self._cycle()
            offer = None
            if queue:
                transfer, flits = queue[0]
                k = len(transfer.sent_cycles)
                if transfer.ready_cycles[k] <= now:
                    offer = flits[k]
            dut.dram_out__ready.value = int(self.rng.random() >= self.stall)
            dut.dram_in__valid.value = int(offer is not None)
            if offer is not None:
                dut.dram_in__payload.value = offer
            await ReadOnly()
            if dut.dram_out__valid.value:
                flit = int(dut.dram_out__payload.value)
                if not incoming and (not self.transfers or self.transfers[-1].tail_cycle >= 0):
                    header = noc.decode_header(flit & ((1 << noc.HEADER_BITS) - 1))
                    self.transfers.append(DramTransfer(header, {}, now))
                if dut.dram_out__ready.value:
                    incoming.append(flit)
                    if flit >> width & 1:  # last
                        queue.append(self._answer(incoming, now))
                        incoming = []
            if offer is not None and dut.dram_in__ready.value:
                transfer, flits = queue[0]
                transfer.sent_cycles.append(now)
                if len(transfer.sent_cycles) == len(flits):
                    queue.pop(0)

    def _answer(self, flits: list[int], tail: int) -> tuple[DramTransfer, list[int]]:
        transfer = self.transfers[-1]
        width = self.lanes * 8
        header = transfer.header
        payload = [f & ((1 << width) - 1) for f in flits[1:]]
        req = noc.decode_dram_request(payload) if len(payload) == 2 else \
            noc.decode_dram_request(payload[:1])
        assert header["to_dram"] and header["length"] == len(payload) == len(flits) - 1 == \
            noc.dram_request_flits(bool(req["to_weights"])) - 1, \
            f"not a DRAM read request: {header}, {req}, {len(flits)} flits"
        transfer.request, transfer.tail_cycle = req, tail
        words = self.memory[req["addr"]:req["addr"] + req["words"]]
        assert len(words) == req["words"], f"DRAM read past the end of memory: {req}"
        read = self.channel.read(req["words"] * self.lanes, tail)
        transfer.read = read
        transfer.ready_cycles = self.channel.answer_ready_cycles(read, req["words"], self.lanes)
        if req["to_weights"]:
            out = noc.encode_weight_header(dest_x=req["dest_x"], dest_y=req["dest_y"],
                                           length=req["words"], waddr=req["waddr"])
        else:
            out = noc.encode_header(dest_x=req["dest_x"], dest_y=req["dest_y"],
                                    length=req["words"], tag=header["tag"])
        answer = [out] + [int.from_bytes(bytes(w), "little") | int(k == len(words) - 1) << width
                          for k, w in enumerate(words)]
        return transfer, answer
