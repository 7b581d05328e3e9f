"""The network contract: header encoding and XY routing."""

import numpy as np
import pytest

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.errors import ISAError


def test_header_round_trip() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        fields = {f.name: int(rng.integers(f.offset, (1 << f.width) + f.offset))
                  for f in noc.HEADER_FIELDS}
        word = noc.encode_header(**fields)
        assert 0 <= word < 1 << noc.HEADER_BITS
        assert noc.decode_header(word) == fields


def test_header_range_errors_name_the_field() -> None:
    with pytest.raises(ISAError, match="length = 0 is out of range 1..1024"):
        noc.encode_header(length=0)
    with pytest.raises(ISAError, match="no field 'dst'"):
        noc.encode_header(dst=1)


def test_xy_route_goes_along_the_row_first() -> None:
    assert noc.route(1, 1, 3, 0) is Port.EAST
    assert noc.route(3, 1, 3, 0) is Port.NORTH
    assert noc.route(3, 0, 3, 2) is Port.SOUTH
    assert noc.route(3, 2, 0, 2) is Port.WEST
    assert noc.route(2, 2, 2, 2) is Port.LOCAL


def test_following_route_takes_manhattan_hops() -> None:
    step = {Port.EAST: (1, 0), Port.WEST: (-1, 0), Port.SOUTH: (0, 1), Port.NORTH: (0, -1)}
    rng = np.random.default_rng(4)
    for _ in range(100):
        src = tuple(int(v) for v in rng.integers(0, 8, 2))
        dest = tuple(int(v) for v in rng.integers(0, 8, 2))
        at, taken = src, 0
        while (port := noc.route(*at, *dest)) is not Port.LOCAL:
            at = (at[0] + step[port][0], at[1] + step[port][1])
            taken += 1
        assert at == dest and taken == noc.hops(src, dest)


def test_edge_ports_and_packet_sizes() -> None:
    from nfcore.arch import noc

    # The host and DRAM attach to edge ports that have no neighbour at their router.
    assert noc.HOST_ROUTER == (0, 0) and noc.HOST_PORT is noc.Port.NORTH
    assert noc.DRAM_ROUTER == (0, 0) and noc.DRAM_PORT is noc.Port.WEST
    assert noc.flit_bits(8) == 64 and noc.flit_bits(16) == 128
    # 20 bytes on 8 lanes: header + 3 payload words; an empty payload still has one word.
    assert noc.packet_flits(20, 8) == 4 and noc.packet_flits(0, 8) == 2
    # 8,200 bytes = 1,025 words: one full packet of 1,024 payload words, then one of 1.
    assert noc.transfer_packets(8200, 8) == [1025, 2]
    assert noc.transfer_packets(8192, 8) == [1025]
def test_host_is_reached_through_router_0_0_north() -> None:
    assert noc.route(0, 0, *noc.HOST) is Port.NORTH
    assert noc.route(0, 2, *noc.HOST) is Port.NORTH
    assert noc.route(3, 2, *noc.HOST) is Port.WEST
    fields = noc.decode_header(noc.encode_header(to_host=1, length=3))
    assert noc.header_dest(fields) == noc.HOST
    fields = noc.decode_header(noc.encode_header(dest_x=2, dest_y=1, length=3))
    assert noc.header_dest(fields) == (2, 1)


def test_header_latency_counts_routers_on_the_path() -> None:
    hop, eject = noc.ROUTER_HOP_CYCLES, noc.EJECT_CYCLES
    assert noc.header_latency_cycles((1, 1), (1, 1)) == noc.INJECT_CYCLES + eject
    assert noc.header_latency_cycles((0, 0), (3, 2)) == noc.INJECT_CYCLES + 5 * hop + eject
    # The host injects into and ejects from router (0, 0).
    assert noc.header_latency_cycles(noc.HOST, (2, 1)) == noc.INJECT_CYCLES + 3 * hop + eject
    assert noc.header_latency_cycles((0, 0), noc.HOST) == noc.INJECT_CYCLES + eject


def test_flit_holds_the_header() -> None:
    assert noc.flit_bits(16) == 128
    with pytest.raises(ISAError, match="lanes = 4: .* lanes >= 8"):
        noc.flit_bits(4)


def test_dram_is_reached_through_router_0_0_west() -> None:
    """Every router's path to `DRAM` goes west to column 0, north to row 0, then leaves
    router (0, 0) west (never out of another edge)."""
    step = {Port.EAST: (1, 0), Port.WEST: (-1, 0), Port.SOUTH: (0, 1), Port.NORTH: (0, -1)}
    for x in range(4):
        for y in range(3):
            at, hops = (x, y), 0
            while at != noc.DRAM:
                assert at[0] >= 0 and at[1] >= 0, f"left the mesh at {at} from {(x, y)}"
                port = noc.route(*at, *noc.DRAM)
                at = (at[0] + step[port][0], at[1] + step[port][1])
                hops += 1
            assert hops == x + y + 1
    fields = noc.decode_header(noc.encode_header(to_dram=1, length=1, tag=4))
    assert noc.header_dest(fields) == noc.DRAM
    assert noc.attach_router(noc.DRAM) == noc.DRAM_ROUTER == (0, 0)
    assert noc.header_latency_cycles(noc.HOST, noc.DRAM) == \
        noc.INJECT_CYCLES + noc.EJECT_CYCLES


def test_dram_request_fields() -> None:
    word = noc.encode_dram_request(addr=70000, words=1024, dest_x=3, dest_y=255)
    assert word < 1 << noc.HEADER_BITS
    assert noc.decode_dram_request(word) == {"addr": 70000, "words": 1024, "dest_x": 3,
                                             "dest_y": 255, "to_weights": 0, "waddr": 0}
    with pytest.raises(ISAError, match="DRAM request words = 0"):
        noc.encode_dram_request(addr=0, words=0)
    with pytest.raises(ISAError, match="no field 'tag'"):
        noc.encode_dram_request(tag=1)


def test_weight_requests_have_two_payload_words_and_round_trip() -> None:
    fields = {"addr": 5, "words": 7, "dest_x": 1, "dest_y": 2, "to_weights": 1,
              "waddr": 8191}
    words = noc.dram_request_words(**fields)
    assert len(words) == noc.dram_request_flits(True) - 1 == 2
    assert all(0 <= w < 1 << noc.DRAM_REQUEST_WORD_BITS for w in words)
    assert noc.decode_dram_request(words) == fields
    assert len(noc.dram_request_words(addr=5, words=7)) == noc.dram_request_flits(False) - 1
    with pytest.raises(ISAError, match="waddr is set but to_weights is not"):
        noc.encode_dram_request(waddr=3)
    with pytest.raises(ISAError, match="DRAM request waddr = 65536"):
        noc.encode_dram_request(to_weights=1, waddr=1 << 16)


def test_weight_header_keeps_the_routing_fields_and_replaces_src_by_waddr() -> None:
    word = noc.encode_weight_header(dest_x=3, dest_y=1, length=1024, waddr=12345)
    plain = noc.decode_header(word)
    assert plain["to_weights"] == 1 and noc.header_dest(plain) == (3, 1)
    assert plain["length"] == 1024 and plain["tag"] == 0
    assert noc.decode_weight_header(word)["waddr"] == 12345
    assert {f.name for f in noc.WEIGHT_HEADER_FIELDS} == \
        {f.name for f in noc.HEADER_FIELDS} - {"src_x", "src_y"} | {"waddr"}
    with pytest.raises(ISAError, match="weight packet header has no field 'src_x'"):
        noc.encode_weight_header(src_x=1)


def test_page_chunks_split_at_the_packet_length() -> None:
    assert noc.page_chunks(1) == [1]
    assert noc.page_chunks(2500) == [1024, 1024, 452]
    assert noc.page_chunks(10, max_words=4) == [4, 4, 2]
    with pytest.raises(ISAError, match="max_words = 1025"):
        noc.page_chunks(10, max_words=1025)
