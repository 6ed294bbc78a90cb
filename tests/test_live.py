"""Tune a running appliance while traffic flows: hundreds of route percent
changes and reloads through the control socket, and afterwards every
original forwarded and the copies following each new percent.

Traffic is replayed in memory for as long as the test runs (net_pcap
infinite_rx). Every flow carries one request for /api/, and all flows are
alike, so once a flow has been seen the share of packets copied is the
share of flows the route selects: 0 at 0%, all at 100%.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from gen_traffic import TcpConnection, TrafficGenerator
from pcaplib import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, write_pcap
from shadowtap_run import shadowtap_binary

FLOWS = 300
CHANGES = 300
RELOAD_EVERY = 25
SETTLE_S = 0.1          # for copies buffered before a change to go out
MEASURE_S = 0.5
# Flow share over 300 alike flows: one standard deviation is <= 2.9 points.
SHARE_TOLERANCE_POINTS = 12

CONFIG = """ports:
  client: net_pcap0
  server: net_null1
mirrors:
  - name: v2
    port: net_null2
routes:
{extra}  - name: api
    match: {{ path: "^/api/" }}
    mirror: v2
    percent: 0
"""
# The second file puts a route first, so "api" changes index on reload.
DECOY = """  - name: decoy
    match: { path: "^/decoy/" }
    mirror: v2
"""


def traffic():
    gen, rng = TrafficGenerator(11), random.Random(11)
    frames = []
    for i in range(FLOWS):
        conn = TcpConnection(gen.new_path(), rng)
        conn.send(True, TCP_SYN)
        conn.send(False, TCP_SYN | TCP_ACK)
        conn.send(True, TCP_ACK)
        conn.send(True, TCP_PSH | TCP_ACK,
                  f"GET /api/{i:04d} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        conn.send(False, TCP_PSH | TCP_ACK, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd")
        conn.send(True, TCP_FIN | TCP_ACK)
        conn.send(False, TCP_FIN | TCP_ACK)
        conn.send(True, TCP_ACK)
        frames += [f for _, f in conn.events]
    return frames


class Control:
    """A client of the control socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def close(self):
        self.file.close()
        self.sock.close()

    def __call__(self, **request):
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        return json.loads(self.file.readline())

    def ok(self, **request):
        reply = self(**request)
        assert reply["ok"], reply
        return reply


class Live(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_live_")
        d = self.tmp.name
        self.config = os.path.join(d, "config.yaml")
        self.write_config(decoy=False)
        pcap = os.path.join(d, "traffic.pcap")
        write_pcap(pcap, traffic())
        self.stats_file = os.path.join(d, "stats.json")
        sock = os.path.join(d, "ctl.sock")
        self.proc = subprocess.Popen(
            [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
             f"--file-prefix=st_live_{os.getpid()}", "--lcores=0@0,1@1",
             "--log-level=lib.eal:error",
             f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1",
             "--vdev=net_null1,no-rx=1", "--vdev=net_null2,no-rx=1", "--",
             "--config", self.config, "--socket", sock, "--stats-file", self.stats_file],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(sock):
            if self.proc.poll() is not None:
                self.fail(f"shadowtap exited: {self.proc.stdout.read()}")
            self.assertLess(time.monotonic(), deadline, "no control socket")
            time.sleep(0.05)
        self.ctl = Control(sock)

    def tearDown(self):
        self.ctl.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()

    def write_config(self, decoy):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(extra=DECOY if decoy else ""))

    def share_copied(self, percent):
        """Set the route's percent; the share of packets copied after it."""
        self.ctl.ok(command="set_route_percent", route="api", percent=percent)
        time.sleep(SETTLE_S)
        before = self.ctl.ok(command="stats")["stats"]
        time.sleep(MEASURE_S)
        after = self.ctl.ok(command="stats")["stats"]
        rx = after["rx_packets"] - before["rx_packets"]
        copied = after["mirrored_packets"] - before["mirrored_packets"]
        self.assertGreater(rx, 0, "traffic stopped")
        self.assertEqual(after["mirror_dropped_packets"], before["mirror_dropped_packets"])
        return copied, rx

    def test_changes_while_traffic_flows(self):
        rng = random.Random(1)
        decoy = False
        for i in range(CHANGES):
            if i % RELOAD_EVERY == RELOAD_EVERY - 1:
                decoy = not decoy
                self.write_config(decoy)
                self.assertEqual(self.ctl.ok(command="reload")["routes"], 2 if decoy else 1)
            else:
                self.ctl.ok(command="set_route_percent", route="api",
                            percent=rng.choice((0, 1, 10, 37.5, 100)))
        # A failed reload changes nothing.
        with open(self.config, "a") as f:
            f.write("  - name: broken\n    match: { path: \"(\" }\n    mirror: v2\n")
        reply = self.ctl(command="reload")
        self.assertFalse(reply["ok"])
        self.assertIn("route 'broken'", reply["error"])
        self.assertEqual([r["name"] for r in self.ctl.ok(command="show")["routes"]],
                         ["decoy", "api"] if decoy else ["api"])

        # Now each new percent shows in what is copied.
        copied, rx = self.share_copied(0)
        self.assertEqual(copied, 0)
        copied, rx = self.share_copied(100)
        # Counted at RX and at TX: a burst or two apart, no more.
        self.assertLessEqual(abs(copied - rx), 256, (copied, rx))
        for percent in (25, 60):
            copied, rx = self.share_copied(percent)
            print(f"api at {percent}%: {100.0 * copied / rx:.1f}% of packets copied",
                  file=sys.stderr)
            self.assertLessEqual(abs(100.0 * copied / rx - percent), SHARE_TOLERANCE_POINTS)
        self.ctl.ok(command="mirror", mirror="v2", enabled=False)
        copied, rx = self.share_copied(100)
        self.assertEqual(copied, 0, "a mirror switched off still got copies")

        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        self.assertEqual(self.proc.returncode, 0, out)
        with open(self.stats_file) as f:
            stats = json.load(f)
        client = stats["ports"]["client"]
        self.assertGreater(client["rx_packets"], 0)
        self.assertEqual(client["rx_packets"], client["forwarded_packets"],
                         "an original was lost")
        self.assertEqual(client["dropped_packets"], 0)
        print(f"{client['rx_packets']} originals forwarded through {CHANGES} changes",
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
