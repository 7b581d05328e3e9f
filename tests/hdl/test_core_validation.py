# amaranth: UnusedElaboratable=no
"""`check_core` rejects configurations the RTL cannot build, naming the key; `MicroCore`
checks its parameters with it."""

from __future__ import annotations

import inspect

import pytest

from nfcore.config import CoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.core import MicroCore, check_core

INVALID = [
    ({"lanes": 4, "weight_sram_bytes": 1024, "act_sram_bytes": 256}, "core.lanes = 4"),
    ({"lanes": 12, "weight_sram_bytes": 1200, "act_sram_bytes": 264}, "core.lanes = 12"),
    ({"imem_depth": 2048}, "core.imem_depth = 2048"),
    ({"weight_sram_bytes": 8 * (1 << 15)}, "core.weight_words = 32768"),
    ({"act_sram_bytes": 8}, "core.act_words = 1"),
    ({"acc_bits": 40}, "core.acc_bits = 40"),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID)
def test_invalid_config_is_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        check_core(CoreConfig(**kwargs))


def test_lut_multipliers_out_of_range_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"lut_multipliers = 9 is out of range; allowed 0 to "
                                          r"core\.lanes = 8"):
        check_core(CoreConfig(), lut_multipliers=9)


def test_micro_core_checks_its_parameters() -> None:
    kwargs, message = INVALID[0]
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        MicroCore(config=CoreConfig(**kwargs))


def test_config_is_keyword_only() -> None:
    params = inspect.signature(MicroCore.__init__).parameters
    assert params["config"].kind is inspect.Parameter.KEYWORD_ONLY
