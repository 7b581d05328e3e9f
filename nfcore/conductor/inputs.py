"""The rules every request's rows obey, whichever way they arrive (HTTP, `nfcore run --inputs`).

`rows_from_json(value, row_shape)` takes a decoded JSON value (lists of numbers) or a numpy
array and returns float32 rows (n, *row_shape), or raises `RequestError` naming the field
path (`inputs[2][5]`), what was sent and what the forest expects:

- numbers only: a JSON object, a string, a boolean, null or a complex number is refused
  (booleans are not taken for 0 and 1);
- finite: NaN and infinities are refused, and so is any number beyond float32's range
  (|x| > 3.4e38, which the float32 rows would hold as an infinity);
- one shape: every row of a batch has the same shape (ragged rows are refused, naming the
  first row that differs from row 0);
- the forest's row shape: one row (`row_shape`, or flat: prod(row_shape) numbers) or a batch
  of them (n, *row_shape) or (n, prod(row_shape)), with n >= 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.errors import NFCoreError


class RequestError(NFCoreError):
    """A request's input is malformed. The message names the field and what is wrong."""


_LEAF_TYPES = frozenset({float, int})
"""What JSON numbers decode to (exactly: not bool, a subclass of int)."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest magnitude a row may hold: rows are float32 (the stem's input)."""

_WHAT = {bool: "a boolean", str: "a string", dict: "a JSON object", type(None): "null",
         complex: "a complex number"}


def rows_from_json(value: Any, row_shape: tuple[int, ...],
                   field: str = "inputs") -> npt.NDArray[np.float32]:
    """Rows (n, *row_shape) as float32 from `value` (nested lists of numbers or an array),
    by the rules of the module docstring; `field` names the value in messages."""
    shape = tuple(int(v) for v in row_shape)
    if isinstance(value, np.ndarray):
        sent = _check_array(value, field)
        a = value.astype(np.float64)
    else:
        sent = _shape_of(value, field, depth=len(shape) + 1)
        a = np.array(value, dtype=np.float64)
    n = _count_rows(sent, shape, field)
    too_big = np.abs(a) > FLOAT32_MAX
    if too_big.any():
        first = np.argwhere(too_big)[0]
        where = field + "".join(f"[{int(i)}]" for i in first)
        raise RequestError(f"{where}: {float(a[tuple(first)])!r} is beyond the float32 "
                           f"range of the rows (|x| <= {FLOAT32_MAX:.4g})")
    return a.reshape(n, *shape).astype(np.float32)


def expected_shapes(row_shape: tuple[int, ...]) -> str:
    """How the rows of a forest reading `row_shape` may be sent, for messages and help."""
    shape, flat = list(row_shape), math.prod(row_shape)
    alts = f"{shape}" if len(shape) == 1 else f"{shape} (or {flat} numbers, flat)"
    return f"one row of shape {alts}, or a batch [n, ...] of them"


def _count_rows(sent: tuple[int, ...], shape: tuple[int, ...], field: str) -> int:
    flat = (math.prod(shape),)
    if sent in (shape, flat):
        return 1
    if len(sent) > 1 and sent[1:] in (shape, flat) and sent[0] > 0:
        return sent[0]
    if sent and 0 in sent:
        raise RequestError(f"{field}: empty (shape sent {list(sent)}); expected "
                           f"{expected_shapes(shape)}")
    raise RequestError(f"{field}: shape sent {list(sent)}; expected {expected_shapes(shape)}")


def _shape_of(value: Any, path: str, depth: int) -> tuple[int, ...]:
    """The nested shape of `value`, checking every leaf is a finite number and every list
    at one level has the same shape; `depth` bounds the nesting (rows, then the row shape)."""
    if _is_number(value):
        _check_number(value, path)
        return ()
    if not isinstance(value, list | tuple):
        raise RequestError(f"{path}: {_describe(value)}; expected numbers in lists of rows")
    if depth == 0:
        raise RequestError(f"{path}: a list nested deeper than a batch of rows")
    if not value:
        return (0,)
    if set(map(type, value)) <= _LEAF_TYPES:  # the common leaf level: plain numbers
        if not _all_finite(value):
            for i, v in enumerate(value):
                _check_number(v, f"{path}[{i}]")
        return (len(value),)
    first = _shape_of(value[0], f"{path}[0]", depth - 1)
    for i in range(1, len(value)):
        other = _shape_of(value[i], f"{path}[{i}]", depth - 1)
        if other != first:
            raise RequestError(f"{path}[{i}]: shape {list(other)}, but {path}[0] has shape "
                               f"{list(first)}: ragged rows")
    return (len(value), *first)


def _all_finite(numbers: Sequence[Any]) -> bool:
    """True if every number is finite as a float (one exact sum, not a check per number); a
    False may be wrong (the exact sum of finite floats can overflow): check them one by one."""
    try:
        return math.isfinite(math.fsum(numbers))
    except (OverflowError, ValueError):  # an int beyond float range; inf - inf
        return False


def _is_number(v: Any) -> bool:
    """A real number, and not a boolean (bool is an int subclass in Python and numpy)."""
    return isinstance(v, int | float | np.integer | np.floating) \
        and not isinstance(v, bool | np.bool_)


def _check_number(v: Any, path: str) -> None:
    try:
        finite = math.isfinite(float(v))
    except OverflowError:  # an int beyond float range
        finite = False
    if not finite:
        shown = repr(float(v)) if isinstance(v, float | np.floating) else f"{str(v)[:20]}..."
        raise RequestError(f"{path}: {shown} is not a finite number")


def _describe(value: Any) -> str:
    for kind, what in _WHAT.items():
        if isinstance(value, kind):
            shown = f" ({value!r:.30})" if isinstance(value, str | complex | bool) else ""
            return f"{what}{shown}"
    return f"a {type(value).__name__}"


def _check_array(a: npt.NDArray[Any], field: str) -> tuple[int, ...]:
    kind = a.dtype.kind
    if kind not in "iuf":
        what = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes",
                "O": "Python objects"}.get(kind, f"dtype {a.dtype}")
        raise RequestError(f"{field}: holds {what}; numbers only")
    if kind == "f" and not np.all(np.isfinite(a)):
        first = np.argwhere(~np.isfinite(a))[0]
        _check_number(a[tuple(first)], field + "".join(f"[{int(i)}]" for i in first))
    return tuple(int(v) for v in a.shape)
