"""The flit layout: one core word and `last`; a word must hold the packet header."""

from __future__ import annotations

import pytest

from nfcore.errors import ISAError
from nfcore.hdl.flit import flit_layout


def test_flit_layout_holds_the_header() -> None:
    layout = flit_layout(16)
    assert layout["data"].width == 128 and layout["last"].offset == 128
    with pytest.raises(ISAError, match="lanes = 4: .* lanes >= 8"):
        flit_layout(4)
