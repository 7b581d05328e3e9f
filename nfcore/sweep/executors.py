"""Where points run: in this process, in local worker processes, or on a Dask cluster.

The sweep runner sees one interface, `Executor.map_unordered`: it yields each item with its
result (or the exception that reached the executor) as soon as it finishes, in any order.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from nfcore.errors import NFCoreError

T = TypeVar("T")


class ExecutorError(NFCoreError):
    """The executor could not be started (e.g. no Dask scheduler at the address)."""


class Executor(Protocol):
    description: str

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]: ...

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

    def close(self) -> None:
        pass


class LocalExecutor:
    """A pool of `workers` local processes (spawned: the parent may hold torch threads,
    which do not survive a fork)."""

    def __init__(self, workers: int) -> None:
        self.description = f"{workers} local processes"
        self._pool = cf.ProcessPoolExecutor(max_workers=workers,
                                            mp_context=multiprocessing.get_context("spawn"))

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        futures = {self._pool.submit(fn, item): item for item in items}
        for fut in cf.as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:  # e.g. a worker process died
                yield futures[fut], exc

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


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

    def map_unordered(self, fn: Callable[[T], Any],
                      items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        from distributed import as_completed  # heavy: as in __init__

        futures = {self._client.submit(fn, item, pure=False): item for item in items}
        for fut in as_completed(list(futures), loop=self._client.loop):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:
                yield futures[fut], exc

    def close(self) -> None:
        self._client.close()


def make_executor(workers: int = 1, cluster: str | None = None) -> Executor:
    if cluster:
        return DaskExecutor(cluster)
    if workers < 1:
        raise ExecutorError(f"--workers must be >= 1, got {workers}")
    return InlineExecutor() if workers == 1 else LocalExecutor(workers)
