"""The on-disk image of a compiled tree: a versioned directory that every backend loads.

Layout (format_version 1)::

    <image>/
      manifest.json  format_version, created_by, the config and its hash, the layer
                     placements, the I/O addresses, and the size and SHA-256 of each file
      weights.bin    weight SRAM contents: words x lanes bytes, row-major; word 0 is loaded
                     at weight SRAM word `addresses.weight_addr`
      program.bin    the program: 64-bit instruction words, little-endian
      quant.json     the scales the host needs: `input_scale` to quantize inputs
                     (round half to even, saturate to int8), `output_scale` to read logits,
                     and each layer's scales

Format 1 is the single-core MLP image of this module (`save_image`, `load_image`, kept for
the MLP API and `nfcore sim`); format 2 (`nfcore.compiler.images.tree_image`) holds any tree kind
on one or more cores, and `load_tree_image` reads both.

`load_image` checks the format version, the config, and every file's size and hash before
it trusts any content, and raises `ImageError` naming the file and the problem. Saving the
same program, quantization and config gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore import __version__
from nfcore.arch import isa
from nfcore.compiler.lower.program import CoreProgram, LayerPlacement
from nfcore.compiler.quant.mlp import QuantizedLayer, QuantizedMLP
from nfcore.config import NFCoreConfig
from nfcore.errors import ImageError, ISAError

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MANIFEST = "manifest.json"
WEIGHTS = "weights.bin"
PROGRAM = "program.bin"
QUANT = "quant.json"
DATA_FILES = (WEIGHTS, PROGRAM, QUANT)


@dataclass(frozen=True, eq=False)
class Image:
    """A loaded, verified image."""

    path: Path
    manifest: dict[str, Any]
    program: CoreProgram
    quant: QuantizedMLP
    """The quantized model, rebuilt from weights.bin and quant.json."""

    def quantize_input(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.int8]:
        """int8 input vectors of float inputs, as the compiler's calibration defines."""
        return self.quant.quantize_input(x)


def save_image(path: str | Path, program: CoreProgram, q: QuantizedMLP,
               cfg: NFCoreConfig) -> Path:
    """Write the image of `program` (with the scales of `q`, for config `cfg`) to `path`.

    Creates the directory if needed and overwrites the image files in it; the manifest is
    written last, so an interrupted save leaves no manifest that vouches for partial files.
    """
    if program.lanes != cfg.core.lanes:
        raise ImageError(
            f"cannot save: the program was lowered for {program.lanes} lanes but the config "
            f"has core.lanes = {cfg.core.lanes}"
        )
    if program.shapes != q.shapes:
        raise ImageError(
            f"cannot save: the program's layer shapes {program.shapes} differ from the "
            f"quantized model's {q.shapes}"
        )
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    blobs = {
        WEIGHTS: np.ascontiguousarray(program.weights, dtype=np.uint8).tobytes(),
        PROGRAM: np.asarray(program.program, dtype="<u8").tobytes(),
        QUANT: _dumps(_quant_to_json(q)),
    }
    for name, blob in blobs.items():
        (root / name).write_bytes(blob)
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_by": f"nfcore {__version__} (nfcore.compiler.images.core_image)",
        "config_hash": cfg.hash(),
        "config": cfg.to_dict(),
        "model": {
            "kind": "mlp",
            "layers": [asdict(p) for p in program.layers],
        },
        "addresses": {
            "weight_addr": program.weight_addr,
            "weight_words": int(program.weights.shape[0]),
            "input_addr": program.input_addr,
            "input_len": program.input_len,
            "output_addr": program.output_addr,
            "output_len": program.output_len,
        },
        "program": {
            "instructions": len(program.program),
            "cycles": program.cycles,
            "listing": [str(i) for i in program.instructions()],
        },
        "files": {
            name: {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
            for name, blob in blobs.items()
        },
    }
    (root / MANIFEST).write_bytes(_dumps(manifest))
    return root


def load_image(path: str | Path, cfg: NFCoreConfig) -> Image:
    """Load and verify the image at `path` for config `cfg`.

    Raises `ImageError` if a file is missing, a file's size or SHA-256 differs from the
    manifest (corruption, truncation), the format version is not supported, or the image
    was compiled for a different config (the message lists the values that differ).
    """
    root, manifest = _open_manifest(path, f"{MANIFEST}, {WEIGHTS}, {PROGRAM}, {QUANT}")
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ImageError(
            f"{root / MANIFEST}: format_version {version!r} is not supported by nfcore "
            f"{__version__} (supported: {', '.join(map(str, SUPPORTED_VERSIONS))}); "
            + ("it is a multi-core tree image: load it with "
               "nfcore.compiler.images.tree_image.load_tree_image" if version == 2 else
               "recompile the image with this version")
        )
    _check_config(root / MANIFEST, manifest, cfg)
    blobs = {name: _read_verified(root, name, manifest) for name in DATA_FILES}
    try:
        program = _program_from(manifest, blobs, cfg)
        quant = _quant_from(manifest, blobs, program)
    except (KeyError, TypeError, ValueError, ISAError) as exc:
        raise ImageError(f"{root}: image content is inconsistent with its manifest: "
                         f"{type(exc).__name__}: {exc}") from None
    return Image(path=root, manifest=manifest, program=program, quant=quant)


# --- checks ---------------------------------------------------------------------------------


def _open_manifest(path: str | Path, expected: str) -> tuple[Path, dict[str, Any]]:
    """The image directory at `path` and its parsed manifest (any format version);
    `expected` names what the directory should hold, for the error message."""
    root = Path(path)
    if not root.is_dir():
        raise ImageError(f"{root}: no image directory here (expected {expected})")
    return root, _read_json(root / MANIFEST)


def _read_json(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise ImageError(f"{file}: missing; the image is incomplete") from None
    except OSError as exc:
        raise ImageError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImageError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}); the file "
                         f"is corrupt") from None
    if not isinstance(data, dict):
        raise ImageError(f"{file}: expected a JSON object, got {type(data).__name__}")
    return data


def _check_config(file: Path, manifest: dict[str, Any], cfg: NFCoreConfig) -> None:
    """The image's embedded config must hash to its `config_hash` (else the manifest was
    edited), and that must be `cfg`'s (else the image is for another config)."""
    image_cfg = manifest.get("config")
    embedded = hashlib.sha256(json.dumps(image_cfg, sort_keys=True).encode()).hexdigest()
    if embedded != manifest.get("config_hash"):
        diffs = _diff(_flatten(image_cfg) if isinstance(image_cfg, dict) else {},
                      _flatten(cfg.to_dict())) if manifest.get("config_hash") == cfg.hash() \
            else []
        edited = f" ({'; '.join(f'{k}: {a!r}' for k, a, _ in diffs)})" if diffs else ""
        raise ImageError(f"{file}: the embedded config{edited} does not hash to the "
                         f"manifest's config_hash: the manifest was edited or is corrupt; "
                         f"recompile the image")
    if manifest.get("config_hash") == cfg.hash():
        return
    diffs = _diff(_flatten(image_cfg) if isinstance(image_cfg, dict) else {},
                  _flatten(cfg.to_dict()))
    if diffs:
        shown = "; ".join(f"{k}: image {a!r}, config {b!r}" for k, a, b in diffs)
        raise ImageError(f"{file}: the image was compiled for a different config ({shown}); "
                         f"recompile it for this config or run with the image's config")
    raise ImageError(f"{file}: config_hash {manifest.get('config_hash')!r} does not match the "
                     f"config ({cfg.hash()}) although the recorded values agree; the manifest "
                     f"was edited or is corrupt")


def _read_verified(root: Path, name: str, manifest: dict[str, Any]) -> bytes:
    file = root / name
    entry = manifest.get("files", {}).get(name)
    if not isinstance(entry, dict) or "sha256" not in entry or "bytes" not in entry:
        raise ImageError(f"{root / MANIFEST}: lists no size and sha256 for {name}")
    try:
        blob = file.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{file}: missing; the image is incomplete") from None
    except OSError as exc:
        raise ImageError(f"{file}: cannot read: {exc.strerror}") from None
    if len(blob) != entry["bytes"]:
        raise ImageError(f"{file}: {len(blob)} bytes but the manifest says {entry['bytes']} "
                         f"(truncated or overwritten); recompile the image")
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry["sha256"]:
        raise ImageError(f"{file}: sha256 {digest} does not match the manifest's "
                         f"{entry['sha256']} (corrupt); recompile the image")
    return blob


# --- (de)serialization ----------------------------------------------------------------------


def _program_from(manifest: dict[str, Any], blobs: dict[str, bytes],
                  cfg: NFCoreConfig) -> CoreProgram:
    lanes = cfg.core.lanes
    addrs = manifest["addresses"]
    weights = np.frombuffer(blobs[WEIGHTS], dtype=np.uint8).reshape(-1, lanes).copy()
    if weights.shape[0] != addrs["weight_words"]:
        raise ValueError(f"{WEIGHTS} holds {weights.shape[0]} words, manifest says "
                         f"{addrs['weight_words']}")
    words = [int(w) for w in np.frombuffer(blobs[PROGRAM], dtype="<u8")]
    instrs = [isa.decode(w) for w in words]
    if not instrs or instrs[-1].op is not isa.Opcode.HALT:
        raise ValueError(f"{PROGRAM} does not end in HALT")
    layers = tuple(LayerPlacement(**p) for p in manifest["model"]["layers"])
    return CoreProgram(
        lanes=lanes, weights=weights, program=words, input_addr=addrs["input_addr"],
        input_len=addrs["input_len"], output_addr=addrs["output_addr"],
        output_len=addrs["output_len"], layers=layers, weight_addr=addrs["weight_addr"],
    )


def _quant_to_json(q: QuantizedMLP) -> dict[str, Any]:
    return {
        "input_scale": q.input_scale,
        "input_rounding": "round half to even, saturate to -128..127",
        "output_scale": q.output_scale,
        "acc_bits": q.acc_bits,
        "layers": [
            {"relu": layer.relu, "in_scale": layer.in_scale, "out_scale": layer.out_scale,
             "w_scale": [float(s) for s in layer.w_scale]}
            for layer in q.layers
        ],
    }


def _quant_from(manifest: dict[str, Any], blobs: dict[str, bytes],
                program: CoreProgram) -> QuantizedMLP:
    scales = json.loads(blobs[QUANT])
    if len(scales["layers"]) != len(program.layers):
        raise ValueError(f"{QUANT} has {len(scales['layers'])} layers, manifest "
                         f"{len(program.layers)}")
    layers = []
    for p, s in zip(program.layers, scales["layers"], strict=True):
        region = program.weights[p.w_addr : p.w_addr + p.w_words]
        w, bias, mult, shift = unpack_matvec(region, p.rows, p.cols, program.lanes)
        layers.append(QuantizedLayer(
            weights=w, bias=bias, mult=mult, shift=shift, relu=bool(s["relu"]),
            in_scale=float(s["in_scale"]), w_scale=np.asarray(s["w_scale"], dtype=np.float64),
            out_scale=float(s["out_scale"]),
        ))
    return QuantizedMLP(layers=tuple(layers), acc_bits=int(scales["acc_bits"]))


def unpack_matvec(region: npt.NDArray[np.uint8], rows: int, cols: int, lanes: int) -> tuple[
        npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.uint16],
        npt.NDArray[np.uint8]]:
    """(weights, bias, mult, shift) of a MATVEC region laid out by `isa.pack_matvec`."""
    wpr = isa.words_for(cols, lanes)
    if region.shape != (rows * (1 + wpr), lanes):
        raise ValueError(f"a {rows}x{cols} region is {rows * (1 + wpr)} words of {lanes} "
                         f"bytes, got {region.shape}")
    r = region.reshape(rows, 1 + wpr, lanes)
    headers = [isa.unpack_header(r[i, 0]) for i in range(rows)]
    bias = np.array([h[0] for h in headers], dtype=np.int32)
    mult = np.array([h[1] for h in headers], dtype=np.uint16)
    shift = np.array([h[2] for h in headers], dtype=np.uint8)
    w = r[:, 1:, :].reshape(rows, wpr * lanes)[:, :cols].view(np.int8).copy()
    return w, bias, mult, shift


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(k, a.get(k, "<absent>"), b.get(k, "<absent>"))
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
