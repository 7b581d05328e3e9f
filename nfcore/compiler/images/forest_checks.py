"""What a forest image's manifest must say about where its trees live, checked at load.

The manifest lists each file's size and sha256, but not a hash of itself: an edit to its
`trees`, `cores` or `residency` entries would otherwise be believed, and a bogus entry
found only when a request first runs on it. `check_forest_layout` checks, before any tree
is read, that:

- `residency` names every tree exactly once, as resident or paged, as the tree's own entry
  says;
- every core named (a tree's chain, a core entry) exists on the configured mesh, and no core
  has two entries;
- the router (`router`, tree id -1) is resident, and its parts are checked as a tree's;
- every tree part fits its core's weight SRAM (base word + words <= `core.weight_words`),
  and a core's resident words (`sram_words`) fit it too;
- each core's `regions` agree with the trees' entries (tree, chain index, base, words,
  residency); a resident part is on one core only, and resident regions do not overlap.

Each refusal is an `ImageError` naming the manifest, the entry and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nfcore.config import NFCoreConfig
from nfcore.errors import ImageError

Coord = tuple[int, int]
ROUTER_ID = -1
"""The router's tree id in regions (`forest_image.ROUTER_ID`, which imports this module)."""


def check_forest_layout(file: Path, manifest: dict[str, Any], cfg: NFCoreConfig) -> None:
    """Raise `ImageError` if the manifest's trees, cores and residency disagree (see the
    module docstring)."""
    def fail(problem: str) -> ImageError:
        return ImageError(f"{file}: {problem}; recompile the image with `nfcore compile`")

    try:
        _check(manifest, cfg, fail)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise fail(f"malformed tree or core entry ({exc!r})") from None


def _check(manifest: dict[str, Any], cfg: NFCoreConfig, fail: Any) -> None:
    trees: list[dict[str, Any]] = manifest["trees"]
    cap = cfg.core.weight_words
    mesh = cfg.mesh

    def core(c: Any, where: str) -> Coord:
        x, y = (int(v) for v in c)
        if not (0 <= x < mesh.cols and 0 <= y < mesh.rows):
            raise fail(f"{where}: core ({x}, {y}) does not exist on the {mesh.cols} x "
                       f"{mesh.rows} mesh")
        return x, y

    _check_residency(manifest.get("residency"), trees, fail)
    router = manifest["router"]
    if router["id"] != ROUTER_ID or router["resident"] is not True:
        raise fail(f"router: id {router['id']!r} and resident {router['resident']!r}, "
                   f"expected {ROUTER_ID} and true (the router is always on the chip)")
    parts: dict[tuple[int, int], tuple[Coord, int, int, bool]] = {}
    for t, e in [*enumerate(trees), (ROUTER_ID, router)]:
        if e["id"] != t:
            raise fail(f"trees[{t}]: id {e['id']!r}, expected {t}")
        chain = [core(c, f"tree {t}") for c in e["cores"]]
        if not len(chain) == len(e["base_words"]) == len(e["weight_words"]) > 0:
            raise fail(f"tree {t}: cores, base_words and weight_words must have one entry "
                       f"per part")
        for k, (c, b, w) in enumerate(zip(chain, e["base_words"], e["weight_words"],
                                          strict=True)):
            base, words = int(b), int(w)
            if base < 0 or words < 0 or base + words > cap:
                raise fail(f"tree {t} part {k} on core {c}: words {base} .. {base + words} "
                           f"exceed the core's weight SRAM of {cap} words")
            parts[(t, k)] = (c, base, words, bool(e["resident"]))
    seen_cores: set[Coord] = set()
    placed: dict[tuple[int, int], Coord] = {}
    for i, entry in enumerate(manifest["cores"]):
        c = core(entry["coord"], f"cores[{i}]")
        if c in seen_cores:
            raise fail(f"cores[{i}]: core {c} has two entries")
        seen_cores.add(c)
        if int(entry["sram_words"]) > cap:
            raise fail(f"core {c}: {entry['sram_words']} resident weight words exceed its "
                       f"SRAM of {cap} words (core.weight_sram_bytes)")
        _check_regions(c, entry, parts, placed, fail)
    missing = sorted(p for p, (_, _, _, resident) in parts.items()
                     if resident and p not in placed)
    if missing:
        t, k = missing[0]
        raise fail(f"tree {t} part {k} is resident but no core's regions hold it")


def _check_residency(residency: Any, trees: list[dict[str, Any]], fail: Any) -> None:
    if not isinstance(residency, dict):
        raise fail("missing residency {resident: [...], paged: [...]}")
    where: dict[int, str] = {}
    for state in ("resident", "paged"):
        for t in residency.get(state, []):
            if not isinstance(t, int) or not 0 <= t < len(trees):
                raise fail(f"residency.{state}: tree {t!r} does not exist (the image has "
                           f"{len(trees)} trees)")
            if t in where:
                raise fail(f"residency: tree {t} is listed twice ({where[t]} and {state})")
            where[t] = state
    for t, e in enumerate(trees):
        state = "resident" if e["resident"] else "paged"
        if where.get(t) != state:
            raise fail(f"residency: tree {t} is {where.get(t, 'not listed')}, its tree entry "
                       f"says {state}")


def _check_regions(c: Coord, entry: dict[str, Any],
                   parts: dict[tuple[int, int], tuple[Coord, int, int, bool]],
                   placed: dict[tuple[int, int], Coord], fail: Any) -> None:
    spans: list[tuple[int, int, int]] = []
    for t, k, base, words, resident in entry["regions"]:
        part = parts.get((int(t), int(k)))
        if part is None:
            raise fail(f"core {c}: a region of tree {t} part {k}, which does not exist")
        if resident and (t, k) in placed:
            raise fail(f"tree {t} part {k} is resident twice (cores {placed[(t, k)]} and {c})")
        if part != (c, int(base), int(words), bool(resident)):
            raise fail(f"core {c}: region of tree {t} part {k} (base {base}, {words} words, "
                       f"{'resident' if resident else 'paged'}) disagrees with the tree's "
                       f"entry (core {part[0]}, base {part[1]}, {part[2]} words, "
                       f"{'resident' if part[3] else 'paged'})")
        if resident:
            placed[(int(t), int(k))] = c
            spans.append((int(base), int(base) + int(words), int(t)))
    spans.sort()
    for (_, end, t1), (start, _, t2) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise fail(f"core {c}: the resident regions of trees {t1} and {t2} overlap")
    if spans and spans[-1][1] > int(entry["sram_words"]):
        raise fail(f"core {c}: resident regions end at word {spans[-1][1]}, past its "
                   f"{entry['sram_words']} resident words")
