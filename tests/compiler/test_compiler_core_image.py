"""On-disk images: a faithful round trip, and a refusal for each way an image can be wrong."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from compiler_helpers import run_golden, trained_tree

from nfcore.compiler import compile_mlp
from nfcore.compiler.images.core_image import FORMAT_VERSION, load_image, save_image
from nfcore.config import CoreConfig, NFCoreConfig, TechnologyConfig
from nfcore.errors import ImageError

CFG = NFCoreConfig()


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    t = trained_tree("wine")
    q, prog = compile_mlp(t.tree.layers(), t.data.x_train, CFG)
    return save_image(tmp_path / "img", prog, q, CFG)


def test_round_trip_is_exact(image: Path) -> None:
    t = trained_tree("wine")
    q, prog = compile_mlp(t.tree.layers(), t.data.x_train, CFG)
    img = load_image(image, CFG)
    assert img.program.program == prog.program
    np.testing.assert_array_equal(img.program.weights, prog.weights)
    assert img.program.layers == prog.layers and img.program.cycles == prog.cycles
    assert (img.program.input_addr, img.program.output_addr) == (prog.input_addr,
                                                                  prog.output_addr)
    x_int = img.quantize_input(t.data.x_test)
    np.testing.assert_array_equal(x_int, q.quantize_input(t.data.x_test))
    np.testing.assert_array_equal(img.quant.forward_int(x_int), q.forward_int(x_int))
    out, _ = run_golden(img.program, CFG.core, x_int)
    np.testing.assert_array_equal(out, q.forward_int(x_int))
    m = img.manifest
    assert m["format_version"] == FORMAT_VERSION and m["config_hash"] == CFG.hash()
    assert m["config"]["core"] == dataclasses.asdict(CFG.core)
    assert [(p["rows"], p["cols"]) for p in m["model"]["layers"]] == prog.shapes
    assert m["program"]["listing"][-1] == "HALT"


def test_saving_twice_gives_the_same_bytes(image: Path, tmp_path: Path) -> None:
    img = load_image(image, CFG)
    again = save_image(tmp_path / "again", img.program, img.quant, CFG)
    for name in ("manifest.json", "weights.bin", "program.bin", "quant.json"):
        assert (again / name).read_bytes() == (image / name).read_bytes(), name


def test_program_bin_is_little_endian_u64(image: Path) -> None:
    words = load_image(image, CFG).program.program
    raw = (image / "program.bin").read_bytes()
    assert len(raw) == 8 * len(words)
    assert int.from_bytes(raw[:8], "little") == words[0]


@pytest.mark.parametrize("name", ["manifest.json", "weights.bin", "program.bin", "quant.json"])
def test_missing_file_is_refused(image: Path, name: str) -> None:
    (image / name).unlink()
    with pytest.raises(ImageError, match=rf"{name}: missing"):
        load_image(image, CFG)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no image directory"):
        load_image(tmp_path / "nowhere", CFG)


@pytest.mark.parametrize("name", ["weights.bin", "program.bin", "quant.json"])
def test_corrupt_file_is_refused(image: Path, name: str) -> None:
    blob = bytearray((image / name).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (image / name).write_bytes(bytes(blob))
    with pytest.raises(ImageError, match=rf"{name}: sha256 .* does not match .*corrupt"):
        load_image(image, CFG)


def test_truncated_file_is_refused(image: Path) -> None:
    raw = (image / "program.bin").read_bytes()
    (image / "program.bin").write_bytes(raw[:-8])
    with pytest.raises(ImageError, match=rf"program.bin: {len(raw) - 8} bytes but the "
                                         rf"manifest says {len(raw)} \(truncated"):
        load_image(image, CFG)


def test_corrupt_manifest_is_refused(image: Path) -> None:
    text = (image / "manifest.json").read_text()
    (image / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(ImageError, match="manifest.json: not valid JSON"):
        load_image(image, CFG)


def test_unknown_format_version_is_refused(image: Path) -> None:
    manifest = json.loads((image / "manifest.json").read_text())
    manifest["format_version"] = 99
    (image / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match=r"manifest.json: format_version 99 is not supported"):
        load_image(image, CFG)


def test_config_mismatch_names_the_values(image: Path) -> None:
    other = dataclasses.replace(
        CFG, core=CoreConfig(weight_sram_bytes=32768),
        technology=TechnologyConfig(clock_mhz=250.0),
    )
    with pytest.raises(ImageError) as err:
        load_image(image, other)
    msg = str(err.value)
    assert "manifest.json: the image was compiled for a different config" in msg
    assert "core.weight_sram_bytes: image 65536, config 32768" in msg
    assert "technology.clock_mhz: image 500.0, config 250.0" in msg
    assert "core.lanes" not in msg


def test_edited_config_hash_is_refused(image: Path) -> None:
    manifest = json.loads((image / "manifest.json").read_text())
    manifest["config_hash"] = "0" * 64
    (image / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match="manifest was edited or is corrupt"):
        load_image(image, CFG)


def test_edited_embedded_config_is_refused(image: Path) -> None:
    """Issue 19: the config inside the manifest could be edited and the image still loaded
    (only config_hash was compared)."""
    manifest = json.loads((image / "manifest.json").read_text())
    manifest["config"]["core"]["imem_depth"] = 128
    (image / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match=r"the embedded config \(core\.imem_depth: 128\) does "
                                         r"not hash to the manifest's config_hash"):
        load_image(image, CFG)


def test_save_refuses_a_program_for_other_lanes(tmp_path: Path) -> None:
    t = trained_tree("wine")
    q, prog = compile_mlp(t.tree.layers(), t.data.x_train, CFG)
    wide = NFCoreConfig(core=CoreConfig(lanes=16))
    with pytest.raises(ImageError, match="lowered for 8 lanes .* core.lanes = 16"):
        save_image(tmp_path / "img", prog, q, wide)
