#!/usr/bin/env python3
"""Generate a deterministic client/server traffic mix as two pcap files.

    gen_traffic.py --out-dir DIR [--flows N] [--seed S]

writes DIR/client.pcap (frames sent by clients, i.e. arriving on the appliance's client port)
and DIR/server.pcap (frames sent by servers).  The same arguments always give byte-identical
files.  Importable: generate(flows, seed) -> (client_frames, server_frames).
"""

import argparse
import ipaddress
import itertools
import os
import random
import struct
from dataclasses import dataclass

from pcaplib import (BROADCAST_MAC, ETH_ARP, ETH_IPV4, ETH_IPV6, ETH_LLDP, ETH_PPPOE,
                     IPV4_MF, IPV6_DEST_OPTS, IPV6_HOP_BY_HOP, PPP_IPV4, PPP_IPV6, PROTO_ICMP,
                     PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, arp,
                     ethernet, flow_key, icmp_echo, ipv4, ipv6, pad, pppoe_session, tcp, udp,
                     vlan_tag, write_pcap)

# Conversation kinds and their weights in the mix (percent).
MIX = {"tcp": 70, "dns": 12, "icmp": 5, "fragments": 3, "pppoe": 2, "non_ip": 5, "malformed": 3}
TCP_REUSE_RATE = 0.01
MSS = 1400
FRAGMENT_SIZE = 1480            # multiple of 8, fills a 1500-byte MTU behind a 20-byte header
LLDP_MULTICAST = bytes.fromhex("0180c200000e")
IPV4_OPTIONS = (bytes.fromhex("94040000"),               # router alert
                bytes.fromhex("01010100"),               # NOPs, end of list
                bytes.fromhex("070b04") + bytes(8))      # record route, two slots
IPV6_EXTENSIONS = ((IPV6_HOP_BY_HOP, bytes.fromhex("05020000")),   # router alert
                   (IPV6_DEST_OPTS, bytes.fromhex("01040000")))    # PadN
HTTP_PATHS = ("/", "/healthz", "/api/v1/users", "/api/v1/orders/{n}", "/api/v2/search?q={n}",
              "/static/app.{n}.js", "/static/css/site.css", "/static/img/logo.png")
CLIENT_NETWORKS = {False: ipaddress.ip_network("10.1.0.0/16"),
                   True: ipaddress.ip_network("fd00:1::/64")}
SERVER_NETWORKS = {False: ipaddress.ip_network("10.2.0.0/16"),
                   True: ipaddress.ip_network("fd00:2::/64")}
HTTP_STATUS = ((200, "OK"), (200, "OK"), (200, "OK"), (304, "Not Modified"), (404, "Not Found"))


@dataclass(frozen=True)
class Endpoint:
    """One side of a conversation."""
    ip: bytes
    mac: bytes
    port: int = 0


@dataclass(frozen=True)
class Path:
    """How frames between a client and a server are encapsulated, in either direction."""
    client: Endpoint
    server: Endpoint
    tags: tuple = ()
    ip_options: bytes = b""
    ipv6_ext: tuple = ()
    pppoe_session: int | None = None

    def ends(self, from_client):
        """(source, destination) endpoints for one direction."""
        return (self.client, self.server) if from_client else (self.server, self.client)

    def l2(self, from_client, ethertype, payload, dst_mac=None):
        """Event (from_client, padded frame) carrying payload with this path's VLAN tags."""
        src, dst = self.ends(from_client)
        frame = ethernet(dst_mac or dst.mac, src.mac, ethertype, payload, self.tags)
        return from_client, pad(frame)

    def ip(self, from_client, proto, payload, **ipv4_fields):
        """Event carrying an IP packet, inside PPPoE when the path has a session."""
        src, dst = self.ends(from_client)
        if len(src.ip) == 4:
            packet = ipv4(src.ip, dst.ip, proto, payload, options=self.ip_options, **ipv4_fields)
            ethertype, ppp_protocol = ETH_IPV4, PPP_IPV4
        else:
            packet = ipv6(src.ip, dst.ip, proto, payload, ext=self.ipv6_ext)
            ethertype, ppp_protocol = ETH_IPV6, PPP_IPV6
        if self.pppoe_session is not None:
            packet = pppoe_session(self.pppoe_session, ppp_protocol, packet)
            ethertype = ETH_PPPOE
        return self.l2(from_client, ethertype, packet)

    def tcp(self, from_client, seq, ack, flags, payload=b""):
        """Event carrying one TCP segment."""
        src, dst = self.ends(from_client)
        segment = tcp(src.ip, dst.ip, src.port, dst.port, seq, ack, flags, payload)
        return self.ip(from_client, PROTO_TCP, segment)

    def udp(self, from_client, payload):
        """Event carrying one UDP datagram."""
        src, dst = self.ends(from_client)
        return self.ip(from_client, PROTO_UDP, udp(src.ip, dst.ip, src.port, dst.port, payload))


class TcpConnection:
    """Tracks both sequence numbers so every segment carries correct seq/ack values."""

    def __init__(self, path, rng):
        self.path = path
        self.next_seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.events = []

    def send(self, from_client, flags, payload=b""):
        """Append one segment; SYN and FIN consume a sequence number like a byte."""
        seq = self.next_seq[from_client]
        ack = self.next_seq[not from_client] if flags & TCP_ACK else 0
        self.events.append(self.path.tcp(from_client, seq, ack, flags, payload))
        consumed = len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        self.next_seq[from_client] = (seq + consumed) & 0xFFFFFFFF


ROUTERS_PER_SIDE = 2


def _mac_for(ip):
    """MAC of the router a host sits behind: a bump in the wire sees a few
    router MACs, not one per host, so MAC pairs are shared by many flows
    (and a parser that falls back to L2 keys groups flows it should not)."""
    return b"\x02\x00\x00\x00" + bytes([ip[0], ip[-1] % ROUTERS_PER_SIDE])


def _filler(size):
    return (b"shadowtap test payload " * (size // 23 + 1))[:size]


def _patch(frame, offset, data):
    return frame[:offset] + data + frame[offset + len(data):]


class TrafficGenerator:
    """Builds conversations; each is a list of (from_client, frame) events in send order."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self._connections = 0
        # Few servers and many clients, as in front of a real service.
        self._servers = {ipv6: [self._random_ip(network) for _ in range(64)]
                         for ipv6, network in SERVER_NETWORKS.items()}

    def _random_ip(self, network):
        host = self.rng.randrange(1, network.num_addresses - 1)  # skip network/broadcast
        return network[host].packed

    def new_path(self, ipv6=False, server_port=80, **encapsulation):
        """A fresh client (new address, next ephemeral port) talking to a pooled server."""
        self._connections += 1
        client_ip = self._random_ip(CLIENT_NETWORKS[ipv6])
        server_ip = self.rng.choice(self._servers[ipv6])
        # Ports from a counter, not the rng, so 5-tuples never repeat by accident.
        client = Endpoint(client_ip, _mac_for(client_ip), 32768 + self._connections % 28232)
        server = Endpoint(server_ip, _mac_for(server_ip), server_port)
        return Path(client, server, **encapsulation)

    def random_tcp_path(self):
        """A TCP path with the mix's share of IPv6, extension headers, VLAN/QinQ and options."""
        rng = self.rng
        ipv6 = rng.random() < 0.15
        encapsulation = {}
        roll = rng.random()
        if roll < 0.10:
            encapsulation["tags"] = (vlan_tag(rng.randrange(1, 4095)),)
        elif roll < 0.13:
            encapsulation["tags"] = (vlan_tag(rng.randrange(1, 4095), tpid=0x88A8),
                                     vlan_tag(rng.randrange(1, 4095)))
        if ipv6 and rng.random() < 0.3:
            encapsulation["ipv6_ext"] = (rng.choice(IPV6_EXTENSIONS),)
        if not ipv6 and rng.random() < 0.05:
            encapsulation["ip_options"] = rng.choice(IPV4_OPTIONS)
        return self.new_path(ipv6, rng.choice((80, 80, 8080)), **encapsulation)

    def conversation(self, kind):
        """Events of one new conversation of the given MIX kind (MIX keys name methods)."""
        return getattr(self, kind)()

    def tcp(self, path=None):
        """Handshake, one to three HTTP exchanges, then FIN teardown or a reset."""
        rng = self.rng
        conn = TcpConnection(path or self.random_tcp_path(), rng)
        conn.send(True, TCP_SYN)
        conn.send(False, TCP_SYN | TCP_ACK)
        conn.send(True, TCP_ACK)
        for _ in range(rng.randint(1, 3)):
            request, response = self._http_exchange()
            conn.send(True, TCP_PSH | TCP_ACK, request)
            segments = [response[i:i + MSS] for i in range(0, len(response), MSS)]
            for i, segment in enumerate(segments):
                conn.send(False, TCP_ACK | (TCP_PSH if i == len(segments) - 1 else 0), segment)
            conn.send(True, TCP_ACK)
        if rng.random() < 0.1:
            conn.send(rng.random() < 0.5, TCP_RST | TCP_ACK)
        else:
            conn.send(True, TCP_FIN | TCP_ACK)
            conn.send(False, TCP_FIN | TCP_ACK)
            conn.send(True, TCP_ACK)
        return conn.events

    def _http_exchange(self):
        """One HTTP/1.1 request and its response, as bytes."""
        rng = self.rng
        method = rng.choice(("GET", "GET", "GET", "HEAD", "POST"))
        target = rng.choice(HTTP_PATHS).format(n=rng.randrange(10000))
        body = b'{"id": %d}' % rng.randrange(10000) if method == "POST" else b""
        request = (f"{method} {target} HTTP/1.1\r\nHost: api{rng.randrange(8)}.example.test\r\n"
                   f"User-Agent: shadowtap-gen/1\r\nContent-Length: {len(body)}\r\n\r\n")
        status, reason = rng.choice(HTTP_STATUS)
        # Bodies from empty to several MSS, so some responses span many segments.
        size = 0 if status == 304 else rng.choice((0, rng.randrange(600), rng.randrange(8000)))
        response = (f"HTTP/1.1 {status} {reason}\r\nServer: shadowtap-gen\r\n"
                    f"Content-Length: {size}\r\n\r\n").encode()
        if method != "HEAD":
            response += _filler(size)
        return request.encode() + body, response

    def dns(self, path=None):
        """A DNS A query to port 53 and its answer."""
        rng = self.rng
        path = path or self.new_path(rng.random() < 0.15, 53)
        txid = rng.getrandbits(16)
        labels = (f"svc{rng.randrange(500)}", "example", "test")
        question = b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"
        question += struct.pack("!HH", 1, 1)
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + rng.randbytes(4)
        query = struct.pack("!6H", txid, 0x0100, 1, 0, 0, 0) + question
        response = struct.pack("!6H", txid, 0x8180, 1, 1, 0, 0) + question + answer
        return [path.udp(True, query), path.udp(False, response)]

    def icmp(self, path=None):
        """One to three IPv4 echo request/reply pairs."""
        path = path or self.new_path()
        ident = self.rng.getrandbits(16)
        data = bytes(range(56))
        events = []
        for seq in range(1, self.rng.randint(1, 3) + 1):
            events.append(path.ip(True, PROTO_ICMP, icmp_echo(True, ident, seq, data)))
            events.append(path.ip(False, PROTO_ICMP, icmp_echo(False, ident, seq, data)))
        return events

    def fragments(self, path=None):
        """A 3000-byte UDP datagram each way, sent as three IPv4 fragments."""
        path = path or self.new_path(server_port=self.rng.choice((2049, 5001)))
        events = []
        for from_client in (True, False):
            src, dst = path.ends(from_client)
            datagram = udp(src.ip, dst.ip, src.port, dst.port, _filler(3000 - 8))
            ident = self.rng.getrandbits(16)
            for offset in range(0, len(datagram), FRAGMENT_SIZE):
                more = IPV4_MF if offset + FRAGMENT_SIZE < len(datagram) else 0
                events.append(path.ip(from_client, PROTO_UDP,
                                      datagram[offset:offset + FRAGMENT_SIZE],
                                      ident=ident, frag=more | offset // 8))
        return events

    def pppoe(self):
        """An IPv4 HTTP connection inside a PPPoE session."""
        return self.tcp(self.new_path(pppoe_session=self.rng.randrange(1, 0xFFFF)))

    def non_ip(self, path=None):
        """An ARP request/reply pair or a single LLDP-like announcement."""
        path = path or self.new_path()
        client, server = path.client, path.server
        if self.rng.random() < 0.6:
            request = arp(1, client.mac, client.ip, bytes(6), server.ip)
            reply = arp(2, server.mac, server.ip, client.mac, client.ip)
            return [path.l2(True, ETH_ARP, request, dst_mac=BROADCAST_MAC),
                    path.l2(False, ETH_ARP, reply)]
        from_client = self.rng.random() < 0.5
        sender = path.ends(from_client)[0]
        tlvs = (_lldp_tlv(1, b"\x04" + sender.mac), _lldp_tlv(2, b"\x05port1"),
                _lldp_tlv(3, struct.pack("!H", 120)), _lldp_tlv(0, b""))
        return [path.l2(from_client, ETH_LLDP, b"".join(tlvs), dst_mac=LLDP_MULTICAST)]

    def malformed(self):
        """One broken frame, derived from a plain IPv4 TCP SYN (IP header at offset 14)."""
        rng = self.rng
        from_client = rng.random() < 0.5
        _, frame = self.new_path().tcp(from_client, rng.getrandbits(32), 0, TCP_SYN)
        breakers = (
            lambda: frame[:rng.randint(1, 13)],                              # runt
            lambda: frame[:14 + rng.randint(1, 19)],                         # short IPv4 header
            lambda: _patch(frame, 14, bytes([0x40 | rng.randrange(5)])),     # IHL < 5
            lambda: _patch(frame, 16, struct.pack("!H", rng.randrange(20))),  # total < header
            lambda: frame[:34],                               # frame ends after the IP header
            lambda: _patch(frame, 16, struct.pack("!H", 20)),  # IP packet ends there, TCP in pad
        )
        return [(from_client, rng.choice(breakers)())]


def _lldp_tlv(tlv_type, value):
    return struct.pack("!H", tlv_type << 9 | len(value)) + value


def generate(flows, seed):
    """Return (client_frames, server_frames) holding at least `flows` distinct flow keys,
    with all conversations interleaved on one timeline and each kept in its own order."""
    gen = TrafficGenerator(seed)
    rng = gen.rng
    kinds, weights = list(MIX), list(MIX.values())
    timeline, keys, finished_tcp = [], set(), []
    horizon = flows * 2.0
    for conversation_no in itertools.count():
        if len(keys) >= flows:
            break
        kind = rng.choices(kinds, weights)[0]
        start = rng.uniform(0, horizon)
        if kind == "tcp":
            path, start = _tcp_path(gen, finished_tcp, start)
            events = gen.tcp(path)
        else:
            events = gen.conversation(kind)
        end = _schedule(timeline, conversation_no, start, events, rng)
        if kind == "tcp":
            finished_tcp.append((path, end))
        keys.update(flow_key(frame) for _, frame in events)
    timeline.sort(key=lambda event: event[:3])
    client = [frame for *_, from_client, frame in timeline if from_client]
    server = [frame for *_, from_client, frame in timeline if not from_client]
    return client, server


def _tcp_path(gen, finished_tcp, start):
    """Return (path, start time) for a TCP conversation; now and then an earlier connection's
    5-tuple is reused, starting after that connection ended as a real port reuse would."""
    if finished_tcp and gen.rng.random() < TCP_REUSE_RATE:
        path, previous_end = gen.rng.choice(finished_tcp)
        return path, previous_end + gen.rng.uniform(1, 50)
    return gen.random_tcp_path(), start


def _schedule(timeline, conversation_no, start, events, rng):
    """Append events to timeline at increasing random times; return when the conversation
    is over, so that a reuse of its 5-tuple can start later."""
    time = start
    for n, (from_client, frame) in enumerate(events):
        timeline.append((time, conversation_no, n, from_client, frame))
        time += rng.expovariate(0.5)
    return time


def main(argv=None):
    """Command-line entry point: write client.pcap and server.pcap into --out-dir."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    client, server = generate(args.flows, args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    write_pcap(os.path.join(args.out_dir, "client.pcap"), client)
    write_pcap(os.path.join(args.out_dir, "server.pcap"), server)
    print(f"wrote {len(client)} client and {len(server)} server frames to {args.out_dir}")


if __name__ == "__main__":
    main()
