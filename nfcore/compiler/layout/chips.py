"""A forest over several chips (`chips.count` in the config): which chip and cores hold each tree.

The rule: the host is attached to chip 0, and the router runs on the host (as in the
Conductor), so the trees the router calls most (their popularity, measured on a calibration
set) sit on chip 0 and the rest as near as the chips' SRAM allows. Trees are taken most popular
first (ties: lower tree id first); each goes to the lowest-numbered chip with room for it;
within a chip, the n-th tree placed there starts at core n mod cores (row-major) and each of its
parts (one per core of a split tree's chain) takes the next core with room that the tree does
not already use. So chip 0 fills first with the hot trees, spread over its cores, and a tree
that does not fit one chip's SRAM goes to the next. Every tree is resident: paging is what
more chips replace.

This placement balances cores; it does not minimize hops (`place.py` does that for one chip).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nfcore.errors import CompileError


@dataclass(frozen=True)
class ChipSlot:
    """Where one tree is: its chip and, per part (chain core), a core index on that chip
    (row-major, `y * cols + x`)."""

    chip: int
    cores: tuple[int, ...]


def partition_chips(part_bytes: Sequence[Sequence[int]], popularity: Sequence[float], chips: int,
                    cores_per_chip: int, sram_bytes: int) -> list[ChipSlot]:
    """The chip and cores of every tree (see the module): `part_bytes[t]` are tree t's weight
    bytes per part, `popularity[t]` how often the router calls it (any unit).

    Raises `CompileError` naming `chips.count` if a tree fits on none of the chips."""
    if len(part_bytes) != len(popularity):
        raise CompileError(f"partition: {len(part_bytes)} trees but {len(popularity)} "
                           "popularities")
    used = [[0] * cores_per_chip for _ in range(chips)]
    placed = [0] * chips
    out: list[ChipSlot | None] = [None] * len(part_bytes)
    for t in sorted(range(len(part_bytes)), key=lambda i: (-popularity[i], i)):
        for chip in range(chips):
            cores = _fit(part_bytes[t], used[chip], placed[chip], sram_bytes)
            if cores is not None:
                for core, nbytes in zip(cores, part_bytes[t], strict=True):
                    used[chip][core] += nbytes
                placed[chip] += 1
                out[t] = ChipSlot(chip, cores)
                break
        else:
            need = sum(sum(p) for p in part_bytes)
            raise CompileError(
                f"chips.count = {chips}: tree {t} ({sum(part_bytes[t])} bytes in "
                f"{len(part_bytes[t])} parts) fits on none of the chips; the forest needs "
                f"{need} bytes and {chips} chips hold {chips * cores_per_chip * sram_bytes} "
                f"(give more chips, up to 64, or more core.weight_sram_bytes)")
    return [slot for slot in out if slot is not None]


def _fit(parts: Sequence[int], used: list[int], start: int, sram_bytes: int
         ) -> tuple[int, ...] | None:
    """Distinct cores, scanning from core `start` round the chip, each with room for its
    part; None if the chip cannot take every part."""
    n = len(used)
    taken: list[int] = []
    for nbytes in parts:
        for step in range(n):
            core = (start + step) % n
            if core not in taken and used[core] + nbytes <= sram_bytes:
                taken.append(core)
                break
        else:
            return None
    return tuple(taken)
