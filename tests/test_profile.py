#!/usr/bin/env python3
"""perf/profile --sampled, briefly, so that its attribution cannot rot: every
sample lands in a row, and the rows say what the cases do. With http.ports
and no routes matching, the 64-byte frames pass without a flow, so their
flow hash row stays empty while the HTTP mix's does not, and only the HTTP
mix has verdicts to work on. No speed is checked."""

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
        run = subprocess.run(
            [sys.executable, os.path.join(ROOT, "perf", "profile"),
             "--sampled", "1", "--cases", "http-10%,small-0%", "--binary",
             binary, "--timeout", "120", "--json", out],
            capture_output=True, text=True, timeout=600)
        print(run.stdout)
        check(run.returncode == 0, "perf/profile exited %d: %s" % (
            run.returncode, run.stderr[-2000:]))
        with open(out) as f:
            cases = json.load(f)["cases"]
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
    print("perf/profile --sampled: %d cases, every sample in a row" %
          len(cases))


if __name__ == "__main__":
    main()
