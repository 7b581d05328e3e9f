"""One direction of a chip-to-chip link: a FIFO server with a bandwidth, a latency and an
energy per bit (`chips.link` in the config).

A message of `nbytes` ready in cycle `ready` starts when the link is free (first come, first
served), holds it for its serialization, `ceil(bits / bits_per_cycle)` cycles, and arrives
`latency_cycles` after its last bit left. Cycles are the chips' clock (`technology.clock_mhz`).
What is modelled: serialization and queueing; what is not: the link's protocol (flit framing,
CRC, retries, credits), so the bandwidth is the payload's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nfcore.config import LinkConfig


@dataclass(frozen=True)
class Transfer:
    """One message over the link. Cycles are absolute."""

    ready_cycle: int
    start_cycle: int
    """When its first bit left (`start_cycle - ready_cycle` is its wait in the queue)."""
    arrival_cycle: int
    """When its last bit reached the far chip."""
    nbytes: int
    energy_pj: float

    @property
    def wait_cycles(self) -> int:
        return self.start_cycle - self.ready_cycle


class ChipLink:
    """One direction of one link: messages are served in the order `send` is called, which
    must be in non-decreasing ready cycle (a FIFO)."""

    def __init__(self, link: LinkConfig, clock_hz: float) -> None:
        self.bits_per_cycle = link.bandwidth_gbps * 1e9 / clock_hz
        """Payload bits the link carries per chip cycle."""
        self.latency_cycles = _whole_cycles(link.latency_ns * 1e-9 * clock_hz)
        self.energy_pj_per_bit = link.energy_pj_per_bit
        self.free_cycle = 0
        self.messages = 0
        self.bytes = 0
        self.busy_cycles = 0
        self.wait_cycles = 0
        self.waited = 0
        self.energy_pj = 0.0

    def serialization_cycles(self, nbytes: int) -> int:
        """Cycles the link is held by a message of `nbytes` (whole cycles, at least one)."""
        return max(1, _whole_cycles(nbytes * 8 / self.bits_per_cycle))

    def send(self, ready_cycle: int, nbytes: int) -> Transfer:
        """Send `nbytes` ready in `ready_cycle`; returns when it left and arrived."""
        start = max(ready_cycle, self.free_cycle)
        hold = self.serialization_cycles(nbytes)
        self.free_cycle = start + hold
        energy = nbytes * 8 * self.energy_pj_per_bit
        self.messages += 1
        self.bytes += nbytes
        self.busy_cycles += hold
        self.wait_cycles += start - ready_cycle
        self.waited += start > ready_cycle
        self.energy_pj += energy
        return Transfer(ready_cycle, start, start + hold + self.latency_cycles, nbytes, energy)

    def summary(self) -> dict[str, float]:
        """Totals: messages, bytes, busy and wait cycles, messages that waited, energy (pJ)."""
        return {"messages": self.messages, "bytes": self.bytes, "busy_cycles": self.busy_cycles,
                "wait_cycles": self.wait_cycles, "waited_messages": self.waited,
                "latency_cycles": self.latency_cycles, "energy_pj": self.energy_pj}


def _whole_cycles(cycles: float) -> int:
    """`cycles` rounded up to whole cycles, ignoring float noise below 1e-9 of a cycle (100 ns
    at 500 MHz is 50 cycles, not 51)."""
    return math.ceil(round(cycles, 9))
