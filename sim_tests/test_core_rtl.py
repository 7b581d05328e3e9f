"""The micro-core RTL under Verilator (cocotb), one build per core configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.eda.rtl_runner import ENV_CORE, build_core, core_to_env
from nfcore.eda.toolchain import TOPLEVEL, config_tag

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "sim_build"

# Small memories keep Verilator builds and runs short; acc_bits = 20 makes sums wrap.
CONFIGS = {
    "lanes8": CoreConfig(lanes=8, weight_sram_bytes=512 * 8, act_sram_bytes=64 * 8,
                         imem_depth=32, acc_bits=32),
    "lanes16": CoreConfig(lanes=16, weight_sram_bytes=256 * 16, act_sram_bytes=48 * 16,
                          imem_depth=16, acc_bits=20),
    "lanes32": CoreConfig(lanes=32, weight_sram_bytes=192 * 32, act_sram_bytes=32 * 32,
                          imem_depth=16, acc_bits=32),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_core_rtl(name: str) -> None:
    cfg = NFCoreConfig(core=CONFIGS[name])
    build_dir = BUILD / f"core_{config_tag(cfg)}"
    runner = build_core(cfg, build_dir)
    runner.test(
        test_module="core_cocotb",
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env={ENV_CORE: core_to_env(cfg.core),
                   "NFCORE_TB_SEED": os.environ.get("NFCORE_TB_SEED", "1")},
        log_file=build_dir / "test.log",
    )
