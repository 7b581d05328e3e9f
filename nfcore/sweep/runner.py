"""`nfcore sweep`: expand the sweep file, train each distinct forest once, run the points that
are not stored yet on an executor, store each one as it finishes, and write the report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm import tqdm

from nfcore.config import NFCoreConfig
from nfcore.errors import NFCoreError
from nfcore.sweep.evaluate import evaluate
from nfcore.sweep.executors import Executor, InlineExecutor
from nfcore.sweep.forests import ensure_forest, forest_key
from nfcore.sweep.spec import ForestSpec, Point, SweepSpec
from nfcore.sweep.store import ResultStore, StoredPoint
from nfcore.sweep.tables import derived_table, table_digest
from nfcore.sweep.task import PointTask
from nfcore.sweep.version import code_version

DB_FILE = "results.sqlite"


@dataclass(frozen=True)
class SweepOutcome:
    points: list[StoredPoint]
    """Every point of the sweep, stored (this run or an earlier one), in point order."""
    ran: int
    """Points computed by this run (the rest were already stored)."""
    seconds: float
    db_path: Path


class SweepInterrupted(NFCoreError):
    """The sweep was stopped by `signum` (SIGTERM, SIGINT: Ctrl-C); what finished is stored."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def run_sweep(spec: SweepSpec, out_dir: Path, executor: Executor | None = None,
              forest_cache: Path | None = None, retry_failed: bool = False,
              quiet: bool = False,
              point_fn: Callable[[PointTask], dict[str, Any]] = evaluate) -> SweepOutcome:
    """Run every point of `spec` not yet in `out_dir/results.sqlite`; see the module.

    `point_fn` computes one point (`evaluate`; tests pass a stand-in). SIGTERM and Ctrl-C
    stop the executor's workers and raise `SweepInterrupted`, which says what is stored."""
    t0 = time.perf_counter()
    executor = executor or InlineExecutor()
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = forest_cache or out_dir / "forests"
    store = ResultStore(out_dir / DB_FILE)
    bar = None
    try:
        with _sigterm_as_interrupt():
            points = spec.points()
            tasks = [_task(spec, p, out_dir, cache) for p in points]
            done = store.finished_keys(include_failed=not retry_failed)
            todo = [t for t in tasks if t.key not in done]
            if not quiet:
                print(f"sweep {spec.name}: {len(tasks)} points, {len(tasks) - len(todo)} "
                      f"already stored, {len(todo)} to run on {executor.description}",
                      flush=True)
            todo = _with_forests(spec, points, todo, cache, quiet)
            bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="sweep",
                       unit="point", disable=quiet)
            ran = 0
            for task, outcome in executor.map_unordered(point_fn, todo):
                if isinstance(outcome, BaseException):
                    outcome = {"status": "error", "seconds": 0.0,
                               "error": f"executor: {type(outcome).__name__}: {outcome}"}
                store.put(task.key, spec.name, task.index, task.values, task.config, outcome)
                ran += 1
                bar.update()
            stored = store.get([t.key for t in tasks])
    except KeyboardInterrupt as exc:
        executor.terminate()
        signame = str(exc) or "SIGINT"
        n = len(store.finished_keys())
        raise SweepInterrupted(
            f"sweep {spec.name} stopped by {signame}: {n} of {len(spec.points())} points "
            f"are stored in {out_dir / DB_FILE}; run the same command again to resume",
            signal.Signals[signame]) from None
    finally:
        if bar is not None:
            bar.close()
        store.close()
    return SweepOutcome(stored, ran, time.perf_counter() - t0, out_dir / DB_FILE)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt("SIGTERM") in the main thread while inside."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _task(spec: SweepSpec, point: Point, out_dir: Path, cache: Path) -> PointTask:
    config = json.loads(json.dumps(point.config))
    tech = config.setdefault("technology", {})
    base_table = str(tech.get("energy_table", NFCoreConfig().technology.energy_table))
    if point.table_rows:
        tech["energy_table"] = str(derived_table(base_table, point.table_rows,
                                                 out_dir / "tables", spec.name).resolve())
    key = point_key(config, point.forest, spec.simulation.to_dict())
    entry = cache / forest_key(point.forest)
    return PointTask(key, point.index, point.values, config, str(entry.resolve()),
                     spec.simulation.to_dict())


def point_key(config: dict[str, Any], forest: ForestSpec, simulation: dict[str, Any]) -> str:
    """Hash of a point's inputs: resolved config (its energy table by content), forest
    spec, simulation options and code version."""
    try:
        resolved = NFCoreConfig.from_dict(config).to_dict()
    except NFCoreError:
        resolved = config  # an invalid config is still a point (it fails when run)
    resolved = json.loads(json.dumps(resolved))
    tech = resolved.setdefault("technology", {})
    with contextlib.suppress(NFCoreError):  # a missing table fails the point when it runs
        tech["energy_table"] = table_digest(str(tech.get(
            "energy_table", NFCoreConfig().technology.energy_table)))
    blob = json.dumps({"config": resolved, "forest": forest.to_dict(), "simulation": simulation,
                       "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _with_forests(spec: SweepSpec, points: list[Point], todo: list[PointTask], cache: Path,
                  quiet: bool) -> list[PointTask]:
    """Train the forests the points to run need (once per distinct spec); a point whose
    forest fails to train carries the error."""
    needed = {p.index: p.forest for p in points}
    specs = list(dict.fromkeys(needed[t.index] for t in todo))
    errors: dict[ForestSpec, str] = {}
    for fspec in tqdm(specs, desc="forests", unit="forest", disable=quiet or not specs):
        try:
            ensure_forest(fspec, cache, quiet=True)
        except Exception as exc:  # recorded on its points; the other forests go on
            errors[fspec] = f"{type(exc).__name__}: {exc}"
    return [PointTask(t.key, t.index, t.values, t.config, t.forest_entry, t.simulation,
                      errors.get(needed[t.index], "")) for t in todo]
