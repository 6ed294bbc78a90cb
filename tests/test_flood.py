"""A flood of new flows through a small flow table: a SYN flood (and a scan
answered by resets) 16 times the table's size, with real HTTP connections
opening and answering slowly in the middle of it. The full table evicts
the flood's entries (closed and half-open ones) and keeps the real
connections' entries, and with them their verdicts: every original is
forwarded byte for byte, every real connection is mirrored whole, and each
one's route still decides its last packets, long after its request.

Everything enters on the client port, so the appliance sees both
directions in the order written here and each mirror's stream is exact:
- "all" (100%) gets every frame, but those of health checks from their
  request on (their route mirrors nothing);
- "api" (0%) gets the api connections' frames from their request on (their
  route mirrors to both).
A real connection whose entry was evicted between its request and its
answer would lose its route: the answer would reach "api" no more, and a
health check's answer would reach "all".
"""

import ipaddress
import random
import shutil
import sys
import tempfile
import unittest

from gen_traffic import Endpoint, Path, TcpConnection, TrafficGenerator
from pcaplib import (TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, flow_key, format_key,
                     group_by_flow)
from shadowtap_run import Mirror, counter_errors, run

SEED = 15
TABLE = 1024
FLOOD = 16 * TABLE      # spoofed SYNs, about one per frame slot
REAL = 48               # real connections, a third of them health checks
# A real connection's answer comes this many frame slots after its
# request: the flood turns the table over one to four times meanwhile.
ANSWER_DELAY = (1500, 4000)
CONFIG = f"""
routes:
  - name: health
    match: {{ path: "^/healthz" }}
    mirror: none
  - name: api
    match: {{ path: "^/api/" }}
    mirror: [all, api]
flow_table:
  size: {TABLE}
"""
MIRRORS = [Mirror("all", 100), Mirror("api", 0)]
FLOOD_SOURCES = ipaddress.ip_network("10.128.0.0/12")
VICTIM = Endpoint(ipaddress.ip_address("10.2.0.1").packed, b"\x02\x00\x00\x00\x0a\x01", 80)


class Event:
    """A frame at a time on the wire; which mirrors must get it."""

    def __init__(self, time, frame, mirrors):
        self.time, self.frame, self.mirrors = time, frame, mirrors


def flood(rng):
    """SYNs from spoofed sources; a third answered by a SYN-ACK (half-open),
    a third by a reset (a closed port: a scan), a third not at all."""
    events = []
    for i in range(FLOOD):
        ip = FLOOD_SOURCES[i + 1].packed
        source = Endpoint(ip, b"\x02\x00" + ip, 1024 + i % 60000)
        path = Path(source, VICTIM)
        seq = rng.getrandbits(32)
        events.append(Event(i, path.tcp(True, seq, 0, TCP_SYN)[1], {"all"}))
        answer = (TCP_SYN | TCP_ACK, TCP_RST | TCP_ACK, None)[i % 3]
        if answer is not None:
            frame = path.tcp(False, rng.getrandbits(32), (seq + 1) & 0xFFFFFFFF, answer)[1]
            events.append(Event(i + rng.uniform(1, 40), frame, {"all"}))
    return events


def real_connection(gen, rng, health, start):
    """The events of a keep-alive connection of one to three requests, each
    answered slowly."""
    conn = TcpConnection(gen.new_path(), rng)
    after = set() if health else {"all", "api"}
    events, time = [], start

    def send(gap, from_client, flags, payload=b"", mirrors=frozenset({"all"})):
        nonlocal time
        time += gap
        conn.send(from_client, flags, payload)
        events.append(Event(time, conn.events[-1][1], set(mirrors)))

    send(0, True, TCP_SYN)
    send(rng.uniform(1, 20), False, TCP_SYN | TCP_ACK)
    send(rng.uniform(1, 20), True, TCP_ACK)
    for k in range(rng.randint(1, 3)):
        target = "/healthz" if health else f"/api/v1/items/{rng.randrange(1000)}"
        request = f"GET {target} HTTP/1.1\r\nHost: api.example.com\r\n\r\n".encode()
        body = b"x" * rng.randrange(100, 1400)   # one segment
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        send(rng.uniform(1, 20) if k == 0 else rng.uniform(300, 2000), True,
             TCP_PSH | TCP_ACK, request, after)
        send(rng.uniform(*ANSWER_DELAY), False, TCP_PSH | TCP_ACK, answer, after)
        send(rng.uniform(1, 20), True, TCP_ACK, mirrors=after)
    send(rng.uniform(1, 200), True, TCP_FIN | TCP_ACK, mirrors=after)
    send(rng.uniform(1, 20), False, TCP_FIN | TCP_ACK, mirrors=after)
    send(rng.uniform(1, 20), True, TCP_ACK, mirrors=after)
    return events


def traffic():
    """(frames in wire order, the frames each mirror must get in that order,
    the api connections' frames per flow)."""
    rng = random.Random(SEED)
    gen = TrafficGenerator(SEED)
    events = flood(rng)
    api_flows = []
    for r in range(REAL):
        conn = real_connection(gen, rng, r % 3 == 0, rng.uniform(0.05, 0.6) * FLOOD)
        events += conn
        if r % 3:
            api_flows.append([e.frame for e in conn])
    events.sort(key=lambda e: e.time)   # stable: a connection keeps its order
    frames = [e.frame for e in events]
    wanted = {m.name: [e.frame for e in events if m.name in e.mirrors] for m in MIRRORS}
    return frames, wanted, api_flows


class Flood(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_flood_")
        cls.frames, cls.wanted, cls.api_flows = traffic()
        cls.result = run(cls.tmp, [cls.frames], [[]], MIRRORS, extra_config=CONFIG,
                         idle_exit_ms=500)
        cls.stats = cls.result.stats
        print(f"{len(cls.frames)} frames; flows created {cls.stats['flows_created']}, "
              f"evicted closed {cls.stats['flows_evicted_closed']}, half-open "
              f"{cls.stats['flows_evicted_half_open']}, lru {cls.stats['flows_evicted_lru']}, "
              f"expired {cls.stats['flows_expired']}", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_every_original_forwarded_byte_for_byte(self):
        self.assertEqual(self.result.server_out[0], self.frames)
        self.assertEqual(self.result.client_out[0], [])
        self.assertEqual(counter_errors(self.result, self.frames, []), [])

    def test_real_connections_mirrored_whole(self):
        shadow = self.result.mirror_frames("all")
        by_flow = group_by_flow(shadow)
        broken = []
        for flow in self.api_flows:
            key = flow_key(flow[0])
            got = [shadow[i] for i in by_flow.get(key, [])]
            if got != flow:
                broken.append(f"{format_key(key)}: {len(got)} of {len(flow)} frames")
        self.assertEqual(broken, [], "real connections not mirrored whole")

    def test_each_mirror_gets_exactly_its_frames(self):
        # The route of every real connection outlived the flood: its answer
        # still went where its request said.
        for m in MIRRORS:
            got = self.result.mirror_frames(m.name)
            self.assertEqual(len(got), len(self.wanted[m.name]), m.name)
            self.assertTrue(got == self.wanted[m.name], f"{m.name}: frames differ")

    def test_evictions_counted(self):
        s = self.stats
        self.assertEqual(s["flow_table_full"], 0, "a new flow found no entry to evict")
        self.assertGreater(s["flows_evicted_closed"], 0, "the scan's resets")
        self.assertGreater(s["flows_evicted_half_open"], 0, "the SYN flood")
        # The flood leaves a closed or half-open entry in every window of
        # samples: no open connection had to go.
        self.assertEqual(s["flows_evicted_lru"], 0)
        evicted = sum(s[f"flows_evicted_{c}"] for c in ("closed", "half_open", "lru"))
        self.assertGreaterEqual(s["flows_created"], FLOOD + REAL)
        # What was created is evicted, expired, or still in the table.
        remaining = s["flows_created"] - evicted - s["flows_expired"]
        self.assertTrue(0 < remaining <= TABLE, remaining)
        worker = s["workers"][0]
        for key in ("flows_evicted_closed", "flows_evicted_half_open", "flows_evicted_lru"):
            self.assertEqual(worker[key], s[key], key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
