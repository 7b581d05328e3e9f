"""`nfcore fpga`: build FPGA targets with the PyPI toolchain and tabulate resources and Fmax.

A target is a (board, top, config) triple in `TARGETS`. The build runs Amaranth's vendor flow
(Yosys, nextpnr, ecppack/icepack) in build/fpga/<target>/; `make fpga` points the YOSYS,
NEXTPNR_ECP5, NEXTPNR_ICE40, ECPPACK and ICEPACK variables at the yowasp-* tools and
YOWASP_CACHE_DIR under build/. `nfcore.eda.fpga.report` reads the tools' reports.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.lib import wiring

from nfcore.config import NFCoreConfig
from nfcore.eda.fpga.report import (
    FpgaResult,
    parse_nextpnr_log,
    parse_yosys_stat,
    resources,
)
from nfcore.eda.fpga.targets import FpgaTop, PllSpec
from nfcore.eda.verilog import emit_modules
from nfcore.errors import ConfigError, NFCoreError
from nfcore.hdl.blackbox import Hierarchy
from nfcore.hdl.core import MicroCore
from nfcore.hdl.core_array import CoreArray

__all__ = ["MODULES_FILE", "TARGETS", "TOPS", "FpgaTarget", "build_target", "check_target",
           "design_of", "select_targets"]


def _core_top(cfg: NFCoreConfig, lut_multipliers: int, hierarchy: Hierarchy) -> wiring.Component:
    return MicroCore(config=cfg.core, lut_multipliers=lut_multipliers)


def _array_top(cfg: NFCoreConfig, lut_multipliers: int, hierarchy: Hierarchy
               ) -> wiring.Component:
    assert lut_multipliers == 0, "check_target: the array has DSPs for every lane"
    return CoreArray(config=cfg, hierarchy=hierarchy)


TOPS: dict[str, Callable[[NFCoreConfig, int, Hierarchy], wiring.Component]] = {
    "core": _core_top, "array": _array_top}
"""Design factories by top name, given the config, the target's `lut_multipliers` and a
`Hierarchy` for the black boxes it instantiates: one `MicroCore` of `cfg.core`, or the
`cfg.mesh.rows` x `cfg.mesh.cols` `CoreArray`, hierarchical (its core and routers are
instances of modules defined once, in `MODULES_FILE`)."""

MODULES_FILE = "nfcore_modules.v"
"""The Verilog of a design's black boxes (`nfcore.eda.verilog.emit_modules`), added to the
platform's files beside the top that Amaranth writes; Yosys reads both."""


def design_of(target: FpgaTarget, cfg: NFCoreConfig) -> tuple[wiring.Component, str]:
    """The design of `target` and the Verilog of its black boxes ("" if it has none)."""
    hierarchy = Hierarchy(prefix="nfcore")
    design = TOPS[target.top](cfg, target.lut_multipliers, hierarchy)
    return design, emit_modules(hierarchy, compact=False)  # as Yosys reads it fastest

# Parameters printed by `yowasp-ecppll -i 25 -o 100` and `yowasp-icepll -i 12 -o 24`.
PLL_ECP5_25_TO_100 = PllSpec("ecp5", 25.0, 100.0, (
    ("CLKI_DIV", 1), ("CLKFB_DIV", 4), ("CLKOP_DIV", 6), ("CLKOP_CPHASE", 2)))
PLL_ICE40_12_TO_24 = PllSpec("ice40", 12.0, 24.0, (
    ("DIVR", 0), ("DIVF", 63), ("DIVQ", 5), ("FILTER_RANGE", 1)))


@dataclass(frozen=True)
class FpgaTarget:
    """One FPGA build.

    `platform` is "module:Class" in amaranth_boards; `top` a key of `TOPS`; `config` a config
    YAML whose technology.clock_mhz equals `pll.out_mhz`; `synth_opts` extra options of
    Yosys' synth_ecp5 / synth_ice40; `lut_multipliers` the lanes of the core (top "core"
    only) whose multiplier is built from LUTs instead of a DSP block (`MicroCore`).
    """

    name: str
    platform: str
    top: str
    config: str
    pll: PllSpec
    synth_opts: str = ""
    lut_multipliers: int = 0


TARGETS: tuple[FpgaTarget, ...] = (
    # ULX3S 85F: the largest ECP5 of amaranth-boards' ULX3S family and the common ULX3S
    # variant; its 208 EBRs hold four default cores (64 KiB of weights each, 38 EBRs per core).
    # -abc9: Yosys' delay-aware LUT mapping (ABC9), aimed at the long MAC/requant paths.
    FpgaTarget("ecp5_array2x2", "ulx3s:ULX3S_85F_Platform", "array",
               "configs/fpga_ecp5.yaml", PLL_ECP5_25_TO_100, synth_opts="-abc9"),
    # iCEBreaker: the reference iCE40 UP5K board of amaranth-boards. Its 8 SB_MAC16 hold 6
    # lane multipliers and the 33 x 17 requant multiply (2); 2 lanes multiply in LUTs.
    FpgaTarget("ice40_core", "icebreaker:ICEBreakerPlatform", "core",
               "configs/fpga_ice40.yaml", PLL_ICE40_12_TO_24, synth_opts="-dsp",
               lut_multipliers=2),
)


def select_targets(names: Sequence[str]) -> list[FpgaTarget]:
    """The targets named (all of `TARGETS` when `names` is empty), in `TARGETS` order."""
    known = {t.name: t for t in TARGETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown FPGA target(s) {unknown}; have {sorted(known)}")
    return [t for t in TARGETS if not names or t.name in names]


_PROGRAMMERS = ("openFPGALoader", "iceprog", "ecpprog", "dfu-util", "fujprog")


def _platform(spec: str) -> Any:
    module_name, _, cls_name = spec.partition(":")
    try:
        module = importlib.import_module(f"amaranth_boards.{module_name}")
        board = getattr(module, cls_name)
    except (ImportError, AttributeError) as exc:
        raise NFCoreError(f"FPGA platform {spec}: {exc} (`make fpga` installs amaranth-boards "
                          f"with the 'fpga' extra)") from exc

    class _BuildOnly(board):  # type: ignore[misc, valid-type]
        """The board without its programmer (e.g. openFPGALoader) among the required tools:
        the build never programs a board."""

        @property
        def required_tools(self) -> list[str]:
            return [t for t in super().required_tools if t not in _PROGRAMMERS]

    _BuildOnly.__name__ = board.__name__
    return _BuildOnly()


def check_target(target: FpgaTarget) -> tuple[Any, NFCoreConfig]:
    """Platform and config of `target`, validated (top, config, clock, PLL family, board)
    but not built. Raises ConfigError / NFCoreError naming the target and what is wrong."""
    if target.top not in TOPS:
        raise ConfigError(f"FPGA target {target.name}: unknown top {target.top!r}; "
                          f"have {sorted(TOPS)}")
    cfg = NFCoreConfig.load(target.config)
    if target.lut_multipliers and target.top != "core":
        raise ConfigError(f"FPGA target {target.name}: lut_multipliers is for top 'core' only")
    if not 0 <= target.lut_multipliers <= cfg.core.lanes:
        raise ConfigError(f"FPGA target {target.name}: lut_multipliers = "
                          f"{target.lut_multipliers} is out of range; allowed 0 to core.lanes "
                          f"= {cfg.core.lanes} ({target.config})")
    if abs(cfg.technology.clock_mhz - target.pll.out_mhz) > 1e-6:
        raise ConfigError(
            f"{target.config}: technology.clock_mhz = {cfg.technology.clock_mhz} but FPGA "
            f"target {target.name}'s PLL makes {target.pll.out_mhz} MHz")
    platform = _platform(target.platform)
    if platform.family.lower() != target.pll.family:
        raise ConfigError(f"FPGA target {target.name}: {target.pll.family} PLL on an "
                          f"{platform.family} board ({target.platform})")
    clk_mhz = platform.default_clk_frequency / 1e6
    if abs(clk_mhz - target.pll.in_mhz) > 1e-6:
        raise ConfigError(f"FPGA target {target.name}: PLL input {target.pll.in_mhz} MHz but "
                          f"the board's {platform.default_clk} is {clk_mhz} MHz")
    return platform, cfg


def build_target(target: FpgaTarget, build_root: Path) -> FpgaResult:
    """Synthesise, place, route and pack `target` in build_root/<name>; read its reports.

    Timing failure is not an error (`--timing-allow-fail`): the achieved Fmax is the result.
    Nor is a design that needs more cells of some type than the device has: the result then
    says so in `fit`, with the synthesis and packing figures. Any other failure raises
    NFCoreError.
    """
    platform, cfg = check_target(target)
    design, modules = design_of(target, cfg)
    if modules:
        platform.add_file(MODULES_FILE, modules)
    top = FpgaTop(lambda: design, target.pll)
    build_dir = build_root / target.name
    name = target.name
    log_path = build_dir / f"{name}.tim"
    stat_path = build_dir / f"{name}.stat.json"
    for stale in (log_path, stat_path):
        stale.unlink(missing_ok=True)  # a failed build must not read an older build's report
    start = time.monotonic()
    failure = None
    try:
        platform.build(
            top, name=name, build_dir=str(build_dir), do_program=False,
            synth_opts=target.synth_opts,
            script_after_synth=f"tee -q -o {name}.stat.json stat -json",
            nextpnr_opts="--timing-allow-fail",
            verbose=bool(os.environ.get("NFCORE_FPGA_VERBOSE")),
        )
    except subprocess.CalledProcessError as exc:
        failure = exc
    seconds = time.monotonic() - start
    if not (log_path.exists() and stat_path.exists()):
        raise NFCoreError(f"FPGA target {name}: the build failed before place and route "
                          f"({failure}); rerun with NFCORE_FPGA_VERBOSE=1, logs in {build_dir}")
    log = parse_nextpnr_log(log_path.read_text(), str(log_path))
    cells = parse_yosys_stat(stat_path.read_text(), str(stat_path))
    fit = "yes"
    if failure is not None:
        over = log.over_capacity()
        if not over:  # nextpnr failed for another reason than size: a broken build
            raise NFCoreError(f"FPGA target {name}: nextpnr failed: "
                              f"{'; '.join(log.errors) or failure} (log: {log_path})")
        fit = "no: " + ", ".join(over)
    elif not log.fmax_mhz:
        raise NFCoreError(f"{log_path}: no 'Max frequency for clock' line after routing")
    board = type(platform).__name__.removesuffix("Platform").rstrip("_")
    return FpgaResult(
        target=name, board=board, device=f"{platform.device}-{platform.package}",
        top=target.top, config=target.config,
        resources=resources(platform.family.lower(), cells, log),
        fmax_mhz=log.fmax_mhz if failure is None else {},
        build_seconds=round(seconds, 1), command=f"make fpga FPGA_TARGETS={name}", fit=fit)
