"""The emitted Verilog passes `verilator --lint-only -Wall` with only the waivers in
nfcore/eda/verilator.vlt (Amaranth backend idioms), flat and hierarchical; the hierarchical
array defines each module once and has the flat one's ports."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from nfcore.cli import main
from nfcore.config import CoreConfig, MeshConfig, NFCoreConfig, PowerConfig
from nfcore.eda.toolchain import TOPLEVEL, VLT_FILE, activate
from nfcore.eda.verilog import TOPS, compact_zero_inits, emit, emit_core_verilog
from nfcore.errors import ConfigError

DEFAULT_YAML = Path(__file__).parents[2] / "configs" / "default.yaml"

CONFIGS = {
    "default": CoreConfig(),
    "lanes16_acc20": CoreConfig(lanes=16, weight_sram_bytes=4096, act_sram_bytes=512,
                                imem_depth=16, acc_bits=20),
    "lanes32": CoreConfig(lanes=32, weight_sram_bytes=8192, act_sram_bytes=1024, imem_depth=8),
}


def lint(text: str, top: str, tmp_path: Path) -> None:
    verilator = activate()
    source = tmp_path / f"{top}.v"
    source.write_text(text)
    proc = subprocess.run(
        [str(verilator), "--lint-only", "-Wall", "--top-module", top, str(VLT_FILE),
         str(source)],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr[-4000:]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_lint_clean(name: str, tmp_path: Path) -> None:
    lint(emit_core_verilog(NFCoreConfig(core=CONFIGS[name]), name=TOPLEVEL), TOPLEVEL, tmp_path)


NOC_CONFIGS = {
    "router_lanes8": ("router", NFCoreConfig()),
    "router_lanes16": ("router", NFCoreConfig(core=CONFIGS["lanes16_acc20"])),
    "mesh_1x1": ("mesh", NFCoreConfig(mesh=MeshConfig(rows=1, cols=1))),
    "mesh_2x3": ("mesh", NFCoreConfig(mesh=MeshConfig(rows=2, cols=3))),
    "mesh_3x2_lanes16": ("mesh", NFCoreConfig(core=CONFIGS["lanes16_acc20"],
                                              mesh=MeshConfig(rows=3, cols=2))),
    "array_1x1": ("array", NFCoreConfig(core=CONFIGS["lanes32"],
                                        mesh=MeshConfig(rows=1, cols=1))),
    "array_2x2": ("array", NFCoreConfig(core=CONFIGS["lanes16_acc20"],
                                        mesh=MeshConfig(rows=2, cols=2))),
    "array_2x3": ("array", NFCoreConfig(core=CoreConfig(lanes=8, weight_sram_bytes=2048,
                                                        act_sram_bytes=256, imem_depth=16),
                                        mesh=MeshConfig(rows=2, cols=3))),
    # Wake-up latencies 0 and 1 take other branches of the power domain (nfcore.hdl.power).
    "array_1x2_wake0": ("array", NFCoreConfig(core=CONFIGS["lanes32"],
                                              mesh=MeshConfig(rows=1, cols=2),
                                              power=PowerConfig(wake_up_cycles=0))),
    "array_1x1_wake1": ("array", NFCoreConfig(core=CONFIGS["lanes32"],
                                              mesh=MeshConfig(rows=1, cols=1),
                                              power=PowerConfig(wake_up_cycles=1))),
}


@pytest.mark.parametrize("name", list(NOC_CONFIGS))
def test_noc_lint_clean(name: str, tmp_path: Path) -> None:
    top, cfg = NOC_CONFIGS[name]
    lint(emit(cfg, top, name="nfcore_" + top), "nfcore_" + top, tmp_path)


FLAT_CONFIGS = ("mesh_2x3", "array_2x3", "array_1x2_wake0")


@pytest.mark.parametrize("name", FLAT_CONFIGS)
def test_flat_lint_clean(name: str, tmp_path: Path) -> None:
    top, cfg = NOC_CONFIGS[name]
    lint(emit(cfg, top, name="nfcore_" + top, flat=True), "nfcore_" + top, tmp_path)


def modules(text: str) -> dict[str, list[str]]:
    """Each module of Verilog `text` by name, with its ports as declared."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"^module (\\?\S+?) ?\((.*?)\);", text, re.M | re.S):
        assert match.group(1) not in found, f"module {match.group(1)} defined twice"
        found[match.group(1)] = sorted(p.strip() for p in match.group(2).split(","))
    return found


def test_hierarchical_array_defines_each_module_once() -> None:
    """A 3 x 3 array has all 9 router places of a mesh, in 8 modules ((0, 0) with the DRAM
    port has all five ports, as the middle router): one core module, 8 router modules, their
    submodules, and a top of instances whose ports are the flat array's."""
    _, cfg = NOC_CONFIGS["array_2x3"]
    cfg = dataclasses.replace(cfg, mesh=MeshConfig(rows=3, cols=3))
    hier = modules(emit(cfg, "array", name="a"))
    flat = modules(emit(cfg, "array", name="a", flat=True))
    assert hier["a"] == flat["a"]
    tops = {m for m in hier if not m.startswith("\\")}  # submodules are \<box>.<path>
    routers = {f"a__router_{p}" for p in ("lnsew", "lsew", "lsw", "lnse", "lnsw", "lne",
                                          "lnew", "lnw")}
    assert tops == {"a", "a__core", *routers}
    core = {m for m in flat if m.startswith("\\a.core_0_0.")}
    assert len(hier) < len(flat) and len(core) > 1
    assert sum(m.startswith("\\a__core.") for m in hier) == len(core)


def test_emit_core_verilog_names_the_module() -> None:
    cfg = NFCoreConfig(core=CoreConfig(weight_sram_bytes=1024, act_sram_bytes=256))
    text = emit_core_verilog(cfg, name="my_core")
    assert "module my_core(" in text
    for port in ("cmd__valid", "cmd__ready", "rsp__payload", "last_run_cycles", "error"):
        assert port in text


def test_cli_writes_each_top(tmp_path: Path) -> None:
    # The default 16 x 16 mesh takes minutes to elaborate; a 2 x 2 config shows the CLI path.
    config = tmp_path / "small.yaml"
    config.write_text(DEFAULT_YAML.read_text().replace("rows: 16", "rows: 2")
                      .replace("cols: 16", "cols: 2"))
    for top in TOPS:
        out = tmp_path / f"{top}.v"
        assert main(["verilog", "--config", str(config), "--top", top, "-o", str(out),
                     "--name", f"t_{top}"]) == 0
        assert f"module t_{top}(" in out.read_text()
    flat = tmp_path / "flat.v"
    assert main(["verilog", "--config", str(config), "--top", "mesh", "--flat", "-o",
                 str(flat), "--name", "t_mesh"]) == 0
    assert "module t_mesh__router" not in flat.read_text()
    assert "module t_mesh__router" in (tmp_path / "mesh.v").read_text()
    with pytest.raises(ConfigError, match="--top 'bogus' is not a block"):
        emit(NFCoreConfig(), "bogus", name="x")



def test_zero_initialised_memories_become_loops() -> None:
    """Yosys writes one `initial` statement per word; a memory all of whose words are set
    to 0 gets one loop instead, plain or escaped names; other initial values are kept."""
    def memory(name: str, words: list[int]) -> str:
        lines = "".join(f"    {name}[{k}] = 8'h{w:02x};\n" for k, w in enumerate(words))
        return f"  reg [7:0] {name} [{len(words) - 1}:0];\n  initial begin\n{lines}  end\n"

    kept = memory("rom", [0, 3, 0]) + memory("\\part$1 ", [0, 0])[:-len("  end\n")] \
        + "    \\part$1 [3] = 8'h00;\n  end\n"
    text = memory("weights", [0] * 300) + memory("\\act$7 ", [0, 0]) + kept
    out = compact_zero_inits(text)
    assert out.endswith(kept)
    assert out.startswith(
        "  reg [7:0] weights [299:0];\n  integer \\weights$zero ;\n  initial for "
        "(\\weights$zero  = 0; \\weights$zero  <= 299; \\weights$zero  = \\weights$zero  + 1) "
        "weights[\\weights$zero [8:0]] = 0;\n")
    assert "\\act$7 [\\act$7$zero [0:0]] = 0;\n" in out
    core = emit_core_verilog(NFCoreConfig(core=CONFIGS["lanes16_acc20"]))
    assert "initial begin" not in core and core.count("initial for") == 4  # weights, act, imem, LUT
