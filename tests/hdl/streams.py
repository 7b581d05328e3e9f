"""Stream helpers for Amaranth testbenches: send and receive beats with random stalls."""

from __future__ import annotations

import random
from typing import Any


async def send(ctx: Any, stream: Any, payload: Any, *, rng: random.Random | None = None,
               idle: float = 0.0) -> None:
    """Offer `payload` on `stream` (after random idle cycles) until it is accepted."""
    while rng is not None and rng.random() < idle:
        await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def recv(ctx: Any, stream: Any, *, rng: random.Random | None = None,
               stall: float = 0.0) -> Any:
    """Take one beat from `stream`, holding `ready` low for random cycles first."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload
