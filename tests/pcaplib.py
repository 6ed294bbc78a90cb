"""Test-side pcap I/O, the reference flow-key parser and a small frame builder.

flow_key() is an independent re-implementation of docs/flows.md: it is the oracle the C
dataplane is checked against, so it follows the document literally rather than sharing code
or shortcuts with dataplane/parse.c.  Python 3.11 standard library only.
"""

import ipaddress
import struct
import zlib
from collections import Counter

# --- pcap files -------------------------------------------------------------------------------

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
# Layouts without byte order, which read_pcap only learns from the magic number.
_GLOBAL_HEADER = "IHHiIII"  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD_HEADER = "IIII"     # seconds, fraction, captured length, original length
_GLOBAL_HEADER_LEN = struct.calcsize("<" + _GLOBAL_HEADER)


def read_pcap(path):
    """Read a classic pcap file (either byte order, usec or nsec); return (linktype, frames)."""
    linktype, records = read_pcap_records(path)
    return linktype, [frame for _, frame in records]


def read_pcap_records(path):
    """Like read_pcap, with each frame's time: (linktype, [(ns since the epoch, frame)])."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _GLOBAL_HEADER_LEN:
        raise ValueError(f"{path}: {len(data)} bytes is too short for a pcap header")
    order = _pcap_byte_order(path, data[:4])
    fraction_ns = 1 if struct.unpack(order + "I", data[:4])[0] == PCAP_MAGIC_NSEC else 1000
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF  # upper bits: FCS info
    record = struct.Struct(order + _RECORD_HEADER)
    records, offset = [], _GLOBAL_HEADER_LEN
    while offset < len(data):
        if offset + record.size > len(data):
            raise ValueError(f"{path}: truncated record header at byte {offset}")
        seconds, fraction, incl_len, _ = record.unpack_from(data, offset)
        offset += record.size
        if offset + incl_len > len(data):
            raise ValueError(f"{path}: record at byte {offset} claims {incl_len} bytes, file ends")
        records.append((seconds * 10**9 + fraction * fraction_ns,
                        data[offset:offset + incl_len]))
        offset += incl_len
    return linktype, records


def _pcap_byte_order(path, magic):
    """Return the struct byte-order prefix announced by a pcap magic number."""
    for order in "<>":
        if struct.unpack(order + "I", magic)[0] in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
            return order
    raise ValueError(f"{path}: magic {magic.hex()} is not classic pcap (pcapng is unsupported)")


def write_pcap(path, frames, linktype=LINKTYPE_ETHERNET, times_us=None):
    """Write frames as little-endian usec pcap; frame i is stamped times_us[i] microseconds,
    by default i, so that the same frames always give a byte-identical file."""
    with open(path, "wb") as f:
        f.write(struct.pack("<" + _GLOBAL_HEADER, PCAP_MAGIC_USEC, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            sec, usec = divmod(i if times_us is None else times_us[i], 1_000_000)
            f.write(struct.pack("<" + _RECORD_HEADER, sec, usec, len(frame), len(frame)))
            f.write(frame)


# --- flow keys (docs/flows.md) ----------------------------------------------------------------

ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_PPPOE, ETH_LLDP = 0x0800, 0x86DD, 0x0806, 0x8864, 0x88CC
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DEST_OPTS = 0, 43, 44, 51, 60
IPV4_MF = 0x2000
_MAX_VLAN_TAGS = 2
_MAX_IPV6_EXT_HEADERS = 8
_ZERO_MAC = bytes(6)


def flow_key(frame):
    """Return the canonical flow key of an Ethernet frame, exactly as docs/flows.md defines it:
    ("L4", proto, (addr, port), (addr, port)), ("IP", addr, addr) or ("L2", mac, mac)."""
    frame = bytes(frame)
    if len(frame) < 14:
        return ("L2", _ZERO_MAC, _ZERO_MAC)
    ethertype, offset = _skip_vlan_tags(frame)
    if ethertype == ETH_PPPOE:
        ethertype, offset = _pppoe_payload(frame, offset)
    key = None
    if ethertype == ETH_IPV4:
        key = _ipv4_key(frame, offset)
    elif ethertype == ETH_IPV6:
        key = _ipv6_key(frame, offset)
    return key or ("L2",) + _ordered(frame[0:6], frame[6:12])


def _u16(data, offset):
    return struct.unpack_from("!H", data, offset)[0]


def _ordered(a, b):
    """Canonical endpoint order, so both directions of a conversation get one key."""
    return (a, b) if a <= b else (b, a)


def _skip_vlan_tags(frame):
    """Return (ethertype, offset of the payload) after at most two VLAN/QinQ tags."""
    type_offset = 12
    ethertype = _u16(frame, type_offset)
    for _ in range(_MAX_VLAN_TAGS):
        # A tag is skipped only if its TCI and the following EtherType are in the frame.
        if ethertype not in VLAN_TPIDS or len(frame) < type_offset + 6:
            break
        type_offset += 4
        ethertype = _u16(frame, type_offset)
    return ethertype, type_offset + 2


def _pppoe_payload(frame, offset):
    """Map a PPPoE session header to (IP ethertype or None, offset of the IP header).

    The PPP protocol field after the 6-byte PPPoE header is one byte when compressed
    (its value is odd), else two."""
    if len(frame) < offset + 7:
        return None, offset
    if frame[offset + 6] & 1:
        return {PPP_IPV4 & 0xFF: ETH_IPV4, PPP_IPV6 & 0xFF: ETH_IPV6}.get(frame[offset + 6]), offset + 7
    if len(frame) < offset + 8:
        return None, offset
    ppp_protocol = _u16(frame, offset + 6)
    return {PPP_IPV4: ETH_IPV4, PPP_IPV6: ETH_IPV6}.get(ppp_protocol), offset + 8


def _ipv4_key(frame, start):
    """Key of an IPv4 packet at start, or None when the header is invalid (non-IP frame)."""
    if len(frame) - start < 20 or frame[start] >> 4 != 4:
        return None
    header_len = (frame[start] & 0x0F) * 4
    total_len = _u16(frame, start + 2)
    if header_len < 20 or len(frame) - start < header_len or total_len < header_len:
        return None
    src, dst = frame[start + 12:start + 16], frame[start + 16:start + 20]
    if _u16(frame, start + 6) & 0x3FFF:  # MF flag or fragment offset
        return ("IP",) + _ordered(src, dst)
    end = min(len(frame), start + total_len)
    return _transport_key(frame, frame[start + 9], start + header_len, end, src, dst)


def _ipv6_key(frame, start):
    """Key of an IPv6 packet at start, or None when the fixed header is invalid."""
    if len(frame) - start < 40 or frame[start] >> 4 != 6:
        return None
    end = min(len(frame), start + 40 + _u16(frame, start + 4))
    src, dst = frame[start + 8:start + 24], frame[start + 24:start + 40]
    next_header, offset = frame[start + 6], start + 40
    for _ in range(_MAX_IPV6_EXT_HEADERS):
        if next_header not in _IPV6_EXT_LENGTH:
            break
        if end - offset < 2:
            return ("IP",) + _ordered(src, dst)
        length = _IPV6_EXT_LENGTH[next_header](frame[offset + 1])
        if offset + length > end or _is_ipv6_later_fragment(frame, next_header, offset):
            return ("IP",) + _ordered(src, dst)
        next_header, offset = frame[offset], offset + length
    # A ninth extension header is not TCP/UDP either, so it falls through to an IP flow.
    return _transport_key(frame, next_header, offset, end, src, dst)


# Size in bytes of each skipped IPv6 extension header, from its second byte.
_IPV6_EXT_LENGTH = {
    IPV6_HOP_BY_HOP: lambda n: (n + 1) * 8,
    IPV6_ROUTING: lambda n: (n + 1) * 8,
    IPV6_DEST_OPTS: lambda n: (n + 1) * 8,
    IPV6_AH: lambda n: (n + 2) * 4,
    IPV6_FRAGMENT: lambda n: 8,
}


def _is_ipv6_later_fragment(frame, next_header, offset):
    """True for a fragment header with a non-zero offset or the M flag (already bounds-checked)."""
    return next_header == IPV6_FRAGMENT and _u16(frame, offset + 2) & 0xFFF9 != 0


def _transport_key(frame, proto, l4_offset, end, src, dst):
    """L4 key when TCP/UDP has its two ports inside the IP packet, else the IP key."""
    if proto in (PROTO_TCP, PROTO_UDP) and end - l4_offset >= 4:
        sport, dport = struct.unpack_from("!HH", frame, l4_offset)
        return ("L4", proto) + _ordered((src, sport), (dst, dport))
    return ("IP",) + _ordered(src, dst)


def format_key(key):
    """Human-readable rendering of a flow key for error messages."""
    kind, *rest = key
    if kind == "L4":
        proto, a, b = rest
        return f"L4/{proto} {_format_endpoint(*a)} <-> {_format_endpoint(*b)}"
    return f"{kind} {_format_addr(rest[0])} <-> {_format_addr(rest[1])}"


def _format_addr(addr):
    if len(addr) == 6:
        return ":".join(f"{b:02x}" for b in addr)
    return str(ipaddress.ip_address(addr))


def _format_endpoint(addr, port):
    host = _format_addr(addr)
    return f"[{host}]:{port}" if len(addr) == 16 else f"{host}:{port}"


# --- flow-level helpers -----------------------------------------------------------------------

def group_by_flow(frames):
    """Map each flow key to the indexes of its frames, in frame order."""
    flows = {}
    for i, frame in enumerate(frames):
        flows.setdefault(flow_key(frame), []).append(i)
    return flows


def split_queues(frames, n):
    """Split frames into n lists by flow, like a NIC's symmetric RSS: both directions of a
    flow land in the same list, the order within a list is kept, and the split is stable
    across runs and machines (crc32, not Python's salted hash())."""
    if n < 1:
        raise ValueError(f"need at least one queue, got {n}")
    queues = [[] for _ in range(n)]
    for frame in frames:
        queues[zlib.crc32(repr(flow_key(frame)).encode()) % n].append(frame)
    return queues


def check_flow_union(input_frames, output_frames):
    """Check that output is exactly the frames of some complete input flows, in input order.

    Returns (selected, errors): the keys of the input flows that appear in the output, and
    human-readable problems (empty when the output is a correct union of whole flows).
    Identical duplicate frames are matched as a multiset.
    """
    in_flows, out_flows = group_by_flow(input_frames), group_by_flow(output_frames)
    errors = []
    for key, out_indexes in out_flows.items():
        if key not in in_flows:
            errors.append(f"{format_key(key)}: output #{out_indexes[0]} and "
                          f"{len(out_indexes) - 1} more frame(s) belong to no input flow")
            continue
        errors += _compare_flow(format_key(key), input_frames, in_flows[key],
                                output_frames, out_indexes)
    return {key for key in out_flows if key in in_flows}, errors


def check_two_way_union(client_frames, server_frames, output_frames):
    """Check that output holds whole flows of a two-port input, each flow's
    frames an interleaving of its client and server frames (order kept
    within each direction, the interleaving free).

    Returns (selected, errors) like check_flow_union().
    """
    client_flows, server_flows = group_by_flow(client_frames), group_by_flow(server_frames)
    errors = []
    for key, out_indexes in group_by_flow(output_frames).items():
        a = [client_frames[i] for i in client_flows.get(key, [])]
        b = [server_frames[i] for i in server_flows.get(key, [])]
        out = [output_frames[i] for i in out_indexes]
        if not a and not b:
            errors.append(f"{format_key(key)}: {len(out)} output frame(s) of no input flow")
        elif not _is_interleaving(out, a, b):
            errors.append(f"{format_key(key)}: {len(out)} output frame(s) are not the "
                          f"{len(a)} client and {len(b)} server frames in order")
    selected = set(group_by_flow(output_frames)) & (set(client_flows) | set(server_flows))
    return selected, errors


def _is_interleaving(out, a, b):
    """Whether out merges a and b keeping each one's order. A search over
    positions (i in a, j in b): identical frames in both directions leave
    several candidates, so all are followed; distinct ones leave one."""
    states = {(0, 0)}
    for frame in out:
        states = {state for i, j in states for state in
                  ((i + 1, j) if i < len(a) and a[i] == frame else None,
                   (i, j + 1) if j < len(b) and b[j] == frame else None)
                  if state is not None}
        if not states:
            return False
    return (len(a), len(b)) in states


def _compare_flow(name, input_frames, in_indexes, output_frames, out_indexes):
    """Errors for one flow whose output frames should equal its input frames, in order."""
    wanted = [input_frames[i] for i in in_indexes]
    got = [output_frames[i] for i in out_indexes]
    if got == wanted:
        return []
    errors = [f"{name}: output #{i} is not a frame of this flow's input"
              for i in _unmatched(got, wanted, out_indexes)]
    errors += [f"{name}: input #{i} is missing from the output"
               for i in _unmatched(wanted, got, in_indexes)]
    if not errors:  # same multiset, so only the order can differ
        first = next(n for n, (g, w) in enumerate(zip(got, wanted)) if g != w)
        errors.append(f"{name}: output #{out_indexes[first]} is out of input order")
    return errors


def _unmatched(frames, pool, indexes):
    """Indexes of frames left over once each frame of pool has matched one equal frame."""
    available = Counter(pool)
    leftover = []
    for frame, index in zip(frames, indexes):
        if available[frame]:
            available[frame] -= 1
        else:
            leftover.append(index)
    return leftover


# --- frame building ---------------------------------------------------------------------------

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
BROADCAST_MAC = b"\xff" * 6
ETH_MIN_FRAME = 60  # without FCS, as a NIC hands it over


def internet_checksum(data):
    """RFC 1071 ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vlan_tag(vid, tpid=0x8100, pcp=0):
    """4-byte 802.1Q/802.1ad tag to pass to ethernet(tags=...)."""
    return struct.pack("!HH", tpid, pcp << 13 | vid)


def ethernet(dst, src, ethertype, payload, tags=()):
    """Ethernet II frame; tags are vlan_tag() values, outermost first.  Not padded."""
    return dst + src + b"".join(tags) + struct.pack("!H", ethertype) + payload


def pad(frame, minimum=ETH_MIN_FRAME):
    """Zero-pad a frame to the Ethernet minimum, as a sending NIC does."""
    return frame + bytes(max(0, minimum - len(frame)))


def pppoe_session(session_id, ppp_protocol, payload):
    """PPPoE session header plus the 2-byte PPP protocol in front of payload."""
    return struct.pack("!BBHHH", 0x11, 0, session_id, len(payload) + 2, ppp_protocol) + payload


def ipv4(src, dst, proto, payload, ident=0, frag=0, ttl=64, options=b""):
    """IPv4 packet with a correct header checksum; frag is the raw flags+offset field."""
    options += bytes(-len(options) % 4)  # end-of-list padding keeps the header in 4-byte words
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, frag,
                         ttl, proto, 0, src, dst) + options
    return _set_checksum(header, 10, internet_checksum(header)) + payload


def ipv6_ext(ext_type, next_header, body=b""):
    """One IPv6 extension header; body is zero-padded (Pad1 options) to a multiple of 8.
    A fragment header takes a 6-byte body: offset/flags then the identification."""
    data = body + bytes(-(len(body) + 2) % 8)
    size = len(data) + 2
    length = size // 4 - 2 if ext_type == IPV6_AH else size // 8 - 1
    return bytes([next_header, length]) + data


def ipv6(src, dst, proto, payload, ext=(), hop_limit=64):
    """IPv6 packet; ext is a sequence of (extension type, body) chained in front of proto."""
    chain = [ext_type for ext_type, _ in ext] + [proto]
    headers = b"".join(ipv6_ext(ext_type, chain[i + 1], body)
                       for i, (ext_type, body) in enumerate(ext))
    body = headers + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), chain[0], hop_limit, src, dst) + body


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", window=65535):
    """TCP segment (no options) checksummed over the IPv4 or IPv6 pseudo-header of src/dst."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         5 << 4, flags, window, 0, 0)
    return _with_l4_checksum(src, dst, PROTO_TCP, header + payload, 16)


def udp(src, dst, sport, dport, payload):
    """UDP datagram checksummed over the IPv4 or IPv6 pseudo-header of src/dst."""
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _with_l4_checksum(src, dst, PROTO_UDP, datagram, 6)


def icmp_echo(request, ident, seq, payload):
    """ICMPv4 echo request (type 8) or reply (type 0)."""
    message = struct.pack("!BBHHH", 8 if request else 0, 0, 0, ident, seq) + payload
    return _set_checksum(message, 2, internet_checksum(message))


def arp(op, sender_mac, sender_ip, target_mac, target_ip):
    """ARP for IPv4 over Ethernet; op 1 is a request, 2 a reply."""
    return struct.pack("!HHBBH6s4s6s4s", 1, ETH_IPV4, 6, 4, op, sender_mac, sender_ip,
                       target_mac, target_ip)


def _with_l4_checksum(src, dst, proto, segment, checksum_offset):
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
    else:
        pseudo = src + dst + struct.pack("!I3xB", len(segment), proto)
    checksum = internet_checksum(pseudo + segment)
    if proto == PROTO_UDP and checksum == 0:
        checksum = 0xFFFF  # a zero UDP checksum means "not computed"
    return _set_checksum(segment, checksum_offset, checksum)


def _set_checksum(data, offset, checksum):
    return data[:offset] + struct.pack("!H", checksum) + data[offset + 2:]


# --- tunnels: what an encapsulating mirror wraps its copies in ----------------------------------

ETH_VLAN = 0x8100
ETH_TEB = 0x6558          # GRE payload: Transparent Ethernet Bridging
ETH_ERSPAN_II = 0x88BE
PROTO_GRE = 47
GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE = 0x8000, 0x2000, 0x1000
VXLAN_DEFAULT_PORT = 4789


def untag(frame):
    """Undo a VLAN encapsulation: return (tpid, tci, original frame).

    The tag sits right after the two MAC addresses (bytes 12..15); an original shorter than
    its MACs (a runt) has the tag at its end."""
    frame = bytes(frame)
    if len(frame) < 4:
        raise ValueError(f"{len(frame)} bytes cannot hold a VLAN tag")
    at = min(12, len(frame) - 4)
    tpid, tci = struct.unpack_from("!HH", frame, at)
    return tpid, tci, frame[:at] + frame[at + 4:]


def decapsulate(frame):
    """Split an Ethernet/IPv4 tunnel frame into (outer, inner frame).

    The tunnel is UDP (read as VXLAN, whatever the port), GRE carrying Ethernet, or GRE carrying
    ERSPAN type II.  outer is a flat dict of the decoded header fields ("ip_id", "udp_sport",
    "gre_key", "erspan_session", ...), with "header_bytes" (where the inner frame starts) and
    the checks a receiver makes: "ip_checksum_ok", and "udp_checksum_ok" (None when the
    checksum is 0, i.e. not computed).  Raises ValueError for anything else."""
    frame = bytes(frame)
    if len(frame) < 34 or _u16(frame, 12) != ETH_IPV4 or frame[14] >> 4 != 4:
        raise ValueError("not Ethernet/IPv4")
    ihl = (frame[14] & 0x0F) * 4
    total_length, ident, frag = struct.unpack_from("!HHH", frame, 16)
    ttl, proto = frame[22], frame[23]
    outer = {
        "eth_dst": frame[0:6], "eth_src": frame[6:12], "ip_ihl": ihl, "ip_tos": frame[15],
        "ip_total_length": total_length, "ip_id": ident, "ip_frag": frag, "ip_ttl": ttl,
        "ip_proto": proto, "ip_src": frame[26:30], "ip_dst": frame[30:34],
        "ip_checksum_ok": internet_checksum(frame[14:14 + ihl]) == 0,
    }
    offset = 14 + ihl
    if proto == PROTO_UDP:
        offset = _decode_vxlan(frame, offset, outer)
    elif proto == PROTO_GRE:
        offset = _decode_gre(frame, offset, outer)
    else:
        raise ValueError(f"IPv4 protocol {proto} is no tunnel")
    outer["header_bytes"] = offset
    return outer, frame[offset:]


def _decode_vxlan(frame, offset, outer):
    """UDP and VXLAN headers at offset into outer; returns where the inner frame starts."""
    if len(frame) < offset + 16:
        raise ValueError("UDP/VXLAN headers cut short")
    sport, dport, length, checksum = struct.unpack_from("!HHHH", frame, offset)
    flags, vni_word = struct.unpack_from("!II", frame, offset + 8)
    ok = None
    if checksum:
        pseudo = outer["ip_src"] + outer["ip_dst"] + struct.pack("!BBH", 0, PROTO_UDP, length)
        ok = internet_checksum(pseudo + frame[offset:offset + length]) == 0
    outer.update(udp_sport=sport, udp_dport=dport, udp_length=length, udp_checksum=checksum,
                 udp_checksum_ok=ok, vxlan_flags=flags, vxlan_vni=vni_word >> 8,
                 vxlan_reserved=vni_word & 0xFF)
    return offset + 16


def _decode_gre(frame, offset, outer):
    """GRE (and ERSPAN type II) headers at offset into outer; returns the inner frame's start."""
    if len(frame) < offset + 4:
        raise ValueError("GRE header cut short")
    flags, proto = struct.unpack_from("!HH", frame, offset)
    offset += 4
    fields = {}
    for bit, name in ((GRE_CHECKSUM, "gre_checksum"), (GRE_KEY, "gre_key"),
                      (GRE_SEQUENCE, "gre_seq")):
        if flags & bit:
            if len(frame) < offset + 4:
                raise ValueError("GRE optional fields cut short")
            # The checksum word is checksum + reserved; key and sequence are whole words.
            fields[name] = struct.unpack_from("!I", frame, offset)[0]
            offset += 4
    outer.update(gre_flags=flags, gre_proto=proto, gre_key=fields.get("gre_key"),
                 gre_seq=fields.get("gre_seq"))
    if proto == ETH_ERSPAN_II:
        if len(frame) < offset + 8:
            raise ValueError("ERSPAN header cut short")
        word1, word2 = struct.unpack_from("!II", frame, offset)
        outer.update(erspan_version=word1 >> 28, erspan_vlan=word1 >> 16 & 0xFFF,
                     erspan_cos=word1 >> 13 & 7, erspan_en=word1 >> 11 & 3,
                     erspan_truncated=word1 >> 10 & 1, erspan_session=word1 & 0x3FF,
                     erspan_reserved=word2 >> 20, erspan_index=word2 & 0xFFFFF)
        offset += 8
    elif proto != ETH_TEB:
        raise ValueError(f"GRE protocol {proto:#06x} is not Ethernet nor ERSPAN")
    return offset
