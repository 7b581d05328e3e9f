"""Host memory honesty: the Conductor's resident memory with a forest loaded lazily (only
the trees requests are routed to) versus whole, each figure from a fresh Python process.

`host_memory(forest_dir, image_dir, inputs)` runs three probes (`/proc/self/status` VmRSS,
MiB): `base` (the Conductor's modules imported, nothing opened), `lazy` (a Conductor opened
on the image, then the `inputs` rows, standardized already (a dataset's `x_test`), run on
the golden backend: only routed trees load) and
`whole` (every tree loaded, compiled and float, as a server that loads all at start would
hold it). The probe reads the hardware config from the image's own manifest, so the figures
need no config file. Linux only (`/proc`); elsewhere `host_memory` raises `NFCoreError`.

A flow, not part of the Conductor: it imports no Conductor module itself (the probe is a
separate Python process that does), so `make sim`'s flow (`nfcore.flows.sim`) can measure
the Conductor without the flows layer importing the layer above it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfcore.errors import NFCoreError

_PROBE = r"""
import json, sys, numpy as np
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from nfcore.compiler import load_forest_image
from nfcore.conductor.audit import AuditLog
from nfcore.conductor.backends import make_backend
from nfcore.conductor.conductor import Conductor
from nfcore.conductor.tree_source import ImageForest
from nfcore.config import NFCoreConfig
mode, forest, image, inputs, log = sys.argv[1:6]
out = {"mode": mode}
if mode != "base":
    with open(image + "/manifest.json") as f:
        cfg = NFCoreConfig.from_dict(json.load(f)["config"], source=image)
    img = load_forest_image(image, cfg, forest_dir=forest)
    c = Conductor(forest, ImageForest(img), make_backend("golden", cfg), AuditLog(log),
                  standardized=True)
    out["opened_mib"] = rss_mib()
    if mode == "lazy":
        answers = c.run(np.load(inputs))
        out["touched"] = float(np.mean([a.record["weight_bytes_touched"] for a in answers]))
    else:
        c._load(range(img.n_trees))
    out["loads"] = c.loads.to_dict()
out["rss_mib"] = rss_mib()
print(json.dumps(out))
"""


def probe(mode: str, forest_dir: Path, image_dir: Path, inputs: Path,
          log: Path) -> dict[str, Any]:
    """One probe (`base`, `lazy` or `whole`) in a fresh process; its JSON result."""
    if not Path("/proc/self/status").exists():
        raise NFCoreError("host memory is measured from /proc/self/status (Linux only)")
    proc = subprocess.run([sys.executable, "-c", _PROBE, mode, str(forest_dir),
                           str(image_dir), str(inputs), str(log)],
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NFCoreError(f"host memory probe '{mode}' failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def host_memory(forest_dir: Path, image_dir: Path,
                inputs: npt.ArrayLike) -> dict[str, Any]:
    """RSS of the three probes (MiB), trees loaded, and weight bytes touched per request."""
    with tempfile.TemporaryDirectory(prefix="nfcore-mem-") as tmp_name:
        tmp = Path(tmp_name)
        np.save(tmp / "inputs.npy", np.asarray(inputs, dtype=np.float32))
        runs = {mode: probe(mode, forest_dir, image_dir, tmp / "inputs.npy",
                            tmp / f"{mode}.jsonl") for mode in ("base", "lazy", "whole")}
    lazy, whole = runs["lazy"], runs["whole"]
    return {
        "requests": len(np.asarray(inputs)),
        "base_mib": runs["base"]["rss_mib"],
        "opened_mib": lazy["opened_mib"],
        "lazy_mib": lazy["rss_mib"],
        "whole_mib": whole["rss_mib"],
        "lazy_trees_loaded": lazy["loads"]["compiled_trees"],
        "whole_trees_loaded": whole["loads"]["compiled_trees"],
        "weight_bytes_touched_per_request": lazy["touched"],
    }
