"""What the serving benchmarks share: a free port, and waiting for `nfcore serve` to be ready."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    """Return once `url`/healthz answers 200; RuntimeError if `proc` exits first (with the
    tail of its stderr) or `timeout_s` passes."""
    import httpx  # the dev extra's; only the serving benchmarks need it

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"nfcore serve exited: {err.decode(errors='replace')[-500:]}")
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nfcore serve did not start in {timeout_s:g} s")
        time.sleep(0.2)
