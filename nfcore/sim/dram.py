"""The DRAM channel that pages weights onto the chip: latency, bandwidth and FIFO queueing.

Analytic, so that it costs no SimPy events: requests are served in the order they are
issued (the system model issues them in simulated-time order). A read of `n` bytes issued at
cycle `t` starts transferring when the channel is free, `start = max(t, free_at)`; its first
byte reaches the DRAM port `latency_cycles` after `start`; the channel is busy for
`ceil(n / bytes_per_cycle)` cycles (the latency of one read overlaps the next read's
transfer, as a pipelined controller does), and the last byte arrives at
`start + latency_cycles + transfer_cycles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
