"""The appliance's metrics, read the way monitoring reads them, while traffic
flows (net_pcap infinite_rx replays generated client traffic):

- GET /metrics twice: the Prometheus text format parsed strictly, counters
  monotonic, traffic counted; 404 and 405 elsewhere;
- a real Prometheus server (/usr/bin/prometheus) scraping it, and a
  shadowtap-replay comparing a regressed shadow with the primary on a slowed
  capture, every second with scripts/prometheus.yml: both targets are up;
  port, route and histogram queries give data; p99 by version over the
  replay's buckets shows the regressed route's shadow slower; every query
  of scripts/grafana-dashboard.json gives data against its program's
  instance only, and the dashboard's instance variable lists both;
- the DPDK telemetry socket (and dpdk-telemetry.py): /shadowtap/stats,
  /shadowtap/routes, /shadowtap/mirrors.

Exits 77 (skipped) when /usr/bin/prometheus is missing, after running the
rest.
"""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from gen_traffic import generate
from pcaplib import read_pcap_records, write_pcap
from shadowtap_run import eal_runtime_dir, shadowtap_binary
from test_compare import SLOW_MS, Server, build_capture, config, plan

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "scripts")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
DPDK_TELEMETRY = "/usr/bin/dpdk-telemetry.py"
REPLAY = os.environ.get("SHADOWTAP_REPLAY",
                        os.path.join(HERE, "..", "build", "shadowtap-replay"))
START_TIMEOUT_S = 60
PROMETHEUS_TIMEOUT_S = 30
SCRAPE_GAP_S = 0.5
IN_FLIGHT_PACKETS = 1024
# The replay's capture is slowed down to last this long: a bound on the time
# the Prometheus checks may take, not time spent (the replay is stopped when
# they are done).
REPLAY_SPAN_S = 50
RATE_WINDOW = "5s"

CONFIG = """ports:
  client: net_pcap0
  server: net_null1
mirrors:
  - name: v2
    port: net_null2
routes:
  - name: health
    match: { path: "^/healthz" }
    mirror: none
  - name: api
    match: { path: "^/api/" }
    mirror: v2
    percent: 50
  - name: static.files
    match: { path: "^/static/" }
    mirror: v2
"""
ROUTES = ("health", "api", "static.files", "(unrouted)")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL},?)*)\}})? (\S+)$")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, method="GET", timeout=10):
    """(status, headers, body) of one request; HTTP errors are replies too."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.headers, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse_exposition(text):
    """Parse the text format 0.0.4 strictly.

    Returns ({family: type}, {(name, labels tuple): value}). Fails on any
    line that is not a HELP, a TYPE right after its HELP, or a sample of a
    declared family; on a family declared twice or split in two; on a
    series given twice; on a value that is not a number.
    """
    types, samples, help_of = {}, {}, None
    current, finished = None, set()
    assert text.endswith("\n"), "the text must end with a newline"
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and doc, line
            help_of = name
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == help_of, f"TYPE without its HELP: {line}"
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, f"family declared twice: {name}"
            if kind == "counter":
                assert name.endswith("_total"), f"counter not in _total: {name}"
            types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.group(1), match.group(2) or "", match.group(5)
        family = name
        if name not in types:
            family = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES
                           if name.endswith(s) and types.get(name[:-len(s)]) == "histogram"),
                          None)
        assert family in types, f"sample of an undeclared family: {line}"
        if family != current:
            assert family not in finished, f"family {family} split in two"
            if current is not None:
                finished.add(current)
            current = family
        pairs = tuple(re.findall(LABEL, labels))
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == labels, line
        assert len({k for k, _ in pairs}) == len(pairs), f"label twice: {line}"
        key = (name, pairs)
        assert key not in samples, f"series twice: {line}"
        samples[key] = float(value)     # also "+Inf", "NaN"
    return types, samples


def series(samples, name, **labels):
    """Values of the series of @name whose labels include @labels."""
    return [v for (n, pairs), v in samples.items()
            if n == name and all((k, str(val)) in pairs for k, val in labels.items())]


def one(samples, name, **labels):
    values = series(samples, name, **labels)
    assert len(values) == 1, f"{name}{labels}: {values}"
    return values[0]


def check_histograms(types, samples):
    for family, kind in types.items():
        if kind != "histogram":
            continue
        by_series = {}
        for (name, pairs), value in samples.items():
            if name == family + "_bucket":
                rest = tuple(p for p in pairs if p[0] != "le")
                le = dict(pairs)["le"]
                by_series.setdefault(rest, []).append((float(le), value))
        for rest, buckets in by_series.items():
            buckets.sort()
            assert buckets[-1][0] == math.inf, f"{family}{rest}: no +Inf bucket"
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), f"{family}{rest}: not cumulative"
            assert samples[(family + "_count", rest)] == counts[-1]
            assert (family + "_sum", rest) in samples


def telemetry_socket(prefix):
    """Where DPDK puts the telemetry socket of the file prefix, as
    dpdk-telemetry.py looks for it, and the directory it is in."""
    runtime_dir = eal_runtime_dir(prefix)
    return os.path.join(runtime_dir, "dpdk_telemetry.v2"), runtime_dir


def telemetry(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(path)
        hello = json.loads(s.recv(4096))
        s.send(command.encode())
        reply = json.loads(s.recv(hello["max_output_len"]))
    return reply[command.split(",")[0]]


def terminate(proc):
    """SIGTERM, SIGKILL if that takes over 30 s; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Program:
    """A program serving metrics at URL/metrics, its output in a file."""

    def __init__(self, workdir, name, args, url):
        self.url = url
        self.log = open(os.path.join(workdir, name + ".log"), "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     text=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc.poll() is None, f"{name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no metrics endpoint:\n{self.output()}"
            try:
                if http_get(self.url + "/metrics", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """SIGTERM; returns the exit code and the whole output."""
        code = terminate(self.proc)
        output = self.output()
        self.log.close()
        return code, output


class Appliance(Program):
    """shadowtap between a looping net_pcap client port and net_null ports."""

    def __init__(self, workdir):
        self.prefix = f"st_metrics_{os.getpid()}"
        self.port = free_port()
        config_path = os.path.join(workdir, "config.yaml")
        with open(config_path, "w") as f:
            f.write(CONFIG)
        pcap = os.path.join(workdir, "client.pcap")
        write_pcap(pcap, generate(200, 1)[0])
        super().__init__(
            workdir, "shadowtap",
            [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
             f"--file-prefix={self.prefix}", "--lcores=0@0,1@1",
             "--log-level=lib.eal:error",
             f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1",
             "--vdev=net_null1,no-rx=1", "--vdev=net_null2,no-rx=1", "--",
             "--config", config_path, "--socket", os.path.join(workdir, "ctl.sock"),
             "--metrics", f"127.0.0.1:{self.port}"],
            f"http://127.0.0.1:{self.port}")

    def stop(self):
        result = super().stop()
        shutil.rmtree(telemetry_socket(self.prefix)[1], ignore_errors=True)
        return result


class Replay(Program):
    """shadowtap-replay over test_compare's capture, slowed down to last
    REPLAY_SPAN_S, asking its regressed shadow (the route slow SLOW_MS
    slower, 500s on api) and its secondary, both run here."""

    def __init__(self, workdir):
        assert os.access(REPLAY, os.X_OK), f"{REPLAY} is not built (set SHADOWTAP_REPLAY)"
        pcap = os.path.join(workdir, "replay.pcap")
        build_capture(pcap, plan())
        stamps = [ns for ns, _ in read_pcap_records(pcap)[1]]
        speed = (stamps[-1] - stamps[0]) / 1e9 / REPLAY_SPAN_S
        self.servers = [Server("regressed"), Server("secondary")]
        conf = os.path.join(workdir, "replay.yaml")
        with open(conf, "w") as f:
            f.write(config(self.servers[0].url, self.servers[1].url))
        self.instance = f"127.0.0.1:{free_port()}"
        super().__init__(workdir, "shadowtap-replay",
                         [REPLAY, "--config", conf, "--pcap", pcap, "--speed", f"{speed:g}",
                          "--metrics", self.instance],
                         f"http://{self.instance}")

    def stop(self):
        result = super().stop()
        for server in self.servers:
            server.close()
        return result


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="st_metrics_")
        cls.app = Appliance(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        code, output = cls.app.stop()
        cls.tmp.cleanup()
        if code != 0:
            raise AssertionError(f"shadowtap exited with {code}:\n{output}")

    def scrape(self):
        status, headers, body = http_get(self.app.url + "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        return parse_exposition(body)

    def test_scrape(self):
        types, first = self.scrape()
        time.sleep(SCRAPE_GAP_S)
        types2, second = self.scrape()
        self.assertEqual(types, types2)
        check_histograms(types, first)
        check_histograms(types, second)

        # Counters only grow; every series stays.
        for (name, pairs), value in first.items():
            family = name if name in types else name.rsplit("_", 1)[0]
            if types.get(family) == "counter" or types.get(family) == "histogram" \
                    and not name.endswith("_sum"):
                self.assertGreaterEqual(second[(name, pairs)], value, (name, pairs))
        rx = ("shadowtap_port_rx_packets_total", {"side": "client"})
        self.assertGreater(one(second, rx[0], **rx[1]), one(first, rx[0], **rx[1]))

        s = second
        self.assertEqual(one(s, "shadowtap_port_rx_packets_total", side="server"), 0)
        self.assertEqual(one(s, "shadowtap_port_rx_packets_total", side="client",
                             device="net_pcap0", port=0),
                         one(s, "shadowtap_worker_rx_packets_total", lcore=1))
        self.assertEqual(sorted(dict(p)["route"] for n, p in s
                                if n == "shadowtap_route_requests_total"), sorted(ROUTES))
        for route in ("health", "api", "static.files"):
            self.assertGreater(one(s, "shadowtap_route_requests_total", route=route), 0, route)
        self.assertEqual(one(s, "shadowtap_route_flows_selected_total", route="health"), 0)
        self.assertEqual(one(s, "shadowtap_route_mirrored_packets_total", route="health"), 0)
        self.assertGreater(one(s, "shadowtap_route_mirrored_packets_total",
                               route="static.files"), 0)
        self.assertEqual(one(s, "shadowtap_route_percent", route="api"), 50)
        self.assertEqual(one(s, "shadowtap_route_percent", route="static.files"), 100)
        self.assertEqual(series(s, "shadowtap_route_percent", route="(unrouted)"), [])
        # One copy per packet copied, whatever the route: with a single
        # mirror, it got them all, but for the packets of the bursts in
        # flight while the counters were read.
        routed = sum(series(s, "shadowtap_route_mirrored_packets_total"))
        mirrored = one(s, "shadowtap_mirror_packets_total", mirror="v2")
        dropped = sum(series(s, "shadowtap_mirror_dropped_packets_total", mirror="v2"))
        self.assertGreater(mirrored, 0)
        self.assertAlmostEqual(routed, mirrored + dropped, delta=IN_FLIGHT_PACKETS)
        self.assertEqual(len(series(s, "shadowtap_mirror_dropped_packets_total", mirror="v2")), 3)
        self.assertEqual(one(s, "shadowtap_mirror_enabled", mirror="v2"), 1)
        self.assertEqual(one(s, "shadowtap_mirror_percent", mirror="v2"), 0)
        self.assertEqual(one(s, "shadowtap_config_generation"), 0)
        self.assertEqual(one(s, "shadowtap_build_info"), 1)
        self.assertGreater(one(s, "shadowtap_worker_iteration_seconds_count", lcore=1), 0)

    def test_other_paths_and_methods(self):
        self.assertEqual(http_get(self.app.url + "/other")[0], 404)
        self.assertEqual(http_get(self.app.url + "/")[0], 404)
        status, headers, _ = http_get(self.app.url + "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        status, _, body = http_get(self.app.url + "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, ""))

    def test_bound_to_its_address_only(self):
        with socket.socket() as s:
            s.settimeout(5)
            with self.assertRaises(ConnectionRefusedError):
                s.connect(("127.0.0.2", self.app.port))

    def test_promtool_lint(self):
        """promtool's own linter (names, HELP, units) finds nothing."""
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("no promtool")
        body = http_get(self.app.url + "/metrics")[2]
        lint = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                              capture_output=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    @unittest.skipUnless(os.path.exists(PROMETHEUS), f"{PROMETHEUS} is missing")
    def test_prometheus(self):
        replay = Replay(self.tmp.name)
        try:
            self.check_prometheus(replay)
        finally:
            code, output = replay.stop()
        self.assertEqual(code, 0, output)

    def check_prometheus(self, replay):
        with open(os.path.join(SCRIPTS, "prometheus.yml")) as f:
            shipped = f.read()
        instances = {"shadowtap": f"127.0.0.1:{self.app.port}",
                     "shadowtap-replay": replay.instance}
        text = shipped.replace("127.0.0.1:9417", instances["shadowtap"]) \
            .replace("127.0.0.1:9418", instances["shadowtap-replay"]) \
            .replace("scrape_interval: 5s", "scrape_interval: 1s") \
            .replace("scrape_timeout: 4s", "scrape_timeout: 1s")
        for instance in instances.values():
            self.assertIn(f'["{instance}"]', text)
        self.assertIn("scrape_interval: 1s", text)
        path = os.path.join(self.tmp.name, "prometheus.yml")
        with open(path, "w") as f:
            f.write(text)
        port = free_port()
        api = f"http://127.0.0.1:{port}/api/v1/"
        log = open(os.path.join(self.tmp.name, "prometheus.log"), "w+")
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={path}",
             f"--storage.tsdb.path={os.path.join(self.tmp.name, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)

        def get(what, params):
            status, _, body = http_get(api + what + "?" + urllib.parse.urlencode(params))
            reply = json.loads(body)
            self.assertEqual((status, reply["status"]), (200, "success"), (params, reply))
            return reply["data"]

        def query(expr):
            return get("query", {"query": expr})["result"]

        def wait_for(expr, check=lambda v: v > 0):
            deadline = time.monotonic() + PROMETHEUS_TIMEOUT_S
            while True:
                self.assertIsNone(proc.poll(), "prometheus exited")
                try:
                    result = query(expr)
                    values = [float(r["value"][1]) for r in result]
                    if values and all(check(v) for v in values):
                        return result
                except OSError:
                    result = "(not answering yet)"
                if time.monotonic() > deadline:
                    log.seek(0)
                    self.fail(f"{expr}: {result} after {PROMETHEUS_TIMEOUT_S} s\n{log.read()}")
                time.sleep(0.5)

        try:
            wait_for('shadowtap_port_rx_packets_total{side="client"}')
            wait_for("shadowtap_replay_packets_total")
            targets = json.loads(http_get(api + "targets")[2])["data"]["activeTargets"]
            self.assertEqual(sorted((t["labels"]["job"], t["labels"]["instance"], t["health"],
                                     t["lastError"]) for t in targets),
                             [(job, instance, "up", "") for job, instance in instances.items()])
            wait_for('shadowtap_route_requests_total{route="api"}')
            wait_for('shadowtap_route_mirrored_packets_total{route="(unrouted)"}',
                     lambda v: v >= 0)
            wait_for("shadowtap_worker_iteration_seconds_count")
            p99 = wait_for("histogram_quantile(0.99, "
                           f"rate(shadowtap_worker_iteration_seconds_bucket[{RATE_WINDOW}]))",
                           lambda v: 0 < v < math.inf)
            self.assertEqual(p99[0]["metric"], {"instance": instances["shadowtap"],
                                                "job": "shadowtap", "lcore": "1"})
            self.check_replay_latency(wait_for)
            self.check_dashboard(get, wait_for, instances)
        finally:
            terminate(proc)
            log.close()

    def check_replay_latency(self, wait_for):
        """p99 by version over the replay's buckets, the query users write
        for Istio: a number for each version, and the route whose shadow
        answers SLOW_MS late shows it; the primary's time is the wire's."""
        p99 = wait_for("histogram_quantile(0.99, sum by (version, le) (rate("
                       'shadowtap_replay_latency_seconds_bucket{route="slow"}'
                       f"[{RATE_WINDOW}])))", lambda v: 0 < v < math.inf)
        by_version = {r["metric"]["version"]: float(r["value"][1]) for r in p99}
        self.assertEqual(set(by_version), {"primary", "shadow", "secondary"})
        self.assertGreaterEqual(by_version["shadow"], SLOW_MS / 1000, by_version)
        self.assertLess(by_version["primary"], SLOW_MS / 1000, by_version)

    def check_dashboard(self, get, wait_for, instances):
        """Every query of the dashboard gives data (drops may be none) with
        $instance the program it charts, and none with the other one; the
        $instance variable's query lists both programs."""
        with open(os.path.join(SCRIPTS, "grafana-dashboard.json")) as f:
            dashboard = json.load(f)
        self.assertGreaterEqual(dashboard["schemaVersion"], 36)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 10)
        replay_exprs = [e for e in exprs if "shadowtap_replay_" in e]
        self.assertGreaterEqual(len(replay_exprs), 6)
        for expr in exprs:
            charted = "shadowtap-replay" if expr in replay_exprs else "shadowtap"
            other, = set(instances) - {charted}
            expr = expr.replace("$__rate_interval", RATE_WINDOW)
            self.assertNotIn("$", expr.replace("$instance", ""))
            wait_for(expr.replace("$instance", instances[charted]), lambda v: v >= 0)
            self.assertEqual(get("query", {"query": expr.replace("$instance",
                                                                  instances[other])})["result"],
                             [], expr)

        variable, = [v for v in dashboard["templating"]["list"] if v["name"] == "instance"]
        self.assertEqual(variable["definition"], variable["query"]["query"])
        match = re.fullmatch(r"label_values\((.+), *instance\)", variable["definition"])
        self.assertIsNotNone(match, variable["definition"])
        # What Grafana asks Prometheus for label_values(SELECTOR, instance).
        listed = get("label/instance/values", {"match[]": match.group(1)})
        self.assertEqual(sorted(listed), sorted(instances.values()))

    def test_telemetry(self):
        path = telemetry_socket(self.app.prefix)[0]
        stats = telemetry(path, "/shadowtap/stats")
        _, scraped = self.scrape()
        self.assertGreater(stats["rx_packets"], 0)
        self.assertLessEqual(stats["rx_packets"],
                             sum(series(scraped, "shadowtap_port_rx_packets_total")))
        self.assertEqual(stats["client"]["device"], "net_pcap0")
        self.assertEqual(stats["server"]["rx_packets"], 0)
        self.assertEqual(stats["client"]["rx_packets"],
                         stats["client"]["forwarded_packets"] + stats["client"]["dropped_packets"])
        for key in ("malformed_packets", "flows_created", "http_heads_split", "mirrored_packets"):
            self.assertIn(key, stats)
        self.assertEqual(stats["nb_workers"], 1)

        routes = telemetry(path, "/shadowtap/routes")
        self.assertEqual(sorted(routes), ["api", "health", "static_files", "unrouted"])
        self.assertEqual(routes["static_files"]["name"], "static.files")
        self.assertEqual(routes["unrouted"]["name"], "(unrouted)")
        self.assertEqual(routes["api"]["percent"], "50")
        self.assertNotIn("percent", routes["unrouted"])
        self.assertGreater(routes["api"]["requests"], 0)
        self.assertEqual(routes["health"]["mirrored_packets"], 0)
        api = telemetry(path, "/shadowtap/routes,api")
        self.assertEqual(list(api), ["api"])
        self.assertGreaterEqual(api["api"]["requests"], routes["api"]["requests"])

        mirrors = telemetry(path, "/shadowtap/mirrors")
        self.assertEqual(list(mirrors), ["v2"])
        v2 = mirrors["v2"]
        self.assertEqual((v2["name"], v2["enabled"], v2["percent"]), ("v2", 1, "0"))
        self.assertGreater(v2["mirrored_packets"], 0)
        self.assertEqual(v2["mirror_dropped_packets"],
                         v2["ring_full"] + v2["no_mbuf"] + v2["link_down"])

        if os.path.exists(DPDK_TELEMETRY):
            run = subprocess.run([sys.executable, DPDK_TELEMETRY, "-f", self.app.prefix],
                                 input="/shadowtap/stats\n", text=True, capture_output=True,
                                 timeout=30)
            self.assertEqual(run.returncode, 0, run.stderr)
            reply = json.loads(run.stdout.strip().splitlines()[-1])
            self.assertGreaterEqual(reply["/shadowtap/stats"]["rx_packets"],
                                    stats["rx_packets"])


class BadAddress(unittest.TestCase):
    """A --metrics address that cannot be served stops the start, saying why."""

    def start(self, addr):
        with tempfile.TemporaryDirectory(prefix="st_metrics_bad_") as d:
            config = os.path.join(d, "config.yaml")
            with open(config, "w") as f:
                f.write(CONFIG.replace("net_pcap0", "net_null0"))
            run = subprocess.run(
                [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
                 f"--file-prefix=st_metrics_bad_{os.getpid()}", "--lcores=0@0,1@1",
                 "--log-level=lib.eal:error", "--vdev=net_null0,no-rx=1",
                 "--vdev=net_null1,no-rx=1", "--vdev=net_null2,no-rx=1", "--",
                 "--config", config, "--socket", os.path.join(d, "ctl.sock"),
                 "--metrics", addr],
                capture_output=True, text=True, timeout=60)
        shutil.rmtree(telemetry_socket(f"st_metrics_bad_{os.getpid()}")[1], ignore_errors=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertNotIn("forwarding between", run.stdout)
        return run.stdout + run.stderr

    def test_malformed(self):
        self.assertIn("'localhost' is not an IPv4 address", self.start("localhost:9417"))
        self.assertIn("in brackets", self.start("::1:9417"))

    def test_port_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            self.assertIn("Address already in use", self.start(f"127.0.0.1:{port}"))


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    if not os.path.exists(PROMETHEUS):
        print(f"\n*** SKIPPED: {PROMETHEUS} is missing, so nothing checked that a real "
              "Prometheus server reads the metrics. Install the 'prometheus' package "
              "(scripts/install-deps does). ***\n", file=sys.stderr)
        sys.exit(77)
    sys.exit(0)
