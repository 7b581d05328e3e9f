"""The ports-only Verilator control file lists exactly the top module's ports."""

from __future__ import annotations

import pytest

from nfcore.eda.rtl_runner import public_ports_vlt
from nfcore.eda.toolchain import ToolchainError

VERILOG = """module sub(a, b);
endmodule
module top(clk, rst, x__valid,
  x__payload);
  input clk;
endmodule
"""


def test_public_ports_vlt_names_each_top_port() -> None:
    lines = public_ports_vlt(VERILOG, "top").splitlines()
    assert lines[0] == "`verilator_config"
    assert lines[1:] == [f'public_flat_rw -module "top" -var "{p}"'
                         for p in ("clk", "rst", "x__valid", "x__payload")]


def test_public_ports_vlt_needs_the_module() -> None:
    with pytest.raises(ToolchainError, match="no `module other"):
        public_ports_vlt(VERILOG, "other")
