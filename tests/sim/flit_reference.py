"""A cycle-by-cycle reference for the network model (`nfcore.sim.net.oneshot`), for tests.

It steps every cycle and moves each packet's header one position per cycle, so it knows
nothing of reservations. Semantics (the ones `nfcore.sim.net.oneshot` documents): a header
requests the next link when it reaches it (the injection link, then the source router's
output in the same cycle, then each later output `ROUTER_HOP_CYCLES` after the previous
grant); a free link is granted to the oldest requester (earliest send, then lowest index);
a waiting header stops the whole worm; a link is released when the header has travelled
`flits` positions past it; a packet is delivered `EJECT_CYCLES - 1` cycles after the header
has travelled `flits` positions past its last link (the tail's ejection handshake, as
`Delivery.done_cycle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nfcore.arch import noc
from nfcore.sim.net.oneshot import Network


@dataclass
class _Packet:
    index: int
    links: tuple[int, ...]
    flits: int
    send: int
    k: int = 0
    """Next link to request; len(links) once all are granted."""
    ready_at: int = 0
    travelled: int = 0
    held: list[tuple[int, int]] = field(default_factory=list)
    """(link, travel at grant)."""
    done: int | None = None


def deliver(net: Network, packets: list[tuple[int, int, int, int]]) -> list[int]:
    """Delivery cycle of each (src, dst, flits, send_cycle), by stepping every cycle."""
    hop = noc.ROUTER_HOP_CYCLES
    state = [_Packet(i, net.path(s, d)[0], f, t, ready_at=t)
             for i, (s, d, f, t) in enumerate(packets)]
    owner: dict[int, int] = {}
    t = min(p.send for p in state)
    while any(p.done is None for p in state):
        active = [p for p in state if p.send <= t and p.done is None]
        for p in active:  # releases
            keep = []
            for link, at in p.held:
                if p.travelled >= at + p.flits:
                    del owner[link]
                else:
                    keep.append((link, at))
            p.held = keep
        granted: set[int] = set()
        changed = True
        while changed:  # a grant of the injection link lets the next request go this cycle
            changed = False
            waiting = sorted((p for p in active if p.k < len(p.links) and p.ready_at <= t),
                             key=lambda p: (p.send, p.index))
            for p in waiting:
                link = p.links[p.k]
                if link in owner:
                    continue
                owner[link] = p.index
                p.held.append((link, p.travelled))
                granted.add(p.index)
                p.k += 1
                p.ready_at = t if p.k == 1 else t + hop
                changed = True
        for p in active:  # movement at the end of the cycle
            waiting_now = p.k < len(p.links) and p.ready_at <= t
            if not waiting_now:
                p.travelled += 1
            # All links granted: the last one is held until the tail has passed it.
            if p.k == len(p.links) and p.travelled >= p.held[-1][1] + p.flits:
                # The tail leaves the last link at t + 1; it is handed over in the
                # destination router's ejection stage, EJECT_CYCLES - 1 later.
                p.done = t + noc.EJECT_CYCLES
                for link, _ in p.held:
                    del owner[link]
                p.held = []
        t += 1
    return [p.done for p in state if p.done is not None]
