"""MeshRouter: parameter errors name the parameter and the allowed range."""

from __future__ import annotations

import pytest

from nfcore.arch.noc import Port
from nfcore.errors import ConfigError
from nfcore.hdl.router import MeshRouter


@pytest.mark.parametrize("kwargs,message", [
    ({"lanes": 4, "x": 0, "y": 0}, "lanes = 4: a flit must hold the 64-bit header"),
    ({"lanes": 8, "x": 256, "y": 0}, "x = 256 is out of range 0..255"),
    ({"lanes": 8, "x": 0, "y": 0, "fifo_depth": 1}, "fifo_depth = 1 is out of range 2..16"),
    ({"lanes": 8, "x": 0, "y": 0, "ports": frozenset({Port.EAST})}, "must include LOCAL"),
])
def test_router_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MeshRouter(**kwargs)
