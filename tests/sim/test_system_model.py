"""The system model: cycle-exact latency with no contention, DRAM paging and queueing,
power states, and the agreement of its program cycles with the golden model."""

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


def test_no_contention_latency_is_hops_plus_serialization_plus_program() -> None:
    """One request, one tree on core (3, 2): the host's input (20 bytes: 1 + 3 = 4 flits)
    crosses 5 hops, the program runs, the output (4 bytes: 2 flits) crosses 5 hops back:
    latency = (5 * 2 + 2 + 4 - 1) + program + (5 * 2 + 2 + 2 - 1): per packet the header
    latency of the contract, then the flits. No wake (the core has been idle 0 cycles)."""
    cfg = _cfg()
    tree = _tree(0, (3, 2), [20, 16, 4])
    program = sum(isa.cycles(i, 8) for i in mlp_program([20, 16, 4], 8))
    assert tree.program_cycles == program
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,),)), [0], TABLE)
    rec = res.records[0]
    assert rec.latency_cycles == 5 * HOP + EJECT + 3 + program + 5 * HOP + EJECT + 1
    assert rec.network_wait_cycles == 0 and rec.cores_woken == 0
    assert rec.bytes_moved["flit_hops"] == 4 * 5 + 2 * 5
    e = SystemEnergies.of(cfg, TABLE)
    assert rec.energy_pj["network"] == pytest.approx(e.packet_pj(4, 5) + e.packet_pj(2, 5))
    assert rec.energy_pj["leakage"] == pytest.approx(program * e.core.leakage_pj_per_cycle)
    assert rec.energy_pj["dram"] == 0 and rec.energy_pj["wakeup"] == 0
    assert rec.weight_bytes_touched == tree.weight_bytes
    assert res.core_busy_cycles[2, 3] == program and res.core_busy_cycles.sum() == program


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
    """Two requests for the same tree at cycle 0: the second input packet waits 4 cycles on
    the host port (4 flits), then waits for the core until the first program ends."""
    cfg = _cfg()
    tree = _tree(0, (1, 0), [20, 16, 4])
    p = tree.program_cycles
    res = simulate_system(cfg, SystemWorkload((tree,), ((0,), (0,))), [0, 0], TABLE)
    first, second = res.records
    assert first.latency_cycles == HOP + EJECT + 3 + p + HOP + EJECT + 1
    # Second: input delivered at 4 + HOP + EJECT + 3 (before the first ends), runs at
    # HOP + EJECT + 3 + p.
    assert second.end_cycle == HOP + EJECT + 3 + 2 * p + HOP + EJECT + 1
    assert res.core_busy_cycles[0, 1] == 2 * p


def test_paged_trees_load_from_dram_and_queue_on_the_channel() -> None:
    """Two paged trees on different cores, requested at cycle 0: each needs its weights
    from DRAM; the second read queues behind the first's transfer."""
    cfg = _cfg()
    trees = (_tree(0, (1, 0), [64, 64, 8], resident=False),
             _tree(1, (2, 0), [64, 64, 8], resident=False))
    res = simulate_system(cfg, SystemWorkload(trees, ((0, 1),)), [0], TABLE)
    rec = res.records[0]
    wb = trees[0].weight_bytes
    ch = DramChannel.of(cfg)
    assert res.dram["reads"] == 2 and res.dram["bytes"] == 2 * wb
    # Inputs are 64 bytes = 9 flits. Tree 0's is written on core (1, 0) (1 hop) at
    # 2 + 2 + 8 = 12; tree 1's gets the host port at 9 and is written on core (2, 0) (2
    # hops) at 9 + 6 + 8 = 23. Each core then has the host send a read request (3 flits)
    # to the DRAM port (nfcore.sim.system.paging): tree 0's waits for the host port until 18 and
    # its tail reaches the DRAM port at 18 + 2 + 2 = 22, which issues the read; it holds
    # the channel for transfer_cycles(wb) = 102 cycles. Tree 1's request, sent at 23,
    # issues at 27 and waits until 22 + 102.
    assert ch.transfer_cycles(wb) == 102
    assert rec.dram_queue_cycles == 22 + 102 - 27
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
    assert r1.energy_pj["leakage"] == pytest.approx((p + 20) * e.core.leakage_pj_per_cycle)
    # One core with a tree, 15 without. Its cycles: active = 2p + 20; gated from end0 + 100
    # to the start of request 1's job, 10,000 + EJECT + 2 (its 16-byte input is 3 flits, 0
    # hops); idle = the rest of the span.
    span = res.span_cycles
    # The core finished before the 2-flit output packet (0 hops): EJECT + 1 cycles.
    end0 = r0.end_cycle - (EJECT + 1)
    gated = 10_000 + EJECT + 2 - (end0 + 100)
    assert res.power_cycles == {"active": 2 * p + 20, "gated": gated,
                                "idle": span - (2 * p + 20) - gated, "off": 15 * span}
    assert res.wakes == 1
    assert res.idle_leakage_pj == pytest.approx(
        res.power_cycles["idle"] * e.core.leakage_pj_per_cycle
        + gated * e.gated_leakage_pj_per_cycle)
    assert res.idle_silicon_fraction == pytest.approx(1 - (2 * p + 20) / (16 * span))


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
