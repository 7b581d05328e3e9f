"""A trained forest through compile, golden check, layout and the system workload."""

from pathlib import Path

import numpy as np
import pytest

from nfcore.config import NFCoreConfig
from nfcore.flows.forest_system import (
    ForestSystemOptions,
    export_macs,
    run_forest_system,
    saved_forest_workload,
)
from nfcore.flows.system import arrival_interval_cycles


@pytest.fixture(scope="module")
def forest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("f")) / "forest"


@pytest.fixture(scope="module")
def run(forest_dir: Path):
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})
    opts = ForestSystemOptions(dataset="multitask", tasks=6, requests=120, golden_requests=60,
                               quiet=True)
    return cfg, run_forest_system(cfg, opts, forest_dir)


def test_a_saved_forest_gives_the_same_workload_with_the_routers_popularity(
        run, forest_dir: Path) -> None:
    cfg, r = run
    saved = saved_forest_workload(cfg, forest_dir, 120, quiet=True)
    assert saved.requests == r.workload.requests
    assert len(saved.trees) == len(r.workload.trees)
    # popularity: the share of calibration requests that call each tree; top-k per request
    assert sum(saved.popularity) == pytest.approx(r.forest.top_k)


def test_every_tree_is_compiled_placed_and_simulable(run) -> None:
    cfg, r = run
    assert r.image.n_trees == r.forest.n_trees == len(r.workload.trees) == 6
    used = np.zeros(cfg.mesh.rows * cfg.mesh.cols, dtype=int)
    for t, spec in enumerate(r.workload.trees):
        # Cycles come from the compiled program by the timing contract, on its placed core.
        tree = r.image.tree(t)
        assert spec.program_cycles == tree.program.compute_cycles()[0]
        assert spec.core_xy == tree.cores[0] and spec.resident == tree.resident
        x, y = spec.core_xy
        used[y * cfg.mesh.cols + x] += spec.weight_bytes if spec.resident else 0
    assert used.max() <= cfg.core.weight_sram_bytes
    assert len(r.workload.requests) == 120
    assert all(len(sel) == r.forest.top_k for sel in r.workload.requests)


def test_golden_check_ran_and_int8_tracks_float(run) -> None:
    _, r = run
    acc = r.summary["accuracy"]
    assert acc["golden_requests"] == 60 and acc["golden_tree_runs"] == 60 * r.forest.top_k
    assert abs(acc["int8_forest_golden"] - acc["float_forest_same_requests"]) <= 0.05


def test_the_int8_router_picks_the_trees_and_runs_on_the_chip(run) -> None:
    """The workload's picks are the int8 router's (its region logits from the integer
    reference, bit-exact with the golden model), mostly the float router's; the router is
    placed on the chip with its program's cycles, and every simulated request charges it."""
    from nfcore.flows.forest_system import int8_route
    from nfcore.sim.stats import summarize_energy
    from nfcore.sim.system.model import simulate_system

    cfg, r = run
    acc = r.summary["accuracy"]
    assert 0.8 <= acc["router_int8_float_same_picks"] <= 1.0
    rows = r.request_rows[:20]
    picks, _ = int8_route(r.forest, r.image, r.forest.features(r.x_test[rows]))
    assert [tuple(p) for p in picks.tolist()] == list(r.workload.requests[:20])
    router = r.workload.router
    assert router is not None and router.core_xy == r.image.router().cores[0]
    assert router.program_cycles == r.image.router().program.compute_cycles()[0]
    arrivals = [100 * i for i in range(len(r.workload.requests))]
    result = simulate_system(cfg, r.workload, arrivals)
    assert all(rec.energy_pj["router"] > 0 for rec in result.records)
    assert summarize_energy(result.records)["by_component"]["router"] > 0


def test_monolith_is_the_trained_one(run) -> None:
    _, r = run
    mono = r.forest.meta["monolith"]
    assert r.monolith.param_bytes == mono["n_parameters"]
    assert r.monolith.macs > 0 and "trained" in r.monolith.notes


def test_export_macs_counts_each_kind() -> None:
    from forest.export import ConvLayer, ElmanCell, TreeExport

    f = np.float32
    head = [(np.zeros((4, 6), f), np.zeros(4, f), False)]
    assert export_macs(TreeExport("mlp", (6,), head)) == 24
    conv = ConvLayer(np.zeros((3, 2, 2), f), np.zeros(3, f), stride=2)  # length 6 -> 3
    assert export_macs(TreeExport("cnn", (6, 2), head, convs=[conv])) == 3 * 3 * 2 * 2 + 24
    cell = ElmanCell(np.zeros((5, 2 + 5), f), np.zeros(5, f), 2, 5)
    assert export_macs(TreeExport("rnn", (4, 2), head, cell=cell)) == 4 * 35 + 24


def test_arrival_interval_loads_the_busiest_resource_to_half(run) -> None:
    cfg, r = run
    interval = arrival_interval_cycles(r.workload, cfg, utilization=0.5)
    router = r.workload.router
    assert router is not None
    load = {}
    for sel in r.workload.requests:
        for spec in (router, *(r.workload.trees[t] for t in sel)):
            load[spec.core_xy] = load.get(spec.core_xy, 0) + spec.program_cycles
    hot_core = max(load.values()) / len(r.workload.requests)
    assert interval >= 2 * hot_core - 1e-9


def test_placement_budget_is_a_word_multiple_within_the_sram(run) -> None:
    cfg, r = run
    budget = r.summary["layout"]["placement_budget_bytes_per_core"]
    assert budget % cfg.core.lanes == 0 and budget <= cfg.core.weight_sram_bytes
    assert budget >= max(w for t in r.image.manifest["trees"] for w in t["weight_words"]) \
        * cfg.core.lanes
    assert r.layout.core_used_bytes().max() <= budget


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """Digits with cnn, mlp and rnn trees: every kind through compile, golden and the sim."""
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})
    opts = ForestSystemOptions(dataset="digits", trees=3, top_k=2, kinds=("cnn", "mlp", "rnn"),
                               tree_size=8, epochs=3, requests=100, golden_requests=40,
                               quiet=True)
    return cfg, run_forest_system(cfg, opts, Path(tmp_path_factory.mktemp("m")) / "forest")


def test_a_mixed_kind_forest_compiles_checks_and_simulates(mixed) -> None:
    cfg, r = mixed
    assert sorted(spec.kind for spec in r.workload.trees) == ["cnn", "mlp", "rnn"]
    acc = r.summary["accuracy"]
    assert acc["golden_tree_runs"] == 40 * 2 and acc["golden_mismatches"] == 0
    assert abs(acc["int8_forest_golden"] - acc["float_forest_same_requests"]) <= 0.1
    for t, spec in enumerate(r.workload.trees):
        assert spec.program_cycles == r.image.tree(t).program.compute_cycles()[0]
        assert spec.input_bytes == r.image.tree(t).program.plan.input_len
    interval = arrival_interval_cycles(r.workload, cfg)
    assert interval > 0


def test_the_default_forest_is_mixed_one_tree_of_each_kind_per_task(
        tmp_path: Path) -> None:
    # make sim's defaults, shrunk to 2 tasks and 2 passes; the default core (64 KiB SRAM,
    # 256 instructions) must hold every tree whole.
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})
    defaults = ForestSystemOptions()
    assert (defaults.dataset, defaults.tasks) == ("multitask_seq", 96)
    opts = ForestSystemOptions(tasks=2, epochs=2, requests=60, golden_requests=30, quiet=True)
    r = run_forest_system(cfg, opts, tmp_path / "forest")
    assert r.summary["trees_by_kind"] == {"mlp": 2, "cnn": 2, "rnn": 2}
    assert r.forest.top_k == 3 and r.forest.stem is None
    for t in range(r.image.n_trees):
        tree = r.image.tree(t)
        assert len(tree.cores) == 1
        assert len(tree.program.cores[0].instructions()) <= cfg.core.imem_depth
    acc = r.summary["accuracy"]
    assert acc["golden_tree_runs"] == 30 * 3 and acc["golden_mismatches"] == 0
    assert r.monolith.param_bytes == r.forest.meta["monolith"]["n_parameters"]
