"""The micro-core RTL: `MicroCore` (`micro_core`) and the blocks it is built from.

The names other packages use are importable from here.
"""

from nfcore.hdl.core.host_port import CmdKind, cmd_layout, rsp_layout
from nfcore.hdl.core.micro_core import MicroCore, check_core
from nfcore.hdl.core.sequencer import CYCLE_COUNTER_BITS

__all__ = ["CYCLE_COUNTER_BITS", "CmdKind", "MicroCore", "check_core", "cmd_layout",
           "rsp_layout"]
