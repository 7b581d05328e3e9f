"""The mesh as the router RTL arbitrates it, one event per header hop (not per flit).

`nfcore.sim.network.Network` walks a whole route when a packet is sent and grants links in
the order packets are sent. This model instead moves each packet's header from router to
router in simulated-time order, so that it follows the rules of `nfcore.hdl.router` that
decide who waits for whom:

* a header requests the output its route needs when it reaches that router: the source
  router's output in the cycle it is sent (`Network.path`'s convention: the injection link
  is granted at once), each later one `noc.ROUTER_HOP_CYCLES` after the previous grant;
* an output is held (wormhole lock) from its grant until the packet's tail has left it;
  while it is held, requesters wait. When it is free, the requesters of that cycle are
  granted in the RTL's round robin over input ports (`RoundRobin`: the input after the one
  granted last, reset WEST), whatever the order in which they arrived or were sent;
* the header is offered at the destination `noc.EJECT_CYCLES` after the ejection port's
  grant and waits there until the destination takes it (a core's RECV; the host takes at
  once); its payload follows one flit per cycle;
* a stalled worm compresses into the buffers of its path: each router holds
  `noc.ROUTER_FIFO_DEPTH + 1` flits of it (input FIFO and output register). So a header
  waiting `s` cycles at the output of the j-th router of its path keeps the tail from
  leaving output i < j (and from leaving the sender, i = 0) `s` cycles longer only if the
  packet's `F` flits do not fit between them: `F > (j - i) * (DEPTH + 1) - 1`; a wait of
  `s` at the destination does so if `F > (h - i) * (DEPTH + 1)` (h: the ejection port),
  and always for the ejection port itself.

So output i of a packet with grants `g` is held from `g_i` to `g_i + F` plus those waits
(`_release`), which is known once the header has passed the outputs within the packet's
reach (and the destination took it, if that is within reach). A sender's SEND ends when its
injection link is released. The cost is a heap event per header hop and per release; the
flit-level reference (`nfcore.sim.flit_array`) steps every flit every cycle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from nfcore import noc
from nfcore.sim.network import Network

import os
SHARED = int(os.environ.get("SHARED", "2"))
_OPPOSITE = {noc.Port.EAST: noc.Port.WEST, noc.Port.WEST: noc.Port.EAST,
             noc.Port.NORTH: noc.Port.SOUTH, noc.Port.SOUTH: noc.Port.NORTH}


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


@dataclass(eq=False)
class Worm:
    """One packet in flight. Cycles are absolute."""

    src: int
    dst: int
    links: tuple[int, ...]
    in_ports: tuple[int, ...]
    """The input port by which the header enters the router of each link (index 0: the
    injection link, unused)."""
    flits: int
    sent_cycle: int
    on_offer: Callable[[Worm, int], None] | None = None
    """Called with the cycle the header is offered at the destination, when that is
    known (at the ejection port's grant, `noc.EJECT_CYCLES` earlier)."""
    on_free: Callable[[Worm, int], None] | None = None
    """Called with the cycle the sender's last flit has left (its injection link's
    release), when that is known."""
    grants: list[int] = field(default_factory=list)
    stalls: list[int] = field(default_factory=list)
    """Cycles the header waited at each link before its grant."""
    arrive: int = 0
    """Cycle the header requests `links[len(grants)]`."""
    offer_cycle: int | None = None
    taken_cycle: int | None = None
    fifo_waits: list[int] = field(default_factory=list)
    """Cycles the header waited, before each link's request, for the previous packet's
    tail to leave the FIFO it enters."""
    released: list[bool] = field(default_factory=list)
    release_at: list[int] = field(default_factory=list)

    @property
    def done_cycle(self) -> int:
        """Cycle the tail is taken at the destination (once taken)."""
        assert self.taken_cycle is not None
        return self.taken_cycle + self.flits - 1


class WormNetwork:
    """The links of `net` (its paths and endpoints) under the RTL's arbitration rules.

    Callers `send` packets and `take` offered ones at the current cycle, and call
    `advance(t)` once everything of cycle t has been sent or taken; `next_cycle` says when
    something is due. Endpoints in `takes_at_once` (the host) take every packet when offered.
    """

    def __init__(self, net: Network, takes_at_once: frozenset[int] = frozenset()) -> None:
        self.net = net
        self.takes_at_once = takes_at_once
        self.rr = RoundRobin()
        self.owner: dict[int, Worm] = {}
        self.release: dict[int, int | None] = {}
        self.waiting: dict[int, list[Worm]] = {}
        self.feeder: dict[int, tuple[Worm, int]] = {}
        """Per link, the last packet that crossed it (and the link's index on its path):
        the packet whose tail the FIFO after the link holds last."""
        self.parked: dict[tuple[int, int], list[tuple[Worm, int]]] = {}
        """Headers behind a packet whose release of (id, link index) is not known yet."""
        self._heap: list[tuple[int, int, int]] = []  # (cycle, seq, link): arbitrate then
        self._seq = 0
        self._depth = noc.ROUTER_FIFO_DEPTH + 1

    # -- interface ---------------------------------------------------------------------
    def send(self, src: int, dst: int, flits: int, cycle: int,
             on_offer: Callable[[Worm, int], None] | None = None,
             on_free: Callable[[Worm, int], None] | None = None) -> Worm:
        """Inject a packet of `flits` flits from `src` (whose previous packet has left) to
        `dst` in `cycle`: its injection link is granted at once."""
        links = self.net.path(src, dst)[0]
        worm = Worm(src, dst, links, self._in_ports(src, links), flits, cycle, on_offer,
                    on_free, grants=[cycle], stalls=[0], fifo_waits=[0], arrive=cycle,
                    released=[False] * len(links), release_at=[0] * len(links))
        self.net.count(src, dst, flits)
        self._request(worm, cycle)
        return worm

    def take(self, worm: Worm, cycle: int) -> None:
        """The destination takes `worm`'s header in `cycle` (>= its offer cycle)."""
        assert worm.offer_cycle is not None and cycle >= worm.offer_cycle
        worm.taken_cycle = cycle
        self._settle(worm, cycle)

    def next_cycle(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def advance(self, cycle: int) -> None:
        """Arbitrate every link due at or before `cycle`, in cycle order."""
        heap = self._heap
        while heap and heap[0][0] <= cycle:
            t = heap[0][0]
            due = []
            while heap and heap[0][0] == t:
                due.append(heapq.heappop(heap)[2])
            for link in dict.fromkeys(due):
                self._arbitrate(link, t)

    # -- rules -------------------------------------------------------------------------
    def _in_ports(self, src: int, links: tuple[int, ...]) -> tuple[int, ...]:
        n = len(noc.Port)
        first = noc.HOST_PORT if src == self.net.host else \
            noc.DRAM_PORT if src == self.net.dram else noc.Port.LOCAL
        ports = [0, int(first)]
        for k in range(2, len(links)):
            ports.append(int(_OPPOSITE[noc.Port(links[k - 1] % n)]))
        return tuple(ports[:len(links)])

    def _at(self, cycle: int, link: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (cycle, self._seq, link))

    def _request(self, worm: Worm, cycle: int) -> None:
        """`worm`'s header reaches the input FIFO of its next router in `cycle`; it
        requests the output when the previous packet through that FIFO has left it."""
        k = len(worm.grants) - 1  # the link feeding the FIFO
        ahead = self.feeder.get(worm.links[k])
        self.feeder[worm.links[k]] = (worm, k)
        if ahead is not None:
            prev, j = ahead
            if j + 1 < len(prev.links) and prev is not worm:
                if not prev.released[j + 1]:
                    self.parked.setdefault((id(prev), j + 1), []).append((worm, cycle))
                    return
                cycle = max(cycle, prev.release_at[j + 1])
        self._arrive(worm, cycle)

    def _arrive(self, worm: Worm, cycle: int) -> None:
        link = worm.links[len(worm.grants)]
        worm.arrive = cycle
        self.waiting.setdefault(link, []).append(worm)
        self._at(cycle, link)

    def _arbitrate(self, link: int, t: int) -> None:
        if link in self.owner:
            release = self.release[link]
            if release is None or release > t:
                return  # rechecked at the release (`_settle` schedules it)
            del self.owner[link]
        waiting = self.waiting.get(link)
        if not waiting:
            return
        ready = [w for w in waiting if w.arrive <= t]
        if not ready:
            return
        k_of = {id(w): len(w.grants) for w in ready}
        worm = min(ready, key=lambda w: self.rr.rank(link, w.in_ports[k_of[id(w)]]))
        k = k_of[id(worm)]
        self.rr.granted(link, worm.in_ports[k])
        waiting.remove(worm)
        nominal = worm.grants[-1] + (noc.ROUTER_HOP_CYCLES if k > 1 else 0)
        worm.grants.append(t)
        worm.stalls.append(t - worm.arrive)
        worm.fifo_waits.append(worm.arrive - nominal)
        self.owner[link] = worm
        self.release[link] = None
        if k + 1 < len(worm.links):
            self._request(worm, t + noc.ROUTER_HOP_CYCLES)
        else:
            worm.offer_cycle = t + noc.EJECT_CYCLES
            if worm.dst in self.takes_at_once:
                worm.taken_cycle = worm.offer_cycle
            if worm.on_offer is not None:
                worm.on_offer(worm, worm.offer_cycle)
        self._settle(worm, t)

    def _settle(self, worm: Worm, now: int) -> None:
        """Fix the release cycle of every link of `worm` whose waits within reach are known,
        and schedule the link's arbitration then."""
        h = len(worm.links) - 1
        f, depth = worm.flits, self._depth
        n = len(worm.grants)
        taken = worm.taken_cycle
        for i in range(n):
            if worm.released[i]:
                continue
            reach = min(h, i + (f + 1 + depth - 1) // depth - 1)  # last j with f > (j-i)d-1
            shared = min(h, i + (f + 1 + SHARED + depth - 1) // depth - 1)
            if max(reach, shared) >= n:
                return  # later links need later grants too
            waits = sum(worm.stalls[i + 1:reach + 1]) + sum(worm.fifo_waits[i + 1:shared + 1])
            if i == h or f > (h - i) * depth:
                if taken is None:
                    return
                waits += taken - (worm.grants[h] + noc.EJECT_CYCLES)
            release = max(worm.grants[i] + f + waits, now)
            worm.released[i] = True
            worm.release_at[i] = release
            for behind, cycle in self.parked.pop((id(worm), i), ()):
                self._arrive(behind, max(cycle, release))
            if i == 0:
                if worm.on_free is not None:
                    worm.on_free(worm, release)
            else:
                link = worm.links[i]
                if self.owner.get(link) is worm:
                    self.release[link] = release
                    self._at(release, link)
