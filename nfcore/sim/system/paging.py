"""Weight paging in the system model: read requests to the DRAM port, the channel, and the
weight packets that carry the words to the core.

The steps and their timing are `nfcore.sim.system.dram`'s (module docstring, "Paging"), the same
that the RTL tests check (`sim_tests/paging_cocotb.py`): the host sends one request packet
(`noc.dram_request_flits(True)` flits) per chunk of `noc.page_chunks`, each through the mesh
to the DRAM port; the read is issued when the request's tail arrives; the answer's flits
enter the mesh at `DramChannel.answer`'s cycles and travel as one weight packet to the core,
which writes each word as it arrives. `page_core` times them by `dram.page_timeline`: the
channel's queueing is modelled (reads in the order the system model issues them), the mesh
is taken as free (an assumption: paging packets are counted in the network's traffic and
energy, but do not take part in the exact network model, `nfcore.sim.net.array`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nfcore.arch import isa, noc
from nfcore.sim.system.dram import DramChannel, page_timeline

PAGING_CYCLES_FILE = "paging_cycles.json"
"""File name (under the repository's `sim_build/`) of the paging cycles the RTL test
measured with no stalls (`sim_tests/paging_cocotb.py`). Schema: `{"schema": 1, "rows",
"cols", "dest": [x, y], "lanes", "clock_mhz", "runs": {name: {"chunks": [words per
request], "words", "latency_ns", "bandwidth_gbps", "request_cycle", "last_write_cycle",
"paging_cycles"}}}`; `paging_cycles` runs from the first request's injection at the host
port to the cycle the core wrote the last word."""


@dataclass(frozen=True)
class Paging:
    """One core's paging, in absolute cycles."""

    request_cycle: int
    """The first request's injection at the host port."""
    done_cycle: int
    """The cycle the core wrote the last word."""
    dram_queue_cycles: int
    chunks: tuple[int, ...]
    """Words of each request (= answer packet)."""

    @property
    def paging_cycles(self) -> int:
        return self.done_cycle - self.request_cycle

    @property
    def packets(self) -> tuple[tuple[str, int], ...]:
        """("request", flits) of each read request (host to DRAM port) and ("answer",
        flits) of each weight packet (DRAM port to the core)."""
        request = noc.dram_request_flits(True)
        return tuple(p for n in self.chunks
                     for p in (("request", request), ("answer", isa.HEADER_FLITS + n)))


def page_core(dram: DramChannel, lanes: int, core: tuple[int, int], words: int,
              start_cycle: int, max_words: int = 1 << noc.LENGTH_BITS) -> Paging:
    """Page `words` weight words into `core`, the host injecting the first request in
    `start_cycle`, on `dram` (whose state it advances: calls in `start_cycle` order)."""
    chunks = noc.page_chunks(words, max_words)
    t = page_timeline(dram, lanes, core, chunks, start_cycle)
    return Paging(start_cycle, t.last_write_cycle, sum(r.queue_cycles for r in t.reads),
                  tuple(chunks))
