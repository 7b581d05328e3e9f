"""The emitted Verilog passes `verilator --lint-only -Wall` with only the waivers in
nfcore/hdl/verilator.vlt (Amaranth backend idioms)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.hdl.toolchain import TOPLEVEL, VLT_FILE, activate
from nfcore.hdl.verilog import emit_core

CONFIGS = {
    "default": CoreConfig(),
    "lanes16_acc20": CoreConfig(lanes=16, weight_sram_bytes=4096, act_sram_bytes=512,
                                imem_depth=16, acc_bits=20),
    "lanes32": CoreConfig(lanes=32, weight_sram_bytes=8192, act_sram_bytes=1024, imem_depth=8),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_lint_clean(name: str, tmp_path: Path) -> None:
    verilator = activate()
    source = tmp_path / f"{TOPLEVEL}.v"
    source.write_text(emit_core(NFCoreConfig(core=CONFIGS[name]), name=TOPLEVEL))
    proc = subprocess.run(
        [str(verilator), "--lint-only", "-Wall", "--top-module", TOPLEVEL, str(VLT_FILE),
         str(source)],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr[-4000:]


def test_emit_core_names_the_module() -> None:
    text = emit_core(NFCoreConfig(core=CoreConfig(weight_sram_bytes=1024, act_sram_bytes=256)),
                     name="my_core")
    assert "module my_core(" in text
    for port in ("cmd__valid", "cmd__ready", "rsp__payload", "last_run_cycles", "error"):
        assert port in text
