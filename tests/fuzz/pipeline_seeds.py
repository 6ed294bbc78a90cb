#!/usr/bin/env python3
"""Seeds for fuzz_pipeline (decapsulation, reassembly, HTTP exchanges): each capture of the
shared corpus (../shared/pcaps/suricata-verify, or $ST_CORPUS) becomes one input in
fuzz_pipeline.c's format: the decapsulation mode "auto", then its frames, each with a 16-bit
length, cut at 64 KiB.

    tests/fuzz/pipeline_seeds.py OUTDIR      (smoke.py FUZZER SECONDS pipeline_seeds.py in CI)

Exits 77 (meson's "skipped") saying why when the corpus is absent.  Python 3 standard library.
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

MODE_AUTO = 0
MAX_SEED_BYTES = 64 * 1024


def seed(path):
    linktype, frames = read_pcap(path)
    out = bytearray([MODE_AUTO])
    for frame in frames:
        frame = as_ethernet(linktype, frame)
        if frame is None or len(out) + 2 + len(frame) > MAX_SEED_BYTES:
            continue
        out += struct.pack(">H", len(frame)) + frame
    return bytes(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = corpus.manifest_or_skip()
    os.makedirs(argv[1], exist_ok=True)
    for row in rows:
        try:
            data = seed(row["path"])
        except (OSError, ValueError) as e:
            print(f"skip {row['file']}: {e}", file=sys.stderr)
            continue
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(f"{len(os.listdir(argv[1]))} seed files in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
