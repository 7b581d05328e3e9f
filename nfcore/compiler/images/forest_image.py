"""Whole-forest images (format_version 4): every tree of a forest, and its router, placed on
one chip.

`compile_forest` (in `nfcore.compiler.compile_forest`, re-exported from
`nfcore.compiler`) builds a `ForestImage`; `ForestImage.save` writes it and
`load_forest_image` reads it back, checking it against the config and the forest, and the
manifest's trees, cores and residency against each other and the config
(`forest_checks`).

Layout::

    <image>/
      manifest.json            format_version 4, created_by, the config and its hash, the
                               forest (forest_id = its content hash, trees, kinds, top-k),
                               per tree its kind, residency, cores, weight base words, host
                               I/O (core, address, length) and contract cycles; the same
                               for the router (`router`, always resident); per core
                               its SRAM regions and program slots; the placement
                               (`layout_report.placement_manifest`), the residency, the
                               layout statistics, and the size and SHA-256 of every file
                               below (for a tree: of its manifest.json)
      cores/core_<x>_<y>.sram  weight SRAM words of core (x, y) from word 0: the resident
                               trees' regions back to back (bytes, `lanes` per word)
      cores/core_<x>_<y>.programs
                               the programs of the tree parts that run on the core,
                               relocated to their weight base, 64-bit words concatenated
      trees/tree_<id>/         the tree as a format-2 image (`tree_image`): quant.json and
                               each core's unrelocated weights (from word 0) and program
      router/                  the router (a one-layer mlp from the flattened features to
                               the region logits) as a format-2 image

Conventions (stated assumptions):

* A core holds several trees. Each resident part's weights live at its own base word; its
  program is the tree image's program with every MATVEC and SETLUT `w_addr` moved by that
  base (`relocate`). Scratchpad layouts all start at word 0: a core runs one tree at a time.
* The ISA starts every run at pc 0, so a core's programs are *slots*: the host writes the
  selected tree's slot to instruction memory before RUN. Each slot fits `core.imem_depth`;
  the sum over a core's slots need not.
* A paged tree (`resident` false) is not in any core's SRAM file: its weights are the tree
  image's (the DRAM copy). It has assigned cores; when selected, its weights are loaded at
  the core's first free word (after the resident regions, the base its slot is relocated
  to), so paged trees of one core overwrite each other.

* The router's regions and slots carry the tree id `ROUTER_ID` (-1). Format 3 had no
  router (it ran in float on the host) and is refused.

A `ForestImage` loaded from disk reads one tree's files only when `tree(id)` (or `router()`)
asks for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from nfcore import __version__
from nfcore.arch import isa
from nfcore.compiler.images.core_image import (
    _check_config,
    _dumps,
    _open_manifest,
    _read_verified,
)
from nfcore.compiler.images.forest_checks import ROUTER_ID, check_forest_layout
from nfcore.compiler.images.tree_image import load_tree_image, save_tree_image
from nfcore.compiler.lower.split import Coord, TreeProgram
from nfcore.compiler.quant.tree import QuantizedTree
from nfcore.config import NFCoreConfig
from nfcore.errors import ImageError

if TYPE_CHECKING:
    from nfcore.compiler.layout.stages import Layout

FORMAT_VERSION = 4
MANIFEST = "manifest.json"

__all__ = ["FORMAT_VERSION", "ROUTER_ID", "ForestImage", "ForestTree", "load_forest_image",
           "relocate"]


def relocate(program: list[int], base_word: int) -> list[int]:
    """`program` with every MATVEC and SETLUT weight address moved by `base_word` words."""
    if base_word == 0:
        return list(program)
    out = []
    for word in program:
        instr = isa.decode(word)
        if instr.op in (isa.Opcode.MATVEC, isa.Opcode.SETLUT):
            fields = dict(instr.args)
            fields["w_addr"] += base_word
            word = isa.encode(instr.op, **fields)
        out.append(word)
    return out


@dataclass(frozen=True, eq=False)
class ForestTree:
    """One tree of the image: its integer model, its program and where it lives."""

    tree_id: int
    resident: bool
    """False: paged from DRAM (its weights are loaded when it is selected)."""
    quant: QuantizedTree
    program: TreeProgram
    """As lowered: `program.cores[k]` runs on chain core k, weights from word 0."""
    base_words: tuple[int, ...]
    """Weight SRAM word where chain core k's weights start."""

    @property
    def kind(self) -> str:
        return self.quant.kind

    @property
    def cores(self) -> tuple[Coord, ...]:
        return tuple(c.coord for c in self.program.cores)

    def core_program(self, k: int) -> list[int]:
        """Chain core k's program words, relocated to its base word (what the host loads)."""
        return relocate(self.program.cores[k].program, self.base_words[k])

    def pack_input(self, x: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """Packed int8 vectors (n, input_len) the host writes at `program.plan.input_addr`
        of `program.input_coord`, for float inputs (n, *input_shape) (stem features)."""
        return self.program.plan.pack_input(self.quant.quantize_input(x))


@dataclass(eq=False)
class ForestImage:
    """A compiled forest: per-core SRAM and programs, per-tree models, and the manifest.

    `manifest` is the JSON-ready manifest (see the module docstring). Built by
    `compile_forest` (everything in memory, plus `layout` and `stage_seconds`) or by
    `load_forest_image` (trees and cores read lazily from `path`).
    """

    cfg: NFCoreConfig
    manifest: dict[str, Any]
    path: Path | None = None
    layout: Layout | None = None
    """The placement (only for a freshly compiled image)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    _trees: dict[int, ForestTree] = field(default_factory=dict)
    _sram: dict[Coord, npt.NDArray[np.uint8]] = field(default_factory=dict)
    _programs: dict[Coord, dict[tuple[int, int], list[int]]] = field(default_factory=dict)

    # --- what the manifest says -------------------------------------------------------------
    @property
    def n_trees(self) -> int:
        return len(self.manifest["trees"])

    @property
    def forest_id(self) -> str:
        return str(self.manifest["forest"]["forest_id"])

    @property
    def resident_trees(self) -> list[int]:
        return [t["id"] for t in self.manifest["trees"] if t["resident"]]

    @property
    def paged_trees(self) -> list[int]:
        return [t["id"] for t in self.manifest["trees"] if not t["resident"]]

    def tree_entry(self, tree_id: int) -> dict[str, Any]:
        """The manifest's entry of tree `tree_id` (cores, base words, I/O, cycles)."""
        if not 0 <= tree_id < self.n_trees:
            raise ImageError(f"no tree {tree_id} in the image (it has {self.n_trees} trees)")
        entry: dict[str, Any] = self.manifest["trees"][tree_id]
        return entry

    @property
    def core_coords(self) -> list[Coord]:
        """Cores that hold weights or programs."""
        return [(int(c["coord"][0]), int(c["coord"][1])) for c in self.manifest["cores"]]

    # --- contents, lazily ---------------------------------------------------------------------
    def tree(self, tree_id: int) -> ForestTree:
        """Tree `tree_id`'s model and program, reading only its files."""
        return self._tree(tree_id, self.tree_entry(tree_id))

    def router(self) -> ForestTree:
        """The router's int8 model (region logits of the flattened features) and program."""
        return self._tree(ROUTER_ID, self.manifest["router"])

    def _tree(self, tree_id: int, entry: dict[str, Any]) -> ForestTree:
        if tree_id not in self._trees:
            root = self._root()
            rel = f"{entry['dir']}/{MANIFEST}"
            _read_verified(root, rel, self.manifest)
            img = load_tree_image(root / entry["dir"], self.cfg)
            cores = [tuple(c) for c in entry["cores"]]
            if [c.coord for c in img.program.cores] != cores or img.quant.kind != entry["kind"]:
                raise ImageError(f"{root / entry['dir']}: holds a {img.quant.kind} tree on "
                                 f"cores {[c.coord for c in img.program.cores]}, the forest "
                                 f"manifest says {entry['kind']} on {cores}")
            self._trees[tree_id] = ForestTree(tree_id, bool(entry["resident"]), img.quant,
                                              img.program, tuple(entry["base_words"]))
        return self._trees[tree_id]

    def core_sram(self, coord: Coord) -> npt.NDArray[np.uint8]:
        """Resident weight SRAM words (words, lanes) of core `coord`, from word 0."""
        coord = (int(coord[0]), int(coord[1]))
        if coord not in self._sram:
            entry = self._core_entry(coord)
            blob = _read_verified(self._root(), entry["sram"], self.manifest)
            if len(blob) != int(entry["sram_words"]) * self.cfg.core.lanes:
                raise ImageError(f"{self._root() / entry['sram']}: {len(blob)} bytes, but the "
                                 f"manifest gives core {coord} {entry['sram_words']} words of "
                                 f"{self.cfg.core.lanes} bytes")
            self._sram[coord] = np.frombuffer(blob, dtype=np.uint8).reshape(
                -1, self.cfg.core.lanes).copy()
        return self._sram[coord]

    def core_programs(self, coord: Coord) -> dict[tuple[int, int], list[int]]:
        """Program slots of core `coord`: (tree id, chain index) -> relocated words."""
        coord = (int(coord[0]), int(coord[1]))
        if coord not in self._programs:
            entry = self._core_entry(coord)
            blob = _read_verified(self._root(), entry["programs"], self.manifest)
            words = [int(w) for w in np.frombuffer(blob, dtype="<u8")]
            self._programs[coord] = {(int(t), int(k)): words[off:off + n]
                                     for t, k, off, n in entry["slots"]}
        return self._programs[coord]

    def _core_entry(self, coord: Coord) -> dict[str, Any]:
        for c in self.manifest["cores"]:
            if tuple(c["coord"]) == coord:
                return dict(c)
        raise ImageError(f"core {coord} holds nothing in this image")

    def _root(self) -> Path:
        if self.path is None:
            raise ImageError("this image is not on disk and the part asked for is not in "
                             "memory")
        return self.path

    # --- writing -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the image to the directory `path` (manifest last: an interrupted save leaves
        no manifest). Every tree and core must be in memory (a compiled image)."""
        root = Path(path)
        (root / "cores").mkdir(parents=True, exist_ok=True)
        files: dict[str, dict[str, Any]] = {}
        for tree, entry in [(self.tree(t), self.tree_entry(t)) for t in range(self.n_trees)] \
                + [(self.router(), self.manifest["router"])]:
            rel = entry["dir"]
            save_tree_image(root / rel, tree.program, tree.quant, self.cfg)
            files[f"{rel}/{MANIFEST}"] = _file_entry((root / rel / MANIFEST).read_bytes())
        for c in self.manifest["cores"]:
            coord = (int(c["coord"][0]), int(c["coord"][1]))
            slots = self.core_programs(coord)
            blobs = {c["sram"]: np.ascontiguousarray(self.core_sram(coord)).tobytes(),
                     c["programs"]: np.asarray([w for t, k, _, _ in c["slots"]
                                                for w in slots[(t, k)]], dtype="<u8").tobytes()}
            for name, blob in blobs.items():
                (root / name).write_bytes(blob)
                files[name] = _file_entry(blob)
        manifest = {**self.manifest, "files": files}
        (root / MANIFEST).write_bytes(_dumps(manifest))
        return root


def load_forest_image(path: str | Path, cfg: NFCoreConfig,
                      forest_dir: str | Path | None = None) -> ForestImage:
    """Open the format-3 image at `path` for `cfg`; with `forest_dir`, also check that it
    was compiled from that forest (its content hash). Trees and cores are read on demand.
    Raises `ImageError` naming the file and what differs."""
    root, manifest = _open_manifest(path, MANIFEST)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        hint = " (a one-tree image: use nfcore.compiler.images.tree_image)" if version in (1, 2) \
            else " (a forest image without the on-chip router)" if version == 3 else ""
        raise ImageError(f"{root / MANIFEST}: format_version {version!r} is not a forest "
                         f"image (format {FORMAT_VERSION}){hint}; recompile with "
                         f"`nfcore compile`")
    _check_config(root / MANIFEST, manifest, cfg)
    for key in ("forest", "trees", "router", "cores", "files"):
        if key not in manifest:
            raise ImageError(f"{root / MANIFEST}: missing key {key!r}")
    check_forest_layout(root / MANIFEST, manifest, cfg)
    if forest_dir is not None:
        # torch (through forest.io) only to check the forest: loading an image needs none.
        from forest.io import ForestReader

        actual = ForestReader(forest_dir).manifest["forest_id"]
        recorded = manifest["forest"].get("forest_id")
        if actual != recorded:
            raise ImageError(f"{root / MANIFEST}: compiled from forest {recorded!r}, but "
                             f"{forest_dir} holds forest {actual!r} (its weights differ); "
                             f"recompile the image from this forest")
    return ForestImage(cfg=cfg, manifest=manifest, path=root)


def _file_entry(blob: bytes) -> dict[str, Any]:
    return {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


def manifest_header(cfg: NFCoreConfig) -> dict[str, Any]:
    """The format, creator and config fields every forest manifest starts with."""
    return {"format_version": FORMAT_VERSION,
            "created_by": f"nfcore {__version__} (nfcore.compiler.images.forest_image)",
            "config_hash": cfg.hash(), "config": cfg.to_dict()}

