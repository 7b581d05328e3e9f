"""`nfcore serve` under faults, as a user meets them: the disk fills (a real file-size
limit on the server process), a second server on the same log, a corrupt core in the image
(refused at start, or found by a request with `--lazy-verify`), and an audit write that
fails inside the server."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from conductor_helpers import SavedForest

from nfcore.cli import main
from nfcore.compiler import load_forest_image
from nfcore.conductor.audit import AuditLog, verify_log
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.server import create_app
from nfcore.conductor.tree_source import ImageForest
from nfcore.config import NFCoreConfig

FILE_LIMIT_BYTES = 16_000
"""The server's file-size limit in the disk-full test: room for a few records."""


@pytest.fixture()
def config_file(cfg: NFCoreConfig, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_argv(config_file: Path, image: Path, forest: Path, log: Path, port: int,
                *extra: str) -> list[str]:
    return ["serve", "--config", str(config_file), "--image", str(image), "--forest",
            str(forest), "--audit", str(log), "--port", str(port), "-q", *extra]


def _start(argv: list[str], preexec: Callable[[], object] | None = None
           ) -> tuple[subprocess.Popen[bytes], str]:
    """`nfcore serve` in a subprocess, once it answers /healthz (any status)."""
    port = int(argv[argv.index("--port") + 1])
    proc = subprocess.Popen([sys.executable, "-m", "nfcore.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=preexec)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            httpx.get(f"{url}/healthz")
            return proc, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "nfcore serve did not come up"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def _failures(url: str, cause: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(f'nfcore_request_failures_total{{cause="{cause}"}}'):
            return float(line.split()[-1])
    return 0.0


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, hard))


def test_a_full_disk_gives_503_counts_fails_health_and_the_log_continues(
        saved_forest: SavedForest, image_dir: Path, config_file: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    proc, url = _start(_serve_argv(config_file, image_dir, saved_forest.folder, log,
                                   _free_port()), _limit_file_size)
    rows = saved_forest.data.x_test
    acked: list[str] = []
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
        refused = None
        for i in range(60):
            r = httpx.post(f"{url}/v1/predict",
                           json={"inputs": rows[i].tolist(), "request_id": f"r{i}"})
            if r.status_code != 200:
                refused = r
                break
            acked.append(f"r{i}")
        assert refused is not None and acked, "the file-size limit was never reached"
        assert refused.status_code == 503
        assert refused.json()["cause"] == "audit_EFBIG" and "not recorded" in \
            refused.json()["detail"]
        assert _failures(url, "audit_EFBIG") == 1
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "failing"
        assert "audit log cannot be written" in health.json()["problems"][0]
        assert log.stat().st_size <= FILE_LIMIT_BYTES and verify_log(log).torn_bytes == 0
        # space returns: the limit is lifted on the running server
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
        assert httpx.get(f"{url}/healthz").status_code == 200
        r = httpx.post(f"{url}/v1/predict", json={"inputs": rows[0].tolist(),
                                                  "request_id": "after"})
        assert r.status_code == 200 and r.json()["audit"]["seq"] == len(acked)
        acked.append("after")
    finally:
        _stop(proc)
    res = verify_log(log)
    assert res.ok and res.records == len(acked)
    assert [json.loads(line)["record"]["request_id"]
            for line in log.read_text().splitlines()] == acked
    assert main(["audit", "verify", str(log)]) == 0


def test_a_second_server_on_the_same_log_refuses_naming_the_first(
        saved_forest: SavedForest, image_dir: Path, config_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "audit.jsonl"
    first, _ = _start(_serve_argv(config_file, image_dir, saved_forest.folder, log,
                                  _free_port()))
    try:
        code = main(_serve_argv(config_file, image_dir, saved_forest.folder, log,
                                _free_port()))
    finally:
        _stop(first)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"in use by process {first.pid}" in err


def _corrupt_copy(image_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    image = Path(shutil.copytree(image_dir, tmp_path / "image"))
    sram = sorted((image / "cores").glob("*.sram"))[0]
    blob = bytearray(sram.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    sram.write_bytes(bytes(blob))
    x, y = sram.stem.removeprefix("core_").split("_")
    return image, f"core ({x}, {y})"


def test_a_corrupt_core_refuses_to_start(saved_forest: SavedForest, image_dir: Path,
                                         config_file: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    image, core = _corrupt_copy(image_dir, tmp_path)
    code = main(_serve_argv(config_file, image, saved_forest.folder, tmp_path / "a.jsonl",
                            _free_port()))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{core} (trees " in err and "--lazy-verify" in err


def test_lazy_verify_fails_the_requests_that_meet_a_corrupt_core(
        saved_forest: SavedForest, image_dir: Path, cfg: NFCoreConfig,
        tmp_path: Path) -> None:
    image, core = _corrupt_copy(image_dir, tmp_path)
    log = tmp_path / "audit.jsonl"
    conductor = Conductor(saved_forest.folder,
                          ImageForest(load_forest_image(image, cfg,
                                                        forest_dir=saved_forest.folder)),
                          make_backend("golden", cfg), AuditLog(log))
    with _in_thread(create_app(conductor)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200  # nothing read yet
        codes = []
        for row in saved_forest.data.x_test[:40]:
            r = httpx.post(f"{url}/v1/predict", json={"inputs": row.tolist()})
            codes.append(r.status_code)
            if r.status_code != 200:
                assert r.status_code == 500 and r.json()["cause"] == "corrupt_image"
        assert 500 in codes
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 503
        assert any(p.startswith(f"{core} (trees ") for p in health.json()["problems"])
    conductor.audit.close()  # type: ignore[union-attr]
    assert verify_log(log).records == codes.count(200)


def test_an_audit_write_failure_inside_the_server(
        saved_forest: SavedForest, image_dir: Path, cfg: NFCoreConfig, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "audit.jsonl"
    conductor = Conductor(saved_forest.folder,
                          ImageForest(load_forest_image(image_dir, cfg,
                                                        forest_dir=saved_forest.folder)),
                          make_backend("golden", cfg), AuditLog(log))
    row = saved_forest.data.x_test[0].tolist()
    real_write, real_fallocate = os.write, os.posix_fallocate

    def no_space(*_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with _in_thread(create_app(conductor)) as url:
        assert httpx.post(f"{url}/v1/predict", json={"inputs": row}).status_code == 200
        monkeypatch.setattr(os, "write", no_space)
        monkeypatch.setattr(os, "posix_fallocate", no_space)
        r = httpx.post(f"{url}/v1/predict", json={"inputs": row, "request_id": "lost"})
        assert r.status_code == 503 and r.json()["cause"] == "audit_ENOSPC"
        assert httpx.get(f"{url}/healthz").status_code == 503
        assert _failures(url, "audit_ENOSPC") == 1
        monkeypatch.setattr(os, "write", real_write)
        monkeypatch.setattr(os, "posix_fallocate", real_fallocate)
        assert httpx.get(f"{url}/healthz").status_code == 200
        # the refused id was never recorded, so it may be used again
        r = httpx.post(f"{url}/v1/predict", json={"inputs": row, "request_id": "lost"})
        assert r.status_code == 200 and r.json()["audit"]["seq"] == 1
    conductor.audit.close()  # type: ignore[union-attr]
    assert verify_log(log).records == 2


class _in_thread:  # noqa: N801 - used as a context manager
    """Serve `app` with uvicorn in a thread; the URL while inside."""

    def __init__(self, app: object) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",  # type: ignore[arg-type]
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)



def test_a_body_limit_below_one_byte_is_refused(saved_forest: SavedForest, image_dir: Path,
                                                config_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_serve_argv(config_file, image_dir, saved_forest.folder,
                            tmp_path / "a.jsonl", _free_port(), "--max-body-bytes", "0"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--max-body-bytes 0" in err
