"""Every capture of the shared real-HTTP corpus, replayed into the client
port: forwarded byte for byte and in order, mirrored not at all at 0%,
exactly at 100%, and as whole flows at a partial percent."""

import concurrent.futures
import os
import shutil
import sys
import tempfile

from corpus import manifest_or_skip
from pcaplib import check_flow_union, group_by_flow, read_pcap
from shadowtap_run import Mirror, counter_errors, run

MIRRORS = [Mirror("none", 0), Mirror("all", 100), Mirror("part", 50)]
PARALLEL_RUNS = 2
# A capture is read in milliseconds: once the queues have been empty this
# long, everything has been sent.
IDLE_EXIT_MS = 400


def check_capture(workdir, row):
    """Run one capture; return (flows, selected flows, problems)."""
    _, frames = read_pcap(row["path"])
    if len(frames) != int(row["packets"]):
        return 0, 0, [f"read {len(frames)} packets, the manifest says {row['packets']}"]
    r = run(workdir, [frames], [[]], MIRRORS, idle_exit_ms=IDLE_EXIT_MS)
    problems = counter_errors(r, frames, [])
    if r.server_out[0] != frames:
        problems.append("server-side output differs from the input")
    if r.client_out[0]:
        problems.append("something came out of the client port")
    if r.mirror_frames("none"):
        problems.append("the 0% mirror sent packets")
    if r.mirror_frames("all") != frames:
        problems.append("the 100% mirror differs from the input")
    selected, errors = check_flow_union(frames, r.mirror_frames("part"))
    problems += [f"50% mirror: {e}" for e in errors[:3]]
    return len(group_by_flow(frames)), len(selected), problems


def main():
    rows = manifest_or_skip()
    workdir = tempfile.mkdtemp(prefix="st_corpus_")
    failures, flows, selected = 0, 0, 0
    try:
        with concurrent.futures.ThreadPoolExecutor(PARALLEL_RUNS) as pool:
            jobs = {pool.submit(check_capture, workdir, row): row for row in rows}
            for job in concurrent.futures.as_completed(jobs):
                row = jobs[job]
                n_flows, n_selected, problems = job.result()
                flows += n_flows
                selected += n_selected
                for p in problems:
                    print(f"FAIL {row['file']}: {p}")
                failures += bool(problems)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(rows) - failures} of {len(rows)} captures passed; the 50% mirror took "
          f"{selected} of {flows} flows ({100.0 * selected / max(flows, 1):.1f}%)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
