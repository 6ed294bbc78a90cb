#!/usr/bin/env python3
"""perf/profile --sampled, briefly, so that its attribution cannot rot: every
sample lands in a row, and the rows say what the cases do. With http.ports
and no routes matching, the 64-byte frames pass without a flow, so their
flow hash row stays empty while the HTTP mix's does not, and only the HTTP
mix has verdicts to work on. --against runs two builds in turn (here the
same one twice) and their own cycles and difference must follow from the
rows. No speed is checked."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


def profile(binary, out, cases, *args):
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "perf", "profile"),
         "--sampled", "1", "--cases", cases, "--binary", binary,
         "--timeout", "120", "--json", out, *args],
        capture_output=True, text=True, timeout=600)
    print(run.stdout)
    check(run.returncode == 0, "perf/profile exited %d: %s" % (
        run.returncode, run.stderr[-2000:]))
    with open(out) as f:
        return json.load(f)["cases"]


def own(parts):
    """What --against compares: the rows of shadowtap's own code."""
    return sum(v for k, v in parts.items()
               if not k.startswith(("PMDs", "libc", "other")))


def check_pairs(paired):
    check(sorted(paired) == ["small-0%"], "paired cases %r" % paired)
    p = paired["small-0%"]
    check(len(p["pairs"]) == 1, "%d pairs, not 1" % len(p["pairs"]))
    pair = p["pairs"][0]
    want = [own(pair["against"]["parts"]), own(pair["this"]["parts"])]
    check(min(want) > 0 and all(abs(a - b) < 1e-6 for a, b in
                                zip(pair["own"], want)),
          "own cycles %r, the rows say %r" % (pair["own"], want))
    check(abs(pair["difference"] - (want[1] - want[0])) < 1e-6 and
          p["difference_median"] == pair["difference"] and
          p["lower_in"] == (pair["difference"] < 0),
          "difference %r, median %r, lower in %r, for own cycles %r" % (
              pair["difference"], p["difference_median"], p["lower_in"],
              want))


def main():
    if shutil.which("perf") is None or shutil.which("addr2line") is None:
        print("SKIP: perf (linux-perf) or addr2line is not installed")
        sys.exit(77)
    # A timer event needs no hardware counters, but a kernel may forbid
    # perf_event_open() altogether.
    probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o",
                            "/dev/null", "--", "true"], capture_output=True)
    if probe.returncode != 0:
        print("SKIP: perf record cannot run here: %s" %
              probe.stderr.decode(errors="replace")[-300:])
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="st-profile-test-")
    out = os.path.join(work, "profile.json")
    binary = os.environ.get("SHADOWTAP",
                            os.path.join(ROOT, "build", "shadowtap"))
    try:
        cases = profile(binary, out, "http-10%,small-0%")
        paired = profile(binary, out, "small-0%", "--against", binary,
                         "--pairs", "1")
    finally:
        shutil.rmtree(work)
    check(sorted(cases) == ["http-10%", "small-0%"], "cases %r" % cases)
    for name, c in cases.items():
        parts = c["parts"]
        check(c["samples"] > 100 and c["mpps"] > 0,
              "%s: %r samples at %r Mpps" % (name, c["samples"], c["mpps"]))
        # Every sample is in one row: the rows add up to the worker's
        # cycles per packet.
        check(abs(sum(parts.values()) - c["cycles_per_packet"]) <
              1e-6 * c["cycles_per_packet"],
              "%s: rows add up to %r, not %r" % (
                  name, sum(parts.values()), c["cycles_per_packet"]))
        check(all(v >= 0 for v in parts.values()), "%s: %r" % (name, parts))
        for row in ("parse", "PMDs (net_pcap's replay and drop, net_null)"):
            check(parts[row] > 0, "%s: nothing in %r" % (name, row))
    http, small = cases["http-10%"]["parts"], cases["small-0%"]["parts"]
    check(small["flow hash"] == 0,
          "frames that need no flow were hashed: %r" % small["flow hash"])
    for row in ("flow hash", "flow table",
                "verdicts (with classification and copies)"):
        check(http[row] > 0, "the HTTP mix has nothing in %r" % row)
    verdicts = "verdicts (with classification and copies)"
    check(http[verdicts] > 5 * small[verdicts],
          "verdicts: %r on the HTTP mix, %r on frames with no flow" % (
              http[verdicts], small[verdicts]))
    check_pairs(paired)
    print("perf/profile --sampled: %d cases, every sample in a row; "
          "--against: a pair that adds up" % len(cases))


if __name__ == "__main__":
    main()
