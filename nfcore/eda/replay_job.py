"""What a replay on the array RTL needs and returns, as files (no cocotb here).

The product's system-level RTL check (`nfcore.eda.array_tb.run_array_replay`) runs in a
Verilator process of its own, so its inputs go there as a job and its outputs come back as
files:

* `<stem>.json`: the config (`NFCoreConfig.to_dict`), per core its weight base word and
  program words, per request its arrival cycle, its router call (or null) and its calls
  (core, tag, chain, and the rows of its payload in the payload array), and the cycles after
  which the replay gives up;
* `<stem>.npz`: each core's weights (`weights_<x>_<y>`, `(words, lanes)` bytes, written from
  its base word) and every call's input words (`payloads`, one array, rows in the order of
  `HostRequest.all_calls`);
* `<stem>_out.npz`: the packets the host received (`src`, `tag`, `header_cycle`,
  `tail_cycle`, and their payload words in `payloads`, rows by `offsets`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.golden.core import CoreState
from nfcore.sim.net.array import HostDelivery
from nfcore.sim.net.dispatch import HostRequest, TreeCall

Coord = tuple[int, int]


@dataclass(frozen=True, eq=False)
class CoreLoad:
    """What the host writes into one core before the requests: weight words from
    `weight_base_word`, the program from instruction 0, and (if given) the whole
    scratchpad; the scratchpad is otherwise as reset left it (zeros)."""

    weights: npt.NDArray[np.uint8]
    """`(words, lanes)` bytes."""
    program: tuple[int, ...]
    """Encoded instruction words."""
    weight_base_word: int = 0
    act: npt.NDArray[np.uint8] | None = None
    """`(act_words, lanes)` bytes, or None."""

    def state(self, core: CoreConfig) -> CoreState:
        """A golden core loaded as the RTL is."""
        state = CoreState(core)
        state.load_weights(self.weights, self.weight_base_word)
        if self.act is not None:
            state.act[:] = self.act
        state.load_program(list(self.program))
        return state


def states(cfg: NFCoreConfig, loads: Mapping[Coord, CoreLoad]) -> dict[Coord, CoreState]:
    """Every loaded core as a golden core (for `nfcore.sim.net.dispatch.run_requests`)."""
    return {c: load.state(cfg.core) for c, load in loads.items()}


def _key(c: Coord) -> str:
    return f"{c[0]}_{c[1]}"


def write_job(stem: Path, cfg: NFCoreConfig, loads: Mapping[Coord, CoreLoad],
              requests: Sequence[HostRequest], max_cycles: int) -> None:
    arrays: dict[str, Any] = {}
    cores = []
    for c, load in loads.items():
        arrays[f"weights_{_key(c)}"] = np.asarray(load.weights, dtype=np.uint8)
        if load.act is not None:
            arrays[f"act_{_key(c)}"] = np.asarray(load.act, dtype=np.uint8)
        cores.append({"coord": list(c), "weight_base_word": load.weight_base_word,
                      "program": [int(w) for w in load.program]})
    payloads = [np.asarray(call.payload, dtype=np.uint8)
                for r in requests for call in r.all_calls]
    lanes = cfg.core.lanes
    arrays["payloads"] = (np.concatenate(payloads) if payloads
                          else np.zeros((0, lanes), dtype=np.uint8))
    def entry(call: TreeCall) -> dict[str, Any]:
        return {"core": list(call.core), "tag": call.tag, "words": len(call.payload),
                "chain": [list(c) for c in call.chain]}

    reqs = [{"arrival_cycle": r.arrival_cycle,
             "router": None if r.router is None else entry(r.router),
             "calls": [entry(call) for call in r.calls]} for r in requests]
    stem.parent.mkdir(parents=True, exist_ok=True)
    np.savez(stem.with_suffix(".npz"), **arrays)
    stem.with_suffix(".json").write_text(json.dumps(
        {"config": cfg.to_dict(), "cores": cores, "requests": reqs, "max_cycles": max_cycles}))


def read_job(stem: Path
             ) -> tuple[NFCoreConfig, dict[Coord, CoreLoad], list[HostRequest], int]:
    """The config, the cores, the requests and the replay's cycle limit of a job."""
    job = json.loads(stem.with_suffix(".json").read_text())
    arrays = np.load(stem.with_suffix(".npz"))
    loads = {}
    for entry in job["cores"]:
        c = (int(entry["coord"][0]), int(entry["coord"][1]))
        act = arrays.get(f"act_{_key(c)}")
        loads[c] = CoreLoad(arrays[f"weights_{_key(c)}"], tuple(entry["program"]),
                            int(entry["weight_base_word"]), act)
    payloads, row = arrays["payloads"], 0
    requests = []
    for r in job["requests"]:
        calls = []
        for call in ([] if r["router"] is None else [r["router"]]) + r["calls"]:
            words = int(call["words"])
            calls.append(TreeCall((int(call["core"][0]), int(call["core"][1])),
                                  int(call["tag"]), payloads[row:row + words],
                                  chain=tuple((int(x), int(y)) for x, y in call["chain"])))
            row += words
        router = calls.pop(0) if r["router"] is not None else None
        requests.append(HostRequest(int(r["arrival_cycle"]), tuple(calls), router))
    return NFCoreConfig.from_dict(job["config"]), loads, requests, int(job["max_cycles"])


def out_path(stem: Path) -> Path:
    return stem.with_name(stem.name + "_out.npz")


def write_deliveries(path: Path, delivered: Sequence[HostDelivery], lanes: int) -> None:
    payloads = [np.asarray(d.payload, dtype=np.uint8) for d in delivered]
    np.savez(path,
             src=np.array([d.src for d in delivered], dtype=np.int64).reshape(-1, 2),
             tag=np.array([d.tag for d in delivered], dtype=np.int64),
             header_cycle=np.array([d.header_cycle for d in delivered], dtype=np.int64),
             tail_cycle=np.array([d.tail_cycle for d in delivered], dtype=np.int64),
             offsets=np.cumsum([0, *(len(p) for p in payloads)]),
             payloads=(np.concatenate(payloads) if payloads
                       else np.zeros((0, lanes), dtype=np.uint8)))


def read_deliveries(path: Path) -> list[HostDelivery]:
    f = np.load(path)
    offsets = f["offsets"]
    return [HostDelivery((int(src[0]), int(src[1])), int(tag),
                         f["payloads"][offsets[i]:offsets[i + 1]], int(head), int(tail))
            for i, (src, tag, head, tail) in enumerate(zip(
                f["src"], f["tag"], f["header_cycle"], f["tail_cycle"], strict=True))]
