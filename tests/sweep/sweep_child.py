"""A sweep in its own process, for tests that kill it: `python sweep_child.py SWEEP OUT
CACHE POINT_FN` runs the sweep on two local workers with `stand_in_points.POINT_FN` and
exits as `nfcore sweep` does when stopped (the message on stderr, 128 + the signal)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(sweep: str, out: str, cache: str, point_fn: str) -> int:
    # Imported here, not at the top: the spawned workers import this file again, and they
    # need none of it (a stand-in point is light).
    import stand_in_points

    from nfcore.sweep.executors import LocalExecutor
    from nfcore.sweep.runner import SweepInterrupted, run_sweep
    from nfcore.sweep.spec import SweepSpec

    executor = LocalExecutor(2)
    try:
        run_sweep(SweepSpec.load(sweep), Path(out), executor, forest_cache=Path(cache),
                  quiet=True, point_fn=getattr(stand_in_points, point_fn))
    except SweepInterrupted as exc:
        print(f"nfcore: {exc}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        executor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
