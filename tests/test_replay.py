"""shadowtap-replay end to end: a capture made here (a few HTTP connections:
GET, HEAD, a POST, a PURGE, pipelined requests, a chunked response) read
from a pcap file, replayed to a real shadow (python's http.server on
127.0.0.1), and the program's log, counters, control socket and metrics
checked against what the capture holds:

- --dry-run --log: exactly the expected records, times included;
- a shadow: it gets exactly the GET and HEAD requests, in order within each
  captured connection (the POST only on a route with allow_writes), without
  Authorization and Cookie and with the mark header; records say replayed;
- a shadow port that refuses: outcome refused, counted;
- a bad config exits 1 naming FILE:LINE; a bad pcap exits 2 saying why;
- --stats-file agrees with the log;
- shadowtapctl stats and watch, and GET /metrics, against a running replay.
- a second replay on the running one's --socket is refused, not served.

Needs $SHADOWTAP_REPLAY (and $SHADOWTAPCTL for the control socket); exits 77
when the binary is missing.
"""

import collections
import http.server
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from gen_traffic import TcpConnection, TrafficGenerator
from pcaplib import (ETH_IPV4, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN,
                     ethernet, ipv4, tcp, udp, vlan_tag, write_pcap)

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.environ.get("SHADOWTAP_REPLAY",
                        os.path.join(HERE, "..", "build", "shadowtap-replay"))
CTL = os.environ.get("SHADOWTAPCTL", os.path.join(HERE, "..", "build", "shadowtapctl"))

SECRET_HEADERS = "Authorization: Bearer s3cret\r\nCookie: session=abc\r\n"


def request(method, target, body=b"", extra=""):
    head = (f"{method} {target} HTTP/1.1\r\nHost: api.example.test\r\n{extra}"
            f"User-Agent: replay-test\r\n")
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def response(status, body=b"", chunked=False, length=None):
    reason = {200: "OK", 201: "Created", 404: "Not Found"}[status]
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:3], body[3:]) if c)
        return (f"HTTP/1.1 {status} {reason}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + framed + b"0\r\n\r\n")
    n = len(body) if length is None else length
    return f"HTTP/1.1 {status} {reason}\r\nContent-Length: {n}\r\n\r\n".encode() + body


# Each connection: its exchanges as (request segments, response); a request
# segment may hold several pipelined requests. The expected record of each
# request: (method, target as logged, route without/with allow_writes,
# primary status, outcome without a shadow).
CONNECTIONS = [
    [([request("GET", "/api/items?email=ann@example.com", extra=SECRET_HEADERS)],
      response(200, b"hello")),
     ([request("HEAD", "/api/items", extra=SECRET_HEADERS)], response(200, length=5))],
    [([request("GET", "/api/p1") + request("GET", "/api/p2")],
      response(200, b"chunky body", chunked=True) + response(404))],
    [([request("POST", "/api/orders", b'{"n": 1}')], response(201, b"{}"))],
    [([request("PURGE", "/cache/x")], response(200))],
]
EXPECTED = [
    ("GET", "/api/items?email=***", "api", "api", 200, "dry_run"),
    ("HEAD", "/api/items", "api", "api", 200, "dry_run"),
    ("GET", "/api/p1", "api", "api", 200, "dry_run"),
    ("GET", "/api/p2", "api", "api", 404, "dry_run"),
    ("POST", "/api/orders", None, "orders", 201, "skipped_write"),
    ("PURGE", "/cache/x", None, None, 200, "skipped_method"),
]


def build_capture(path):
    """Write the connections one after another as seen by a mirror (both
    directions in one file); frame i is stamped i us. Returns the frame
    count and, per request, (index of its last frame, index of the first
    frame of its response)."""
    gen = TrafficGenerator(7)
    rng = random.Random(7)
    frames, timing = [], []
    for exchanges in CONNECTIONS:
        conn = TcpConnection(gen.new_path(server_port=80), rng)
        conn.send(True, TCP_SYN)
        conn.send(False, TCP_SYN | TCP_ACK)
        conn.send(True, TCP_ACK)
        for segments, answer in exchanges:
            for seg in segments:
                conn.send(True, TCP_PSH | TCP_ACK, seg)
            sent = len(frames) + len(conn.events) - 1
            conn.send(False, TCP_PSH | TCP_ACK, answer)
            answered = len(frames) + len(conn.events) - 1
            # pipelined requests end in the same frame; so do their answers
            count = sum(s.count(b" HTTP/1.1\r\n") for s in segments)
            timing += [(sent, answered)] * count
            conn.send(True, TCP_ACK)
        conn.send(True, TCP_FIN | TCP_ACK)
        conn.send(False, TCP_FIN | TCP_ACK)
        conn.send(True, TCP_ACK)
        frames += [frame for _, frame in conn.events]
    write_pcap(path, frames)
    return len(frames), timing


def config_text(shadow_url=None, allow_writes=False):
    text = """routes:
  - name: api
    match: { path: "^/api/" }
"""
    if allow_writes:
        text += """  - name: orders
    match: { methods: [POST], path: "^/api/orders" }
    allow_writes: true
"""
    text += "http:\n  ports: [80]\n"
    if shadow_url:
        text += f"shadow:\n  url: {shadow_url}\n  timeout_ms: 2000\n"
    return text


class Shadow:
    """An HTTP/1.1 server on 127.0.0.1 recording what it gets."""

    def __init__(self):
        self.got = []
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
                got.append((self.command, self.path, dict(self.headers.items()), body))
                reply = b"shadow says hi"
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_HEAD = do_POST = do_PURGE = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def live_replay(args, port, paths, timeout):
    """shadowtap-replay ARGS capturing live on lo while GET 127.0.0.1:PORT
    PATH, for each of PATHS, answers 200; its (exit code, stderr)."""
    proc = subprocess.Popen([REPLAY, *args, "--interface", "lo"], stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(1)  # the capture is open well before this
        for path in paths:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                if r.status != 200:
                    raise AssertionError(f"GET {path}: {r.status}")
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339_us(us):
    sec, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:06d}Z"


class Replay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="st_replay_")
        cls.dir = cls.tmp.name
        cls.pcap = os.path.join(cls.dir, "in.pcap")
        cls.nb_frames, cls.timing = build_capture(cls.pcap)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_replay(self, config, *args, timeout=60):
        """Run to the end of the file; returns (process, log records)."""
        cfg = os.path.join(self.dir, "replay.yaml")
        with open(cfg, "w") as f:
            f.write(config)
        log = os.path.join(self.dir, "log.jsonl")
        if os.path.exists(log):
            os.unlink(log)
        proc = subprocess.run([REPLAY, "--config", cfg, "--log", log, *args],
                              capture_output=True, text=True, timeout=timeout)
        records = []
        if os.path.exists(log):
            with open(log) as f:
                records = [json.loads(line) for line in f]
        return proc, records

    def assert_records(self, records, writes, outcomes):
        """Every field as expected. The log is in the order exchanges
        complete (the shadow's answers come when they come); ids are in
        request order."""
        self.assertEqual(len(records), len(EXPECTED), records)
        records = sorted(records, key=lambda r: r["id"])
        self.assertEqual(len({r["id"] for r in records}), len(records), "ids unique")
        conns = [r["conn"] for r in records]
        self.assertEqual(len(set(conns)), len(CONNECTIONS))
        self.assertEqual(conns[0], conns[1])
        self.assertEqual(conns[2], conns[3])
        for r, e, (sent, answered), outcome in zip(records, EXPECTED, self.timing,
                                                   outcomes):
            method, target, route, route_w, status, _ = e
            where = f"{method} {target}: {r}"
            self.assertEqual((r["method"], r["target"], r["host"]),
                             (method, target, "api.example.test"), where)
            self.assertEqual(r["route"], route_w if writes else route, where)
            self.assertEqual(r["primary_status"], status, where)
            self.assertEqual(r["primary_end"], "answered", where)
            # frame i is stamped i us: the wire TTFB is a frame count
            self.assertAlmostEqual(r["primary_ms"], (answered - sent) / 1000, places=6,
                                   msg=where)
            first = sent  # every request here fits one frame
            self.assertEqual(r["ts"], rfc3339_us(first), where)
            self.assertEqual(r["outcome"], outcome, where)

    def test_dry_run(self):
        proc, records = self.run_replay(config_text(), "--pcap", self.pcap, "--dry-run",
                                        "--fast")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_records(records, False, [e[5] for e in EXPECTED])
        for r in records:
            self.assertIsNone(r["shadow_status"])
            self.assertIsNone(r["shadow_ms"])
        self.assertIn(f"{self.nb_frames} packets, 6 exchanges", proc.stderr)

    def replay_to_shadow(self, allow_writes):
        shadow = Shadow()
        try:
            stats = os.path.join(self.dir, "stats.json")
            proc, records = self.run_replay(config_text(shadow.url, allow_writes),
                                            "--pcap", self.pcap, "--fast",
                                            "--stats-file", stats)
        finally:
            shadow.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(stats) as f:
            return records, shadow.got, json.load(f)

    def check_shadow_got(self, got, expected):
        """Exactly @expected (method, path) pairs, in order within each
        captured connection, sanitized and marked."""
        self.assertEqual(collections.Counter((m, p) for m, p, _, _ in got),
                         collections.Counter(expected), got)
        order = [(m, p) for m, p, _, _ in got]
        self.assertLess(order.index(("GET", "/api/items?email=ann@example.com")),
                        order.index(("HEAD", "/api/items")))
        self.assertLess(order.index(("GET", "/api/p1")), order.index(("GET", "/api/p2")))
        for method, path, headers, _ in got:
            names = {k.lower(): v for k, v in headers.items()}
            self.assertNotIn("authorization", names, path)
            self.assertNotIn("cookie", names, path)
            self.assertEqual(names.get("x-shadowtap-replay"), "1", path)
            self.assertEqual(names.get("host"), "api.example.test", path)

    def test_shadow(self):
        records, got, stats = self.replay_to_shadow(False)
        self.check_shadow_got(got, [("GET", "/api/items?email=ann@example.com"),
                                    ("HEAD", "/api/items"), ("GET", "/api/p1"),
                                    ("GET", "/api/p2")])
        outcomes = ["replayed"] * 4 + ["skipped_write", "skipped_method"]
        self.assert_records(records, False, outcomes)
        for r in records:
            replayed = r["outcome"] == "replayed"
            self.assertEqual(r["shadow_status"], 200 if replayed else None, r)
            self.assertEqual(r["shadow_ms"] is not None, replayed, r)
            self.assertGreaterEqual(r["shadow_ms"] or 0, 0, r)
        self.check_stats(stats, records)
        self.assertEqual(stats["shadow"]["outcomes"]["answered"], 4)

    def test_shadow_writes(self):
        records, got, stats = self.replay_to_shadow(True)
        self.check_shadow_got(got, [("GET", "/api/items?email=ann@example.com"),
                                    ("HEAD", "/api/items"), ("GET", "/api/p1"),
                                    ("GET", "/api/p2"), ("POST", "/api/orders")])
        post = [g for g in got if g[0] == "POST"][0]
        self.assertEqual(post[3], b'{"n": 1}')
        self.assert_records(records, True, ["replayed"] * 5 + ["skipped_method"])
        self.check_stats(stats, records)

    def test_refused(self):
        stats_path = os.path.join(self.dir, "stats.json")
        proc, records = self.run_replay(config_text(f"http://127.0.0.1:{free_port()}"),
                                        "--pcap", self.pcap, "--fast",
                                        "--stats-file", stats_path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_records(records, False,
                            ["refused"] * 4 + ["skipped_write", "skipped_method"])
        with open(stats_path) as f:
            stats = json.load(f)
        self.assertEqual(stats["shadow"]["outcomes"]["refused"], 4)
        self.assertEqual(stats["routes"]["api"]["outcomes"]["refused"], 4)
        self.check_stats(stats, records)

    def check_stats(self, stats, records):
        """--stats-file agrees with the log and the capture."""
        self.assertEqual(stats["program"], "shadowtap-replay")
        self.assertEqual(stats["capture"]["packets"], self.nb_frames)
        self.assertEqual(stats["decap"]["ok"], self.nb_frames)
        self.assertEqual(stats["reasm"]["connections"], len(CONNECTIONS))
        self.assertEqual(stats["exchanges"]["requests"], len(EXPECTED))
        self.assertEqual(stats["records"]["total"], len(records))
        by_outcome = collections.Counter(r["outcome"] for r in records)
        self.assertEqual({k: v for k, v in stats["records"]["outcomes"].items() if v},
                         dict(by_outcome))
        by_route = collections.Counter(r["route"] for r in records)
        for name, counters in stats["routes"].items():
            self.assertEqual(counters["exchanges"], by_route[name], name)
        self.assertEqual(stats["unrouted"]["exchanges"], by_route[None])
        self.assertEqual(stats["shadow"]["in_flight"], 0)

    def test_bad_config(self):
        proc, _ = self.run_replay(config_text() + "nonsense_key: 1\n", "--pcap", self.pcap,
                                  "--dry-run")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertRegex(proc.stderr, r"replay\.yaml:\d+: ")
        self.assertIn("nonsense_key", proc.stderr)

    def test_no_shadow(self):
        proc, _ = self.run_replay(config_text(), "--pcap", self.pcap)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("--dry-run", proc.stderr)

    def test_bad_pcap(self):
        bad = os.path.join(self.dir, "bad.pcap")
        with open(bad, "wb") as f:
            f.write(b"this is no capture at all")
        proc, _ = self.run_replay(config_text(), "--pcap", bad, "--dry-run")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(f"--pcap {bad}: ", proc.stderr)
        raw = os.path.join(self.dir, "raw.pcap")
        write_pcap(raw, [b"\x45" + bytes(39)], linktype=101)  # LINKTYPE_RAW
        proc, _ = self.run_replay(config_text(), "--pcap", raw, "--dry-run")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("is not Ethernet", proc.stderr)

    def test_capture_filter(self):
        """The kernel filter built for decap auto and http.ports [80] takes
        TCP on port 80 untagged, under a VLAN tag and under QinQ, and
        nothing else."""
        src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])

        def frame(tags, dport, proto=PROTO_TCP):
            l4 = (tcp(src, dst, 1234, dport, 1, 0, TCP_SYN) if proto == PROTO_TCP
                  else udp(src, dst, 1234, dport, b"x"))
            return ethernet(b"\x02" * 6, b"\x04" * 6, ETH_IPV4, ipv4(src, dst, proto, l4),
                            tags=tags)
        one, two = (vlan_tag(5),), (vlan_tag(5, tpid=0x88A8), vlan_tag(6))
        path = os.path.join(self.dir, "vlan.pcap")
        write_pcap(path, [frame((), 80), frame(one, 80), frame(two, 80),
                          frame((), 22), frame(one, 53, PROTO_UDP), frame(two, 22)])
        stats_path = os.path.join(self.dir, "filter.json")
        proc, _ = self.run_replay(config_text(), "--pcap", path, "--dry-run", "--fast",
                                  "--stats-file", stats_path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(stats_path) as f:
            stats = json.load(f)
        self.assertEqual(stats["capture"]["packets"], 3)
        self.assertEqual(stats["decap"]["ok"], 3)

    def test_live(self):
        """--interface lo with --duration: a real request to a local
        server is captured, logged with its answer, and the run ends by
        itself."""
        if os.geteuid() != 0:
            self.skipTest("live capture needs root (CAP_NET_RAW)")
        server = Shadow()  # here the primary: the replay watches its port
        port = server.server.server_address[1]
        cfg = os.path.join(self.dir, "live.yaml")
        with open(cfg, "w") as f:
            f.write(config_text().replace("ports: [80]", f"ports: [{port}]"))
        log = os.path.join(self.dir, "live.jsonl")
        try:
            rc, err = live_replay(["--config", cfg, "--dry-run", "--duration", "3", "--log",
                                   log], port, ["/api/live?x=1"], 30)
        finally:
            server.close()
        self.assertEqual(rc, 0, err)
        with open(log) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual([(r["method"], r["target"], r["route"], r["primary_status"],
                           r["outcome"]) for r in records],
                         [("GET", "/api/live?x=1", "api", 200, "dry_run")], err)
        self.assertGreaterEqual(records[0]["primary_ms"], 0)

    def test_usage(self):
        proc = subprocess.run([REPLAY, "--help"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("--interface", proc.stdout)
        proc = subprocess.run([REPLAY, "--config", "x.yaml"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("give one of --interface and --pcap", proc.stderr)

    def test_control_and_metrics(self):
        """A slow replay (1 us of capture = 0.1 s) answers the socket and
        /metrics while it runs, and ends on SIGTERM with its counters."""
        if not os.access(CTL, os.X_OK):
            self.skipTest(f"no shadowtapctl at {CTL}")
        cfg = os.path.join(self.dir, "replay.yaml")
        with open(cfg, "w") as f:
            f.write(config_text())
        sock = os.path.join(self.dir, "ctl.sock")
        port = free_port()
        proc = subprocess.Popen([REPLAY, "--config", cfg, "--pcap", self.pcap, "--dry-run",
                                 "--speed", "1e-5", "--socket", sock,
                                 "--metrics", f"127.0.0.1:{port}"],
                                stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            time.sleep(1.2)  # a metrics snapshot is published each second
            # A second replay on the same socket is refused and leaves it
            # to the first, which answers the stats below.
            second = subprocess.run([REPLAY, "--config", cfg, "--pcap", self.pcap,
                                     "--dry-run", "--socket", sock],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(second.returncode, 2, second.stderr)
            self.assertIn(f"--socket {sock}: another process serves it", second.stderr)
            out = subprocess.run([CTL, "-s", sock, "stats"], capture_output=True, text=True,
                                 timeout=10)
            self.assertEqual(out.returncode, 0, out.stderr)
            doc = json.loads(out.stdout)
            self.assertEqual(doc["program"], "shadowtap-replay")
            self.assertGreater(doc["capture"]["packets"], 0)
            self.assertLess(doc["capture"]["packets"], self.nb_frames, "still running")
            watch = subprocess.run([CTL, "-s", sock, "watch", "-n", "1"],
                                   capture_output=True, text=True, timeout=10)
            self.assertEqual(watch.returncode, 0, watch.stderr)
            self.assertIn("shadowtap-replay at", watch.stdout)
            self.assertIn("packets/s", watch.stdout)
            self.assertIn("api", watch.stdout)
            bad = subprocess.run([CTL, "-s", sock, "reload"], capture_output=True, text=True,
                                 timeout=10)
            self.assertEqual(bad.returncode, 1)
            self.assertIn("unknown command 'reload' (version, stats, compare, "
                          "compare_reset)", bad.stderr)
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                          timeout=10).read().decode()
            samples = [line for line in text.splitlines() if not line.startswith("#")]
            self.assertTrue(samples)
            for line in samples:
                self.assertRegex(line, r"^shadowtap_replay_[a-z_]+(\{[^}]*\})? \d+$")
            self.assertRegex(text, r"(?m)^shadowtap_replay_packets_total [1-9]\d*$")
            self.assertIn('shadowtap_replay_records_total{route="api",outcome="dry_run"}',
                          text)
            proc.terminate()
            _, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, err)
            self.assertRegex(err, r"\d+ packets, \d+ exchanges")
            self.assertFalse(os.path.exists(sock), "socket removed at exit")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    if not os.access(REPLAY, os.X_OK):
        print(f"SKIP: no shadowtap-replay binary at {REPLAY} (set SHADOWTAP_REPLAY)")
        sys.exit(77)
    unittest.main(verbosity=2)
