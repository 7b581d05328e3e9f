"""Backend agreement: the same requests on the golden model, the SimPy system model and the
micro-core RTL under Verilator give identical predictions, and the RTL's cycle counts equal
the golden model's."""

from __future__ import annotations

import torch
from test_core_rtl import BUILD, CONFIGS

from forest.build import ForestOptions, train_forest
from forest.datasets import load_dataset
from forest.fit import FitOptions
from forest.io import save_forest
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.tree_source import OnDemandForest
from nfcore.config import MeshConfig, NFCoreConfig

REQUESTS = 4


def test_golden_sim_and_rtl_backends_agree(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    data = load_dataset("digits")
    quick = FitOptions(epochs=2)
    forest, _ = train_forest(data, ForestOptions(
        n_trees=4, top_k=2, kinds=("cnn", "mlp"), tree_size=4, stem_width=4, fit=quick,
        stem_fit=quick, router_steps=20))
    folder = save_forest(forest, tmp_path / "forest")
    calib = forest.features(data.x_train[:128]).numpy()
    cfg = NFCoreConfig(core=CONFIGS["lanes8"], mesh=MeshConfig(rows=2, cols=2))
    x = data.x_test[:REQUESTS]
    runs = {}
    for name in ("golden", "sim", "rtl"):
        backend = make_backend(name, cfg, build_dir=BUILD)
        conductor = Conductor(folder, OnDemandForest(folder, cfg, calib), backend,
                              standardized=True)  # x_test is standardized already
        runs[name] = [a.record for a in conductor.run(x)]
    ran = {t["id"] for rec in runs["rtl"] for t in rec["trees"]}
    assert {forest.tree_kinds()[t] for t in ran} == {"cnn", "mlp"}  # both kinds on the RTL
    for name in ("sim", "rtl"):
        for mine, golden in zip(runs[name], runs["golden"], strict=True):
            # the same trees, weights, measured cycles per tree, probabilities, prediction
            assert mine["trees"] == golden["trees"]
            assert mine["probs"] == golden["probs"]
            assert mine["prediction"] == golden["prediction"]
    assert [r["energy_pj"] for r in runs["rtl"]] == [r["energy_pj"] for r in runs["golden"]]
