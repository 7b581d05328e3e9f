"""The mesh network of the system model: XY routes, wormhole links, and their arbitration.

Timing follows `nfcore.arch.noc` (the single source): XY routes (`noc.route`), a header takes
`noc.ROUTER_HOP_CYCLES` from one router's input to the next router's input, payload flits
follow one per cycle, and a packet is `1 + payload words` flits (`noc.packet_flits`).

The model is analytic per packet, not per flit, so that it costs no SimPy events: when a
packet is sent (at the current simulated cycle) its header is walked along its route and each
link it needs is reserved for the cycles the packet holds it. Links are the injection link
from the source (a core's local port, the host port, the DRAM port) into its router, and each
router output the route uses (the last one ejects into the destination core or the host).

For a packet of F flits sent at cycle t over h hops, with `a_i` the cycle its header reaches
the input of the i-th router and `d_i >= a_i` the cycle that router's output is granted:

* `a_0` = grant of the injection link (>= t); `a_{i+1} = d_i + ROUTER_HOP_CYCLES`;
* its header is offered on the destination's ejection port at `d_h + EJECT_CYCLES`
  (`Delivery.header_cycle`), the cycle the RTL's destination router presents it;
* the packet is delivered (its tail handed over and written at the destination) at
  `d_h + EJECT_CYCLES + F - 1`, one flit per cycle after the header;
* with no contention the header is offered at `t + noc.header_latency_cycles(src, dst)`
  (`h * ROUTER_HOP_CYCLES + EJECT_CYCLES`, the RTL contract) and the tail `F - 1` later;
* wormhole: flit k of a packet passes link i at `d_i + k` and reaches the next router's input
  `ROUTER_HOP_CYCLES` later; a header that waits for an output stops every flit behind it in
  the same cycle (the `ROUTER_HOP_CYCLES` registers of a hop hold one flit each and there is
  no other buffer, so a worm does not compress). So link i is held from its grant until the
  tail has passed it: `F` cycles plus every stall of the header at a later output it reached
  less than `F` cycles of travel after link i (a stall further on finds the tail already
  past link i).

Arbitration (`LinkArbiter`) grants a link to packets in the order they are sent, at the
earliest cycle at or after the header's arrival at which the link is free for the packet's
hold time. The router RTL instead grants an output to the headers waiting for it in that
cycle by round robin, compresses stalled worms into its input FIFOs, and holds a packet at
its destination until taken; `nfcore.sim.net.worm` computes those rules per packet
(exact against the RTL, and slower), and `nfcore.sim.net.check` measures how far this model
is from them on a run's packets (`tests/sim/test_net_check.py`, on host traffic).
`tests/sim/flit_reference.py` steps this model's own semantics cycle by cycle with
arrival-order arbitration; the tests bound the difference.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from dataclasses import dataclass

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.errors import NFCoreError

PRUNE_AT = 32
"""Intervals kept per link before those that ended in the past are dropped."""


class NetworkError(NFCoreError):
    """A packet was asked for that the mesh cannot carry (endpoint off the mesh, to DRAM)."""


class LinkArbiter:
    """Reservations of every link: sorted, disjoint `[start, end)` cycle intervals.

    Packets are granted in the order they ask (callers ask in simulated-time order), each at
    the first cycle at or after its request at which the link is free for its hold time.
    """

    def __init__(self, n_links: int) -> None:
        self.starts: list[list[int]] = [[] for _ in range(n_links)]
        self.ends: list[list[int]] = [[] for _ in range(n_links)]

    def earliest(self, link: int, t: int, hold: int) -> int:
        """First cycle `s >= t` such that `[s, s + hold)` overlaps no reservation."""
        ends = self.ends[link]
        if not ends or t >= ends[-1]:
            return t
        starts = self.starts[link]
        k = bisect_right(ends, t)
        s = t
        while k < len(ends):
            if s + hold <= starts[k]:
                return s
            s = max(s, ends[k])
            k += 1
        return s

    def blocker(self, link: int, start: int, end: int) -> int | None:
        """End of the first reservation overlapping `[start, end)`, or None if it is free."""
        ends = self.ends[link]
        k = bisect_right(ends, start)
        if k < len(ends) and self.starts[link][k] < end:
            return ends[k]
        return None

    def reserve(self, link: int, start: int, end: int, now: int) -> None:
        """Reserve `[start, end)` (free, by `blocker`); drop reservations that ended before
        `now` once the link holds more than `PRUNE_AT`."""
        starts, ends = self.starts[link], self.ends[link]
        if not ends or start >= ends[-1]:
            starts.append(start)
            ends.append(end)
        else:
            k = bisect_right(starts, start)
            insort(starts, start)
            ends.insert(k, end)
        if len(ends) > PRUNE_AT:
            self.prune(link, now)

    def prune(self, link: int, now: int) -> None:
        """Drop the reservations of `link` that ended at or before `now`: no request made
        from `now` on can reach back to them."""
        ends = self.ends[link]
        cut = bisect_right(ends, now)
        if cut:
            del self.starts[link][:cut]
            del ends[:cut]


@dataclass(frozen=True)
class Delivery:
    """One packet's trip. Cycles are absolute."""

    sent_cycle: int
    done_cycle: int
    """Cycle its tail is handed over (and written) at the destination: the ejection
    handshake of the last flit, `header_cycle + flits - 1`."""
    hops: int
    flits: int
    wait_cycles: int
    """`done_cycle` minus the no-contention delivery cycle."""
    header_cycle: int = 0
    """Cycle its header is first offered on the destination's ejection port; with no
    contention `sent_cycle + noc.header_latency_cycles(src, dst)`."""
    source_free_cycle: int = 0
    """Cycle from which the source can inject again: its injection link's hold ends. With
    no stall `sent_cycle + flits`; later when the worm stalled while its tail was still at
    the source (the sender stalls)."""
    link_grants: tuple[int, ...] = ()
    """Grant cycle of each link of its path (`Network.path`): injection, then each router
    output."""


class Network:
    """The mesh of `cfg.mesh` with the host and DRAM ports of `nfcore.arch.noc`.

    Endpoints are ints: core `y * cols + x`, then `host`, then `dram` (attributes).
    """

    def __init__(self, cfg: NFCoreConfig) -> None:
        self.rows, self.cols = cfg.mesh.rows, cfg.mesh.cols
        self.n_cores = self.rows * self.cols
        self.host = self.n_cores
        self.dram = self.n_cores + 1
        for name, (x, y) in (("HOST_ROUTER", noc.HOST_ROUTER), ("DRAM_ROUTER", noc.DRAM_ROUTER)):
            if not (0 <= x < self.cols and 0 <= y < self.rows):
                raise NetworkError(f"noc.{name} = {(x, y)} is off the {self.cols} x "
                                   f"{self.rows} mesh")
        self._inj_base = self.n_cores * len(noc.Port)
        self.arbiter = LinkArbiter(self._inj_base + self.n_cores + 2)
        self._paths: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._path_flits: dict[tuple[int, int], int] = {}
        self.packets = 0
        self.hops_total = 0
        self.flit_hops = 0
        self.waited_packets = 0
        self.wait_cycles = 0
        self.trace: list[tuple[int, int, int, int]] | None = None
        """When a list, `send` appends (now, src, dst, flits) of every packet (for
        `nfcore.sim.net.check`)."""

    def core(self, xy: tuple[int, int]) -> int:
        x, y = xy
        if not (0 <= x < self.cols and 0 <= y < self.rows):
            raise NetworkError(f"core {xy} is off the {self.cols} x {self.rows} mesh")
        return y * self.cols + x

    def router_of(self, endpoint: int) -> tuple[int, int]:
        if endpoint == self.host:
            return noc.HOST_ROUTER
        if endpoint == self.dram:
            return noc.DRAM_ROUTER
        return endpoint % self.cols, endpoint // self.cols

    def hops(self, src: int, dst: int) -> int:
        return noc.hops(self.router_of(src), self.router_of(dst))

    def path(self, src: int, dst: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(links, routers) of the route from `src` to `dst`: the injection link then one
        router output per router visited (the last ejects), and those routers' indices."""
        key = (src, dst)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        x, y = self.router_of(src)
        dx, dy = self.router_of(dst)
        # Read requests leave through the DRAM port (XY to its router, as `noc.route`).
        eject = noc.HOST_PORT if dst == self.host else \
            noc.DRAM_PORT if dst == self.dram else noc.Port.LOCAL
        links = [self._inj_base + src]
        routers = []
        while True:
            port = noc.route(x, y, dx, dy)
            r = y * self.cols + x
            routers.append(r)
            if port is noc.Port.LOCAL:
                links.append(r * len(noc.Port) + int(eject))
                break
            links.append(r * len(noc.Port) + int(port))
            x += (port is noc.Port.EAST) - (port is noc.Port.WEST)
            y += (port is noc.Port.SOUTH) - (port is noc.Port.NORTH)
        cached = (tuple(links), tuple(routers))
        self._paths[key] = cached
        return cached

    def send(self, src: int, dst: int, flits: int, now: int) -> Delivery:
        """Send a packet of `flits` flits from `src` to `dst` at cycle `now`; reserve the
        links it holds and return when it is delivered. Calls must come in time order."""
        if self.trace is not None:
            self.trace.append((now, src, dst, flits))
        key = (src, dst)
        cached = self._paths.get(key)
        links, routers = cached if cached is not None else self.path(src, dst)
        grants, inject_end = self._walk(links, flits, now, {})
        n_hops = len(routers) - 1
        header = grants[-1] + noc.EJECT_CYCLES
        done = header + flits - 1
        wait = done - (now + n_hops * noc.ROUTER_HOP_CYCLES + noc.EJECT_CYCLES + flits - 1)
        self._path_flits[key] = self._path_flits.get(key, 0) + flits
        self.packets += 1
        self.hops_total += n_hops
        self.flit_hops += flits * n_hops
        if wait:
            self.waited_packets += 1
            self.wait_cycles += wait
        return Delivery(now, done, n_hops, flits, wait, header, inject_end, tuple(grants))

    def count(self, src: int, dst: int, flits: int) -> None:
        """Count a packet in the statistics (`send` does; other timing models of these
        links, such as `worm`, call it)."""
        key = (src, dst)
        n_hops = len(self.path(src, dst)[1]) - 1
        self._path_flits[key] = self._path_flits.get(key, 0) + flits
        self.packets += 1
        self.hops_total += n_hops
        self.flit_hops += flits * n_hops

    def _walk(self, links: tuple[int, ...], flits: int, now: int,
              floor: dict[int, int]) -> tuple[list[int], int]:
        """Walk the header along `links`, reserve what the packet holds; return the grants
        and the end of the injection link's hold.

        The injection link (`links[0]`) feeds its router's input with no hop latency, so the
        first router output is requested in the cycle the injection link is granted. A link
        is held for `flits` cycles plus every stall the header suffers further on
        (wormhole); if that longer hold overlaps a later reservation, the walk is retried
        with the link's grant floored at that reservation's end (`floor`).
        """
        arb = self.arbiter
        ends_all, earliest = arb.ends, arb.earliest
        hop = noc.ROUTER_HOP_CYCLES
        grants = []
        stalled = False
        t = now
        for i, link in enumerate(links):
            if floor:
                t = max(t, floor.get(link, t))
            ends = ends_all[link]
            if ends and t < ends[-1]:
                g = earliest(link, t, flits)
                if g != t:
                    stalled = True
                    t = g
            grants.append(t)
            if i:
                t += hop
        if not stalled:  # the common case: every hold is `flits` and was checked free
            starts_all = arb.starts
            for link, g in zip(links, grants, strict=True):
                ends = ends_all[link]
                if not ends or g >= ends[-1]:
                    starts_all[link].append(g)
                    ends.append(g + flits)
                    if len(ends) > PRUNE_AT:
                        arb.prune(link, now)
                else:
                    arb.reserve(link, g, g + flits, now)
            return grants, grants[0] + flits
        # Stalls: how long the header waited at each router output after reaching it (the
        # previous grant, plus a hop after a router). Link i is held for `flits` cycles plus
        # the stalls at links j > i that the header reached less than `flits` positions
        # (cycles of travel) after link i: flits behind the header stop when it stops, and
        # the tail is still upstream of link i only if the packet is longer than that.
        n = len(links)
        prefix = [0] * (n + 1)  # prefix[k] = sum of the stalls at links 0 .. k-1
        for j in range(1, n):
            prefix[j + 1] = prefix[j] + grants[j] - grants[j - 1] - (hop if j > 1 else 0)
        reach = -(-flits // hop)  # links within `flits` positions after a router output
        holds = [flits + prefix[min(n, max(i, 1) + reach)] - prefix[i + 1] for i in range(n)]
        for link, start, held in zip(links, grants, holds, strict=True):
            if held > flits:
                end = arb.blocker(link, start, start + held)
                if end is not None:
                    return self._walk(links, flits, now, {**floor, link: end})
        for link, start, held in zip(links, grants, holds, strict=True):
            arb.reserve(link, start, start + held, now)
        return grants, grants[0] + holds[0]

    @property
    def router_flits(self) -> list[int]:
        """Flits that passed through each router (row-major), for the activity heatmap."""
        out = [0] * self.n_cores
        for key, flits in self._path_flits.items():
            for r in self._paths[key][1]:
                out[r] += flits
        return out


def source_queues(packets: list[tuple[int, int, int, int]]
                  ) -> tuple[dict[int, list[int]], list[tuple[int, int, int]]]:
    """For sending packets (ready cycle, src, dst, flits) in list order per source: each
    source's packet indices, and a heap of (ready cycle, source, 0) of each source's first
    packet (the position in its queue is the third item)."""
    queue: dict[int, list[int]] = {}
    for i, p in enumerate(packets):
        queue.setdefault(p[1], []).append(i)
    heap = [(packets[q[0]][0], s, 0) for s, q in queue.items()]
    heapq.heapify(heap)
    return queue, heap


def send_in_order(net: Network, packets: list[tuple[int, int, int, int]]) -> list[int]:
    """Tail cycle (`Delivery.done_cycle`) of each packet (ready cycle, src, dst, flits),
    each source sending its packets one after the other in list order (the next once the
    previous has left it), all in simulated-time order. For comparisons with
    `worm.send_in_order` on the same traffic."""
    queue, heap = source_queues(packets)
    done = [0] * len(packets)
    while heap:
        t, s, j = heapq.heappop(heap)
        i = queue[s][j]
        d = net.send(s, packets[i][2], packets[i][3], t)
        done[i] = d.done_cycle
        if j + 1 < len(queue[s]):
            heapq.heappush(heap, (max(packets[queue[s][j + 1]][0], d.source_free_cycle),
                                  s, j + 1))
    return done
