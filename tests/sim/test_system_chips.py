"""Chips joined by links (`nfcore.sim.system.link`, `nfcore.sim.system.chips`): a link's
bandwidth and latency exactly, its queue under load, and a request that crosses chips timed
as the one-chip model plus the links on both ways."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nfcore.arch import noc
from nfcore.config import ChipsConfig, LinkConfig, MeshConfig, NFCoreConfig
from nfcore.flows.chips import simulate
from nfcore.sim.system.chips import LINK_COMPONENT, ChipsWorkload, simulate_chips
from nfcore.sim.system.link import ChipLink
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import SystemWorkload, mlp_program, tree_from_program

CLOCK_HZ = 500e6
SLOW = LinkConfig(bandwidth_gbps=8.0, latency_ns=100.0, energy_pj_per_bit=2.0)
"""16 bits per 500 MHz cycle, 50 cycles of latency."""


def test_a_message_holds_the_link_for_its_bits_and_arrives_after_the_latency() -> None:
    link = ChipLink(SLOW, CLOCK_HZ)
    t = link.send(ready_cycle=10, nbytes=100)  # 800 bits at 16 per cycle: 50 cycles
    assert (t.start_cycle, t.arrival_cycle, t.wait_cycles) == (10, 10 + 50 + 50, 0)
    assert t.energy_pj == 100 * 8 * 2.0
    assert link.serialization_cycles(101) == 51  # a partial cycle is a whole one


def test_messages_ready_together_queue_one_behind_the_other() -> None:
    link = ChipLink(SLOW, CLOCK_HZ)
    arrivals = [link.send(0, 100).arrival_cycle for _ in range(4)]
    assert arrivals == [100, 150, 200, 250]
    assert link.summary()["wait_cycles"] == 50 + 100 + 150
    assert link.summary()["waited_messages"] == 3


@pytest.mark.parametrize("load", [0.3, 0.7])
def test_mean_wait_under_poisson_load_is_the_m_d_1_queue(load: float) -> None:
    link = ChipLink(SLOW, CLOCK_HZ)
    service = link.serialization_cycles(100)
    gaps = np.random.default_rng(1).exponential(service / load, size=40_000)
    waits = [link.send(int(t), 100).wait_cycles for t in np.cumsum(gaps)]
    expected = load * service / (2 * (1 - load))  # Pollaczek-Khinchine, deterministic service
    assert np.mean(waits) == pytest.approx(expected, rel=0.1)


def _two_chip_config(topology: str = "star", count: int = 2) -> NFCoreConfig:
    return dataclasses.replace(NFCoreConfig(), mesh=MeshConfig(rows=2, cols=2),
                               chips=ChipsConfig(count=count, topology=topology, link=SLOW))


def _forest(requests: tuple[tuple[int, ...], ...], n_trees: int) -> SystemWorkload:
    trees = tuple(tree_from_program(t, (t % 2, 0), mlp_program([32, 24, 8], 8), 8, 32, 8)
                  for t in range(n_trees))
    return SystemWorkload(trees, requests, name="two")


def test_a_request_on_the_far_chip_pays_the_link_both_ways() -> None:
    cfg = _two_chip_config()
    forest = _forest(((1,),), 2)
    spread = ChipsWorkload(forest, (0, 1), 2)
    run = simulate_chips(cfg, spread, [0])
    alone = simulate_system(cfg, spread.on_chip(1)[0], [0])
    link = ChipLink(SLOW, CLOCK_HZ)
    in_bytes = 8 * noc.packet_flits(32, 8)
    out_bytes = 8 * noc.packet_flits(8, 8)
    there = link.serialization_cycles(in_bytes) + link.latency_cycles
    back = link.serialization_cycles(out_bytes) + link.latency_cycles
    rec = run.records[0]
    assert rec.latency_cycles == there + alone.records[0].latency_cycles + back
    assert rec.energy_pj[LINK_COMPONENT] == (in_bytes + out_bytes) * 8 * 2.0
    assert rec.bytes_moved[LINK_COMPONENT] == in_bytes + out_bytes
    assert run.requests_per_chip == [0, 1] and run.crossing == 1


def test_a_chain_crosses_a_link_per_chip_and_a_star_one() -> None:
    forest = _forest(((2,),), 3)
    lat = {}
    for topology in ("star", "chain"):
        cfg = _two_chip_config(topology, count=3)
        run = simulate_chips(cfg, ChipsWorkload(forest, (0, 1, 2), 3), [0])
        lat[topology] = run.records[0].latency_cycles
        assert sum(lk.messages for lk in run.links.values()) == (2 if topology == "star" else 4)
    link = ChipLink(SLOW, CLOCK_HZ)
    hop = (link.serialization_cycles(8 * noc.packet_flits(32, 8))
           + link.serialization_cycles(8 * noc.packet_flits(8, 8)) + 2 * link.latency_cycles)
    assert lat["chain"] - lat["star"] == hop


def test_one_chip_runs_the_one_chip_model_and_has_no_chips_section() -> None:
    forest = _forest(((0, 1), (1,)), 2)
    cfg = dataclasses.replace(NFCoreConfig(), mesh=MeshConfig(rows=2, cols=2))
    result, chips = simulate(cfg, forest, [0, 100])
    assert chips is None
    assert [r.latency_cycles for r in result.records] == \
        [r.latency_cycles for r in simulate_system(cfg, forest, [0, 100]).records]


def test_two_chips_report_every_request_once_with_the_links_figures() -> None:
    cfg = _two_chip_config()
    # 4 trees of ~1 KiB on 4 cores of 64 KiB fit one chip: popularity puts the two hottest
    # first, and all stay on chip 0, so nothing crosses.
    forest = dataclasses.replace(_forest(((0, 1), (2,), (3, 0)), 4),
                                 popularity=(0.4, 0.3, 0.2, 0.1))
    result, chips = simulate(cfg, forest, [0, 50, 100])
    assert chips is not None and chips["trees_per_chip"] == [4, 0]
    assert chips["requests_crossing"] == 0 and chips["per_request"]["link_bytes"] == 0
    assert [r.request_id for r in result.records] == [0, 1, 2]
    assert result.core_busy_cycles.shape == (4, 2)  # chips stacked along the rows
