"""Run reports: required keys, the three files, the latest link and the summary helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_workloads import SMALL, random_workload

from nfcore.config import NFCoreConfig
from nfcore.errors import ReportError
from nfcore.report.run import link_latest, new_run_dir, write_report
from nfcore.sim.core import simulate
from nfcore.sim.stats import percentiles, summarize_energy


def _data() -> dict[str, Any]:
    return {
        "schema_version": 2,
        "config": NFCoreConfig().to_dict(),
        "energy_pj_per_inference": {
            "total": 5000.0,
            "by_component": {"mac": 1000.0, "weight_sram": 3000.0, "network": 1000.0},
        },
        "latency_cycles": {"p50": 4000.0, "p99": 9000.0},
        "requests": 100,
        "single_tree": {
            "workload": {"dataset": "digits", "tree_shapes": [[64, 32], [32, 10]],
                         "parameter_count": 2410, "instructions": 3},
            "accuracy": {"float": 0.9611, "int8": 0.9583},
            "requests": 2,
            "latency_cycles": {"p50": 1000.0, "p99": 1500.0},
            "energy_pj_per_inference": {
                "total": 1000.0,
                "by_component": {"mac": 100.0, "weight_sram": 600.0, "act_sram": 200.0,
                                 "control": 50.0, "leakage": 50.0},
            },
            "rtl": {"programs_compared": 20, "cycle_mismatches": 0, "output_mismatches": 0},
        },
        "sim_vs_rtl": {"level": "system", "mesh": "4x4", "requests_compared": 120,
                       "packets_compared": 430, "packets_waited": 41, "cycle_mismatches": 0,
                       "output_mismatches": 0, "trees": [3, 5, 8]},
        "stage_seconds": {"train": np.float64(1.5)},
    }


def test_write_report_files_and_latest(tmp_path: Path) -> None:
    run_dir = new_run_dir(tmp_path)
    data = _data()
    write_report(run_dir, data)
    saved = json.loads((run_dir / "report.json").read_text())
    assert saved["energy_pj_per_inference"] == data["energy_pj_per_inference"]
    assert saved["stage_seconds"] == {"train": 1.5}
    assert set(saved) == set(data)
    md = (run_dir / "report.md").read_text()
    for needle in ("Where the numbers come from", "| float | 0.9611 |", "| int8 (golden model) "
                   "| 0.9583 |", "| p50 | 1,000.0 | 2.000 |", "| p99 | 1,500.0 | 3.000 |",
                   "| weight_sram | 600.00 | 60.0% |", "Total: **5,000.0 pJ**",
                   "| weight_sram | 3,000.00 | 60.0% |", "single tree: **1,000.0 pJ**",
                   "latency p50 4,000.0 cycles",
                   "sram_read_64b_8kib", "Horowitz", "energy_scale = 1",
                   "leakage_core_uw = 20 uW",
                   "120 of the run's requests replayed on a 4x4 corner of the chip (3 of its "
                   "trees, 430 packets through the host port, 41 waited), request by request: "
                   "0 completion-cycle and 0 output mismatches",
                   "single tree on the core RTL against the golden model: 20 inputs, 0 cycle",
                   "stage_seconds"):
        assert needle in md, needle
    png = (run_dir / "energy_by_component.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    latest = tmp_path / "latest"
    assert latest.is_symlink() and os.readlink(latest) == run_dir.name
    assert latest.resolve() == run_dir.resolve()


def test_latest_moves_to_the_newest_run(tmp_path: Path) -> None:
    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second  # same second: the second folder gets a suffix
    link_latest(tmp_path, first)
    link_latest(tmp_path, second)
    assert os.readlink(tmp_path / "latest") == second.name


def test_missing_keys_are_named(tmp_path: Path) -> None:
    data = _data()
    del data["single_tree"]["accuracy"]["int8"]
    del data["sim_vs_rtl"]
    del data["schema_version"]
    with pytest.raises(ValueError, match="schema_version, single_tree.accuracy.int8, "
                       "sim_vs_rtl.requests_compared, sim_vs_rtl.cycle_mismatches"):
        write_report(tmp_path / "run", data)
    with pytest.raises(ReportError):
        write_report(tmp_path / "run", {})


def test_summaries_from_a_simulation() -> None:
    rng = np.random.default_rng(1)
    wl = random_workload(rng)
    inputs = [rng.integers(-128, 128, size=wl.input_len).astype(np.int8) for _ in range(4)]
    sim = simulate(SMALL, wl.weights, wl.program, inputs, wl.input_addr, wl.output_addr,
                   wl.output_len, arrival="burst")
    summary = summarize_energy(sim.records)
    # Every request runs the same instructions, so the mean equals any one request.
    assert summary["by_component"] == pytest.approx(sim.records[0].energy_pj)
    assert summary["total"] == pytest.approx(sim.records[0].energy_pj_total)
    assert summarize_energy([r.to_dict() for r in sim.records]) == summary
    assert percentiles([1, 2, 3, 4, 100]) == {"p50": 3.0, "p99": pytest.approx(96.16)}
    with pytest.raises(ReportError):
        percentiles([])
