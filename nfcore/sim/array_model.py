"""A SimPy model of an array of cores that run SEND/RECV programs over the mesh.

Each core is a SimPy process at instruction granularity: an instruction takes its
`isa.cycles` (the one timing contract) and changes the core's memories through the golden
model (`nfcore.golden.CoreState`), so results are bit-exact with `nfcore.golden_array`.
Packets go through the system model's network (`nfcore.sim.network.Network`, its links and
reservations), with three rules of the router RTL (`nfcore.hdl.router`) added here:

* Arbitration order: the network grants a link in the order packets are sent. Packets sent
  in the same cycle are sent in the order in which their headers reach the first link they
  share (the earlier header wins, as in the RTL), ties broken by the RTL's round robin on
  the input ports of that link's router (`RoundRobin`).
* Buffers: a header stalled at the output of the k-th router of its path stalls its sender
  only if the packet is longer than the `k * (noc.ROUTER_FIFO_DEPTH + 1) - 1` flits the
  path up to it holds (a stalled worm compresses into the input FIFOs).
* Ejection: a packet offered at its destination waits there until a RECV takes it. If it
  is longer than its path holds, its sender cannot finish before the tail drains: the
  sender's last flit enters `noc.header_latency_cycles` before the tail is taken.

Timing: a SEND starting in cycle t injects its header in t + ISSUE and ends when its last
flit is injected; the packet's header is offered at its destination at
`Delivery.header_cycle`; a RECV ready in cycle r takes the first packet offered (by offer
cycle, then source row, then column) in max(r, offer), its payload in the n cycles after.
With no contention this is the golden array's timing exactly. Not modelled: packets sent in
different cycles are still granted a shared link in the order they were sent (the network
model's rule), even if the later one's header reaches it first.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from nfcore import isa, noc
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden import MAX_STEPS, CoreState
from nfcore.isa import Opcode
from nfcore.sim.network import Delivery, Network

Coord = tuple[int, int]


@dataclass
class _Packet:
    src: Coord
    header: dict[str, int]
    payload: npt.NDArray[np.uint8]
    offer_cycle: int
    taken: Any
    """SimPy event, succeeded with the cycle a RECV takes the header."""

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.offer_cycle, self.src[1], self.src[0])


@dataclass
class ArrayModelResult:
    cycles: dict[Coord, int]
    """Each core's cycles from RUN to its HALT (as `last_run_cycles` counts them)."""
    send_stall_cycles: dict[Coord, int]
    """Cycles each core's SENDs waited for the network."""
    recv_wait_cycles: dict[Coord, int]
    """Cycles each core's RECVs waited for a header."""
    network: Network


class RoundRobin:
    """The RTL's per-output round robin: each router output remembers the input (a
    `noc.Port` value) it granted last, initially WEST, and prefers the next in port order."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}

    def rank(self, link: int, port: int) -> int:
        """Position of input `port` in the order output `link` grants next (0 = first)."""
        n = len(noc.Port)
        return (port - self.last.get(link, n - 1) - 1) % n

    def granted(self, link: int, port: int) -> None:
        self.last[link] = port


@dataclass
class _Send:
    coord: Coord
    dest: Coord
    flits: int
    links: tuple[int, ...]
    done: Any
    """SimPy event, succeeded with the `Delivery`."""


def _input_port(links: tuple[int, ...], k: int) -> int:
    """The input port by which a packet on path `links` enters the router of `links[k]`."""
    if k <= 1:
        return int(noc.Port.LOCAL)
    came = noc.Port(links[k - 1] % len(noc.Port))
    return int({noc.Port.EAST: noc.Port.WEST, noc.Port.WEST: noc.Port.EAST,
                noc.Port.NORTH: noc.Port.SOUTH, noc.Port.SOUTH: noc.Port.NORTH}[came])


def _order(batch: list[_Send], rr: RoundRobin) -> list[_Send]:
    """`batch` (sent in one cycle) in the order their headers reach their first shared link:
    a topological order of "wins over" between the pairs that share a link (pairs that do
    not meet keep their order)."""
    n = len(batch)
    beats: list[set[int]] = [set() for _ in range(n)]
    meets: list[tuple[int, int, int]] = []  # (winner, loser, link)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = batch[i], batch[j]
            shared = [link for link in a.links[1:] if link in b.links[1:]]
            if not shared:
                continue
            link = shared[0]
            ka, kb = a.links.index(link), b.links.index(link)
            if ka != kb:  # two cycles per router: the shorter way arrives first
                first = i if ka < kb else j
            else:
                pa, pb = _input_port(a.links, ka), _input_port(b.links, kb)
                first = i if rr.rank(link, pa) < rr.rank(link, pb) else j
            second = j if first == i else i
            beats[first].add(second)
            meets.append((first, second, link))
    losses = [sum(i in beats[k] for k in range(n)) for i in range(n)]
    order: list[int] = []
    ready = [i for i in range(n) if losses[i] == 0]
    while ready:
        i = min(ready)
        ready.remove(i)
        order.append(i)
        for k in sorted(beats[i]):
            losses[k] -= 1
            if losses[k] == 0:
                ready.append(k)
    order += [i for i in range(n) if i not in order]  # a cycle of wins: keep send order
    for winner, _, link in meets:  # the winners move the round-robin pointers
        rr.granted(link, _input_port(batch[winner].links,
                                     batch[winner].links.index(link)))
    return [batch[i] for i in order]


def _hold_injection_until(net: Network, link: int, start: int, end: int) -> None:
    """Make the reservation of injection `link` granted at `start` end at `end`, the cycle
    after the sender's last flit by the buffer rule (the network holds it as long as the
    whole worm is stalled: no compression)."""
    starts, ends = net.arbiter.starts[link], net.arbiter.ends[link]
    for k in range(len(starts) - 1, -1, -1):
        if starts[k] == start:
            nxt = starts[k + 1] if k + 1 < len(starts) else end
            ends[k] = max(start + 1, min(end, nxt))
            return


def _sender_stall(d: Delivery, flits: int) -> int:
    """Cycles the sender waits on the network before the header is offered: the stalls of
    the header at router outputs whose path up to them is too short to hold the packet."""
    grants = d.link_grants
    stall = grants[0] - d.sent_cycle
    for k in range(1, len(grants) - 1):  # the ejection port: see `_Packet.taken`
        at = grants[k] - grants[k - 1] - (noc.ROUTER_HOP_CYCLES if k > 1 else 0)
        if flits > k * (noc.ROUTER_FIFO_DEPTH + 1) - 1:
            stall += at
    return stall


def run_array_model(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                    max_steps: int = MAX_STEPS, gated: Collection[Coord] = ()
                    ) -> ArrayModelResult:
    """Run the loaded programs of `cores` (keyed by (x, y) on `cfg.mesh`), all started in the
    same cycle, until every core HALTs. The states are updated in place.

    The cores in `gated` are power-gated when RUN comes: they start `cfg.power.wake_up_cycles`
    later (the wake-up latency of `nfcore.hdl.power`); their `cycles` count from their own
    start, as `last_run_cycles` does.

    Raises ExecutionError on a deadlock, a packet to a coordinate without a core, a RECV
    whose packet has another tag or length, or packets never received."""
    strangers = sorted(set(gated) - set(cores))
    if strangers:
        raise ExecutionError(f"gated cores {strangers} are not among the cores run")
    env = simpy.Environment()
    net = Network(cfg)
    lanes = cfg.core.lanes
    inbox: dict[Coord, list[_Packet]] = {c: [] for c in cores}
    signal: dict[Coord, Any] = {c: env.event() for c in cores}
    cycles: dict[Coord, int] = {}
    stalls = dict.fromkeys(cores, 0)
    waits = dict.fromkeys(cores, 0)
    pending: list[_Send] = []
    rr = RoundRobin()

    def flush() -> Generator[Any, Any, None]:
        """Send the packets of this cycle, after every core has asked (a zero delay runs
        after the events already due in this cycle)."""
        yield env.timeout(0)
        batch = _order(pending, rr)
        pending.clear()
        for r in batch:
            r.done.succeed(net.send(net.core(r.coord), net.core(r.dest), r.flits,
                                    int(env.now)))

    def core(coord: Coord, state: CoreState) -> Generator[Any, Any, None]:
        start = cfg.power.wake_up_cycles if coord in gated else 0
        yield env.timeout(1 + start)  # the first running cycle is 1, as in the golden array
        state.start()
        for _ in range(max_steps):
            instr = state.fetch()
            spent = isa.cycles(instr, lanes)
            if instr.op is Opcode.HALT:
                cycles[coord] = int(env.now) + spent - 1 - start
                return
            if instr.op is Opcode.SEND:
                dest = (instr.dest_x, instr.dest_y)
                if dest not in inbox:
                    raise ExecutionError(f"core {coord} sends to {dest}, which has no core")
                yield env.timeout(isa.ISSUE_CYCLES)
                sent = int(env.now)
                flits = isa.HEADER_FLITS + instr.n
                links = net.path(net.core(coord), net.core(dest))[0]
                request = _Send(coord, dest, flits, links, env.event())
                if not pending:
                    env.process(flush())
                pending.append(request)
                d = yield request.done
                header = noc.decode_header(noc.encode_header(
                    dest_x=dest[0], dest_y=dest[1], src_x=coord[0], src_y=coord[1],
                    length=instr.n, tag=instr.tag))
                packet = _Packet(coord, header, state.send_payload(instr), d.header_cycle,
                                 env.event())
                inbox[dest].append(packet)
                if not signal[dest].triggered:
                    signal[dest].succeed()
                end = sent + flits + _sender_stall(d, flits)
                ejection = len(links) - 1
                if flits > ejection * (noc.ROUTER_FIFO_DEPTH + 1):
                    # Longer than its path holds: the tail drains as the RECV takes it.
                    taken = yield packet.taken
                    end = max(end, taken + flits - noc.header_latency_cycles(coord, dest))
                _hold_injection_until(net, links[0], d.link_grants[0], end)
                stalls[coord] += end - (sent + flits)
                yield env.timeout(end - env.now)
            elif instr.op is Opcode.RECV:
                yield env.timeout(isa.ISSUE_CYCLES)
                ready = int(env.now)
                while not any(p.offer_cycle <= env.now for p in inbox[coord]):
                    signal[coord] = env.event()
                    events = [signal[coord]]
                    if inbox[coord]:
                        first = min(p.offer_cycle for p in inbox[coord])
                        events.append(env.timeout(first - env.now))
                    yield env.any_of(events)
                packet = min((p for p in inbox[coord] if p.offer_cycle <= env.now),
                             key=lambda p: p.order)
                inbox[coord].remove(packet)
                packet.taken.succeed(int(env.now))
                state.receive(instr, packet.header, packet.payload)
                waits[coord] += int(env.now) - ready
                yield env.timeout(isa.HEADER_FLITS + instr.n)
            else:
                state.execute(instr)
                yield env.timeout(spent)
        raise ExecutionError(f"core {coord} did not halt within {max_steps} instructions")

    for coord, state in sorted(cores.items(), key=lambda item: (item[0][1], item[0][0])):
        env.process(core(coord, state))
    env.run()
    running = sorted(set(cores) - set(cycles))
    if running:
        raise ExecutionError(f"deadlock: cores {running} wait in RECV for packets never sent")
    left = [(c, p) for c, packets in inbox.items() for p in packets]
    if left:
        c, p = left[0]
        raise ExecutionError(f"{len(left)} packets were never received, e.g. tag "
                             f"{p.header['tag']} from {p.src} to {c}")
    return ArrayModelResult(cycles, stalls, waits, net)
