"""shadowtap-replay's comparison of primary and shadow, end to end on a
capture made here: each primary answer and its time to first byte are known,
a shadow run by the test answers with planted regressions, a secondary (the
primary's version) answers like the primary but for a per-answer id.

- the planted differences are found exactly (route, kind, path), each
  failing route names the threshold it crossed, and 1000 identical
  exchanges give no mismatch;
- the per-answer id is noise: learned from the secondary, or ignored by a
  rule; never a difference;
- quantiles agree with the exact ones of the same samples;
- two replays of the two halves of a capture, merged by shadowtapctl
  compare --from, equal one replay of the whole;
- --gate fails on the regressed shadow and passes on the fixed one;
- masked values (an e-mail address, a token) appear in no output;
- Prometheus: requests by route, version and code class, latency
  histograms by version, agreeing with the JSON.

Needs $SHADOWTAP_REPLAY and $SHADOWTAPCTL; exits 77 when they are missing.
"""

import http.server
import itertools
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from gen_traffic import TcpConnection, TrafficGenerator
from pcaplib import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, write_pcap

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.environ.get("SHADOWTAP_REPLAY",
                        os.path.join(HERE, "..", "build", "shadowtap-replay"))
CTL = os.environ.get("SHADOWTAPCTL", os.path.join(HERE, "..", "build", "shadowtapctl"))

PER_CONNECTION = 10          # exchanges on one kept-alive connection
SLOW_MS = 300                # the regressed shadow's delay on /slow/
# The shadow here is Python's threading server, whose p99 has hiccups of
# up to 100 ms on a loaded machine (seen under ASan with builds running):
# the gate's latency threshold is set past them and well below SLOW_MS.
MIN_P99_DRIFT_MS = 150
SECRETS = ("ann@example.com", "bob@example.com", "tok-primary", "tok-shadow")


def items_body(owner, token, price, rid):
    return {"items": [{"id": 1, "price": price}, {"id": 2, "price": 3}],
            "email": owner, "token": token, "request_id": rid}


def primary_answer(target, n):
    """The primary's answer to TARGET: (status, JSON body)."""
    rid = f"p-{n}"
    if target.startswith("/api/items"):
        return 200, items_body("ann@example.com", "tok-primary", 9.5, rid)
    if target.startswith("/api/cart"):
        return 200, {"cart": [], "request_id": rid}
    return 200, {"path": target, "request_id": rid}


def other_answer(mode, target, rid):
    """How the shadow (mode regressed or fixed) or the secondary (mode
    secondary) answers: like the primary but for the request id, except
    for what is planted in regressed."""
    status, body = primary_answer(target, 0)
    body["request_id"] = rid
    if mode != "regressed":
        return status, body, 0
    if target.startswith("/api/items"):
        return 200, items_body("bob@example.com", "tok-shadow", 9.99, rid), 0
    if target.startswith("/api/cart"):
        return 500, {"error": "boom", "request_id": rid}, 0
    return status, body, SLOW_MS / 1000 if target.startswith("/slow/") else 0


class Server:
    """An HTTP/1.1 server on 127.0.0.1 answering as other_answer(mode)."""

    def __init__(self, mode):
        counter = itertools.count()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                status, body, delay = other_answer(mode, self.path,
                                                   f"{mode}-{next(counter)}")
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def plan():
    """The requests of the capture, in order: (route, target), and the
    primary's time to first byte of each (ms, distinct values so that the
    quantiles are checked on a spread)."""
    targets = [("slow", f"/slow/{i}") for i in range(120)]
    targets += [("api", f"/api/items/{i}") for i in range(150)]
    targets += [("api", f"/api/cart/{i}") for i in range(50)]
    targets += [("same", f"/same/{i}") for i in range(1000)]
    random.Random(5).shuffle(targets)
    rng = random.Random(6)
    return [(route, target, round(0.5 + rng.expovariate(1.0), 3))
            for route, target in targets]


def build_capture(path, requests, first=0):
    """Each PER_CONNECTION requests on one connection, answered by the
    primary after their time; returns nothing, writes PATH."""
    gen = TrafficGenerator(11 + first)
    rng = random.Random(12 + first)
    frames, times, now = [], [], 1_000_000
    for start in range(0, len(requests), PER_CONNECTION):
        conn = TcpConnection(gen.new_path(server_port=80), rng)
        stamps = []

        def send(from_client, flags, payload=b"", after_us=10):
            nonlocal now
            now += after_us
            conn.send(from_client, flags, payload)
            stamps.append(now)

        send(True, TCP_SYN)
        send(False, TCP_SYN | TCP_ACK)
        send(True, TCP_ACK)
        for n, (_, target, ttfb_ms) in enumerate(requests[start:start + PER_CONNECTION],
                                                 first + start):
            send(True, TCP_PSH | TCP_ACK,
                 f"GET {target} HTTP/1.1\r\nHost: shop.test\r\n\r\n".encode())
            status, body = primary_answer(target, n)
            data = json.dumps(body).encode()
            send(False, TCP_PSH | TCP_ACK,
                 (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n").encode() + data,
                 after_us=round(ttfb_ms * 1000))
            send(True, TCP_ACK)
        send(True, TCP_FIN | TCP_ACK)
        send(False, TCP_FIN | TCP_ACK)
        send(True, TCP_ACK)
        frames += [frame for _, frame in conn.events]
        times += stamps
    write_pcap(path, frames, times_us=times)


def config(shadow, secondary=None, rules=""):
    text = f"""routes:
  - name: slow
    match: {{ path: "^/slow/" }}
  - name: api
    match: {{ path: "^/api/" }}
  - name: same
    match: {{ path: "^/same/" }}
http:
  ports: [80]
shadow:
  url: {shadow}
  connections: 16
"""
    if secondary:
        text += f"secondary:\n  url: {secondary}\n  connections: 16\n"
    text += f"compare:\n  gate:\n    min_p99_drift_ms: {MIN_P99_DRIFT_MS}\n"
    if rules:
        text += "  noise:\n" + rules
    return text


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def by_route(doc):
    return {r["name"]: r for r in doc["routes"]}


def kinds_paths(route):
    return {(d["kind"], d["path"]) for d in route["differences"]}


class Compare(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for binary in (REPLAY, CTL):
            if not os.access(binary, os.X_OK):
                print(f"SKIP: {binary} is not built", file=sys.stderr)
                sys.exit(77)
        cls.tmp = tempfile.TemporaryDirectory(prefix="st_compare_")
        cls.requests = plan()
        cls.pcap = os.path.join(cls.tmp.name, "all.pcap")
        build_capture(cls.pcap, cls.requests)
        cls.servers = {m: Server(m) for m in ("regressed", "fixed", "secondary")}
        cls.runs = {}

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers.values():
            s.close()
        cls.tmp.cleanup()

    def replay(self, name, pcap, text, *extra):
        """Run the replay over PCAP; returns its stats document (cached by
        NAME: several tests read the same run)."""
        if name in self.runs:
            return self.runs[name]
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        conf = os.path.join(d, "replay.yaml")
        with open(conf, "w") as f:
            f.write(text)
        stats = os.path.join(d, "stats.json")
        proc = subprocess.run([REPLAY, "--config", conf, "--pcap", pcap, "--fast",
                               "--stats-file", stats, "--log", os.path.join(d, "log.jsonl"),
                               "--report", os.path.join(d, "report.html"), *extra],
                              capture_output=True, text=True, timeout=240)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(stats) as f:
            self.runs[name] = json.load(f)
        self.runs[name]["_dir"] = d
        return self.runs[name]

    def regressed(self):
        return self.replay("regressed", self.pcap,
                           config(self.servers["regressed"].url,
                                  self.servers["secondary"].url))

    def ctl_compare(self, *args):
        return subprocess.run([CTL, "compare", *args], capture_output=True, text=True,
                              timeout=60)

    def test_planted_differences_found_exactly(self):
        doc = self.regressed()["compare"]
        routes = by_route(doc)
        self.assertEqual(set(routes), {"slow", "api", "same"})
        self.assertEqual(kinds_paths(routes["api"]), {
            ("json_value", "$.items[*].price"), ("json_value", "$.email"),
            ("json_value", "$.token"), ("status", "status"),
            ("json_missing", "$.cart"), ("json_extra", "$.error")})
        self.assertEqual(kinds_paths(routes["slow"]), set())
        self.assertEqual(kinds_paths(routes["same"]), set())
        counts = {(d["kind"], d["path"]): d["count"] for d in routes["api"]["differences"]}
        self.assertEqual(counts[("json_value", "$.items[*].price")], 150)
        self.assertEqual(counts[("status", "status")], 50)

        self.assertEqual(doc["verdict"], "fail")
        self.assertEqual(sorted(doc["failed"]), ["api", "slow"])
        reasons = {n: {x["threshold"] for x in r["reasons"]} for n, r in routes.items()}
        self.assertEqual(reasons["slow"], {"max_p99_ratio"})
        self.assertEqual(reasons["api"], {"max_error_rate_delta", "max_mismatch_rate"})
        self.assertEqual(routes["same"]["verdict"], "pass")
        self.assertEqual(routes["api"]["shadow"]["codes"]["5xx"], 50)
        self.assertAlmostEqual(routes["api"]["error_rate_delta"], 50 / 200)

    def test_identical_exchanges_give_no_mismatch(self):
        same = by_route(self.regressed()["compare"])["same"]
        self.assertEqual((same["exchanges"], same["compared"]), (1000, 1000))
        self.assertEqual(same["mismatches"], 0)
        self.assertEqual(same["mismatch_rate"], 0)
        self.assertEqual(same["differences"], [])

    def test_noise_learned_from_the_secondary(self):
        for route in self.regressed()["compare"]["routes"]:
            noise = {(d["kind"], d["path"]) for d in route["noise"]}
            self.assertEqual(noise, {("json_value", "$.request_id")}, route["name"])
            self.assertNotIn("$.request_id", {d["path"] for d in route["differences"]})

    def test_noise_ignored_by_a_rule(self):
        doc = self.replay("rules", self.pcap, config(
            self.servers["regressed"].url,
            rules="    - path: $.request_id\n      ignore: true\n"))["compare"]
        routes = by_route(doc)
        self.assertFalse(doc["secondary"])
        for r in routes.values():
            self.assertEqual(r["noise"], [])
            self.assertNotIn("secondary", r)
        self.assertEqual(routes["same"]["mismatches"], 0)
        self.assertEqual(kinds_paths(routes["same"]), set())
        self.assertEqual(len(kinds_paths(routes["api"])), 6)

    def test_without_noise_handling_the_id_is_a_difference(self):
        """The control: the same run with neither a rule nor a secondary
        reports the id on every answer, so the two tests above could
        fail."""
        doc = self.replay("bare", self.pcap, config(self.servers["fixed"].url))["compare"]
        same = by_route(doc)["same"]
        self.assertEqual(kinds_paths(same), {("json_value", "$.request_id")})
        self.assertEqual(same["mismatches"], 1000)
        self.assertEqual(same["verdict"], "fail")

    def test_quantiles_match_the_exact_ones(self):
        routes = by_route(self.regressed()["compare"])
        for name in ("slow", "api", "same"):
            samples = [ttfb for route, _, ttfb in self.requests if route == name]
            primary = routes[name]["primary"]
            self.assertEqual(primary["histogram"]["count"], len(samples))
            for q, key in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.99, "p99_ms")):
                exact = nearest_rank(samples, q)
                self.assertLessEqual(abs(primary[key] - exact), 0.01 * exact + 0.001,
                                     f"{name} {key}: {primary[key]} against {exact}")
            self.assertAlmostEqual(primary["max_ms"], max(samples), delta=0.001)
        slow = routes["slow"]["shadow"]
        self.assertGreaterEqual(slow["p50_ms"], SLOW_MS * 0.99)   # 1% bucket error

    def test_merged_halves_equal_the_whole(self):
        half = len(self.requests) // 2 // PER_CONNECTION * PER_CONNECTION
        parts = []
        for i, requests in enumerate((self.requests[:half], self.requests[half:])):
            pcap = os.path.join(self.tmp.name, f"half{i}.pcap")
            build_capture(pcap, requests, first=half * i)
            parts.append(self.replay(f"half{i}", pcap, config(
                self.servers["regressed"].url, self.servers["secondary"].url)))
        files = [os.path.join(p["_dir"], "stats.json") for p in parts]
        merged = self.ctl_compare("--json", *[a for f in files for a in ("--from", f)])
        self.assertEqual(merged.returncode, 0, merged.stderr)
        merged = by_route(json.loads(merged.stdout))
        whole = by_route(self.regressed()["compare"])
        self.assertEqual(set(merged), set(whole))
        for name, w in whole.items():
            m = merged[name]
            for key in ("records", "exchanges", "compared", "mismatches"):
                self.assertEqual(m[key], w[key], f"{name} {key}")
            # The primary's times come from the capture: the same samples.
            mh, wh = dict(m["primary"]["histogram"]), dict(w["primary"]["histogram"])
            self.assertAlmostEqual(mh.pop("sum_ms"), wh.pop("sum_ms"), places=6)
            self.assertEqual(mh, wh, name)
            for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
                self.assertEqual(m["primary"][key], w["primary"][key], f"{name} {key}")
            self.assertEqual(m["shadow"]["codes"], w["shadow"]["codes"], name)
            self.assertEqual(m["shadow"]["histogram"]["count"],
                             w["shadow"]["histogram"]["count"], name)
            self.assertEqual({(d["kind"], d["path"], d["count"]) for d in m["differences"]},
                             {(d["kind"], d["path"], d["count"]) for d in w["differences"]})
            self.assertEqual(m["verdict"], w["verdict"], name)

    def test_gate(self):
        stats = os.path.join(self.regressed()["_dir"], "stats.json")
        failing = self.ctl_compare("--from", stats, "--gate")
        self.assertEqual(failing.returncode, 1, failing.stderr)
        self.assertRegex(failing.stdout, r"(?m)^slow .* fail: p99 ")
        self.assertRegex(failing.stdout, r"verdict: fail \((api, slow|slow, api)\)")
        fixed = self.replay("fixed", self.pcap, config(self.servers["fixed"].url,
                                                       self.servers["secondary"].url))
        passing = self.ctl_compare("--from", os.path.join(fixed["_dir"], "stats.json"),
                                   "--gate")
        self.assertEqual(passing.returncode, 0, passing.stdout + passing.stderr +
                         json.dumps(fixed["compare"]["routes"], indent=1)[:3000])
        self.assertEqual(fixed["compare"]["verdict"], "pass")
        self.assertIn("verdict: pass", passing.stdout)

    def test_masked_values_appear_nowhere(self):
        run = self.regressed()
        stats = os.path.join(run["_dir"], "stats.json")
        html = os.path.join(run["_dir"], "from-ctl.html")
        outputs = [self.ctl_compare("--from", stats, *args).stdout
                   for args in ((), ("--json",), ("--route", "api"),
                                ("--html", html))]
        for name in ("stats.json", "log.jsonl", "report.html", "from-ctl.html"):
            with open(os.path.join(run["_dir"], name)) as f:
                outputs.append(f.read())
        samples = [s for d in by_route(run["compare"])["api"]["differences"]
                   for s in d["samples"] if d["path"] in ("$.email", "$.token")]
        self.assertTrue(samples)
        for s in samples:
            self.assertIn("***", s["primary"] + s["other"])
        for text in outputs:
            for secret in SECRETS:
                self.assertNotIn(secret, text)

    def test_bad_from_files(self):
        bad = os.path.join(self.tmp.name, "bad.json")
        for content, message in (("{", "bad.json:1:"), ('{"compare": 3}', "compare"),
                                 ('{"compare": {"routes": []}}', "thresholds"),
                                 ('{"compare": {"thresholds": {"min_exchanges": 1, '
                                  '"max_p99_ratio": 1, "min_p99_drift_ms": 1, '
                                  '"max_error_rate_delta": 0, "max_mismatch_rate": 0}, '
                                  '"secondary": false, "routes": 3}}', "routes")):
            with open(bad, "w") as f:
                f.write(content)
            r = self.ctl_compare("--from", bad)
            self.assertEqual(r.returncode, 2, r.stdout)
            self.assertIn(message, r.stderr)
        r = self.ctl_compare("--from")
        self.assertEqual(r.returncode, 2)
        self.assertIn("compare", r.stderr)

    def test_live_control_and_metrics(self):
        """A replay still running: compare over its socket, the same
        figures in Prometheus; compare_reset starts over."""
        requests = [r for r in self.requests if r[0] != "same"][:100]
        pcap = os.path.join(self.tmp.name, "live.pcap")
        build_capture(pcap, requests)
        d = os.path.join(self.tmp.name, "live")
        os.makedirs(d)
        conf = os.path.join(d, "replay.yaml")
        with open(conf, "w") as f:
            f.write(config(self.servers["regressed"].url))
        sock = os.path.join(d, "replay.sock")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # A twentieth of its pace: the capture's 0.2 s last about 4 s.
        proc = subprocess.Popen([REPLAY, "--config", conf, "--pcap", pcap, "--speed", "0.05",
                                 "--socket", sock, "--metrics", f"127.0.0.1:{port}"],
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            doc = None
            while time.monotonic() < deadline:
                time.sleep(0.5)
                r = subprocess.run([CTL, "-s", sock, "compare", "--json"],
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    doc = json.loads(r.stdout)
                    if sum(x["records"] for x in doc["routes"]) >= 20:
                        break
            self.assertIsNotNone(doc, "no compare over the socket")
            time.sleep(1.2)   # a metrics tick after the document
            doc = json.loads(subprocess.run([CTL, "-s", sock, "compare", "--json"],
                                            capture_output=True, text=True).stdout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as m:
                text = m.read().decode()
            metrics = {}
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    key, value = line.rsplit(" ", 1)
                    metrics[key] = float(value)
            # The metrics are at most a tick older than the document: only
            # check what both have whole, then their shapes.
            api = by_route(doc).get("api")
            self.assertIsNotNone(api)
            name = 'shadowtap_replay_requests_total{route="api",version="shadow",code_class="5xx"}'
            self.assertIn(name, metrics)
            self.assertLessEqual(metrics[name], api["shadow"]["codes"]["5xx"])
            for version in ("primary", "shadow"):
                labels = f'route="api",version="{version}"'
                count = metrics[f"shadowtap_replay_latency_seconds_count{{{labels}}}"]
                self.assertEqual(
                    metrics[f'shadowtap_replay_latency_seconds_bucket{{{labels},le="+Inf"}}'],
                    count)
                buckets = [v for k, v in metrics.items()
                           if k.startswith(f"shadowtap_replay_latency_seconds_bucket{{{labels}")]
                self.assertEqual(buckets, sorted(buckets))
            self.assertNotRegex(text, r"quantile|p99")
            r = subprocess.run([CTL, "-s", sock, "compare", "--reset"], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            after = json.loads(subprocess.run([CTL, "-s", sock, "compare", "--json"],
                                              capture_output=True, text=True).stdout)
            before = sum(x["records"] for x in doc["routes"])
            self.assertLess(sum(x["records"] for x in after["routes"]), before)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
