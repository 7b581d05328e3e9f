"""The mesh as the router RTL moves packets, computed per packet, not stepped per cycle.

This model follows the rules of `nfcore.hdl.router` (the ones `nfcore.sim.net.flit` steps
cycle by cycle) on the routes of `nfcore.sim.net.topology`, and gets the same cycles:

* every router input has a FIFO of `noc.ROUTER_FIFO_DEPTH` (D) flits, which takes a flit in
  a cycle only if it was not full at the start of the cycle; every output has a one-flit
  register, which takes a flit in a cycle in which it is empty or its flit leaves;
* an output is locked to one packet from its header to its tail (wormhole); when it is free,
  the headers at the heads of the FIFOs that want it are granted in the RTL's round robin
  over input ports (`RoundRobin`: the input after the one granted last; reset WEST);
* the destination's ejection register offers the header in the cycle after it enters and
  holds it until the destination takes it (a core's RECV; the host takes every flit at
  once), then one flit per cycle;
* a SEND ready in cycle t pushes one flit per cycle into its router's LOCAL FIFO from t on
  while the FIFO has room, and ends in the cycle after its last push.

The only decisions that involve several packets are the grants of outputs, so the model
is event-driven on those: a heap of (cycle, link) arbitrations, taken in cycle order. Given
its grants and when its destination takes it, one packet's flits follow a max-plus
recurrence (`Worm._progress`): for flit k at the i-th router of its path, with `u` the cycle
it enters the router's input FIFO, `p` the cycle it moves into the output register and `v`
the cycle it leaves that register (enters the next FIFO, or is taken at the destination):

    p[i][0] = the grant;        p[i][k] = max(u[i][k] + 1, v[i][k-1])         (k >= 1)
    v[i][k] = max(p[i][k] + 1, pop of the flit D places earlier in FIFO i+1 + 1)
    u[i+1][k] = v[i][k];        u[1][k] = max(ready, u[1][k-1] + 1, FIFO 1 room)

where the flit D places earlier may be another packet's (the FIFO is shared in time). An
output is free for the next header from its holder's `v[i][F-1]`; a header requests an
output from `u[i][0] + 1`, once the flits ahead of it in its FIFO have left. Entries are
computed as soon as what they depend on is known; every entry depends only on earlier
cycles, so they are known before they are due and the arbitrations come in cycle order
(checked, not proven: equal to `nfcore.sim.net.flit` and the RTL on every scenario tested). The cost
is a heap event per output a packet crosses plus a few Python passes over its flits and
routers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from nfcore.arch import noc
from nfcore.sim.net.topology import Network

_OPPOSITE = {noc.Port.EAST: noc.Port.WEST, noc.Port.WEST: noc.Port.EAST,
             noc.Port.NORTH: noc.Port.SOUTH, noc.Port.SOUTH: noc.Port.NORTH}

FlitRef = tuple["Worm", int, int]
"""(packet, router index on its path, flit index): one flit in one FIFO."""


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
    """One packet. Cycles are absolute; router index i = 1 .. h is the i-th router of its
    path (`links[i]` its output there; `links[0]` the injection link)."""

    src: int
    dst: int
    links: tuple[int, ...]
    in_ports: tuple[int, ...]
    """The input port by which it enters the i-th router (index 0 unused)."""
    flits: int
    ready_cycle: int
    """First cycle its sender may push a flit."""
    on_offer: Callable[[Worm, int], None] | None = None
    """Called with the cycle its header is first offered at the destination, at the
    ejection grant (a cycle before)."""
    on_free: Callable[[Worm, int], None] | None = None
    """Called with the cycle after its last flit was pushed (its SEND's end), once known."""
    on_done: Callable[[Worm, int], None] | None = None
    """Called with the cycle its tail is taken at the destination, once known."""
    u: list[list[int | None]] = field(default_factory=list)
    p: list[list[int | None]] = field(default_factory=list)
    v: list[list[int | None]] = field(default_factory=list)
    before: list[list[FlitRef]] = field(default_factory=list)
    """Per router, the (up to D) flits pushed into its input FIFO just before this packet's."""
    arrived: list[bool] = field(default_factory=list)
    lo: int = 1
    """The first router whose flits have not all left (`known` < flits)."""
    known: list[int] = field(default_factory=list)
    """Per router, how many of its first flits have `v` known (flits leave in order): the
    recurrence starts after them."""
    notified: set[str] = field(default_factory=set)
    dependents: list[Worm] = field(default_factory=list)
    """Packets that wait for one of this packet's cycles to be known."""

    @property
    def hops(self) -> int:
        return len(self.links) - 2

    @property
    def offer_cycle(self) -> int | None:
        g = self.p[-1][0]
        return None if g is None else g + 1

    @property
    def taken_cycle(self) -> int | None:
        return self.v[-1][0]

    @property
    def done_cycle(self) -> int | None:
        return self.v[-1][-1]

    @property
    def free_cycle(self) -> int | None:
        last = self.u[1][-1]
        return None if last is None else last + 1


def _pop(ref: FlitRef) -> int | None:
    worm, i, k = ref
    return worm.p[i][k]


class WormNetwork:
    """The links of `net` (its paths and endpoints) under the router RTL's rules.

    Callers `send` packets and `take` offered ones, and call `advance(t)` once everything
    of cycle t has been sent or taken; `next_cycle` says when an arbitration is due.
    Endpoints in `takes_at_once` (the host) take every flit when it is offered.
    """

    def __init__(self, net: Network, takes_at_once: frozenset[int] = frozenset()) -> None:
        self.net = net
        self.takes_at_once = takes_at_once
        self.depth = noc.ROUTER_FIFO_DEPTH
        self.rr = RoundRobin()
        self.owner: dict[int, Worm] = {}
        """Per output link, the packet that was granted it last."""
        self.waiting: dict[int, list[tuple[Worm, int]]] = {}
        """Per output link, the headers (packet, router index) that want it."""
        self.fifo: dict[int, list[FlitRef]] = {}
        """Per FIFO (keyed by the link that feeds it), the last D flits pushed."""
        self._heap: list[tuple[int, int, int]] = []  # (cycle, seq, link)
        self._seq = 0
        self._dirty: list[Worm] = []

    # -- interface ---------------------------------------------------------------------
    def send(self, src: int, dst: int, flits: int, cycle: int,
             on_offer: Callable[[Worm, int], None] | None = None,
             on_free: Callable[[Worm, int], None] | None = None,
             on_done: Callable[[Worm, int], None] | None = None) -> Worm:
        """A packet of `flits` flits from `src` to `dst` whose sender can push from `cycle`
        (its previous packet's pushes are over)."""
        links = self.net.path(src, dst)[0]
        n = len(links)
        worm = Worm(src, dst, links, self._in_ports(src, links), flits, cycle, on_offer,
                    on_free, on_done,
                    u=[[None] * flits for _ in range(n)], p=[[None] * flits for _ in range(n)],
                    v=[[None] * flits for _ in range(n)], before=[[] for _ in range(n)],
                    arrived=[False] * n, known=[0] * n)
        self.net.count(src, dst, flits)
        self._enter_fifo(worm, 1)
        self._update(worm)
        return worm

    def take(self, worm: Worm, cycle: int) -> None:
        """The destination takes `worm`'s header in `cycle` (>= its offer cycle)."""
        offer = worm.offer_cycle
        assert offer is not None and cycle >= offer, (offer, cycle)
        worm.v[-1][0] = cycle
        self._update(worm)

    def next_cycle(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def advance(self, cycle: int) -> None:
        """Arbitrate every output due at or before `cycle`, in cycle order."""
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

    def _enter_fifo(self, worm: Worm, i: int) -> None:
        """Queue `worm`'s flits behind the last ones pushed into the FIFO of its i-th
        router (fed by `links[i - 1]`): the order in which they will be pushed."""
        key = worm.links[i - 1]
        prior = self.fifo.get(key, [])
        worm.before[i] = prior[-self.depth:]
        mine = [(worm, i, k) for k in range(max(0, worm.flits - self.depth), worm.flits)]
        self.fifo[key] = (prior + mine)[-self.depth:]

    def _arbitrate(self, link: int, t: int) -> None:
        holder = self.owner.get(link)
        if holder is not None:
            i = holder.links.index(link)
            free = holder.v[i][-1]
            if free is None:
                return  # rearbitrated when its tail leaves (`_released` schedules it)
            if free > t:
                self._at(free, link)
                return
        waiting = self.waiting.get(link)
        if not waiting:
            return
        ready = [(w, i) for w, i in waiting if self._arrival(w, i) <= t]
        if not ready:
            return
        worm, i = min(ready, key=lambda wi: self.rr.rank(link, wi[0].in_ports[wi[1]]))
        self.rr.granted(link, worm.in_ports[i])
        waiting.remove((worm, i))
        self.owner[link] = worm
        worm.p[i][0] = t
        if i + 1 < len(worm.links):
            self._enter_fifo(worm, i + 1)
        elif worm.dst in self.takes_at_once:
            worm.v[i][0] = t + 1
        if i + 1 == len(worm.links) and worm.on_offer is not None:
            worm.on_offer(worm, t + 1)
        self._update(worm)

    def _arrival(self, worm: Worm, i: int) -> int:
        """Cycle from which `worm`'s header (entered in FIFO i) can request its output."""
        u = worm.u[i][0]
        assert u is not None
        t = u + 1
        if worm.before[i]:
            pop = _pop(worm.before[i][-1])
            assert pop is not None
            t = max(t, pop + 1)
        return t

    def _update(self, worm: Worm) -> None:
        """Fill in what can be known of `worm` and of the packets waiting on it."""
        self._dirty.append(worm)
        self._dirty += worm.dependents  # an entry set from outside (grant, take)
        worm.dependents = []
        while self._dirty:
            self._progress(self._dirty.pop())

    def _progress(self, w: Worm) -> None:
        f = w.flits
        h = len(w.links) - 1
        u, p, v = w.u, w.p, w.v
        changed, any_change = True, False
        while changed:
            changed = False
            known = w.known
            # Routers the tail has left are a prefix (skipped); past the first router the
            # header has not entered, nothing can be known yet (the loop stops there).
            while w.lo <= h and known[w.lo] == f:
                w.lo += 1
            for i in range(w.lo, h + 1):
                ui, pi, vi = u[i], p[i], v[i]
                start = known[i]
                while start < f and vi[start] is not None:
                    start += 1
                known[i] = start
                # Flits move in order: once flit k's u cannot be known yet, no later flit's
                # can; once its p or v cannot, no later flit's p or v can (their u still can).
                stalled = False
                for k in range(start, f):
                    if vi[k] is not None:
                        continue
                    # u: the cycle it enters FIFO i.
                    if ui[k] is None:
                        if i == 1:
                            if k and ui[k - 1] is None:
                                break
                            room = self._room(w, 1, k)
                            if room is None:
                                break
                            prev = ui[k - 1] if k else None
                            ui[k] = max(w.ready_cycle, room, 0 if prev is None else prev + 1)
                        else:
                            up = v[i - 1][k]
                            if up is None:
                                break
                            ui[k] = up
                        changed = True
                    if stalled:
                        continue
                    # p: the cycle it moves into the output register.
                    if pi[k] is None:
                        if k == 0:
                            if not w.arrived[i]:
                                ahead = w.before[i][-1] if w.before[i] else None
                                if ahead is not None and _pop(ahead) is None:
                                    ahead[0].dependents.append(w)
                                    stalled = True
                                    continue
                                w.arrived[i] = True
                                link = w.links[i]
                                self.waiting.setdefault(link, []).append((w, i))
                                self._at(self._arrival(w, i), link)
                            stalled = True
                            continue  # granted by `_arbitrate`
                        last, entered = vi[k - 1], ui[k]
                        if last is None or entered is None:
                            stalled = True
                            continue
                        pi[k] = max(entered + 1, last)
                        changed = True
                    # v: the cycle it leaves the register.
                    pk = pi[k]
                    assert pk is not None
                    if i == h:
                        if k == 0:
                            stalled = True
                            continue  # taken by `take` (or at once by the host)
                        last = vi[k - 1]
                        if last is None:
                            stalled = True
                            continue
                        out = max(pk + 1, last + 1)
                    else:
                        room = self._room(w, i + 1, k)
                        if room is None:
                            stalled = True
                            continue
                        out = max(pk + 1, room)
                    vi[k] = out
                    changed = True
                    if k == f - 1:
                        self._released(w, i, out)
                if ui[0] is None:
                    break
            any_change |= changed
        if any_change and w.dependents:
            self._dirty += w.dependents
            w.dependents = []
        self._notify(w)

    def _room(self, w: Worm, i: int, k: int) -> int | None:
        """First cycle flit k of `w` may enter the FIFO of its i-th router: after the flit
        D places earlier in that FIFO has left it (None: not known yet)."""
        d = self.depth
        if k >= d:
            pop = w.p[i][k - d]
        else:
            before = w.before[i]
            if len(before) < d - k:
                return 0
            ref = before[len(before) - (d - k)]
            pop = _pop(ref)
            if pop is None:
                ref[0].dependents.append(w)
        return None if pop is None else pop + 1

    def _released(self, w: Worm, i: int, cycle: int) -> None:
        """`w`'s tail left the register of output `links[i]` in `cycle`: the next header
        can be granted then; flits waiting for room behind it can move."""
        link = w.links[i]
        if self.waiting.get(link):
            self._at(cycle, link)

    def _notify(self, w: Worm) -> None:
        free, done = w.free_cycle, w.done_cycle
        if free is not None and "free" not in w.notified:
            w.notified.add("free")
            if w.on_free is not None:
                w.on_free(w, free)
        if done is not None and "done" not in w.notified:
            w.notified.add("done")
            if w.on_done is not None:
                w.on_done(w, done)

