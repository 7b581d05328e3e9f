"""Mesh: size errors, which ports edge routers have, and the Verilog port names."""

from __future__ import annotations

import pytest

from nfcore.arch.noc import Port
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda.verilog import emit
from nfcore.errors import ConfigError
from nfcore.hdl.mesh import Mesh, router_ports


def test_mesh_rejects_bad_size() -> None:
    with pytest.raises(ConfigError, match="Mesh: rows = 0 is out of range; allowed 1 to 256 cores"):
        Mesh(lanes=8, rows=0, cols=2)
    with pytest.raises(ConfigError, match="lanes = 2"):
        Mesh(lanes=2, rows=2, cols=2)


def test_edge_routers_have_no_port_off_the_mesh() -> None:
    assert router_ports(0, 0, 2, 2) == {Port.LOCAL, Port.NORTH, Port.EAST, Port.SOUTH}
    assert router_ports(1, 0, 2, 2) == {Port.LOCAL, Port.WEST, Port.SOUTH}
    assert router_ports(1, 1, 3, 3) == set(Port)
    assert router_ports(0, 0, 1, 1) == {Port.LOCAL, Port.NORTH}
    assert router_ports(0, 0, 1, 1, dram=True) == {Port.LOCAL, Port.NORTH, Port.WEST}
    assert router_ports(1, 0, 2, 2, dram=True) == router_ports(1, 0, 2, 2)


def test_mesh_ports_name_each_node() -> None:
    text = emit(NFCoreConfig(mesh=MeshConfig(rows=2, cols=2)), "mesh", name="m")
    assert "module m(" in text
    for port in ("local_in__0__0__valid", "local_out__0__0__payload", "host_in__ready",
                 "host_out__valid", "misrouted"):
        assert port in text
