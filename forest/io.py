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
- `input_scaling.json`: how raw rows are standardized before the forest reads them
  (`forest.scaling.InputScaling`: the training split's per-feature mean and std). The
  manifest's `input_scaling` entry names it with its size and sha256. Folders written before
  it was kept have no entry (`ForestReader.input_scaling()` is then None).

A content hash (sha256 over each tensor's name, shape and little-endian bytes, in name
order) is kept per tree, for the stem and for the router; `forest_id` hashes those hashes
and the input scaling file's sha256.
Loading checks the schema version; the manifest's structure (every tree kind is one of
`forest.trees.KINDS`, every tree's layers have the shapes its group's spec gives, tree ids
and groups agree, the stem's and router's tensor shapes follow from their specs, and every
tree reads the features the stem gives); that the files it names are inside the folder (no
absolute path, no `..`, no symlink out); the weights file's size (a truncated file is
refused before it is parsed), that it belongs to this manifest, every tensor's shape, and
the hash of each part as it is read. Every refusal is a `ForestFormatError` naming the file
and the entry.
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
from forest.scaling import InputScaling
from forest.stem import SharedStem, StemSpec
from forest.trees import KINDS, TreeModule, TreeSpec, build_tree

SCHEMA_VERSION = 1
FORMAT = "nf-forest"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
SCALING = "input_scaling.json"
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
    scaling_entry = None
    if forest.input_scaling is not None:
        scaling_bytes = (json.dumps(forest.input_scaling.to_dict(), allow_nan=False)
                         + "\n").encode()
        scaling_entry = {"file": SCALING, "size_bytes": len(scaling_bytes),
                         "sha256": hashlib.sha256(scaling_bytes).hexdigest()}
        parts.append(scaling_entry["sha256"])
        _write_atomic(out / SCALING, scaling_bytes)
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
        "stem": stem_entry, "router": router_entry, "input_scaling": scaling_entry,
        "groups": [{"spec": g.spec.to_dict(), "first": g.first, "size": g.size}
                   for g in forest.groups],
        "trees": trees,
        "training": _json_safe(forest.meta),
    }
    os.replace(weights_tmp, out / WEIGHTS)
    _write_atomic(out / MANIFEST, (json.dumps(manifest, indent=1, allow_nan=False)
                                   + "\n").encode())
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class ForestReader:
    """An opened forest folder: manifest checked, weights file checked, parts read on demand."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest_path = self.folder / MANIFEST
        self.manifest = self._read_manifest()
        self.specs = self._check_structure()
        """Each group's `TreeSpec`, by group index."""
        self.weights_path = self._inside("weights", self.manifest["weights"])
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

    def _check_structure(self) -> list[TreeSpec]:
        """The groups' specs, after checking that every tree's kind and layer shapes are the
        ones its group's spec gives (so a layer size edited in the manifest is named here,
        not met as a failed tensor copy when the tree is built)."""
        path, m = self.manifest_path, self.manifest
        specs: list[TreeSpec] = []
        for gi, g in enumerate(m["groups"]):
            spec_d = g.get("spec") if isinstance(g, dict) else None
            kind = spec_d.get("kind") if isinstance(spec_d, dict) else None
            if kind not in KINDS:
                raise self._fail(path, f"groups[{gi}].spec.kind {kind!r} is not a tree kind; "
                                 f"allowed: {', '.join(KINDS)}")
            try:
                specs.append(TreeSpec.from_dict(g["spec"]))
            except (ForestError, KeyError, TypeError, ValueError) as exc:
                raise self._fail(path, f"groups[{gi}].spec: {exc}") from None
        for t, raw in enumerate(m["trees"]):
            entry = raw if isinstance(raw, dict) else {}
            group = entry.get("group")
            if entry.get("id") != t or not isinstance(group, int) \
                    or not 0 <= group < len(specs):
                raise self._fail(path, f"trees[{t}]: id {entry.get('id')!r} and group "
                                 f"{group!r} must be {t} and one of 0 .. {len(specs) - 1}")
            spec, kind = specs[group], entry.get("kind")
            if kind != spec.kind:
                allowed = f"its group's kind {spec.kind!r}" if kind in KINDS else \
                    f"one of {', '.join(KINDS)}"
                raise self._fail(path, f"tree {t}: kind {kind!r} is not allowed; it must be "
                                 f"{allowed}")
            want = {k: list(v) for k, v in spec.param_shapes().items()}
            tensors = entry.get("tensors")
            have = {str(k): v for k, v in tensors.items()} if isinstance(tensors, dict) else {}
            for name in [*want, *(k for k in have if k not in want)]:
                if want.get(name) != have.get(name):
                    raise self._fail(path, f"tree {t} ({kind}): layer {name!r} has shape "
                                     f"{have.get(name)} in its weights entry, but "
                                     f"groups[{group}].spec gives {want.get(name)}")
        self._check_shared(specs)
        return specs

    def _check_shared(self, specs: list[TreeSpec]) -> None:
        """The stem's and router's tensor shapes follow from their specs, and every tree
        reads what the stem (or the raw row) gives."""
        path, m = self.manifest_path, self.manifest
        fm = m["forest"]
        try:
            feature = [int(v) for v in fm["feature_shape"]]
            want: dict[str, dict[str, list[int]]] = {}
            if m["stem"] is not None:
                stem = StemSpec.from_dict(m["stem"]["spec"])
                shapes = stem.generalist(int(fm["n_classes"])).param_shapes()
                want["stem"] = {k: list(shapes[n]) for k, n in zip(("weight", "bias"),
                                                                  stem.param_names,
                                                                  strict=True)}
                if list(stem.out_shape) != feature:
                    raise self._fail(path, f"the stem gives features {list(stem.out_shape)}, "
                                     f"forest.feature_shape says {feature}")
            r = m["router"]
            n_regions, embed = int(r["n_regions"]), math.prod(feature)
            want["router"] = {"weight": [n_regions, embed], "bias": [n_regions]}
            regions = r["tree_region"]
        except ForestFormatError:
            raise
        except (ForestError, KeyError, TypeError, ValueError) as exc:
            raise self._fail(path, f"malformed forest, stem or router entry ({exc!r})") \
                from None
        for part, shapes_want in want.items():
            have = m[part].get("tensors") if isinstance(m[part], dict) else None
            if have != shapes_want:
                raise self._fail(path, f"{part}: tensors {have}, but its spec gives "
                                 f"{shapes_want}")
        if len(regions) != self.n_trees or any(
                not isinstance(v, int) or not 0 <= v < n_regions for v in regions):
            raise self._fail(path, f"router.tree_region must give each of the {self.n_trees} "
                             f"trees a region in 0 .. {n_regions - 1}")
        for gi, spec in enumerate(specs):
            if list(spec.input_shape) != feature:
                raise self._fail(path, f"groups[{gi}].spec reads {list(spec.input_shape)}, "
                                 f"the trees are fed {feature} (forest.feature_shape)")

    def _inside(self, key: str, entry: Any) -> Path:
        """The file `entry["file"]` names, refused unless it is a relative path that stays
        inside the forest folder once symlinks are followed."""
        name = entry.get("file") if isinstance(entry, dict) else None
        where = f"{self.manifest_path}: {key}.file {name!r}"
        if not isinstance(name, str) or not name or Path(name).is_absolute():
            raise ForestFormatError(f"{where} must be a file name relative to the forest "
                                    "folder")
        target = self.folder / name
        root = self.folder.resolve()
        if not target.resolve().is_relative_to(root):
            raise ForestFormatError(f"{where} resolves to {target.resolve()}, outside the "
                                    f"forest folder {root}")
        return target

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
        return self.specs[self.tree_entry(tree_id)["group"]]

    def input_scaling(self) -> InputScaling | None:
        """The raw rows' standardization, checked against the manifest's sha256; None for a
        folder saved before forests kept it."""
        entry = self.manifest.get("input_scaling")
        if entry is None:
            return None
        path = self._inside("input_scaling", entry)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self._fail(path, f"cannot read it ({exc.strerror}; named by "
                             f"{self.manifest_path})") from None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise self._fail(path, f"does not match its sha256 in {self.manifest_path} "
                             "(corrupted or edited)")
        try:
            scaling = InputScaling.from_dict(json.loads(data))
        except (ForestError, ValueError) as exc:
            raise self._fail(path, str(exc)) from None
        n_features = math.prod(int(v) for v in self.manifest["forest"]["input_shape"])
        if scaling.n_features != n_features:
            raise self._fail(path, f"scales {scaling.n_features} features, rows of the "
                             f"forest have {n_features}")
        return scaling

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

    def stem(self) -> SharedStem | None:
        """The shared stem alone (None if the forest has none), checked against its hash."""
        entry = self.manifest["stem"]
        if entry is None:
            return None
        with self._open() as f:
            s = self._read_part(f, "stem.", entry, "the stem")
        return SharedStem(StemSpec.from_dict(entry["spec"]), s["weight"], s["bias"])

    def router(self) -> Router:
        """The router alone, checked against its hash; no tree's weights are read."""
        entry = self.manifest["router"]
        with self._open() as f:
            r = self._read_part(f, "router.", entry, "the router")
        router = Router(int(entry["embed_dim"]),
                        torch.tensor(entry["tree_region"], dtype=torch.long))
        router.linear.load_state_dict(r)
        return router

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
                for g, spec in zip(m["groups"], self.specs, strict=True):
                    first, size = int(g["first"]), int(g["size"])
                    per_tree = [self.tree_params(t, f) for t in range(first, first + size)]
                    params = {k: torch.stack([p[k] for p in per_tree]) for k in per_tree[0]}
                    groups.append(TreeGroup(spec, params, first))
                fm = m["forest"]
                return NeuralForest(input_shape=tuple(fm["input_shape"]),
                                    n_classes=int(fm["n_classes"]), stem=stem, router=router,
                                    groups=groups, top_k=int(fm["top_k"]),
                                    meta=m.get("training") or {},
                                    input_scaling=self.input_scaling())
        except ForestFormatError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, ForestError) as exc:
            raise self._fail(self.manifest_path, f"inconsistent manifest ({exc!r})") from None


def load_forest(folder: str | Path) -> NeuralForest:
    """Load and check a forest written by `save_forest`."""
    return ForestReader(folder).forest()
