"""Where points run: in this process, in local worker processes, or on a Dask cluster.

The sweep runner sees one interface, `Executor.map_unordered`: it yields each item with its
result (or the exception that reached the executor) as soon as it finishes, in any order.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from nfcore.errors import NFCoreError

T = TypeVar("T")


class ExecutorError(NFCoreError):
    """The executor could not be started (e.g. no Dask scheduler at the address)."""


class Executor(Protocol):
    description: str

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]: ...

    def terminate(self) -> None:
        """Stop now: running items are abandoned (an interrupted sweep)."""

    def close(self) -> None: ...


class InlineExecutor:
    """Runs every item in this process, in order (one worker, no process start-up cost)."""

    description = "this process"

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        for item in items:
            try:
                yield item, fn(item)
            except Exception as exc:
                yield item, exc

    def terminate(self) -> None:
        pass

    def close(self) -> None:
        pass


class WorkerCrashed(NFCoreError):
    """A point's worker process died (killed by a signal, out of memory) on every try."""


MAX_CRASHES = 2
"""Tries of a point whose worker dies before it is stored as an error (`WorkerCrashed`)."""
POLL_S = 0.2
"""How often the pool's running points are noted (to tell which ones a crash hit)."""


class LocalExecutor:
    """A pool of `workers` local processes (spawned: the parent may hold torch threads,
    which do not survive a fork).

    A worker that dies (SIGKILL, the OOM killer) breaks the whole pool: every unfinished
    point then fails with `BrokenProcessPool`. Those points are run again on a fresh pool;
    the ones that were running when it broke are suspects, and each suspect is run again
    alone, after the others, so that a crash then is its own. A point whose worker died
    `MAX_CRASHES` times is given up with `WorkerCrashed`; points that finished are never
    run again.

    Workers die with this process (`_init_worker`), and `terminate` stops them at once.
    """

    def __init__(self, workers: int) -> None:
        self.description = f"{workers} local processes"
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        crashes = [0] * len(items)
        todo = list(range(len(items)))
        while todo:
            run = [i for i in todo if not crashes[i]] or todo[:1]
            lost: list[int] = []
            blamed: list[int] = []
            for i, result in self._round(fn, items, run, lost, blamed):
                yield items[i], result
            for i in blamed:
                crashes[i] += 1
            todo = [i for i in todo if i not in run] + lost
            for i in [i for i in todo if crashes[i] >= MAX_CRASHES]:
                todo.remove(i)
                yield items[i], WorkerCrashed(
                    f"worker crashed twice (killed by a signal or out of memory) while "
                    f"running this point; given up after {MAX_CRASHES} tries")

    def _round(self, fn: Callable[[T], Any], items: Sequence[T], run: list[int],
               lost: list[int], blamed: list[int]) -> Iterator[tuple[int, Any]]:
        """Run the items `run`; yield (index, result or exception). If the pool breaks, the
        unfinished indices go to `lost`, and those that were running (all of them, when
        none was seen running) to `blamed` too."""
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(),))
        futures = {self._pool.submit(fn, items[i]): i for i in run}
        pending = set(futures)
        running: set[int] = set()
        while pending:
            if not lost:  # once the pool breaks, futures stop being "running" one by one
                running = {futures[f] for f in pending if f.running()} or running
            done, pending = cf.wait(pending, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    lost.append(futures[fut])
                else:
                    yield futures[fut], exc if exc is not None else fut.result()
        if lost:
            blamed.extend([i for i in lost if i in running] or lost)
            self.close()

    def terminate(self) -> None:
        """Stop the workers now, running points and all (an interrupted sweep)."""
        if self._pool is not None:
            # concurrent.futures gains terminate_workers() only in Python 3.14.
            for proc in list((self._pool._processes or {}).values()):
                proc.terminate()
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent dies (linux/prctl.h)."""


def _init_worker(parent_pid: int) -> None:
    """Pool initializer: the worker dies with the sweep's process (`_watch_parent`), ignores
    SIGINT (Ctrl-C reaches the whole process group; the sweep's process stops its workers
    itself, `terminate`), and gives tqdm a thread lock: tqdm's default lock is a
    multiprocessing one, registered with the resource tracker, which then warns of a leak
    on stderr when a worker is stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())
    _watch_parent(parent_pid)


def _watch_parent(parent_pid: int) -> None:
    """Die with the process `parent_pid`, so that killing the sweep (even with SIGKILL)
    leaves no worker, and so no resource tracker, behind.

    On Linux the kernel does it: PR_SET_PDEATHSIG sends SIGKILL when the thread that started
    the worker exits (the pool starts workers from the thread that submits the points: the
    sweep's main thread, which lives as long as the process). Elsewhere a daemon thread
    checks the parent's pid once a second."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_poll_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the above took effect
        os._exit(1)


def _poll_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


class DaskExecutor:
    """The points as tasks of a Dask distributed cluster at `address`."""

    def __init__(self, address: str) -> None:
        try:  # Dask is heavy and only a `--cluster` sweep needs it
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ExecutorError("--cluster needs dask[distributed]; reinstall nfcore") from exc
        try:
            self._client = Client(address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self.description = f"Dask cluster at {address}"
        self._futures: list[Any] = []

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        from distributed import as_completed  # heavy: as in __init__

        futures = {self._client.submit(fn, item, pure=False): item for item in items}
        self._futures = list(futures)
        for fut in as_completed(list(futures), loop=self._client.loop):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:
                yield futures[fut], exc

    def terminate(self) -> None:
        """Cancel this client's tasks; the cluster's workers are not ours to stop."""
        self._client.cancel(list(self._futures))
        self.close()

    def close(self) -> None:
        self._client.close()


def make_executor(workers: int = 1, cluster: str | None = None) -> Executor:
    if cluster:
        return DaskExecutor(cluster)
    if workers < 1:
        raise ExecutorError(f"--workers must be >= 1, got {workers}")
    return InlineExecutor() if workers == 1 else LocalExecutor(workers)
