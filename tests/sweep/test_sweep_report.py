"""The sweep report: files, Pareto fronts from the stored figures, best configs that load,
and swept energy-table rows that change the energy they should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from nfcore.cli import main
from nfcore.config import NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sweep.pareto import pareto_front
from nfcore.sweep.report import write_report
from nfcore.sweep.runner import run_sweep
from nfcore.sweep.spec import SweepSpec


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, forest_cache: Path):
    folder = tmp_path_factory.mktemp("report")
    spec = SweepSpec.load(write_sweep(folder, {"core.lanes": [8, 16],
                                               "energy_table.leakage_core_uw": [20, 2000]}))
    out = run_sweep(spec, folder / "out", forest_cache=forest_cache, quiet=True)
    return folder / "out", out, write_report(spec, out, folder / "out")


def test_writes_every_file(report) -> None:
    out_dir, _, _ = report
    for name in ("report.md", "points.csv", "points.json", "summary.json",
                 "pareto_energy_latency.png", "pareto_energy_area.png", "best/energy.yaml",
                 "best/latency.yaml", "best/area.yaml"):
        assert (out_dir / name).is_file(), name
    assert len(json.loads((out_dir / "points.json").read_text())) == 4
    assert (out_dir / "points.csv").read_text().count("\n") == 5


def test_fronts_and_best_points_follow_the_figures(report) -> None:
    out_dir, out, summary = report
    m = {p.index: p.metrics for p in out.points}
    costs = [[m[i]["latency_s_p50"], m[i]["energy_pj_per_inference"]] for i in sorted(m)]
    assert summary["pareto_fronts"]["pareto_energy_latency.png"] == pareto_front(costs)
    best = min(m, key=lambda i: m[i]["energy_pj_per_inference"])
    assert summary["best"]["energy"]["point"] == best
    cfg = NFCoreConfig.load(out_dir / "best" / "energy.yaml")
    assert cfg.to_dict() == NFCoreConfig.from_dict(out.points[best].config).to_dict()


def test_swept_leakage_row_is_charged(report) -> None:
    _, out, _ = report
    by = {(p.params["core.lanes"], p.params["energy_table.leakage_core_uw"]): p for p in out.points}
    low, high = by[(8, 20)], by[(8, 2000)]
    # Same forest, placement and requests: only leakage changes, and it grows.
    assert high.metrics["latency_cycles_p50"] == low.metrics["latency_cycles_p50"]
    assert high.metrics["energy_by_component_pj"]["leakage"] > \
        10 * low.metrics["energy_by_component_pj"]["leakage"]
    table = EnergyTable.load(high.config["technology"]["energy_table"])
    row = table.rows["leakage_core_uw"]
    assert row.value == 2000 and row.assumption and "swept by sweep 'tiny'" in row.reason


def test_cli_bad_sweep_file_is_one_line(tmp_path: Path, capsys) -> None:
    path = write_sweep(tmp_path, {"core.lanes": [7]})
    assert main(["sweep", str(path), "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "core.lanes = 7 is not allowed" in err


def test_cli_exits_1_when_a_point_failed(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A sweep with failed points says so on stderr and exits 1 (a plain rerun skips them)."""
    import types

    from nfcore.sweep import executors, report, runner

    class Inline:
        def close(self) -> None:
            pass

    monkeypatch.setattr(executors, "make_executor", lambda workers, cluster: Inline())
    monkeypatch.setattr(runner, "run_sweep",
                        lambda *a, **k: types.SimpleNamespace(ran=2, seconds=0.1))
    monkeypatch.setattr(report, "write_report",
                        lambda spec, outcome, out: {"ok": 1, "failed": 1, "points": 2})
    path = write_sweep(tmp_path, {"core.lanes": [8, 16]})
    assert main(["sweep", str(path), "-o", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1 of 2 sweep points failed" in err
    monkeypatch.setattr(report, "write_report",
                        lambda spec, outcome, out: {"ok": 2, "failed": 0, "points": 2})
    assert main(["sweep", str(path), "-o", str(tmp_path / "o"), "-q"]) == 0
