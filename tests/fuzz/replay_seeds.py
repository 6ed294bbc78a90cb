#!/usr/bin/env python3
"""Seeds for fuzz_replay (replay/exchange.c): each TCP connection of each capture of the shared
corpus (../shared/pcaps/suricata-verify, or $ST_CORPUS) becomes one input in fuzz_replay.c's
record format: its payloads in capture order, direction 0 being the first sender (the SYN's when
one was seen), plus a few hand-written exchanges so that it still has seeds without the corpus.

    tests/fuzz/replay_seeds.py OUTDIR      (smoke.py FUZZER SECONDS replay_seeds.py in CI)

No reassembly: segments are taken in capture order, retransmissions included, which is one more
thing for the parser to survive. Files are named by content hash. Python 3 standard library.
"""

import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: corpus.py, pcaplib.py
sys.path.insert(0, HERE)  # make_seeds.py: as_ethernet()

import corpus  # noqa: E402
from make_seeds import as_ethernet  # noqa: E402
from pcaplib import read_pcap  # noqa: E402

FLAG_SYN, FLAG_PORTS = 1, 2
MAX_SEED_BYTES = 64 * 1024
HAND_WRITTEN = [
    (FLAG_SYN, [(0, b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n"),
                (1, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")]),
    (FLAG_PORTS, [(0, b"tail\r\nPROPFIND http://x/ HTTP/1.1\r\nContent-Length: 1\r\n\r\nz"),
                  (1, b"xHTTP/1.0 207 Multi\r\n\r\nbody until the end")]),
]


def tcp_payload(frame):
    """(src, dst, syn, payload) of an Ethernet frame's TCP segment, or None."""
    off, ethertype = 14, struct.unpack(">H", frame[12:14])[0] if len(frame) >= 14 else 0
    while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        ethertype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 15) * 4
        if frame[off + 9] != 6:
            return None
        total = struct.unpack(">H", frame[off + 2:off + 4])[0]
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        end, off = off + total, off + ihl
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        if frame[off + 6] != 6:
            return None
        end = off + 40 + struct.unpack(">H", frame[off + 4:off + 6])[0]
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        off += 40
    else:
        return None
    if len(frame) < off + 20:
        return None
    sport, dport = struct.unpack(">HH", frame[off:off + 4])
    flags, doff = frame[off + 13], (frame[off + 12] >> 4) * 4
    return (src, sport), (dst, dport), bool(flags & 2), frame[off + doff:end]


def encode(flags, records):
    out = bytearray([flags])
    for direction, payload in records:
        out += bytes([direction]) + struct.pack(">H", len(payload)) + payload
    return bytes(out[:MAX_SEED_BYTES])


def connections(path):
    """Each TCP connection's (flags, [(direction, payload)]) in capture order."""
    linktype, frames = read_pcap(path)
    conns = {}
    for frame in frames:
        frame = as_ethernet(linktype, frame)
        seg = frame and tcp_payload(frame)
        if not seg:
            continue
        src, dst, syn, payload = seg
        key = tuple(sorted((src, dst)))
        if key not in conns:
            conns[key] = [src, FLAG_SYN if syn else 0, []]
        first, _, records = conns[key]
        if payload:
            records.append((0 if src == first else 1, payload))
    return [(flags | FLAG_PORTS, records) for _, flags, records in conns.values() if records]


def write_seeds(outdir):
    """Write the seeds; exit 0 even without the corpus (the hand-written ones remain)."""
    os.makedirs(outdir, exist_ok=True)
    inputs = list(HAND_WRITTEN)
    if os.path.exists(os.path.join(corpus.corpus_dir(), "MANIFEST.tsv")):
        for row in corpus.manifest_or_skip():
            try:
                inputs += connections(row["path"])
            except (OSError, ValueError, IndexError, struct.error) as e:
                print(f"skip {row['file']}: {e}", file=sys.stderr)
    else:
        print(f"no capture corpus at {corpus.corpus_dir()}: hand-written seeds only")
    for flags, records in inputs:
        data = encode(flags, records)
        with open(os.path.join(outdir, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(f"{len(inputs)} connections, {len(os.listdir(outdir))} seed files in {outdir}")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    write_seeds(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
