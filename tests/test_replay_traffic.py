"""shadowtap-replay on generated traffic, every exchange's outcome known:
each connection of a small set of wire conditions is written once per way
tx_shadow may wrap a copy, and the replay's dry-run log must hold exactly
the expected exchanges, no more, no fewer.

Wire conditions (one TCP connection each):
  plain         SYN, GET, 200, FIN
  pipelined     three GETs in one segment; 200, a chunked 200 and a 304
                (no body, whatever its Content-Length) in one segment
  gzip          a gzip-encoded, chunked answer
  reordered     the request in three segments sent last first, the answer's
                two segments swapped
  retransmitted every segment of the request twice, an answer segment
                again overlapping the next
  loss          an answer segment never seen: that exchange ends "gap", the
                next request on the connection is still answered
  midstream     no handshake: the copy starts at a request (how shadowtap
                delivers a connection a route selects)
  head          HEAD answered with a Content-Length and no body, then a GET
Wrappings: none, VLAN, QinQ, IPv6, VXLAN, GRE, GRE with a key, ERSPAN II.
A last connection's request arrives in an ERSPAN copy with the T bit (cut):
counted as truncated and never guessed at.

Needs $SHADOWTAP_REPLAY.
"""

import collections
import gzip
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

from gen_traffic import TcpConnection, TrafficGenerator
from pcaplib import (ETH_IPV4, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, ethernet,
                     ipv4, udp, vlan_tag, write_pcap)

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.environ.get("SHADOWTAP_REPLAY",
                        os.path.join(HERE, "..", "build", "shadowtap-replay"))

PROTO_GRE = 47
GRE_TEB, GRE_ERSPAN = 0x6558, 0x88BE
OUTER_SRC, OUTER_DST = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
OUTER_MACS = (bytes.fromhex("020000000b02"), bytes.fromhex("020000000b01"))

CONFIG = """routes:
  - name: t
    match: { path: "^/t/" }
http:
  ports: [80]
"""


def request(method, target):
    return f"{method} {target} HTTP/1.1\r\nHost: t.example\r\n\r\n".encode()


def response(status, body=b"", headers=""):
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def chunked(status, body, headers=""):
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:7], body[7:]))
    return (f"HTTP/1.1 {status} OK\r\n{headers}Transfer-Encoding: chunked\r\n\r\n".encode()
            + framed + b"0\r\n\r\n")


def outer_ipv4(proto, payload):
    return ethernet(OUTER_MACS[0], OUTER_MACS[1], ETH_IPV4,
                    ipv4(OUTER_SRC, OUTER_DST, proto, payload))


def vxlan(frame, seq):
    header = struct.pack("!BxxxI", 0x08, 5001 << 8)
    return outer_ipv4(PROTO_UDP, udp(OUTER_SRC, OUTER_DST, 49152 + seq % 16384, 4789,
                                     header + frame))


def gre(frame, seq, key=None):
    if key is None:
        return outer_ipv4(PROTO_GRE, struct.pack("!HH", 0, GRE_TEB) + frame)
    return outer_ipv4(PROTO_GRE, struct.pack("!HHI", 0x2000, GRE_TEB, key) + frame)


def erspan(frame, seq, cut=False):
    """ERSPAN type II: GRE with a sequence number, then version 1, the
    session and the T bit (the copy was cut)."""
    header = struct.pack("!HHI", 0x1000, GRE_ERSPAN, seq)
    header += struct.pack("!HHI", (1 << 12) | 0, (0x0400 if cut else 0) | 7, 0)
    return outer_ipv4(PROTO_GRE, header + frame)


WRAPS = {
    "none": ({}, None),
    "vlan": ({"tags": (vlan_tag(100),)}, None),
    "qinq": ({"tags": (vlan_tag(200, tpid=0x88A8), vlan_tag(300))}, None),
    "ipv6": ({"ipv6": True}, None),
    "vxlan": ({}, vxlan),
    "gre": ({}, gre),
    "grekey": ({}, lambda f, s: gre(f, s, key=42)),
    "erspan": ({}, erspan),
}


class Conn:
    """One connection's frames in wire order; a scenario may reorder,
    repeat or drop them before they are written."""

    def __init__(self, gen, rng, path_args, handshake=True):
        self.c = TcpConnection(gen.new_path(server_port=80, **path_args), rng)
        self.frames = []
        if handshake:
            self.send(True, TCP_SYN)
            self.send(False, TCP_SYN | TCP_ACK)
            self.send(True, TCP_ACK)

    def send(self, from_client, flags, payload=b""):
        self.c.send(from_client, flags, payload)
        self.frames.append(self.c.events[-1][1])
        return len(self.frames) - 1

    def data(self, from_client, payload):
        return self.send(from_client, TCP_PSH | TCP_ACK, payload)

    def split(self, from_client, payload, parts):
        size = -(-len(payload) // parts)
        return [self.data(from_client, payload[i:i + size])
                for i in range(0, len(payload), size)]

    def close(self):
        self.send(True, TCP_FIN | TCP_ACK)
        self.send(False, TCP_FIN | TCP_ACK)
        self.send(True, TCP_ACK)


GZ_BODY = gzip.compress(b'{"items": [1, 2, 3]}' * 20, mtime=0)


def scenarios(gen, rng, path_args, base):
    """(frames, expected records) of every wire condition, targets under
    base; an expected record is (method, target, primary_status,
    primary_end)."""
    out = []

    def t(name):
        return f"{base}/{name}"

    c = Conn(gen, rng, path_args)
    c.data(True, request("GET", t("plain")))
    c.data(False, response(200, b"plain body"))
    c.close()
    out.append((c.frames, [("GET", t("plain"), 200, "answered")]))

    c = Conn(gen, rng, path_args)
    c.data(True, b"".join(request("GET", t(f"pipe{i}")) for i in range(3)))
    c.data(False, response(200, b"one") + chunked(200, b"two, in chunks")
           + response(304, headers="ETag: \"x\"\r\n").replace(b"Content-Length: 0",
                                                            b"Content-Length: 99"))
    c.close()
    out.append((c.frames, [("GET", t("pipe0"), 200, "answered"),
                           ("GET", t("pipe1"), 200, "answered"),
                           ("GET", t("pipe2"), 304, "answered")]))

    c = Conn(gen, rng, path_args)
    c.data(True, request("GET", t("gzip")))
    c.data(False, chunked(200, GZ_BODY, "Content-Encoding: gzip\r\n"))
    c.close()
    out.append((c.frames, [("GET", t("gzip"), 200, "answered")]))

    c = Conn(gen, rng, path_args)
    req = c.split(True, request("GET", t("reordered")), 3)
    resp = c.split(False, response(200, b"x" * 300), 2)
    c.close()
    frames = list(c.frames)
    frames[req[0]:req[-1] + 1] = [c.frames[i] for i in reversed(req)]
    frames[resp[0]], frames[resp[1]] = c.frames[resp[1]], c.frames[resp[0]]
    out.append((frames, [("GET", t("reordered"), 200, "answered")]))

    c = Conn(gen, rng, path_args)
    req = c.split(True, request("GET", t("retransmitted")), 2)
    resp = c.split(False, response(200, b"y" * 400), 3)
    c.close()
    frames = []
    for i, f in enumerate(c.frames):
        frames.append(f)
        if i in req:
            frames.append(f)                    # the same segment again
        if i == resp[0]:
            frames.append(c.frames[resp[1]])    # overlaps what follows
    out.append((frames, [("GET", t("retransmitted"), 200, "answered")]))

    c = Conn(gen, rng, path_args)
    c.data(True, request("GET", t("loss1")))
    lost = c.split(False, response(200, b"z" * 600), 3)[1]
    c.data(True, request("GET", t("loss2")))
    c.data(False, response(404))
    c.close()
    frames = [f for i, f in enumerate(c.frames) if i != lost]
    out.append((frames, [("GET", t("loss1"), None, "gap"),
                         ("GET", t("loss2"), 404, "answered")]))

    c = Conn(gen, rng, path_args, handshake=False)
    c.data(True, request("GET", t("midstream")))
    c.data(False, response(200, b"mid"))
    c.close()
    out.append((c.frames, [("GET", t("midstream"), 200, "answered")]))

    c = Conn(gen, rng, path_args)
    c.data(True, request("HEAD", t("head")))
    c.data(False, response(200).replace(b"Content-Length: 0", b"Content-Length: 1234"))
    c.data(True, request("GET", t("after-head")))
    c.data(False, response(200, b"after"))
    c.close()
    out.append((c.frames, [("HEAD", t("head"), 200, "answered"),
                           ("GET", t("after-head"), 200, "answered")]))
    return out


def build_capture(path):
    """Every scenario under every wrapping, connection after connection;
    then one whose request came cut. Returns the expected records and the
    number of frames each wrapping carried."""
    gen, rng = TrafficGenerator(11), random.Random(11)
    frames, expected, seq = [], [], 0
    for name, (path_args, wrap) in WRAPS.items():
        path_args = dict(path_args)
        ipv6 = path_args.pop("ipv6", False)
        if ipv6:
            path_args["ipv6"] = True
        for conn_frames, records in scenarios(gen, rng, path_args, f"/t/{name}"):
            for f in conn_frames:
                frames.append(wrap(f, seq) if wrap else f)
                seq += 1
            expected += records
    c = Conn(gen, rng, {})
    cut = c.data(True, request("GET", "/t/erspan/cut"))
    c.data(False, response(200, b"never paired"))
    c.close()
    for i, f in enumerate(c.frames):
        frames.append(erspan(f, seq, cut=(i == cut)))
        seq += 1
    write_pcap(path, frames)
    return expected


class ReplayTraffic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="st_replay_traffic_")
        d = cls.tmp.name
        pcap, cfg = os.path.join(d, "in.pcap"), os.path.join(d, "replay.yaml")
        log, stats = os.path.join(d, "log.jsonl"), os.path.join(d, "stats.json")
        cls.expected = build_capture(pcap)
        with open(cfg, "w") as f:
            f.write(CONFIG)
        cls.proc = subprocess.run([REPLAY, "--config", cfg, "--pcap", pcap, "--dry-run",
                                   "--fast", "--log", log, "--stats-file", stats],
                                  capture_output=True, text=True, timeout=120)
        with open(log) as f:
            cls.records = [json.loads(line) for line in f]
        with open(stats) as f:
            cls.stats = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_exit(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_every_exchange_as_expected(self):
        got = collections.Counter((r["method"], r["target"], r["primary_status"],
                                   r["primary_end"]) for r in self.records)
        want = collections.Counter(self.expected)
        self.assertEqual(got - want, collections.Counter(), "exchanges not expected")
        self.assertEqual(want - got, collections.Counter(), "exchanges missing")

    def test_every_wrapping_seen(self):
        per_wrap = collections.Counter(r["target"].split("/")[2] for r in self.records)
        self.assertEqual(set(per_wrap), set(WRAPS))
        self.assertEqual(len(set(per_wrap.values())), 1, per_wrap)

    def test_records_named_and_dry(self):
        for r in self.records:
            self.assertEqual((r["route"], r["outcome"], r["host"]), ("t", "dry_run", "t.example"),
                             r)

    def test_cut_copy_counted_not_guessed(self):
        self.assertEqual(self.stats["decap"]["truncated"], 1)
        self.assertNotIn("/t/erspan/cut", [r["target"] for r in self.records])
        for result, n in self.stats["decap"].items():
            if result not in ("ok", "truncated"):
                self.assertEqual(n, 0, result)

    def test_routes_from_mirror_none_never_replayed(self):
        """The same capture named by an appliance file whose route mirrors
        nothing: every request counted under it, none replayed."""
        d = self.tmp.name
        appliance = os.path.join(d, "appliance.yaml")
        with open(appliance, "w") as f:
            f.write("ports: { client: 0, server: 1 }\n"
                    "mirrors:\n  - { name: v2, port: 2 }\n"
                    'routes:\n  - { name: t, match: { path: "^/t/" }, mirror: none }\n')
        cfg, log = os.path.join(d, "from.yaml"), os.path.join(d, "from.jsonl")
        with open(cfg, "w") as f:
            f.write("routes_from: appliance.yaml\n"
                    "shadow:\n  url: http://127.0.0.1:9\n")
        proc = subprocess.run([REPLAY, "--config", cfg, "--pcap", os.path.join(d, "in.pcap"),
                               "--fast", "--log", log], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(log) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual(len(records), len(self.expected))
        self.assertEqual({(r["route"], r["outcome"], r["shadow_status"]) for r in records},
                         {("t", "skipped_route", None)})

    def test_wire_conditions_counted(self):
        reasm = self.stats["reasm"]
        self.assertGreater(reasm["bytes_retransmitted"], 0)
        # one lost segment per wrapping, and the cut request's bytes
        self.assertEqual(reasm["gaps"], len(WRAPS) + 1)
        self.assertEqual(self.stats["exchanges"]["ended"]["gap"], len(WRAPS))


if __name__ == "__main__":
    if not os.access(REPLAY, os.X_OK):
        print(f"SKIP: {REPLAY} is not built")
        sys.exit(77)
    unittest.main(verbosity=2)
