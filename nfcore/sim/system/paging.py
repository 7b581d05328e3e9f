"""Weight paging in the system model: read requests to the DRAM port, the channel, and the
weight packets that carry the words to the core.

The steps and their timing are `nfcore.sim.system.dram`'s (module docstring, "Paging"), the same
that the RTL tests check (`sim_tests/paging_cocotb.py`): the host sends one request packet
(`noc.dram_request_flits(True)` flits) per chunk of `noc.page_chunks`, each through the mesh
to the DRAM port; the read is issued when the request's tail arrives; the answer's flits
enter the mesh at `DramChannel.answer`'s cycles and travel as one weight packet to the core,
which writes each word as it arrives. Here `nfcore.sim.net.oneshot.Network` carries every
packet, so paging contends with other traffic. The network model reserves links as if a
packet's flits followed one per cycle; a channel slower than that leaves gaps, which delay
the packet's tail by as many cycles (exact without contention).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from nfcore.arch import noc
from nfcore.sim.net.oneshot import Delivery, Network
from nfcore.sim.system.dram import DramChannel

PAGING_CYCLES_FILE = "paging_cycles.json"
"""File name (under the repository's `sim_build/`) of the paging cycles the RTL test
measured with no stalls (`sim_tests/paging_cocotb.py`). Schema: `{"schema": 1, "rows",
"cols", "dest": [x, y], "lanes", "clock_mhz", "runs": {name: {"chunks": [words per
request], "words", "latency_ns", "bandwidth_gbps", "request_cycle", "last_write_cycle",
"paging_cycles"}}}`; `paging_cycles` runs from the first request's injection at the host
port to the cycle the core wrote the last word."""

Send = Callable[[int, int, int], Delivery]
"""Sends a packet of `flits` from endpoint `src` to `dst` now (`Network.send`, plus the
caller's accounting)."""


@dataclass(frozen=True)
class Paging:
    """One core's paging, in absolute cycles."""

    request_cycle: int
    """The first request's injection at the host port."""
    done_cycle: int
    """The cycle the core wrote the last word."""
    dram_queue_cycles: int
    packets: int
    """Answer packets (= requests)."""

    @property
    def paging_cycles(self) -> int:
        return self.done_cycle - self.request_cycle


def page_weights(env: simpy.Environment, net: Network, dram: DramChannel, lanes: int,
                 core: int, words: int, send: Send,
                 max_words: int = 1 << noc.LENGTH_BITS) -> Generator[simpy.Event, Any, Paging]:
    """SimPy process body: page `words` weight words into endpoint `core`, starting now;
    returns when the last word is written."""
    chunks = noc.page_chunks(words, max_words)
    flits = noc.dram_request_flits(True)
    queue: list[int] = []
    answers = []
    first = int(env.now)
    for n in chunks:
        # The host injects the requests one after the other, each once the last has left.
        request = send(net.host, net.dram, flits)
        answers.append(env.process(_read_and_answer(env, net, dram, lanes, core, n, request,
                                                    send, queue)))
        if request.source_free_cycle > env.now:
            yield env.timeout(request.source_free_cycle - env.now)
    yield env.all_of(answers)
    done = max(int(a.value or 0) for a in answers)
    if done > env.now:
        yield env.timeout(done - env.now)
    return Paging(first, done, sum(queue), len(chunks))


def _read_and_answer(env: simpy.Environment, net: Network, dram: DramChannel, lanes: int,
                     core: int, words: int, request: Delivery, send: Send,
                     queue: list[int]) -> Generator[simpy.Event, Any, int]:
    """One request: the read when its tail reaches the DRAM port, then the weight packet
    whose flits enter at `DramChannel.answer`'s cycles; returns its last write cycle."""
    if request.done_cycle > env.now:
        yield env.timeout(request.done_cycle - env.now)
    read = dram.read(words * lanes, int(env.now))
    queue.append(read.queue_cycles)
    inject = dram.answer(read, words, lanes)
    if inject[0] > env.now:
        yield env.timeout(inject[0] - env.now)
    delivery = send(net.dram, core, len(inject))
    gaps = inject[-1] - inject[0] - (len(inject) - 1)
    return delivery.done_cycle + gaps
