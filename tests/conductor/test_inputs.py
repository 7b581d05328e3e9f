"""The row rules HTTP and `nfcore run --inputs` share (`nfcore.conductor.inputs`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nfcore.conductor.inputs import RequestError, rows_from_json

SHAPE = (8, 8)
ROW = list(range(64))


@pytest.mark.parametrize(("value", "n"), [
    (ROW, 1), ([ROW, ROW], 2), ([[ROW[i * 8:i * 8 + 8] for i in range(8)]] * 3, 3),
    ([ROW[i * 8:i * 8 + 8] for i in range(8)], 1), (np.zeros((4, 8, 8), np.int16), 4),
    ([[0.5] * 64], 1),
])
def test_rows_of_the_forest_s_shape_are_taken(value: Any, n: int) -> None:
    rows = rows_from_json(value, SHAPE)
    assert rows.shape == (n, 8, 8) and rows.dtype == np.float32


@pytest.mark.parametrize(("value", "message"), [
    ({"inputs": ROW}, r"^inputs: a JSON object"),
    (["a"] * 64, r"^inputs\[0\]: a string \('a'\)"),
    ([ROW, [*ROW[:5], True, *ROW[6:]]], r"^inputs\[1\]\[5\]: a boolean \(True\)"),
    ([[1j, *ROW[1:]]], r"^inputs\[0\]\[0\]: a complex number"),
    ([[None, *ROW[1:]]], r"^inputs\[0\]\[0\]: null"),
    ([ROW, [*ROW[:63], float("inf")]], r"^inputs\[1\]\[63\]: inf is not a finite number"),
    ([[10 ** 400, *ROW[1:]]], r"^inputs\[0\]\[0\]: 1000.*\.\.\. is not a finite number"),
    ([ROW, ROW[:63]], r"^inputs\[1\]: shape \[63\], but inputs\[0\] has shape \[64\]"),
    ([ROW * 3], r"^inputs: shape sent \[1, 192\]; expected one row of shape \[8, 8\]"),
    ([], r"^inputs: empty"),
    ([[[[ROW]]]], r"^inputs\[0\]\[0\]\[0\]: a list nested deeper"),
    (np.zeros((2, 64), bool), r"^inputs: holds booleans"),
    (np.zeros((2, 64), complex), r"^inputs: holds complex numbers"),
    (np.array([[0.0] * 63 + [np.nan]]), r"^inputs\[0\]\[63\]: nan is not a finite number"),
    ([ROW, [*ROW[:7], 1e308, *ROW[8:]]], r"^inputs\[1\]\[7\]: 1e\+308 is beyond the float32"),
    ([[-(10 ** 39), *ROW[1:]]], r"^inputs\[0\]\[0\]: -1e\+39 is beyond the float32"),
])
def test_anything_else_is_refused_naming_the_path(value: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        rows_from_json(value, SHAPE)
