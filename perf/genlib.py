"""Deterministic benchmark traffic for shadowtap: realistic HTTP/1.1 or 60-byte frames.

perf/gen is the command line.  generate_http() and generate_small() return a Traffic: every
frame on one timeline, in wire order, each marked with its direction; write_pcaps() writes it
as the client-side and server-side pcaps that net_pcap replays.  The same arguments give the
same frames, byte for byte (random.Random, integer microseconds, nothing from the clock).

The wire is seen from a tap beside the servers, as shadowtap sits in front of a service: a
server's packets and its ACKs reach the tap at once, a client's reaction one round trip after
what it reacts to.  Python 3 standard library only; checksums, IPv4/UDP building and pcap
constants come from tests/pcaplib.py.
"""

import email.utils
import math
import os
import random
import struct
import sys
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))
from pcaplib import (  # noqa: E402  (found through the path set just above)
    ETH_IPV4, ETH_IPV6, ETH_PPPOE, LINKTYPE_ETHERNET, PCAP_MAGIC_USEC, PPP_IPV4, PPP_IPV6,
    PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, VLAN_TPIDS, ethernet,
    internet_checksum, ipv4, pad, read_pcap, split_queues, udp, write_pcap)

CLIENT_MAC = bytes.fromhex("02000000c001")  # the router on the client side of the appliance
SERVER_MAC = bytes.fromhex("02000000d001")  # the load balancer on the server side
SERVER_IPS = tuple(bytes([10, 0, 0, host]) for host in range(10, 18))
SERVER_PORT = 80
CLIENT_NET = 0x0A800000     # 10.128.0.0/9: clients are drawn from 8 M addresses
CLIENT_NET_BITS = 23
EPHEMERAL_PORTS = (32768, 60999)  # Linux ip_local_port_range
EPOCH_S = 1704067200        # 2024-01-01T00:00:00Z, the first timestamp of every capture

MSS = 1448                  # 1500 MTU - 20 IP - 20 TCP - 12 timestamp option: 1514-byte frames
SYN_MSS_OPTION = 1460
WINDOW_SCALE = 7
WINDOW_RAW = 2048           # advertised after the handshake: 2048 << 7 = 256 KiB
SYN_WINDOW = {True: 64240, False: 65160}
INITIAL_CWND = 10           # segments (RFC 6928)
MAX_CWND = 150              # segments; stays under the 256 KiB receive window
DELAYED_ACK_US = 40000      # Linux's delayed ACK for a lone request segment
SERVER_TURN_US = 40         # a server's ACK or FIN after what it answers
IPV4_DF = 0x4000
SEQ_MASK = 0xFFFFFFFF

ROUTE_CLASSES = ("api", "static", "write", "health", "other")
DEFAULT_MIX = {"api": 60, "static": 20, "write": 10, "health": 5, "other": 5}
DEFAULT_REQUESTS_PER_FLOW = (1, 8)
DEFAULT_MAX_RESPONSE = 1 << 20
SMALL_FRAME = 60            # 64 bytes on the wire with the FCS
SMALL_SPAN_US = 1000000     # small mode spreads every flow over one second
SMALL_TCP_OVERHEAD = 6      # handshake and teardown frames of a small TCP flow
SMALL_UDP_PORT = 7          # echo: tshark shows the payload as data
SMALL_TCP_PORT = 9          # discard
SHORT_GAP_US = 1            # short mode opens a connection every microsecond
MBUF_DATA_ROOM = 2048       # RTE_MBUF_DEFAULT_DATAROOM: net_pcap's infinite_rx refuses a
                            # capture with a larger frame ("Multiseg mbufs are not supported")


# --- frames -----------------------------------------------------------------------------------

def tcp_segment(src_ip, dst_ip, sport, dport, seq, ack, flags, window, options, payload):
    """TCP segment with options (a multiple of 4 bytes) and its IPv4 pseudo-header checksum.

    tests/pcaplib.tcp() builds option-less segments only; real handshakes carry MSS, SACK,
    timestamps and window scale, and data segments their timestamps."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(options) // 4) << 4,
                         flags, window, 0, 0) + options
    segment = header + payload
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, PROTO_TCP, len(segment))
    checksum = internet_checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def _syn_options(tsval, tsecr):
    """Linux's SYN options: MSS, SACK permitted, timestamps, NOP, window scale (20 bytes)."""
    return (struct.pack("!BBH", 2, 4, SYN_MSS_OPTION) + b"\x04\x02"
            + struct.pack("!BBII", 8, 10, tsval, tsecr) + b"\x01"
            + struct.pack("!BBB", 3, 3, WINDOW_SCALE))


def _timestamp_options(tsval, tsecr):
    """NOP, NOP, timestamps (12 bytes), as on every segment once both SYNs offered them."""
    return b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, tsecr)


class TcpConnection:
    """One TCP connection as the tap sees it: keeps both sequence numbers, IP IDs and
    timestamp clocks, and records each segment as (time_us, index, from_client, frame).

    The frame of every segment is built when it is sent, but segments are sent in the order
    the code decides them, not in time order (a peer's ACK is decided with the data it
    acknowledges); sorting the events by (time_us, index) gives the wire order."""

    def __init__(self, rng, client, server, rtt_us, with_options=True):
        self.ends = {True: client, False: server}    # (ip, port) of each side
        self.next_seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.ip_id = {True: rng.getrandbits(16), False: rng.getrandbits(16)}
        self.ttl = {True: rng.randint(48, 60), False: 64}  # clients are some hops away
        self.ts_base = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.rtt_us = rtt_us
        self.with_options = with_options
        self.syn_time_us = 0
        self.events = []

    def _tsval(self, from_client, time_us):
        return (self.ts_base[from_client] + time_us // 1000) & SEQ_MASK

    def send(self, time_us, from_client, flags, payload=b"", ack=None):
        """Record one segment; ack defaults to everything the peer has sent so far."""
        seq = self.next_seq[from_client]
        if flags & TCP_ACK and ack is None:
            ack = self.next_seq[not from_client]
        options, window = b"", WINDOW_RAW
        if flags & TCP_SYN:
            window = SYN_WINDOW[from_client]
        if self.with_options:
            # The peer's clock as last heard: a round trip old, or the SYN's for the SYN-ACK.
            tsval = self._tsval(from_client, time_us)
            if flags & TCP_SYN:
                if from_client:
                    self.syn_time_us = time_us
                tsecr = 0 if from_client else self._tsval(True, self.syn_time_us)
                options = _syn_options(tsval, tsecr)
            else:
                tsecr = self._tsval(not from_client, max(self.syn_time_us, time_us - self.rtt_us))
                options = _timestamp_options(tsval, tsecr)
        (src_ip, sport), (dst_ip, dport) = self.ends[from_client], self.ends[not from_client]
        segment = tcp_segment(src_ip, dst_ip, sport, dport, seq, (ack or 0) & SEQ_MASK, flags,
                              window, options, payload)
        packet = ipv4(src_ip, dst_ip, PROTO_TCP, segment, ident=self.ip_id[from_client],
                      frag=IPV4_DF, ttl=self.ttl[from_client])
        src_mac, dst_mac = (CLIENT_MAC, SERVER_MAC) if from_client else (SERVER_MAC, CLIENT_MAC)
        frame = pad(ethernet(dst_mac, src_mac, ETH_IPV4, packet))
        self.events.append((time_us, len(self.events), from_client, frame))
        self.ip_id[from_client] = (self.ip_id[from_client] + 1) & 0xFFFF
        consumed = len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        self.next_seq[from_client] = (seq + consumed) & SEQ_MASK

    def send_data(self, time_us, from_client, data, gap_us, ack_delay_us, resume_us, ack_last):
        """Send data in MSS segments, gap_us apart, never more than a congestion window
        (slow start from INITIAL_CWND) ahead of the peer's ACKs.  The peer ACKs every second
        segment, and the last one when ack_last; an ACK reaches the tap ack_delay_us after
        its segment, and the data it releases resume_us after it.

        Returns (time of the last segment, time of the ACK of the last segment or None)."""
        start_seq = self.next_seq[from_client]
        count = -(-len(data) // MSS)
        cwnd, acked, pending = INITIAL_CWND, 0, deque()
        last_time = last_ack_time = None
        for i in range(count):
            while i - acked >= cwnd:
                ack_time, through = pending.popleft()
                time_us = max(time_us, ack_time + resume_us)
                cwnd = min(cwnd + through - acked, MAX_CWND)
                acked = through
            last = i == count - 1
            chunk = data[i * MSS:(i + 1) * MSS]
            self.send(time_us, from_client, TCP_ACK | (TCP_PSH if last else 0), chunk)
            if (ack_last and last) or (i % 2 == 1 and not last):
                ack_time = time_us + ack_delay_us
                through_bytes = min((i + 1) * MSS, len(data))
                self.send(ack_time, not from_client, TCP_ACK, ack=start_seq + through_bytes)
                pending.append((ack_time, i + 1))
                if last:
                    last_ack_time = ack_time
            last_time = time_us
            time_us += gap_us
        return last_time, last_ack_time


# --- HTTP content -----------------------------------------------------------------------------

_TEXT_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      "
_API_AGENTS = ("okhttp/4.12.0", "Go-http-client/1.1", "python-requests/2.31.0",
               "axios/1.6.2", "curl/8.4.0")
_BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1")
_HEALTH_AGENTS = ("kube-probe/1.29", "ELB-HealthChecker/2.0", "Consul Health Check")
_SERVERS = ("nginx/1.25.3", "envoy", "gunicorn")
_WORDS = ("shoes", "laptop", "coffee", "garden", "phone", "books", "lamp", "bike", "tent")
_API_GETS = ("/api/v1/users/{id}", "/api/v1/users/{id}/orders?limit={limit}",
             "/api/v1/orders/{id}", "/api/v1/products?category={word}&page={page}",
             "/api/v2/search?q={word}&limit={limit}", "/api/v1/carts/{id}",
             "/api/v1/recommendations?user={id}")
_WRITES = (("POST", 50, ("/api/v1/orders", "/api/v1/carts/{id}/items", "/api/v1/events")),
           ("PUT", 20, ("/api/v1/users/{id}", "/api/v1/carts/{id}")),
           ("PATCH", 20, ("/api/v1/orders/{id}", "/api/v1/users/{id}/settings")),
           ("DELETE", 10, ("/api/v1/carts/{id}/items/{item}", "/api/v1/sessions/{id}")))
_PROBES = ("/wp-login.php", "/.env", "/admin/config.php", "/phpmyadmin/")
_BUNDLES = ("main", "vendor", "runtime", "checkout", "search", "account")
_IMAGES = ("logo", "hero", "banner", "avatar-default", "product-thumb", "icons")
# Static assets: (share, extension, content type, median bytes, sigma).
_STATIC_KINDS = ((40, "js", "text/javascript", 14000, 1.0),
                 (25, "css", "text/css", 6000, 0.9),
                 (35, "png", "image/png", 5000, 1.1))
_HTTP_REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
                 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity",
                 503: "Service Unavailable"}
_WRITE_STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}

# Timing, all lognormal (median microseconds, sigma, floor, cap).
RTT = (15000, 0.8, 300, 300000)
CLIENT_GAP = (100, 0.7, 12, 2000)          # a client's segment pacing (about 100 Mbit/s)
SERVER_GAP = (4, 0.5, 1, 40)               # a server's (about 3 Gbit/s)
CLIENT_THINK = (20000, 1.3, 50, 3000000)   # between a response and the next request
CLIENT_IDLE = (100000, 1.0, 1000, 10000000)  # before a client closes a kept-alive connection
SERVER_THINK = {"api": (6000, 0.9), "write": (20000, 0.8), "static": (300, 0.6),
                "health": (150, 0.5), "other": (2000, 1.0)}
CLOSE_BY_SERVER = 0.3   # the last request says "Connection: close"
BIG_COOKIE = 0.05       # a browser request with a 1-3 KB cookie: its head spans two segments


def lognormal(rng, median, sigma, floor, cap):
    """An integer drawn from a lognormal distribution, clamped to [floor, cap]."""
    return max(floor, min(cap, int(rng.lognormvariate(math.log(median), sigma))))


@dataclass
class Exchange:
    """One HTTP request and what its response will carry (built once its time is known)."""
    route_class: str
    request: bytes
    status: int
    headers: list
    body: bytes = b""
    head_only: bool = False     # the response to HEAD: Content-Length without the body
    close: bool = False

    def response(self, time_us):
        """The response bytes, with a Date header for time_us on the capture's clock."""
        date = email.utils.formatdate(EPOCH_S + time_us // 1000000, usegmt=True)
        lines = [f"HTTP/1.1 {self.status} {_HTTP_REASONS[self.status]}", f"Date: {date}"]
        lines += self.headers
        if self.status not in (204, 304):
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close" if self.close else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return head if self.head_only else head + self.body


class HttpContent:
    """Draws requests of each route class and builds bodies of exact sizes."""

    def __init__(self, rng, max_response):
        self.rng = rng
        self.max_response = max_response
        self.text = bytes(rng.choices(_TEXT_ALPHABET, k=1 << 16))
        self.makers = {"api": self._api, "static": self._static, "write": self._write,
                       "health": self._health, "other": self._other}

    def exchange(self, route_class, server_ip, close):
        """A new Exchange of route_class; close makes it the connection's last."""
        exchange = self.makers[route_class](server_ip)
        exchange.close = close
        if close:
            head, rest = exchange.request.split(b"\r\n\r\n", 1)
            exchange.request = head + b"\r\nConnection: close\r\n\r\n" + rest
        return exchange

    # -- bodies

    def filler(self, size):
        """size bytes of readable text from a random place of the pool, wrapping around."""
        start = self.rng.randrange(len(self.text))
        reps = (start + size) // len(self.text) + 1
        return (self.text * reps)[start:start + size]

    def json(self, size):
        """A JSON object of exactly size bytes (at least 2)."""
        prefix = b'{"id":%d,"data":"' % self.rng.randrange(1, 10**6)
        if size < len(prefix) + 2:
            return b"{" + b" " * (size - 2) + b"}"
        return prefix + self.filler(size - len(prefix) - 2) + b'"}'

    def png(self, size):
        """A well-formed PNG chunk stream (IHDR, IDAT, IEND) of exactly max(size, 57) bytes."""
        def chunk(kind, data):
            return struct.pack("!I", len(data)) + kind + data + \
                struct.pack("!I", zlib.crc32(kind + data))
        ihdr = struct.pack("!IIBBBBB", self.rng.randint(16, 1024), self.rng.randint(16, 1024),
                           8, 6, 0, 0, 0)
        idat = self.filler(max(0, size - 57))
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + \
            chunk(b"IEND", b"")

    def html(self, size, title):
        """An HTML page of exactly size bytes (more when size is below the skeleton's)."""
        head = b"<!DOCTYPE html><html><head><title>%s</title></head><body><p>" % title.encode()
        tail = b"</p></body></html>\n"
        return head + self.filler(max(0, size - len(head) - len(tail))) + tail

    # -- requests

    def _request(self, method, target, host, headers, body=b""):
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"] + headers
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _target(self, template):
        rng = self.rng
        return template.format(id=rng.randrange(1, 10**6), limit=rng.choice((10, 20, 50, 100)),
                               word=rng.choice(_WORDS), page=rng.randint(1, 20),
                               item=rng.randrange(1, 10**4))

    def _api_headers(self, accept="application/json"):
        rng = self.rng
        return [f"User-Agent: {rng.choice(_API_AGENTS)}", f"Accept: {accept}",
                "Accept-Encoding: gzip, deflate, br",
                f"Authorization: Bearer {rng.getrandbits(256):064x}",
                f"X-Request-Id: {_uuid(rng)}"]

    def _browser_headers(self, accept, referer=True):
        rng = self.rng
        headers = [f"User-Agent: {rng.choice(_BROWSER_AGENTS)}", f"Accept: {accept}",
                   "Accept-Language: en-US,en;q=0.9", "Accept-Encoding: gzip, deflate, br"]
        if referer:
            headers.append("Referer: https://www.example.com/")
        if rng.random() < BIG_COOKIE:
            headers.append("Cookie: session=%s; prefs=%s" % (
                f"{rng.getrandbits(128):032x}", self.filler(rng.randint(1000, 3000)).decode()
                .replace(" ", "_")))
        elif rng.random() < 0.6:
            headers.append(f"Cookie: session={rng.getrandbits(128):032x}")
        return headers

    def _response_headers(self, content_type, extra=()):
        return [f"Server: {self.rng.choice(_SERVERS)}", f"Content-Type: {content_type}"] + \
            list(extra)

    def _size(self, median, sigma, floor=2):
        return lognormal(self.rng, median, sigma, floor, self.max_response)

    def _api(self, _server_ip):
        rng = self.rng
        method = "HEAD" if rng.random() < 0.03 else "GET"
        request = self._request(method, self._target(rng.choice(_API_GETS)), "api.example.com",
                                self._api_headers())
        roll = rng.random()
        status = 200 if roll < 0.95 else 404 if roll < 0.99 else 503
        body = self.json(self._size(2000, 1.1) if status == 200 else rng.randint(40, 120))
        headers = self._response_headers("application/json; charset=utf-8",
                                         ["Cache-Control: no-store"])
        return Exchange("api", request, status, headers, body, head_only=method == "HEAD")

    def _static(self, _server_ip):
        rng = self.rng
        _, ext, content_type, median, sigma = rng.choices(
            _STATIC_KINDS, [kind[0] for kind in _STATIC_KINDS])[0]
        if ext == "png":
            target = f"/static/img/{rng.choice(_IMAGES)}.png"
            accept = "image/avif,image/webp,image/png,*/*;q=0.8"
        else:
            target = f"/static/{ext}/{rng.choice(_BUNDLES)}.{rng.getrandbits(32):08x}.{ext}"
            accept = "text/css,*/*;q=0.1" if ext == "css" else "*/*"
        headers = self._browser_headers(accept)
        etag = f'"{rng.getrandbits(64):016x}"'
        cached = rng.random() < 0.25
        if cached:
            headers.append(f"If-None-Match: {etag}")
        request = self._request("GET", target, "www.example.com", headers)
        cache = [f"ETag: {etag}", "Cache-Control: public, max-age=31536000, immutable"]
        if cached:
            return Exchange("static", request, 304, [f"Server: {rng.choice(_SERVERS)}"] + cache)
        size = self._size(median, sigma)
        if ext == "png":
            body = self.png(size)
        else:
            banner = b"/*! %s bundle */\n" % ext.encode()
            body = banner + self.filler(max(0, size - len(banner)))
        return Exchange("static", request, 200, self._response_headers(content_type, cache), body)

    def _write(self, _server_ip):
        rng = self.rng
        method, _, templates = rng.choices(_WRITES, [w[1] for w in _WRITES])[0]
        headers = self._api_headers()
        body = b""
        if method != "DELETE":
            headers.append("Content-Type: application/json")
            body = self.json(lognormal(rng, 350, 1.1, 2, 65536))
        if method == "POST":
            headers.append(f"Idempotency-Key: {_uuid(rng)}")
        request = self._request(method, self._target(rng.choice(templates)), "api.example.com",
                                headers, body)
        status = _WRITE_STATUS[method] if rng.random() < 0.97 else rng.choice((409, 422))
        extra = [f"Location: /api/v1/orders/{rng.randrange(10**6)}"] if status == 201 else []
        reply = b"" if status == 204 else self.json(self._size(250, 0.8))
        return Exchange("write", request, status,
                        self._response_headers("application/json; charset=utf-8", extra), reply)

    def _health(self, server_ip):
        rng = self.rng
        host = ".".join(map(str, server_ip)) + f":{SERVER_PORT}"
        request = self._request("GET", "/healthz", host,
                                [f"User-Agent: {rng.choice(_HEALTH_AGENTS)}", "Accept: */*"])
        return Exchange("health", request, 200,
                        self._response_headers("text/plain; charset=utf-8"), b"ok")

    def _other(self, _server_ip):
        rng = self.rng
        page = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        html = "text/html; charset=utf-8"
        kind = rng.choices(("home", "head", "login", "docs", "robots", "favicon", "probe"),
                           (35, 5, 15, 15, 10, 10, 10))[0]
        method, status = ("HEAD" if kind == "head" else "GET"), 200
        if kind == "docs":
            target = f"/docs/{rng.choice(_WORDS)}-{rng.randint(1, 40)}"
        elif kind == "probe":
            target, status = rng.choice(_PROBES), 404
        else:
            target = {"login": "/login", "robots": "/robots.txt",
                      "favicon": "/favicon.ico"}.get(kind, "/")
        headers = self._browser_headers(page if kind != "favicon" else "image/*",
                                        referer=kind in ("docs", "favicon"))
        request = self._request(method, target, "www.example.com", headers)
        if kind == "robots":
            body = b"User-agent: *\nDisallow: /api/\nDisallow: /admin/\n"
            return Exchange("other", request, 200, self._response_headers("text/plain"), body)
        if kind == "favicon":
            return Exchange("other", request, 200, self._response_headers(
                "image/x-icon", ["Cache-Control: public, max-age=86400"]),
                self.filler(rng.choice((1150, 4286, 15086))))
        if status == 404:
            return Exchange("other", request, 404, self._response_headers(html),
                            self.html(rng.randint(150, 600), "Not Found"))
        size = self._size({"login": 8000, "docs": 20000}.get(kind, 18000), 0.6)
        return Exchange("other", request, status, self._response_headers(html),
                        self.html(size, kind.title()), head_only=method == "HEAD")


def _uuid(rng):
    value = f"{rng.getrandbits(128):032x}"
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


# --- traffic ----------------------------------------------------------------------------------

@dataclass
class Traffic:
    """Frames in wire order as (time_us, from_client, frame), and what they carry."""
    mode: str
    flows: int
    timeline: list
    requests: Counter = field(default_factory=Counter)   # by route class
    methods: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    sources: dict = field(default_factory=dict)          # merge_captures(): what it took


class Endpoints:
    """Distinct client 5-tuples: random client addresses and ports, a few servers."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def next(self, server_port):
        """((client ip, port), (server ip, port)) not used before."""
        rng = self.rng
        while True:
            host = rng.getrandbits(CLIENT_NET_BITS)
            if host & 0xFF in (0, 255):
                continue
            client = (struct.pack("!I", CLIENT_NET | host), rng.randint(*EPHEMERAL_PORTS))
            server = (rng.choice(SERVER_IPS), server_port)
            if (client, server) not in self.used:
                self.used.add((client, server))
                return client, server


def parse_mix(text):
    """'api=60,static=20,...' -> {class: weight}; classes left out get 0."""
    mix = dict.fromkeys(ROUTE_CLASSES, 0.0)
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in mix:
            raise ValueError(f"'{item}': expected CLASS=WEIGHT, CLASS one of "
                             f"{', '.join(ROUTE_CLASSES)}")
        try:
            mix[name] = float(value)
        except ValueError:
            raise ValueError(f"'{item}': weight '{value}' is not a number") from None
        if not math.isfinite(mix[name]) or mix[name] < 0:
            raise ValueError(f"'{item}': weight must be a finite number >= 0")
    if sum(mix.values()) <= 0:
        raise ValueError(f"'{text}': the weights add up to 0")
    return mix


def parse_range(text):
    """'N' or 'A..B' (1 <= A <= B) -> (A, B)."""
    low, sep, high = text.partition("..")
    try:
        bounds = (int(low), int(high if sep else low))
    except ValueError:
        raise ValueError(f"'{text}': expected N or A..B") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise ValueError(f"'{text}': need 1 <= A <= B")
    return bounds


def generate_http(flows, seed, mix=None, requests_per_flow=DEFAULT_REQUESTS_PER_FLOW,
                  conn_rate=1000, max_response=DEFAULT_MAX_RESPONSE):
    """Traffic of `flows` HTTP/1.1 keep-alive connections, opened at conn_rate per second
    (new connections at random times, so that a few hundred overlap), each with a handshake,
    requests_per_flow = (low, high) requests whose route class is drawn from mix, and a FIN
    teardown closed by the client or, after "Connection: close", by the server."""
    rng = random.Random(seed)
    mix = mix or DEFAULT_MIX
    classes = [name for name in ROUTE_CLASSES if mix.get(name, 0) > 0]
    weights = [mix[name] for name in classes]
    content = HttpContent(rng, max_response)
    endpoints = Endpoints(rng)
    traffic = Traffic("http", flows, [])
    events = []
    horizon_us = max(1, flows * 1000000 // conn_rate)
    for flow_no in range(flows):
        client, server = endpoints.next(SERVER_PORT)
        conn = TcpConnection(rng, client, server, lognormal(rng, *RTT))
        count = rng.randint(*requests_per_flow)
        route_classes = rng.choices(classes, weights, k=count)
        _http_connection(rng, conn, content, route_classes, rng.randrange(horizon_us), traffic)
        events += [(time_us, flow_no, index, from_client, frame)
                   for time_us, index, from_client, frame in conn.events]
    events.sort()   # (flow_no, index) are unique, so frames are never compared
    traffic.timeline = [(time_us, from_client, frame) for time_us, _, _, from_client, frame
                        in events]
    return traffic


def _http_connection(rng, conn, content, route_classes, time_us, traffic):
    """Send one connection's handshake, exchanges and teardown from time_us on."""
    rtt = conn.rtt_us
    client_gap, server_gap = lognormal(rng, *CLIENT_GAP), lognormal(rng, *SERVER_GAP)
    conn.send(time_us, True, TCP_SYN)
    conn.send(time_us + SERVER_TURN_US, False, TCP_SYN | TCP_ACK)
    time_us += SERVER_TURN_US + rtt
    conn.send(time_us, True, TCP_ACK)
    time_us += rng.randint(1, 200)      # the request follows the handshake's ACK at once
    close_by_server = rng.random() < CLOSE_BY_SERVER
    server_ip = conn.ends[False][0]
    for n, route_class in enumerate(route_classes):
        last = n == len(route_classes) - 1
        exchange = content.exchange(route_class, server_ip, close=last and close_by_server)
        traffic.requests[route_class] += 1
        traffic.methods[exchange.request.split(b" ", 1)[0].decode()] += 1
        traffic.statuses[exchange.status] += 1
        request_end, _ = conn.send_data(time_us, True, exchange.request, client_gap,
                                        SERVER_TURN_US, rtt, ack_last=False)
        think = lognormal(rng, *SERVER_THINK[route_class], 20, 2000000)
        if think > DELAYED_ACK_US:
            conn.send(request_end + DELAYED_ACK_US, False, TCP_ACK)
        time_us = request_end + think
        response_end, acked_at = conn.send_data(time_us, False, exchange.response(time_us),
                                                server_gap, rtt, SERVER_TURN_US, ack_last=True)
        if exchange.close:
            conn.send(response_end + 5, False, TCP_FIN | TCP_ACK)
            client_fin = response_end + 5 + rtt + rng.randint(20, 500)
            conn.send(client_fin, True, TCP_FIN | TCP_ACK)
            conn.send(client_fin + SERVER_TURN_US, False, TCP_ACK)
            return
        time_us = acked_at + (lognormal(rng, *CLIENT_THINK) if not last else 0)
    client_fin = time_us + lognormal(rng, *CLIENT_IDLE)
    conn.send(client_fin, True, TCP_FIN | TCP_ACK)
    conn.send(client_fin + SERVER_TURN_US, False, TCP_FIN | TCP_ACK)
    conn.send(client_fin + SERVER_TURN_US + rtt, True, TCP_ACK)


def generate_small(flows, seed, packets_per_flow=100, proto="mixed"):
    """Traffic of `flows` flows of 60-byte frames, packets_per_flow each, alternating
    directions: UDP datagrams of 18 bytes, or TCP connections (handshake, 6-byte segments,
    FIN teardown, padded where a frame would be shorter).  proto is udp, tcp or mixed (even
    flows UDP, odd TCP).  Every flow's frames are spread over the same second, so all flows
    are interleaved."""
    if proto not in ("udp", "tcp", "mixed"):
        raise ValueError(f"proto '{proto}': expected udp, tcp or mixed")
    if proto != "udp" and packets_per_flow < SMALL_TCP_OVERHEAD + 1:
        raise ValueError(f"a small TCP flow needs at least {SMALL_TCP_OVERHEAD + 1} packets")
    rng = random.Random(seed)
    endpoints = Endpoints(rng)
    traffic = Traffic("small", flows, [])
    events = []
    for flow_no in range(flows):
        is_tcp = proto == "tcp" or (proto == "mixed" and flow_no % 2 == 1)
        client, server = endpoints.next(SMALL_TCP_PORT if is_tcp else SMALL_UDP_PORT)
        phase = rng.random()
        times = [int((k + phase) * SMALL_SPAN_US / packets_per_flow)
                 for k in range(packets_per_flow)]
        if is_tcp:
            flow_events = _small_tcp(rng, client, server, times)
        else:
            flow_events = _small_udp(flow_no, client, server, times)
        events += [(time_us, flow_no, index, from_client, frame)
                   for time_us, index, from_client, frame in flow_events]
    events.sort()
    traffic.timeline = [(time_us, from_client, frame) for time_us, _, _, from_client, frame
                        in events]
    return traffic


def _small_udp(flow_no, client, server, times):
    """One datagram at each of times, client first, then alternating; 60-byte frames."""
    payload_len = SMALL_FRAME - 14 - 20 - 8
    flow_events = []
    for k, time_us in enumerate(times):
        from_client = k % 2 == 0
        (src_ip, sport), (dst_ip, dport) = (client, server) if from_client else (server, client)
        payload = struct.pack("!II", flow_no, k).ljust(payload_len, b"\0")
        packet = ipv4(src_ip, dst_ip, PROTO_UDP, udp(src_ip, dst_ip, sport, dport, payload),
                      ident=k & 0xFFFF, frag=IPV4_DF)
        src_mac, dst_mac = (CLIENT_MAC, SERVER_MAC) if from_client else (SERVER_MAC, CLIENT_MAC)
        flow_events.append((time_us, k, from_client, ethernet(dst_mac, src_mac, ETH_IPV4,
                                                              packet)))
    return flow_events


def _small_tcp(rng, client, server, times):
    """A connection without options whose segments go out at times: handshake, 6-byte
    segments alternating from the client, FIN teardown; 60-byte frames."""
    conn = TcpConnection(rng, client, server, rtt_us=0, with_options=False)
    payload_len = SMALL_FRAME - 14 - 20 - 20
    conn.send(times[0], True, TCP_SYN)
    conn.send(times[1], False, TCP_SYN | TCP_ACK)
    conn.send(times[2], True, TCP_ACK)
    data_times = times[3:-3]
    for k, time_us in enumerate(data_times):
        conn.send(time_us, k % 2 == 0, TCP_PSH | TCP_ACK,
                  struct.pack("!I", k).rjust(payload_len, b"\0"))
    conn.send(times[-3], True, TCP_FIN | TCP_ACK)
    conn.send(times[-2], False, TCP_FIN | TCP_ACK)
    conn.send(times[-1], True, TCP_ACK)
    return conn.events


def generate_short(flows, seed):
    """Traffic of `flows` short HTTP connections in two small frames each, to fill a flow
    table with many flows in little memory (a replayed frame holds a whole mbuf, a 4 KiB page
    without hugepages): the client's API GET, carrying its FIN, and the server's ACK of it,
    as if the capture began after the handshakes (request starts are found without them).

    Connection k sends its request at k microseconds and gets its ACK half the timeline
    later, so that between two packets of a flow about flows / 2 other flows pass: a lookup
    finds its entry as cold as a table of that many flows leaves it."""
    rng = random.Random(seed)
    endpoints = Endpoints(rng)
    traffic = Traffic("short", flows, [])
    half_us = max(1, flows * SHORT_GAP_US // 2)
    events = []
    for flow_no in range(flows):
        client, server = endpoints.next(SERVER_PORT)
        conn = TcpConnection(rng, client, server, rtt_us=0, with_options=False)
        time_us = flow_no * SHORT_GAP_US
        request = (f"GET /api/v1/users/{rng.randrange(1, 10**6)} HTTP/1.1\r\n"
                   "Host: api.example.com\r\n\r\n").encode()
        conn.send(time_us, True, TCP_PSH | TCP_ACK | TCP_FIN, request)
        conn.send(time_us + half_us, False, TCP_ACK)
        events += [(time_us, flow_no, index, from_client, frame)
                   for time_us, index, from_client, frame in conn.events]
    traffic.requests["api"] = flows
    traffic.methods["GET"] = flows
    events.sort()
    traffic.timeline = [(time_us, from_client, frame) for time_us, _, _, from_client, frame
                        in events]
    return traffic


# --- real captures ----------------------------------------------------------------------------

def merge_captures(directory, max_frame=MBUF_DATA_ROOM):
    """Traffic of the captures listed in DIRECTORY/MANIFEST.tsv (its "file" column; its
    "http_requests_by_tshark" column, when present, is added up), one after the other, frames
    one microsecond apart.  Only Ethernet captures are taken, and frames of at most max_frame
    bytes.  Each frame is marked with its sender's side (_client_senders()), so that the
    client-side pcap holds what clients send.  The Traffic's `sources` says what was taken and
    what was left out."""
    with open(os.path.join(directory, "MANIFEST.tsv")) as manifest:
        header, *rows = [line.rstrip("\n").split("\t") for line in manifest if line.strip()]
    column = {name: i for i, name in enumerate(header)}
    traffic = Traffic("real", 0, [])
    sources = {"directory": os.path.abspath(directory), "captures": 0,
               "skipped_captures": Counter(), "skipped_frames": 0, "http_requests_by_tshark": 0}
    for row in rows:
        linktype, frames = read_pcap(os.path.join(directory, row[column["file"]]))
        if linktype != LINKTYPE_ETHERNET:
            sources["skipped_captures"][f"linktype {linktype}"] += 1
            continue
        sources["captures"] += 1
        if "http_requests_by_tshark" in column:
            sources["http_requests_by_tshark"] += int(row[column["http_requests_by_tshark"]])
        kept = [frame for frame in frames if len(frame) <= max_frame]
        sources["skipped_frames"] += len(frames) - len(kept)
        ends = [_frame_ends(frame) for frame in kept]
        clients = _client_senders(ends)
        traffic.flows += len(clients)
        for frame, (src, dst, _) in zip(kept, ends):
            traffic.timeline.append((len(traffic.timeline), clients[_conversation(src, dst)]
                                     == src, frame))
    sources["skipped_captures"] = dict(sources["skipped_captures"])
    traffic.sources = sources
    return traffic


def _frame_ends(frame):
    """(source, destination, TCP flags) of an Ethernet frame, after up to two VLAN tags and a
    PPPoE session header: ("L4", proto, address, port) ends for TCP and UDP (a first or only
    fragment), ("IP", address) for other IPv4 and IPv6 (an IPv6 extension header included),
    ("L2", MAC) for the rest; flags are 0 but for TCP."""
    l2 = (("L2", frame[6:12]), ("L2", frame[0:6]), 0)
    offset = 12
    ethertype = int.from_bytes(frame[offset:offset + 2], "big")
    for _ in range(2):
        if ethertype not in VLAN_TPIDS:
            break
        offset += 4
        ethertype = int.from_bytes(frame[offset:offset + 2], "big")
    offset += 2
    if ethertype == ETH_PPPOE:
        ethertype = {PPP_IPV4: ETH_IPV4, PPP_IPV6: ETH_IPV6}.get(
            int.from_bytes(frame[offset + 6:offset + 8], "big"))
        offset += 8
    if ethertype == ETH_IPV4 and len(frame) >= offset + 20:
        src, dst, proto = frame[offset + 12:offset + 16], frame[offset + 16:offset + 20], \
            frame[offset + 9]
        later_fragment = int.from_bytes(frame[offset + 6:offset + 8], "big") & 0x1FFF
        l4 = None if later_fragment else offset + (frame[offset] & 0x0F) * 4
    elif ethertype == ETH_IPV6 and len(frame) >= offset + 40:
        src, dst, proto = frame[offset + 8:offset + 24], frame[offset + 24:offset + 40], \
            frame[offset + 6]
        l4 = offset + 40
    else:
        return l2
    if l4 is None or proto not in (PROTO_TCP, PROTO_UDP) or len(frame) < l4 + 4:
        return ("IP", src), ("IP", dst), 0
    sport, dport = struct.unpack_from("!HH", frame, l4)
    flags = frame[l4 + 13] if proto == PROTO_TCP and len(frame) > l4 + 13 else 0
    return ("L4", proto, src, sport), ("L4", proto, dst, dport), flags


def _conversation(src, dst):
    return (src, dst) if src <= dst else (dst, src)


def _client_senders(ends):
    """The client end of each conversation of one capture, from its frames' ends, decided in
    this order:
    - TCP: the sender of the first SYN, or the receiver of the first SYN-ACK;
    - TCP and UDP without a handshake: the end with the higher port (servers listen on low,
      well-known ports; clients send from ephemeral ones);
    - other IP traffic: the client address of a TCP or UDP conversation between the same two
      addresses, the first decided (a later fragment goes where its first fragment went);
    - the rest, and equal ports: the sender of the conversation's first frame."""
    clients, hosts = {}, {}
    for src, dst, flags in ends:
        conversation = _conversation(src, dst)
        if src[0] == "L4" and conversation not in clients and flags & TCP_SYN:
            clients[conversation] = dst if flags & TCP_ACK else src
    for src, dst, _ in ends:
        conversation = _conversation(src, dst)
        if src[0] == "L4" and conversation not in clients and src[3] != dst[3]:
            clients[conversation] = src if src[3] > dst[3] else dst
    for conversation, client in clients.items():
        server = conversation[0] if conversation[1] == client else conversation[1]
        hosts.setdefault(_conversation(("IP", client[2]), ("IP", server[2])),
                         ("IP", client[2]))
    for src, dst, _ in ends:
        conversation = _conversation(src, dst)
        if conversation not in clients:
            clients[conversation] = hosts.get(conversation, src)
    return clients


# --- pcap output ------------------------------------------------------------------------------

class PcapWriter:
    """Classic little-endian microsecond pcap (DLT_EN10MB), frames stamped with their time on
    the capture's clock (EPOCH_S + time_us).  tests/pcaplib.write_pcap() stamps frame i at i
    microseconds, which cannot keep the two directions' files on one clock."""

    def __init__(self, path):
        self.path = path
        self.packets = self.bytes = 0
        self.file = open(path, "wb")
        self.file.write(struct.pack("<IHHiIII", PCAP_MAGIC_USEC, 2, 4, 0, 0, 65535,
                                    LINKTYPE_ETHERNET))

    def write(self, time_us, frame):
        sec, usec = divmod(time_us, 1000000)
        self.file.write(struct.pack("<IIII", EPOCH_S + sec, usec, len(frame), len(frame)))
        self.file.write(frame)
        self.packets += 1
        self.bytes += len(frame)

    def close(self):
        self.file.close()

    def summary(self):
        """{path, packets, bytes (frame bytes), mean_packet_bytes, file_bytes}."""
        return {"path": self.path, "packets": self.packets, "bytes": self.bytes,
                "mean_packet_bytes": round(self.bytes / self.packets, 1) if self.packets else 0,
                "file_bytes": os.path.getsize(self.path)}


def write_pcaps(traffic, prefix, with_all=False):
    """Write PREFIX-client.pcap (frames clients send), PREFIX-server.pcap (frames servers
    send) and, with with_all, PREFIX-all.pcap (both, in wire order).  Returns
    {"client": summary, "server": summary[, "all": summary]} (PcapWriter.summary())."""
    writers = {"client": PcapWriter(f"{prefix}-client.pcap"),
               "server": PcapWriter(f"{prefix}-server.pcap")}
    combined = PcapWriter(f"{prefix}-all.pcap") if with_all else None
    for time_us, from_client, frame in traffic.timeline:
        writers["client" if from_client else "server"].write(time_us, frame)
        if combined:
            combined.write(time_us, frame)
    if combined:
        writers["all"] = combined
    for writer in writers.values():
        writer.close()
    return {name: writer.summary() for name, writer in writers.items()}


def write_queues(path, queues):
    """Split the pcap at path by flow into `queues` pcaps PATH-qN.pcap (N from 0), as a NIC's
    symmetric RSS would: both directions of a flow go to the same queue number, so splitting
    a client-side and a server-side pcap gives each worker both directions of its flows.
    Returns their paths."""
    linktype, frames = read_pcap(path)
    paths = []
    for n, queue in enumerate(split_queues(frames, queues)):
        paths.append(f"{os.path.splitext(path)[0]}-q{n}.pcap")
        write_pcap(paths[-1], queue, linktype)
    return paths
