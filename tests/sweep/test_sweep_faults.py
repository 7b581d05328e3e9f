"""Sweeps under faults: a worker killed with SIGKILL, the sweep's own process killed with
SIGKILL or stopped with SIGTERM. The points are stand-ins (`stand_in_points`) so that each
test takes seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import stand_in_points as points
from sweep_helpers import write_sweep

from nfcore.sweep.executors import LocalExecutor
from nfcore.sweep.runner import DB_FILE, run_sweep
from nfcore.sweep.spec import SweepSpec

ROOT = Path(__file__).resolve().parents[2]
GRID = {"core.lanes": [8, 16], "core.weight_sram_bytes": [2048, 4096]}


@pytest.fixture()
def calls_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "calls"
    folder.mkdir()
    monkeypatch.setenv(points.ENV, str(folder))
    return folder


def _sweep(tmp_path: Path, cache: Path, point_fn, workers: int = 2):
    executor = LocalExecutor(workers)
    try:
        return run_sweep(SweepSpec.load(write_sweep(tmp_path, GRID)), tmp_path / "out",
                         executor, forest_cache=cache, quiet=True, point_fn=point_fn)
    finally:
        executor.close()


def test_a_killed_worker_s_points_run_again_on_a_fresh_pool(tmp_path: Path, calls_dir: Path,
                                                            forest_cache: Path) -> None:
    out = _sweep(tmp_path, forest_cache, points.crash_once)
    assert [p.status for p in out.points] == ["ok"] * 4, [p.error for p in out.points]
    # Point 1 ran twice (its worker was killed the first time); every point finished once.
    assert Counter(points.calls(calls_dir, "done")) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert points.calls(calls_dir, "start").count(1) == 2
    # Nothing failed, so a plain rerun has nothing to do.
    assert _sweep(tmp_path, forest_cache, points.quick).ran == 0


def test_a_point_that_kills_its_worker_every_time_is_given_up(tmp_path: Path, calls_dir: Path,
                                                              forest_cache: Path) -> None:
    out = _sweep(tmp_path, forest_cache, points.crash_always)
    assert [p.status for p in out.points] == ["error", "ok", "ok", "ok"]
    assert "worker crashed twice" in out.points[0].error
    assert points.calls(calls_dir, "start").count(0) == 2
    assert Counter(points.calls(calls_dir, "done")) == {1: 1, 2: 1, 3: 1}


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _start_child(tmp_path: Path, cache: Path, calls_dir: Path
                 ) -> tuple[subprocess.Popen[bytes], set[int]]:
    """A sweep process whose points hang (but point 0), once point 0 is stored and both
    workers are running; and its children (the workers and the resource tracker)."""
    sweep = write_sweep(tmp_path, GRID)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "sweep_child.py"),
                             str(sweep), str(tmp_path / "out"), str(cache), "hang"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(set(points.calls(calls_dir, "start")) - {0}) < 2 or \
            not (tmp_path / "out" / DB_FILE).is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep did not start"
        time.sleep(0.1)
    time.sleep(0.3)  # point 0's result reaches the store
    children = _children(proc.pid)
    assert len(children) >= 3, "expected two workers and the resource tracker"
    return proc, children


def _wait_gone(pids: set[int], seconds: float = 15.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_killing_the_sweep_leaves_no_worker_or_resource_tracker(
        tmp_path: Path, calls_dir: Path, forest_cache: Path) -> None:
    proc, children = _start_child(tmp_path, forest_cache, calls_dir)
    proc.kill()
    proc.wait()
    assert not _wait_gone(children), "orphaned processes of the killed sweep"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigterm_stops_the_sweep_cleanly_and_a_rerun_resumes(
        tmp_path: Path, calls_dir: Path, forest_cache: Path) -> None:
    proc, children = _start_child(tmp_path, forest_cache, calls_dir)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"nfcore: sweep tiny stopped by SIGTERM: 1 of 4 points are stored in " \
           f"{tmp_path / 'out' / DB_FILE}; run the same command again to resume" in err
    assert not _wait_gone(children), "processes left by the stopped sweep"
    again = _sweep(tmp_path, forest_cache, points.quick)
    assert again.ran == 3 and [p.status for p in again.points] == ["ok"] * 4
