"""The system-level report: its data keys, files, and the full report that embeds it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_report_run import _data as foundation_data

from nfcore.config import NFCoreConfig
from nfcore.errors import ReportError
from nfcore.flows.system import ArrivalSpec, build_system_report
from nfcore.report.run import (
    SYSTEM_REQUIRED_KEYS,
    SYSTEM_TOP_LEVEL,
    missing_keys,
    write_report,
    write_system_report,
)
from nfcore.report.system import FIGURES, forest_markdown, headline_lines
from nfcore.sim.baselines import MonolithSpec
from nfcore.sim.system.model import SystemResult
from nfcore.sim.system.workload import synthetic_workload

CFG = NFCoreConfig.from_dict({"mesh": {"rows": 3, "cols": 3}})
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built() -> tuple[dict[str, Any], SystemResult]:
    wl = synthetic_workload(CFG, 12, 60, top_k=2, seed=3, paged_fraction=0.25)
    data, result = build_system_report(CFG, wl, ArrivalSpec("poisson", 800.0, 3),
                                       all_trees_requests=1)
    assert data["requests"] == len(result.records) == 60
    return {"schema_version": 1, "config": CFG.to_dict(), **data}, result


@pytest.fixture(scope="module")
def system(built: tuple[dict[str, Any], SystemResult]) -> dict[str, Any]:
    return built[0]


def test_system_data_keys(system: dict[str, Any]) -> None:
    assert missing_keys(system, SYSTEM_REQUIRED_KEYS) == []
    names = [b["name"] for b in system["baselines"]]
    assert names[0].startswith("NF-Core") and system["baselines"][0]["kind"] == "nfcore"
    for needle in ("at the GPU's 4 nm", "every tree evaluated", "weights from DRAM",
                   "H100 SXM, stream launches, batch 1", "H200, persistent kernel",
                   "floor: MAC energy", "floor: MAC + each weight byte read once"):
        assert any(needle in n for n in names), needle
    for b in system["baselines"]:
        assert set(b) >= {"name", "energy_pj_per_inference", "latency_s", "notes", "node_nm"}
        assert b["node_nm"] in (45, 4), b["name"]
    # The same run at the GPU's node: the same latency, energies moved by the node model.
    at4 = next(b for b in system["baselines"] if "at the GPU's 4 nm" in b["name"])
    assert at4["latency_s"] == system["baselines"][0]["latency_s"]
    assert at4["energy_pj_per_inference"] < system["baselines"][0]["energy_pj_per_inference"]
    nodes = system["technology"]["nodes"]
    assert nodes["scaling"]["H100 SXM"]["to_nm"] == 4 and nodes["energy_table_node_nm"] == 45
    assert system["arrival_rate_per_s"] > 0
    assert {(p["gpu"], p["launch"]) for p in system["gpu_best_batch"]} == {
        (g, m) for g in ("H100 SXM", "H200") for m in ("stream", "persistent")}
    assert 0.0 <= system["idle_silicon_fraction"] <= 1.0
    touched = system["weight_bytes_touched_per_request"]
    assert 0 < touched["forest"] < touched["monolith"]
    ours = system["baselines"][0]
    assert ours["energy_pj_per_inference"] == pytest.approx(
        sum(ours["by_component"].values()))
    assert set(ours["by_component"]) == {"mac", "weight_sram", "act_sram", "control",
                                         "network", "dram", "leakage", "wakeup", "router"}
    lat = system["latency_distribution"]
    assert lat["p50"] <= lat["p99"] <= lat["max"]
    assert sum(lat["histogram"]["counts"]) == 60
    assert len(system["gpu_sweep"]) == 36 and system["verdicts"]


def test_write_system_report_files(tmp_path: Path,
                                   built: tuple[dict[str, Any], SystemResult]) -> None:
    system, result = built
    run = tmp_path / "run"
    write_system_report(run, system, result.records)
    lines = (run / "requests.jsonl").read_text().splitlines()
    assert len(lines) == 60
    first = json.loads(lines[0])
    assert set(first) >= {"request_id", "trees", "latency_cycles", "latency_s", "energy_pj",
                          "cores_woken", "bytes_moved", "weight_bytes_touched"}
    assert first["energy_pj_total"] == pytest.approx(sum(first["energy_pj"].values()))
    saved = json.loads((run / "report.json").read_text())
    assert saved["baselines"] == system["baselines"]
    for name in [*FIGURES.values(), "energy_by_component.png"]:
        assert (run / name).read_bytes()[:8] == PNG, name
    md = (run / "report.md").read_text()
    assert md.splitlines()[2].startswith("**NF-Core ")
    for needle in ("Side by side", "| NF-Core forest", "GPU batch sweep", "energy_scale = 1",
                   "router_pj_per_bit", "O'Connor", "datasheet", "kernel_launch_overhead_s",
                   "Where NF-Core stands", "monolith: assumption"):
        assert needle in md, needle
    for verdict in system["verdicts"]:
        assert verdict in md
    bad = {k: v for k, v in system.items() if k != "baselines"}
    with pytest.raises(ReportError, match="missing required keys: baselines"):
        write_system_report(tmp_path / "bad", bad)


def test_full_report_embeds_the_system_section(tmp_path: Path,
                                               system: dict[str, Any]) -> None:
    data = foundation_data()
    data["system"] = system
    data.update({k: system[k] for k in SYSTEM_TOP_LEVEL})
    write_report(tmp_path / "full", data)
    md = (tmp_path / "full" / "report.md").read_text()
    assert "| float | 0.9611 |" in md and "Side by side" in md
    assert md.splitlines()[2].startswith("**NF-Core ")
    assert saved_keys(tmp_path / "full") >= {"technology", "single_tree", "baselines"}
    assert "- baselines:" not in md  # not dumped under "Other data"
    saved = json.loads((tmp_path / "full" / "report.json").read_text())
    assert saved["idle_silicon_fraction"] == system["idle_silicon_fraction"]
    del data["system"]["gpu_sweep"]
    with pytest.raises(ReportError, match="gpu_sweep"):
        write_report(tmp_path / "bad", data)


def test_an_explicit_small_monolith_can_beat_nfcore() -> None:
    """A monolith far smaller than the forest (2 KB) streams from DRAM faster than the
    forest's requests cross the mesh: the verdicts must say NF-Core loses on latency."""
    wl = synthetic_workload(CFG, 12, 30, top_k=2, seed=3)
    tiny = MonolithSpec(param_bytes=2000, macs=2000, layers=1)
    data, _ = build_system_report(CFG, wl, ArrivalSpec("fixed", 5000.0), tiny,
                                  all_trees_requests=1)
    assert any(v.startswith("NF-Core LOSES to monolith on NF-Core, weights from DRAM on "
                            "latency") for v in data["verdicts"])


def saved_keys(run: Path) -> set[str]:
    return set(json.loads((run / "report.json").read_text()))


def _synthetic(ours_pj: float, ours_4nm_pj: float, gpu_pj: float,
               forest_acc: float = 0.85, mono_acc: float = 0.62) -> dict[str, Any]:
    """A system section with only what `headline_lines` reads."""
    gpu = {"gpu": "H100 SXM", "node_nm": 4, "launch": "persistent", "batch": 256,
           "weights_from": "L2", "energy_pj_per_inference": gpu_pj,
           "dynamic_pj_per_inference": gpu_pj / 4, "latency_s": 2e-4, "fill_wait_s": 1.9e-4}
    return {
        "baselines": [
            {"name": "NF-Core, 45 nm", "kind": "nfcore", "node_nm": 45, "latency_s": 3e-6,
             "energy_pj_per_inference": ours_pj, "by_component": {"leakage": ours_pj}},
            {"name": "NF-Core, 4 nm", "kind": "nfcore", "node_nm": 4, "latency_s": 3e-6,
             "energy_pj_per_inference": ours_4nm_pj,
             "by_component": {"leakage": 0.75 * ours_4nm_pj, "mac": 0.25 * ours_4nm_pj}}],
        "gpu_best_batch": [gpu, {**gpu, "launch": "stream", "energy_pj_per_inference": 2 * gpu_pj}],
        "arrival_rate_per_s": 5e5,
        "gpu_table": {"parameters": [{"name": "idle_power_w", "value": 75.0},
                                     {"name": "kernel_launch_overhead_s", "value": 4e-6},
                                     {"name": "persistent_launch_overhead_s", "value": 0.0}]},
        "technology": {"nodes": {"scaling": {"H100 SXM": {"from_nm": 45, "to_nm": 4,
                                                           "logic": 0.05, "wire": 0.6}}}},
        "forest": {"accuracy": {"forest_float": forest_acc, "monolith_float": mono_acc,
                                "monolith_matched": mono_acc >= forest_acc}},
    }


def test_first_line_states_a_loss_when_nfcore_loses() -> None:
    lines = headline_lines(_synthetic(ours_pj=90_000.0, ours_4nm_pj=6_000.0, gpu_pj=4_000.0))
    assert lines[0] == ("**NF-Core LOSES on energy at the same node (4 nm): 6,000 pJ per "
                        "inference vs 4,000 pJ for the monolith on H100 SXM (persistent "
                        "launch, batch 256, weights from L2, 4 nm), 1.50x worse.**")
    text = "\n".join(lines)
    assert "NF-Core LOSES on energy at NF-Core's own node (45 nm)" in text
    assert "forest 0.8500, monolith 0.6200: NOT equal accuracy" in text
    assert "idle power 75 W (assumed) is 75.0% of the energy of the trained monolith's" in text
    assert ("leakage 75.0% (leakage moved by the logic fit (assumed)), mac 25.0% (logic"
            in text and "x0.05 (logic" in text)


def test_same_node_first_then_losses_before_wins() -> None:
    lines = headline_lines(_synthetic(ours_pj=90_000.0, ours_4nm_pj=3_000.0, gpu_pj=4_000.0))
    # Wins at the same node, loses at its own node: the same node first, then the loss.
    assert lines[0].startswith("**NF-Core wins on energy at the same node (4 nm): 3,000 pJ")
    assert lines[2].startswith("- NF-Core LOSES on energy at NF-Core's own node (45 nm)")
    win = headline_lines(_synthetic(ours_pj=3_500.0, ours_4nm_pj=3_000.0, gpu_pj=4_000.0,
                                    mono_acc=0.85))
    assert any("monolith 0.8500: equal accuracy" in line for line in win)


def test_the_gpu_bound_without_idle_power_is_stated_as_a_loss_or_a_win() -> None:
    # The GPU row is 4,000 pJ, 1,000 of it dynamic: NF-Core's 3,000 pJ at 4 nm wins the row
    # but loses the bound that no idle power could move, and says so among the losses.
    lines = headline_lines(_synthetic(ours_pj=3_500.0, ours_4nm_pj=3_000.0, gpu_pj=4_000.0))
    bound = ("- With no GPU idle power at all (the bound the assumed idle power cannot move): "
             "the trained monolith (accuracy 0.6200) on H100 SXM (persistent launch, batch "
             "256) costs 1,000 pJ per inference vs NF-Core's 3,000 pJ at the same node (4 nm): "
             "NF-Core LOSES this bound, 3.00x worse.")
    assert lines[0].startswith("**NF-Core wins on energy at the same node (4 nm)")
    assert lines[2] == bound
    win = headline_lines(_synthetic(ours_pj=3_500.0, ours_4nm_pj=500.0, gpu_pj=4_000.0))
    assert any(line.endswith("NF-Core still wins, 2.00x better.") for line in win)


def _equal_accuracy(gpu_pj: float | None, method: str) -> dict[str, Any]:
    """An `equal_accuracy` block: one GPU curve read at the forest's accuracy, and the
    resident monolith's curve (cheaper, but not a GPU row: never the headline's GPU)."""
    return {"target_accuracy": 0.85, "curves": {
        "monolith on NF-Core, resident, 4 nm": {
            "energy_pj_per_inference": 10.0, "method": "measured", "points": 3, "node_nm": 4,
            "on_gpu": False},
        "monolith on H100 SXM, persistent kernel, best batch, 4 nm": {
            "energy_pj_per_inference": gpu_pj, "method": method, "points": 3, "node_nm": 4,
            "on_gpu": True}}}


def test_a_loss_at_equal_accuracy_is_the_first_line() -> None:
    data = _synthetic(ours_pj=90_000.0, ours_4nm_pj=6_000.0, gpu_pj=9_000.0)
    data["equal_accuracy"] = _equal_accuracy(5_000.0, "interpolated")
    lines = headline_lines(data)
    # The trained monolith's row (9,000 pJ) would be a win; at equal accuracy it is a loss.
    assert lines[0] == ("**NF-Core LOSES on energy at equal accuracy and the same node (4 nm): "
                        "6,000 pJ per inference vs 5,000 pJ (interpolated between the rungs "
                        "either side of that accuracy) for the monolith on H100 SXM, persistent "
                        "kernel, best batch, 4 nm curve read at the forest's accuracy 0.8500, "
                        "1.20x worse.**")
    text = "\n".join(lines)
    assert "- NF-Core LOSES on energy at equal accuracy and NF-Core's own node (45 nm)" in text
    assert "the GPU figure is the monolith ladder's energy at that accuracy, interpolated" \
        in text


def test_an_extrapolated_figure_says_so_beside_it() -> None:
    data = _synthetic(ours_pj=90_000.0, ours_4nm_pj=3_000.0, gpu_pj=9_000.0)
    data["equal_accuracy"] = _equal_accuracy(4_000.0, "extrapolated")
    first = headline_lines(data)[0]
    assert first.startswith("**NF-Core wins on energy at equal accuracy and the same node")
    assert ("4,000 pJ (extrapolated beyond the most accurate rung: a trend, not a "
            "measurement)") in first


def test_no_gpu_curve_at_equal_accuracy_compares_with_the_cheapest_rung() -> None:
    data = _synthetic(ours_pj=90_000.0, ours_4nm_pj=6_000.0, gpu_pj=9_000.0)
    data["equal_accuracy"] = _equal_accuracy(None, "unreachable")
    curve = "monolith on H100 SXM, persistent kernel, best batch, 4 nm"
    data["accuracy_energy"] = [
        {"model": f"monolith mlp {w}x1 on H100 SXM, persistent kernel, batch 256",
         "curve": curve, "node_nm": 4, "accuracy": acc, "energy_pj_per_inference": pj}
        for w, acc, pj in ((16, 0.80, 5_000.0), (64, 0.78, 9_000.0))]
    lines = headline_lines(data)
    # The trained monolith's best row (9,000 pJ) would be a win; the GPU's cheapest rung,
    # less accurate than the forest, is a loss, and the lines say it is not equal accuracy.
    assert lines[0] == ("**NF-Core LOSES on energy at the same node (4 nm), NOT at equal "
                        "accuracy (no rung of the monolith ladder reaches the forest's accuracy "
                        "0.8500 on a GPU, nor does its curve rise towards it): 6,000 pJ per "
                        "inference vs 5,000 pJ for monolith mlp 16x1 on H100 SXM, persistent "
                        "kernel, batch 256 (4 nm), the GPU's cheapest rung, at test accuracy "
                        "0.8000, 1.20x worse.**")
    assert lines[2].endswith("against the GPU's 4 nm, NOT at equal accuracy: 90,000 pJ per "
                             "inference vs 5,000 pJ for monolith mlp 16x1 on H100 SXM, "
                             "persistent kernel, batch 256 (4 nm), the GPU's cheapest rung, at "
                             "test accuracy 0.8000, 18.00x worse.")


@pytest.mark.parametrize(("on_validation", "words"), [
    (False, "NOT matched: no rung of the ladder (widths and depths) reached it"),
    (True, "NOT matched: a rung reached it on validation but not on test")])
def test_the_forest_section_says_how_the_ladder_missed(on_validation: bool, words: str) -> None:
    forest = {"accuracy": {"forest_float": 0.9, "monolith_float": 0.8, "monolith_matched": False,
                           "float_forest_same_requests": 0.9, "int8_forest_golden": 0.9,
                           "golden_requests": 10, "golden_tree_runs": 30},
              "params_touched_per_request": {"forest": 100.0, "monolith": 1000},
              "layout": {"hop_bytes_per_request": {"placed": 1.0}, "resident_trees": 3,
                         "paged_trees": 0, "cores_used": 3,
                         "placement_budget_bytes_per_core": 1000},
              "trees_by_kind": {"mlp": 3}, "dataset": "d", "trees": 3, "top_k": 1,
              "monolith_ladder": {"reached_on_validation": on_validation}}
    assert words in "\n".join(forest_markdown(forest))
