"""MicroCore's constructor rejects configurations the RTL cannot build, naming the key."""

from __future__ import annotations

import inspect

import pytest

from nfcore.config import CoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.core import MicroCore


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lanes": 4, "weight_sram_bytes": 1024, "act_sram_bytes": 256}, "core.lanes = 4"),
    ({"lanes": 12, "weight_sram_bytes": 1200, "act_sram_bytes": 264}, "core.lanes = 12"),
    ({"imem_depth": 2048}, "core.imem_depth = 2048"),
    ({"weight_sram_bytes": 8 * (1 << 15)}, "core.weight_words = 32768"),
    ({"act_sram_bytes": 8}, "core.act_words = 1"),
    ({"acc_bits": 40}, "core.acc_bits = 40"),
])
def test_invalid_config_is_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        MicroCore(config=CoreConfig(**kwargs))


def test_config_is_keyword_only() -> None:
    params = inspect.signature(MicroCore.__init__).parameters
    assert params["config"].kind is inspect.Parameter.KEYWORD_ONLY
