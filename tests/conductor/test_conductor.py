"""The Conductor: lazy loading, routing, backend agreement, aggregation, importance, audit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conductor_helpers import MONOLITH_PARAMS, SavedForest

from forest.errors import ForestFormatError
from forest.io import MANIFEST, SCALING
from forest.router import average
from nfcore.compiler import load_forest_image
from nfcore.conductor.audit import AuditLog, verify_log
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor, RequestError, aggregate
from nfcore.conductor.costs import TreeCost
from nfcore.conductor.tree_source import CompiledForest, ImageForest, OnDemandForest
from nfcore.config import NFCoreConfig
from nfcore.errors import ConfigError, ImageError


def _conductor(sf: SavedForest, cfg: NFCoreConfig, backend: str = "golden",
               log: Path | None = None, image_dir: Path | None = None,
               standardized: bool = True) -> Conductor:
    """A Conductor on the test forest; by default it takes rows standardized already (the
    dataset's x_test), as the forest's own `predict` does."""
    image: CompiledForest = OnDemandForest(sf.folder, cfg, sf.calib) if image_dir is None \
        else ImageForest(load_forest_image(image_dir, cfg, forest_dir=sf.folder))
    return Conductor(sf.folder, image, make_backend(backend, cfg),
                     AuditLog(log) if log else None, standardized=standardized)


def test_start_loads_no_tree_and_a_request_loads_only_its_trees(
        saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path) -> None:
    c = _conductor(saved_forest, cfg, image_dir=image_dir)
    forest_image = c.image.image  # type: ignore[attr-defined]
    assert c.loads.compiled_trees == 0 and c.loads.float_trees == 0
    x = saved_forest.data.x_test[:1]
    picked = set(c.route(x).trees.reshape(-1).tolist())
    assert c.loads.compiled_trees == 0  # routing reads no tree
    c.run(x)
    assert set(c.loaded_trees()) == picked == set(forest_image._trees)
    assert c.loads.compiled_trees == c.loads.float_trees == len(picked)
    assert len(picked) < saved_forest.forest.n_trees
    c.run(x)  # the same trees again: nothing new is read
    assert c.loads.compiled_trees == len(picked) and set(forest_image._trees) == picked


def test_an_unrouted_trees_corrupt_file_is_never_read(
        saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(image_dir, tmp_path / "image"))
    x = saved_forest.data.x_test[:1]
    c = _conductor(saved_forest, cfg, image_dir=copy)
    picked = set(c.route(x).trees.reshape(-1).tolist())
    other = min(set(range(saved_forest.forest.n_trees)) - picked)
    (copy / "trees" / f"tree_{other}" / "quant.json").write_text("{}")
    c.run(x)  # the corrupt tree is not routed: served
    with pytest.raises(ImageError, match=f"tree_{other}"):
        c._load([other])


def test_the_image_and_on_demand_compilation_agree(saved_forest: SavedForest,
                                                   cfg: NFCoreConfig, image_dir: Path) -> None:
    x = saved_forest.data.x_test[:40]
    from_image = _conductor(saved_forest, cfg, image_dir=image_dir).run(x)
    on_demand = _conductor(saved_forest, cfg).run(x)
    same = np.mean([a.prediction == b.prediction for a, b in zip(from_image, on_demand,
                                                                strict=True)])
    assert same > 0.9  # calibrated on other rows, so not bit-identical


def test_routing_is_the_forests(saved_forest: SavedForest, cfg: NFCoreConfig) -> None:
    c = _conductor(saved_forest, cfg)
    x = saved_forest.data.x_test[:50]
    r = c.route(x)
    f = saved_forest.forest
    picks, weights = f.route(f.features(x))
    np.testing.assert_array_equal(r.trees, picks.numpy())
    np.testing.assert_allclose(r.weights, weights.numpy(), rtol=1e-6)


def test_aggregate_is_the_forests_average() -> None:
    rng = np.random.default_rng(0)
    logits, w = rng.normal(size=(5, 3, 4)), rng.dirichlet(np.ones(3), size=5)
    np.testing.assert_allclose(aggregate(logits, w),
                               average(torch.tensor(logits), torch.tensor(w)).numpy(), atol=1e-12)


def test_golden_and_sim_agree_and_track_the_float_forest(saved_forest: SavedForest,
                                                         cfg: NFCoreConfig,
                                                         image_dir: Path) -> None:
    x, y = saved_forest.data.x_test[:120], saved_forest.data.y_test[:120]
    golden = _conductor(saved_forest, cfg, "golden", image_dir=image_dir).run(x)
    sim = _conductor(saved_forest, cfg, "sim", image_dir=image_dir).run(x)
    assert [a.prediction for a in golden] == [a.prediction for a in sim]
    assert [a.probs for a in golden] == [a.probs for a in sim]
    int8_acc = np.mean([a.prediction for a in golden] == y)
    float_acc = saved_forest.forest.accuracy(x, y)
    assert abs(int8_acc - float_acc) < 0.05, (int8_acc, float_acc)
    # the sim prices the network; the contract cost says it does not
    assert all(a.record["energy_pj"]["network"] > 0 for a in sim)
    assert all(a.record["energy_pj"]["network"] is None for a in golden)
    # the compute components are the same events priced by the same table
    for g, s in zip(golden, sim, strict=True):
        for comp in ("mac", "weight_sram", "act_sram", "control"):
            assert g.record["energy_pj"][comp] == pytest.approx(s.record["energy_pj"][comp])


def test_golden_cycles_are_the_timing_contracts(saved_forest: SavedForest,
                                                cfg: NFCoreConfig) -> None:
    c = _conductor(saved_forest, cfg)
    r = c.route(saved_forest.data.x_test[:10])
    _, cycles = c.execute(r)
    for i, sel in enumerate(r.trees):
        for j, t in enumerate(sel):
            cost = TreeCost.of(c._compiled[int(t)])
            assert cycles[i, j] == cost.core_cycles[0]


def test_importance_is_gradient_times_input(saved_forest: SavedForest,
                                            cfg: NFCoreConfig) -> None:
    c = _conductor(saved_forest, cfg)
    x = saved_forest.data.x_test[3:4].astype(np.float64)
    rec = c.run(x)[0].record
    imp = np.array(rec["importance"]["values"])
    f = saved_forest.forest
    picks = torch.tensor([[t["id"] for t in rec["trees"]]])
    cls = rec["prediction"]

    def p(xv: np.ndarray) -> float:
        with torch.no_grad():
            feats = f.features(xv)
            scores = f.router.tree_scores(feats.reshape(1, -1)).double()
            w = scores.gather(1, picks)
            w = w / w.sum()
            return float(average(f.tree_logits(feats, picks).double(), w)[0, cls])

    eps = 1e-3
    grad = np.zeros(x.size)
    for i in range(x.size):
        d = np.zeros_like(x)
        d.flat[i] = eps
        grad[i] = (p(x + d) - p(x - d)) / (2 * eps)
    expected = x.reshape(-1) * grad
    assert np.abs(imp - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())
    assert np.abs(imp).max() > 0


def test_records_are_audited_one_per_request(saved_forest: SavedForest, cfg: NFCoreConfig,
                                             image_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    c = _conductor(saved_forest, cfg, "sim", log, image_dir)
    answers = c.run(saved_forest.data.x_test[:7], [f"req-{i}" for i in range(7)])
    res = verify_log(log)
    assert res.ok and res.records == 7 and res.head_sha256 == answers[-1].audit["sha256"]
    rec = answers[0].record
    assert rec["request_id"] == "req-0" and rec["backend"] == "sim"
    assert len(rec["trees"]) == 2 and {"id", "router_score", "weight", "cores"} <= \
        set(rec["trees"][0])
    for key in ("prediction", "probs", "importance", "cores_woken", "cycles", "latency_s",
                "energy_pj", "bytes_moved", "weight_bytes_touched", "idle_silicon_share"):
        assert key in rec
    assert rec["monolith_weight_bytes"] == MONOLITH_PARAMS
    assert rec["weight_bytes_touched"] == sum(
        c._compiled[t["id"]].weight_bytes for t in rec["trees"])
    assert 0.0 <= rec["idle_silicon_share"] < 1.0
    assert rec["latency_s"] == pytest.approx(rec["cycles"] / cfg.clock_hz)


def test_bad_inputs_name_the_field(saved_forest: SavedForest, cfg: NFCoreConfig,
                                   tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    c = _conductor(saved_forest, cfg, log=log)
    with pytest.raises(RequestError, match=r"inputs: shape sent \[2, 63\]; expected one row "
                                           r"of shape \[8, 8\]"):
        c.run(np.zeros((2, 63)))
    with pytest.raises(RequestError, match=r"inputs\[0\]\[0\]: nan is not a finite number"):
        c.run(np.full((1, 64), np.nan))
    with pytest.raises(RequestError, match=r"inputs\[0\]\[0\]: a string \('a'\)"):
        c.run([["a"] * 64])
    with pytest.raises(RequestError, match=r"inputs\[1\]\[3\]: a complex number"):
        c.run([[0] * 64, [0, 0, 0, 1j, *[0] * 60]])
    with pytest.raises(RequestError, match="request_ids"):
        c.run(np.zeros((2, 64)), ["one"])
    assert verify_log(log).records == 0
    with pytest.raises(ConfigError, match="--backend 'fpga'"):
        make_backend("fpga", cfg)


def test_sim_backend_runs_trees_split_over_cores(tmp_path: Path) -> None:
    """On cores too small for a whole tree the compiler splits trees over chains of cores;
    the sim backend runs them stage by stage and agrees with the golden backend."""
    from forest.build import ForestOptions, train_forest
    from forest.datasets import load_dataset
    from forest.fit import FitOptions
    from forest.io import save_forest
    from nfcore.compiler import compile_forest

    digits = load_dataset("digits")
    quick = FitOptions(epochs=2)
    forest, _ = train_forest(digits, ForestOptions(
        n_trees=4, top_k=2, kinds=("cnn", "mlp"), tree_size=24, stem_width=8, fit=quick,
        stem_fit=quick, router_steps=20))
    forest.meta["monolith"] = {"n_parameters": MONOLITH_PARAMS}
    sf = SavedForest(save_forest(forest, tmp_path / "digits"), forest, digits,
                     forest.features(digits.x_train[:256]).numpy())
    small = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4},
                                    "core": {"weight_sram_bytes": 1024}}, source="test")
    image = compile_forest(sf.folder, small, calib_x=digits.x_train[:256], progress=False)
    image_dir = image.save(tmp_path / "image")
    x = digits.x_test[:6]
    golden, sim = (_conductor(sf, small, b, image_dir=image_dir) for b in ("golden", "sim"))
    g, s = golden.run(x), sim.run(x)
    assert any(len(tree.coords) > 1 for tree in sim._compiled.values()), "nothing split"
    assert [a.probs for a in g] == [a.probs for a in s]
    for a, r in zip(s, sim.route(x).trees, strict=True):
        chains = [TreeCost.of(sim._compiled[int(t)]) for t in r]
        # a request ends after every core of its trees' chains ran
        assert a.record["cycles"] >= max(max(c.core_cycles) for c in chains)


def test_rows_in_the_data_s_units_get_the_forest_s_accuracy(
        saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path) -> None:
    """Issue 19: raw digits pixels (docs/conductor.md's example) were answered at 0.555
    accuracy, since the forest reads standardized rows; the Conductor now applies the
    forest's saved scaling, so raw rows are answered as the float forest answers
    standardized ones."""
    n = 120
    raw = saved_forest.raw_test(n)
    assert raw.max() == 16 and raw.min() == 0  # pixels, not standardized values
    answers = _conductor(saved_forest, cfg, image_dir=image_dir, standardized=False).run(raw)
    served = np.array([a.prediction for a in answers])
    float_forest = saved_forest.forest.predict(saved_forest.data.x_test[:n]).labels
    labels = saved_forest.data.y_test[:n]
    assert np.mean(served == float_forest) >= 0.97
    assert abs(np.mean(served == labels) - np.mean(float_forest == labels)) <= 0.03
    unscaled = _conductor(saved_forest, cfg, image_dir=image_dir, standardized=True).run(raw)
    assert np.mean([a.prediction for a in unscaled] == labels) < np.mean(served == labels) - 0.2


def test_a_forest_saved_without_its_scaling_is_refused_unless_rows_are_standardized(
        saved_forest: SavedForest, cfg: NFCoreConfig, tmp_path: Path) -> None:
    old = Path(shutil.copytree(saved_forest.folder, tmp_path / "old"))
    manifest = json.loads((old / MANIFEST).read_text())
    manifest["input_scaling"] = None
    (old / MANIFEST).write_text(json.dumps(manifest))
    (old / SCALING).unlink()
    image = OnDemandForest(old, cfg, saved_forest.calib)
    with pytest.raises(ForestFormatError, match=r"keeps no input scaling .* pass "
                                                r"--standardized-inputs"):
        Conductor(old, image, make_backend("golden", cfg))
    c = Conductor(old, image, make_backend("golden", cfg), standardized=True)
    assert len(c.run(saved_forest.data.x_test[:2])) == 2
