"""`nfcore serve`: the Conductor over HTTP (`POST /v1/predict` on plain ASGI, the rest FastAPI).

* `POST /v1/predict`, a JSON body of at most `max_body_bytes` (413 beyond, refused while it
  arrives, before it is parsed), one of:

  - `{"inputs": ROW, "request_id": "..."}`: one request. ROW is the forest's input row,
    flat (`[x0, x1, ...]`) or nested as its input shape. The answer: `request_id`,
    `prediction`, `probs`, the audit `record` and its place in the log (`audit`: seq,
    prev_sha256, sha256);
  - `{"inputs": [ROW, ROW, ...]}`: a batch of rows, each given a fresh request id;
  - `{"rows": [{"inputs": ROW, "request_id": "..."}, ...]}`: a batch whose rows may carry
    their own ids.

  A batch is answered as `{"answers": [...]}`, one object as above per row, in order.
  `request_id` is 1 to 128 characters of [A-Za-z0-9._:-]; a fresh one is made if absent.
  Numbers are JSON numbers only (no strings, booleans or null), finite.
  Every answered record is durable in the log before the answer is sent.
* `GET /healthz`: 200 `{"status": "ok", ...}` when ready, 503 `{"status": "failing",
  "problems": [...]}` while the audit log cannot be written or after a corrupt core was
  found (naming the core and its trees). It is the container's readiness probe.
* `GET /metrics`: Prometheus text exposition (names in docs/conductor.md).

Errors are JSON `{"detail": "...", "field": "...", "cause": "..."}` (`field` for 4xx):

* 400 shape: the row does not hold the forest's input (the message gives the shape sent and
  the expected one); 422 type: not JSON (`field` "body"), a string, boolean, null, NaN or
  infinity, an unknown key, a bad `request_id`;
* 409 `duplicate_request_id`: an id already in the log, in flight, or twice in the batch. A
  conflict with what the server holds (the log), not a malformed body, so 409, not 422: the
  same body can never succeed, whereas resending with a new id will;
* 405 `method_not_allowed`: `/v1/predict` with a method other than POST;
* 413 `body_too_large`;
* 503 `audit_<ERRNO>` (e.g. `audit_ENOSPC`): the record could not be made durable; nothing
  of the request is in the log and the request may be retried;
* 500 `corrupt_image` (a core's SRAM or programs do not match their hash) or `backend`.

Requests that arrive together are run as one Conductor batch (one routing, one grouped run
per tree shape, one audit write and fsync) by `Batcher`'s two threads (compute, commit),
which overlap one batch's fsync with the next batch's work; the event loop only reads,
validates and answers.
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from nfcore.conductor.audit import AuditWriteError
from nfcore.conductor.conductor import Answer, Conductor, RequestError
from nfcore.conductor.image_check import find_corrupt_cores
from nfcore.conductor.inputs import rows_from_json
from nfcore.errors import ImageError, NFCoreError

PREDICT_PATH = "/v1/predict"
MAX_BODY_BYTES = 1 << 20
"""Default body size limit (bytes): about 2,000 rows of 64 numbers."""
MAX_BATCH_ROWS = 256
"""Most rows one Conductor run takes (an assumption: larger batches add latency, not rate)."""
LATENCY_BUCKETS_S = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25,
                     0.5, 1.0, 2.5, 10.0)
"""Upper bounds (seconds) of the host latency histograms."""
MODEL_LATENCY_BUCKETS_S = tuple(10.0 ** e for e in range(-8, 0))
"""Upper bounds (seconds) of the modelled chip latency histogram (10 ns to 100 ms)."""
ENERGY_BUCKETS_PJ = tuple(10.0 ** e for e in range(1, 10))
"""Upper bounds (pJ) of the energy histograms (10 pJ to 1 mJ)."""
CORES_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)

Number = Annotated[float, Strict(), AllowInfNan(False)]
"""A JSON number (an integer or a float; not a string, boolean or null), finite."""
Tensor = list[Number] | list[list[Number]] | list[list[list[Number]]] \
    | list[list[list[list[Number]]]]
RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
_UNION_TAG = re.compile(r"^list\[")


class RowIn(BaseModel):
    """One row of a batch, with its own optional request id."""

    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: Tensor
    request_id: RequestId | None = None


class PredictRequest(BaseModel):
    """The body of `POST /v1/predict` (see the module)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: Tensor | None = None
    request_id: RequestId | None = None
    rows: list[RowIn] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.inputs is None) == (self.rows is None):
            raise ValueError("give either inputs (one row or a list of rows) or rows")
        if self.rows is not None and self.request_id is not None:
            raise ValueError("request_id goes inside each of rows")
        return self


def request_schema(input_shape: Sequence[int]) -> dict[str, Any]:
    """`PredictRequest`'s JSON schema, self-contained, with the forest's row shape in the
    descriptions of `inputs` (for the OpenAPI document at /docs and /openapi.json)."""
    schema = PredictRequest.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    size = int(np.prod(input_shape))
    row = (f"one row: {size} finite JSON numbers, flat or nested as the forest's input shape "
           f"{list(input_shape)}")
    out: dict[str, Any] = inline(schema)
    out["properties"]["inputs"]["description"] = f"{row}; or a list of such rows (a batch)"
    rows = out["properties"]["rows"]
    batch = next(m for m in rows.get("anyOf", [rows]) if m.get("type") == "array")
    batch["items"]["properties"]["inputs"]["description"] = row
    return out


class Problem(Exception):
    """A request that gets an error answer: HTTP `status`, `cause` (the metrics label)."""

    def __init__(self, status: int, cause: str, detail: str, field_path: str | None = None):
        super().__init__(detail)
        self.status, self.cause, self.detail, self.field = status, cause, detail, field_path

    def body(self) -> bytes:
        """The JSON error body."""
        out = {"detail": self.detail, "cause": self.cause}
        if self.field is not None:
            out["field"] = self.field
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


def as_rows(value: Any, input_shape: Sequence[int], field_path: str
            ) -> tuple[npt.NDArray[np.float64], bool]:
    """(rows (n, size), one) of `value` by the row rules of `nfcore.conductor.inputs` (the
    ones `nfcore run --inputs` applies); `one`: the value was a single row, not a batch."""
    shape = tuple(int(v) for v in input_shape)
    rows = rows_from_json(value, shape, field_path)
    return rows.reshape(len(rows), -1).astype(np.float64), \
        _sent_shape(value) in {shape, (math.prod(shape),)}


def _sent_shape(value: Any) -> tuple[int, ...]:
    """The nested shape of `value`, which `rows_from_json` found regular (so the first
    item of each level stands for all)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _error_field(errors: list[Any]) -> tuple[str, str]:
    """(field path, message) of the most specific pydantic error (union members' tags
    dropped; a body that is not JSON is field "body")."""
    best = max(errors, key=lambda e: len(e.get("loc", ())))
    loc = [str(p) for p in best.get("loc", ()) if not _UNION_TAG.match(str(p))]
    path = ".".join(loc) or "body"
    msg = str(best.get("msg", "invalid"))
    if best.get("type") == "json_invalid":
        msg = "not valid JSON" + (f" ({best['ctx']['error']})" if best.get("ctx") else "")
    return path, msg


def parse_request(body: bytes, input_shape: Sequence[int]
                  ) -> tuple[npt.NDArray[np.float64], list[str | None], bool]:
    """Rows (n, size), their ids (None: make one) and whether it was a single-row body."""
    try:
        req = PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        path, msg = _error_field(exc.errors())
        raise Problem(422, "invalid_input", f"{path}: {msg}", path) from None
    try:
        if req.rows is not None:
            parts = [as_rows(r.inputs, input_shape, f"rows.{i}.inputs")[0]
                     for i, r in enumerate(req.rows)]
            if any(len(p) != 1 for p in parts):
                i = next(i for i, p in enumerate(parts) if len(p) != 1)
                raise RequestError(f"rows.{i}.inputs: holds {len(parts[i])} rows; each "
                                   "item of rows holds one")
            return np.concatenate(parts), [r.request_id for r in req.rows], False
        rows, one = as_rows(req.inputs, input_shape, "inputs")
    except RequestError as exc:
        field_path = str(exc).split(":", 1)[0]
        raise Problem(400, "bad_shape", str(exc), field_path) from None
    if not one and req.request_id is not None:
        raise Problem(422, "invalid_input", "request_id: a batch of inputs takes its ids "
                      "inside rows ([{\"inputs\": ..., \"request_id\": ...}])", "request_id")
    return rows, [req.request_id] * len(rows), one


class RequestIds:
    """Request ids in the log or in flight: a new request may use none of them."""

    def __init__(self, logged: Iterable[str]) -> None:
        self._ids = set(logged)
        self._lock = threading.Lock()

    def reserve(self, ids: Sequence[str | None]) -> list[str]:
        """The ids with fresh ones for None, reserved; `Problem` 409 if one is taken."""
        out = [i if i is not None else uuid.uuid4().hex for i in ids]
        with self._lock:
            seen: set[str] = set()
            for i, rid in enumerate(out):
                if rid in self._ids or rid in seen:
                    where = "twice in this request" if rid in seen else "already used"
                    raise Problem(409, "duplicate_request_id",
                                  f"request_id {rid!r} is {where}", _id_field(ids, i))
                seen.add(rid)
            self._ids |= seen
        return out

    def release(self, ids: Iterable[str]) -> None:
        """Free ids whose requests were not recorded."""
        with self._lock:
            self._ids.difference_update(ids)


def _id_field(ids: Sequence[str | None], i: int) -> str:
    return "request_id" if len(ids) == 1 else f"rows.{i}.request_id"


@dataclass(eq=False)
class _Job:
    rows: npt.NDArray[np.float64]
    ids: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Answer]]


def _settle(job: _Job, result: list[Answer] | BaseException) -> None:
    def done() -> None:
        if job.future.done():
            return
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
    job.loop.call_soon_threadsafe(done)


@dataclass(eq=False)
class Batcher:
    """Two threads between the event loop and `conductor`, a pipeline:

    * compute: takes every job waiting (up to `MAX_BATCH_ROWS` rows) and runs them as one
      `Conductor.answer` (one routing, one grouped run per tree shape, one importance pass);
      if a batch fails on the backend or the image, its jobs are retried one by one, so only
      the requests that meet the fault fail;
    * commit: takes every computed batch waiting and makes their records durable with one
      `Conductor.commit` (one write and one fsync), then answers them. An audit failure
      fails all of them (none is durable).

    So one batch is computed while the one before it is fsynced, and batches keep their
    order in the log."""

    conductor: Conductor
    _jobs: queue.SimpleQueue[_Job | None] = field(default_factory=queue.SimpleQueue)
    _done: queue.SimpleQueue[tuple[list[_Job], list[Answer]] | None] = field(
        default_factory=queue.SimpleQueue)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for name, target in (("compute", self._compute), ("commit", self._commit)):
            t = threading.Thread(target=target, name=f"conductor-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    async def run(self, rows: npt.NDArray[np.float64], ids: list[str]) -> list[Answer]:
        loop = asyncio.get_running_loop()
        job = _Job(rows, ids, loop, loop.create_future())
        self._jobs.put(job)
        return await job.future

    def _compute(self) -> None:
        while (first := self._jobs.get()) is not None:
            batch, stop = _drain(self._jobs, first, rows_of=lambda j: len(j.rows),
                                 max_rows=MAX_BATCH_ROWS)
            self._answer(batch)
            if stop:
                break
        self._done.put(None)

    def _answer(self, batch: list[_Job]) -> None:
        try:
            answers = self.conductor.answer(np.concatenate([j.rows for j in batch]),
                                            [i for j in batch for i in j.ids])
        except Exception as exc:  # noqa: BLE001 - every job must be settled
            if len(batch) == 1:
                _settle(batch[0], exc)
            else:
                for j in batch:
                    self._answer([j])
            return
        self._done.put((batch, answers))

    def _commit(self) -> None:
        while (first := self._done.get()) is not None:
            ready, stop = _drain(self._done, first)
            jobs = [j for batch, _ in ready for j in batch]
            try:
                answers = self.conductor.commit([a for _, ans in ready for a in ans])
            except Exception as exc:  # noqa: BLE001 - every job must be settled
                for j in jobs:
                    _settle(j, exc)
            else:
                k = 0
                for j in jobs:
                    _settle(j, answers[k:k + len(j.rows)])
                    k += len(j.rows)
            if stop:
                break


def _drain(q: queue.SimpleQueue[Any], first: Any, rows_of: Callable[[Any], int] | None = None,
           max_rows: int = 0) -> tuple[list[Any], bool]:
    """`first` and what else `q` holds now, up to the stop signal None, or (with `rows_of`)
    until the items hold `max_rows` rows: (items, whether the stop signal was taken)."""
    items, n = [first], rows_of(first) if rows_of else 0
    while rows_of is None or n < max_rows:
        try:
            nxt = q.get_nowait()
        except queue.Empty:
            return items, False
        if nxt is None:
            return items, True
        items.append(nxt)
        n += rows_of(nxt) if rows_of else 0
    return items, False


class ServerMetrics:
    """The app's Prometheus metrics, in a registry of its own."""

    def __init__(self, conductor: Conductor) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("nfcore_requests", "HTTP prediction requests received",
                                registry=r)
        self.rows = Counter("nfcore_rows_answered", "Rows answered (one audit record each)",
                            registry=r)
        self.failures = Counter("nfcore_request_failures", "Prediction requests not answered, "
                                "by cause", ["cause"], registry=r)
        self.latency = Histogram("nfcore_request_latency_seconds", "Host wall-clock time from "
                                 "request to answer", buckets=LATENCY_BUCKETS_S, registry=r)
        self.model_latency = Histogram("nfcore_request_model_latency_seconds", "Modelled "
                                       "chip latency per row", buckets=MODEL_LATENCY_BUCKETS_S,
                                       registry=r)
        self.fsync = Histogram("nfcore_audit_fsync_seconds", "Audit log fsync time per group "
                               "commit", buckets=LATENCY_BUCKETS_S, registry=r)
        self.energy = Histogram("nfcore_request_energy_pj", "Modelled energy per row by "
                                "component (pJ)", ["component"], buckets=ENERGY_BUCKETS_PJ,
                                registry=r)
        self._energy_children: dict[str, Any] = {}
        self.cores = Histogram("nfcore_request_cores_woken", "Cores woken per row",
                               buckets=CORES_BUCKETS, registry=r)
        Gauge("nfcore_trees_loaded", "Trees loaded from the image so far",
              registry=r).set_function(lambda: len(conductor.loaded_trees()))
        log = conductor.audit
        Gauge("nfcore_audit_log_records", "Durable records in the audit log",
              registry=r).set_function(lambda: log.records if log is not None else 0)

    def _energy(self, component: str) -> Any:
        """The energy histogram's child for `component` (looked up once)."""
        child = self._energy_children.get(component)
        if child is None:
            child = self._energy_children[component] = self.energy.labels(component)
        return child

    def answered(self, answers: Sequence[Answer]) -> None:
        for a in answers:
            rec = a.record
            self.model_latency.observe(float(rec["latency_s"]))
            self.cores.observe(float(rec["cores_woken"]))
            for comp, pj in rec["energy_pj"].items():
                if pj is not None:
                    self._energy(comp).observe(float(pj))
            self._energy("total").observe(float(rec["energy_pj_total"]))
        self.rows.inc(len(answers))


@dataclass
class Health:
    """What makes the server not ready: a corrupt core found by a request (lazy verify)."""

    corrupt: list[str] = field(default_factory=list)


class _Disconnected(Exception):
    """The client went away before its body arrived."""


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, or `Problem` 413 as soon as it is known to exceed `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise Problem(413, "body_too_large", f"body of {int(value)} bytes is over the "
                          f"limit of {limit} bytes", "body")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, "body_too_large", f"body is over the limit of {limit} bytes",
                          "body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, body: bytes,
                     headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def _answer_json(a: Answer) -> str:
    """The answer's JSON text; the record's text is the log's when there is one (it is
    serialised once per request, not twice)."""
    record = a.record_json if a.record_json is not None else json.dumps(a.record)
    return (f'{{"request_id":{json.dumps(a.request_id)},"prediction":{a.prediction},'
            f'"probs":{json.dumps(a.probs)},"record":{record},"audit":{json.dumps(a.audit)}}}')


def predict_operation(input_shape: Sequence[int]) -> dict[str, Any]:
    """The OpenAPI operation of `POST /v1/predict` (answered outside FastAPI's routing, so
    documented here)."""
    answers = {"200": "the answer (a batch: {\"answers\": [...]}), durable in the audit log",
               "400": "shape: the rows do not hold the forest's input",
               "405": "not POST", "409": "a duplicate request_id",
               "413": "body over the size limit",
               "422": "not JSON, not numbers, non-finite, an unknown key, a bad request_id",
               "500": "corrupt image or backend failure",
               "503": "the audit log cannot be written; the request may be retried"}
    return {"summary": "Predict one row or a batch of rows",
            "operationId": "predict_v1_predict_post",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": request_schema(input_shape)}}},
            "responses": {code: {"description": what} for code, what in answers.items()}}


@dataclass(frozen=True)
class App:
    """The ASGI app of `nfcore serve`: `POST /v1/predict` is answered by `predict` directly on
    ASGI (FastAPI's routing, dependency and middleware layers cost the server as much CPU per
    request as the Conductor did); every other path, and the lifespan, by `api` (FastAPI:
    /healthz, /metrics, /openapi.json, /docs)."""

    api: FastAPI
    predict: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PREDICT_PATH:
            await self.predict(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(conductor: Conductor, max_body_bytes: int = MAX_BODY_BYTES) -> App:
    """The app serving `conductor` (which should have an audit log). The batcher's worker
    threads run while the app is being served (its lifespan)."""
    metrics = ServerMetrics(conductor)
    health = Health()
    batcher = Batcher(conductor)
    log = conductor.audit
    if log is not None:
        log.on_fsync = metrics.fsync.observe
    ids = RequestIds(log.request_ids() if log is not None else ())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    api = FastAPI(title="NF-Core Conductor", version="2", lifespan=lifespan)

    async def predict_rows(body: bytes) -> tuple[list[Answer], bool]:
        rows, wanted, one = parse_request(body, conductor.input_shape)
        rids = ids.reserve(wanted)
        try:
            return await batcher.run(rows, rids), one
        except AuditWriteError as exc:
            ids.release(rids)
            raise Problem(503, f"audit_{exc.cause}", str(exc)) from None
        except ImageError as exc:
            ids.release(rids)
            _note_corrupt(conductor, health)
            raise Problem(500, "corrupt_image", f"image failed its check: {exc}") from None
        except NFCoreError as exc:
            ids.release(rids)
            raise Problem(500, "backend", f"backend failed: {exc}") from None

    async def predict(scope: Scope, receive: Receive, send: Send) -> None:
        """Predict one row or a batch of rows (the size limit applies while the body
        arrives, before it is parsed)."""
        if scope["method"] != "POST":
            p = Problem(405, "method_not_allowed", f"{PREDICT_PATH} takes POST")
            await _send_json(send, p.status, p.body(), [(b"allow", b"POST")])
            return
        t0 = time.perf_counter()
        metrics.requests.inc()
        try:
            answers, one = await predict_rows(await _read_body(scope, receive,
                                                               max_body_bytes))
        except Problem as p:
            metrics.failures.labels(p.cause).inc()
            await _send_json(send, p.status, p.body())
            return
        except _Disconnected:
            metrics.failures.labels("disconnected").inc()
            return
        metrics.answered(answers)
        metrics.latency.observe(time.perf_counter() - t0)
        text = _answer_json(answers[0]) if one else \
            f'{{"answers":[{",".join(_answer_json(a) for a in answers)}]}}'
        await _send_json(send, 200, text.encode())

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            doc = get_openapi(title=api.title, version=api.version, routes=api.routes)
            doc["paths"][PREDICT_PATH] = {"post": predict_operation(conductor.input_shape)}
            api.openapi_schema = doc
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]

    @api.get("/healthz")
    def healthz() -> JSONResponse:
        problems = list(health.corrupt)
        if log is not None and not log.healthy and not log.probe():
            problems.append(f"audit log cannot be written: {log.last_error}")
        body: dict[str, Any] = {
            "status": "failing" if problems else "ok", "backend": conductor.backend.name,
            "forest_id": conductor.forest_id, "trees": conductor.reader.n_trees,
            "trees_loaded": len(conductor.loaded_trees()),
            "audit_log": None if log is None else str(log.path)}
        if problems:
            body["problems"] = problems
        return JSONResponse(body, 503 if problems else 200)

    @api.get("/metrics")
    def get_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return App(api, predict)


def _note_corrupt(conductor: Conductor, health: Health) -> None:
    """Record which cores of the image fail their hash (and their trees) for /healthz."""
    image = getattr(conductor.image, "image", None)
    if image is None:
        return
    found = [p.message() for p in find_corrupt_cores(image)]
    health.corrupt[:] = found or ["corrupt image (a tree's files failed their check)"]
