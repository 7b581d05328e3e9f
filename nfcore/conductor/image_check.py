"""Check every core of a forest image against its hashes: at `nfcore serve`'s start (unless
`--lazy-verify`), and to name the corrupt cores when a request meets one."""

from __future__ import annotations

from dataclasses import dataclass

from tqdm import tqdm

from nfcore.compiler.images.forest_image import ForestImage
from nfcore.errors import ImageError


@dataclass(frozen=True)
class CoreProblem:
    """Core `coord` failed its check (`problem`); `trees` are the trees that run on it."""

    coord: tuple[int, int]
    trees: tuple[int, ...]
    problem: str

    def message(self) -> str:
        trees = ", ".join(str(t) for t in self.trees) or "none"
        return f"core {self.coord} (trees {trees}) is corrupt: {self.problem}"


def _trees_on(image: ForestImage, coord: tuple[int, int]) -> tuple[int, ...]:
    return tuple(sorted({t["id"] for t in image.manifest["trees"]
                         if coord in {tuple(c) for c in t["cores"]}}))


def find_corrupt_cores(image: ForestImage, progress: bool = False) -> list[CoreProblem]:
    """Read every core's SRAM and program files, each checked against the image's SHA-256
    (a core already read and checked is not read again); the cores that fail."""
    found = []
    for coord in tqdm(image.core_coords, desc="verify image", unit="core",
                      disable=not progress):
        try:
            image.core_sram(coord)
            image.core_programs(coord)
        except ImageError as exc:
            found.append(CoreProblem(coord, _trees_on(image, coord), str(exc)))
    return found


def verify_image(image: ForestImage, progress: bool = False) -> None:
    """`ImageError` (one line naming the first corrupt core, its trees and how many cores
    failed) unless every core of `image` matches its hashes."""
    found = find_corrupt_cores(image, progress)
    if found:
        more = f" ({len(found)} of {len(image.core_coords)} cores fail)" if len(found) > 1 \
            else ""
        raise ImageError(f"{image.path}: {found[0].message()}{more}; recompile the image or "
                         "serve with --lazy-verify to start anyway")
