"""`nfcore serve`: the Conductor over HTTP (FastAPI).

* `POST /v1/predict` with JSON `{"inputs": [...], "request_id": "..."}` (one request: `inputs`
  holds the forest's input row, flat or nested as its input shape; `request_id` optional,
  1 to 128 characters of [A-Za-z0-9._:-], a fresh one is made if absent). The answer is the
  prediction, the class probabilities, the audit record and its place in the log
  (seq, prev_sha256, sha256). The record is durable in the log before the answer is sent.
* `GET /healthz`: liveness plus the forest, backend and log.
* `GET /metrics`: requests answered and refused, energy totals by component, a histogram of
  the modelled latency and one of the host's wall-clock latency, trees loaded, the log head.

A malformed request gets a 4xx whose `detail` names the bad field (`field` holds its path)
and never reaches the Conductor, so nothing malformed is logged. A request the backend
fails on gets a 500 and no record.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from nfcore.conductor.conductor import Conductor, RequestError
from nfcore.errors import NFCoreError

Number = Annotated[float, Field(allow_inf_nan=False)]
LATENCY_BUCKETS_S = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""Upper bounds (seconds) of the latency histograms' buckets; a last bucket holds the rest."""


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[Number] | list[list[Number]]
    request_id: str | None = Field(default=None, min_length=1, max_length=128,
                                   pattern=r"^[A-Za-z0-9._:-]+$")


class Histogram:
    """Counts per bucket of `LATENCY_BUCKETS_S` (upper bounds) plus an overflow bucket."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum_s = 0.0

    def add(self, value_s: float) -> None:
        self.counts[int(np.searchsorted(LATENCY_BUCKETS_S, value_s))] += 1
        self.sum_s += value_s

    def to_dict(self) -> dict[str, Any]:
        return {"le_s": [*LATENCY_BUCKETS_S, "inf"], "counts": list(self.counts),
                "sum_s": self.sum_s}


class Metrics:
    """Server counters, updated under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.refused = 0
        self.failed = 0
        self.energy_pj: dict[str, float] = {}
        self.model_latency = Histogram()
        self.wall_latency = Histogram()

    def answer(self, record: dict[str, Any], wall_s: float) -> None:
        with self.lock:
            self.answered += 1
            for k, v in record["energy_pj"].items():
                if v is not None:
                    self.energy_pj[k] = self.energy_pj.get(k, 0.0) + float(v)
            self.model_latency.add(float(record["latency_s"]))
            self.wall_latency.add(wall_s)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def create_app(conductor: Conductor) -> FastAPI:
    """The app serving `conductor` (which should have an audit log)."""
    app = FastAPI(title="NF-Core Conductor", version="1")
    metrics = Metrics()
    app.state.metrics = metrics
    app.state.conductor = conductor

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        with metrics.lock:
            metrics.refused += 1
        if not errors:
            return JSONResponse({"detail": "malformed request", "field": "body"}, 422)
        first = errors[0]
        field = _field_path(first.get("loc", ()))
        return JSONResponse({"detail": f"{field}: {first.get('msg', 'invalid')}",
                             "field": field}, 422)

    @app.post("/v1/predict")
    def predict(req: PredictRequest) -> JSONResponse:
        t0 = time.perf_counter()
        try:
            row = conductor.check_inputs(_one_row(req.inputs), "inputs")
            ids = [req.request_id] if req.request_id is not None else None
            answer = conductor.run(row, ids)[0]
        except RequestError as exc:
            with metrics.lock:
                metrics.refused += 1
            return JSONResponse({"detail": str(exc), "field": "inputs"}, 400)
        except NFCoreError as exc:
            with metrics.lock:
                metrics.failed += 1
            return JSONResponse({"detail": f"backend failed: {exc}"}, 500)
        metrics.answer(answer.record, time.perf_counter() - t0)
        return JSONResponse({"request_id": answer.request_id, "prediction": answer.prediction,
                             "probs": answer.probs, "record": answer.record,
                             "audit": answer.audit})

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        log = conductor.audit
        return {"status": "ok", "backend": conductor.backend.name,
                "forest_id": conductor.forest_id, "trees": conductor.reader.n_trees,
                "trees_loaded": len(conductor.loaded_trees()),
                "audit_log": None if log is None else str(log.path)}

    @app.get("/metrics")
    def get_metrics() -> dict[str, Any]:
        log = conductor.audit
        with metrics.lock:
            return {"requests_answered": metrics.answered,
                    "requests_refused": metrics.refused,
                    "requests_failed": metrics.failed,
                    "energy_pj_total": sum(metrics.energy_pj.values()),
                    "energy_pj_by_component": dict(metrics.energy_pj),
                    "model_latency_histogram": metrics.model_latency.to_dict(),
                    "wall_latency_histogram": metrics.wall_latency.to_dict(),
                    "loads": conductor.loads.to_dict(),
                    "audit": None if log is None else
                    {"records": log.records, "head_sha256": log.head_sha256}}

    return app


def _one_row(inputs: list[float] | list[list[float]]) -> Any:
    """One request's row: a flat list, or a nested one (ragged nesting is refused)."""
    if inputs and isinstance(inputs[0], list):
        lengths = {len(r) for r in inputs if isinstance(r, list)}
        if len(lengths) != 1:
            raise RequestError("inputs: nested rows must all have the same length")
    return np.asarray(inputs, dtype=np.float64).reshape(1, -1)
