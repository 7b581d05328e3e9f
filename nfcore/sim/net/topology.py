"""The mesh's endpoints and XY routes, and the traffic counted on them.

Endpoints are ints: core `y * cols + x`, then the host port, then the DRAM port
(`nfcore.arch.noc`: `HOST_ROUTER`, `DRAM_ROUTER`). A route is the injection link from the
source into its router, then each router output it uses (the last one ejects), as
`noc.route` gives them; `nfcore.sim.net.worm` moves packets along these links by the router
RTL's rules and counts each packet here (`Network.count`): packets, hops, flit-hops and the
flits through each router (the activity heatmap).
"""

from __future__ import annotations

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.errors import NFCoreError


class NetworkError(NFCoreError):
    """A packet was asked for that the mesh cannot carry (endpoint off the mesh, to DRAM)."""


class Network:
    """The mesh of `cfg.mesh` with the host and DRAM ports of `nfcore.arch.noc`.

    Endpoints are ints: core `y * cols + x`, then `host`, then `dram` (attributes).
    """

    def __init__(self, cfg: NFCoreConfig) -> None:
        self.rows, self.cols = cfg.mesh.rows, cfg.mesh.cols
        self.n_cores = self.rows * self.cols
        self.host = self.n_cores
        self.dram = self.n_cores + 1
        for name, (x, y) in (("HOST_ROUTER", noc.HOST_ROUTER), ("DRAM_ROUTER", noc.DRAM_ROUTER)):
            if not (0 <= x < self.cols and 0 <= y < self.rows):
                raise NetworkError(f"noc.{name} = {(x, y)} is off the {self.cols} x "
                                   f"{self.rows} mesh")
        self._inj_base = self.n_cores * len(noc.Port)
        self._paths: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._path_flits: dict[tuple[int, int], int] = {}
        self.packets = 0
        self.hops_total = 0
        self.flit_hops = 0

    def core(self, xy: tuple[int, int]) -> int:
        x, y = xy
        if not (0 <= x < self.cols and 0 <= y < self.rows):
            raise NetworkError(f"core {xy} is off the {self.cols} x {self.rows} mesh")
        return y * self.cols + x

    def router_of(self, endpoint: int) -> tuple[int, int]:
        if endpoint == self.host:
            return noc.HOST_ROUTER
        if endpoint == self.dram:
            return noc.DRAM_ROUTER
        return endpoint % self.cols, endpoint // self.cols

    def hops(self, src: int, dst: int) -> int:
        return noc.hops(self.router_of(src), self.router_of(dst))

    def path(self, src: int, dst: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(links, routers) of the route from `src` to `dst`: the injection link then one
        router output per router visited (the last ejects), and those routers' indices."""
        key = (src, dst)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        x, y = self.router_of(src)
        dx, dy = self.router_of(dst)
        # Read requests leave through the DRAM port (XY to its router, as `noc.route`).
        eject = noc.HOST_PORT if dst == self.host else \
            noc.DRAM_PORT if dst == self.dram else noc.Port.LOCAL
        links = [self._inj_base + src]
        routers = []
        while True:
            port = noc.route(x, y, dx, dy)
            r = y * self.cols + x
            routers.append(r)
            if port is noc.Port.LOCAL:
                links.append(r * len(noc.Port) + int(eject))
                break
            links.append(r * len(noc.Port) + int(port))
            x += (port is noc.Port.EAST) - (port is noc.Port.WEST)
            y += (port is noc.Port.SOUTH) - (port is noc.Port.NORTH)
        cached = (tuple(links), tuple(routers))
        self._paths[key] = cached
        return cached

    def count(self, src: int, dst: int, flits: int) -> None:
        """Count a packet of `flits` flits from `src` to `dst` in the statistics (the timing
        model, `worm`, calls it for every packet it carries)."""
        key = (src, dst)
        n_hops = len(self.path(src, dst)[1]) - 1
        self._path_flits[key] = self._path_flits.get(key, 0) + flits
        self.packets += 1
        self.hops_total += n_hops
        self.flit_hops += flits * n_hops

    @property
    def router_flits(self) -> list[int]:
        """Flits that passed through each router (row-major), for the activity heatmap."""
        out = [0] * self.n_cores
        for key, flits in self._path_flits.items():
            for r in self._paths[key][1]:
                out[r] += flits
        return out
