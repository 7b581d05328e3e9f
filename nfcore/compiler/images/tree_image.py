"""On-disk images of lowered trees of any kind on one or more cores (format_version 2).

Layout::

    <image>/
      manifest.json          format_version 2, created_by, the config and its hash, the
                             tree (id, kind, input shape, host I/O: which core and address
                             takes the packed input and gives the logits), per core its
                             coordinate, weight words, instruction count, listing and
                             pieces, and the size and SHA-256 of every other file
      core_<x>_<y>.weights   weight SRAM words of core (x, y), loaded at word 0
      core_<x>_<y>.program   its program: 64-bit instruction words, little-endian
      quant.json             the quantized tree (int8 weights, bias, mult, shift, scales,
                             convs, cell and LUT) that `forward_int` runs on the host

Format 1 (`nfcore.compiler.images.core_image`, one core, mlp) is what `save_image` still
writes for the single-core MLP API; `load_tree_image` reads both formats.

`load_tree_image` checks the version, the config (hash, listing the values that differ),
that every core lies in the config's mesh, every file's size and hash, and then that the
weights and programs equal what the compiler emits from quant.json for the recorded
pieces, so a file that disagrees with the rest is refused with its name. Saving the same
tree for the same config gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nfcore import __version__
from nfcore.arch import isa
from nfcore.compiler.images.core_image import (
    _check_config,
    _dumps,
    _open_manifest,
    _read_verified,
    load_image,
)
from nfcore.compiler.lower.kernels import plan_kernels
from nfcore.compiler.lower.program import Piece, emit_core
from nfcore.compiler.lower.split import CoreCode, TreeProgram
from nfcore.compiler.quant.mlp import QuantizedLayer
from nfcore.compiler.quant.tree import QuantizedCell, QuantizedConv, QuantizedTree
from nfcore.config import NFCoreConfig
from nfcore.errors import ImageError, ISAError

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
QUANT = "quant.json"


@dataclass(frozen=True, eq=False)
class TreeImage:
    """A loaded, verified image."""

    path: Path
    manifest: dict[str, Any]
    program: TreeProgram
    quant: QuantizedTree


def save_tree_image(path: str | Path, tp: TreeProgram, q: QuantizedTree,
                    cfg: NFCoreConfig) -> Path:
    """Write the image of `tp` (lowered from `q` for `cfg`) to the directory `path`; the
    manifest is written last so an interrupted save leaves no manifest."""
    if tp.lanes != cfg.core.lanes:
        raise ImageError(f"cannot save tree {tp.tree_id}: lowered for {tp.lanes} lanes but "
                         f"the config has core.lanes = {cfg.core.lanes}")
    _check_mesh(f"cannot save tree {tp.tree_id}", [c.coord for c in tp.cores], cfg)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {QUANT: _dumps(_tree_to_json(q))}
    cores = []
    for c in tp.cores:
        w_name, p_name = _core_files(c.coord)
        blobs[w_name] = np.ascontiguousarray(c.weights, dtype=np.uint8).tobytes()
        blobs[p_name] = np.asarray(c.program, dtype="<u8").tobytes()
        cores.append({"coord": list(c.coord), "weights": w_name, "program": p_name,
                      "weight_words": int(c.weights.shape[0]),
                      "instructions": len(c.program),
                      "pieces": [[p.op, p.lo, p.hi] for p in c.pieces],
                      "listing": [str(i) for i in c.instructions()]})
    for name, blob in blobs.items():
        (root / name).write_bytes(blob)
    plan = tp.plan
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_by": f"nfcore {__version__} (nfcore.compiler.images.tree_image)",
        "config_hash": cfg.hash(),
        "config": cfg.to_dict(),
        "tree": {
            "id": tp.tree_id, "kind": tp.kind, "input_shape": list(q.input_shape),
            "input": {"coord": list(tp.input_coord), "addr": plan.input_addr,
                      "len": plan.input_len, "positions": plan.positions,
                      "channels": plan.channels, "position_bytes": plan.position_bytes},
            "output": {"coord": list(tp.output_coord), "addr": plan.output_addr,
                       "len": plan.output_len},
            "compute_cycles": tp.compute_cycles(),
        },
        "cores": cores,
        "files": {name: {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
                  for name, blob in sorted(blobs.items())},
    }
    (root / MANIFEST).write_bytes(_dumps(manifest))
    return root


def load_tree_image(path: str | Path, cfg: NFCoreConfig) -> TreeImage:
    """Load and verify a format-2 image (or a format-1 mlp image) at `path` for `cfg`.
    Raises `ImageError` naming the file and the mismatch."""
    root, manifest = _open_manifest(path, MANIFEST)
    version = manifest.get("format_version")
    if version == 1:
        return _from_format_1(root, cfg)
    if version != FORMAT_VERSION:
        raise ImageError(f"{root / MANIFEST}: format_version {version!r} is not supported by "
                         f"nfcore {__version__} (supported: 1, {FORMAT_VERSION}); recompile "
                         f"the image with this version")
    _check_config(root / MANIFEST, manifest, cfg)
    try:
        tree, cores = manifest["tree"], manifest["cores"]
        _check_mesh(f"{root / MANIFEST}", [tuple(c["coord"]) for c in cores], cfg)
        blobs = {name: _read_verified(root, name, manifest)
                 for name in [QUANT] + [c[k] for c in cores for k in ("weights", "program")]}
        q = _tree_from_json(json.loads(blobs[QUANT]))
        if q.kind != tree["kind"]:
            raise ValueError(f"{QUANT} holds a {q.kind} tree, the manifest says {tree['kind']}")
        plan = plan_kernels(q, cfg.core.lanes, tree["id"])
        codes = []
        for c in cores:
            coord = (int(c["coord"][0]), int(c["coord"][1]))
            pieces = tuple(Piece(*map(int, p)) for p in c["pieces"])
            weights = np.frombuffer(blobs[c["weights"]], dtype=np.uint8).reshape(
                -1, cfg.core.lanes).copy()
            program = [int(w) for w in np.frombuffer(blobs[c["program"]], dtype="<u8")]
            expected, body, _ = emit_core(plan, list(pieces))
            if not np.array_equal(weights, expected):
                raise ValueError(f"{c['weights']} differs from the weights {QUANT} gives for "
                                 f"core {coord}")
            instrs = [isa.decode(w) for w in program]
            if [i for i in instrs if i.op not in (isa.Opcode.SEND, isa.Opcode.RECV)] != \
                    [*body, isa.halt()]:
                raise ValueError(f"{c['program']} differs from the program {QUANT} gives for "
                                 f"core {coord}")
            codes.append(CoreCode(coord=coord, weights=weights, program=program,
                                  pieces=pieces))
    except (KeyError, TypeError, ValueError, ISAError) as exc:
        raise ImageError(f"{root}: image content is inconsistent with its manifest: "
                         f"{type(exc).__name__}: {exc}") from None
    tp = TreeProgram(tree_id=str(tree["id"]), kind=q.kind, lanes=cfg.core.lanes, plan=plan,
                     cores=tuple(codes))
    return TreeImage(path=root, manifest=manifest, program=tp, quant=q)


def _from_format_1(root: Path, cfg: NFCoreConfig) -> TreeImage:
    img = load_image(root, cfg)
    q = QuantizedTree.from_mlp(img.quant)
    plan = plan_kernels(q, cfg.core.lanes)
    pieces = tuple(Piece(i, 0, op.rows) for i, op in enumerate(plan.ops))
    code = CoreCode(coord=(0, 0), weights=img.program.weights, program=img.program.program,
                    pieces=pieces)
    tp = TreeProgram(tree_id="0", kind="mlp", lanes=cfg.core.lanes, plan=plan, cores=(code,))
    return TreeImage(path=root, manifest=img.manifest, program=tp, quant=q)


def _check_mesh(where: str, coords: list[Any], cfg: NFCoreConfig) -> None:
    cols, rows = cfg.mesh.cols, cfg.mesh.rows
    for x, y in coords:
        if not (0 <= x < cols and 0 <= y < rows):
            raise ImageError(f"{where}: core ({x}, {y}) is outside the config's mesh of "
                             f"mesh.cols = {cols} x mesh.rows = {rows} cores")


def _core_files(coord: tuple[int, int]) -> tuple[str, str]:
    return f"core_{coord[0]}_{coord[1]}.weights", f"core_{coord[0]}_{coord[1]}.program"


# --- quantized tree <-> JSON ---------------------------------------------------------------


def _layer_to_json(layer: QuantizedLayer) -> dict[str, Any]:
    return {"weights": layer.weights.tolist(), "bias": layer.bias.tolist(),
            "mult": layer.mult.tolist(), "shift": layer.shift.tolist(), "relu": layer.relu,
            "in_scale": layer.in_scale, "w_scale": layer.w_scale.tolist(),
            "out_scale": layer.out_scale}


def _layer_from_json(d: dict[str, Any]) -> QuantizedLayer:
    return QuantizedLayer(
        weights=np.asarray(d["weights"], dtype=np.int8).reshape(len(d["bias"]), -1),
        bias=np.asarray(d["bias"], dtype=np.int32), mult=np.asarray(d["mult"], dtype=np.uint16),
        shift=np.asarray(d["shift"], dtype=np.uint8), relu=bool(d["relu"]),
        in_scale=float(d["in_scale"]), w_scale=np.asarray(d["w_scale"], dtype=np.float64),
        out_scale=float(d["out_scale"]))


def _tree_to_json(q: QuantizedTree) -> dict[str, Any]:
    cell = q.cell
    return {
        "kind": q.kind, "input_shape": list(q.input_shape), "input_scale": q.input_scale,
        "input_rounding": "round half to even, saturate to -128..127",
        "output_scale": q.output_scale, "acc_bits": q.acc_bits,
        "head": [_layer_to_json(layer) for layer in q.head],
        "convs": [{"layer": _layer_to_json(c.layer), "kernel": c.kernel, "stride": c.stride,
                   "in_channels": c.in_channels} for c in q.convs],
        "cell": None if cell is None else {
            "layer": _layer_to_json(cell.layer), "input_size": cell.input_size,
            "hidden_size": cell.hidden_size, "x_scale": cell.x_scale,
            "lut": cell.lut.tolist()},
    }


def _tree_from_json(d: dict[str, Any]) -> QuantizedTree:
    c = d["cell"]
    cell = None if c is None else QuantizedCell(
        layer=_layer_from_json(c["layer"]), input_size=int(c["input_size"]),
        hidden_size=int(c["hidden_size"]), x_scale=float(c["x_scale"]),
        lut=np.asarray(c["lut"], dtype=np.int8))
    return QuantizedTree(
        kind=str(d["kind"]), input_shape=tuple(int(n) for n in d["input_shape"]),
        input_scale=float(d["input_scale"]),
        head=tuple(_layer_from_json(layer) for layer in d["head"]),
        acc_bits=int(d["acc_bits"]),
        convs=tuple(QuantizedConv(layer=_layer_from_json(cv["layer"]), kernel=int(cv["kernel"]),
                                  stride=int(cv["stride"]), in_channels=int(cv["in_channels"]))
                    for cv in d["convs"]),
        cell=cell)
