"""`nfcore run`, `nfcore serve` and `nfcore audit verify` as a user runs them."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from conductor_helpers import SavedForest

from nfcore.cli import main
from nfcore.config import NFCoreConfig


@pytest.fixture()
def config_file(cfg: NFCoreConfig, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


@pytest.mark.parametrize("backend", ["golden", "sim"])
def test_run_a_file_of_inputs_and_verify_the_log(
        saved_forest: SavedForest, image_dir: Path, config_file: Path, tmp_path: Path,
        backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, saved_forest.raw_test(30))
    log, out = tmp_path / "audit.jsonl", tmp_path / "answers.jsonl"
    argv = ["run", "--config", str(config_file), "--image", str(image_dir), "--forest",
            str(saved_forest.folder), "--backend", backend, "--inputs", str(inputs),
            "--audit", str(log), "--batch", "8", "-o", str(out), "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "30 requests" in text and "audit log: 30 records" in text
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(answers) == 30
    labels = saved_forest.data.y_test[:30]
    assert np.mean([a["prediction"] for a in answers] == labels) > 0.7
    assert main(["audit", "verify", str(log)]) == 0
    assert "OK, 30 records" in capsys.readouterr().out


def test_run_refuses_bad_arguments_in_one_line(saved_forest: SavedForest, image_dir: Path,
                                               config_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "inputs.csv"
    bad.write_text("1,2,3\n")
    base = ["run", "--config", str(config_file), "--image", str(image_dir), "--forest",
            str(saved_forest.folder), "-q"]
    assert main([*base, "--inputs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rows: shape sent [1, 3]; expected one row of shape [8, 8]" in err
    assert err.count("\n") == 1
    assert main([*base, "--inputs", str(tmp_path / "none.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", saved_forest.data.x_test[:2])
    assert main(["run", "--config", str(config_file), "--image", str(tmp_path), "--forest",
                 str(saved_forest.folder), "--inputs", str(tmp_path / "x.npy")]) == 2
    assert "manifest.json" in capsys.readouterr().err


_ROW = list(range(64))


@pytest.mark.parametrize(("name", "text", "message"), [
    ("obj.json", json.dumps({"inputs": [_ROW]}),
     r"obj.json: a JSON object; expected a list of rows"),
    ("str.json", json.dumps([_ROW, [*_ROW[:5], "7", *_ROW[6:]]]),
     r"rows\[1\]\[5\]: a string \('7'\)"),
    ("bool.json", json.dumps([[True, *_ROW[1:]]]), r"rows\[0\]\[0\]: a boolean \(True\)"),
    ("nan.json", json.dumps([_ROW, _ROW, [*_ROW[:9], float("nan"), *_ROW[10:]]]),
     r"rows\[2\]\[9\]: nan is not a finite number"),
    ("inf.json", "[[1e999" + ", 0" * 63 + "]]", r"rows\[0\]\[0\]: inf is not a finite number"),
    ("ragged.json", json.dumps([_ROW, _ROW[:63]]),
     r"rows\[1\]: shape \[63\], but .*rows\[0\] has shape \[64\]: ragged rows"),
    ("shape.json", json.dumps([_ROW * 3]), r"rows: shape sent \[1, 192\]; expected one row of "
                                          r"shape \[8, 8\] \(or 64 numbers, flat\)"),
    ("complex.csv", ",".join(["0"] * 63 + ["1+2j"]) + "\n", r"rows\[0\]\[63\]: '1\+2j' is not"),
    ("ragged.csv", ",".join(["0"] * 64) + "\n" + ",".join(["0"] * 60) + "\n",
     r"rows\[1\]: shape \[60\], but"),
    ("inf.csv", ",".join(["0"] * 63 + ["inf"]) + "\n", r"rows\[0\]\[63\]: inf is not a finite"),
    ("bin.json", "\udcff", r"bin.json: unreadable"),
])
def test_run_refuses_bad_rows_in_one_line_naming_the_row(
        saved_forest: SavedForest, image_dir: Path, config_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], name: str, text: str, message: str) -> None:
    """The faults of issue 19: a JSON object was a TypeError traceback, strings, booleans,
    complex numbers were answered; now each is one line, by the rules HTTP obeys."""
    (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    assert main(["run", "--config", str(config_file), "--image", str(image_dir), "--forest",
                 str(saved_forest.folder), "-q", "--inputs", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_run_help_states_the_row_shape_and_units(image_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "forest.input_shape in FOREST/manifest.json" in text
    assert "in the data's own units" in text and "--standardized-inputs" in text
    with pytest.raises(SystemExit):
        main(["run", "--image", str(image_dir), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "reads rows of shape [8, 8] (64 numbers, or that shape)" in text


def test_serve_answers_over_http(saved_forest: SavedForest, image_dir: Path,
                                 config_file: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nfcore.cli", "serve", "--config", str(config_file), "--image",
         str(image_dir), "--forest", str(saved_forest.folder), "--audit", str(log),
         "--port", str(port), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nfcore serve did not come up"
            time.sleep(0.2)
        r = httpx.post(f"{url}/v1/predict",
                       json={"inputs": saved_forest.raw_test(6)[5].tolist()})
        assert r.status_code == 200 and r.json()["audit"]["seq"] == 0
        assert "nfcore_rows_answered_total 1.0" in httpx.get(f"{url}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert main(["audit", "verify", str(log), "--expect-records", "1"]) == 0


def test_the_forest_folder_defaults_to_the_one_compile_recorded(
        saved_forest: SavedForest, image_dir: Path, tmp_path: Path) -> None:
    import shutil

    from nfcore.conductor.commands import forest_dir_of
    from nfcore.errors import ConfigError

    image = Path(shutil.copytree(image_dir, tmp_path / "image"))
    with pytest.raises(ConfigError, match="--forest is needed.*compile.json"):
        forest_dir_of(image, None)
    (image / "compile.json").write_text(json.dumps({"forest": {"dir": str(saved_forest.folder)}}))
    assert forest_dir_of(image, None) == saved_forest.folder
    (image / "compile.json").write_text(json.dumps({"forest": {"dir": str(tmp_path / "gone")}}))
    with pytest.raises(ConfigError, match="not a folder here"):
        forest_dir_of(image, None)
    assert forest_dir_of(image, tmp_path) == tmp_path
