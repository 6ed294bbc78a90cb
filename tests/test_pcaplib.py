#!/usr/bin/env python3
"""Tests for pcaplib.py and gen_traffic.py.

Run from the repository root with `python3 -m unittest tests/test_pcaplib.py`
or directly as `python3 tests/test_pcaplib.py`.
"""

import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import unittest

# tests/ is not a package, so make its sibling modules importable however we are started.
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS_DIR)

import gen_traffic  # noqa: E402
from pcaplib import (ETH_IPV4, ETH_IPV6, ETH_PPPOE, IPV4_MF, IPV6_AH, IPV6_DEST_OPTS,  # noqa: E402
                     IPV6_FRAGMENT, IPV6_ROUTING, PPP_IPV6, PROTO_TCP, PROTO_UDP, TCP_SYN,
                     check_flow_union, check_two_way_union, ethernet, flow_key, group_by_flow, ipv4, ipv6, pad,
                     pppoe_session, read_pcap, read_pcap_records, split_queues, tcp, udp, vlan_tag, write_pcap)

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
V4_A, V4_B = bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1])
V6_A, V6_B = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")


def tcp_v4_frame(src=V4_A, dst=V4_B, sport=40000, dport=80, **ipv4_fields):
    """A padded Ethernet/IPv4/TCP SYN frame."""
    segment = tcp(src, dst, sport, dport, 1, 0, TCP_SYN)
    return pad(ethernet(MAC_B, MAC_A, ETH_IPV4, ipv4(src, dst, PROTO_TCP, segment, **ipv4_fields)))


def tcp_v6_packet(ext=(), src=V6_A, dst=V6_B):
    return ipv6(src, dst, PROTO_TCP, tcp(src, dst, 40000, 80, 1, 0, TCP_SYN), ext=ext)


def l4_key(src, sport, dst, dport, proto=PROTO_TCP):
    return ("L4", proto) + tuple(sorted([(src, sport), (dst, dport)]))


def ip_key(a, b):
    return ("IP",) + tuple(sorted([a, b]))


def l2_key(a=MAC_A, b=MAC_B):
    return ("L2",) + tuple(sorted([a, b]))


def write_raw_pcap(path, order, magic, frames, times=None):
    """A pcap written independently of write_pcap, for the reader's byte-order cases;
    times: (seconds, fraction) per frame, else zeros."""
    with open(path, "wb") as f:
        f.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            sec, frac = times[i] if times else (0, 0)
            f.write(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)) + frame)


class PcapFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "t.pcap")
        self.frames = [b"", b"\x01" * 13, tcp_v4_frame(), bytes(range(256)) * 6]

    def tearDown(self):
        self.tmp.cleanup()

    def test_round_trip(self):
        write_pcap(self.path, self.frames, linktype=113)
        self.assertEqual(read_pcap(self.path), (113, self.frames))

    def test_write_is_deterministic_little_endian_usec(self):
        write_pcap(self.path, self.frames)
        with open(self.path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:4], bytes.fromhex("d4c3b2a1"))
        second_record = 24 + 16 + len(self.frames[0])
        self.assertEqual(struct.unpack_from("<II", data, second_record), (0, 1))

    def test_reads_both_byte_orders_and_nanosecond_magic(self):
        for order in "<>":
            for magic in (0xA1B2C3D4, 0xA1B23C4D):
                with self.subTest(order=order, magic=hex(magic)):
                    write_raw_pcap(self.path, order, magic, self.frames)
                    self.assertEqual(read_pcap(self.path), (1, self.frames))

    def test_record_times_in_nanoseconds(self):
        times = [(1, 999999), (2, 5), (3, 0), (4, 1)]
        for magic, unit in ((0xA1B2C3D4, 1000), (0xA1B23C4D, 1)):
            with self.subTest(magic=hex(magic)):
                write_raw_pcap(self.path, "<", magic, self.frames, times)
                linktype, records = read_pcap_records(self.path)
                self.assertEqual(linktype, 1)
                self.assertEqual(records, [(sec * 10**9 + frac * unit, frame)
                                           for (sec, frac), frame in zip(times, self.frames)])

    def test_rejects_other_formats_and_truncation(self):
        cases = {"pcapng": struct.pack("<I", 0x0A0D0D0A) + bytes(40), "short": b"\xd4\xc3",
                 "truncated": None}
        write_pcap(self.path, self.frames)
        with open(self.path, "rb") as f:
            cases["truncated"] = f.read()[:-5]
        for name, data in cases.items():
            with open(self.path, "wb") as f:
                f.write(data)
            with self.subTest(name), self.assertRaises(ValueError):
                read_pcap(self.path)


class FlowKeyEdgeCaseTest(unittest.TestCase):
    """Hand-built frames for the rules of docs/flows.md."""

    def test_runt_is_l2_with_zero_macs(self):
        self.assertEqual(flow_key(b"\xaa" * 13), ("L2", bytes(6), bytes(6)))

    def test_plain_tcp_and_canonical_order(self):
        key = l4_key(V4_A, 40000, V4_B, 80)
        self.assertEqual(flow_key(tcp_v4_frame()), key)
        self.assertEqual(flow_key(tcp_v4_frame(V4_B, V4_A, 80, 40000)), key)
        # Equal addresses: the port decides the order.
        self.assertEqual(flow_key(tcp_v4_frame(V4_A, V4_A, 9, 7))[2:], ((V4_A, 7), (V4_A, 9)))

    def test_two_tags_are_skipped_a_third_makes_l2(self):
        packet = ipv4(V4_A, V4_B, PROTO_TCP, tcp(V4_A, V4_B, 40000, 80, 1, 0, TCP_SYN))
        for tpids in [(0x8100,), (0x88A8, 0x8100), (0x9100, 0x9100), (0x8100,) * 3]:
            frame = ethernet(MAC_B, MAC_A, ETH_IPV4, packet, [vlan_tag(5, t) for t in tpids])
            expected = l2_key() if len(tpids) == 3 else l4_key(V4_A, 40000, V4_B, 80)
            self.assertEqual(flow_key(frame), expected, tpids)

    def test_vlan_tag_without_room_is_l2(self):
        self.assertEqual(flow_key(MAC_B + MAC_A + b"\x81\x00\x00\x05\x08"), l2_key())

    def test_invalid_ipv4_headers_are_l2(self):
        frame = tcp_v4_frame()
        broken = {
            "ihl 4": frame[:14] + b"\x44" + frame[15:],
            "version 6": frame[:14] + b"\x65" + frame[15:],
            "total < header": frame[:16] + struct.pack("!H", 19) + frame[18:],
            "short header": frame[:14 + 19],
            "options missing": ethernet(MAC_B, MAC_A, ETH_IPV4,
                                        ipv4(V4_A, V4_B, PROTO_TCP, b"", options=bytes(8)))[:38],
        }
        for name, data in broken.items():
            self.assertEqual(flow_key(data), l2_key(), name)

    def test_ipv4_fragments_are_ip_flows(self):
        for frag in (IPV4_MF, 185, IPV4_MF | 185):
            self.assertEqual(flow_key(tcp_v4_frame(frag=frag)), ip_key(V4_A, V4_B), frag)
        self.assertEqual(flow_key(tcp_v4_frame(frag=0x4000))[0], "L4")  # DF is no fragment

    def test_ipv4_options_are_skipped(self):
        self.assertEqual(flow_key(tcp_v4_frame(options=bytes.fromhex("94040000"))),
                         l4_key(V4_A, 40000, V4_B, 80))

    def test_tcp_cut_after_ip_header_is_ip(self):
        frame = tcp_v4_frame()
        ends_after_header = frame[:34]
        total_is_header = frame[:16] + struct.pack("!H", 20) + frame[18:]  # TCP lies in padding
        three_l4_bytes = frame[:16] + struct.pack("!H", 23) + frame[18:]
        for data in (ends_after_header, total_is_header, three_l4_bytes):
            self.assertEqual(flow_key(data), ip_key(V4_A, V4_B))
        self.assertEqual(flow_key(frame[:16] + struct.pack("!H", 24) + frame[18:])[0], "L4")

    def test_udp_and_other_protocols(self):
        datagram = udp(V4_A, V4_B, 5353, 53, b"q")
        frame = ethernet(MAC_A, MAC_B, ETH_IPV4, ipv4(V4_A, V4_B, PROTO_UDP, datagram))
        self.assertEqual(flow_key(frame), l4_key(V4_A, 5353, V4_B, 53, PROTO_UDP))
        gre = ethernet(MAC_A, MAC_B, ETH_IPV4, ipv4(V4_A, V4_B, 47, bytes(8)))
        self.assertEqual(flow_key(gre), ip_key(V4_A, V4_B))

    def test_ipv6_extension_headers(self):
        key = l4_key(V6_A, 40000, V6_B, 80)
        cases = {
            "none": ((), key),
            "routing + dest opts": (((IPV6_ROUTING, bytes(14)), (IPV6_DEST_OPTS, b"")), key),
            "ah": (((IPV6_AH, bytes(14)),), key),
            "atomic fragment": (((IPV6_FRAGMENT, struct.pack("!HI", 0, 7)),), key),
            "first fragment": (((IPV6_FRAGMENT, struct.pack("!HI", 1, 7)),), ip_key(V6_A, V6_B)),
            "later fragment": (((IPV6_FRAGMENT, struct.pack("!HI", 8, 7)),), ip_key(V6_A, V6_B)),
            "eight headers": (((IPV6_DEST_OPTS, b""),) * 8, key),
            "nine headers": (((IPV6_DEST_OPTS, b""),) * 9, ip_key(V6_A, V6_B)),
        }
        for name, (ext, expected) in cases.items():
            frame = ethernet(MAC_A, MAC_B, ETH_IPV6, tcp_v6_packet(ext))
            self.assertEqual(flow_key(frame), expected, name)

    def test_ipv6_ah_length_is_in_four_byte_units(self):
        # 12 bytes of AH: read as (n+1)*8 it would land in the middle of the TCP header.
        packet = tcp_v6_packet()
        ah = bytes([PROTO_TCP, 1]) + bytes(10)
        packet = packet[:6] + bytes([IPV6_AH]) + packet[7:40] + ah + packet[40:]
        packet = packet[:4] + struct.pack("!H", len(packet) - 40) + packet[6:]
        self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_IPV6, packet)),
                         l4_key(V6_A, 40000, V6_B, 80))

    def test_ipv6_header_past_end_or_invalid(self):
        packet = tcp_v6_packet(((IPV6_DEST_OPTS, bytes(30)),))
        self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_IPV6, packet[:60])),
                         ip_key(V6_A, V6_B))
        truncated_payload_len = packet[:4] + struct.pack("!H", 16) + packet[6:]
        self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_IPV6, truncated_payload_len)),
                         ip_key(V6_A, V6_B))
        for bad in (packet[:39], b"\x40" + packet[1:]):
            self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_IPV6, bad)), l2_key())

    def test_pppoe(self):
        v6 = pppoe_session(7, PPP_IPV6, tcp_v6_packet())
        frame = ethernet(MAC_A, MAC_B, ETH_PPPOE, v6, [vlan_tag(12)])
        self.assertEqual(flow_key(frame), l4_key(V6_A, 40000, V6_B, 80))
        lcp = pppoe_session(7, 0xC021, tcp_v6_packet())
        self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_PPPOE, lcp)), l2_key())
        self.assertEqual(flow_key(ethernet(MAC_A, MAC_B, ETH_PPPOE, v6[:7])), l2_key())


def swap_macs(frame):
    return frame[6:12] + frame[0:6] + frame[12:]


class GeneratedTrafficKeyTest(unittest.TestCase):
    """Every kind of conversation the generator makes keeps one key in both directions."""

    def setUp(self):
        self.gen = gen_traffic.TrafficGenerator(seed=3)

    def assert_one_bidirectional_flow(self, events, what):
        keys = {flow_key(frame) for _, frame in events}
        self.assertEqual(len(keys), 1, what)
        self.assertEqual({from_client for from_client, _ in events}, {True, False}, what)

    def test_tcp_over_every_encapsulation(self):
        gen = self.gen
        variants = {
            "ipv4": gen.new_path(),
            "ipv6": gen.new_path(ipv6=True),
            "vlan": gen.new_path(tags=(vlan_tag(10),)),
            "qinq": gen.new_path(ipv6=True, tags=(vlan_tag(10, 0x88A8), vlan_tag(20))),
            "pppoe": gen.new_path(pppoe_session=9),
        }
        variants.update({f"ipv4 options {o.hex()}": gen.new_path(ip_options=o)
                         for o in gen_traffic.IPV4_OPTIONS})
        variants.update({f"ipv6 ext {e[0]}": gen.new_path(ipv6=True, ipv6_ext=(e,))
                         for e in gen_traffic.IPV6_EXTENSIONS})
        for name, path in variants.items():
            events = gen.tcp(path)
            self.assert_one_bidirectional_flow(events, name)
            self.assertEqual(next(iter({flow_key(f) for _, f in events}))[0], "L4", name)

    def test_udp_icmp_and_fragments(self):
        for kind in ("dns", "icmp", "fragments", "pppoe"):
            for _ in range(20):
                self.assert_one_bidirectional_flow(self.gen.conversation(kind), kind)

    def test_l2_kinds_are_symmetric(self):
        for kind in ("non_ip", "malformed"):
            for _ in range(50):
                for _, frame in self.gen.conversation(kind):
                    if flow_key(frame)[0] == "L2" and len(frame) >= 14:
                        self.assertEqual(flow_key(swap_macs(frame)), flow_key(frame), kind)


class FlowToolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        client, server = gen_traffic.generate(150, seed=11)
        cls.frames = client + server
        cls.flows = group_by_flow(cls.frames)

    def test_group_by_flow_indexes_in_order(self):
        indexes = sorted(i for group in self.flows.values() for i in group)
        self.assertEqual(indexes, list(range(len(self.frames))))
        self.assertTrue(all(group == sorted(group) for group in self.flows.values()))

    def test_split_queues_keeps_flows_together_in_order(self):
        queues = split_queues(self.frames, 4)
        self.assertEqual(queues, split_queues(self.frames, 4))
        self.assertEqual(sum(map(len, queues)), len(self.frames))
        seen = {}
        for n, queue in enumerate(queues):
            self.assertTrue(queue, "a queue got no traffic at all")
            for frame in queue:
                self.assertEqual(seen.setdefault(flow_key(frame), n), n)
            self.assertEqual(queue, [f for f in self.frames if seen.get(flow_key(f)) == n])
        self.assertRaises(ValueError, split_queues, self.frames, 0)

    def selected_output(self, keep):
        chosen = {key for n, key in enumerate(self.flows) if keep(n)}
        return chosen, [f for f in self.frames if flow_key(f) in chosen]

    def test_accepts_union_of_complete_flows(self):
        chosen, output = self.selected_output(lambda n: n % 3 == 0)
        self.assertEqual(check_flow_union(self.frames, output), (chosen, []))
        self.assertEqual(check_flow_union(self.frames, []), (set(), []))
        self.assertEqual(check_flow_union(self.frames, self.frames)[1], [])

    def test_reports_missing_extra_and_reordered(self):
        _, output = self.selected_output(lambda n: n % 2 == 0)
        big = max(range(len(output)), key=lambda i: len(self.flows[flow_key(output[i])]))
        later = next(i for i in range(big + 1, len(output))
                     if flow_key(output[i]) == flow_key(output[big]) and output[i] != output[big])
        stranger = tcp_v4_frame(bytes([192, 0, 2, 1]))
        cases = {
            "missing": output[:big] + output[big + 1:],
            "not a frame of this flow": output + [output[big][:-1] + b"\x01"],
            "belong to no input flow": output + [stranger],
            "out of input order": (output[:big] + [output[later]] + output[big + 1:later]
                                   + [output[big]] + output[later + 1:]),
        }
        for expected, bad_output in cases.items():
            _, errors = check_flow_union(self.frames, bad_output)
            self.assertEqual(len(errors), 1, errors)
            self.assertIn(expected, errors[0])

    def test_duplicate_frames_are_a_multiset(self):
        frame = tcp_v4_frame()
        self.assertEqual(check_flow_union([frame, frame], [frame, frame])[1], [])
        errors = check_flow_union([frame, frame], [frame])[1]
        self.assertEqual(len(errors), 1)
        self.assertIn("input #1 is missing", errors[0])
        self.assertIn("not a frame", check_flow_union([frame], [frame, frame])[1][0])

    def test_two_way_union_accepts_any_interleaving_of_whole_flows(self):
        client, server = gen_traffic.generate(150, seed=11)
        both = set(group_by_flow(client)) | set(group_by_flow(server))
        merged = [f for pair in zip(server, client) for f in pair]
        merged += client[len(server):] + server[len(client):]
        self.assertEqual(check_two_way_union(client, server, merged), (both, []))
        self.assertEqual(check_two_way_union(client, server, client + server), (both, []))

    def test_two_way_union_follows_identical_frames_in_both_directions(self):
        same, a, b = tcp_v4_frame(), tcp_v4_frame(sport=1), tcp_v4_frame(sport=2)
        # "same" then "b" must be read as the server's pair, not the client's.
        self.assertEqual(check_two_way_union([same, a], [same, b], [same, b, same, a])[1], [])

    def test_two_way_union_reports_reordering_and_missing_frames(self):
        a1, a2, b1 = tcp_v4_frame(), tcp_v4_frame(ttl=1), tcp_v4_frame(ttl=2)
        for bad in ([a2, a1, b1], [a1, b1], [a1, a2, b1, b1]):
            errors = check_two_way_union([a1, a2], [b1], bad)[1]
            self.assertEqual(len(errors), 1, bad)
            self.assertIn("not the 2 client and 1 server frames in order", errors[0])


class GeneratorTest(unittest.TestCase):
    FLOWS = 300

    def test_deterministic(self):
        self.assertEqual(gen_traffic.generate(60, 4), gen_traffic.generate(60, 4))
        self.assertNotEqual(gen_traffic.generate(60, 4), gen_traffic.generate(60, 5))

    def test_flow_count_and_directions(self):
        client, server = gen_traffic.generate(self.FLOWS, 2)
        client_keys, server_keys = set(map(flow_key, client)), set(map(flow_key, server))
        keys = client_keys | server_keys
        self.assertGreaterEqual(len(keys), self.FLOWS)
        self.assertEqual({key[0] for key in keys}, {"L4", "IP", "L2"})
        one_way_l4 = [k for k in keys if k[0] == "L4" and not (k in client_keys & server_keys)]
        self.assertEqual(one_way_l4, [])
        self.assertGreater(len(client_keys & server_keys), 0.8 * self.FLOWS)
        self.assertTrue(all(len(f) >= 60 for f in client + server if flow_key(f)[0] == "L4"))

    def test_cli_output_is_byte_identical(self):
        script = os.path.join(TESTS_DIR, "gen_traffic.py")
        with tempfile.TemporaryDirectory() as tmp:
            outputs = []
            for run in ("a", "b"):
                out_dir = os.path.join(tmp, run)
                subprocess.run([sys.executable, script, "--out-dir", out_dir, "--flows", "80",
                                "--seed", "9"], check=True, capture_output=True)
                outputs.append([pathlib.Path(out_dir, name).read_bytes()
                                for name in ("client.pcap", "server.pcap")])
            self.assertEqual(outputs[0], outputs[1])
            self.assertEqual(read_pcap(os.path.join(tmp, "a", "client.pcap"))[0], 1)


if __name__ == "__main__":
    unittest.main()
