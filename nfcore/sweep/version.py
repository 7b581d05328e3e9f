"""The code version that keys stored sweep results: a change to the model reruns points."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import nfcore

_PACKAGES = ("nfcore", "forest")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """`nfcore.__version__` plus a hash of every .py and .yaml file of the nfcore and forest
    packages (sources, energy and area tables): results computed by other code are not
    reused."""
    root = Path(nfcore.__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        for path in sorted((root / pkg).rglob("*")):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return f"{nfcore.__version__}+{h.hexdigest()[:12]}"
