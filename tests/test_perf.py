#!/usr/bin/env python3
"""perf/run in its quick mode, so the benchmark cannot rot: it runs both
testpmd and shadowtap, and its JSON is complete and consistent. Speeds are
not checked (tests check behaviour, never wall-clock times); what the
mirrored shares say about behaviour is, and that the derived figures (own
cycles per packet, the copy path's) are the arithmetic they claim to be."""

import glob
import importlib.machinery
import importlib.util
import json
import math
import operator
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHADOWTAP_CASES = ["http/shadowtap-bypass", "http/shadowtap-flows",
                   "http/shadowtap-0%", "http/shadowtap-10%",
                   "http/shadowtap-100%", "small/shadowtap-0%",
                   "small/shadowtap-0%-any-port"]
# On real captures, when ../shared/pcaps/suricata-verify is there.
REAL_CASES = ["real/shadowtap-10%"]
# What --quick leaves out says so.
SKIPPED = {"flows"}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and \
        math.isfinite(x)


def positive(x):
    return number(x) and x > 0


def check_verdicts():
    """A target's verdict over rounds that disagree, which --quick's one
    round never shows."""
    sys.dont_write_bytecode = True  # leave no __pycache__ in perf/
    loader = importlib.machinery.SourceFileLoader(
        "perf_run", os.path.join(ROOT, "perf", "run"))
    spec = importlib.util.spec_from_loader("perf_run", loader)
    run = importlib.util.module_from_spec(spec)
    loader.exec_module(run)
    le = operator.le
    for rounds, median, verdict, met in (([90, 120, 95], 95, "not conclusive",
                                          True),
                                         ([90, 99], 94.5, "met", True),
                                         ([101, 130], 115.5, "not met", False)):
        t = run.judged("c", 100, median, rounds, le)
        check(t["verdict"] == verdict and t["met"] == met and
              t["rounds_met"] == sum(1 for x in rounds if x <= 100),
              "rounds %r against 100: %r" % (rounds, t))
    text = run.verdict_text(run.judged("c", 100, 95, [90, 120, 95], le))
    check(text.startswith("NOT CONCLUSIVE: met in 2 of 3 rounds"),
          "not conclusive printed as %r" % text)


def main():
    check_verdicts()
    if shutil.which("dpdk-testpmd") is None:
        print("SKIP: dpdk-testpmd is not installed")
        sys.exit(77)
    results = tempfile.mkdtemp(prefix="st-perf-test-")
    shadowtap = os.environ.get("SHADOWTAP",
                               os.path.join(ROOT, "build", "shadowtap"))
    try:
        run = subprocess.run(
            [sys.executable, os.path.join(ROOT, "perf", "run"), "--quick",
             "--shadowtap", shadowtap, "--baseline", shadowtap,
             "--results", results], capture_output=True, text=True,
            timeout=900)
        print(run.stdout)
        check(run.returncode == 0,
              "perf/run exited %d: %s" % (run.returncode, run.stderr[-2000:]))
        files = glob.glob(os.path.join(results, "*.json"))
        check(len(files) == 1, "one JSON result expected, got %s" % files)
        with open(files[0]) as f:
            r = json.load(f)
    finally:
        shutil.rmtree(results)

    shadowtap_cases = SHADOWTAP_CASES[:]
    testpmd_cases = ["http/testpmd", "small/testpmd"]
    if "real" in r["skipped"]:
        check("suricata-verify" in r["skipped"]["real"],
              "real skipped for %r" % r["skipped"]["real"])
    else:
        shadowtap_cases += REAL_CASES
        testpmd_cases.append("real/testpmd")
    check(SKIPPED <= set(r["skipped"]), "skipped: %r" % r["skipped"])
    # --baseline runs the same binary again: the same cases, as baseline-...
    expected = sorted(testpmd_cases + shadowtap_cases + [
        c.replace("shadowtap", "baseline") for c in shadowtap_cases])
    check(sorted(r["cases"]) == expected,
          "cases %s, expected %s" % (sorted(r["cases"]), expected))
    for name, c in r["cases"].items():
        for k in ("mpps", "ns_per_packet", "cycles_per_packet"):
            check(positive(c[k]), "%s: %s = %r" % (name, k, c[k]))
        check(abs(c["ns_per_packet"] * c["mpps"] - 1e3) < 1,
              "%s: ns per packet does not match Mpps" % name)
        if name.endswith("testpmd"):
            continue
        ref = r["cases"][name.split("/")[0] + "/testpmd"]
        check(positive(c["ratio_to_testpmd"]), name + ": no ratio")
        # One round: the ratio is the two rates divided.
        check(abs(c["ratio_to_testpmd"] - c["mpps"] / ref["mpps"]) < 1e-6,
              "%s: ratio %r is not %r / %r" % (name, c["ratio_to_testpmd"],
                                               c["mpps"], ref["mpps"]))
        check(c["dropped_packets"] == 0, name + ": originals dropped")
        # Own work: shadowtap's cycles per packet minus testpmd's, which
        # noise may make negative; one round, so the cases' own figures.
        own = c["own_cycles_per_packet"]
        check(number(own) and c["own_cycles_rounds"] == [round(own, 1)],
              "%s: own cycles %r, rounds %r" % (name, own,
                                                c["own_cycles_rounds"]))
        check(abs(own - (c["cycles_per_packet"] - ref["cycles_per_packet"]))
              < 1e-6 * c["cycles_per_packet"],
              "%s: own cycles %r are not %r - %r" % (
                  name, own, c["cycles_per_packet"],
                  ref["cycles_per_packet"]))
        own_ns = c["own_ns_per_packet"]
        check(abs(own_ns - (c["ns_per_packet"] - ref["ns_per_packet"]))
              < 1e-6 * c["ns_per_packet"],
              "%s: own ns %r are not %r - %r" % (
                  name, own_ns, c["ns_per_packet"], ref["ns_per_packet"]))
        check(number(c["lookups_per_s"]) and number(c["flows_in_table"]),
              "%s: lookups %r, flows %r" % (name, c["lookups_per_s"],
                                            c["flows_in_table"]))
    share = {p: r["cases"]["http/shadowtap-%d%%" % p]["mirrored_share"]
             for p in (0, 10, 100)}
    check(share[0] == 0, "0%% mirrored %r of the packets" % share[0])
    check(0 < share[10] < share[100],
          "mirrored shares not ordered: %r" % share)
    # At 100% only health checks stay home: most packets are copied.
    check(share[100] > 0.8, "100%% mirrored only %r" % share[100])
    # The same binary as baseline selects the same flows.
    for name in SHADOWTAP_CASES:
        base = r["cases"][name.replace("shadowtap", "baseline")]
        check(abs(base["mirrored_share"] -
                  r["cases"][name]["mirrored_share"]) < 0.02,
              "%s: baseline mirrored %r, shadowtap %r" % (
                  name, base["mirrored_share"],
                  r["cases"][name]["mirrored_share"]))
    cl = r["classifier"]
    check(cl["heads"] > 0 and positive(cl["ns_per_request"]),
          "classifier: %r" % cl)
    check(cl["matches"]["health"] > 0 and cl["matches"]["api"] > 0,
          "classifier matched no health or api request: %r" % cl)
    sc = r["sampling_change_ms"]
    check(sc["count"] > 0 and positive(sc["median"]),
          "sampling changes: %r" % sc)
    check({t["case"] for t in r["targets"]} ==
          {"http/shadowtap-10%", "http/shadowtap-100%",
           "small/shadowtap-0%", "small/shadowtap-0%-any-port"},
          "targets: %r" % r["targets"])
    # The small frames are not HTTP: with http.ports they pass without a
    # flow; without, the TCP ones (any port may carry HTTP) are looked up
    # and only UDP passes. (Counters are read one after the other while
    # traffic flows: a burst apart.)
    small = r["cases"]["small/shadowtap-0%"]
    check(abs(small["bypassed_share"] - 1.0) < 1e-3,
          "small frames not all bypassed: %r" % small["bypassed_share"])
    any_port = r["cases"]["small/shadowtap-0%-any-port"]["bypassed_share"]
    check(0.2 < any_port < 0.8,
          "without http.ports, %r of UDP+TCP bypassed" % any_port)
    check(r["traffic"]["http"]["flows"] > 0, "traffic summary missing")
    targets = {t["case"]: t for t in r["targets_own"]}
    check(set(targets) == {"http/shadowtap-10%", "http/shadowtap-100%",
                           "small/shadowtap-0%",
                           "small/shadowtap-0%-any-port"},
          "targets_own: %r" % r["targets_own"])
    for t in r["targets_own"]:
        check(number(t["measured"]) and t["met"] == (t["measured"] <=
                                                     t["target"]),
              "target %r" % t)
    # Each target's rounds (one here) are counted against it, and the
    # verdict follows them: met, not met, or not conclusive when they
    # disagree.
    for t, meets in ([(t, operator.ge) for t in r["targets"]] +
                     [(t, operator.le) for t in r["targets_own"]]):
        k = sum(1 for x in t["rounds"] if meets(x, t["target"]))
        check(len(t["rounds"]) == 1 and t["rounds_met"] == k and
              t["verdict"] == ("met" if k == 1 else "not met") and
              t["met"] == meets(t["measured"], t["target"]),
              "target verdict %r" % t)
    # The copy path: what 100% adds to 0%, per copied packet, in the
    # 100% case's process, its percent switched live (one pair here):
    # nothing copied at 0%, at 100% what the 100% case copied.
    cases = r["cases"]
    pairs = cases["http/shadowtap-100%"]["copy_pairs_rounds"]
    check(len(pairs) == 1 and len(pairs[0]) == 1, "copy pairs %r" % pairs)
    pair = pairs[0][0]
    check(pair["share_0"] == 0 and abs(pair["share_100"] - share[100]) < 0.02,
          "copy pair's shares %r, the 100%% case's %r" % (pair, share[100]))
    copy = (r["method"]["tsc_hz"] * (1 / pair["pps_100"] - 1 / pair["pps_0"])
            / pair["share_100"])
    check(abs(targets["http/shadowtap-100%"]["measured"] - copy) <
          1e-3 * max(1, abs(copy)),
          "copy path %r, expected %r" % (
              targets["http/shadowtap-100%"]["measured"], copy))
    # ... and beside it, the two cases' own runs.
    across = (cases["http/shadowtap-100%"]["own_cycles_rounds"][0] -
              cases["http/shadowtap-0%"]["own_cycles_rounds"][0]) / \
        share[100]
    check(abs(targets["http/shadowtap-100%"]["across_runs"]["measured"] -
              across) < 1e-3 * max(1, abs(across)),
          "copy path across runs %r, expected %r" % (
              targets["http/shadowtap-100%"]["across_runs"], across))
    # The stages: -bypass passes every frame without a flow, -flows looks
    # every one up (and copies none), and each stage is the difference of
    # two cases' own cycles, adding up to the 10% case's in a round (one
    # round here, so in their medians too).
    check(abs(cases["http/shadowtap-bypass"]["bypassed_share"] - 1) < 1e-3,
          "http -bypass: %r of the frames bypassed" %
          cases["http/shadowtap-bypass"]["bypassed_share"])
    flows = cases["http/shadowtap-flows"]
    check(flows["bypassed_share"] == 0 and flows["mirrored_share"] == 0 and
          flows["flows_in_table"] > 0,
          "http -flows: bypassed %r, mirrored %r, %r flows" % (
              flows["bypassed_share"], flows["mirrored_share"],
              flows["flows_in_table"]))
    check(sorted(r["stages"]) == ["baseline", "shadowtap"],
          "stages for %r" % sorted(r["stages"]))
    for program, rows in r["stages"].items():
        check([x["stage"] for x in rows] ==
              ["parse and forward", "flow table and verdicts",
               "requests read and classified", "copies at 10%"],
              "%s stages: %r" % (program, rows))
        total = sum(x["own_cycles"] for x in rows)
        own10 = cases["http/%s-10%%" % program]["own_cycles_per_packet"]
        # The rounds' figures are rounded to 0.1 cycle.
        check(abs(total - own10) < 0.5,
              "%s stages add up to %r, the 10%% case's own cycles are %r" %
              (program, total, own10))
        check(rows[0]["own_cycles"] == cases["http/%s-bypass" % program][
            "own_cycles_rounds"][0], "%s: first stage %r" % (program,
                                                              rows[0]))
    sc = r["scaling"]
    check(number(sc["ratio"]) if sc["measured"] else
          sc["note"].startswith("not measured: "), "scaling: %r" % sc)
    if "real" not in r["skipped"]:
        real = cases["real/shadowtap-10%"]["mirrored_share"]
        check(0 < real < 0.5, "real traffic at 10%% mirrored %r" % real)
        src = r["traffic"]["real"]["sources"]
        check(src["captures"] > 0 and src["http_requests_by_tshark"] > 0,
              "real traffic sources: %r" % src)
    print("perf/run --quick: %d cases, well-formed" % len(r["cases"]))


if __name__ == "__main__":
    main()
