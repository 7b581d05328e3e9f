"""`nfcore compile`: the image, compile.md / compile.json, and clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfcore import cli
from nfcore.compiler import load_forest_image
from nfcore.compiler.quant.precision import LayerPrecision
from nfcore.config import NFCoreConfig
from nfcore.report import compile as compile_report

SMALL = "core:\n  weight_sram_bytes: 4096\nmesh:\n  rows: 4\n  cols: 4\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_compile_writes_a_loadable_image_and_its_report(forest_dir: Path, config: Path,
                                                       tmp_path: Path, capsys) -> None:
    out = tmp_path / "img"
    assert cli.main(["compile", str(forest_dir), "--config", str(config), "-o", str(out),
                     "--precision-budget", "100", "-q"]) == 0
    assert "report:" in capsys.readouterr().out
    data = json.loads((out / "compile.json").read_text())
    assert data["status"] == "ok"
    lay = data["layout"]
    # The layout places the router as one more tree (resident, every request selects it).
    assert lay["trees"]["resident"] + lay["trees"]["paged"] == 6 + 1
    assert sum(b > 0 for b in lay["sram_used_bytes"]["per_core"]) == \
        lay["cores_holding_weights"] > 0
    assert {"placed", "random", "lower_bound"} <= set(lay["hop_bytes_per_request"])
    assert len(data["precision"]["layers"]) == 6
    assert {"quantize", "lower", "layout", "precision", "save"} <= set(data["stage_seconds"])
    md = (out / "compile.md").read_text()
    for text in ("sram_heatmap.png", "hop-bytes", "Precision per layer", "int4", "random"):
        assert text in md
    assert (out / "sram_heatmap.png").stat().st_size > 1000
    image = load_forest_image(out, NFCoreConfig.load(config), forest_dir)
    assert image.n_trees == 6


def test_a_layer_over_the_precision_budget_fails_after_the_report(
        forest_dir: Path, config: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    def fake_measure(*args, **kwargs):
        return ([LayerPrecision("mlp", "dense1", 2, "int8", 3.0)],
                {"float": 0.9, "int8": 0.87, "int8_drop_pp": 3.0, "rows": 10.0})

    monkeypatch.setattr(compile_report, "measure", fake_measure)
    out = tmp_path / "img"
    assert cli.main(["compile", str(forest_dir), "--config", str(config), "-o", str(out),
                     "--precision-budget", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mlp dense1: 3.00 pp" in err
    assert not (out / "manifest.json").exists()
    assert "budget exceeded" in (out / "compile.md").read_text()


def test_bad_inputs_fail_with_one_line(forest_dir: Path, tmp_path: Path, capsys) -> None:
    imem = tmp_path / "imem.yaml"
    imem.write_text("core:\n  imem_depth: 4\n")
    big = tmp_path / "big.yaml"
    big.write_text("mesh:\n  rows: 1\n  cols: 1\ncore:\n  weight_sram_bytes: 2048\n")
    cases = [([str(tmp_path / "missing")], "manifest.json: not found"),
             ([str(forest_dir), "--config", str(imem)], "core.imem_depth = 4"),
             ([str(forest_dir), "--config", str(big)], "does not fit the chip"),
             ([str(forest_dir), "--precision-budget", "-1"], "must be >= 0")]
    for args, message in cases:
        assert cli.main(["compile", *args, "-o", str(tmp_path / "o"), "-q"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
