"""Options every benchmark shares, and the repository root on `sys.path`.

Each `bench_*.py` has `main(argv: list[str]) -> None` and parses `argv` with `parser()`,
which adds `--smoke`: tiny sizes that check the benchmark still runs end to end (CI runs
`make bench-smoke`); its figures mean nothing. Importing this module puts the repository root
on `sys.path`, so a benchmark run as `python benchmarks/bench_x.py` can import `sim_tests.tb`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of `doc`, with `--smoke`."""
    lines = (doc or "").strip().splitlines()
    p = argparse.ArgumentParser(description=lines[0] if lines else None,
                                epilog="\n".join(lines[1:]) or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes: check that the benchmark runs (CI); figures mean nothing")
    return p
