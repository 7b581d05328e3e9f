"""What `nfcore run` and `nfcore serve` do: open a forest and its image, build a Conductor,
then run a file of inputs in batches (with a progress bar) or serve HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from nfcore.compiler.images.forest_image import load_forest_image
from nfcore.conductor.audit import AuditLog
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.inputs import RequestError, rows_from_json
from nfcore.conductor.tree_source import ImageForest
from nfcore.config import NFCoreConfig
from nfcore.errors import ConfigError, ImageError


def read_inputs(path: str | Path, row_shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Rows (n, *row_shape) from `.npy` (an array of numbers), `.csv` (one row per line,
    comma-separated numbers) or `.json` (a list of rows), by the rules HTTP requests obey
    (`nfcore.conductor.inputs`). Raises `RequestError` naming the file and, for a bad value,
    its row and column."""
    p = Path(path)
    field = f"--inputs {p}: rows"
    if not p.is_file():
        raise RequestError(f"--inputs {p}: no such file")
    if p.suffix not in (".npy", ".csv", ".json"):
        raise RequestError(f"--inputs {p}: unknown format {p.suffix!r}; use .npy, .csv or "
                           ".json")
    try:
        if p.suffix == ".npy":
            value: Any = np.load(p, allow_pickle=False)
        else:
            text = p.read_bytes().decode("utf-8")
            value = _csv_rows(text, field) if p.suffix == ".csv" else json.loads(text)
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise RequestError(f"--inputs {p}: unreadable ({' '.join(str(exc).split())})") \
            from None
    if not isinstance(value, list | np.ndarray):
        raise RequestError(f"--inputs {p}: {_top_level(value)}; expected a list of rows, "
                           f"e.g. [[0, 5, 13, ...], ...]")
    return rows_from_json(value, row_shape, field)


def _top_level(value: Any) -> str:
    return "a JSON object" if isinstance(value, dict) else f"a single {type(value).__name__}"


def _csv_rows(text: str, field: str) -> list[list[float]]:
    """Each non-blank line's comma-separated cells as numbers; `RequestError` names the cell
    that is not one (NaN and infinities parse, and are refused by the row rules)."""
    rows: list[list[float]] = []
    for line in [ln for ln in text.splitlines() if ln.strip()]:
        cells: list[float] = []
        for cell in line.split(","):
            try:
                cells.append(float(cell))
            except ValueError:
                raise RequestError(f"{field}[{len(rows)}][{len(cells)}]: {cell.strip()!r:.30} "
                                   "is not a number") from None
        rows.append(cells)
    return rows


def forest_dir_of(image: str | Path, forest: str | Path | None) -> Path:
    """The forest folder: `forest` if given, else the one `nfcore compile` recorded in the
    image's compile.json (as it was given on that command line)."""
    if forest is not None:
        return Path(forest)
    report = Path(image) / "compile.json"
    try:
        recorded = json.loads(report.read_text()).get("forest", {}).get("dir")
    except (OSError, json.JSONDecodeError, AttributeError):
        recorded = None
    if not recorded or not Path(recorded).is_dir():
        where = f"{recorded!r} from {report} is not a folder here" if recorded else \
            f"{report} does not record the forest folder"
        raise ConfigError(f"--forest is needed: {where} (the forest's router and stem run "
                          "on the host)")
    return Path(recorded)


def open_conductor(cfg: NFCoreConfig, image: str | Path, forest: str | Path | None,
                   backend: str, audit: str | Path | None, *,
                   interval_cycles: float | None = None, build_dir: Path | None = None,
                   progress: bool = False, importance: bool = True,
                   standardized: bool = False) -> Conductor:
    """A Conductor for the image at `image` (checked against the forest and `cfg`);
    `standardized`: rows come already standardized (see `Conductor`)."""
    forest_dir = forest_dir_of(image, forest)
    if not Path(image).is_dir():
        raise ImageError(f"--image {image}: no image directory here (write one with "
                         "`nfcore compile FOREST --config CONFIG -o IMAGE`)")
    img = load_forest_image(image, cfg, forest_dir=forest_dir)
    return Conductor(forest_dir, ImageForest(img),
                     make_backend(backend, cfg, interval_cycles=interval_cycles,
                                  build_dir=build_dir, progress=progress),
                     AuditLog(audit) if audit else None, importance=importance,
                     standardized=standardized)


@dataclass
class BatchSummary:
    requests: int
    predictions: list[int]
    energy_pj_mean: float
    latency_s_mean: float
    weight_bytes_touched_mean: float
    monolith_weight_bytes: int | None
    loads: dict[str, int]
    audit_records: int | None
    audit_head: str | None

    def lines(self) -> list[str]:
        counts = np.bincount(self.predictions) if self.predictions else np.zeros(0)
        mono = (f"; the monolith holds {self.monolith_weight_bytes:,} bytes"
                if self.monolith_weight_bytes else "")
        out = [f"{self.requests} requests; predicted classes (count per class): "
               f"{counts.tolist()}",
               f"mean per request: energy {self.energy_pj_mean:,.1f} pJ, latency "
               f"{self.latency_s_mean * 1e6:,.3f} us, weight bytes touched "
               f"{self.weight_bytes_touched_mean:,.0f}{mono}",
               f"trees loaded: {self.loads['compiled_trees']} compiled, "
               f"{self.loads['float_trees']} float"]
        if self.audit_records is not None:
            out.append(f"audit log: {self.audit_records} records, head sha256 "
                       f"{self.audit_head}")
        return out


def run_batches(conductor: Conductor, rows: npt.NDArray[np.float32], batch: int,
                out: Path | None = None, quiet: bool = False) -> BatchSummary:
    """Run `rows` through `conductor` `batch` rows at a time (one log fsync per batch);
    with `out`, write one JSON line per answer (request id, prediction, probabilities)."""
    if batch < 1:
        raise ConfigError(f"--batch {batch}: must be >= 1")
    records: list[dict[str, Any]] = []
    handle = open(out, "w") if out else None  # noqa: SIM115 - closed below
    try:
        with tqdm(total=len(rows), desc=f"run ({conductor.backend.name})", unit="req",
                  disable=quiet) as bar:
            for i in range(0, len(rows), batch):
                answers = conductor.run(rows[i:i + batch])
                for a in answers:
                    records.append(a.record)
                    if handle:
                        handle.write(json.dumps({"request_id": a.request_id,
                                                 "prediction": a.prediction,
                                                 "probs": a.probs}) + "\n")
                bar.update(len(answers))
    finally:
        if handle:
            handle.close()
    log = conductor.audit
    return BatchSummary(
        requests=len(records), predictions=[int(r["prediction"]) for r in records],
        energy_pj_mean=float(np.mean([r["energy_pj_total"] for r in records])),
        latency_s_mean=float(np.mean([r["latency_s"] for r in records])),
        weight_bytes_touched_mean=float(np.mean([r["weight_bytes_touched"] for r in records])),
        monolith_weight_bytes=conductor.monolith_weight_bytes, loads=conductor.loads.to_dict(),
        audit_records=None if log is None else log.records,
        audit_head=None if log is None else log.head_sha256)


def serve(conductor: Conductor, host: str, port: int, quiet: bool = False, *,
          lazy_verify: bool = False, max_body_bytes: int | None = None) -> None:
    """Serve `conductor` over HTTP until interrupted. First check every core of its image
    against its hashes (`ImageError` on the first corrupt one) unless `lazy_verify`, in
    which case a request that meets a corrupt core fails and turns /healthz failing."""
    # The web stack (FastAPI, pydantic, uvicorn) is heavy and only `nfcore serve` needs it.
    import torch
    import uvicorn

    from nfcore.conductor.image_check import verify_image
    from nfcore.conductor.server import MAX_BODY_BYTES, create_app

    # One intra-op thread: the batcher's worker threads are the parallelism, and torch's own
    # threads on top of them made the importance pass 20x slower on a loaded 2-core host
    # (benchmarks/bench_serve.py, cProfile; docs/conductor.md).
    torch.set_num_threads(1)
    limit = MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
    if limit < 1:
        raise ConfigError(f"--max-body-bytes {limit}: must be >= 1")
    if not lazy_verify and isinstance(conductor.image, ImageForest):
        verify_image(conductor.image.image, progress=not quiet)
    app = create_app(conductor, max_body_bytes=limit)
    if not quiet:
        print(f"serving forest {conductor.forest_id[:12]} ({conductor.reader.n_trees} trees) "
              f"on the {conductor.backend.name} backend at http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info",
                access_log=not quiet)  # -q: no line per request either
