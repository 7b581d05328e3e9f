"""The forest against its monolith at equal accuracy: the resident monolith, the chart's
points, the energy read at the forest's accuracy, and the router's load balance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from nfcore.config import NFCoreConfig
from nfcore.flows.accuracy_energy import (
    RESIDENT_NAME,
    compare_at_equal_accuracy,
    energy_at_accuracy,
    merge_into,
    nearest_host,
)
from nfcore.flows.forest_system import ForestSystemOptions, load_balance, run_forest_system
from nfcore.flows.system import ArrivalSpec, arrival_interval_cycles, build_system_report
from nfcore.sim.baselines import Baseline


@pytest.fixture(scope="module")
def fair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})
    opts = ForestSystemOptions(dataset="multitask", tasks=4, requests=60, golden_requests=20,
                               epochs=30, quiet=True)
    run = run_forest_system(cfg, opts, Path(tmp_path_factory.mktemp("f")) / "forest")
    arrival = ArrivalSpec("poisson", arrival_interval_cycles(run.workload, cfg), 0)
    data, _ = build_system_report(cfg, run.workload, arrival, run.monolith)
    fair = compare_at_equal_accuracy(cfg, run, arrival, Baseline(**data["baselines"][0]))
    merge_into(data, fair)
    return run, data


def test_points_have_the_keys_and_every_family(fair: tuple[Any, dict[str, Any]]) -> None:
    run, data = fair
    points = data["accuracy_energy"]
    for p in points:
        assert {"model", "accuracy", "energy_pj_per_inference", "node_nm"} <= set(p)
        assert 0 <= p["accuracy"] <= 1 and p["energy_pj_per_inference"] > 0
    families = {p["family"] for p in points}
    assert "forest on NF-Core" in families and RESIDENT_NAME in families
    assert any("best batch" in f for f in families)
    gpu_nodes = {p["node_nm"] for p in points if "best batch" in p["family"]}
    nodes = {45} | gpu_nodes
    assert gpu_nodes and 45 not in gpu_nodes
    rungs = run.trained.monolith.tried
    for family, per_node in (("forest on NF-Core", run.forest.top_k),  # top-1 .. top-k
                             (RESIDENT_NAME, len(rungs))):
        # Every NF-Core curve at the config's node and again at each GPU's node.
        at = [p["node_nm"] for p in points if p["family"] == family]
        assert sorted(at) == sorted(list(nodes) * per_node)
    eq = data["equal_accuracy"]
    assert eq["target_accuracy"] == run.trained.report.accuracy
    forest_at = {f["node_nm"]: f["energy_pj_per_inference"] for f in eq["forest_at_nodes"]}
    assert set(forest_at) == nodes and forest_at[4] < forest_at[45]
    assert forest_at[45] == data["baselines"][0]["energy_pj_per_inference"]
    moved = next(b for b in data["baselines"] if b["kind"] == "nfcore" and b["node_nm"] == 4)
    assert forest_at[4] == moved["energy_pj_per_inference"]  # the table's row at the GPU's node
    assert {c["node_nm"] for c in eq["curves"].values() if c["on_gpu"]} == gpu_nodes


def test_the_resident_row_sits_beside_the_dram_row(fair: tuple[Any, dict[str, Any]]) -> None:
    _, data = fair
    names = [b["name"] for b in data["baselines"]]
    resident = names.index(RESIDENT_NAME)
    assert "resident" in RESIDENT_NAME and data["baselines"][resident]["kind"] == "baseline"
    assert resident < names.index("floor: MAC energy")
    assert any(RESIDENT_NAME in v for v in data["verdicts"])
    dram = data["baselines"][names.index("monolith on NF-Core, weights from DRAM")]
    # Weights kept on chip cost less than weights streamed from DRAM every inference.
    assert data["baselines"][resident]["energy_pj_per_inference"] < \
        dram["energy_pj_per_inference"]


def test_chain_cores_start_next_to_the_host() -> None:
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 3, "cols": 3}})
    cores = nearest_host(cfg)
    assert len(cores) == 9 == len(set(cores)) and cores[0] == (0, 0)


@pytest.mark.parametrize(("curve", "target", "energy", "method"), [
    ([(0.8, 100.0), (0.9, 1000.0)], 0.9, 1000.0, "measured"),
    ([(0.95, 100.0), (0.99, 1000.0)], 0.9, 100.0, "measured"),
    ([(0.8, 100.0), (0.9, 1000.0)], 0.85, math.sqrt(100.0 * 1000.0), "interpolated"),
    ([(0.7, 10.0), (0.8, 100.0)], 0.9, 1000.0, "extrapolated"),
    ([(0.7, 100.0), (0.8, 10.0)], 0.9, None, "unreachable"),
    ([(0.7, 100.0)], 0.9, None, "unreachable"),
])
def test_energy_is_read_off_the_curve_and_labelled(curve: list[tuple[float, float]],
                                                   target: float, energy: float | None,
                                                   method: str) -> None:
    est = energy_at_accuracy(curve, target)
    assert est["method"] == method
    if energy is None:
        assert est["energy_pj_per_inference"] is None
    else:
        assert est["energy_pj_per_inference"] == pytest.approx(energy)


def test_load_balance_counts_each_tree_share() -> None:
    lb = load_balance(((0, 1), (0, 2), (0, 1)), 4, 0.01)
    assert lb["per_tree_share"] == pytest.approx([0.5, 1 / 3, 1 / 6, 0.0])
    assert lb["trees_serving"] == 3 and lb["serving_fraction"] == 0.75
    assert lb["max_over_mean_share"] == pytest.approx(2.0)
