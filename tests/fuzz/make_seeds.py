#!/usr/bin/env python3
"""Write a libFuzzer seed corpus for fuzz_classify: each packet of each capture of the shared
corpus (../shared/pcaps/suricata-verify, or $ST_CORPUS) becomes one file in OUTDIR.

    tests/fuzz/make_seeds.py /tmp/seeds
    build-fuzz/tests/fuzz/fuzz_classify -max_total_time=600 /tmp/corpus /tmp/seeds

(libFuzzer adds what it finds to the first directory and only reads the others.) Files are
named by content hash, so identical packets are written once and a rerun changes nothing.
A few requests of its own are written too (FRAMING): heads whose framing fields are spelt in
ways the captures seldom show, for the check that the head reader finds what reading every
line finds.
Loopback (BSD null), Cisco HDLC and raw IP captures are given an Ethernet header, since the
target parses Ethernet frames; other link types and files read_pcap() refuses are skipped with
a message.
Exits 77 (meson's "skipped") saying why when the corpus is absent.  Python 3 standard library.
"""

import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: corpus.py, pcaplib.py

import corpus  # noqa: E402
from pcaplib import (ETH_IPV4, LINKTYPE_ETHERNET, PROTO_TCP, TCP_ACK, TCP_PSH,  # noqa: E402
                     ethernet, ipv4, read_pcap, tcp)


LINKTYPE_NULL = 0
LINKTYPE_RAW = (12, 14, 101)
LINKTYPE_C_HDLC = 104
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
# A fixed pair of locally administered MAC addresses for synthetic headers.
MACS = bytes.fromhex("020000000002" "020000000001")
# Framing fields in the spellings a head reader must not miss or misread: case, folding,
# both fields at once, a CR alone, a field name that only starts like one.
FRAMING = [
    b"POST /a HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabc",
    b"POST /a HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 3\r\n\r\nabc",
    b"POST /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n folded\r\n\r\nabc",
    b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /a HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length:3\r\n\r\nabc",
    b"POST /a HTTP/1.1\nContent-Length: 3\n\nabc",
    b"GET /a HTTP/1.1\r\nCookie: a=b\r\nConnection: close\r\nTE: trailers\r\n\r\n",
    b"GET /a HTTP/1.1\r\nX: \rContent-Length: 5\r\n\r\n",
    b"POST /a HTTP/1.1\r\n\rX: y\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /a HTTP/1.1\r\nContent-Lengthy: 5\r\nTransfer-Encodings: chunked\r\n\r\n",
]


def framing_frames():
    """Each FRAMING request as one TCP segment to port 80."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    return [ethernet(MACS[:6], MACS[6:], ETH_IPV4,
                     ipv4(src, dst, PROTO_TCP,
                          tcp(src, dst, 40000, 80, 1, 1, TCP_PSH | TCP_ACK, head)))
            for head in FRAMING]


def write_seed(outdir, frame):
    """Write the frame as a seed named by its hash; True when it was new."""
    path = os.path.join(outdir, hashlib.sha1(frame).hexdigest())
    if os.path.exists(path):
        return False
    with open(path, "wb") as f:
        f.write(frame)
    return True


def as_ethernet(linktype, frame):
    """The frame with an Ethernet header, or None when its link type is not handled."""
    if linktype == LINKTYPE_ETHERNET:
        return frame
    if linktype == LINKTYPE_C_HDLC:
        if len(frame) < 4:
            return None
        return MACS + frame[2:4] + frame[4:]
    if linktype == LINKTYPE_NULL:
        if len(frame) < 4:
            return None
        # The family is in the capturing host's byte order; 2 is AF_INET everywhere,
        # AF_INET6 is 24, 28 or 30 depending on the BSD.
        family = min(struct.unpack("<I", frame[:4])[0], struct.unpack(">I", frame[:4])[0])
        body = frame[4:]
    elif linktype in LINKTYPE_RAW:
        body = frame
        family = 2 if body[:1] and body[0] >> 4 == 4 else 24
    else:
        return None
    ethertype = ETHERTYPE_IPV4 if family == 2 else ETHERTYPE_IPV6
    return MACS + struct.pack(">H", ethertype) + body


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTDIR", file=sys.stderr)
        return 2
    outdir = argv[1]
    rows = corpus.manifest_or_skip()
    os.makedirs(outdir, exist_ok=True)
    written = sum(write_seed(outdir, frame) for frame in framing_frames())
    packets = 0
    for row in rows:
        try:
            linktype, frames = read_pcap(row["path"])
        except (OSError, ValueError) as e:
            print(f"skip {row['file']}: {e}", file=sys.stderr)
            continue
        if as_ethernet(linktype, b"\0" * 64) is None:
            print(f"skip {row['file']}: link type {linktype} is not handled", file=sys.stderr)
            continue
        for frame in frames:
            frame = as_ethernet(linktype, frame)
            if frame is None:
                continue
            packets += 1
            written += write_seed(outdir, frame)
    print(f"{packets} packets from {len(rows)} captures and {len(FRAMING)} of its own, "
          f"{written} new seed files in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
