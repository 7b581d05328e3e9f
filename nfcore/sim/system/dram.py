"""The DRAM channel that pages weights onto the chip: latency, bandwidth and FIFO queueing.

Analytic, so that it costs no SimPy events: requests are served in the order they are
issued (the system model issues them in simulated-time order). A read of `n` bytes issued at
cycle `t` starts transferring when the channel is free, `start = max(t, free_at)`; its first
byte reaches the DRAM port `latency_cycles` after `start`; the channel is busy for
`ceil(n / bytes_per_cycle)` cycles (the latency of one read overlaps the next read's
transfer, as a pipelined controller does), and the last byte arrives at
`start + latency_cycles + transfer_cycles`.

Paging (the one timing formula that the RTL tests and the system model both read)
----------------------------------------------------------------------------------
A tree's weights are paged by read requests (`noc.DRAM_REQUEST_FIELDS` with `to_weights`),
one per chunk of at most `2**noc.LENGTH_BITS` words (`noc.page_chunks`), each answered by
one weight packet (`noc.WEIGHT_HEADER_FIELDS`) that the core writes to its weight SRAM
(`nfcore.hdl.core.net_port`). In cycles:

1. The host injects request j (`noc.dram_request_flits(True)` flits) into the host port;
   its tail reaches the DRAM port `noc.header_latency_cycles(HOST, DRAM)` cycles after the
   tail's injection, and that cycle issues the read (`DramChannel.read`).
2. The answer's header is ready at the read's `first_byte_cycle`; payload word k once its
   last byte has arrived, `start + latency + ceil((k + 1) * lanes / bytes_per_cycle)`
   (`DramChannel.answer_ready_cycles`; the last word at `done_cycle`).
3. The DRAM port injects one flit per cycle, answers in read order, each flit once ready
   (`port_inject_cycles`, `DramChannel.answer`).
4. With nothing else in the way and the core idle, flit k is taken by the core (a payload
   word written) `noc.header_latency_cycles(DRAM, core)` after its injection.

`page_timeline` evaluates 1-4 with the channel's queueing and without contention on the mesh;
`nfcore.sim.system.paging.page_core` gives the system model its paging by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nfcore.arch import noc
from nfcore.config import NFCoreConfig


@dataclass(frozen=True)
class DramRead:
    issue_cycle: int
    start_cycle: int
    """Cycle the channel began this read (after queueing)."""
    first_byte_cycle: int
    done_cycle: int
    """Cycle the last byte reached the DRAM port."""

    @property
    def queue_cycles(self) -> int:
        return self.start_cycle - self.issue_cycle


class DramChannel:
    """One channel. `latency_cycles` >= 0; `bytes_per_cycle` > 0."""

    def __init__(self, latency_cycles: int, bytes_per_cycle: float) -> None:
        self.latency_cycles = latency_cycles
        self.bytes_per_cycle = bytes_per_cycle
        self.free_at = 0
        self.bytes_read = 0
        self.busy_cycles = 0
        self.queue_cycles = 0
        self.reads = 0
        self.port_free_at = 0
        """First cycle the DRAM port can inject the next answer flit."""

    @classmethod
    def of(cls, cfg: NFCoreConfig) -> DramChannel:
        """Latency `ceil(latency_ns * clock)`; bandwidth `bandwidth_gbps` Gb/s per clock."""
        latency = math.ceil(cfg.dram.latency_ns * cfg.technology.clock_mhz / 1000 - 1e-9)
        return cls(latency, cfg.dram.bandwidth_gbps * 1e9 / 8 / cfg.clock_hz)

    def transfer_cycles(self, nbytes: int) -> int:
        return math.ceil(nbytes / self.bytes_per_cycle - 1e-9)

    def read(self, nbytes: int, now: int) -> DramRead:
        """Issue a read of `nbytes` at cycle `now` (calls must come in time order)."""
        start = max(now, self.free_at)
        transfer = self.transfer_cycles(nbytes)
        self.free_at = start + transfer
        self.bytes_read += nbytes
        self.busy_cycles += transfer
        self.queue_cycles += start - now
        self.reads += 1
        return DramRead(now, start, start + self.latency_cycles,
                        start + self.latency_cycles + transfer)

    def answer_ready_cycles(self, read: DramRead, words: int, lanes: int) -> list[int]:
        """Cycle each flit of the answer to `read` (`words` words of `lanes` bytes) is ready
        at the DRAM port, header first: the header at the first byte, word k once its last
        byte has arrived (the last word at `read.done_cycle` when the read was of
        `words * lanes` bytes)."""
        base = read.start_cycle + self.latency_cycles
        return [read.first_byte_cycle] + [
            base + math.ceil((k + 1) * lanes / self.bytes_per_cycle - 1e-9)
            for k in range(words)]

    def answer(self, read: DramRead, words: int, lanes: int) -> list[int]:
        """Cycle each flit of the answer to `read` enters the mesh at the DRAM port
        (`port_inject_cycles` after the answers before it), assuming the mesh takes each
        flit when offered. Calls must come in read order."""
        sent = port_inject_cycles(self.answer_ready_cycles(read, words, lanes),
                                  self.port_free_at)
        self.port_free_at = sent[-1] + 1
        return sent


def port_inject_cycles(ready: Sequence[int], free_cycle: int) -> list[int]:
    """The DRAM port's injection cycles of flits ready at `ready`: in order, one per cycle at
    most, none before `free_cycle`: `s_0 = max(ready_0, free)`, `s_k = max(ready_k,
    s_{k-1} + 1)`."""
    out: list[int] = []
    at = free_cycle
    for r in ready:
        at = max(int(r), at)
        out.append(at)
        at += 1
    return out


@dataclass(frozen=True)
class PageTimeline:
    """Cycles of paging one core's weights with no contention (`page_timeline`)."""

    request_cycles: tuple[int, ...]
    """Injection of each request's header at the host port."""
    issue_cycles: tuple[int, ...]
    """Each request's tail at the DRAM port, which issues its read."""
    reads: tuple[DramRead, ...]
    inject_cycles: tuple[tuple[int, ...], ...]
    """Per answer packet, each flit's injection at the DRAM port (header first)."""
    write_cycles: tuple[tuple[int, ...], ...]
    """Per answer packet, the cycle the core takes each flit (payload words are written)."""

    @property
    def last_write_cycle(self) -> int:
        return self.write_cycles[-1][-1]

    @property
    def paging_cycles(self) -> int:
        """From the first request's injection to the last word's write."""
        return self.last_write_cycle - self.request_cycles[0]


def page_timeline(channel: DramChannel, lanes: int, core: tuple[int, int],
                  chunks: Sequence[int], start_cycle: int,
                  issue_cycles: Sequence[int] | None = None) -> PageTimeline:
    """Steps 1-4 of the module docstring for requests of `chunks` words (`noc.page_chunks`)
    to `core`, the host injecting them back to back from `start_cycle`, on `channel` (whose
    state it advances). `issue_cycles` replaces step 1's issue cycles by measured ones (a
    DRAM port that stalls the requests delays them)."""
    flits = noc.dram_request_flits(True)
    requests = [start_cycle + j * flits for j in range(len(chunks))]
    to_dram = noc.header_latency_cycles(noc.HOST, noc.DRAM)
    issues = list(issue_cycles) if issue_cycles is not None else \
        [r + flits - 1 + to_dram for r in requests]
    to_core = noc.header_latency_cycles(noc.DRAM, core)
    reads, injects, writes = [], [], []
    for words, issue in zip(chunks, issues, strict=True):
        read = channel.read(words * lanes, issue)
        sent = channel.answer(read, words, lanes)
        reads.append(read)
        injects.append(tuple(sent))
        writes.append(tuple(c + to_core for c in sent))
    return PageTimeline(tuple(requests), tuple(issues), tuple(reads), tuple(injects),
                        tuple(writes))
