"""Trees split across cores by the compiler: the RTL's cycles (`sim_build/<RTL_CYCLES_FILE>`,
key `SPLIT_KEY`, written by `sim_tests/test_split_trees_rtl.py`) against the timing contract
(the golden array), the SimPy array model and the system model, which serves a split tree
through the host port on the array model (every chain core RUN together).

When the RTL record is absent (after `make clean` with `pytest tests`), the fixture runs the
RTL test itself, so the comparison never skips.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nfcore.arch import isa, noc
from nfcore.config import NFCoreConfig, PowerConfig
from nfcore.golden.array import run_array
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SystemEnergies
from nfcore.sim.net.array import run_array_model
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import (
    PlacedTree,
    SystemWorkload,
    WorkloadError,
    chain_cycles,
    tree_from_chain,
)
from sim_tests.tb.scenarios import RTL_CYCLES_FILE, rtl_key
from sim_tests.tb.split_scenarios import SPLIT_CASES, SPLIT_KEY, SplitCase

RTL_FILE = Path(__file__).resolve().parents[2] / "sim_build" / RTL_CYCLES_FILE
TABLE = EnergyTable.load("horowitz_45nm")
NAMES = list(SPLIT_CASES)


@pytest.fixture(scope="module")
def rtl() -> dict[str, Any]:
    data = json.loads(RTL_FILE.read_text()) if RTL_FILE.exists() else {}
    if SPLIT_KEY not in data or data.get("rtl_key") != rtl_key():
        _measure_rtl()  # absent, or measured on other RTL sources: never reused
    record: dict[str, Any] = json.loads(RTL_FILE.read_text())[SPLIT_KEY]
    assert set(record) == set(SPLIT_CASES), (
        f"{RTL_FILE} holds split trees {sorted(record)}, sim_tests.tb.split_scenarios defines "
        f"{sorted(SPLIT_CASES)}: rerun sim_tests/test_split_trees_rtl.py")
    for name, case in SPLIT_CASES.items():
        assert record[name]["setup_sha256"] == case.digest(), (
            f"{RTL_FILE} was measured on an older definition of {name}: rerun "
            "sim_tests/test_split_trees_rtl.py")
    return record


def _measure_rtl() -> None:
    import importlib.util
    import sys

    sim_tests = RTL_FILE.parents[1] / "sim_tests"
    if str(sim_tests) not in sys.path:  # the cocotb runner passes sys.path to the simulator
        sys.path.insert(0, str(sim_tests))
    spec = importlib.util.spec_from_file_location("test_split_trees_rtl",
                                                  sim_tests / "test_split_trees_rtl.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run_split_rtl(RTL_FILE)


def _spec(case: SplitCase, tid: int = 0, resident: bool = True) -> PlacedTree:
    _, tp, _ = case.build()
    return tree_from_chain(tid, [(c.coord, c.instructions()) for c in tp.cores], tp.lanes,
                           input_bytes=tp.plan.input_len, output_bytes=tp.plan.output_len,
                           resident=resident, kind=case.kind)


def _measured(rtl: dict[str, Any], name: str) -> list[dict[tuple[int, int], int]]:
    return [{(int(k.split(",")[0]), int(k.split(",")[1])): v for k, v in req.items()}
            for req in rtl[name]["requests"]]


@pytest.mark.parametrize("name", NAMES)
def test_rtl_cycles_are_the_contracts_and_the_models(rtl: dict[str, Any], name: str) -> None:
    """Per request and core: RTL == golden array (the contract) == SimPy array model; the
    models' logits equal the compiler's integer reference."""
    case = SPLIT_CASES[name]
    q, tp, x_int = case.build()
    measured = _measured(rtl, name)
    assert [tuple(c) for c in rtl[name]["chain"]] == [c.coord for c in tp.cores]
    golden, model = case.states(), case.states()
    ref = q.forward_int(x_int)
    for r, vec in enumerate(tp.plan.pack_input(x_int)):
        for states in (golden, model):
            states[tp.input_coord].write_vector(tp.plan.input_addr, vec)
        contract = {c: res.cycles for c, res in run_array(golden).items()}
        simulated = run_array_model(case.config, model).cycles
        assert contract == measured[r], f"{name} request {r}: contract {contract}"
        assert simulated == measured[r], f"{name} request {r}: array model {simulated}"
        for states in (golden, model):
            np.testing.assert_array_equal(
                states[tp.output_coord].read_vector(tp.plan.output_addr, tp.plan.output_len),
                ref[r])


def test_the_cases_split_as_named() -> None:
    cores = {name: len(case.build()[1].cores) for name, case in SPLIT_CASES.items()}
    assert all((n == 1) == name.startswith("one_core") for name, n in cores.items()), cores
    assert max(cores.values()) >= 3, cores
    assert {c.kind for c in SPLIT_CASES.values() if c.forest_size and
            cores[c.name] > 1} == {"mlp", "cnn", "rnn"}


@pytest.mark.parametrize("name", NAMES)
def test_workload_chain_cycles_equal_the_rtl(rtl: dict[str, Any], name: str) -> None:
    case = SPLIT_CASES[name]
    spec = _spec(case)
    first = _measured(rtl, name)[0]
    assert spec.program_cycles == max(first.values())
    assert spec.weight_bytes == sum(len(c.weights) for c in case.build()[1].cores) * 8
    if spec.stages:
        assert chain_cycles(spec.stages) == [first[s.core_xy] for s in spec.stages]
        assert spec.core_xy == spec.stages[0].core_xy
        assert spec.weight_bytes == sum(s.weight_bytes for s in spec.stages)


def _host_cycles(src: tuple[int, int], dst: tuple[int, int], nbytes: int, lanes: int) -> int:
    """What a host packet adds to a request's latency with no contention: its header
    latency and its flits (`tests/sim/test_system_model.py`, the no-contention case)."""
    return noc.header_latency_cycles(src, dst) + noc.packet_flits(nbytes, lanes)


@pytest.mark.parametrize("name", NAMES)
def test_system_latency_without_contention_is_the_rtls(rtl: dict[str, Any], name: str) -> None:
    """Requests one after the other: latency = the host's input packet + the chain's cycles
    measured on the RTL + the output packet. Every chain core takes RUN together and is
    busy from RUN to its `done`: its RTL cycles + 1, later by the input packet's RECV
    (which delays everything the first core sends), the last core also by its SEND to the
    host. Energy counts every stage."""
    case = SPLIT_CASES[name]
    cfg = case.config
    spec = _spec(case)
    measured = _measured(rtl, name)
    first, last = spec.core_xy, (spec.stages[-1].core_xy if spec.stages else spec.core_xy)
    expected = (_host_cycles(noc.HOST, first, spec.input_bytes, 8) + max(measured[0].values())
                + _host_cycles(last, noc.HOST, spec.output_bytes, 8))
    apart = expected + 100  # no overlap, and too close for a core to gate
    res = simulate_system(cfg, SystemWorkload((spec,), ((0,),) * 3), [0, apart, 2 * apart], TABLE)
    for rec in res.records:
        assert rec.latency_cycles == expected, (rec.latency_cycles, expected)
        assert rec.cores_woken == 0
        assert rec.weight_bytes_touched == spec.weight_bytes
    assert res.network["waited_packets"] == 0
    e = SystemEnergies.of(cfg, TABLE)
    busy = res.core_busy_cycles.sum() // 3
    rec = res.records[0]
    assert rec.energy_pj["leakage"] == pytest.approx(busy * e.core.leakage_pj_per_cycle)
    recv_in = _host_cycles(noc.HOST, first, spec.input_bytes, 8)
    send_out = isa.ISSUE_CYCLES + noc.packet_flits(spec.output_bytes, 8)
    for xy in (dict(spec.parts()) if spec.stages else {first: 0}):
        assert res.core_busy_cycles[xy[1], xy[0]] == 3 * (
            measured[0][xy] + 1 + recv_in + send_out * (xy == last)), xy
    hops = sum(noc.hops(a.core_xy, b.core_xy) * (isa.HEADER_FLITS + step.words)
               for a, b in zip(spec.stages, spec.stages[1:], strict=False)
               for step in a.steps if step.kind == "send")
    host_hops = (noc.hops(noc.attach_router(noc.HOST), noc.attach_router(first))
                 * noc.packet_flits(spec.input_bytes, 8)
                 + noc.hops(noc.attach_router(last), noc.attach_router(noc.HOST))
                 * noc.packet_flits(spec.output_bytes, 8))
    assert rec.bytes_moved["flit_hops"] == hops + host_hops


def test_requests_pipeline_through_the_chain() -> None:
    """Two requests at once: the second waits for the first stage's core only, so it ends
    less than a whole chain run after the first."""
    case = SPLIT_CASES["random_mlp"]
    spec = _spec(case)
    res = simulate_system(case.config, SystemWorkload((spec,), ((0,), (0,))), [0, 0], TABLE)
    a, b = res.records
    stage0 = spec.stages[0].program_cycles
    assert b.end_cycle > a.end_cycle
    assert b.end_cycle - a.end_cycle < spec.program_cycles
    assert b.end_cycle - a.end_cycle >= stage0 - isa.ISSUE_CYCLES


def test_a_paged_split_tree_loads_every_stage_from_dram() -> None:
    case = SPLIT_CASES["random_cnn"]
    spec = _spec(case, resident=False)
    res = simulate_system(case.config, SystemWorkload((spec,), ((0,), (0,))), [0, 5000], TABLE)
    first, second = res.records
    assert first.bytes_moved["dram"] == spec.weight_bytes > 0
    assert second.bytes_moved["dram"] == 0  # each stage core keeps its part
    assert first.latency_cycles > second.latency_cycles


def test_a_gated_stage_core_wakes() -> None:
    case = SPLIT_CASES["random_rnn"]
    cfg = dataclasses.replace(case.config, power=PowerConfig(gate_after_idle_cycles=0,
                                                             wake_up_cycles=20))
    spec = _spec(case)
    res = simulate_system(cfg, SystemWorkload((spec,), ((0,),)), [100], TABLE)
    assert res.records[0].cores_woken == len(spec.stages)
    warm = simulate_system(case.config, SystemWorkload((spec,), ((0,),)), [100], TABLE)
    assert res.records[0].latency_cycles > warm.records[0].latency_cycles


def test_chain_validation() -> None:
    case = SPLIT_CASES["random_mlp"]
    _, tp, _ = case.build()
    programs = [(c.coord, c.instructions()) for c in tp.cores]
    with pytest.raises(WorkloadError, match=r"sends to \(1, 0\), which is not in its chain"):
        tree_from_chain(0, [programs[0], ((0, 1), programs[2][1])], 8, 37, 6)
    spec = _spec(case)
    small = NFCoreConfig.from_dict({"mesh": {"rows": 2, "cols": 2},
                                    "core": {"weight_sram_bytes": 1024}})
    with pytest.raises(WorkloadError, match=r"resident trees on core \(0, 0\) need 1920 bytes"):
        SystemWorkload((spec,), ((0,),)).validate(small)


@pytest.fixture(scope="module")
def split_forest(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A trained digits forest (cnn, mlp, rnn of width 24) on 2 KiB cores: the compiler
    splits the cnn and the mlp over two cores each and keeps the rnn on one."""
    from nfcore.flows.forest_system import ForestSystemOptions, run_forest_system

    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4},
                                  "core": {"weight_sram_bytes": 2048}})
    opts = ForestSystemOptions(dataset="digits", trees=3, top_k=2, kinds=("cnn", "mlp", "rnn"),
                               tree_size=24, epochs=3, requests=60, golden_requests=30,
                               quiet=True)
    return cfg, run_forest_system(cfg, opts, tmp_path_factory.mktemp("split") / "forest")


def test_the_forest_pipeline_runs_split_trees(split_forest: Any) -> None:
    """Each tree alone, two requests (too close for a core to gate): latency = input packet
    + the golden array's cycles of the tree from what the image puts on its cores + output
    packet. Then the router's requests run through the system report with every baseline."""
    from nfcore.compiler.golden_run import run_image_tree
    from nfcore.flows.system import ArrivalSpec, arrival_interval_cycles, build_system_report

    cfg, run = split_forest
    specs = run.workload.trees
    split = [t for t in specs if t.stages]
    assert split and len(split) < len(specs), [len(t.stages) for t in specs]
    assert run.summary["accuracy"]["golden_mismatches"] == 0
    lanes = cfg.core.lanes
    feats = run.forest.features(run.x_test[:1]).numpy()
    for spec in specs:
        tree = run.image.tree(spec.tree_id)
        assert [s.core_xy for s in spec.stages] == (list(tree.cores) if spec.stages else [])
        _, contract = run_image_tree(run.image, spec.tree_id,
                                     tree.quant.quantize_input(feats))
        assert spec.program_cycles == contract[0]
        last = spec.stages[-1].core_xy if spec.stages else spec.core_xy
        expected = (_host_cycles(noc.HOST, spec.core_xy, spec.input_bytes, lanes)
                    + contract[0] + _host_cycles(last, noc.HOST, spec.output_bytes, lanes))
        res = simulate_system(cfg, SystemWorkload(specs, ((spec.tree_id,),) * 2),
                              [0, expected + 100])
        assert [r.latency_cycles for r in res.records] == [expected] * 2, spec.tree_id
    arrival = ArrivalSpec("poisson", arrival_interval_cycles(run.workload, cfg), 0)
    data, result = build_system_report(cfg, run.workload, arrival, run.monolith)
    assert len(result.records) == len(run.workload.requests)
    assert all(r.latency_cycles > 0 for r in result.records)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "rnn"])
@pytest.mark.parametrize("seed", range(300, 305))
def test_chain_cycles_and_system_latency_follow_the_golden_array(kind: str, seed: int) -> None:
    """More random split trees than the RTL runs: each stage's `chain_cycles` and the
    system model's latency without contention follow the golden array's cycles."""
    from nfcore.compiler.golden_run import run_tree
    from sim_tests.tb.scenarios import CORE
    from sim_tests.tb.split_scenarios import random_split_tree

    _, tp, x_int = random_split_tree(kind, seed)
    _, contract = run_tree(tp, CORE, x_int[:1])
    spec = tree_from_chain(0, [(c.coord, c.instructions()) for c in tp.cores], tp.lanes,
                           tp.plan.input_len, tp.plan.output_len, kind=kind)
    assert len(spec.stages) >= 2 and spec.program_cycles == contract[0]
    cfg = SPLIT_CASES["random_mlp"].config
    res = simulate_system(cfg, SystemWorkload((spec,), ((0,),)), [0], TABLE)
    last = spec.stages[-1].core_xy
    assert res.records[0].latency_cycles == (
        _host_cycles(noc.HOST, spec.core_xy, spec.input_bytes, 8) + contract[0]
        + _host_cycles(last, noc.HOST, spec.output_bytes, 8))
