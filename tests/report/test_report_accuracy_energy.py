"""The accuracy-energy section and chart, from report data alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nfcore.report.accuracy_energy import (
    FIGURE,
    accuracy_energy_markdown,
    write_accuracy_energy_figure,
)


def _system() -> dict[str, Any]:
    point = {"model": "forest, top-1 of 4", "label": "top-1 of 4", "family": "forest on NF-Core",
             "accuracy": 0.9, "energy_pj_per_inference": 1000.0, "node_nm": 45,
             "curve": "forest on NF-Core, 45 nm"}
    moved = {**point, "energy_pj_per_inference": 100.0, "node_nm": 4,
             "curve": "forest on NF-Core, 4 nm"}
    mono = {**point, "model": "monolith mlp 8x1, resident on NF-Core", "label": "8x1",
            "family": "monolith on NF-Core, resident", "accuracy": 0.8,
            "energy_pj_per_inference": 5000.0, "curve": "monolith on NF-Core, resident, 45 nm"}
    gpu = {**mono, "model": "monolith mlp 8x1 on G, batch 64", "family": "monolith on G",
           "energy_pj_per_inference": 9e5, "node_nm": 4, "curve": "monolith on G, 4 nm"}
    return {
        "accuracy_energy": [point, moved, mono, gpu],
        "equal_accuracy": {
            "target_accuracy": 0.9, "forest_energy_pj_per_inference": 1000.0,
            "forest_at_nodes": [{"node_nm": 45, "energy_pj_per_inference": 1000.0},
                                {"node_nm": 4, "energy_pj_per_inference": 100.0}],
            "curves": {"monolith on NF-Core, resident, 45 nm":
                       {"energy_pj_per_inference": None, "method": "unreachable", "points": 1,
                        "node_nm": 45, "family": "monolith on NF-Core, resident",
                        "on_gpu": False},
                       "monolith on G, 4 nm":
                       {"energy_pj_per_inference": 2e6, "method": "extrapolated", "points": 2,
                        "node_nm": 4, "family": "monolith on G", "on_gpu": True}},
            "monolith_reached_on_validation": False, "monolith_matched_on_test": False,
            "skipped_rungs": []},
        "forest": {"load_balance": {"per_tree_share": [0.5, 0.5, 0.0, 0.0],
                                    "max_over_mean_share": 2.0, "trees_serving": 2,
                                    "serving_fraction": 0.5, "router_balance_weight": 0.01}},
    }


def test_section_states_the_reading_and_the_balance(tmp_path: Path) -> None:
    text = "\n".join(accuracy_energy_markdown(_system()))
    assert "NOT reached by any rung" in text
    # Each curve against the forest at its own node: the GPU's 4 nm curve against 100 pJ.
    assert "| monolith on G, 4 nm | 2,000,000 | extrapolated (2 points) | 5e-05x |" in text
    assert "| monolith on NF-Core, resident, 45 nm | - | unreachable (1 points) | - |" in text
    assert "1,000 pJ per inference at 45 nm, 100 pJ per inference at 4 nm" in text
    assert "trees serving at least one request: 2 of 4 (50.0%)" in text
    assert "max / mean share 2.00" in text
    write_accuracy_energy_figure(tmp_path, _system())
    assert (tmp_path / FIGURE).read_bytes()[:4] == b"\x89PNG"


def test_no_points_no_section(tmp_path: Path) -> None:
    assert accuracy_energy_markdown({}) == []
    write_accuracy_energy_figure(tmp_path, {})
    assert not (tmp_path / FIGURE).exists()
