"""Serving throughput: `nfcore serve` (golden backend) under concurrent clients.

1. Train a digits forest (`Sizes.trees` trees, CNN and MLP, shared conv stem, top-2) and
   compile it for configs/default.yaml into build/bench_serve/ (reused by later runs:
   delete the folder to rebuild).
2. Start the real server (`python -m nfcore.cli serve`, uvicorn) in a subprocess, once with
   a durable audit log (write + fsync before every answer) and once without a log, and
   send `Sizes.requests` single-row requests (test rows, unique request ids) from
   `Sizes.clients` concurrent clients (httpx, asyncio, one connection each), after
   `Sizes.warmup` requests that load the trees. Print requests/s and the p50 and p99 of
   the client-side latency, and check that the log verifies with one record per answer.

The clients run on the same machine as the server (2 shared cores): the figures are lower
bounds of the server's rate. The load average is printed before and after: compare the
audit run with the no-audit run of the same invocation (their ratio), not across runs.
Target (issue 19): >= 1,000 requests/s and p99 < 100 ms with the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import options
from serving import free_port, wait_ready

ROOT = options.ROOT
WORK = ROOT / "build" / "bench_serve"
CONFIG = ROOT / "configs" / "default.yaml"


@dataclass(frozen=True)
class Sizes:
    """`trees` in the forest; `requests` timed, from `clients` concurrent clients, after
    `warmup` untimed ones."""

    trees: int = 8
    requests: int = 1000
    clients: int = 32
    warmup: int = 200


SMOKE = Sizes(trees=4, requests=64, clients=4, warmup=16)


@dataclass(frozen=True)
class Rate:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    """Server process CPU time (user + system) per timed request."""
    client_cpu_ms: float
    """This process's CPU time per timed request (the load generator)."""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build(sz: Sizes) -> tuple[Path, Path]:
    """The trained forest and its image (built once into WORK)."""
    forest, image = WORK / f"forest_{sz.trees}", WORK / f"image_{sz.trees}"
    if not (forest / "manifest.json").exists():
        from forest.build import ForestOptions, train_forest
        from forest.datasets import load_dataset
        from forest.fit import FitOptions
        from forest.io import save_forest

        quick = FitOptions(epochs=3)
        opts = ForestOptions(n_trees=sz.trees, top_k=2, kinds=("cnn", "mlp"), tree_size=8,
                             stem_width=8, fit=quick, stem_fit=quick, router_steps=100)
        trained, _ = train_forest(load_dataset("digits"), opts)
        save_forest(trained, forest)
    if not (image / "manifest.json").exists():
        from forest.datasets import load_dataset
        from nfcore.compiler import compile_forest
        from nfcore.config import NFCoreConfig

        calib = load_dataset("digits").x_train[:256]
        compile_forest(forest, NFCoreConfig.load(CONFIG), calib_x=calib,
                       progress=False).save(image)
    return forest, image


async def _load(url: str, rows: np.ndarray, ids: list[str], clients: int,
                client_kind: str = "httpx") -> list[float]:
    """Latencies (s) of posting each row with its id, `clients` requests at a time, each
    client on its own keep-alive connection."""
    bodies = [json.dumps({"inputs": rows[i % len(rows)].tolist(), "request_id": rid}).encode()
              for i, rid in enumerate(ids)]
    latencies: list[float] = []
    next_i = 0
    post = _httpx_poster if client_kind == "httpx" else _raw_poster

    async def client() -> None:
        nonlocal next_i
        async with post(url) as send:
            while next_i < len(bodies):
                body = bodies[next_i]
                next_i += 1
                t0 = time.perf_counter()
                status = await send(body)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"request answered {status}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


@contextlib.asynccontextmanager
async def _httpx_poster(url: str) -> AsyncIterator[Callable[[bytes], Awaitable[int]]]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        async def send(body: bytes) -> int:
            r = await http.post("/v1/predict", content=body,
                                headers={"content-type": "application/json"})
            return r.status_code
        yield send


@contextlib.asynccontextmanager
async def _raw_poster(url: str) -> AsyncIterator[Callable[[bytes], Awaitable[int]]]:
    """A minimal HTTP/1.1 keep-alive client (as `wrk` would load a server): the request
    bytes are written as they are and only the status line and Content-Length are read,
    so the load generator spends little of the machine the server shares."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def send(body: bytes) -> int:
        writer.write(b"POST /v1/predict HTTP/1.1\r\nhost: %s\r\ncontent-type: "
                     b"application/json\r\ncontent-length: %d\r\n\r\n%s"
                     % (host.encode(), len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    try:
        yield send
    finally:
        writer.close()


def serve_rate(forest: Path, image: Path, log: Path | None, sz: Sizes,
               client_kind: str = "httpx") -> Rate:
    """The rate and latency of `nfcore serve` with (or without) an audit log."""
    from forest.datasets import load_dataset
    from nfcore.conductor.audit import verify_log

    rows = load_dataset("digits").x_test
    port = free_port()
    argv = [sys.executable, "-m", "nfcore.cli", "serve", "--config", str(CONFIG), "--image",
            str(image), "--forest", str(forest), "--port", str(port), "-q",
            "--standardized-inputs"]  # the rows are the dataset's x_test, standardized
    if log is not None:
        argv += ["--audit", str(log)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, timeout_s=120)
        asyncio.run(_load(url, rows, [f"warm-{i}" for i in range(sz.warmup)], sz.clients,
                          client_kind))
        cpu0, own0, t0 = _cpu_s(proc.pid), _own_cpu_s(), time.perf_counter()
        lat = asyncio.run(_load(url, rows, [f"req-{i}" for i in range(sz.requests)],
                                sz.clients, client_kind))
        elapsed = time.perf_counter() - t0
        cpu, own = _cpu_s(proc.pid) - cpu0, _own_cpu_s() - own0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if log is not None:
        res = verify_log(log, expect_records=sz.warmup + sz.requests)
        if not res.ok:
            raise RuntimeError(res.message())
    ms = np.asarray(lat) * 1e3
    return Rate(len(lat) / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                cpu / len(lat) * 1e3, own / len(lat) * 1e3)


def _load_avg() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str]) -> None:
    cli = options.parser(__doc__)
    cli.add_argument("--client", choices=["httpx", "raw"], default="httpx",
                     help="load generator: httpx.AsyncClient, or a minimal keep-alive HTTP/1.1 "
                          "client that leaves more of the shared machine to the server")
    args = cli.parse_args(argv)
    sz = SMOKE if args.smoke else Sizes()
    WORK.mkdir(parents=True, exist_ok=True)
    forest, image = build(sz)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, before: {_load_avg()}")
    with tempfile.TemporaryDirectory() as d:
        audited = serve_rate(forest, image, Path(d) / "audit.jsonl", sz, args.client)
        bare = serve_rate(forest, image, None, sz, args.client)
    print(f"after: {_load_avg()}")
    what = (f"{sz.requests} requests from {sz.clients} {args.client} clients, golden backend, "
            f"{sz.trees}-tree digits forest")
    for name, r in (("durable audit (fsync)", audited), ("no audit log", bare)):
        print(f"nfcore serve, {name}: {r.requests_per_s:,.0f} requests/s, latency p50 "
              f"{r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; CPU per request: server "
              f"{r.server_cpu_ms:.2f} ms (one core's worth: {1e3 / r.server_cpu_ms:,.0f} "
              f"requests/s), clients {r.client_cpu_ms:.2f} ms ({what})")
    print(f"audit / no audit: {audited.requests_per_s / bare.requests_per_s:.2f}x the rate, "
          f"{audited.p99_ms / bare.p99_ms:.2f}x the p99, "
          f"{audited.server_cpu_ms / bare.server_cpu_ms:.2f}x the server CPU per request")


if __name__ == "__main__":
    main(sys.argv[1:])
