#!/usr/bin/env python3
"""Seeds for fuzz_control: the requests of tests/test_control.py, one file each in OUTDIR.

- every dict literal with a "command" key (the values written out: literal_eval), as one JSON
  line;
- every bytes literal (the malformed lines, NUL bytes, bad UTF-8, CRLF), ended by a newline;
- all the JSON requests again in one file, in the order of the tests: a session, since a
  command changes what the next ones see;
- the regressions below.

    tests/fuzz/control_seeds.py OUTDIR     (smoke.py FUZZER SECONDS control_seeds.py in CI)

Files are named by content hash. Python 3 standard library.
"""

import ast
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from config_seeds import ROOT, write_seeds  # noqa: E402

TESTS = os.path.join(ROOT, "tests", "test_control.py")
# An error message cut by its 1024-byte buffer inside a UTF-8 character: jansson refused it and
# the reply went out without "error" (mgmt/ctlsock.c, error_string()). The name puts the last
# byte of an "e acute" past the cut, in the error of an unknown command and of a handler.
CUT = "x" * 1005 + "\u00e9"
REGRESSIONS = [json.dumps(r).encode() + b"\n" for r in (
    {"command": CUT},
    {"command": "mirror", "mirror": CUT, "enabled": True},
)]


def requests(path):
    """(JSON requests, raw lines) written in the tests of @p path, in order."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found, lines = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue    # a value computed at run time
            if "command" in value:
                found.append((node.lineno, node.col_offset, value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            lines.append(node.value if node.value.endswith(b"\n") else node.value + b"\n")
    found.sort(key=lambda t: t[:2])
    return [json.dumps(v).encode() + b"\n" for _, _, v in found], lines


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json_lines, raw_lines = requests(TESTS)
    seeds = json_lines + raw_lines + [b"".join(json_lines)] + REGRESSIONS
    print(f"{write_seeds(argv[1], seeds)} control seeds in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
