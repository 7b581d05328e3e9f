"""Running a sweep: stored points are skipped, a killed sweep resumes, a failing point does
not stop the others, and a Dask cluster gives the local executor's results."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sweep_helpers import write_sweep

from nfcore.sweep.executors import DaskExecutor, InlineExecutor, LocalExecutor
from nfcore.sweep.runner import DB_FILE, run_sweep
from nfcore.sweep.spec import SweepSpec


def _stored(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, finished_unix FROM points"))


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path: Path,
                                                           forest_cache: Path) -> None:
    # 4100 bytes is not a multiple of 8 lanes: that point's config is invalid.
    spec = SweepSpec.load(write_sweep(tmp_path, {"core.weight_sram_bytes": [4096, 4100,
                                                                            8192]}))
    out = run_sweep(spec, tmp_path / "out", forest_cache=forest_cache, quiet=True)
    assert [p.status for p in out.points] == ["ok", "error", "ok"]
    assert "core.weight_sram_bytes = 4100 must be a multiple of core.lanes = 8" in \
        out.points[1].error
    assert out.points[0].metrics["energy_pj_per_inference"] > 0
    # A rerun skips all three (failed ones too, unless asked to retry them).
    again = run_sweep(spec, tmp_path / "out", forest_cache=forest_cache, quiet=True)
    assert again.ran == 0 and [p.key for p in again.points] == [p.key for p in out.points]
    retry = run_sweep(spec, tmp_path / "out", forest_cache=forest_cache, retry_failed=True,
                      quiet=True)
    assert retry.ran == 1


def test_a_killed_sweep_resumes_without_recomputing(tmp_path: Path,
                                                    forest_cache: Path) -> None:
    sweep = write_sweep(tmp_path, {"core.weight_sram_bytes": [2048, 4096, 8192, 16384],
                                   "core.lanes": [8, 16]})
    out_dir = tmp_path / "out"
    db = out_dir / DB_FILE
    cmd = [sys.executable, "-m", "nfcore.cli", "sweep", str(sweep), "-o", str(out_dir),
           "--forest-cache", str(forest_cache), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.is_file() and len(_stored(db)) >= 2:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    before = _stored(db)
    assert 2 <= len(before) < 8, "the sweep was not killed part-way"

    out = run_sweep(SweepSpec.load(sweep), out_dir, forest_cache=forest_cache, quiet=True)
    after = _stored(db)
    assert out.ran == 8 - len(before)
    assert len(after) == 8 and all(p.status == "ok" for p in out.points)
    # Points finished before the kill were not recomputed: same rows, same finish times.
    assert {k: after[k] for k in before} == before


def _metrics(spec: SweepSpec, out_dir: Path, executor, cache: Path) -> dict[int, dict]:
    try:
        out = run_sweep(spec, out_dir, executor, forest_cache=cache, quiet=True)
    finally:
        executor.close()
    assert all(p.status == "ok" for p in out.points), [p.error for p in out.points]
    return {p.index: p.metrics for p in out.points}


def test_local_processes_and_a_dask_cluster_agree(tmp_path: Path, tiny_spec: SweepSpec,
                                                  forest_cache: Path) -> None:
    from distributed import LocalCluster

    inline = _metrics(tiny_spec, tmp_path / "inline", InlineExecutor(), forest_cache)
    local = _metrics(tiny_spec, tmp_path / "local", LocalExecutor(2), forest_cache)
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                      dashboard_address=None) as cluster:
        dask = _metrics(tiny_spec, tmp_path / "dask", DaskExecutor(cluster.scheduler_address),
                        forest_cache)
    assert len(local) == 4
    assert local == dask == inline
