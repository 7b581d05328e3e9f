"""Router and Mesh: parameter errors, port lists, and `nfcore verilog --top`."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfcore.cli import main
from nfcore.config import NFCoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.mesh import Mesh, router_ports
from nfcore.hdl.router import Router
from nfcore.hdl.verilog import TOPS, emit
from nfcore.noc import Port


@pytest.mark.parametrize("kwargs,message", [
    ({"lanes": 4, "x": 0, "y": 0}, "lanes = 4: a flit must hold the 64-bit header"),
    ({"lanes": 8, "x": 256, "y": 0}, "x = 256 is out of range 0..255"),
    ({"lanes": 8, "x": 0, "y": 0, "fifo_depth": 1}, "fifo_depth = 1 is out of range 2..16"),
    ({"lanes": 8, "x": 0, "y": 0, "ports": frozenset({Port.EAST})}, "must include LOCAL"),
])
def test_router_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Router(**kwargs)


def test_mesh_rejects_bad_size() -> None:
    with pytest.raises(ConfigError, match="Mesh: rows = 0 is out of range 1..256"):
        Mesh(lanes=8, rows=0, cols=2)
    with pytest.raises(ConfigError, match="lanes = 2"):
        Mesh(lanes=2, rows=2, cols=2)


def test_edge_routers_have_no_port_off_the_mesh() -> None:
    assert router_ports(0, 0, 2, 2) == {Port.LOCAL, Port.NORTH, Port.EAST, Port.SOUTH}
    assert router_ports(1, 0, 2, 2) == {Port.LOCAL, Port.WEST, Port.SOUTH}
    assert router_ports(1, 1, 3, 3) == set(Port)
    assert router_ports(0, 0, 1, 1) == {Port.LOCAL, Port.NORTH}


def test_mesh_ports_name_each_node() -> None:
    text = emit(NFCoreConfig(), "mesh", name="m")
    assert "module m(" in text
    for port in ("local_in__0__0__valid", "local_out__0__0__payload", "host_in__ready",
                 "host_out__valid", "misrouted"):
        assert port in text


def test_cli_writes_each_top(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for top in TOPS:
        out = tmp_path / f"{top}.v"
        assert main(["verilog", "--top", top, "-o", str(out), "--name", f"t_{top}"]) == 0
        assert f"module t_{top}(" in out.read_text()
    with pytest.raises(ConfigError, match="--top 'array' is not a block"):
        emit(NFCoreConfig(), "array", name="x")
