"""The compile-report fragment of a layout: statistics and the SRAM heatmap."""

import json
from pathlib import Path

import numpy as np
from place_helpers import config

from nfcore.compiler.layout.place import AnnealSchedule
from nfcore.compiler.layout.stages import compile_layout
from nfcore.compiler.layout.stats import layout_stats, placement_manifest
from nfcore.compiler.layout.synthetic import synthetic_layout_input
from nfcore.report.plots import plot_sram_heatmap


def test_stats_of_a_forest_that_must_page(tmp_path: Path) -> None:
    w = synthetic_layout_input(300, seed=3, big_tree_fraction=0.05)
    layout = compile_layout(w, config(6, 6), seed=1, schedule=AnnealSchedule(rounds=200))
    st = layout_stats(layout)
    trees = st["trees"]
    assert trees["resident"] + trees["paged"] == 300
    assert trees["paged"] > 0  # the forest is larger than 36 cores of 64 KiB
    per_core = np.array(st["sram_used_bytes"]["per_core"])
    assert per_core.size == 36 and per_core.max() <= 65536
    assert per_core.sum() == trees["resident_bytes"] == st["sram_used_bytes"]["total"]
    share_of_bytes = trees["resident_bytes"] / (trees["resident_bytes"] + trees["paged_bytes"])
    assert trees["resident_selection_share"] > share_of_bytes
    hop = st["hop_bytes_per_request"]
    assert hop["lower_bound"] <= hop["placed"] <= hop["greedy"] < hop["random"]
    assert set(st["stage_seconds"]) >= {"partition", "residency", "place_greedy",
                                       "place_anneal"}
    assert 0 < st["hop_bytes_ratio"]["placed_over_random"] < 1
    png = plot_sram_heatmap(layout, tmp_path / "sub" / "sram.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    manifest = json.loads(json.dumps(placement_manifest(layout)))
    entries = manifest["trees"]
    assert [t["name"] for t in entries] == [t.name for t in w.trees]
    assert sum(t["resident"] for t in entries) == trees["resident"]
    used = np.zeros((6, 6))
    for t in entries:
        for part in t["parts"]:
            assert ("core" in part) == t["resident"]
            if t["resident"]:
                x, y = part["core"]
                used[y, x] += part["weight_bytes"]
    assert used.ravel().tolist() == per_core.tolist()


def test_layout_is_deterministic_under_a_seed() -> None:
    w = synthetic_layout_input(200, seed=4)
    a = compile_layout(w, config(8, 8), seed=2, schedule=AnnealSchedule(rounds=200))
    b = compile_layout(w, config(8, 8), seed=2, schedule=AnnealSchedule(rounds=200))
    assert np.array_equal(a.core_of, b.core_of)
    assert a.hop_bytes == b.hop_bytes
