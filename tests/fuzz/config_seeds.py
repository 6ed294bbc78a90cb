#!/usr/bin/env python3
"""Seeds for fuzz_config and fuzz_replay_conf: every YAML configuration the project writes
down, one file each in OUTDIR:

- examples/*.yaml;
- the string constants of tests/*.py that hold a config (a line starting with a top-level key
  of either file), whole or as the fragments the tests add to one;
- the C string literals of tests/unit/test_config.c and tests/replay/test_conf.c, adjacent
  literals joined, with string macros (#define PORTS "...") expanded and without them, with the
  same test.

    tests/fuzz/config_seeds.py OUTDIR      (smoke.py FUZZER SECONDS config_seeds.py in CI)

Both targets get all of them: each loader refuses the other's top-level keys at once, and the
keys they share (routes, http) seed both. Many are broken on purpose (the tests' errors), which
is what a fuzzer starts well from. Files are named by content hash. Python 3 standard library.
"""

import ast
import codecs
import glob
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
C_TESTS = ("tests/unit/test_config.c", "tests/replay/test_conf.c")
# The top-level keys of the appliance's file and of replay.yaml.
CONFIG_LINE = re.compile(rb"^(ports|mirrors|routes|http|flow_table|routes_from|shadow|secondary|"
                         rb"compare|sanitize|capture|limits)\s*:", re.M)
C_TOKEN = re.compile(r'(?P<skip>/\*.*?\*/|//[^\n]*|\s+)|(?P<string>"(?:[^"\\\n]|\\.)*")'
                     r"|(?P<char>'(?:[^'\\\n]|\\.)*')|(?P<ident>[A-Za-z_]\w*)|(?P<other>.)", re.S)
C_STRING_MACRO = re.compile(r'^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+((?:"(?:[^"\\\n]|\\.)*"[ \t]*)+)'
                            r"(?:/\*.*?\*/)?[ \t]*$", re.M)


def write_seeds(outdir, seeds):
    """Write each bytes of @p seeds to OUTDIR, named by its hash; returns how many files."""
    os.makedirs(outdir, exist_ok=True)
    for data in seeds:
        with open(os.path.join(outdir, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return len(set(seeds))


def c_unescape(literal):
    """The bytes of a C string literal, quotes included in @p literal."""
    return codecs.escape_decode(literal[1:-1].encode())[0]


def c_strings(path):
    """Each run of adjacent string literals of a C file, joined, with its string macros
    expanded, and again without them: a test's PORTS and MIRRORS prefix makes a whole appliance
    file, and what follows it alone a fragment that is a good replay.yaml."""
    with open(path) as f:
        text = f.read()
    macros = {}
    for name, body in C_STRING_MACRO.findall(text):
        macros[name] = b"".join(c_unescape(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', body))
    runs, run, literals = [], [], []
    for m in C_TOKEN.finditer(text):
        if m.group("skip"):
            continue
        if m.group("string"):
            run.append(c_unescape(m.group("string")))
            literals.append(run[-1])
        elif m.group("ident") in macros:
            run.append(macros[m.group("ident")])
        elif run:
            runs += [b"".join(run), b"".join(literals)]
            run, literals = [], []
    return runs


def py_strings(path):
    """The str and bytes constants of a Python file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            yield node.value.encode() if isinstance(node.value, str) else node.value


def configs():
    seeds = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml"))):
        with open(path, "rb") as f:
            seeds.append(f.read())
    candidates = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.py"))):
        candidates += py_strings(path)
    for path in C_TESTS:
        candidates += c_strings(os.path.join(ROOT, path))
    seeds += [s for s in candidates if CONFIG_LINE.search(s)]
    return seeds


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    seeds = configs()
    print(f"{write_seeds(argv[1], seeds)} config seeds in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
