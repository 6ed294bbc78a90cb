"""Encapsulated and truncated copies, checked from the outside.

Generated two-way traffic (VLAN, QinQ, IPv6, fragments, PPPoE, non-IP, runts and a few
jumbo frames) goes through one mirror of every kind at once: VLAN, VXLAN, GRE with and
without a key, ERSPAN, and a truncated VXLAN and ERSPAN, beside an unencapsulated mirror
that is itself checked against the originals.  Each shadow's output must be decoded by
tshark as its tunnel, with good outer checksums and the configured ids; stripped of its
outer headers in Python (pcaplib.untag / decapsulate), every copy must be exactly the
unencapsulated copy (or its first N bytes).  Then two mirrors with different percents and
tunnels, a handful of real captures, and a bad encapsulation in the config.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from collections import Counter

from corpus import corpus_dir
from gen_traffic import generate
from pcaplib import (ETH_ERSPAN_II, ETH_IPV4, ETH_IPV6, ETH_TEB, ETH_VLAN, GRE_KEY,
                     GRE_SEQUENCE, IPV4_MF, PROTO_GRE, PROTO_UDP, VLAN_TPIDS,
                     VXLAN_DEFAULT_PORT, check_two_way_union, decapsulate, ethernet,
                     flow_key, group_by_flow, ipv4, read_pcap, udp,
                     untag, write_pcap)
from shadowtap_run import Mirror, counter_errors, run

FLOWS = 400
SEED = 4       # its traffic has runts of 1, 3, 7, 11, 12 and 13 bytes
TRUNCATE_VXLAN, TRUNCATE_ERSPAN = 96, 64
OUTER = {"dst_mac": "02:00:00:00:00:02", "src_ip": "192.0.2.1", "dst_ip": "192.0.2.2"}
VXLAN = {"type": "vxlan", "vni": 5001, "dst_mac": "02:00:00:00:00:02",
         "src_mac": "02:00:00:00:00:01", "src_ip": "192.0.2.1", "dst_ip": "192.0.2.2",
         "dst_port": VXLAN_DEFAULT_PORT, "src_port": "flow", "ttl": 64, "dscp": 0,
         "udp_checksum": True}
MIRRORS = [
    Mirror("plain", 100),
    Mirror("vlan", 100, encap={"type": "vlan", "vlan_id": 100, "pcp": 3}),
    Mirror("vxlan", 100, encap=VXLAN),
    # Without src_mac: the outer source is the shadow port's own MAC.
    Mirror("gre", 100, encap={"type": "gre", **OUTER, "ttl": 17, "dscp": 46}),
    Mirror("gre-key", 100, encap={"type": "gre", "key": 42, **OUTER}),
    Mirror("erspan", 100, encap={"type": "erspan", "session_id": 7,
                                 "src_mac": "02:00:00:00:00:01", **OUTER}),
    Mirror("vxlan-cut", 100, truncate=TRUNCATE_VXLAN, encap={**VXLAN, "vni": 0xFFFFFF}),
    Mirror("erspan-cut", 100, truncate=TRUNCATE_ERSPAN,
           encap={"type": "erspan", "session_id": 1023, **OUTER}),
]
ENCAPSULATED = [m for m in MIRRORS if m.encap]

# Outer header bytes in front of the original, per tunnel (GRE: + 4 with a key).
HEADER_BYTES = {"vxlan": 50, "gre": 38, "erspan": 50}
DEFAULT_TTL = 64
VXLAN_FLAG_VNI = 0x08000000
VXLAN_ENTROPY_BASE = 49152
# What tshark's frame.protocols starts with, per encapsulation, up to the inner frame.
PROTOCOLS = {"vlan": "eth:ethertype:vlan:ethertype",
             "vxlan": "eth:ethertype:ip:udp:vxlan:eth",
             "gre": "eth:ethertype:ip:gre:eth",
             "erspan": "eth:ethertype:ip:gre:erspan:eth"}
# tshark's checksum status values (epan/proto.h, proto_checksum_enum_e).
CHECKSUM_GOOD, CHECKSUM_NOT_PRESENT = "1", "3"
TSHARK_FIELDS = ("frame.protocols", "ip.checksum.status", "udp.checksum.status",
                 "vxlan.vni", "gre.key", "erspan.spanid", "erspan.truncated",
                 "vlan.id", "vlan.priority")
JUMBO_SIZES = {True: (9001, 4097, 2049), False: (6001, 3333)}   # by from_client


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def tshark_available():
    return shutil.which("tshark") is not None


def tshark(path, decode_as=(), fields=TSHARK_FIELDS):
    """One dict of fields per frame of a pcap, as tshark decodes it with IPv4 and UDP
    checksum validation on; a field that occurs several times gives its first (outer)
    occurrence."""
    cmd = ["tshark", "-n", "-r", path, "-o", "ip.check_checksum:TRUE",
           "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "occurrence=f",
           "-E", "separator=/t"]
    for rule in decode_as:
        cmd += ["-d", rule]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         check=True, timeout=300).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def write_frames(path, frames):
    write_pcap(path, frames)
    return path


def starts_with(protocols, prefix):
    """Whether tshark's frame.protocols begins with the protocols of prefix."""
    return protocols == prefix or protocols.startswith(prefix + ":")


def _untag(frame):
    tpid, tci, inner = untag(frame)
    return {"tpid": tpid, "tci": tci}, inner


def inner_frames(mirror, frames):
    """(outer header fields, original) of each of a mirror's frames."""
    return [(_untag if mirror.encap["type"] == "vlan" else decapsulate)(f) for f in frames]


def jumbo_flow():
    """One UDP conversation of frames larger than an mbuf, so that copies are chains
    of segments: (client frames, server frames)."""
    ends = {True: (b"\x0a\x09\x00\x01", bytes.fromhex("020000000a01"), 4000),
            False: (b"\x0a\x09\x00\x02", bytes.fromhex("020000000a02"), 9000)}
    frames = {}
    for from_client, sizes in JUMBO_SIZES.items():
        (src, smac, sport), (dst, dmac, dport) = ends[from_client], ends[not from_client]
        frames[from_client] = [
            ethernet(dmac, smac, ETH_IPV4, ipv4(src, dst, PROTO_UDP, udp(
                src, dst, sport, dport, bytes(i * 7 & 0xFF for i in range(size - 42)))))
            for size in sizes]
    return frames[True], frames[False]


def first_difference(got, wanted):
    """Where two frame lists first differ, for a message."""
    for i, (g, w) in enumerate(zip(got, wanted)):
        if g != w:
            at = next((j for j, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
            return (f"copy #{i}: {len(g)} bytes, expected {len(w)}; first difference at byte "
                    f"{at}: got {g[at:at + 8].hex()} expected {w[at:at + 8].hex()}")
    return f"{len(got)} copies, expected {len(wanted)}"


def ethertype_after_tags(frame):
    """(outermost TPID or EtherType at 12, PCP, VID) of a frame; PCP/VID None untagged."""
    if len(frame) < 16:
        return None, None, None
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype not in VLAN_TPIDS:
        return ethertype, None, None
    tci = int.from_bytes(frame[14:16], "big")
    return ethertype, tci >> 13, tci & 0xFFF


class EveryEncapsulation(unittest.TestCase):
    """One run, one mirror of every encapsulation at 100%."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_encap_")
        client, server = generate(FLOWS, SEED)
        jumbo_client, jumbo_server = jumbo_flow()
        cls.client, cls.server = client + jumbo_client, server + jumbo_server
        cls.originals = cls.client + cls.server
        cls.flows = set(group_by_flow(cls.client)) | set(group_by_flow(cls.server))
        cls.r = run(cls.tmp, [cls.client], [cls.server], MIRRORS)
        cls.frames = {m.name: cls.r.mirror_frames(m.name) for m in MIRRORS}
        cls.plain = cls.frames["plain"]
        cls.decoded = {}
        if tshark_available():
            cls.decoded = {m.name: tshark(write_frames(
                os.path.join(cls.tmp, f"{m.name}.pcap"), cls.frames[m.name]))
                for m in ENCAPSULATED}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def need_tshark(self):
        if not tshark_available():
            print("SKIP: tshark is not installed", file=sys.stderr)
            self.skipTest("tshark is not installed")

    def expected_inner(self, m):
        """What the unencapsulated mirror got, cut to the mirror's truncation."""
        return [f[:m.truncate] for f in self.plain] if m.truncate else self.plain

    def test_traffic_has_what_the_encapsulations_must_survive(self):
        kinds = Counter()
        for f in self.originals:
            ethertype, _, _ = ethertype_after_tags(f)
            key = flow_key(f)
            kinds["runt"] += len(f) < 14
            kinds["802.1Q"] += ethertype == ETH_VLAN
            kinds["QinQ"] += ethertype == 0x88A8
            kinds["IPv6"] += ethertype == ETH_IPV6
            kinds["fragment"] += (ethertype == ETH_IPV4 and
                                  int.from_bytes(f[20:22], "big") & (IPV4_MF | 0x1FFF) != 0)
            kinds["non-IP"] += key[0] == "L2" and len(f) >= 14
            kinds["longer than 96"] += len(f) > TRUNCATE_VXLAN
            kinds["64 or shorter"] += len(f) <= TRUNCATE_ERSPAN
            kinds["jumbo"] += len(f) > 2048
        for kind in ("runt", "802.1Q", "QinQ", "IPv6", "fragment", "non-IP",
                     "longer than 96", "64 or shorter", "jumbo"):
            self.assertGreater(kinds[kind], 0, f"no {kind} frame in the traffic")

    def test_originals_forwarded_byte_for_byte(self):
        self.assertEqual(self.r.server_out[0], self.client)
        self.assertEqual(self.r.client_out[0], self.server)
        self.assertEqual(counter_errors(self.r, self.client, self.server), [])

    def test_unencapsulated_mirror_is_every_original(self):
        self.assertEqual(len(self.plain), len(self.originals))
        selected, errors = check_two_way_union(self.client, self.server, self.plain)
        self.assertEqual(errors[:5], [], f"{len(errors)} bad flows")
        self.assertEqual(selected, self.flows)

    def test_tshark_decodes_every_copy_as_its_encapsulation(self):
        self.need_tshark()
        for m in ENCAPSULATED:
            with self.subTest(mirror=m.name):
                rows = self.decoded[m.name]
                self.assertEqual(len(rows), len(self.frames[m.name]))
                prefix = PROTOCOLS[m.encap["type"]]
                bad = []
                for i, (row, original) in enumerate(zip(rows, self.expected_inner(m))):
                    # A VLAN tag in a runt cannot make an Ethernet header.
                    want = "eth" if m.encap["type"] == "vlan" and len(original) < 14 else prefix
                    if not starts_with(row["frame.protocols"], want):
                        bad.append(f"#{i}: {row['frame.protocols']}")
                self.assertEqual(bad[:5], [], f"{len(bad)} copies not decoded as {prefix}")

    def test_tshark_finds_the_outer_checksums_good(self):
        self.need_tshark()
        for m in ENCAPSULATED:
            if m.encap["type"] == "vlan":
                continue
            with self.subTest(mirror=m.name):
                fields = ["ip.checksum.status"]
                if m.encap["type"] == "vxlan":   # else the first UDP is an inner one
                    fields.append("udp.checksum.status")
                for field in fields:
                    statuses = Counter(row[field] for row in self.decoded[m.name])
                    self.assertEqual(statuses, {CHECKSUM_GOOD: len(self.frames[m.name])},
                                     f"{field} (1 is good, 0 bad, 2 unverified, 3 absent)")

    def test_tshark_reads_the_configured_ids(self):
        self.need_tshark()
        for m in ENCAPSULATED:
            e = m.encap
            field, want = {
                "vlan": ("vlan.id", e.get("vlan_id")),
                "vxlan": ("vxlan.vni", e.get("vni")),
                "gre": ("gre.key", e.get("key")),
                "erspan": ("erspan.spanid", e.get("session_id")),
            }[e["type"]]
            # A VLAN tag in a runt is no tag to tshark.
            rows = [row for row, original in zip(self.decoded[m.name], self.plain)
                    if e["type"] != "vlan" or len(original) >= 14]
            with self.subTest(mirror=m.name, field=field):
                values = Counter(int(row[field], 0) if row[field] else None for row in rows)
                self.assertEqual(values, {want: len(rows)})
                if e["type"] == "vlan":
                    priorities = Counter(row["vlan.priority"] for row in rows)
                    self.assertEqual(priorities, {str(e["pcp"]): len(rows)})
                if e["type"] == "erspan":
                    wrong = [i for i, (row, f) in enumerate(zip(rows, self.plain))
                             if row["erspan.truncated"] !=
                             ("1" if m.truncate and len(f) > m.truncate else "0")]
                    self.assertEqual(wrong[:5], [], f"tshark's ERSPAN T bit is wrong on "
                                     f"{len(wrong)} copies")

    def test_inner_frames_are_the_originals(self):
        for m in ENCAPSULATED:
            with self.subTest(mirror=m.name):
                inner = [f for _, f in inner_frames(m, self.frames[m.name])]
                want = self.expected_inner(m)
                self.assertTrue(inner == want, first_difference(inner, want))
                if m.truncate:
                    whole = sum(len(f) <= m.truncate for f in self.plain)
                    self.assertGreater(whole, 0)
                    self.assertEqual(sum(a == b for a, b in zip(inner, self.plain)), whole,
                                     "the originals no longer than truncate are whole")

    def test_vlan_tag_is_the_configured_one(self):
        m = next(m for m in MIRRORS if m.name == "vlan")
        tags = Counter((o["tpid"], o["tci"]) for o, _ in inner_frames(m, self.frames["vlan"]))
        self.assertEqual(tags, {(ETH_VLAN, 3 << 13 | 100): len(self.plain)})

    def test_outer_headers(self):
        default_macs = {}
        for m in ENCAPSULATED:
            if m.encap["type"] == "vlan":
                continue
            problems, src_macs = self.outer_problems(m)
            if "src_mac" not in m.encap:
                default_macs[m.name] = src_macs
            with self.subTest(mirror=m.name):
                self.assertEqual(problems[:5], [], f"{len(problems)} problems")
        # Without src_mac, each copy leaves from its own port's address.
        self.assertEqual(len(default_macs), 3, default_macs)
        for name, macs in default_macs.items():
            self.assertEqual(len(macs), 1, f"{name}: several source MACs {macs}")
            src = next(iter(macs))
            self.assertFalse(src[0] & 1 or src == bytes(6), f"{name}: {src.hex()}")
        self.assertEqual(len(set().union(*default_macs.values())), 3,
                         "two shadow ports sent from the same MAC")

    def outer_problems(self, m):
        """Check every outer header field of an IPv4 tunnel mirror's copies against its
        config; returns (problems, set of outer source MACs)."""
        e, kind = m.encap, m.encap["type"]
        header = HEADER_BYTES[kind] + (4 if kind == "gre" and "key" in e else 0)
        problems, src_macs, ids, seqs = [], set(), [], []
        decoded = inner_frames(m, self.frames[m.name])
        for i, ((o, inner), original) in enumerate(zip(decoded, self.plain)):
            frame = self.frames[m.name][i]
            want = {
                "header_bytes": header, "eth_dst": mac(e["dst_mac"]), "ip_ihl": 20,
                "ip_tos": e.get("dscp", 0) << 2, "ip_total_length": len(frame) - 14,
                "ip_frag": 0, "ip_ttl": e.get("ttl", DEFAULT_TTL),
                "ip_src": ip4(e["src_ip"]), "ip_dst": ip4(e["dst_ip"]), "ip_checksum_ok": True,
            }
            if "src_mac" in e:
                want["eth_src"] = mac(e["src_mac"])
            if kind == "vxlan":
                want.update(ip_proto=PROTO_UDP, udp_dport=e.get("dst_port", VXLAN_DEFAULT_PORT),
                            udp_length=len(frame) - 34, udp_checksum_ok=True,
                            vxlan_flags=VXLAN_FLAG_VNI, vxlan_vni=e["vni"], vxlan_reserved=0)
            elif kind == "gre":
                want.update(ip_proto=PROTO_GRE, gre_flags=GRE_KEY if "key" in e else 0,
                            gre_proto=ETH_TEB, gre_key=e.get("key"), gre_seq=None)
            else:
                tpid, pcp, vid = ethertype_after_tags(inner)
                tagged = tpid in VLAN_TPIDS      # QinQ: the outer tag
                want.update(ip_proto=PROTO_GRE, gre_flags=GRE_SEQUENCE, gre_proto=ETH_ERSPAN_II,
                            gre_key=None, erspan_version=1, erspan_session=e["session_id"],
                            erspan_index=0, erspan_reserved=0,
                            erspan_truncated=int(bool(m.truncate) and
                                                 len(original) > m.truncate))
                want.update(erspan_vlan=vid if tagged else 0, erspan_cos=pcp if tagged else 0,
                            erspan_en=3 if tagged else 0)
                seqs.append(o["gre_seq"])
            got = {k: o.get(k) for k in want}
            if got != want:
                problems.append(f"copy #{i}: " + ", ".join(
                    f"{k} {got[k]!r} != {want[k]!r}" for k in want if got[k] != want[k]))
            if kind == "vxlan" and not VXLAN_ENTROPY_BASE <= o["udp_sport"] <= 0xFFFF:
                problems.append(f"copy #{i}: UDP source port {o['udp_sport']}")
            src_macs.add(o["eth_src"])
            ids.append(o["ip_id"])
        # The IPv4 id (and ERSPAN's sequence) count the worker's copies to the mirror.
        if any((b - a) & 0xFFFF != 1 for a, b in zip(ids, ids[1:])):
            problems.append(f"outer IPv4 ids do not count up by one: {ids[:8]}...")
        if any(b - a != 1 for a, b in zip(seqs, seqs[1:])):
            problems.append(f"GRE sequence numbers do not count up by one: {seqs[:8]}...")
        return problems, src_macs

    def test_vxlan_source_port_follows_the_flow(self):
        m = next(m for m in MIRRORS if m.name == "vxlan")
        ports, directions = {}, {}
        client = set(self.client)
        for o, inner in inner_frames(m, self.frames["vxlan"]):
            key = flow_key(inner)
            ports.setdefault(key, set()).add(o["udp_sport"])
            directions.setdefault(key, set()).add(inner in client)
        several = {k: p for k, p in ports.items() if len(p) > 1}
        self.assertEqual(len(several), 0, f"flows with several source ports: "
                         f"{list(several.values())[:3]}")
        two_way = sum(len(d) == 2 for d in directions.values())
        self.assertGreater(two_way, len(self.flows) // 2, "too few two-way flows to tell")
        distinct = len({p for (p,) in ports.values()})
        self.assertGreater(distinct, len(self.flows) // 2,
                           f"{distinct} source ports for {len(self.flows)} flows")
        # The truncated VXLAN mirror gives each copy the same port.
        cut = next(m for m in MIRRORS if m.name == "vxlan-cut")
        self.assertEqual([o["udp_sport"] for o, _ in inner_frames(cut, self.frames[cut.name])],
                         [o["udp_sport"] for o, _ in inner_frames(m, self.frames["vxlan"])])

    def test_counters(self):
        stats = self.r.stats["mirrors"]
        for m in MIRRORS:
            with self.subTest(mirror=m.name):
                s, frames = stats[m.name], self.frames[m.name]
                self.assertEqual(s["mirrored_packets"], len(frames))
                self.assertEqual(s["mirrored_bytes"], sum(map(len, frames)),
                                 "bytes on the wire, outer headers included")
                self.assertEqual(s["mirrored_flows"], len(self.flows))
                longer = sum(len(f) > m.truncate for f in self.originals) if m.truncate else 0
                self.assertEqual(s["truncated_packets"], longer)
                self.assertEqual(s["mirror_dropped_packets"], 0)
                self.assertEqual(set(s["dropped_by_cause"].values()), {0})


class DecapsulateOracle(unittest.TestCase):
    """The test's own decoder notices what it is there to notice."""

    def test_a_wrong_udp_checksum_is_seen(self):
        inner = bytes(range(60))
        src, dst = ip4("192.0.2.1"), ip4("192.0.2.2")
        vxlan = (VXLAN_FLAG_VNI).to_bytes(4, "big") + (5001 << 8).to_bytes(4, "big")
        frame = ethernet(mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), ETH_IPV4,
                         ipv4(src, dst, PROTO_UDP, udp(src, dst, 50000, 4789, vxlan + inner)))
        outer, got = decapsulate(frame)
        self.assertEqual((outer["vxlan_vni"], outer["header_bytes"], got), (5001, 50, inner))
        self.assertTrue(outer["udp_checksum_ok"] and outer["ip_checksum_ok"])
        broken = frame[:-1] + bytes([frame[-1] ^ 1])
        self.assertFalse(decapsulate(broken)[0]["udp_checksum_ok"])
        broken = frame[:24] + bytes([frame[24] ^ 1]) + frame[25:]   # the IPv4 checksum
        self.assertFalse(decapsulate(broken)[0]["ip_checksum_ok"])


BLUE = Mirror("blue", 30, encap={"type": "vxlan", "vni": 30, **OUTER, "dst_port": 8472,
                                 "src_port": 5555, "udp_checksum": False, "ttl": 8,
                                 "dscp": 46})
GREEN = Mirror("green", 70, encap={"type": "gre", "key": 0xFFFFFFFF,
                                   "src_mac": "02:00:00:00:00:01", **OUTER})
TWO_FLOWS = 1500
# ~1500 flows: one standard deviation of a 30% share is ~1.2 points.
SHARE_TOLERANCE_POINTS = 5


class TwoMirrors(unittest.TestCase):
    """Two mirrors, different percents and tunnels, no routes."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_encap2_")
        cls.client, cls.server = generate(TWO_FLOWS, SEED + 1)
        cls.flows = set(group_by_flow(cls.client)) | set(group_by_flow(cls.server))
        cls.r = run(cls.tmp, [cls.client], [cls.server], [BLUE, GREEN])
        # The same names and percents without encapsulation: the same flows.
        cls.reference = run(cls.tmp, [cls.client], [cls.server],
                            [Mirror(BLUE.name, BLUE.percent), Mirror(GREEN.name, GREEN.percent)])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def inner(self, m):
        return [f for _, f in inner_frames(m, self.r.mirror_frames(m.name))]

    def selected(self, m):
        selected, errors = check_two_way_union(self.client, self.server, self.inner(m))
        self.assertEqual(errors[:5], [], f"{m.name}: {len(errors)} bad flows")
        return selected

    def test_each_mirror_gets_whole_flows_at_its_share(self):
        for m in (BLUE, GREEN):
            with self.subTest(mirror=m.name):
                selected = self.selected(m)
                share = 100.0 * len(selected) / len(self.flows)
                print(f"{m.name}: {len(selected)} of {len(self.flows)} flows = {share:.1f}% "
                      f"(asked {m.percent}%)", file=sys.stderr)
                self.assertLessEqual(abs(share - m.percent), SHARE_TOLERANCE_POINTS)
                stats = self.r.stats["mirrors"][m.name]
                self.assertEqual(stats["mirrored_flows"], len(selected))
                self.assertEqual(stats["mirrored_packets"], len(self.inner(m)))
                self.assertEqual(stats["truncated_packets"], 0)

    def test_encapsulation_does_not_change_the_selection(self):
        for m in (BLUE, GREEN):
            with self.subTest(mirror=m.name):
                want = self.reference.mirror_frames(m.name)
                got = self.inner(m)
                self.assertTrue(got == want, first_difference(got, want))

    def test_a_flow_both_select_is_in_both_whole(self):
        blue, green = self.selected(BLUE), self.selected(GREEN)
        both = blue & green
        share = 100.0 * len(both) / len(self.flows)
        self.assertLessEqual(abs(share - BLUE.percent * GREEN.percent / 100),
                             SHARE_TOLERANCE_POINTS, "the two samples are not independent")
        blue_frames, green_frames = self.inner(BLUE), self.inner(GREEN)
        blue_flows, green_flows = group_by_flow(blue_frames), group_by_flow(green_frames)
        for key in both:
            self.assertEqual([blue_frames[i] for i in blue_flows[key]],
                             [green_frames[i] for i in green_flows[key]])

    def test_outer_fields_as_configured(self):
        e = BLUE.encap
        outer = [o for o, _ in inner_frames(BLUE, self.r.mirror_frames("blue"))]
        self.assertGreater(len(outer), 0)
        self.assertEqual({(o["udp_sport"], o["udp_dport"], o["udp_checksum"], o["ip_ttl"],
                           o["ip_tos"], o["ip_checksum_ok"]) for o in outer},
                         {(5555, 8472, 0, 8, 46 << 2, True)})
        green = [o for o, _ in inner_frames(GREEN, self.r.mirror_frames("green"))]
        self.assertEqual({(o["gre_key"], o["header_bytes"], o["eth_src"]) for o in green},
                         {(0xFFFFFFFF, 42, mac(GREEN.encap["src_mac"]))})
        if not tshark_available():
            return
        path = write_frames(os.path.join(self.tmp, "blue.pcap"), self.r.mirror_frames("blue"))
        rows = tshark(path, decode_as=[f"udp.port=={e['dst_port']},vxlan"])
        self.assertEqual(Counter((starts_with(r["frame.protocols"], PROTOCOLS["vxlan"]),
                                  r["vxlan.vni"], r["udp.checksum.status"]) for r in rows),
                         {(True, "30", CHECKSUM_NOT_PRESENT): len(outer)})
        path = write_frames(os.path.join(self.tmp, "green.pcap"), self.r.mirror_frames("green"))
        self.assertEqual(Counter((starts_with(r["frame.protocols"], PROTOCOLS["gre"]),
                                  r["gre.key"], r["ip.checksum.status"]) for r in tshark(path)),
                         {(True, "0xffffffff", CHECKSUM_GOOD): len(green)})


# A few real captures with what the generator lacks: jumbo frames (chains of mbufs),
# 802.1Q with full-size frames, PPPoE, and longer real conversations.
CORPUS_FILES = ("tests_http-request-invalid_input.pcap",
                "tests_filestore-filecontainer-http_filecontainer-http.pcap",
                "tests_bug-4810_pppoe-session-http.pcap",
                "tests_dcerpc-request-http-response_input.pcap",
                "tests_http-range-file_input.pcap")
CORPUS_TRUNCATE = 3000   # past the first segment of a jumbo frame


class RealCaptures(unittest.TestCase):
    def test_real_captures_through_vxlan(self):
        if not tshark_available():
            print("SKIP: tshark is not installed", file=sys.stderr)
            self.skipTest("tshark is not installed")
        paths = [os.path.join(corpus_dir(), f) for f in CORPUS_FILES]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            print(f"SKIP: no capture corpus at {corpus_dir()} (set ST_CORPUS): "
                  f"missing {missing[0]}", file=sys.stderr)
            self.skipTest(f"no capture corpus at {corpus_dir()}")
        mirrors = [Mirror("vxlan", 100, encap=VXLAN),
                   Mirror("vxlan-cut", 100, truncate=CORPUS_TRUNCATE, encap=VXLAN)]
        tmp = tempfile.mkdtemp(prefix="st_encap_corpus_")
        try:
            for path in paths:
                with self.subTest(capture=os.path.basename(path)):
                    linktype, frames = read_pcap(path)
                    self.assertEqual(linktype, 1)
                    r = run(tmp, [frames], [[]], mirrors, idle_exit_ms=400)
                    for m in mirrors:
                        copies = r.mirror_frames(m.name)
                        inner = [f for _, f in inner_frames(m, copies)]
                        want = [f[:m.truncate] for f in frames] if m.truncate else frames
                        self.assertTrue(inner == want, f"{m.name}: " +
                                        first_difference(inner, want))
                        rows = tshark(write_frames(os.path.join(tmp, f"{m.name}.pcap"), copies))
                        self.assertEqual(Counter(
                            (starts_with(r["frame.protocols"], PROTOCOLS["vxlan"]),
                             r["ip.checksum.status"], r["udp.checksum.status"]) for r in rows),
                            {(True, CHECKSUM_GOOD, CHECKSUM_GOOD): len(frames)}, m.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class BadEncapsulation(unittest.TestCase):
    """One end-to-end case per kind of mistake; the parser's unit tests have the rest."""

    def test_refused_naming_the_file_and_line(self):
        tmp = tempfile.mkdtemp(prefix="st_encap_bad_")
        client, server = generate(5, 1)
        cases = {  # case -> (encap, what the message must say)
            "vxlan without vni": ({"type": "vxlan", **OUTER}, "vni"),
            "outer IPv6": ({"type": "gre", **{**OUTER, "src_ip": "2001:db8::1"}},
                           "2001:db8::1"),
        }
        try:
            for name, (encap, says) in cases.items():
                with self.subTest(case=name):
                    r = run(tmp, [client], [server], [Mirror("v2", 100, encap=encap)],
                            check=False, timeout_s=60)
                    self.assertNotEqual(r.returncode, 0, r.output)
                    # ports, client, server, mirrors, name, port, percent, encap
                    self.assertIn("config.yaml:8:", r.output)
                    self.assertIn(says, r.output)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
