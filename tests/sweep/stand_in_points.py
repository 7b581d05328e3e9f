"""Stand-ins for `nfcore.sweep.evaluate.evaluate` (tests only): fast, deterministic points
that crash or hang on purpose, so tests that kill processes take seconds.

Each call appends "start <index> <pid>" and, if it returns, "done <index> <pid>" to
`$NFCORE_TEST_SWEEP_DIR/calls.log` (the workers inherit the variable).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nfcore.sweep.task import PointTask

ENV = "NFCORE_TEST_SWEEP_DIR"


def _log(what: str, task: PointTask) -> None:
    with open(Path(os.environ[ENV]) / "calls.log", "a") as f:
        f.write(f"{what} {task.index} {os.getpid()}\n")


def calls(folder: Path, what: str) -> list[int]:
    """The point indices logged with `what` ("start" or "done"), in order."""
    log = folder / "calls.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    return [int(line.split()[1]) for line in lines if line.split()[0] == what]


def _ok(task: PointTask) -> dict[str, Any]:
    _log("done", task)
    return {"status": "ok", "metrics": {"index": task.index}, "seconds": 0.0}


def quick(task: PointTask) -> dict[str, Any]:
    _log("start", task)
    return _ok(task)


def crash_once(task: PointTask) -> dict[str, Any]:
    """Point 1's worker is SIGKILLed the first time it runs it."""
    _log("start", task)
    marker = Path(os.environ[ENV]) / "crashed"
    if task.index == 1 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return _ok(task)


def crash_always(task: PointTask) -> dict[str, Any]:
    """Point 0's worker is SIGKILLed every time it runs it."""
    _log("start", task)
    if task.index == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return _ok(task)


def hang(task: PointTask) -> dict[str, Any]:
    """Point 0 finishes at once; the others run for a minute (until killed). Like a real
    point, each makes a (silent) progress bar first."""
    _log("start", task)
    tqdm(total=1, disable=True).close()
    if task.index != 0:
        time.sleep(60)
    return _ok(task)
