#!/usr/bin/env python3
"""shadowtap-replay in the live lab, through the appliance: the shadow
service really serves the mirrored requests.

scripts/lab (prefix tr-) with shadowtap-replay on the shadow host's eth0,
which has no address, replaying to the shadow's nginx on 127.0.0.1. The
appliance mirrors the api route (reads) and the orders route (POST, with
allow_writes) at 100%. Real curl clients send keep-alive connections of
api reads with Authorization and Cookie, a health check in the middle of
some (its route mirrors nothing, so the copy of that connection has a hole
there), and a POST at the end of others.

  1  the replay takes its routes from the appliance's file (orders allows
     writes): the shadow's nginx logs every selected request exactly once,
     in order per connection, marked as a replay, without Authorization or
     Cookie, and no health check
  2  the replay's own routes do not allow writes on orders: the POSTs reach
     the shadow host's capture (the appliance copied them) but not its
     nginx; the replay counts them as skipped_write

Skipped (77) without root, namespaces or the lab's tools. Runs alone (the
lab's CPUs); bounded: two lab ups, one appliance start, a few hundred
requests.
"""

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import test_lab
from test_lab import Appliance, check_prerequisites, log

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "scripts", "lab")
PREFIX = "tr-"
REPLAY = os.environ.get("SHADOWTAP_REPLAY",
                        os.path.join(HERE, "..", "build", "shadowtap-replay"))
CONNECTIONS = 12
POST_EVERY = 3              # connection c ends with a POST when c % 3 == 0
SETTLE_TIMEOUT_S = 30
SECRET_HEADERS = ["Authorization: Bearer s3cret-token", "Cookie: sid=4242"]

ROUTES = """\
routes:
  - name: health
    match: {{ path: "^/healthz" }}
    mirror: none
  - name: orders
    match: {{ {orders_match} }}
    mirror: v2
{orders_writes}  - name: api
    match: {{ methods: [GET, HEAD], path: "^/api/" }}
    mirror: v2
    percent: 100
"""
APPLIANCE = """\
ports:
  client: net_af_packet0
  server: net_af_packet1
mirrors:
  - name: v2
    port: net_af_packet2
""" + ROUTES
OPEN = {"orders_match": 'methods: [POST], path: "^/api/orders"',
        "orders_writes": "    allow_writes: true\n"}
# The replay's own lock: the same route without allow_writes takes reads
# only, so a POST to it is replayed by no route.
LOCKED = {"orders_match": 'path: "^/api/orders"', "orders_writes": ""}


class ReplayLab:
    """scripts/lab tr- with shadowtap-replay in the shadow."""

    def __init__(self):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ST_LAB_")}
        self.env.update(ST_LAB_PREFIX=PREFIX, ST_LAB_REPLAY=REPLAY)
        self.up_once = False

    def up(self, routes_file):
        self.up_once = True
        run = subprocess.run([LAB, "up"], env=dict(self.env, ST_LAB_REPLAY_ROUTES=routes_file),
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise RuntimeError(f"scripts/lab up failed ({run.returncode}):\n"
                               f"{run.stdout}{run.stderr}")
        with open(f"/run/shadowtap-lab/{PREFIX}/env") as f:
            return {name: value.strip("'") for name, value in
                    (line.rstrip("\n").split("=", 1) for line in f
                     if "=" in line and not line.startswith("#"))}

    def down(self):
        if self.up_once:
            subprocess.run([LAB, "down"], env=self.env, capture_output=True, timeout=120)


def connection_requests(c):
    """What connection c asks, in order: (method, path)."""
    reqs = [("GET", f"/api/items?c={c}&r=0"), ("GET", f"/api/items?c={c}&r=1")]
    if c % 2:
        reqs.append(("GET", "/healthz"))
    reqs.append(("GET", f"/api/items?c={c}&r=2"))
    if c % POST_EVERY == 0:
        reqs.append(("POST", f"/api/orders?c={c}"))
    return reqs


def run_connection(lab_vars, c):
    """One keep-alive connection of curl; the status codes it got."""
    cmd = ["ip", "netns", "exec", lab_vars["ST_LAB_CLIENT_NS"], "curl"]
    for i, (method, path) in enumerate(connection_requests(c)):
        if i:
            cmd.append("--next")
        cmd += ["-sS", "--http1.1", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null",
                "-w", "%{http_code} %{num_connects}\\n"]
        for h in SECRET_HEADERS:
            cmd += ["-H", h]
        if method == "POST":
            cmd += ["-X", "POST", "-d", f"order={c}"]
        cmd.append(lab_vars["ST_LAB_URL"] + path)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout.split()


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def replayed_served(lab_vars):
    """The shadow nginx's log lines of replayed requests, in its order."""
    return [e for e in read_lines(lab_vars["ST_LAB_SHADOW_ACCESS_LOG"])
            if e.get("replay_mark") == "1"]


def settle(lab_vars, want_records):
    """Wait until the replay has logged want_records exchanges and both its
    log and the shadow's access log stopped growing."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last, stable = None, 0
    while time.monotonic() < deadline:
        now = (len(read_lines(lab_vars["ST_LAB_REPLAY_LOG"])),
               len(read_lines(lab_vars["ST_LAB_SHADOW_ACCESS_LOG"])))
        stable = stable + 1 if now == last else 0
        last = now
        if now[0] >= want_records and stable >= 3:
            return
        time.sleep(0.3)
    raise AssertionError(f"the replay logged {last[0]} exchanges of {want_records} "
                         f"within {SETTLE_TIMEOUT_S} s")


def phase(lab, workdir, name, routes):
    """Lab up with the replay's routes, the appliance on it, the clients;
    what the replay logged and the shadow's nginx served."""
    appliance_cfg = os.path.join(workdir, "appliance.yaml")
    with open(appliance_cfg, "w") as f:
        f.write(APPLIANCE.format(**OPEN))
    # routes_from takes an appliance file: this one differs from the
    # appliance's own in the orders route only.
    replay_routes = os.path.join(workdir, f"replay-routes-{name}.yaml")
    with open(replay_routes, "w") as f:
        f.write(APPLIANCE.format(**routes))
    lab_vars = lab.up(replay_routes)
    app = Appliance(workdir, lab_vars, appliance_cfg)
    try:
        app.start()
        codes = [run_connection(lab_vars, c) for c in range(CONNECTIONS)]
        want = sum(1 for c in range(CONNECTIONS) for m, p in connection_requests(c)
                   if p != "/healthz")
        settle(lab_vars, want)
        stats = app.ok(command="stats")["stats"]
    finally:
        app.stop()
        # Kept for a failure's post-mortem (the lab's state goes with it).
        for f in ("ST_LAB_REPLAY_LOG", "ST_LAB_SHADOW_ACCESS_LOG", "ST_LAB_SHADOW_PCAP"):
            if os.path.exists(lab_vars[f]):
                shutil.copy(lab_vars[f], os.path.join(
                    workdir, f"{name}-{os.path.basename(lab_vars[f])}"))
    return {"codes": codes, "records": read_lines(lab_vars["ST_LAB_REPLAY_LOG"]),
            "served": replayed_served(lab_vars), "stats": stats,
            "pcap_posts": shadow_capture_posts(lab_vars)}


def shadow_capture_posts(lab_vars):
    """POST requests tshark finds in what the shadow host captured."""
    out = subprocess.run(["tshark", "-r", lab_vars["ST_LAB_SHADOW_PCAP"], "-Y",
                          'http.request.method == "POST"', "-T", "fields",
                          "-e", "http.request.uri"], capture_output=True, text=True)
    return out.stdout.split()


class LabReplayTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="st_lab_replay_")
        cls.lab = ReplayLab()
        try:
            cls.open = phase(cls.lab, cls.workdir, "open", OPEN)
            cls.locked = phase(cls.lab, cls.workdir, "locked", LOCKED)
        finally:
            cls.lab.down()

    def expected_order(self, c, writes):
        return [p for m, p in connection_requests(c)
                if p != "/healthz" and (writes or m != "POST")]

    def check_served_in_order(self, result, writes):
        by_conn = collections.defaultdict(list)
        for e in result["served"]:
            query = dict(kv.split("=") for kv in e["uri"].split("?", 1)[1].split("&")) \
                if "?" in e["uri"] else {}
            self.assertIn("c", query, f"a request no client sent: {e}")
            by_conn[int(query["c"])].append(e["uri"])
        for c in range(CONNECTIONS):
            self.assertEqual(by_conn.get(c, []), self.expected_order(c, writes),
                             f"connection {c}: what the shadow served")

    def test_1_every_selected_request_served_once_in_order(self):
        for rc, got in self.open["codes"]:
            self.assertEqual(rc, 0)
            self.assertTrue(all(code == "200" for code in got[0::2]), got)
        self.check_served_in_order(self.open, writes=True)

    def test_2_sanitised_and_marked(self):
        for e in self.open["served"] + self.locked["served"]:
            self.assertEqual((e["authorization"], e["cookie"]), ("", ""), e)
            self.assertEqual(e["host"], "10.77.0.2", e)
        self.assertNotIn("/healthz", [e["uri"] for e in self.open["served"]])

    def test_3_records_name_routes_and_outcomes(self):
        outcomes = collections.Counter((r["route"], r["method"], r["outcome"])
                                       for r in self.open["records"])
        posts = sum(1 for c in range(CONNECTIONS) if c % POST_EVERY == 0)
        self.assertEqual(outcomes, {("api", "GET", "replayed"): 3 * CONNECTIONS,
                                    ("orders", "POST", "replayed"): posts})
        for r in self.open["records"]:
            self.assertEqual((r["primary_status"], r["shadow_status"]), (200, 200), r)
            self.assertGreaterEqual(r["primary_ms"], 0)
        # The appliance's own counters agree: every api request selected.
        self.assertEqual(self.open["stats"]["routes"]["api"]["requests"], 3 * CONNECTIONS)

    def test_4_the_replays_own_write_lock(self):
        posts = [f"/api/orders?c={c}" for c in range(CONNECTIONS) if c % POST_EVERY == 0]
        self.assertEqual(sorted(self.locked["pcap_posts"]), sorted(posts),
                         "the appliance copies the POSTs to the shadow host")
        self.check_served_in_order(self.locked, writes=False)
        skipped = [r for r in self.locked["records"] if r["method"] == "POST"]
        self.assertEqual(len(skipped), len(posts))
        for r in skipped:
            self.assertEqual((r["route"], r["outcome"], r["shadow_status"]),
                             (None, "skipped_write", None), r)


def main():
    check_prerequisites()
    if not os.access(REPLAY, os.X_OK):
        raise SystemExit(f"FAIL: {REPLAY} is not an executable (set SHADOWTAP_REPLAY)")
    test_lab.PREFIX = PREFIX    # the appliance's --file-prefix
    result = unittest.main(verbosity=2, exit=False).result
    if result.wasSuccessful():
        shutil.rmtree(LabReplayTest.workdir, ignore_errors=True)
    else:
        log(f"FAILED: configs, logs and captures kept in {LabReplayTest.workdir}")
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
