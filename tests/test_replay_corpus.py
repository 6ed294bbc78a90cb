#!/usr/bin/env python3
"""shadowtap-replay against tshark on every capture of the shared corpus: the multiset of
(method, target) requests, and of (method, target, status) request/response pairs, per file.

    SHADOWTAP_REPLAY=build/shadowtap-replay tests/test_replay_corpus.py [--update]

Every disagreement is listed, with its reason, in replay_corpus_expected.tsv (file, kind,
detail, reason); the test fails when the disagreements found differ from that list either way,
or when a listed one has no reason. --update rewrites the list from this run, keeping the
reasons of the lines that stay and giving new ones the reason "UNEXPLAINED" (which fails until
someone looks at the packets and writes the real one).

Kinds: request_replay_only / request_tshark_only (method, target, count), pair_replay_only /
pair_tshark_only (method, target, status, count), replay_failed (exit status, stderr).
Skips (77), saying why, without the corpus, the program or tshark.

tshark takes most of the time (about half a second a file, mostly its start-up), so its output is
cached by file content and tshark version in $ST_TSHARK_CACHE (default: st_replay_corpus_tshark
in the temporary directory): a first run takes a few minutes, the next ones seconds.
"""

import collections
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import corpus

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "replay_corpus_expected.tsv")
PARALLEL_FILES = 2
TIMEOUT_S = 60
# One route that takes every request, writes included, and no PII masks:
# the targets are compared as sent. No http.ports: any port may carry HTTP,
# as tshark's heuristics let it.
CONFIG = """\
routes:
  - name: all
    match: {}
    allow_writes: true
shadow:
  url: http://127.0.0.1:9
sanitize:
  patterns: []
"""
# Several values of one field in one frame (pipelining) are joined with
# this, which no request line holds.
AGGREGATOR = "\x1f"
TSHARK_FIELDS = ["tcp.stream", "http.request.method", "http.request.uri",
                 "http.response.code"]


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(corpus.SKIP_EXIT)


def replay_exchanges(binary, config, path, log):
    """(requests, pairs) Counters from shadowtap-replay's log, or an error string."""
    try:
        run = subprocess.run([binary, "--config", config, "--pcap", path, "--dry-run",
                              "--fast", "--log", log], capture_output=True, text=True,
                             errors="replace", timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"timeout after {TIMEOUT_S} s"
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines()
        return f"exit {run.returncode}: {lines[-1] if lines else ''}"
    requests, pairs = collections.Counter(), collections.Counter()
    with open(log, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            requests[(r["method"], r["target"])] += 1
            if r["primary_status"] is not None:
                pairs[(r["method"], r["target"], r["primary_status"])] += 1
    return requests, pairs


def tshark_fields(path, cache_dir, version):
    """tshark's field lines for the file, from the cache when it has them."""
    cmd = ["tshark", "-n", "-r", path, "-Y", "http", "-T", "fields",
           "-E", "separator=\t", "-E", "aggregator=" + AGGREGATOR]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    key = hashlib.sha1(version.encode() + repr(cmd[3:]).encode())
    with open(path, "rb") as f:
        key.update(f.read())
    cached = os.path.join(cache_dir, key.hexdigest())
    if os.path.exists(cached):
        with open(cached, encoding="utf-8") as f:
            return f.read()
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                         timeout=TIMEOUT_S).stdout
    with open(cached + ".tmp", "w", encoding="utf-8") as f:
        f.write(out)
    os.replace(cached + ".tmp", cached)
    return out


def tshark_exchanges(out):
    """(requests, pairs) Counters from tshark's field lines.

    Responses pair as HTTP/1.1 pairs them: in order on their connection. (tshark's
    http.request_in is no help with pipelining: it names one request frame per response frame,
    and not always the right one.) 1xx other than 101 are interim, and a response while no
    request is pending answers one never seen: they pair with nothing, as in the replay.
    """
    requests = collections.defaultdict(list)  # stream -> [(method, uri)]
    pairs, answered = collections.Counter(), collections.Counter()
    for line in out.splitlines():
        stream, methods, uris, codes = (line.split("\t") + [""] * 4)[:4]
        if methods:
            requests[stream] += zip(methods.split(AGGREGATOR), uris.split(AGGREGATOR))
        for code in map(int, filter(None, codes.split(AGGREGATOR))):
            if code // 100 == 1 and code != 101:
                continue
            # one before any request pending answers none seen (as in the replay)
            k = answered[stream]
            if k < len(requests[stream]):
                pairs[requests[stream][k] + (code,)] += 1
                answered[stream] += 1
    return collections.Counter(r for reqs in requests.values() for r in reqs), pairs


def differences(name, ours, theirs, what):
    """Rows (kind, detail) for what one side found more often than the other."""
    rows = []
    for key in sorted(set(ours) | set(theirs), key=repr):
        n = ours[key] - theirs[key]
        if n:
            kind = f"{what}_{'replay' if n > 0 else 'tshark'}_only"
            rows.append((name, kind, json.dumps(list(key) + [abs(n)], ensure_ascii=True)))
    return rows


def check_file(binary, config, workdir, tshark, row):
    log = os.path.join(workdir, row["file"] + ".jsonl")
    ours = replay_exchanges(binary, config, row["path"], log)
    if isinstance(ours, str):
        ours = ours.replace(row["path"], row["file"])
        return [(row["file"], "replay_failed", json.dumps(ours, ensure_ascii=True))]
    theirs = tshark_exchanges(tshark_fields(row["path"], *tshark))
    return (differences(row["file"], ours[0], theirs[0], "request") +
            differences(row["file"], ours[1], theirs[1], "pair"))


def read_expected():
    """{(file, kind, detail): reason}; details are ASCII JSON, so no field holds a tab."""
    if not os.path.exists(EXPECTED):
        return {}
    with open(EXPECTED, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    return {tuple(r[:3]): r[3] if len(r) > 3 else "" for r in rows[1:] if r != [""]}


def write_expected(found, old):
    with open(EXPECTED, "w", encoding="utf-8") as f:
        f.write("# shadowtap-replay vs tshark on the shared corpus: every disagreement and why\n"
                "# (tests/test_replay_corpus.py; --update rewrites it, keeping reasons).\n"
                "file\tkind\tdetail\treason\n")
        for key in sorted(found):
            f.write("\t".join(key + (old.get(key, "UNEXPLAINED"),)) + "\n")


def main(argv):
    rows = corpus.manifest_or_skip()
    binary = os.environ.get("SHADOWTAP_REPLAY")
    if not binary or not os.access(binary, os.X_OK):
        skip("SHADOWTAP_REPLAY does not name the shadowtap-replay binary")
    if shutil.which("tshark") is None:
        skip("no tshark")
    version = subprocess.run(["tshark", "-v"], capture_output=True,
                             text=True).stdout.split("\n")[0]
    cache_dir = os.environ.get("ST_TSHARK_CACHE", os.path.join(
        tempfile.gettempdir(), "st_replay_corpus_tshark"))
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="st_replay_corpus_") as workdir:
        config = os.path.join(workdir, "replay.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        with concurrent.futures.ThreadPoolExecutor(PARALLEL_FILES) as pool:
            found = set()
            for rows_of_file in pool.map(
                    lambda r: check_file(binary, config, workdir, (cache_dir, version), r),
                    rows):
                found.update(rows_of_file)
    expected = read_expected()
    if "--update" in argv:
        write_expected(found, expected)
        print(f"{len(found)} disagreements written to {EXPECTED}")
        return 0
    new = sorted(found - set(expected))
    gone = sorted(set(expected) - found)
    unexplained = sorted(k for k, why in expected.items() if why in ("", "UNEXPLAINED"))
    for key in new:
        print("NEW DISAGREEMENT\t" + "\t".join(key))
    for key in gone:
        print("NO LONGER SEEN\t" + "\t".join(key) + "\t" + expected[key])
    for key in unexplained:
        print("NO REASON GIVEN\t" + "\t".join(key))
    print(f"{len(rows)} captures: {len(found)} disagreements, {len(new)} new, "
          f"{len(gone)} gone, {len(unexplained)} without a reason")
    return 1 if new or gone or unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
