"""`nfcore.sim.net.worm`: the router RTL's rules computed per packet.

The scenarios of `sim_tests.tb.scenarios` are compared with the RTL in `test_array_agreement.py`;
here the model is checked at its interface (latency, round robin, the destination holding
its ejection port, FIFO room) and against the flit-level model (`nfcore.sim.net.flit`,
equal to the RTL) on random traffic that nobody tuned it on.
"""

from __future__ import annotations

import pytest

from nfcore.arch import noc
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.sim.net.array import run_array_model
from nfcore.sim.net.flit import run_array_flits
from nfcore.sim.net.topology import Network
from nfcore.sim.net.worm import WormNetwork
from sim_tests.tb.scenarios import CORE, Scenario, _random_dag, act_digest


def _mesh(rows: int = 4, cols: int = 4) -> tuple[Network, WormNetwork]:
    net = Network(NFCoreConfig(core=CORE, mesh=MeshConfig(rows=rows, cols=cols)))
    return net, WormNetwork(net)


def _run(wn: WormNetwork, until: int = 10_000) -> None:
    wn.advance(until)


def test_no_contention_latency_is_the_noc_contract() -> None:
    net, wn = _mesh()
    for src, dst, flits in (((0, 0), (3, 3), 4), ((2, 1), (0, 3), 1), ((1, 1), (1, 1), 7)):
        w = wn.send(net.core(src), net.core(dst), flits, 100)
        _run(wn)
        assert w.offer_cycle == 100 + noc.header_latency_cycles(src, dst)
        wn.take(w, w.offer_cycle)
        assert w.done_cycle == w.offer_cycle + flits - 1
        assert w.free_cycle == 100 + flits  # one flit per cycle, never held up


def test_round_robin_orders_headers_that_arrive_together() -> None:
    """Headers reach (1, 1)'s ejection port in one cycle from NORTH and from WEST. After
    reset (pointer WEST) NORTH goes first; after a packet from NORTH alone, WEST goes first
    (a fixed priority would pick the same input both times)."""
    net, wn = _mesh(2, 2)
    sink = net.core((1, 1))
    sources = {"north": (1, 0), "west": (0, 1)}
    firsts = []
    for rnd, senders in enumerate((("north", "west"), ("north",), ("north", "west"))):
        start = 10 + 50 * rnd
        worms = {p: wn.send(net.core(sources[p]), sink, 2, start) for p in senders}
        for _ in senders:  # the destination takes each packet as soon as it is offered
            _run(wn, start + 40)
            offered = [p for p, w in worms.items()
                       if w.offer_cycle is not None and w.taken_cycle is None]
            assert len(offered) == 1  # one packet holds the ejection port at a time
            if len(firsts) == rnd:
                firsts.append(offered[0])
            w = worms[offered[0]]
            assert w.offer_cycle is not None
            wn.take(w, w.offer_cycle)
        _run(wn, start + 40)
    assert firsts == ["north", "north", "west"]


def test_destination_holds_its_ejection_port_until_it_takes_the_tail() -> None:
    net, wn = _mesh(2, 2)
    a = wn.send(net.core((0, 0)), net.core((1, 1)), 3, 0)
    b = wn.send(net.core((1, 0)), net.core((1, 1)), 3, 0)
    _run(wn, 200)
    first, second = sorted((a, b), key=lambda w: w.offer_cycle or 10**9)
    assert first.offer_cycle is not None and second.offer_cycle is None  # one at a time
    wn.take(first, first.offer_cycle + 30)  # the RECV comes 30 cycles late
    _run(wn, 200)
    assert first.done_cycle == first.offer_cycle + 30 + 2
    assert second.offer_cycle == first.done_cycle + 1  # the register frees as the tail goes


@pytest.mark.parametrize("flits, stalls", [(5, False), (12, True)])
def test_sender_stalls_only_when_its_path_cannot_hold_the_packet(flits: int,
                                                                 stalls: bool) -> None:
    """A packet to a destination that does not take it: its sender finishes if the path
    (two routers, `2 * (ROUTER_FIFO_DEPTH + 1)` flits) holds it, else only once taken."""
    net, wn = _mesh(2, 2)
    w = wn.send(net.core((0, 0)), net.core((1, 0)), flits, 0)
    _run(wn, 100)
    fits = flits <= 2 * (noc.ROUTER_FIFO_DEPTH + 1)
    assert fits is not stalls
    assert (w.free_cycle is None) is stalls
    assert w.offer_cycle is not None
    wn.take(w, 60)
    _run(wn, 200)
    assert w.free_cycle is not None
    assert (w.free_cycle > flits) is stalls


@pytest.mark.parametrize("size, seeds", [(3, range(300, 310)), (4, range(300, 310))])
def test_array_model_equals_the_flit_model_on_random_traffic(size: int,
                                                             seeds: range) -> None:
    for seed in seeds:
        sc = Scenario("random", size, size, True, seed,
                      lambda r, s=size: _random_dag(r, s, s), "")
        model_states, flit_states = sc.states(), sc.states()
        model = run_array_model(sc.config, model_states)
        flits = run_array_flits(sc.config, flit_states)
        assert model.cycles == flits.cycles, f"seed {seed}"
        assert all(act_digest(model_states[c].act) == act_digest(flit_states[c].act)
                   for c in model_states), f"seed {seed}: scratchpads"
