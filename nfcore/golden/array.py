"""The golden model of several cores that exchange packets.

`run_array` runs the programs loaded in a set of `CoreState`s, keyed by their (x, y) mesh
coordinates, as if all accepted RUN in the same cycle. Core-local instructions execute as in
`CoreState.run`; SEND and RECV move packets with the no-contention timing that
`docs/isa.md` ("Several cores: the golden array") states:

* a SEND starting in cycle t hands its header to the network in cycle t + ISSUE;
* the header is offered to the destination `noc.packet_latency_cycles(src, dest)` cycles
  later (its arrival cycle); the payload follows one flit per cycle;
* a RECV starting in cycle r takes the first packet to arrive at its core (ties by source
  row, then column) in cycle max(r + ISSUE, arrival), its payload in the n cycles after; it
  waited max(0, arrival - r - ISSUE) cycles.

The host port (`noc.HOST`) takes part as a node without a program: `run_array_host` injects
`HostPacket`s (header handshake in a given cycle, offered to the destination
`noc.header_latency_cycles(HOST, dest)` later) and collects the packets of SENDs with
`to_host`, whose header reaches the host `noc.header_latency_cycles(src, HOST)` cycles after it
leaves the core; the host takes every flit at once.

Cores advance in order of their clocks. A RECV commits to a packet only when no other core
can still send one that arrives earlier, so the result does not depend on the order in which
the model steps cores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nfcore.arch import isa, noc
from nfcore.arch.isa import Instruction, Opcode
from nfcore.errors import ExecutionError
from nfcore.golden.core import MAX_STEPS, CoreState, RunResult

Coord = tuple[int, int]


@dataclass
class Packet:
    """A packet in the network, by the golden model's timing."""

    src: Coord
    dest: Coord
    header: dict[str, int]
    """`noc.decode_header` fields."""
    payload: npt.NDArray[np.uint8]
    """`(length, lanes)` words."""
    arrival_cycle: int
    """Cycle the header is first offered on the destination's `net_in`."""

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.arrival_cycle, self.src[1], self.src[0])


@dataclass(frozen=True)
class HostPacket:
    """A packet the host injects into the host port."""

    cycle: int
    """Cycle of the header's handshake on the host port (1 = a core's first running cycle)."""
    dest: Coord
    tag: int
    payload: npt.NDArray[np.uint8]
    """`(length, lanes)` words."""

    def packet(self) -> Packet:
        header = noc.decode_header(noc.encode_header(
            dest_x=self.dest[0], dest_y=self.dest[1], length=len(self.payload), tag=self.tag))
        return Packet(noc.HOST, self.dest, header, self.payload,
                      self.cycle + noc.header_latency_cycles(noc.HOST, self.dest))


@dataclass
class ArrayRun:
    """What `run_array_host` returns."""

    results: dict[Coord, RunResult]
    host_out: list[Packet]
    """The packets sent to the host, in the order their headers reach it
    (`arrival_cycle`: the cycle the host takes the header)."""


@dataclass
class _Core:
    coord: Coord
    state: CoreState
    time: int = 1
    """Cycle in which the next instruction starts (the first running cycle is 1)."""
    next_instr: Instruction | None = None
    result: RunResult = field(default_factory=lambda: RunResult(cycles=0))
    halted: bool = False


def run_array(cores: Mapping[Coord, CoreState],
              max_steps: int = MAX_STEPS) -> dict[Coord, RunResult]:
    """Run every core's loaded program until all HALT; the result per core coordinate.

    `RunResult.cycles` is each core's own count (RUN to its HALT), waits included.
    Raises ExecutionError on a deadlock, a packet to a coordinate without a core, a RECV
    whose packet has another tag or length, or packets left undelivered at the end.
    """
    return run_array_host(cores, (), max_steps).results


def run_array_host(cores: Mapping[Coord, CoreState], host_in: Sequence[HostPacket] = (),
                   max_steps: int = MAX_STEPS) -> ArrayRun:
    """`run_array` with the host port: the packets `host_in` are injected, and the packets
    of SENDs to the host are returned with the cores' results."""
    run = [_Core(coord, state) for coord, state in sorted(cores.items(), key=_row_major)]
    for core in run:
        core.state.start()
    inbox: dict[Coord, list[Packet]] = {c.coord: [] for c in run}
    host_out: list[Packet] = []
    for hp in host_in:
        if hp.dest not in inbox:
            raise ExecutionError(f"the host sends to {hp.dest}, which has no core")
        inbox[hp.dest].append(hp.packet())
    for _ in range(max_steps):
        active = [c for c in run if not c.halted]
        if not active:
            break
        for core in active:
            if core.next_instr is None:
                core.next_instr = core.state.fetch()
        steppable = [c for c in active if _can_step(c, active, inbox)]
        if not steppable:
            waiting = ", ".join(f"{c.coord} at cycle {c.time}" for c in active)
            raise ExecutionError(f"deadlock: every running core waits in RECV ({waiting})")
        _step(min(steppable, key=lambda c: (c.time, _row_major((c.coord, None)))), inbox,
              host_out)
    else:
        raise ExecutionError(f"the array did not halt within {max_steps} instructions")
    left = [p for packets in inbox.values() for p in packets]
    if left:
        p = left[0]
        raise ExecutionError(f"{len(left)} packets were never received, e.g. tag "
                             f"{p.header['tag']} from {p.src} to {p.dest}")
    host_out.sort(key=lambda p: p.order)
    return ArrayRun({c.coord: c.result for c in run}, host_out)


def _row_major(item: tuple[Coord, object]) -> tuple[int, int]:
    return (item[0][1], item[0][0])


def _step(core: _Core, inbox: dict[Coord, list[Packet]], host_out: list[Packet]) -> None:
    instr = core.next_instr
    assert instr is not None
    core.next_instr = None
    state, lanes = core.state, core.state.lanes
    core.result.trace.append(instr)
    cycles = isa.cycles(instr, lanes)
    if instr.op is Opcode.HALT:
        core.halted = True
        core.result.cycles = core.time + cycles - 1
        return
    if instr.op is Opcode.SEND and instr.to_host:
        header = noc.decode_header(noc.encode_header(
            src_x=core.coord[0], src_y=core.coord[1], length=instr.n, tag=instr.tag,
            to_host=1))
        leaves = core.time + isa.ISSUE_CYCLES
        host_out.append(Packet(core.coord, noc.HOST, header, state.send_payload(instr),
                               leaves + noc.header_latency_cycles(core.coord, noc.HOST)))
    elif instr.op is Opcode.SEND:
        dest = (instr.dest_x, instr.dest_y)
        if dest not in inbox:
            raise ExecutionError(f"core {core.coord} sends to {dest}, which has no core")
        header = noc.decode_header(noc.encode_header(
            dest_x=dest[0], dest_y=dest[1], src_x=core.coord[0], src_y=core.coord[1],
            length=instr.n, tag=instr.tag))
        leaves = core.time + isa.ISSUE_CYCLES
        inbox[dest].append(Packet(core.coord, dest, header, state.send_payload(instr),
                                  leaves + noc.packet_latency_cycles(core.coord, dest)))
    elif instr.op is Opcode.RECV:
        packet = min(inbox[core.coord], key=lambda p: p.order)
        inbox[core.coord].remove(packet)
        wait = max(0, packet.arrival_cycle - core.time - isa.ISSUE_CYCLES)
        state.receive(instr, packet.header, packet.payload)
        core.result.wait_cycles += wait
        cycles += wait
    else:
        state.execute(instr)
    core.time += cycles


def _earliest_header(core: _Core, inbox: dict[Coord, list[Packet]],
                     future_arrival: float) -> float:
    """A lower bound of the cycle in which `core` can next hand a header to the network.
    `future_arrival` bounds the arrival of any packet not yet sent."""
    instr = core.next_instr
    assert instr is not None
    ready = core.time + isa.ISSUE_CYCLES
    if instr.op is not Opcode.RECV:
        return ready
    # It must finish this RECV (header, n words), then issue a SEND.
    arrival = min((p.arrival_cycle for p in inbox[core.coord]), default=future_arrival)
    return max(ready, arrival) + instr.n + 1 + isa.ISSUE_CYCLES


def _can_step(core: _Core, active: list[_Core], inbox: dict[Coord, list[Packet]]) -> bool:
    """Whether `core`'s next instruction can run now: anything but RECV can; a RECV can when
    its first packet arrives before any packet not yet sent could."""
    instr = core.next_instr
    assert instr is not None
    if instr.op is not Opcode.RECV:
        return True
    if not inbox[core.coord]:
        return False
    first = min(inbox[core.coord], key=lambda p: p.order).arrival_cycle
    # The first packet not yet sent comes from a core that needs no packet not yet sent:
    # one that is not blocked in a RECV with an empty inbox.
    free = [c for c in active
            if c.next_instr is not None
            and (c.next_instr.op is not Opcode.RECV or inbox[c.coord])]
    future = min((_earliest_header(c, inbox, math.inf) for c in free), default=math.inf)
    future += noc.ROUTER_HOP_CYCLES  # the least latency of any packet
    for other in active:
        if other is not core and _earliest_header(other, inbox, future) + \
                noc.packet_latency_cycles(other.coord, core.coord) <= first:
            return False
    return True
