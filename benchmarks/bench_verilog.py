"""Verilog emission of the array: time and size, hierarchical and flat.

`nfcore.eda.verilog.emit` writes the array of a config (default: configs/default.yaml, the
16 x 16 chip) hierarchically (each distinct module once, the top made of instances) and,
with `--flat`, also flat (one Verilog module per instance; minutes for 16 x 16: 33 minutes
and 180 MB when it was the only way). Figures: wall-clock seconds, CPU seconds of this
process (Amaranth and its built-in Yosys), megabytes and modules of the text. Lint it with
`verilator --lint-only -Wall nfcore/eda/verilator.vlt <file>` (docs/fpga.md, "Hierarchical
Verilog").
Run: `python benchmarks/bench_verilog.py [--config FILE] [--mesh RxC] [--flat] [-o FILE]`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path

import options

from nfcore.config import NFCoreConfig, default_config_path
from nfcore.eda.verilog import emit

SMOKE_CONFIG = options.ROOT / "configs" / "fpga_ice40.yaml"
"""The smoke run's config: small memories (fast to elaborate), on a 2 x 2 mesh."""


def measure(cfg: NFCoreConfig, flat: bool) -> tuple[float, float, str]:
    """(wall-clock s, CPU s, Verilog text) of the array of `cfg`."""
    t0, c0 = time.perf_counter(), time.process_time()
    text = emit(cfg, "array", name="nfcore_array", flat=flat)
    return time.perf_counter() - t0, time.process_time() - c0, text


def main(argv: list[str]) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--config", type=Path, default=default_config_path(),
                        help="config YAML (default configs/default.yaml)")
    parser.add_argument("--mesh", default=None, help="override mesh.rows x mesh.cols, e.g. 4x4")
    parser.add_argument("--flat", action="store_true", help="also emit the flat array (slow)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="write the hierarchical Verilog here")
    args = parser.parse_args(argv)
    cfg = NFCoreConfig.load(SMOKE_CONFIG if args.smoke else args.config)
    mesh = "2x2" if args.smoke else args.mesh
    if mesh is not None:
        match = re.fullmatch(r"(\d+)x(\d+)", mesh.lower())
        if match is None:
            parser.error(f"--mesh {mesh!r}: give rows x cols, e.g. 4x4")
        rows, cols = (int(v) for v in match.groups())
        cfg = dataclasses.replace(cfg, mesh=dataclasses.replace(cfg.mesh, rows=rows, cols=cols))
    print(f"Verilog of the {cfg.mesh.rows}x{cfg.mesh.cols} array (lanes={cfg.core.lanes}, "
          f"{cfg.core.weight_sram_bytes} B of weights per core)")
    print("build          wall s    CPU s      MB   modules")
    for flat in (False, True) if args.flat else (False,):
        wall, cpu, text = measure(cfg, flat)
        modules = len(re.findall(r"^module ", text, re.M))
        print(f"{'flat' if flat else 'hierarchical':12s} {wall:8.1f} {cpu:8.1f} "
              f"{len(text) / 1e6:7.2f} {modules:9,d}")
        if args.output is not None and not flat:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
            print(f"wrote {args.output}")


if __name__ == "__main__":
    main(sys.argv[1:])
