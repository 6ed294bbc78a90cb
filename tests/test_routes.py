"""HTTP routes decide which flows are mirrored: keep-alive, pipelining,
request heads split over segments, routes mixed in one connection, opt-in
headers, health checks and writes, on traffic generated here with the
expected verdict of every request written down by hand.

The traffic is fed into the client port alone, so the appliance sees the
packets of both directions in exactly the order written here, and the
expected shadow stream of every flow is exact.
"""

import random
import shutil
import sys
import tempfile
import unittest
from dataclasses import dataclass, field

from gen_traffic import TcpConnection, TrafficGenerator
from pcaplib import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, check_flow_union, flow_key, group_by_flow
from shadowtap_run import Mirror, counter_errors, run

ROUTES = r"""
routes:
  - name: health
    match: { path: "^/(healthz|readyz)" }
    mirror: none
  - name: payments-optin
    match: { path: "^/payments", header: { x-rollout: "^shadow$" } }
    mirror: v2
  - name: orders
    match: { methods: [POST, PUT], path: "^/orders" }
    mirror: v2
    allow_writes: true
  - name: api
    match: { methods: [GET, HEAD], host: '^api\.example\.com$', path: "^/api/" }
    mirror: v2
    percent: {api_percent}
"""
SAMPLED_PERCENT = 30
SAMPLED_FLOWS = 600
SHARE_TOLERANCE_POINTS = 5.5  # ~3 standard deviations at 600 flows


@dataclass
class Request:
    head: str
    selected: bool              # what the routes above must decide
    body: bytes = b""
    segments: tuple = ()        # split the head at these offsets
    response_size: int = 300


@dataclass
class Flow:
    """One connection; frames carry the index of the request whose verdict
    they follow (-1: before the first request)."""
    events: list = field(default_factory=list)   # (frame, request index)
    requests: list = field(default_factory=list)

    @property
    def verdicts(self):
        return [r.selected for r in self.requests]

    def expected(self, before_first_request=False):
        """Frames the shadow must get; before_first_request: whether the
        mirror's default percent takes the handshake."""
        return [f for f, epoch in self.events
                if self._mirrored(epoch, before_first_request)]

    def _mirrored(self, epoch, before_first_request):
        if isinstance(epoch, tuple):    # a pipelined segment: any of them
            return any(self.verdicts[e] for e in epoch)
        return self.verdicts[epoch] if epoch >= 0 else before_first_request


def get(path, host="api.example.com", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n"


def post(path, selected, body=b'{"n": 1}', host="api.example.com"):
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return Request(head, selected, body)


class Builder:
    def __init__(self, seed):
        self.gen = TrafficGenerator(seed)
        self.rng = random.Random(seed)

    def connection(self, requests, pipelined=False):
        """A keep-alive connection: handshake, requests each answered (or
        all sent in one segment when pipelined), teardown."""
        flow = Flow()
        conn = TcpConnection(self.gen.new_path(), self.rng)

        def send(from_client, flags, payload=b"", epoch=None):
            conn.send(from_client, flags, payload)
            flow.events.append((conn.events[-1][1], epoch))

        epoch = -1
        send(True, TCP_SYN, epoch=epoch)
        send(False, TCP_SYN | TCP_ACK, epoch=epoch)
        send(True, TCP_ACK, epoch=epoch)
        flow.requests = list(requests)
        if pipelined:
            data = b"".join(r.head.encode() + r.body for r in requests)
            epoch = tuple(range(len(requests)))
            send(True, TCP_PSH | TCP_ACK, data, epoch)
            epoch = len(requests) - 1
            for r in requests:
                send(False, TCP_PSH | TCP_ACK, self.response(r), epoch)
        else:
            for i, r in enumerate(requests):
                epoch = i
                head = r.head.encode()
                cuts = [0, *r.segments, len(head)]
                for a, b in zip(cuts, cuts[1:]):
                    send(True, TCP_ACK | (TCP_PSH if b == len(head) else 0), head[a:b], epoch)
                if r.body:
                    send(True, TCP_PSH | TCP_ACK, r.body, epoch)
                send(False, TCP_PSH | TCP_ACK, self.response(r), epoch)
                send(True, TCP_ACK, epoch=epoch)
        send(True, TCP_FIN | TCP_ACK, epoch=epoch)
        send(False, TCP_FIN | TCP_ACK, epoch=epoch)
        send(True, TCP_ACK, epoch=epoch)
        return flow

    @staticmethod
    def response(r):
        return (f"HTTP/1.1 200 OK\r\nContent-Length: {r.response_size}\r\n\r\n"
                .encode() + b"x" * r.response_size)


def scenarios(b):
    """Connections whose every request's verdict is known by heart."""
    health = Request(get("/healthz"), False)
    api = Request(get("/api/v1/users"), True)
    static = Request(get("/static/app.js"), False)       # no route: default 0%
    return {
        "keep-alive: api, health, unrouted, api": b.connection(
            [api, health, static, Request(get("/api/v2/x"), True)]),
        "keep-alive: three api requests, one run": b.connection(
            [api, Request(get("/api/v1/orders"), True), api]),
        "keep-alive: api, opted-in payments, api": b.connection(
            [api, Request(get("/payments/2", extra="X-Rollout: shadow\r\n"), True), api]),
        "health check first, then api": b.connection([health, api]),
        "HEAD on api": b.connection([Request(get("/api/x").replace("GET", "HEAD", 1), True)]),
        "api path on another host": b.connection([Request(get("/api/x", "web.example.com"), False)]),
        "host with port and capitals": b.connection(
            [Request(get("/api/x", "API.Example.COM:8080"), True)]),
        "opt-in header present": b.connection(
            [Request(get("/payments/1", extra="X-Rollout: shadow\r\n"), True)]),
        "opt-in header absent": b.connection([Request(get("/payments/1"), False)]),
        "opt-in header other value": b.connection(
            [Request(get("/payments/1", extra="x-rollout: shadowy\r\n"), False)]),
        "POST without opt-in route is not mirrored": b.connection(
            [post("/api/v1/users", False)]),
        "POST to the opted-in route": b.connection([post("/orders", True)]),
        "write in the middle stops mirroring": b.connection(
            [api, post("/api/v1/users", False), api]),
        "DELETE never opted in": b.connection(
            [Request(get("/orders/1").replace("GET", "DELETE", 1), False)]),
        "head split in three": b.connection(
            [Request(get("/api/split/three"), True, segments=(5, 20))]),
        "head split byte by byte at first": b.connection(
            [Request(get("/api/tiny"), True, segments=(1, 2, 3, 4, 5, 6))]),
        "split health check": b.connection([Request(get("/healthz"), False, segments=(3,)), api]),
        "pipelined: health then api": b.connection(
            [health, Request(get("/api/p"), True)], pipelined=True),
        "pipelined: api then unrouted": b.connection(
            [Request(get("/api/p"), True), static], pipelined=True),
        "pipelined with bodies": b.connection(
            [post("/api/no", False), post("/orders/2", True)],
            pipelined=True),
    }


def selecting_route(request):
    """The route that selects a request of scenarios() marked selected:
    its target's first segment names it."""
    target = request.head.split(" ", 2)[1]
    return {"api": "api", "payments": "payments-optin",
            "orders": "orders"}[target.split("/")[1]]


def runs_selected(flows):
    """flows_selected per route: a flow counts once per run of requests
    that one route selects, a request of another route or one not
    selected ending the run."""
    runs = {}
    for flow in flows:
        before = None
        for request in flow.requests:
            route = selecting_route(request) if request.selected else None
            if route is not None and route != before:
                runs[route] = runs.get(route, 0) + 1
            before = route
    return runs


def interleave(flows, rng):
    """One timeline of every flow's frames, each flow's order kept."""
    pending = [list(f.events) for f in flows]
    out = []
    while any(pending):
        queue = rng.choice([p for p in pending if p])
        out.append(queue.pop(0)[0])
    return out


class Routes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_routes_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def replay(self, frames, api_percent, default_percent=None):
        r = run(self.tmp, [frames], [[]], [Mirror("v2", default_percent)],
                extra_config=ROUTES.replace("{api_percent}", str(api_percent)),
                idle_exit_ms=400)
        self.assertEqual(r.server_out[0], frames, "originals must pass untouched")
        self.assertEqual(counter_errors(r, frames, []), [])
        return r

    def test_every_scenario_gets_exactly_its_requests(self):
        scen = scenarios(Builder(3))
        frames = interleave(list(scen.values()), random.Random(3))
        r = self.replay(frames, 100)
        shadow = group_by_flow(r.mirror_frames("v2"))
        got = {k: [r.mirror_frames("v2")[i] for i in idx] for k, idx in shadow.items()}
        for name, flow in scen.items():
            key = flow_key(flow.events[0][0])
            with self.subTest(name):
                self.assertEqual(len(got.get(key, [])), len(flow.expected()))
                self.assertEqual(got.get(key, []), flow.expected())
        routes = r.stats["routes"]
        self.assertEqual(routes["health"]["requests"], 4)
        self.assertEqual(routes["health"]["mirrored_packets"], 0)
        # Once per run of a route's selected requests, not per request:
        # three api requests in a row are one.
        runs = runs_selected(scen.values())
        self.assertEqual({name: routes[name]["flows_selected"] for name in routes},
                         {name: runs.get(name, 0) for name in routes})
        self.assertLess(runs["api"], sum(r.selected and selecting_route(r) == "api"
                                         for f in scen.values() for r in f.requests))
        self.assertEqual(r.stats["mirrors"]["v2"]["mirrored_flows"],
                         sum(any(f.verdicts) for f in scen.values()))
        self.assertGreater(r.stats["http_heads_split"], 0)

    def test_unrouted_traffic_follows_the_default_but_never_for_writes(self):
        b = Builder(9)
        scen = {
            "unrouted read": b.connection([Request(get("/static/a.js"), True)]),
            "unrouted write": b.connection([post("/static/upload", False)]),
            "read, then write, then read": b.connection(
                [Request(get("/static/b.js"), True), post("/static/up", False),
                 Request(get("/static/c.js"), True)]),
            "health check": b.connection([Request(get("/healthz"), False)]),
        }
        frames = interleave(list(scen.values()), random.Random(9))
        r = self.replay(frames, 100, default_percent=100)
        shadow = r.mirror_frames("v2")
        for name, flow in scen.items():
            key = flow_key(flow.events[0][0])
            with self.subTest(name):
                self.assertEqual([f for f in shadow if flow_key(f) == key],
                                 flow.expected(before_first_request=True))
        self.assertEqual(r.stats["unrouted"]["requests"], 5)

    def test_pipelined_stream_cut_anywhere_classifies_every_request(self):
        """Requests sent back to back and cut into 37-byte segments, so that
        segments start in the middle of heads: each request is found where
        the previous one (head and body) ends."""
        b = Builder(13)
        requests = [Request(get("/healthz"), False), post("/api/w", False),
                    Request(get("/static/x"), False), post("/orders/9", True),
                    Request(get("/api/late"), True), Request(get("/healthz"), False)]
        stream = b"".join(r.head.encode() + r.body for r in requests)
        conn = TcpConnection(b.gen.new_path(), b.rng)
        conn.send(True, TCP_SYN)
        conn.send(False, TCP_SYN | TCP_ACK)
        conn.send(True, TCP_ACK)
        for i in range(0, len(stream), 37):
            conn.send(True, TCP_ACK, stream[i:i + 37])
        frames = [f for _, f in conn.events]
        r = self.replay(frames, 100)
        routes = r.stats["routes"]
        self.assertEqual((routes["health"]["requests"], routes["orders"]["requests"],
                          routes["api"]["requests"], r.stats["unrouted"]["requests"]),
                         (2, 1, 1, 2))
        self.assertGreater(routes["orders"]["mirrored_packets"], 0)

    def test_route_percent_samples_whole_flows(self):
        b = Builder(5)
        flows = [b.connection([Request(get(f"/api/{i}"), True),
                               Request(get(f"/api/{i}/more"), True)])
                 for i in range(SAMPLED_FLOWS)]
        frames = interleave(flows, random.Random(5))
        r = self.replay(frames, SAMPLED_PERCENT)
        shadow = r.mirror_frames("v2")
        selected, errors = check_flow_union(frames, shadow)
        # Whole flows from the first request on: the handshake is before it.
        for flow in flows:
            key = flow_key(flow.events[0][0])
            if key in selected:
                mine = [f for f in shadow if flow_key(f) == key]
                self.assertEqual(mine, flow.expected())
        # The handshake, before the first request, is all that may lack;
        # what each selected flow holds was compared exactly above.
        self.assertEqual([e for e in errors if "missing" not in e], [])
        share = 100.0 * len(selected) / SAMPLED_FLOWS
        print(f"api at {SAMPLED_PERCENT}%: {len(selected)} of {SAMPLED_FLOWS} flows "
              f"= {share:.1f}%", file=sys.stderr)
        self.assertLessEqual(abs(share - SAMPLED_PERCENT), SHARE_TOLERANCE_POINTS)
        self.assertEqual(r.stats["routes"]["api"]["requests"], 2 * SAMPLED_FLOWS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
