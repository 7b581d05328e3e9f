"""The system model: latency by the contract with no contention and the exact host-port
model's under contention, DRAM paging and queueing, power states, and the agreement of its
program cycles with the golden model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sim_workloads import SMALL, golden_runs, random_workload

from nfcore.arch import isa, noc
from nfcore.config import NFCoreConfig
from nfcore.sim.core import SimError
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SYSTEM_COMPONENTS, SystemEnergies
from nfcore.sim.net.dispatch import HostRequest, TreeCall, run_timed_requests
from nfcore.sim.system.dram import DramChannel
from nfcore.sim.system.model import BYTE_KINDS, ByteTally, EnergyTally, simulate_system
from nfcore.sim.system.workload import (
    SystemWorkload,
    WorkloadError,
    mlp_program,
    tree_from_program,
)

HOP = noc.ROUTER_HOP_CYCLES
EJECT = noc.EJECT_CYCLES
TABLE = EnergyTable.load("horowitz_45nm")


def _cfg(**power: Any) -> NFCoreConfig:
    return NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}, "power": power})


def _tree(tid: int, xy: tuple[int, int], dims: list[int], resident: bool = True) -> Any:
    return tree_from_program(tid, xy, mlp_program(dims, 8), 8, input_bytes=dims[0],
                             output_bytes=dims[-1], resident=resident)


def test_tallies_have_a_field_per_component_and_byte_kind_in_report_order() -> None:
    assert tuple(EnergyTally().as_dict()) == SYSTEM_COMPONENTS
    assert tuple(ByteTally().as_dict()) == BYTE_KINDS
    a, b = EnergyTally(), EnergyTally(*(float(i + 1) for i in range(len(SYSTEM_COMPONENTS))))
    a.add(b)
    a.add(b)
    assert list(a.as_dict().values()) == [2.0 * (i + 1) for i in range(len(SYSTEM_COMPONENTS))]


def _alone(src: tuple[int, int], dst: tuple[int, int], nbytes: int) -> int:
    """A packet's header latency by the contract plus its flits."""
    return noc.header_latency_cycles(src, dst) + noc.packet_flits(nbytes, 8)


def test_no_contention_latency_is_hops_plus_serialization_plus_program() -> None:
    """One request, one tree on core (3, 2), served through the host port: RUN is taken in
    cycle 0, the host's input packet (20 bytes: 4 flits, 5 hops) is pushed from cycle 1 and
    taken by the program's first RECV; the program runs; its SEND pushes the output (4
    bytes: 2 flits) to the host after its ISSUE cycles. Latency = both packets' header
    latencies and flits + the program's cycles (the RECV's and SEND's ISSUE and the
    cycle from RUN to the first instruction take the place of the HALT's ISSUE). The core is
    busy from RUN to its `done`."""
    cfg = _cfg()
    tree = _tree(0, (3, 2), [20, 16, 4])
    program = sum(isa.cycles(i, 8) for i in mlp_program([20, 16, 4], 8))
    assert tree.program_cycles == program
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,),)), [0], TABLE)
    rec = res.records[0]
    assert noc.header_latency_cycles(noc.HOST, (3, 2)) == 5 * HOP + EJECT
    assert rec.latency_cycles == _alone(noc.HOST, (3, 2), 20) + program + _alone((3, 2),
                                                                                 noc.HOST, 4)
    busy = 1 + _alone(noc.HOST, (3, 2), 20) + program + isa.ISSUE_CYCLES + 2
    assert res.core_busy_cycles[2, 3] == busy and res.core_busy_cycles.sum() == busy
    assert rec.cores_woken == 0 and res.network["waited_packets"] == 0
    assert res.network["host_packets"] == res.network["packets"] == 2
    assert rec.bytes_moved["flit_hops"] == 4 * 5 + 2 * 5 == res.network["flit_hops"]
    e = SystemEnergies.of(cfg, TABLE)
    assert rec.energy_pj["network"] == pytest.approx(e.packet_pj(4, 5) + e.packet_pj(2, 5))
    assert rec.energy_pj["leakage"] == pytest.approx(busy * e.core.leakage_pj_per_cycle)
    assert rec.energy_pj["dram"] == 0 and rec.energy_pj["wakeup"] == 0
    assert rec.weight_bytes_touched == tree.weight_bytes
    assert res.plan == {"passes": 1, "converged": 1}


@pytest.mark.parametrize(("seed", "routed"), [(0, False), (1, False), (2, False), (3, True),
                                             (4, True)])
def test_latencies_are_the_exact_models_under_contention(seed: int, routed: bool) -> None:
    """Sixteen trees, 40 requests of three trees arriving close together (packets wait for
    cores and links): every request's end is the one `run_timed_requests` gives for the same
    requests (the host-port model the RTL replays), and the packets that waited are its;
    also with the on-chip router (on core (0, 0), beside a tree) called first."""
    cfg = _cfg(gate_after_idle_cycles=1 << 30)
    rng = np.random.default_rng(seed)
    trees = tuple(_tree(i, (i % 4, i // 4), [int(rng.integers(8, 64)), 16, 4])
                  for i in range(16))
    router = _tree(-1, (0, 0), [24, 16]) if routed else None
    reqs = tuple(tuple(int(t) for t in rng.choice(16, 3, replace=False)) for _ in range(40))
    arrivals = sorted(int(a) for a in rng.integers(0, 1500, 40))
    res = simulate_system(cfg, SystemWorkload(trees, reqs, router=router), arrivals, TABLE)

    def call(t: Any) -> TreeCall:
        return TreeCall(t.core_xy, 0, np.zeros((isa.words_for(t.input_bytes, 8), 8), np.uint8),
                        t.served_programs(8)[0][1])

    calls = [HostRequest(at, tuple(call(trees[t]) for t in sel),
                         None if router is None else call(router))
             for at, sel in zip(arrivals, reqs, strict=True)]
    outcomes, run = run_timed_requests(cfg, calls)
    assert [r.end_cycle for r in res.records] == [o.done_cycle for o in outcomes]
    assert res.network["waited_packets"] == run.host_packets_waited > 0


@pytest.mark.parametrize("seed", range(4))
def test_program_cycles_equal_the_golden_model(seed: int) -> None:
    """A tree's cycles come from its program by the contract, as the golden model counts."""
    rng = np.random.default_rng(seed)
    wl = random_workload(rng)
    program = [isa.decode(w) for w in wl.program]
    tree = tree_from_program(0, (0, 0), program, 8, wl.input_len, wl.output_len)
    x = [rng.integers(-128, 128, size=wl.input_len).astype(np.int8)]
    assert tree.program_cycles == golden_runs(SMALL, wl, x)[0][1]
    assert tree.instr_cycles == tuple(isa.cycles(i, 8) for i in program)


def test_requests_to_one_core_queue_fifo() -> None:
    """Two requests for the same tree at cycle 0: the second RUN is taken the cycle after
    the first run's `done`, and only then does the host send its input: it ends one busy
    run after the first."""
    cfg = _cfg()
    tree = _tree(0, (1, 0), [20, 16, 4])
    one = simulate_system(cfg, SystemWorkload((tree,), ((0,),)), [0], TABLE)
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,), (0,))), [0, 0], TABLE)
    first, second = res.records
    busy = int(one.core_busy_cycles.sum())
    assert first.end_cycle == one.records[0].end_cycle
    assert second.end_cycle == first.end_cycle + busy
    assert res.core_busy_cycles[0, 1] == 2 * busy


def test_paged_trees_load_from_dram_and_queue_on_the_channel() -> None:
    """Two paged trees on different cores, requested at cycle 0: each core's weights are
    paged from cycle 0 (the core is free), both reads are issued in the same cycle, so the
    second queues behind the first's transfer; the request packets and weight packets count
    in the traffic."""
    cfg = _cfg()
    trees = (_tree(0, (1, 0), [64, 64, 8], resident=False),
             _tree(1, (2, 0), [64, 64, 8], resident=False))
    res = simulate_system(cfg, SystemWorkload(trees, ((0, 1),)), [0], TABLE)
    rec = res.records[0]
    wb = trees[0].weight_bytes
    ch = DramChannel.of(cfg)
    assert res.dram["reads"] == 2 and res.dram["bytes"] == 2 * wb
    assert ch.transfer_cycles(wb) == 102
    assert rec.dram_queue_cycles == 102
    assert res.network["packets"] == 4 + 2 * 2
    e = SystemEnergies.of(cfg, TABLE)
    assert rec.energy_pj["dram"] == pytest.approx(2 * wb * e.dram_pj_per_byte)
    assert rec.bytes_moved["dram"] == 2 * wb
    # A second request for the same trees finds their weights on the cores: no DRAM.
    res2 = simulate_system(cfg, SystemWorkload(trees, ((0, 1), (0, 1))), [0, 100_000], TABLE)
    assert res2.records[1].bytes_moved["dram"] == 0 and res2.dram["reads"] == 2


def test_power_states_wake_up_and_accounting() -> None:
    """gate_after 100, wake 20: request 0 at 0 finds the core idle; request 1 at 10,000
    finds it gated (since last end + 100) and waits 20 cycles more, paying one wake-up."""
    cfg = _cfg(gate_after_idle_cycles=100, wake_up_cycles=20)
    tree = _tree(0, (0, 0), [16, 8])
    p = tree.program_cycles
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,), (0,))), [0, 10_000], TABLE)
    r0, r1 = res.records
    assert r0.cores_woken == 0 and r1.cores_woken == 1
    assert r1.latency_cycles == r0.latency_cycles + 20
    e = SystemEnergies.of(cfg, TABLE)
    assert r1.energy_pj["wakeup"] == pytest.approx(e.wakeup_pj)
    # One core with a tree, 15 without. Each run holds it `busy` cycles (RUN to `done`),
    # request 1's 20 more (waking). Gated from 100 cycles after run 0's `done` + 1 to
    # request 1's arrival; idle the rest of the span.
    busy = (r0.energy_pj["leakage"] / e.core.leakage_pj_per_cycle)
    assert busy == pytest.approx(round(busy)) and round(busy) > p
    busy = round(busy)
    assert r1.energy_pj["leakage"] == pytest.approx((busy + 20) * e.core.leakage_pj_per_cycle)
    span = res.span_cycles
    gated = 10_000 - (busy + 100)
    assert res.power_cycles == {"active": 2 * busy + 20, "gated": gated,
                                "idle": span - (2 * busy + 20) - gated, "off": 15 * span}
    assert res.wakes == 1
    assert res.idle_leakage_pj == pytest.approx(
        res.power_cycles["idle"] * e.core.leakage_pj_per_cycle
        + gated * e.gated_leakage_pj_per_cycle)
    assert res.idle_silicon_fraction == pytest.approx(1 - (2 * busy + 20) / (16 * span))


def test_gating_without_retention_reloads_weights() -> None:
    cfg = _cfg(gate_after_idle_cycles=100, gated_retains_sram=False)
    tree = _tree(0, (1, 1), [16, 8])
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,), (0,))), [0, 10_000], TABLE)
    assert res.records[0].bytes_moved["dram"] == 0
    assert res.records[1].bytes_moved["dram"] == tree.weight_bytes
    assert SystemEnergies.of(cfg, TABLE).gated_leakage_pj_per_cycle == 0.0


def test_idle_silicon_series_integrates_to_the_fraction() -> None:
    cfg = _cfg()
    trees = tuple(_tree(i, (i % 4, i // 4), [32, 16, 4]) for i in range(16))
    rng = np.random.default_rng(0)
    reqs = tuple(tuple(int(t) for t in rng.choice(16, 3, replace=False)) for _ in range(50))
    res = simulate_system(cfg, SystemWorkload(trees, reqs), list(range(0, 5000, 100)), TABLE)
    t, idle = res.idle_silicon_series(bins=50)
    assert len(t) == 50 and np.all((idle >= 0) & (idle <= 1))
    assert float(np.mean(idle)) == pytest.approx(res.idle_silicon_fraction)


def test_bad_arrivals_are_refused() -> None:
    tree = _tree(0, (0, 0), [16, 8])
    wl = SystemWorkload((tree,), ((0,), (0,)))
    with pytest.raises(SimError, match="2 requests"):
        simulate_system(_cfg(), wl, [0], TABLE)
    with pytest.raises(SimError, match="non-decreasing"):
        simulate_system(_cfg(), wl, [5, 1], TABLE)


def test_the_on_chip_router_runs_first_and_is_charged_as_router() -> None:
    """With the router on the chip, a lone request's trees start `host.decision_cycles`
    after the router's scores reached the host, so its latency is the router's alone plus
    that plus the trees' alone; the router's whole cost is the `router` component, and the
    trees' components are what they cost without it."""
    cfg = _cfg()
    router = _tree(0, (0, 0), [24, 12])
    trees = (_tree(0, (3, 2), [20, 16, 4]), _tree(1, (1, 3), [20, 8, 4]))
    alone = simulate_system(cfg, SystemWorkload((router,), ((0,),)), [0], TABLE).records[0]
    plain = simulate_system(cfg, SystemWorkload(trees, ((0, 1),)), [0], TABLE).records[0]
    routed = simulate_system(cfg, SystemWorkload(trees, ((0, 1),), router=router), [0],
                             TABLE).records[0]
    assert routed.latency_cycles == alone.latency_cycles + cfg.host.decision_cycles + \
        plain.latency_cycles
    assert routed.energy_pj["router"] == pytest.approx(alone.energy_pj_total)
    assert alone.energy_pj["router"] == 0
    for c in SYSTEM_COMPONENTS[:-1]:
        assert routed.energy_pj[c] == pytest.approx(plain.energy_pj[c]), c
    assert routed.weight_bytes_touched == plain.weight_bytes_touched + router.weight_bytes


def test_a_paged_router_is_refused() -> None:
    router = _tree(0, (0, 0), [24, 12], resident=False)
    wl = SystemWorkload((_tree(0, (3, 2), [20, 16, 4]),), ((0,),), router=router)
    with pytest.raises(WorkloadError, match="the router must be resident on one core"):
        simulate_system(_cfg(), wl, [0], TABLE)


@pytest.mark.parametrize("retains", [True, False])
def test_a_routed_tree_wakes_and_pages_its_core_after_the_routers_result(retains: bool
                                                                          ) -> None:
    """gate_after 1,000, wake 20, a paged tree: at cycle 10,000 the router's core and the
    tree's are gated (at cycle 0 neither: both start idle). The router wakes and runs; only
    `host.decision_cycles` after its result does the host present the tree's RUN, which
    wakes its core and (the first time, or without retention) pages its weights: the routed
    request takes the router's time alone, the decision, and the tree's time alone, wake-up
    and paging included, and both wake-ups are charged (the router's to `router`)."""
    cfg = _cfg(gate_after_idle_cycles=1000, wake_up_cycles=20, gated_retains_sram=retains)
    router = _tree(0, (0, 0), [24, 12])
    tree = (_tree(0, (3, 2), [64, 64, 8], resident=False),)
    at, reqs = [0, 10_000], ((0,), (0,))
    alone = simulate_system(cfg, SystemWorkload((router,), reqs), at, TABLE)
    plain = simulate_system(cfg, SystemWorkload(tree, reqs), at, TABLE)
    routed = simulate_system(cfg, SystemWorkload(tree, reqs, router=router), at, TABLE)
    assert routed.plan["converged"] == 1
    for a, p, r in zip(alone.records, plain.records, routed.records, strict=True):
        assert r.latency_cycles == a.latency_cycles + cfg.host.decision_cycles + \
            p.latency_cycles
        assert r.cores_woken == a.cores_woken + p.cores_woken
        assert r.energy_pj["router"] == pytest.approx(a.energy_pj_total)
        for c in SYSTEM_COMPONENTS[:-1]:
            assert r.energy_pj[c] == pytest.approx(p.energy_pj[c]), c
    assert routed.records[1].cores_woken == 2
    # Without retention both cores lost their weights: the router's reload is the router's.
    assert routed.records[1].bytes_moved["dram"] == (
        0 if retains else tree[0].weight_bytes + router.weight_bytes)
