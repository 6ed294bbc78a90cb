"""Where the shared real-capture corpus is, and how to skip loudly without it."""

import csv
import os
import sys

SKIP_EXIT = 77  # meson's "skipped"


def corpus_dir():
    """$ST_CORPUS, else ../shared/pcaps/suricata-verify beside the project."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("ST_CORPUS", os.path.normpath(
        os.path.join(here, "..", "..", "shared", "pcaps", "suricata-verify")))


def manifest_or_skip():
    """Rows of MANIFEST.tsv (file, http_requests_by_tshark, packets, ...),
    or exit as skipped, saying why, when the corpus is not there."""
    path = os.path.join(corpus_dir(), "MANIFEST.tsv")
    if not os.path.exists(path):
        print(f"SKIP: no capture corpus at {corpus_dir()} (set ST_CORPUS)", file=sys.stderr)
        sys.exit(SKIP_EXIT)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["path"] = os.path.join(corpus_dir(), row["file"])
    return rows
