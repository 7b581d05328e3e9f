"""The replay job's files carry the cores, the requests and the host's packets unchanged, and
the array build's cache key changes with everything the build depends on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nfcore.arch import isa
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda import replay_job
from nfcore.eda.replay_job import CoreLoad
from nfcore.eda.rtl_runner import build_key
from nfcore.sim.net.array import HostDelivery
from nfcore.sim.net.dispatch import HostRequest, TreeCall

CFG = NFCoreConfig(mesh=MeshConfig(rows=2, cols=2))


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, CFG.core.lanes), dtype=np.uint8)


def test_a_job_reads_back_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    act = _words(rng, CFG.core.act_words)
    loads = {(0, 0): CoreLoad(_words(rng, 5), (isa.halt().encode(),), 7),
             (1, 1): CoreLoad(_words(rng, 3), (isa.halt().encode(),) * 2, 0, act)}
    requests = [HostRequest(0, (TreeCall((0, 0), 1, _words(rng, 2)),)),
                HostRequest(9, (TreeCall((1, 1), 2, _words(rng, 4), chain=((1, 0),)),
                                TreeCall((0, 0), 1, _words(rng, 1)))),
                HostRequest(12, (TreeCall((1, 1), 2, _words(rng, 3)),),
                            router=TreeCall((0, 0), 3, _words(rng, 2)))]
    stem = tmp_path / "job"
    replay_job.write_job(stem, CFG, loads, requests, max_cycles=1234)
    cfg, got_loads, got_requests, max_cycles = replay_job.read_job(stem)
    assert cfg == CFG and max_cycles == 1234
    assert set(got_loads) == set(loads)
    for c, load in loads.items():
        got = got_loads[c]
        np.testing.assert_array_equal(got.weights, load.weights)
        assert (got.program, got.weight_base_word) == (load.program, load.weight_base_word)
        assert (got.act is None) == (load.act is None)
    np.testing.assert_array_equal(got_loads[1, 1].act, act)
    for want, got_r in zip(requests, got_requests, strict=True):
        assert got_r.arrival_cycle == want.arrival_cycle
        assert (got_r.router is None) == (want.router is None)
        for a, b in zip(want.all_calls, got_r.all_calls, strict=True):
            assert (a.core, a.tag, a.chain) == (b.core, b.tag, b.chain)
            np.testing.assert_array_equal(a.payload, b.payload)
    # The golden core is loaded as the RTL is: weights from the base word.
    state = replay_job.states(CFG, loads)[0, 0]
    np.testing.assert_array_equal(state.weights[7:12], loads[0, 0].weights)


def test_deliveries_read_back_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sent = [HostDelivery((1, 0), 3, _words(rng, 2), 10, 12),
            HostDelivery((0, 1), 4, _words(rng, 1), 11, 14)]
    path = tmp_path / "out.npz"
    replay_job.write_deliveries(path, sent, CFG.core.lanes)
    got = replay_job.read_deliveries(path)
    assert [(d.src, d.tag, d.header_cycle, d.tail_cycle) for d in got] == \
        [(d.src, d.tag, d.header_cycle, d.tail_cycle) for d in sent]
    for a, b in zip(sent, got, strict=True):
        np.testing.assert_array_equal(a.payload, b.payload)


@pytest.mark.parametrize("change", [
    lambda c: dataclasses.replace(c, mesh=MeshConfig(rows=3, cols=2)),
    lambda c: dataclasses.replace(c, core=dataclasses.replace(c.core, imem_depth=128)),
    lambda c: dataclasses.replace(c, power=dataclasses.replace(
        c.power, wake_up_cycles=c.power.wake_up_cycles + 1)),
])
def test_the_build_key_follows_the_config(change) -> None:  # type: ignore[no-untyped-def]
    assert build_key(CFG, "array") == build_key(CFG, "array")
    assert build_key(change(CFG), "array") != build_key(CFG, "array")
    assert build_key(CFG, "mesh") != build_key(CFG, "array")


def test_the_build_key_follows_the_rtl_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed byte in an RTL source gives another key."""
    from nfcore.hdl import router

    before = build_key(CFG, "array")
    real = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = real(path)
        return data + b"\n" if path.resolve() == Path(router.__file__).resolve() else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert build_key(CFG, "array") != before
