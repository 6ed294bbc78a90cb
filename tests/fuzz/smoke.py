#!/usr/bin/env python3
"""CI's short fuzz run: seeds from the shared captures (SEEDER OUTDIR, by
default make_seeds.py), then FUZZER for a fixed time. Without the captures
it still runs, from what SEEDER wrote or from nothing, and says so.

    smoke.py FUZZER [SECONDS [SEEDER]]
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIPPED = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fuzzer", help="a libFuzzer binary")
    ap.add_argument("seconds", nargs="?", default="20", help="default 20")
    ap.add_argument("seeder", nargs="?", default=os.path.join(HERE, "make_seeds.py"),
                    help="writes seeds into the directory it is given "
                    "(default make_seeds.py)")
    args = ap.parse_args()
    fuzzer, seconds, seeder = args.fuzzer, args.seconds, args.seeder
    with tempfile.TemporaryDirectory(prefix="st_fuzz_") as tmp:
        seeds, found = os.path.join(tmp, "seeds"), os.path.join(tmp, "found")
        os.makedirs(seeds)
        os.makedirs(found)
        made = subprocess.run([sys.executable, seeder, seeds])
        if made.returncode == SKIPPED:
            print("fuzz smoke: no capture corpus, fuzzing from an empty corpus")
        elif made.returncode != 0:
            return made.returncode
        print(f"fuzz smoke: {len(os.listdir(seeds))} seeds, {seconds} s")
        return subprocess.run([fuzzer, f"-max_total_time={seconds}", "-timeout=10",
                               "-rss_limit_mb=2048", found, seeds]).returncode


if __name__ == "__main__":
    sys.exit(main())
