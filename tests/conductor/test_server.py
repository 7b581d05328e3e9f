"""The HTTP endpoint, served by a real uvicorn server on 127.0.0.1: valid and malformed
requests, and a bounded concurrent load with exactly one audit record per answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from conductor_helpers import SavedForest

from nfcore.compiler import load_forest_image
from nfcore.conductor.audit import AuditLog, verify_log
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.server import create_app
from nfcore.conductor.tree_source import ImageForest
from nfcore.config import NFCoreConfig

CLIENTS = 32
REQUESTS = 1000


@dataclass
class Served:
    url: str
    log: Path
    conductor: Conductor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(saved_forest: SavedForest, cfg: NFCoreConfig, image_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("serve") / "audit.jsonl"
    image = ImageForest(load_forest_image(image_dir, cfg, forest_dir=saved_forest.folder))
    conductor = Conductor(saved_forest.folder, image, make_backend("golden", cfg),
                          AuditLog(log), standardized=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(conductor), host="127.0.0.1", port=port,
                                           log_level="warning", limit_concurrency=256))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", log, conductor)
    server.should_exit = True
    thread.join(timeout=10)
    assert conductor.audit is not None
    conductor.audit.close()


def test_a_valid_request_is_answered_and_logged(served: Served,
                                                saved_forest: SavedForest) -> None:
    before = verify_log(served.log).records
    row = saved_forest.data.x_test[0].tolist()
    r = httpx.post(f"{served.url}/v1/predict", json={"inputs": row, "request_id": "first"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request_id"] == "first" and body["record"]["request_id"] == "first"
    assert body["prediction"] == body["record"]["prediction"]
    assert sum(body["probs"]) == pytest.approx(1.0)
    assert body["prediction"] == max(range(len(body["probs"])), key=body["probs"].__getitem__)
    res = verify_log(served.log)
    assert res.records == before + 1 and res.head_sha256 == body["audit"]["sha256"]
    line = served.log.read_text().splitlines()[-1]
    assert json.loads(line)["record"] == body["record"]
    # nested rows are accepted too (8 x 8 digits)
    nested = [row[i:i + 8] for i in range(0, 64, 8)]
    assert httpx.post(f"{served.url}/v1/predict", json={"inputs": nested}).status_code == 200


def test_health_and_metrics(served: Served) -> None:
    h = httpx.get(f"{served.url}/healthz").json()
    assert h["status"] == "ok" and h["backend"] == "golden" and h["trees"] == 6
    m = httpx.get(f"{served.url}/metrics").json()
    assert m["audit"]["records"] == verify_log(served.log).records
    assert m["requests_answered"] == sum(m["model_latency_histogram"]["counts"])
    assert m["energy_pj_total"] > 0 and m["energy_pj_by_component"]["mac"] > 0


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, "inputs"),
    ({"inputs": "zero"}, 422, "inputs"),
    ({"inputs": [0.0] * 10 + ["x"] + [0.0] * 53}, 422, "inputs"),
    ({"inputs": [0.0] * 63}, 400, "inputs"),
    ({"inputs": []}, 400, "inputs"),
    ({"inputs": [[0.0] * 8] * 7 + [[0.0] * 9]}, 400, "inputs"),
    ({"inputs": [0.0] * 64, "request_id": "bad id!"}, 422, "request_id"),
    ({"inputs": [0.0] * 64, "request_id": "x" * 129}, 422, "request_id"),
    ({"inputs": [0.0] * 64, "extra": 1}, 422, "extra"),
])
def test_malformed_requests_name_the_field_and_are_not_logged(
        served: Served, body: dict, status: int, field: str) -> None:
    before = verify_log(served.log).records
    r = httpx.post(f"{served.url}/v1/predict", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"].split(".")[0] == field
    assert field in r.json()["detail"]
    assert verify_log(served.log).records == before


@pytest.mark.parametrize("raw", [b"{not json", b'{"inputs": [NaN' + b", 0.0" * 63 + b"]}",
                                 b'{"inputs": [Infinity' + b", 0.0" * 63 + b"]}"])
def test_bad_json_and_non_finite_numbers_are_refused(served: Served, raw: bytes) -> None:
    before = verify_log(served.log).records
    r = httpx.post(f"{served.url}/v1/predict", content=raw,
                   headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert "detail" in r.json()
    assert verify_log(served.log).records == before


def test_concurrent_load_every_request_answered_once_in_the_log(
        served: Served, saved_forest: SavedForest) -> None:
    before = verify_log(served.log).records
    rows = saved_forest.data.x_test
    ids = [f"load-{i}" for i in range(REQUESTS)]

    def client(k: int) -> list[tuple[str, int, int]]:
        out = []
        with httpx.Client(base_url=served.url, timeout=60) as http:
            for i in range(k, REQUESTS, CLIENTS):
                r = http.post("/v1/predict", json={"inputs": rows[i % len(rows)].tolist(),
                                                   "request_id": ids[i]})
                out.append((ids[i], r.status_code, r.json().get("audit", {}).get("seq", -1)))
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for rs in pool.map(client, range(CLIENTS)) for r in rs]
    elapsed = time.perf_counter() - t0
    assert len(results) == REQUESTS
    assert all(status == 200 for _, status, _ in results)
    res = verify_log(served.log)
    assert res.ok and res.records == before + REQUESTS
    logged = [json.loads(line)["record"]["request_id"]
              for line in served.log.read_text().splitlines()[before:]]
    assert sorted(logged) == sorted(ids)  # each answered request exactly once
    seqs = sorted(seq for _, _, seq in results)
    assert seqs == list(range(before, before + REQUESTS))
    print(f"{REQUESTS} requests from {CLIENTS} clients in {elapsed:.2f} s "
          f"({REQUESTS / elapsed:.0f} requests/s)")
