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
from prometheus_client.parser import text_string_to_metric_families

from nfcore.compiler import load_forest_image
from nfcore.conductor.audit import AuditLog, verify_log
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.server import MAX_BODY_BYTES, create_app
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


def _metrics(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics parsed as Prometheus text: sample name -> labels -> value."""
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_health_and_metrics(served: Served, saved_forest: SavedForest) -> None:
    h = httpx.get(f"{served.url}/healthz")
    assert h.status_code == 200
    assert h.json()["status"] == "ok" and h.json()["backend"] == "golden"
    assert h.json()["trees"] == 6
    before = _metrics(served.url)
    row = saved_forest.data.x_test[1].tolist()
    assert httpx.post(f"{served.url}/v1/predict", json={"inputs": row}).status_code == 200
    assert httpx.post(f"{served.url}/v1/predict", json={"inputs": [True] * 64}
                      ).status_code == 422
    m = _metrics(served.url)
    assert m["nfcore_requests_total"][()] == before["nfcore_requests_total"][()] + 2
    assert m["nfcore_request_failures_total"][(("cause", "invalid_input"),)] >= 1
    assert m["nfcore_audit_log_records"][()] == verify_log(served.log).records
    assert m["nfcore_rows_answered_total"][()] == \
        m["nfcore_request_model_latency_seconds_count"][()]
    assert m["nfcore_request_latency_seconds_count"][()] >= 1
    assert m["nfcore_audit_fsync_seconds_count"][()] >= 1
    assert m["nfcore_request_energy_pj_sum"][(("component", "mac"),)] > 0
    assert m["nfcore_request_energy_pj_sum"][(("component", "total"),)] > 0
    assert m["nfcore_request_cores_woken_sum"][()] >= m["nfcore_rows_answered_total"][()]
    assert m["nfcore_trees_loaded"][()] >= 1


def test_a_batch_of_rows_is_answered_in_order(served: Served,
                                              saved_forest: SavedForest) -> None:
    rows = saved_forest.data.x_test[10:13]
    before = verify_log(served.log).records
    r = httpx.post(f"{served.url}/v1/predict", json={"inputs": rows.tolist()})
    assert r.status_code == 200, r.text
    answers = r.json()["answers"]
    assert len(answers) == 3
    singles = [httpx.post(f"{served.url}/v1/predict", json={"inputs": row.tolist()}).json()
               for row in rows]
    assert [a["probs"] for a in answers] == [s["probs"] for s in singles]
    r = httpx.post(f"{served.url}/v1/predict", json={"rows": [
        {"inputs": rows[0].tolist(), "request_id": "batch-a"}, {"inputs": rows[1].tolist()}]})
    assert r.status_code == 200, r.text
    assert r.json()["answers"][0]["request_id"] == "batch-a"
    assert verify_log(served.log).records == before + 3 + 3 + 2


def test_request_ids_are_unique_in_the_batch_and_the_log(served: Served) -> None:
    row = [0.0] * 64
    assert httpx.post(f"{served.url}/v1/predict",
                      json={"inputs": row, "request_id": "once"}).status_code == 200
    before = verify_log(served.log).records
    again = httpx.post(f"{served.url}/v1/predict", json={"inputs": row, "request_id": "once"})
    assert again.status_code == 409 and again.json()["field"] == "request_id"
    assert "already used" in again.json()["detail"]
    twice = httpx.post(f"{served.url}/v1/predict", json={"rows": [
        {"inputs": row, "request_id": "dup"}, {"inputs": row, "request_id": "dup"}]})
    assert twice.status_code == 409 and twice.json()["field"] == "rows.1.request_id"
    assert verify_log(served.log).records == before


@pytest.mark.parametrize(("value", "field"), [
    (True, "inputs.3"), ("1.5", "inputs.3"), (None, "inputs.3"), ("1+2j", "inputs.3"),
    ({"re": 1, "im": 2}, "inputs.3"),
])
def test_only_numbers_are_inputs(served: Served, value: object, field: str) -> None:
    row: list[object] = [0.0] * 64
    row[3] = value
    r = httpx.post(f"{served.url}/v1/predict", json={"inputs": row})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


def test_shape_errors_give_the_shape_sent_and_expected(served: Served) -> None:
    r = httpx.post(f"{served.url}/v1/predict", json={"inputs": [[0.0] * 63] * 3})
    assert r.status_code == 400
    assert "shape sent [3, 63]" in r.json()["detail"] and "64" in r.json()["detail"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    big = b'{"inputs": [' + b"0.0, " * 300_000 + b"0.0]}"
    assert len(big) > MAX_BODY_BYTES
    r = httpx.post(f"{served.url}/v1/predict", content=big,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        yield b'{"inputs": ['
        for _ in range(300):
            yield b"0.0, " * 1000
        yield b"0.0]}"

    r = httpx.post(f"{served.url}/v1/predict", content=chunks(),
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _metrics(served.url)["nfcore_request_failures_total"][
        (("cause", "body_too_large"),)] >= 2


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, "body"),
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
    assert r.json()["field"].split(".")[0].split("[")[0] == field  # inputs[7]: the row
    assert field in r.json()["detail"]
    assert verify_log(served.log).records == before


def test_the_schema_gives_the_row_shape(served: Served) -> None:
    doc = httpx.get(f"{served.url}/openapi.json").json()
    body = doc["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "64 finite JSON numbers" in body["schema"]["properties"]["inputs"]["description"]
    assert "$ref" not in json.dumps(body)


def test_predict_takes_post_only(served: Served) -> None:
    r = httpx.get(f"{served.url}/v1/predict")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["cause"] == "method_not_allowed"
    doc = httpx.get(f"{served.url}/openapi.json").json()
    assert {"200", "400", "409", "413", "422", "503"} <= \
        set(doc["paths"]["/v1/predict"]["post"]["responses"])


def test_malformed_json_is_field_body(served: Served) -> None:
    r = httpx.post(f"{served.url}/v1/predict", content=b'{"inputs": [1, 2,',
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert r.json()["detail"].startswith("body: not valid JSON")


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

    fsyncs = _metrics(served.url)["nfcore_audit_fsync_seconds_count"][()]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for rs in pool.map(client, range(CLIENTS)) for r in rs]
    elapsed = time.perf_counter() - t0
    # requests that arrived together shared a write and an fsync
    assert _metrics(served.url)["nfcore_audit_fsync_seconds_count"][()] - fsyncs < REQUESTS
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
