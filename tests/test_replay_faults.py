"""shadowtap-replay against a shadow that fails: it resets every
connection, or it answers 10 s late. Either way it costs counters, never
the capture:

- reset: every replayable request of test_replay's capture is recorded
  with outcome "reset", counted in the shadow's outcomes;
- 10 s late, live on lo: a real client sends REQUESTS requests to a local
  primary while the replay watches. The shadow takes them and never
  answers within the run; max_in_flight is 2. Every request is still seen
  and recorded: 2 as timeout, the rest skipped_busy. Nothing was in flight
  past the bound, the kernel dropped nothing, and the run ended on time.

Needs $SHADOWTAP_REPLAY; the live case needs root (capture on lo).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from test_replay import REPLAY, Shadow, build_capture, config_text, live_replay

REQUESTS = 20
LATE_S = 10


class FailingShadow:
    """A TCP server on 127.0.0.1 that resets each connection once a
    request arrives (reset=True), or holds it unanswered for LATE_S."""

    def __init__(self, reset):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reset = reset
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        held = []
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            conn.settimeout(5)
            try:
                conn.recv(65536)
            except OSError:
                pass
            if self.reset:
                # SO_LINGER 0: close() sends RST, not FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00"
                                b"\x00\x00\x00\x00")
                conn.close()
            else:
                held.append(conn)   # answered never: LATE_S outlives the run
        for conn in held:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join()


class ReplayFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_replay_faults_")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_reset(self):
        pcap = os.path.join(self.dir, "in.pcap")
        build_capture(pcap)
        shadow = FailingShadow(reset=True)
        try:
            cfg = self.write("reset.yaml", config_text(shadow.url))
            log, stats = os.path.join(self.dir, "log.jsonl"), os.path.join(self.dir, "s.json")
            proc = subprocess.run([REPLAY, "--config", cfg, "--pcap", pcap, "--fast",
                                   "--log", log, "--stats-file", stats],
                                  capture_output=True, text=True, timeout=60)
        finally:
            shadow.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(log) as f:
            records = [json.loads(line) for line in f]
        with open(stats) as f:
            st = json.load(f)
        replayable = [r for r in records if r["method"] in ("GET", "HEAD")]
        self.assertEqual(len(replayable), 4)
        for r in replayable:
            self.assertEqual((r["outcome"], r["shadow_status"]), ("reset", None), r)
        self.assertEqual(st["shadow"]["outcomes"]["reset"], 4)
        self.assertEqual(st["shadow"]["outcomes"]["answered"], 0)
        self.assertEqual(st["records"]["outcomes"]["reset"], 4)
        self.assertGreaterEqual(shadow.accepted, 1)

    def test_late_shadow_never_stalls_a_live_capture(self):
        if os.geteuid() != 0:
            self.skipTest("live capture needs root (CAP_NET_RAW)")
        primary = Shadow()
        late = FailingShadow(reset=False)
        port = primary.server.server_address[1]
        cfg = self.write("late.yaml", config_text(late.url).replace(
            "ports: [80]", f"ports: [{port}]").replace(
            "timeout_ms: 2000", f"timeout_ms: {LATE_S * 1000}\n  max_in_flight: 2"))
        log, stats = os.path.join(self.dir, "late.jsonl"), os.path.join(self.dir, "late.json")
        duration = 4
        try:
            rc, err = live_replay(["--config", cfg, "--duration", str(duration), "--log", log,
                                   "--stats-file", stats], port,
                                  [f"/api/late?i={i}" for i in range(REQUESTS)],
                                  duration + LATE_S + 30)
        finally:
            primary.close()
            late.close()
        self.assertEqual(rc, 0, err)
        with open(log) as f:
            records = [json.loads(line) for line in f]
        with open(stats) as f:
            st = json.load(f)
        targets = sorted(r["target"] for r in records)
        self.assertEqual(targets, sorted(f"/api/late?i={i}" for i in range(REQUESTS)),
                         "every request seen and recorded")
        outcomes = sorted(r["outcome"] for r in records)
        self.assertEqual(outcomes, ["skipped_busy"] * (REQUESTS - 2) + ["timeout"] * 2)
        for r in records:
            self.assertEqual(r["primary_status"], 200, r)
        self.assertEqual(st["shadow"]["busy"], REQUESTS - 2)
        self.assertEqual(st["capture"]["kernel_dropped"], 0)
        self.assertEqual(st["shadow"]["in_flight"], 0)


if __name__ == "__main__":
    if not os.access(REPLAY, os.X_OK):
        print(f"SKIP: no shadowtap-replay binary at {REPLAY} (set SHADOWTAP_REPLAY)")
        sys.exit(77)
    unittest.main(verbosity=2)
