"""Whole-forest images: compile a saved mixed forest, round-trip it, run it, refuse mismatches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from compiler_helpers import train_saved_forest

from forest.datasets import load_dataset
from forest.errors import ForestFormatError
from nfcore.arch.isa import Opcode, decode
from nfcore.compiler import ForestImage, compile_forest, load_forest_image
from nfcore.compiler.golden_run import run_image_router, run_image_tree
from nfcore.compiler.images.forest_image import FORMAT_VERSION, relocate
from nfcore.config import NFCoreConfig
from nfcore.errors import CompileError, ImageError

SPLIT = {"mesh": {"rows": 4, "cols": 4}, "core": {"weight_sram_bytes": 1024}}
"""Trees of ~1 KiB on 1 KiB cores: the cnn trees split over two cores, and cores share."""
PAGED = {"mesh": {"rows": 1, "cols": 2}, "core": {"weight_sram_bytes": 3072}}
"""Two cores for six trees: most are paged, and land after the resident ones."""


@pytest.fixture(scope="module")
def calib() -> np.ndarray:
    return load_dataset("digits").x_train[:200]


@pytest.fixture(scope="module")
def split_image(forest_dir: Path) -> ForestImage:
    # The default calibration: the recorded dataset's training split, regenerated.
    return compile_forest(forest_dir, NFCoreConfig.from_dict(SPLIT), progress=False)


def test_every_kind_is_compiled_and_resident_or_paged(split_image: ForestImage) -> None:
    m = split_image.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert sorted(t["kind"] for t in m["trees"]) == ["cnn", "cnn", "mlp", "mlp", "rnn", "rnn"]
    assert sorted(split_image.resident_trees + split_image.paged_trees) == list(range(6))
    assert "digits training split" in m["calibration"]["source"]
    assert any(len(t["cores"]) > 1 for t in m["trees"]), "some tree should be split"
    cap = split_image.cfg.core.weight_words
    for c in m["cores"]:
        assert c["sram_words"] <= cap
        assert sum(r[3] for r in c["regions"] if r[4]) == c["sram_words"]


@pytest.mark.parametrize("config", [SPLIT, PAGED], ids=["split", "paged"])
def test_image_contents_run_bit_exact_on_the_golden_model(forest_dir: Path, calib: np.ndarray,
                                                          config: dict) -> None:
    cfg = NFCoreConfig.from_dict(config)
    image = compile_forest(forest_dir, cfg, calib_x=calib, progress=False)
    if config is PAGED:
        assert image.paged_trees
        assert any(image.tree(t).base_words[0] > 0 for t in image.paged_trees)
    rng = np.random.default_rng(1)
    for t in range(image.n_trees):
        tree = image.tree(t)
        x = rng.integers(-128, 128, size=(4, *tree.quant.input_shape))
        out, _ = run_image_tree(image, t, x)
        np.testing.assert_array_equal(out, tree.quant.forward_int(x), err_msg=f"tree {t}")
    router = image.router()
    x = rng.integers(-128, 128, size=(4, *router.quant.input_shape))
    out, cycles = run_image_router(image, x)
    np.testing.assert_array_equal(out, router.quant.forward_int(x))
    assert min(cycles) > 0


def test_the_router_is_an_int8_program_resident_next_to_the_host(
        split_image: ForestImage, forest_dir: Path) -> None:
    from forest.io import ForestReader

    forest = ForestReader(forest_dir).forest()
    router, entry = split_image.router(), split_image.manifest["router"]
    assert entry["resident"] and entry["regions"] == forest.router.n_regions
    assert router.quant.kind == "mlp" and router.quant.out_features == forest.router.n_regions
    assert router.cores[0] == (0, 0), "every request's input goes to the router first"
    regions = [r for c in split_image.manifest["cores"] for r in c["regions"] if r[0] == -1]
    assert [r[1] for r in regions] == list(range(len(router.cores)))


def test_round_trip_is_lossless_lazy_and_deterministic(split_image: ForestImage,
                                                      forest_dir: Path,
                                                      tmp_path: Path) -> None:
    split_image.save(tmp_path / "a")
    loaded = load_forest_image(tmp_path / "a", split_image.cfg, forest_dir)
    assert loaded.tree(3).tree_id == 3
    assert list(loaded._trees) == [3], "one tree is read without reading the others"
    np.testing.assert_array_equal(loaded.router().program.cores[0].weights,
                                  split_image.router().program.cores[0].weights)
    assert loaded.router().core_program(0) == split_image.router().core_program(0)
    for t in range(split_image.n_trees):
        a, b = split_image.tree(t), loaded.tree(t)
        assert a.resident == b.resident and a.base_words == b.base_words
        for k in range(len(a.cores)):
            assert a.core_program(k) == b.core_program(k)
            np.testing.assert_array_equal(a.program.cores[k].weights,
                                          b.program.cores[k].weights)
        x = np.random.default_rng(t).normal(size=(5, *a.quant.input_shape))
        np.testing.assert_array_equal(a.pack_input(x), b.pack_input(x))
    for coord in split_image.core_coords:
        np.testing.assert_array_equal(split_image.core_sram(coord), loaded.core_sram(coord))
        assert split_image.core_programs(coord) == loaded.core_programs(coord)
    loaded.save(tmp_path / "b")
    for f in sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                    if p.is_file()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_relocate_moves_only_weight_addresses(split_image: ForestImage) -> None:
    words = split_image.tree(4).program.cores[0].program  # an rnn: SETLUT, LOOP, MATVEC
    moved = relocate(words, 100)
    for w0, w1 in zip(words, moved, strict=True):
        i0, i1 = decode(w0), decode(w1)
        if i0.op in (Opcode.MATVEC, Opcode.SETLUT):
            assert i1.w_addr == i0.w_addr + 100
            assert {k: v for k, v in i1.args if k != "w_addr"} == \
                {k: v for k, v in i0.args if k != "w_addr"}
        else:
            assert w0 == w1


# --- refusals --------------------------------------------------------------------------------


@pytest.fixture
def saved(split_image: ForestImage, tmp_path: Path) -> Path:
    return split_image.save(tmp_path / "img")


def test_load_refuses_another_config_naming_the_key(saved: Path) -> None:
    other = NFCoreConfig.from_dict({**SPLIT, "core": {"weight_sram_bytes": 1024,
                                                      "imem_depth": 128}})
    with pytest.raises(ImageError, match=r"core\.imem_depth: image 256, config 128"):
        load_forest_image(saved, other)


def test_load_refuses_another_format_version(saved: Path) -> None:
    m = json.loads((saved / "manifest.json").read_text())
    m["format_version"] = 2
    (saved / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ImageError, match="format_version 2 is not a forest image"):
        load_forest_image(saved, NFCoreConfig.from_dict(SPLIT))


def test_load_refuses_another_forest(saved: Path, tmp_path: Path) -> None:
    other = train_saved_forest(tmp_path / "other", ("mlp",), 2, seed=1)
    with pytest.raises(ImageError, match="compiled from forest .* holds forest"):
        load_forest_image(saved, NFCoreConfig.from_dict(SPLIT), other)


def test_load_refuses_corrupt_files_naming_them(saved: Path) -> None:
    cfg = NFCoreConfig.from_dict(SPLIT)
    core_file = next((saved / "cores").glob("*.sram"))
    blob = bytearray(core_file.read_bytes())
    blob[0] ^= 1
    core_file.write_bytes(bytes(blob))
    image = load_forest_image(saved, cfg)
    coord = tuple(int(v) for v in core_file.stem.split("_")[1:])
    with pytest.raises(ImageError, match=rf"{core_file.name}: sha256 .*\(corrupt\)"):
        image.core_sram(coord)  # type: ignore[arg-type]
    (saved / "trees" / "tree_2" / "manifest.json").write_text("{}")
    with pytest.raises(ImageError, match="tree_2/manifest.json"):
        image.tree(2)
    image.tree(1)  # other trees still load
    with pytest.raises(ImageError, match="no tree 6"):
        image.tree(6)


def _resident_twice(m: dict) -> None:  # type: ignore[type-arg]
    region = next(r for c in m["cores"] for r in c["regions"] if r[4])
    other = next(c for c in m["cores"] if region not in c["regions"])
    other["regions"].append(region)


def _listed_twice(m: dict) -> None:  # type: ignore[type-arg]
    m["residency"]["paged"].append(m["residency"]["resident"][0])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["config"]["mesh"].update(rows=8),
     r"the embedded config \(mesh\.rows: 8\) does not hash to the manifest's config_hash"),
    (lambda m: m["residency"]["resident"].append(99),
     r"residency\.resident: tree 99 does not exist \(the image has 6 trees\)"),
    (_listed_twice, r"residency: tree [0-9] is listed twice \(resident and paged\)"),
    (lambda m: m["trees"][0]["cores"].__setitem__(0, [9, 9]),
     r"tree 0: core \(9, 9\) does not exist on the 4 x 4 mesh"),
    (lambda m: m["cores"][0].update(coord=[4, 0]),
     r"cores\[0\]: core \(4, 0\) does not exist on the 4 x 4 mesh"),
    (lambda m: m["cores"][0].update(sram_words=10_000),
     r"core \([0-9], [0-9]\): 10000 resident weight words exceed its SRAM of 128 words"),
    (lambda m: m["trees"][0]["base_words"].__setitem__(0, 127),
     r"tree 0 part 0 on core .*: words 127 \.\. [0-9]+ exceed the core's weight SRAM of 128"),
    (_resident_twice, r"tree [0-9] part [0-9] is resident twice \(cores \([0-9], [0-9]\) and"),
    (lambda m: m["router"].update(resident=False),
     r"router: id -1 and resident False, expected -1 and true"),
    (lambda m: m.pop("router"), r"missing key 'router'"),
    (lambda m: m.update(format_version=3),
     r"format_version 3 is not a forest image .* without the on-chip router"),
])
def test_load_refuses_an_edited_config_or_bogus_residency(saved: Path, edit,  # type: ignore[no-untyped-def]
                                                          message: str) -> None:
    """Issue 19: an edited embedded config and bogus residency entries were believed."""
    m = json.loads((saved / "manifest.json").read_text())
    edit(m)
    (saved / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ImageError, match=message):
        load_forest_image(saved, NFCoreConfig.from_dict(SPLIT))


def test_compile_refuses_a_missing_or_corrupt_forest(tmp_path: Path, forest_dir: Path) -> None:
    cfg = NFCoreConfig.from_dict(SPLIT)
    with pytest.raises(ForestFormatError, match="manifest.json: not found"):
        compile_forest(tmp_path / "nothing", cfg, progress=False)
    broken = shutil.copytree(forest_dir, tmp_path / "broken")
    (broken / "weights.safetensors").write_bytes(b"short")
    with pytest.raises(ForestFormatError, match="weights.safetensors"):
        compile_forest(broken, cfg, progress=False)


def test_compile_refuses_too_little_instruction_memory(forest_dir: Path,
                                                       calib: np.ndarray) -> None:
    cfg = NFCoreConfig.from_dict({**SPLIT, "core": {"weight_sram_bytes": 1024,
                                                    "imem_depth": 4}})
    with pytest.raises(CompileError, match=r"tree \d+.*core\.imem_depth = 4"):
        compile_forest(forest_dir, cfg, calib_x=calib, progress=False)


def test_compile_refuses_a_forest_too_large_for_any_residency_plan(
        forest_dir: Path, calib: np.ndarray) -> None:
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 1, "cols": 2},
                                  "core": {"weight_sram_bytes": 1024}})
    with pytest.raises(CompileError, match="does not fit the chip.*paged"):
        compile_forest(forest_dir, cfg, calib_x=calib, progress=False)
