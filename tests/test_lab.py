"""shadowtap inline in the network-namespace lab of scripts/lab, end to end.

A real client (curl in namespace tl-client) talks to a real primary (nginx in
tl-server) through the appliance, which drives the three root-side veth ends
with net_af_packet; the shadow host (tl-shadow) records what it gets with
tcpdump. Every connection has a source port chosen here, so the 4-tuple of
each connection, and the requests it carried, are known; the shadow capture
is decoded by tshark and compared connection by connection.

Phases, on one appliance:
  warm-up  one /healthz, to know the wire forwards before anything is measured
  A        api at 0% (set through the socket): no connection reaches the shadow
  B        api at 100% (shadowtapctl): exactly the connections that made a
           GET/HEAD /api/ request, and in each exactly its api requests; health,
           static (0%) and write connections never
  C        api at 50%: some connections but not all, whole, and the route's
           counters agree with the capture
  D        a second config with an `orders` route (POST, allow_writes) before
           `api`, reloaded through the socket: POSTs to /api/orders now reach
           the shadow, PUT and DELETE still do not
Between phases the test waits until the counters and the capture stop moving:
a new percent applies to the next packet of every open flow, so the closing
segments of one phase must have passed before the next percent is set.

Needs root, usable network namespaces, and the lab's tools (scripts/install-
deps installs them); exits 77 (skipped) saying what is missing otherwise.
Environment: SHADOWTAP and SHADOWTAPCTL, the binaries under test (default:
build/). The lab is always taken down, also on failure or SIGTERM; on failure
the work directory (configs, shadowtap's log, the capture, the primary's
access log) is kept and named.
"""

import atexit
import collections
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "scripts", "lab")
PREFIX = "tl-"
LOCK_FILE = f"/run/lock/shadowtap-test-lab-{PREFIX}.lock"
LOCK_WAIT_S = 600           # another run of this test holds the lab
START_TIMEOUT_S = 60        # EAL and ports up, control socket there
STOP_TIMEOUT_S = 30
SETTLE_TIMEOUT_S = 30
SETTLE_POLL_S = 0.2
SETTLE_STABLE_POLLS = 3     # unchanged this many polls in a row: settled
CURL_MAX_TIME_S = 20
CURL_PARALLEL = 6
CONTROL_TIMEOUT_S = 30

# Source ports, one range per phase; nothing else binds them in the client's
# namespace (they are below its ephemeral range).
PORTS = {"warm-up": 21000, "A": 22000, "B": 23000, "C": 24000, "D": 25000}
C_CONNECTIONS = 40
C_PERCENT = 50

CONFIG = """# test_lab.py, config {version}
ports:
  client: net_af_packet0
  server: net_af_packet1
mirrors:
  - name: v2
    port: net_af_packet2
routes:
  - name: health
    match: {{ path: "^/healthz" }}
    mirror: none
{orders}  - name: api
    match: {{ methods: [GET, HEAD], path: "^/api/" }}
    mirror: v2
    percent: 100
  - name: static
    match: {{ path: "^/static/" }}
    mirror: v2
    percent: 0
"""
ORDERS = """  - name: orders
    match: { methods: [POST], path: "^/api/orders" }
    mirror: v2
    allow_writes: true
"""

# The shadowtap binary and client under test.
SHADOWTAP = os.environ.get("SHADOWTAP", os.path.join(HERE, "..", "build", "shadowtap"))
SHADOWTAPCTL = os.environ.get("SHADOWTAPCTL",
                              os.path.join(HERE, "..", "build", "shadowtapctl"))
TOOLS = {"ip": "iproute2", "ethtool": "ethtool", "tcpdump": "tcpdump", "nginx": "nginx",
         "setsid": "util-linux", "timeout": "coreutils", "curl": "curl",
         "tshark": "tshark"}
# Every lab's primary serves its search with it (scripts/lab).
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def log(msg):
    print(msg, flush=True)


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def check_prerequisites():
    """Exit 77 with the reason when this machine cannot run the lab."""
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veths, net_af_packet)")
    missing = [f"{tool} (package {pkg})" for tool, pkg in TOOLS.items()
               if shutil.which(tool) is None]
    if missing:
        skip(f"missing {', '.join(missing)}; scripts/install-deps installs them")
    if not os.path.exists(ECHO_MODULE):
        skip(f"missing {ECHO_MODULE} (package libnginx-mod-http-echo); "
             "scripts/install-deps installs it")
    probe = f"{PREFIX}probe{os.getpid()}"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True) \
        if listed.returncode == 0 else listed
    if made.returncode != 0:
        skip(f"network namespaces are not usable here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    for path in (SHADOWTAP, SHADOWTAPCTL):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"FAIL: {path} is not an executable (set SHADOWTAP / SHADOWTAPCTL)")


# --- the lab -------------------------------------------------------------------------------

class Lab:
    """scripts/lab with our prefix and no nginx in the shadow."""

    def __init__(self):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ST_LAB_")}
        self.env.update(ST_LAB_PREFIX=PREFIX, ST_LAB_SHADOW_NGINX="0")
        self.started = False
        self.vars = {}

    def up(self):
        self.started = True
        run = subprocess.run([LAB, "up"], env=self.env, capture_output=True, text=True,
                             timeout=120)
        if run.returncode != 0:
            raise RuntimeError(f"scripts/lab up failed ({run.returncode}):\n"
                               f"{run.stdout}{run.stderr}")
        state = f"/run/shadowtap-lab/{PREFIX}"
        with open(os.path.join(state, "env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    name, value = line.rstrip("\n").split("=", 1)
                    self.vars[name] = value.strip("'")
        return self.vars

    def down(self):
        if not self.started:
            return
        self.started = False
        run = subprocess.run([LAB, "down"], env=self.env, capture_output=True, text=True,
                             timeout=120)
        if run.returncode != 0:
            print(f"scripts/lab down failed ({run.returncode}):\n{run.stdout}{run.stderr}",
                  file=sys.stderr, flush=True)


def netns_counters(ns):
    """Packets through eth0 of namespace ns: {"rx": n, "tx": n}."""
    out = subprocess.run(["ip", "-j", "-s", "-n", ns, "link", "show", "dev", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    stats = json.loads(out)[0]["stats64"]
    return {"rx": stats["rx"]["packets"], "tx": stats["tx"]["packets"]}


def pcap_frames(path):
    """Complete records in a pcap tcpdump is still writing (0 if none yet)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    if len(data) < 24:
        return 0
    order = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    count, offset = 0, 24
    while offset + 16 <= len(data):
        incl_len = struct.unpack_from(order + "I", data, offset + 8)[0]
        if offset + 16 + incl_len > len(data):
            break
        offset += 16 + incl_len
        count += 1
    return count


# --- the appliance -------------------------------------------------------------------------

def _die_with_parent():
    """In the child: SIGTERM when the test dies, even by SIGKILL, so that no
    appliance is left polling the lab's veths."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


class Appliance:
    def __init__(self, workdir, lab_vars, config):
        self.socket = os.path.join(workdir, "ctl.sock")
        self.stats_file = os.path.join(workdir, "stats.json")
        self.log_path = os.path.join(workdir, "shadowtap.log")
        self.config = config
        self.cmd = [SHADOWTAP, "--no-huge", "--no-pci", "-m", "512", "-l", "0,1",
                    "--file-prefix", f"{PREFIX}{os.getpid()}",
                    "--vdev", lab_vars["ST_LAB_VDEV_CLIENT"],
                    "--vdev", lab_vars["ST_LAB_VDEV_SERVER"],
                    "--vdev", lab_vars["ST_LAB_VDEV_SHADOW"], "--",
                    "--config", config, "--socket", self.socket,
                    "--stats-file", self.stats_file]
        self.proc = None
        self.sock = None
        self.buf = b""

    def start(self):
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shadowtap exited {self.proc.returncode} before its "
                                   f"control socket was there:\n{self.output()}")
            if os.path.exists(self.socket):
                try:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.settimeout(CONTROL_TIMEOUT_S)
                    self.sock.connect(self.socket)
                    return
                except OSError:
                    self.sock.close()
                    self.sock = None
            if time.monotonic() > deadline:
                raise RuntimeError(f"no control socket after {START_TIMEOUT_S} s:\n"
                                   f"{self.output()}")
            time.sleep(0.05)

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return "(no log)"

    def call(self, **request):
        """One request on the control socket; the reply."""
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError(f"control socket closed; request {request}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ok(self, **request):
        reply = self.call(**request)
        if reply.get("ok") is not True:
            raise AssertionError(f"control request {request} refused: {reply}")
        return reply

    def ctl(self, *args):
        """shadowtapctl on our socket; its stdout. It must say ok (exit 0)."""
        run = subprocess.run([SHADOWTAPCTL, "-s", self.socket, *args], capture_output=True,
                             text=True, timeout=CONTROL_TIMEOUT_S)
        if run.returncode != 0:
            raise AssertionError(f"shadowtapctl {' '.join(args)} exited {run.returncode}: "
                                 f"{run.stdout}{run.stderr}")
        return run.stdout

    def stop(self):
        """SIGINT and wait; the exit code (None if it had to be killed)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# --- traffic -------------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    status: str = ""            # what curl got
    size: int = -1
    body: bytes = b""


@dataclass
class Connection:
    phase: str
    port: int
    requests: list
    config: int                 # config version in force: 1, or 2 after the reload
    api_percent: float
    rc: int = -1
    connects: int = -1          # new connections curl opened (must be 1)
    error: str = ""

    def label(self):
        return f"{self.phase}:{self.port} " + ", ".join(f"{r.method} {r.path}"
                                                         for r in self.requests)


def route_of(req, config):
    """The route the config gives a request (first match), or "unrouted"."""
    if req.path.startswith("/healthz"):
        return "health"
    if config == 2 and req.method == "POST" and req.path.startswith("/api/orders"):
        return "orders"
    if req.method in ("GET", "HEAD") and req.path.startswith("/api/"):
        return "api"
    if req.path.startswith("/static/") and req.method in ("GET", "HEAD"):
        return "static"
    return "unrouted"


def selected(req, conn):
    """Whether the request selects its connection for v2; None: sampled (50%)."""
    route = route_of(req, conn.config)
    if route == "orders":
        return True
    if route == "api":
        return {0: False, 100: True}.get(conn.api_percent)
    return False    # health: none; static: 0%; unrouted: default 0%, never writes


class Client:
    def __init__(self, lab_vars, workdir):
        self.ns = lab_vars["ST_LAB_CLIENT_NS"]
        self.url = lab_vars["ST_LAB_URL"]
        self.bodies = os.path.join(workdir, "bodies")
        os.makedirs(self.bodies, exist_ok=True)

    def run(self, conn):
        """All requests of conn on one keep-alive connection from conn.port."""
        cmd = ["ip", "netns", "exec", self.ns, "curl"]
        files = []
        for i, req in enumerate(conn.requests):
            if i:
                cmd.append("--next")
            path = os.path.join(self.bodies, f"{conn.port}-{i}")
            files.append(path)
            cmd += ["-sS", "--http1.1", "--noproxy", "*", "--local-port", str(conn.port),
                    "--max-time", str(CURL_MAX_TIME_S), "-o", path,
                    "-w", "%{http_code} %{num_connects} %{local_port} %{size_download}\\n"]
            if req.method == "HEAD":
                cmd.append("--head")
            elif req.method in ("POST", "PUT"):
                cmd += ["-X", req.method, "-d", f"order={conn.port}-{i}"]
            elif req.method != "GET":
                cmd += ["-X", req.method]
            cmd.append(self.url + req.path)
        run = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=CURL_MAX_TIME_S * len(conn.requests) + 10)
        conn.rc = run.returncode
        conn.error = run.stderr.strip()
        lines = run.stdout.splitlines()
        conn.connects = 0
        for req, line, path in zip(conn.requests, lines, files):
            code, connects, local_port, size = line.split()
            req.status, req.size = code, int(size)
            conn.connects += int(connects)
            if local_port != str(conn.port):
                conn.error += f" local port {local_port} != {conn.port}"
            try:
                with open(path, "rb") as f:
                    req.body = f.read()
            except FileNotFoundError:
                req.body = b""
        if len(lines) != len(conn.requests):
            conn.error += f" {len(lines)} transfers reported for {len(conn.requests)} requests"
        return conn

    def batch(self, conns):
        with ThreadPoolExecutor(CURL_PARALLEL) as pool:
            list(pool.map(self.run, conns))


class Batch:
    """Connections of one phase, each from the next port of its range."""

    def __init__(self, phase, config, api_percent):
        self.phase, self.config, self.api_percent = phase, config, api_percent
        self.next_port = PORTS[phase]
        self.conns = []

    def add(self, *requests):
        conn = Connection(self.phase, self.next_port, [Request(m, p) for m, p in requests],
                          self.config, self.api_percent)
        self.next_port += 1
        self.conns.append(conn)
        return conn


def phase_a():
    b = Batch("A", 1, 0)
    for i in range(8):
        b.add(("GET", f"/api/a/{i}"))
    b.add(("GET", "/api/a/k1"), ("GET", "/api/a/k2"), ("HEAD", "/api/a/k3"))
    b.add(("GET", "/api/a/m1"), ("GET", "/static/1k.bin"), ("GET", "/api/a/m2"))
    b.add(("GET", "/healthz"))
    b.add(("GET", "/static/1k.bin"))
    return b


def phase_b():
    b = Batch("B", 1, 100)
    for i in range(10):
        b.add(("GET", f"/api/b/{i}?q={i}"))
    for i in range(2):
        b.add(("HEAD", f"/api/b/head/{i}"))
    for _ in range(5):
        b.add(("GET", "/healthz"))
    for size in ("1k", "1k", "1k", "64k", "64k"):
        b.add(("GET", f"/static/{size}.bin"))
    for method in ("POST", "POST", "PUT", "PUT", "DELETE", "DELETE"):
        b.add((method, "/api/orders"))
    # Keep-alive: each request re-decides what follows it on the connection.
    b.add(("GET", "/api/b/k/1"), ("GET", "/api/b/k/2"), ("GET", "/api/b/k/3"))
    b.add(("GET", "/api/b/mix/1"), ("GET", "/static/1k.bin"), ("GET", "/api/b/mix/2"))
    b.add(("GET", "/static/64k.bin"), ("GET", "/api/b/after-static"))
    b.add(("GET", "/api/b/before-static"), ("GET", "/static/1k.bin"))
    b.add(("GET", "/healthz"), ("GET", "/api/b/between-health"), ("GET", "/healthz"))
    b.add(("GET", "/api/b/w/1"), ("POST", "/api/orders"), ("GET", "/api/b/w/2"))
    b.add(("GET", "/healthz"), ("GET", "/static/1k.bin"))
    b.add(("POST", "/api/orders"), ("PUT", "/api/orders"), ("DELETE", "/api/orders"))
    return b


def phase_c():
    b = Batch("C", 1, C_PERCENT)
    for i in range(C_CONNECTIONS):
        b.add(("GET", f"/api/c/{i}"))
    return b


def phase_d():
    b = Batch("D", 2, 100)
    for _ in range(4):
        b.add(("POST", "/api/orders"))
    b.add(("POST", "/api/orders"), ("POST", "/api/orders"))
    for method in ("PUT", "PUT", "DELETE", "DELETE"):
        b.add((method, "/api/orders"))
    b.add(("POST", "/api/other"))           # a write no route opts in
    b.add(("POST", "/api/orders"), ("PUT", "/api/orders"))
    b.add(("PUT", "/api/orders"), ("POST", "/api/orders"))
    for i in range(2):
        b.add(("GET", f"/api/d/{i}"))
    b.add(("GET", "/healthz"))
    return b


def expected_body(req, static_files):
    """What the primary (scripts/lab's nginx) answers; static_files: the
    contents of the lab's www/static/ by name."""
    if req.method == "HEAD":
        return b""
    if req.path == "/healthz":
        return b"ok"
    if req.path.startswith("/api/"):
        return b'{"method":"%s"}\n' % req.method.encode()
    return static_files[os.path.basename(req.path)]


# --- the shadow capture --------------------------------------------------------------------

@dataclass
class ShadowFlow:
    frames: int = 0
    requests: list = field(default_factory=list)    # (method, uri) in order
    responses: list = field(default_factory=list)   # status codes
    first_is_request: bool = False
    syn: int = 0
    fin_from_client: int = 0
    fin_from_server: int = 0
    rst: int = 0


def decode_shadow(pcap, client_ip, server_ip, http_port):
    """tshark's view of the capture: ({client port: ShadowFlow}, [problems])."""
    fields = ["frame.number", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport",
              "tcp.flags.syn", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
              "http.request.method", "http.request.uri", "http.response.code"]
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise RuntimeError(f"tshark failed: {run.stderr}")
    flows, problems = collections.defaultdict(ShadowFlow), []
    rows = run.stdout.splitlines()
    for row in rows:
        (num, src, dst, sport, dport, syn, fin, rst, tcp_len,
         methods, uris, codes) = (row.split("\t") + [""] * 12)[:12]
        if not sport:
            problems.append(f"frame {num} is not TCP")
            continue
        if (src, dst, dport) == (client_ip, server_ip, str(http_port)):
            port, from_client = int(sport), True
        elif (src, dst, sport) == (server_ip, client_ip, str(http_port)):
            port, from_client = int(dport), False
        else:
            problems.append(f"frame {num}: {src}:{sport} -> {dst}:{dport} is not lab HTTP")
            continue
        flow = flows[port]
        if flow.frames == 0:
            flow.first_is_request = from_client and bool(methods)
        flow.frames += 1
        if methods:
            flow.requests += list(zip(methods.split("|"), uris.split("|")))
        if codes:
            flow.responses += codes.split("|")
        flow.syn += syn in ("1", "True")
        flow.rst += rst in ("1", "True")
        if fin in ("1", "True"):
            if from_client:
                flow.fin_from_client += 1
            else:
                flow.fin_from_server += 1
    return dict(flows), problems, len(rows)


# --- the scenario --------------------------------------------------------------------------

class Scenario:
    """Runs everything once; the tests then check what it recorded."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="st_lab_")
        self.lab = Lab()
        self.app = None
        self.lock = None
        self.conns = []
        self.snap = {}          # name -> stats document (from the socket)
        self.times = {}
        self.stop_code = None

    def cleanup(self):
        if self.app is not None:
            code = self.app.stop()
            if self.stop_code is None:
                self.stop_code = code
        self.lab.down()
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def take_lock(self):
        os.makedirs(os.path.dirname(LOCK_FILE), exist_ok=True)
        self.lock = open(LOCK_FILE, "w")
        deadline = time.monotonic() + LOCK_WAIT_S
        said = False
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not said:
                    log(f"waiting for another run of test_lab.py ({LOCK_FILE})")
                    said = True
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{LOCK_FILE} still held after {LOCK_WAIT_S} s")
                time.sleep(0.5)

    def write_config(self, version):
        """The file shadowtap reads (and reloads), and a copy kept by version."""
        text = CONFIG.format(version=version, orders=ORDERS if version == 2 else "")
        for path in (self.config, os.path.join(self.workdir, f"config{version}.yaml")):
            with open(path, "w") as f:
                f.write(text)

    def settle(self, name):
        """Wait until the ports' counters and the capture stop moving, and
        the capture holds every copy counted; returns the stats then."""
        start = time.monotonic()
        deadline = start + SETTLE_TIMEOUT_S
        last, stable = None, 0
        while True:
            stats = self.app.ok(command="stats")["stats"]
            frames = pcap_frames(self.pcap)
            now = (stats["ports"]["client"]["rx_packets"],
                   stats["ports"]["server"]["rx_packets"],
                   stats["mirrors"]["v2"]["mirrored_packets"], frames)
            complete = frames == stats["mirrors"]["v2"]["mirrored_packets"]
            stable = stable + 1 if now == last and complete else 0
            last = now
            if stable >= SETTLE_STABLE_POLLS or time.monotonic() > deadline:
                break
            time.sleep(SETTLE_POLL_S)
        self.snap[name] = stats
        self.times[f"settle {name}"] = time.monotonic() - start
        if not complete:
            log(f"settle {name}: after {SETTLE_TIMEOUT_S} s the capture has {frames} frames, "
                f"shadowtap counted {stats['mirrors']['v2']['mirrored_packets']} copies")
        return stats

    def send(self, batch):
        start = time.monotonic()
        self.client.batch(batch.conns)
        self.conns += batch.conns
        n = sum(len(c.requests) for c in batch.conns)
        self.times[f"phase {batch.phase}"] = time.monotonic() - start
        log(f"phase {batch.phase}: {n} requests on {len(batch.conns)} connections "
            f"(api at {batch.api_percent}%, config {batch.config}) "
            f"in {self.times[f'phase {batch.phase}']:.1f} s")

    def run(self):
        t0 = time.monotonic()
        self.take_lock()
        self.vars = self.lab.up()
        self.times["lab up"] = time.monotonic() - t0
        v = self.vars
        self.pcap = v["ST_LAB_SHADOW_PCAP"]
        static_dir = os.path.join(v["ST_LAB_STATE_DIR"], "www", "static")
        self.static_files = {}
        for name in os.listdir(static_dir):
            with open(os.path.join(static_dir, name), "rb") as f:
                self.static_files[name] = f.read()
        self.namespaces = {"client": v["ST_LAB_CLIENT_NS"], "server": v["ST_LAB_SERVER_NS"],
                           "shadow": v["ST_LAB_SHADOW_NS"]}
        self.client = Client(v, self.workdir)
        self.config = os.path.join(self.workdir, "config.yaml")
        self.write_config(1)
        self.ns_before = {k: netns_counters(ns) for k, ns in self.namespaces.items()}

        t = time.monotonic()
        self.app = Appliance(self.workdir, v, self.config)
        self.app.start()
        self.times["shadowtap start"] = time.monotonic() - t
        log(f"shadowtap up in {self.times['shadowtap start']:.1f} s "
            f"(lab up in {self.times['lab up']:.1f} s)")

        warm = Batch("warm-up", 1, 100)
        warm.add(("GET", "/healthz"))
        self.send(warm)
        c = warm.conns[0]
        if c.rc != 0 or c.requests[0].status != "200":
            raise AssertionError(f"the lab does not forward through shadowtap: curl "
                                 f"exit {c.rc} {c.error}, status {c.requests[0].status}")

        self.app.ok(command="set_route_percent", route="api", percent=0)
        self.send(phase_a())
        self.settle("A")

        self.ramp_output = self.app.ctl("set", "route", "api", "percent", "100")
        self.show_after_ramp = self.app.ok(command="show")
        self.send(phase_b())
        self.settle("B")

        self.app.ok(command="set_route_percent", route="api", percent=C_PERCENT)
        self.send(phase_c())
        self.settle("C")

        self.write_config(2)
        self.reload_reply = self.app.call(command="reload")
        self.show_after_reload = self.app.ok(command="show")
        self.send(phase_d())
        self.settle("D")

        self.stop_code = self.app.stop()
        self.times["total"] = time.monotonic() - t0
        self.ns_after = {k: netns_counters(ns) for k, ns in self.namespaces.items()}
        try:
            with open(self.app.stats_file) as f:
                self.final = json.load(f)
        except (OSError, ValueError) as e:
            raise AssertionError(f"no stats file after the stop ({e}); exit "
                                 f"{self.stop_code}:\n{self.app.output()}") from None

        # Keep what the lab's down would remove.
        shutil.copy(self.pcap, os.path.join(self.workdir, "shadow.pcap"))
        shutil.copy(v["ST_LAB_SERVER_ACCESS_LOG"], os.path.join(self.workdir, "access.log"))
        self.pcap_copy = os.path.join(self.workdir, "shadow.pcap")
        self.pcap_count = pcap_frames(self.pcap_copy)
        with open(os.path.join(self.workdir, "access.log")) as f:
            self.access = [json.loads(line) for line in f if line.strip()]
        self.shadow, self.shadow_problems, self.tshark_rows = decode_shadow(
            self.pcap_copy, v["ST_LAB_CLIENT_IP"], v["ST_LAB_SERVER_IP"],
            v["ST_LAB_HTTP_PORT"])


SCENARIO = None


def _on_sigterm(signum, frame):
    # meson's timeout: unwind, so that the appliance stops and the lab goes.
    raise KeyboardInterrupt(f"signal {signum}")


class LabTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        global SCENARIO
        SCENARIO = cls.s = Scenario()
        atexit.register(cls.s.cleanup)
        try:
            cls.s.run()
        finally:
            cls.s.cleanup()

    # helpers

    def conns(self, phase=None):
        return [c for c in self.s.conns if phase is None or c.phase == phase]

    def expected_in_shadow(self, conn):
        """The requests of conn the shadow must decode, in order; None if the
        connection is sampled (50%) and may or may not be there."""
        picks = [selected(r, conn) for r in conn.requests]
        if None in picks:
            return None
        return [(r.method, r.path) for r, p in zip(conn.requests, picks) if p]

    def requests_by_route(self, conns):
        counts = collections.Counter()
        for c in conns:
            for r in c.requests:
                counts[route_of(r, c.config)] += 1
        return counts

    # 1. the primary answers every request

    def test_1_every_request_gets_the_primarys_answer(self):
        failures, requests = [], 0
        bodies = {}
        for c in self.s.conns:
            if c.rc != 0 or c.connects != 1 or c.error:
                failures.append(f"{c.label()}: curl exit {c.rc}, {c.connects} connections, "
                                f"{c.error!r}")
            for r in c.requests:
                requests += 1
                key = (r.method, r.path)
                if key not in bodies:
                    bodies[key] = expected_body(r, self.s.static_files)
                if r.status != "200":
                    failures.append(f"{c.label()}: {r.method} {r.path} got status {r.status!r}")
                elif r.method != "HEAD" and r.body != bodies[key]:
                    failures.append(f"{c.label()}: {r.method} {r.path}: body of {len(r.body)} "
                                    f"bytes is not the primary's {len(bodies[key])}")
                elif r.method == "HEAD" and r.size != 0:
                    failures.append(f"{c.label()}: HEAD got a body of {r.size} bytes")
        log(f"primary: {requests} requests on {len(self.s.conns)} connections, "
            f"{len(failures)} failed")
        self.assertEqual(failures, [])
        # The primary saw each request once, on the connection it was sent on.
        sent = collections.Counter((c.port, r.method, r.path)
                                   for c in self.s.conns for r in c.requests)
        # (scripts/lab's own readiness probe comes from the server itself.)
        client = self.s.vars["ST_LAB_CLIENT_IP"] + ":"
        seen = collections.Counter((int(a["remote"].rsplit(":", 1)[1]), a["method"], a["uri"])
                                   for a in self.s.access if a["remote"].startswith(client))
        self.assertEqual(seen, sent, "the primary's access log differs from what was sent")

    # 2. the shadow holds exactly the selected flows, each as README says

    def test_2_shadow_holds_exactly_the_selected_connections(self):
        s = self.s
        self.assertEqual(s.shadow_problems, [])
        self.assertEqual(s.tshark_rows, s.pcap_count, "tshark and the pcap disagree")
        for c in self.conns():
            want = self.expected_in_shadow(c)
            got = s.shadow.get(c.port)
            with self.subTest(c.label()):
                if want is None:        # sampled: whole or nothing
                    want = ([(r.method, r.path) for r in c.requests]
                            if got is not None else [])
                if not want:
                    self.assertIsNone(got, "a connection no request selects is in the shadow")
                    continue
                self.assertIsNotNone(got, "a selected connection is missing from the shadow")
                # A selected request's segment is copied, an unselected one's
                # is not: the shadow decodes exactly the selected requests.
                self.assertEqual(got.requests, want)
                # Each selected request's response follows it.
                self.assertEqual(got.responses, ["200"] * len(want))
                # Picked up mid-stream: no handshake (the mirror's default is
                # 0%), the first frame is the first selected request.
                self.assertEqual(got.syn, 0, "a SYN in the shadow")
                self.assertTrue(got.first_is_request, "the shadow's copy does not start "
                                "with a request")
                self.assertEqual(got.rst, 0)
                # The close follows the last request's verdict.
                last = selected(c.requests[-1], c)
                if last is None:        # sampled, and here: it was selected
                    last = True
                self.assertEqual((got.fin_from_client, got.fin_from_server),
                                 (1, 1) if last else (0, 0), "FINs in the shadow")
        expected_ports = {c.port for c in self.conns()
                          if self.expected_in_shadow(c) or
                          (self.expected_in_shadow(c) is None and c.port in s.shadow)}
        self.assertEqual(set(s.shadow), expected_ports)
        log(f"shadow: {s.pcap_count} frames of {len(s.shadow)} connections, as expected")

    def test_2b_keep_alive_mix_as_readme_says(self):
        """README 'What a shadow receives': a request's verdict holds for
        what follows on the connection until the next request start."""
        by_path = {c.requests[0].path: c for c in self.conns("B")}
        mix = self.s.shadow[by_path["/api/b/mix/1"].port]
        self.assertEqual(mix.requests, [("GET", "/api/b/mix/1"), ("GET", "/api/b/mix/2")])
        after = self.s.shadow[by_path["/static/64k.bin"].port]
        self.assertEqual(after.requests, [("GET", "/api/b/after-static")])
        # 64 KiB of static response is not there: a handful of frames only.
        self.assertLess(after.frames, 10)
        before = self.s.shadow[by_path["/api/b/before-static"].port]
        self.assertEqual(before.requests, [("GET", "/api/b/before-static")])
        self.assertEqual((before.fin_from_client, before.fin_from_server), (0, 0))

    # 3. a ramp through the control socket

    def test_3_ramp_changes_what_the_shadow_receives(self):
        s = self.s
        a = [c.port for c in self.conns("A") if c.port in s.shadow]
        self.assertEqual(a, [], "api at 0%: connections in the shadow")
        self.assertEqual(s.ramp_output.strip(), "route api: percent 100")
        self.assertEqual({r["name"]: r["percent"] for r in s.show_after_ramp["routes"]},
                         {"health": 100, "api": 100, "static": 0})
        b_api = [c for c in self.conns("B") if self.expected_in_shadow(c)]
        self.assertEqual([c.label() for c in b_api if c.port not in s.shadow], [])
        c_in = [c for c in self.conns("C") if c.port in s.shadow]
        log(f"api at {C_PERCENT}%: {len(c_in)} of {C_CONNECTIONS} connections shadowed")
        self.assertGreater(len(c_in), 0)
        self.assertLess(len(c_in), C_CONNECTIONS)
        # The counters agree with the capture, phase by phase.
        before, after = s.snap["B"], s.snap["C"]
        api = {k: after["routes"]["api"][k] - before["routes"]["api"][k]
               for k in ("requests", "flows_selected", "mirrored_packets")}
        self.assertEqual(api["requests"], C_CONNECTIONS)
        self.assertEqual(api["flows_selected"], len(c_in))
        self.assertEqual(api["mirrored_packets"], sum(s.shadow[c.port].frames for c in c_in))
        self.assertEqual(after["mirrors"]["v2"]["mirrored_flows"]
                         - before["mirrors"]["v2"]["mirrored_flows"], len(c_in))

    # 4. writes only when opted in

    def test_4_writes_only_when_a_route_opts_in(self):
        s = self.s
        for c in self.conns():
            writes = [r for r in c.requests if r.method in ("POST", "PUT", "DELETE")]
            got = s.shadow.get(c.port)
            decoded = got.requests if got else []
            with self.subTest(c.label()):
                for r in writes:
                    want = c.config == 2 and r.method == "POST" and r.path == "/api/orders"
                    self.assertEqual(decoded.count((r.method, r.path)) > 0, want,
                                     f"{r.method} {r.path} in the shadow")
        reply = s.reload_reply
        self.assertEqual(reply, {"ok": True, "routes": 4})
        self.assertEqual([r["name"] for r in s.show_after_reload["routes"]],
                         ["health", "orders", "api", "static"])
        posts = [c for c in self.conns("D")
                 if (c.requests[0].method, c.requests[0].path) == ("POST", "/api/orders")]
        self.assertTrue(posts and all(c.port in s.shadow for c in posts))

    # 5. counters

    def test_5_counters(self):
        s, final = self.s, self.s.final
        self.assertEqual(s.stop_code, 0, f"shadowtap's exit on SIGINT:\n{s.app.output()}")
        for side in ("client", "server"):
            port = final["ports"][side]
            with self.subTest(side):
                self.assertGreater(port["rx_packets"], 0)
                self.assertEqual(port["forwarded_packets"], port["rx_packets"])
                self.assertEqual(port["dropped_packets"], 0)
        self.assertEqual(final["dropped_packets"], 0)
        self.assertEqual(final["forwarded_packets"], final["rx_packets"])
        v2 = final["mirrors"]["v2"]
        self.assertEqual(final["mirror_dropped_packets"], 0)
        self.assertEqual(v2["mirror_dropped_packets"], 0)
        self.assertEqual(v2["dropped_by_cause"], {"ring_full": 0, "no_mbuf": 0, "link_down": 0})
        self.assertEqual(v2["mirrored_packets"], s.pcap_count,
                         "copies counted != frames the shadow captured")
        self.assertEqual(v2["mirrored_flows"], len(s.shadow))
        for key in ("malformed_packets", "flow_table_full", "http_heads_partial",
                    "http_hold_failed"):
            self.assertEqual(final[key], 0, key)
        # Every copy is counted for some route (or unrouted).
        routes = list(final["routes"].values()) + [final["unrouted"]]
        self.assertEqual(sum(r["mirrored_packets"] for r in routes), v2["mirrored_packets"])
        self.assertEqual(sum(r["requests"] for r in routes),
                         sum(len(c.requests) for c in s.conns))
        # After the reload: `health` kept its place and `unrouted` is no
        # route's, so their counts go on (the others: test_5c).
        d = self.requests_by_route(self.conns("D"))
        before = s.snap["C"]
        self.assertEqual(final["routes"]["health"]["requests"],
                         before["routes"]["health"]["requests"] + d["health"])
        self.assertEqual(final["unrouted"]["requests"],
                         before["unrouted"]["requests"] + d["unrouted"])

        # What the namespaces' kernels sent and got agrees with shadowtap.
        d = {k: {d: s.ns_after[k][d] - s.ns_before[k][d] for d in ("rx", "tx")}
             for k in s.ns_after}
        log(f"eth0 packets: client tx {d['client']['tx']} rx {d['client']['rx']}, "
            f"server tx {d['server']['tx']} rx {d['server']['rx']}, "
            f"shadow rx {d['shadow']['rx']}")
        self.assertEqual(final["ports"]["client"]["rx_packets"], d["client"]["tx"])
        self.assertEqual(final["ports"]["client"]["forwarded_packets"], d["server"]["rx"])
        self.assertEqual(final["ports"]["server"]["rx_packets"], d["server"]["tx"])
        self.assertEqual(final["ports"]["server"]["forwarded_packets"], d["client"]["rx"])
        self.assertEqual(v2["mirrored_packets"], d["shadow"]["rx"])

    def test_5b_route_counters_before_the_reload(self):
        """Every request counted for its route, and the api route's copies
        are exactly the shadow's frames of config 1's connections."""
        s = self.s
        snap = s.snap["C"]      # config 1, settled, just before the reload
        v1 = [c for c in s.conns if c.config == 1]
        want = self.requests_by_route(v1)
        got = {name: snap["routes"][name]["requests"] for name in ("health", "api", "static")}
        got["unrouted"] = snap["unrouted"]["requests"]
        self.assertEqual(got, {k: want.get(k, 0) for k in got})
        log(f"requests per route before the reload: {got}")
        shadowed = [c for c in v1 if c.port in s.shadow]
        self.assertEqual(snap["routes"]["api"]["mirrored_packets"],
                         sum(s.shadow[c.port].frames for c in shadowed))
        for name in ("health", "static"):
            self.assertEqual(snap["routes"][name]["mirrored_packets"], 0, name)
            self.assertEqual(snap["routes"][name]["flows_selected"], 0, name)
        self.assertEqual(snap["unrouted"]["mirrored_packets"], 0)
        self.assertEqual(snap["mirrors"]["v2"]["mirrored_flows"], len(shadowed))
        # flows_selected counts each run of api requests that selects a
        # connection (a static request in between ends a run).
        runs = 0
        for c in shadowed:
            prev = False
            for r in c.requests:
                pick = route_of(r, 1) == "api"
                runs += pick and not prev
                prev = pick
        self.assertEqual(snap["routes"]["api"]["flows_selected"], runs)

    # A reload that inserts `orders` before `api` once showed api's earlier
    # counts under `orders` and static's under `api`: counters followed the
    # route's position, not its name.
    def test_5c_route_counters_keep_their_names_across_a_reload(self):
        s = self.s
        before = s.snap["C"]
        d = self.requests_by_route(self.conns("D"))
        got = {name: s.final["routes"][name]["requests"] for name in s.final["routes"]}
        want = {name: before["routes"].get(name, {"requests": 0})["requests"] + d.get(name, 0)
                for name in got}
        self.assertEqual(got, want)


def main():
    check_prerequisites()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = unittest.main(verbosity=2, exit=False).result
    except KeyboardInterrupt as e:
        # The scenario's finally (and atexit) stopped shadowtap, took the lab down.
        s = SCENARIO
        print(f"INTERRUPTED ({e}); shadowtap stopped, lab down"
              + (f"; work directory kept: {s.workdir}" if s else ""), flush=True)
        sys.exit(1)
    s = SCENARIO
    if s is not None:
        for name, secs in s.times.items():
            log(f"time {name}: {secs:.1f} s")
    ok = result.wasSuccessful()
    if s is not None:
        if ok:
            shutil.rmtree(s.workdir, ignore_errors=True)
        else:
            if s.app is not None:
                print(f"--- shadowtap's output ---\n{s.app.output()}", flush=True)
            print(f"FAILED: configs, log, capture and access log kept in {s.workdir}",
                  flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
