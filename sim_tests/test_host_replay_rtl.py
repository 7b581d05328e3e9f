"""Requests through the host port on the array RTL under Verilator equal the model, request
by request (`sim_tests/host_replay_cocotb.py`), on every mesh of
`sim_tests.tb.host_scenarios.HOST_REPLAYS` (the 4 x 4 one with `make test-long`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_array_rtl import BUILD

from nfcore.eda.rtl_runner import build_top
from nfcore.eda.toolchain import top_name
from sim_tests.host_replay_cocotb import ENV_MESH, ENV_OUT
from sim_tests.tb.host_scenarios import HOST_REPLAYS

LONG_MESHES = {(4, 4)}
"""Meshes whose build takes long on a shared machine (about 20 minutes for 4 x 4): run by
`make test-long` (marker `long`)."""


@pytest.mark.parametrize("mesh", [
    pytest.param(m, id=f"{m[0]}x{m[1]}", marks=[pytest.mark.long] if m in LONG_MESHES else [])
    for m in sorted({(r.rows, r.cols) for r in HOST_REPLAYS.values()})])
def test_host_replay_rtl(mesh: tuple[int, int]) -> None:
    rows, cols = mesh
    cfg = next(r for r in HOST_REPLAYS.values() if (r.rows, r.cols) == mesh).config
    build_dir = BUILD / f"array_{rows}x{cols}_l{cfg.core.lanes}"  # as test_array_rtl names it
    runner = build_top(cfg, "array", build_dir, internal_signals=False)
    out: Path = BUILD / f"host_replay_{rows}x{cols}.json"
    out.unlink(missing_ok=True)
    runner.test(  # type: ignore[attr-defined]
        test_module="host_replay_cocotb", hdl_toplevel=top_name("array"),
        build_dir=build_dir, test_dir=build_dir,
        extra_env={ENV_OUT: str(out), ENV_MESH: f"{rows}x{cols}"},
        log_file=build_dir / "host_replay.log")
    record = json.loads(out.read_text())
    for name, r in record.items():
        print(name, r)
        assert r["first_mismatch"] is None, f"{name}: {r['first_mismatch']}"
        assert r["packets_waited"] > 0
