"""Arrival processes, including trace files and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfcore.sim.arrivals import load_trace, make_arrivals
from nfcore.sim.core import SimError


def test_trace_in_seconds_and_cycles(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,user\n0,a\n1e-6,b\n2.5e-6,c\n")
    assert load_trace(p, 500e6) == [0, 500, 1250]
    q = tmp_path / "c.csv"
    q.write_text("arrival_cycle\n3\n3\n10\n")
    assert make_arrivals(2, "trace", trace=q) == [3, 3]
    assert make_arrivals(3, "fixed", 10) == [0, 10, 20]


@pytest.mark.parametrize(("text", "message"), [
    ("time\n1\n", "needs a header with one of arrival_s, arrival_cycle; found time"),
    ("arrival_cycle\n5\n3\n", r"t.csv:3: arrival_cycle = 3 must be >= 0 and not before"),
    ("arrival_cycle\nsoon\n", r"t.csv:2: arrival_cycle = 'soon' is not a number"),
    ("arrival_cycle\n", "has no rows"),
])
def test_bad_traces(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(SimError, match=message):
        load_trace(p, 1.0)


def test_trace_too_short_or_missing(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("arrival_cycle\n1\n")
    with pytest.raises(SimError, match="has 1 rows; 2 requests"):
        make_arrivals(2, "trace", trace=p)
    with pytest.raises(SimError, match="needs a trace file"):
        make_arrivals(2, "trace")
    with pytest.raises(SimError, match="cannot read arrival trace"):
        load_trace(tmp_path / "none.csv", 1.0)
