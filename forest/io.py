"""Save and load forests: a JSON manifest plus one safetensors weights file.

A saved forest is a folder:

- `manifest.json`: format "nf-forest", `schema_version`, `forest_id`, the forest's shape
  (input shape, classes, top-k, kinds), the weights file's name and size in bytes, the stem
  and router (spec, tensor shapes, parameter count and bytes, sha256), the tree groups
  (spec, first id, size), one entry per tree (id, kind, group, region, tensor shapes,
  parameter count and bytes, sha256), and training metadata (options, measured figures).
- `weights.safetensors`: float32 tensors named `tree.<id>.<param>`, `stem.<w|b>`,
  `router.<w|b>`; its metadata repeats `forest_id`. safetensors keeps an index of byte
  offsets, so `ForestReader.tree_params(t)` reads tree t's bytes and no other tree's.

A content hash (sha256 over each tensor's name, shape and little-endian bytes, in name
order) is kept per tree, for the stem and for the router; `forest_id` hashes those hashes.
Loading checks the schema version, the weights file's size (a truncated file is refused
before it is parsed), that it belongs to this manifest, every tensor's shape, and the hash
of each part as it is read. Every refusal is a `ForestFormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from forest.errors import ForestError, ForestFormatError
from forest.forest import NeuralForest, TreeGroup
from forest.router import Router
from forest.stem import SharedStem, StemSpec
from forest.trees import TreeModule, TreeSpec, build_tree

SCHEMA_VERSION = 1
FORMAT = "nf-forest"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
BYTES_PER_PARAM = 4  # float32


def content_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex of the tensors' names, shapes and float32 bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        h.update(f"{name}:{list(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _part(tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    count = sum(t.numel() for t in tensors.values())
    return {"tensors": {k: list(v.shape) for k, v in tensors.items()},
            "parameter_count": count, "parameter_bytes": count * BYTES_PER_PARAM,
            "sha256": content_hash(tensors)}


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null, which strict JSON readers accept."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def save_forest(forest: NeuralForest, folder: str | Path) -> Path:
    """Write `folder/manifest.json` and `folder/weights.safetensors`; return the folder.

    Both files are written under temporary names and renamed, so a crash leaves no
    half-written forest under the final names.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    trees: list[dict[str, Any]] = []
    tree_region = forest.router.tree_region
    for gi, g in enumerate(forest.groups):
        for local in range(g.size):
            tid = g.first + local
            own = {name: v.contiguous().clone() for name, v in g.tree_params(local).items()}
            tensors.update({f"tree.{tid}.{name}": v for name, v in own.items()})
            trees.append({"id": tid, "kind": g.spec.kind, "group": gi,
                          "region": int(tree_region[tid]), **_part(own)})
    router = {"weight": forest.router.linear.weight.detach().clone(),
              "bias": forest.router.linear.bias.detach().clone()}
    tensors.update({f"router.{k}": v for k, v in router.items()})
    stem_entry = None
    if forest.stem is not None:
        stem = {"weight": forest.stem.weight, "bias": forest.stem.bias}
        tensors.update({f"stem.{k}": v.clone() for k, v in stem.items()})
        stem_entry = {"spec": forest.stem.spec.to_dict(), **_part(stem)}
    router_entry = {"embed_dim": int(router["weight"].shape[1]),
                    "n_regions": int(router["weight"].shape[0]),
                    "tree_region": [int(r) for r in tree_region], **_part(router)}
    parts = [t["sha256"] for t in trees] + [router_entry["sha256"]]
    parts += [stem_entry["sha256"]] if stem_entry else []
    forest_id = hashlib.sha256("".join(parts).encode()).hexdigest()
    weights_tmp = out / (WEIGHTS + ".tmp")
    save_file(tensors, str(weights_tmp), metadata={"forest_id": forest_id,
                                                   "schema_version": str(SCHEMA_VERSION)})
    manifest = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "forest_id": forest_id,
        "forest": {"input_shape": list(forest.input_shape), "n_classes": forest.n_classes,
                   "feature_shape": list(forest.feature_shape), "top_k": forest.top_k,
                   "n_trees": forest.n_trees, "kinds": list(forest.kinds)},
        "weights": {"file": WEIGHTS, "size_bytes": weights_tmp.stat().st_size,
                    "dtype": "float32"},
        "stem": stem_entry, "router": router_entry,
        "groups": [{"spec": g.spec.to_dict(), "first": g.first, "size": g.size}
                   for g in forest.groups],
        "trees": trees,
        "training": _json_safe(forest.meta),
    }
    manifest_tmp = out / (MANIFEST + ".tmp")
    manifest_tmp.write_text(json.dumps(manifest, indent=1, allow_nan=False) + "\n")
    os.replace(weights_tmp, out / WEIGHTS)
    os.replace(manifest_tmp, out / MANIFEST)
    return out


class ForestReader:
    """An opened forest folder: manifest checked, weights file checked, parts read on demand."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest_path = self.folder / MANIFEST
        self.manifest = self._read_manifest()
        self.weights_path = self.folder / str(self.manifest["weights"]["file"])
        self._check_weights_file()

    def _fail(self, path: Path, problem: str) -> ForestFormatError:
        return ForestFormatError(f"{path}: {problem}")

    def _read_manifest(self) -> dict[str, Any]:
        path = self.manifest_path
        if not path.is_file():
            raise self._fail(path, "not found (is this a folder written by `nfcore train`?)")
        try:
            m = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._fail(path, f"not valid JSON ({exc})") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise self._fail(path, f"not an {FORMAT} manifest (format is "
                             f"{m.get('format') if isinstance(m, dict) else type(m).__name__!r})")
        if m.get("schema_version") != SCHEMA_VERSION:
            raise self._fail(path, f"schema version {m.get('schema_version')!r}; this version "
                             f"of forest reads schema {SCHEMA_VERSION}")
        for key in ("forest_id", "forest", "weights", "stem", "router", "groups", "trees"):
            if key not in m:
                raise self._fail(path, f"missing key {key!r}")
        n = m["forest"].get("n_trees")
        if not isinstance(m["trees"], list) or len(m["trees"]) != n:
            raise self._fail(path, f"lists {len(m['trees'])} trees but forest.n_trees is {n}")
        return m

    def _check_weights_file(self) -> None:
        path = self.weights_path
        if not path.is_file():
            raise self._fail(path, f"not found (named by {self.manifest_path})")
        size, expected = path.stat().st_size, self.manifest["weights"]["size_bytes"]
        if size < expected:
            raise self._fail(path, f"truncated: {size} bytes, the manifest says {expected}")
        if size != expected:
            raise self._fail(path, f"is {size} bytes, the manifest says {expected}")
        with self._open() as f:
            meta = f.metadata() or {}
            if meta.get("forest_id") != self.manifest["forest_id"]:
                raise self._fail(path, f"belongs to another forest (forest_id "
                                 f"{meta.get('forest_id')!r}, manifest {self.manifest_path} "
                                 f"says {self.manifest['forest_id']!r})")

    @contextmanager
    def _open(self) -> Iterator[Any]:
        try:
            handle = safe_open(str(self.weights_path), framework="pt")
        except Exception as exc:  # safetensors raises its own untyped errors
            raise self._fail(self.weights_path, f"not a readable safetensors file ({exc})") \
                from None
        with handle as f:
            yield f

    def _read_part(self, f: Any, prefix: str, entry: Mapping[str, Any],
                   what: str) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, shape in entry["tensors"].items():
            key = f"{prefix}{name}"
            try:
                t = f.get_tensor(key)
            except Exception:
                raise self._fail(self.weights_path, f"has no tensor {key!r} ({what})") from None
            if list(t.shape) != list(shape):
                raise self._fail(self.weights_path, f"tensor {key!r} has shape "
                                 f"{list(t.shape)}, the manifest says {list(shape)}")
            out[name] = t
        if content_hash(out) != entry["sha256"]:
            raise self._fail(self.weights_path, f"{what}'s weights do not match their sha256 "
                             f"in {self.manifest_path} (corrupted or edited)")
        return out

    @property
    def n_trees(self) -> int:
        return int(self.manifest["forest"]["n_trees"])

    def tree_entry(self, tree_id: int) -> dict[str, Any]:
        if not 0 <= tree_id < self.n_trees:
            raise ForestFormatError(f"{self.manifest_path}: no tree {tree_id} "
                                    f"(the forest has {self.n_trees})")
        entry: dict[str, Any] = self.manifest["trees"][tree_id]
        return entry

    def tree_spec(self, tree_id: int) -> TreeSpec:
        group = self.manifest["groups"][self.tree_entry(tree_id)["group"]]
        return TreeSpec.from_dict(group["spec"])

    def tree_params(self, tree_id: int, f: Any = None) -> dict[str, torch.Tensor]:
        """Tree `tree_id`'s parameters, reading only its tensors, checked against its hash."""
        entry = self.tree_entry(tree_id)
        if f is None:
            with self._open() as handle:
                return self._read_part(handle, f"tree.{tree_id}.", entry, f"tree {tree_id}")
        return self._read_part(f, f"tree.{tree_id}.", entry, f"tree {tree_id}")

    def tree(self, tree_id: int) -> TreeModule:
        """Tree `tree_id` as a one-tree module, loaded on its own."""
        return build_tree(self.tree_spec(tree_id), self.tree_params(tree_id))

    def forest(self) -> NeuralForest:
        """The whole forest, every part checked."""
        m = self.manifest
        try:
            with self._open() as f:
                stem = None
                if m["stem"] is not None:
                    s = self._read_part(f, "stem.", m["stem"], "the stem")
                    stem = SharedStem(StemSpec.from_dict(m["stem"]["spec"]), s["weight"],
                                      s["bias"])
                r = self._read_part(f, "router.", m["router"], "the router")
                router = Router(int(m["router"]["embed_dim"]),
                                torch.tensor(m["router"]["tree_region"], dtype=torch.long))
                router.linear.load_state_dict(r)
                groups = []
                for g in m["groups"]:
                    first, size = int(g["first"]), int(g["size"])
                    per_tree = [self.tree_params(t, f) for t in range(first, first + size)]
                    params = {k: torch.stack([p[k] for p in per_tree]) for k in per_tree[0]}
                    groups.append(TreeGroup(TreeSpec.from_dict(g["spec"]), params, first))
                fm = m["forest"]
                return NeuralForest(input_shape=tuple(fm["input_shape"]),
                                    n_classes=int(fm["n_classes"]), stem=stem, router=router,
                                    groups=groups, top_k=int(fm["top_k"]),
                                    meta=m.get("training") or {})
        except ForestFormatError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, ForestError) as exc:
            raise self._fail(self.manifest_path, f"inconsistent manifest ({exc!r})") from None


def load_forest(folder: str | Path) -> NeuralForest:
    """Load and check a forest written by `save_forest`."""
    return ForestReader(folder).forest()
