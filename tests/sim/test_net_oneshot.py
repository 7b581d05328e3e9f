"""The mesh network model: XY routes, zero-load latency, serialization and wormhole holds,
against hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.sim.net.oneshot import LinkArbiter, Network, NetworkError

HOP = noc.ROUTER_HOP_CYCLES
EJECT = noc.EJECT_CYCLES


def _net(rows: int, cols: int) -> Network:
    return Network(NFCoreConfig.from_dict({"mesh": {"rows": rows, "cols": cols}}))


def test_route_follows_noc_xy_and_ejects_at_the_right_port() -> None:
    net = _net(4, 4)
    core = net.core((3, 2))
    links, routers = net.path(net.host, core)
    # XY: along row 0 to column 3, then down column 3 to row 2.
    assert routers == (0, 1, 2, 3, 7, 11)
    ports = [link % len(noc.Port) for link in links[1:]]
    assert ports == [noc.Port.EAST] * 3 + [noc.Port.SOUTH] * 2 + [noc.Port.LOCAL]
    back_links, back_routers = net.path(core, net.host)
    assert back_routers == (11, 10, 9, 8, 4, 0)
    assert back_links[-1] % len(noc.Port) == noc.HOST_PORT
    assert net.hops(net.host, core) == 5
    # Read requests to the DRAM port: XY to router (0, 0), out of its west edge.
    dram_links, dram_routers = net.path(core, net.dram)
    assert dram_routers == back_routers
    assert dram_links[-1] % len(noc.Port) == noc.DRAM_PORT
    assert net.hops(net.host, net.dram) == 0
    with pytest.raises(NetworkError, match="off the 4 x 4 mesh"):
        net.core((4, 0))


@pytest.mark.parametrize("seed", range(3))
def test_no_contention_latency_is_hops_times_hop_cycles_plus_flits(seed: int) -> None:
    """Packets far apart in time never meet: the header is offered at sent +
    noc.header_latency_cycles (hops * ROUTER_HOP_CYCLES + EJECT_CYCLES, the RTL contract)
    and the tail is handed over flits - 1 cycles later."""
    rng = np.random.default_rng(seed)
    net = _net(6, 5)
    t = 0
    for _ in range(50):
        src, dst = (int(v) for v in rng.integers(0, net.n_cores, size=2))
        flits = int(rng.integers(1, 40))
        d = net.send(src, dst, flits, t)
        hops = noc.hops((src % 5, src // 5), (dst % 5, dst // 5))
        assert d.hops == hops
        assert d.header_cycle == t + noc.header_latency_cycles((src % 5, src // 5),
                                                               (dst % 5, dst // 5))
        assert d.done_cycle == d.header_cycle + flits - 1 == t + hops * HOP + EJECT + flits - 1
        assert d.source_free_cycle == t + flits
        assert d.wait_cycles == 0
        t = d.done_cycle + 1
    assert net.waited_packets == 0


def test_two_packets_sharing_a_link_the_second_waits_the_serialization_time() -> None:
    """Host -> core (3, 2) twice at cycle 0, 5 flits each: the first takes 5 hops * 2 + 5 =
    15 cycles; the second gets the host port when the first's 5 flits have passed, so it is
    delivered exactly 5 cycles later, at 20, and waited 5."""
    net = _net(4, 4)
    core = net.core((3, 2))
    first = net.send(net.host, core, 5, 0)
    second = net.send(net.host, core, 5, 0)
    assert (first.done_cycle, first.wait_cycles) == (16, 0)
    assert (second.done_cycle, second.wait_cycles) == (21, 5)


def test_wormhole_stall_holds_upstream_links() -> None:
    """A 1 x 4 mesh (x = 0..3), all packets to the host at router 0's west port.

    P1: core 2, 10 flits, at 0. Outputs granted: router 2 at 0, router 1 at 2, router 0 at
    4; done 4 + 2 + 10 - 1 = 15. It holds router 2's west output [0, 10), router 1's [2, 12),
    router 0's host port [4, 14).
    P2: core 3, 4 flits, at 0. Router 3 at 0; reaches router 2 at 2 but waits for P1 until
    10 (stall 8); router 1 at 12 (free at 12), router 0 at 14 (free at 14); done 19. Its
    header stalled 8 cycles after leaving router 3, so router 3's west output and core 3's
    injection link are held 4 + 8 = 12 cycles: [0, 12).
    P3: core 3, 2 flits, at 1. Injection link free at 12; router 3 at 12; router 2 at 14
    (P2 held [10, 14)); router 1 at 16 ([12, 16)); router 0 at 18 ([14, 18)); done 21.
    No contention would give 1 + 3 * 2 + 2 + 2 - 1 = 10: it waited 11.
    """
    net = _net(1, 4)
    p1 = net.send(net.core((2, 0)), net.host, 10, 0)
    p2 = net.send(net.core((3, 0)), net.host, 4, 0)
    p3 = net.send(net.core((3, 0)), net.host, 2, 1)
    assert p1.done_cycle == 15 and p1.wait_cycles == 0
    assert p2.done_cycle == 19 and p2.wait_cycles == 19 - (0 + 3 * HOP + EJECT + 4 - 1)
    assert p3.done_cycle == 21 and p3.wait_cycles == 11
    assert p2.source_free_cycle == 12  # core 3 stalled 8 cycles on its 4-flit packet
    assert net.waited_packets == 2 and net.wait_cycles == 8 + 11
    inj3 = net.n_cores * len(noc.Port) + net.core((3, 0))
    assert net.arbiter.starts[inj3][:1] == [0] and net.arbiter.ends[inj3][:1] == [12]


def test_a_later_packet_uses_an_earlier_gap() -> None:
    arb = LinkArbiter(1)
    arb.reserve(0, 10, 20, now=0)
    assert arb.earliest(0, 0, 10) == 0     # fits before the reservation
    assert arb.earliest(0, 0, 11) == 20    # does not: waits for its end
    assert arb.earliest(0, 15, 1) == 20
    arb.reserve(0, 0, 10, now=0)
    assert arb.starts[0] == [0, 10] and arb.ends[0] == [10, 20]
    assert arb.blocker(0, 5, 12) == 10
    assert arb.blocker(0, 20, 30) is None


def test_router_flits_count_every_router_on_the_path() -> None:
    net = _net(2, 3)
    net.send(net.host, net.core((2, 1)), 4, 0)   # routers 0, 1, 2, 5
    net.send(net.dram, net.core((0, 1)), 3, 100)  # routers 0, 3
    flits = net.router_flits
    assert flits == [7, 4, 4, 3, 0, 4]
    assert net.flit_hops == 4 * 3 + 3 * 1 and net.packets == 2


def test_a_short_worm_frees_links_its_tail_has_passed() -> None:
    """A 1 x 6 mesh. P1: core 1 -> host, 10 flits at 0: holds router 1's west output
    [0, 10) and the host port [2, 12).
    P2: core 5 -> host, 2 flits at 0: outputs of routers 5, 4, 3, 2 at 0, 2, 4, 6; reaches
    router 1 at 8 and waits for P1 until 10 (stall 2); host port at 12; done 15. Its 2 flits
    passed router 3's output at 4 and 5, long before the stall (8 cycles of travel later),
    so that output is free from 6; router 2's (2 cycles before the stall, not less than 2
    flits) from 8.
    P3: core 3 -> core 2, 2 flits at 7: router 3's west output is free, router 2's local
    output too (at 9): no wait, done 7 + 2 + 2 + 2 - 1 = 12."""
    net = _net(1, 6)
    p1 = net.send(net.core((1, 0)), net.host, 10, 0)
    p2 = net.send(net.core((5, 0)), net.host, 2, 0)
    p3 = net.send(net.core((3, 0)), net.core((2, 0)), 2, 7)
    assert p1.done_cycle == 13
    assert p2.done_cycle == 15 and p2.wait_cycles == 15 - (0 + 5 * HOP + EJECT + 2 - 1)
    assert p3.done_cycle == 12 and p3.wait_cycles == 0
