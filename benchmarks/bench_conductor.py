"""The Conductor: host memory with a 10,000-tree forest loaded lazily versus whole, weight
bytes touched per request, and `nfcore serve`'s requests per second on golden and sim.

1. Train the synthetic multitask forest with `Sizes.trees` trees (one per task, top-1,
   1 epoch) and compile it for configs/default.yaml (16 x 16 cores), calibrated on
   `CALIB_ROWS` training rows, into build/bench_conductor/ (reused by later runs: delete the
   folder to rebuild).
2. Memory, each figure in a fresh process (`/proc/self/status` VmRSS, MiB):
   * base: Python with the Conductor's modules imported, nothing opened;
   * lazy: a Conductor opened on the image (manifest, stem, router) after `Sizes.requests`
     requests (test rows drawn across all tasks, one batch), which load only the trees
     they are routed to;
   * whole: the same Conductor after loading every tree (compiled and float), as a server
     that loads the forest at start would hold it.
3. Weight bytes touched per request (the routed trees' SRAM images) versus the whole
   forest's compiled weight bytes, from the lazy run's audit records.
4. `nfcore serve` on 127.0.0.1 with a durable audit log (group-committed):
   `Sizes.http_requests` requests from `Sizes.clients` client threads, cold (trees load as
   they are first routed) and then warm (the same requests again), on the golden and the
   sim backend.

Wall-clock figures are this machine's (2 shared cores): compare them within one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import options
from serving import free_port, wait_ready

ROOT = options.ROOT
WORK = ROOT / "build" / "bench_conductor"
CONFIG = ROOT / "configs" / "default.yaml"
CALIB_ROWS = 8192


@dataclass(frozen=True)
class Sizes:
    """How large a run is: `trees` (the forest), `requests` (the memory probe's batch),
    `http_requests` from `clients` threads (the serving rate)."""

    trees: int = int(os.environ.get("NFCORE_BENCH_TREES", "10000"))
    requests: int = 200
    http_requests: int = 1000
    clients: int = 32


SMOKE = Sizes(trees=16, requests=8, http_requests=16, clients=4)

def _python() -> str:
    return sys.executable


def build(sz: Sizes, quiet: bool = True) -> tuple[Path, Path, dict[str, float]]:
    """The trained forest and its image (built once into WORK)."""
    forest, image = WORK / f"forest_{sz.trees}", WORK / f"image_{sz.trees}"
    seconds: dict[str, float] = {}
    if not (forest / "manifest.json").exists():
        from forest.command import run_train

        t0 = time.perf_counter()
        run_train("multitask", forest, tasks=sz.trees, epochs=1, monolith=False, quiet=quiet)
        seconds["train_s"] = time.perf_counter() - t0
    if not (image / "manifest.json").exists():
        import numpy as np

        from forest.datasets import load_dataset
        from nfcore.compiler import compile_forest
        from nfcore.config import NFCoreConfig

        # The default calibration (the whole training split, 64 rows per task) needed more
        # than 14 GB at 10,000 tasks; a seeded sample of CALIB_ROWS rows takes seconds.
        x = load_dataset("multitask", n_tasks=sz.trees).x_train
        calib = x[np.random.default_rng(0).permutation(len(x))[:CALIB_ROWS]]
        t0 = time.perf_counter()
        compile_forest(forest, NFCoreConfig.load(CONFIG), progress=not quiet,
                       calib_x=calib).save(image)
        seconds["compile_s"] = time.perf_counter() - t0
    return forest, image, seconds


def probe(mode: str, forest: Path, image: Path, inputs: Path, log: Path) -> dict[str, Any]:
    from nfcore.flows.host_memory import probe as run_probe

    return run_probe(mode, forest, image, inputs, log)


def serve_rate(backend: str, forest: Path, image: Path, tmp: Path, sz: Sizes
               ) -> dict[str, float]:
    """Requests per second of `nfcore serve` (cold, then warm)."""
    import httpx

    from forest.datasets import load_dataset

    rows = load_dataset("multitask", n_tasks=sz.trees).x_test
    port = free_port()
    log = tmp / f"serve_{backend}.jsonl"
    proc = subprocess.Popen([_python(), "-m", "nfcore.cli", "serve", "--config", str(CONFIG),
                             "--image", str(image), "--forest", str(forest), "--backend",
                             backend, "--audit", str(log), "--port", str(port), "-q",
                             "--standardized-inputs"],  # the rows are the dataset's x_test
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, timeout_s=300)

        def client(k: int) -> int:
            ok = 0
            with httpx.Client(base_url=url, timeout=120) as http:
                for i in range(k, sz.http_requests, sz.clients):
                    r = http.post("/v1/predict", json={"inputs": rows[i % len(rows)].tolist()})
                    ok += r.status_code == 200
            return ok

        rates = {}
        for phase in ("cold", "warm"):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(sz.clients) as pool:
                ok = sum(pool.map(client, range(sz.clients)))
            elapsed = time.perf_counter() - t0
            if ok != sz.http_requests:
                raise RuntimeError(f"{backend}: {sz.http_requests - ok} requests not answered")
            rates[phase] = sz.http_requests / elapsed
        from prometheus_client.parser import text_string_to_metric_families

        records = next(int(f.samples[0].value) for f in text_string_to_metric_families(
            httpx.get(f"{url}/metrics").text) if f.name == "nfcore_audit_log_records")
        if records != 2 * sz.http_requests:
            raise RuntimeError(f"{backend}: {records} audit records for {2 * sz.http_requests} "
                               "answers")
        return rates
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str]) -> None:
    args = options.parser(__doc__).parse_args(argv)
    sz = SMOKE if args.smoke else Sizes()
    WORK.mkdir(parents=True, exist_ok=True)
    forest, image, seconds = build(sz)
    for k, v in seconds.items():
        print(f"{k}: {v:.1f}")
    manifest = json.loads((image / "manifest.json").read_text())
    n_trees = len(manifest["trees"])
    lanes = int(manifest["config"]["core"]["lanes"])
    forest_bytes = sum(w * lanes for t in manifest["trees"] for w in t["weight_words"])
    paged = sum(not t["resident"] for t in manifest["trees"])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        import numpy as np

        from forest.datasets import load_dataset

        # `sz.requests` test rows drawn at random across all tasks (the test split is in task
        # order), written to a file so the probe process does not build the dataset.
        x = load_dataset("multitask", n_tasks=sz.trees).x_test
        inputs = tmp / "inputs.npy"
        np.save(inputs, x[np.random.default_rng(1).permutation(len(x))[:sz.requests]])
        base = probe("base", forest, image, inputs, tmp / "base.jsonl")
        lazy = probe("lazy", forest, image, inputs, tmp / "lazy.jsonl")
        whole = probe("whole", forest, image, inputs, tmp / "whole.jsonl")
        print(f"forest: {n_trees} trees ({paged} paged), compiled weights "
              f"{forest_bytes:,} bytes ({image})")
        print(f"host RSS, base (modules imported):      {base['rss_mib']:8.1f} MiB")
        print(f"host RSS, Conductor opened (no tree):   {lazy['opened_mib']:8.1f} MiB")
        print(f"host RSS, lazy after {sz.requests} requests:      {lazy['rss_mib']:8.1f} MiB "
              f"({lazy['loads']['compiled_trees']} trees loaded)")
        print(f"host RSS, whole forest loaded:          {whole['rss_mib']:8.1f} MiB "
              f"({whole['loads']['compiled_trees']} trees loaded)")
        opened = lazy["opened_mib"]
        print(f"above the opened Conductor: lazy +{lazy['rss_mib'] - opened:.1f} MiB (its trees "
              f"and the batch's buffers), whole +{whole['rss_mib'] - opened:.1f} MiB")
        touched = lazy["touched"]
        print(f"weight bytes touched per request: {touched:,.0f} of the forest's "
              f"{forest_bytes:,} ({touched / forest_bytes:.2e}); no monolith is trained at "
              "this size (see tests/conductor for the per-record monolith figure)")
        for backend in ("golden", "sim"):
            rates = serve_rate(backend, forest, image, tmp, sz)
            print(f"nfcore serve --backend {backend}: {rates['cold']:.0f} requests/s cold, "
                  f"{rates['warm']:.0f} requests/s warm ({sz.http_requests} requests from "
                  f"{sz.clients} clients, durable audit log)")


if __name__ == "__main__":
    main(sys.argv[1:])
