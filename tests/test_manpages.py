"""The man pages (man/*.scd, built by meson) against the programs.

Each program's --help and -h print a usage on stdout and exit 0, and the C
programs' --version their version; shadowtap answers both without EAL
(nothing on stderr, where EAL logs). The bare-metal scripts are installed
as shadowtap-setup-hugepages and shadowtap-bind-nics. Each built page renders with man -l (groff when man-db is
missing) without a warning and within 80 columns. The long options a
program's --help lists are the ones its page documents: an option shown in
bold as a term, with its description indented below it. And the example of
shadowtap.yaml(5) passes shadowtap --check-config.

Needs $SHADOWTAP, $SHADOWTAPCTL, $SHADOWTAP_REPLAY and $ST_MAN_PAGES (the
built pages, ':'-separated), as meson passes them; the scripts are taken
from the tree. Skips (77) without a
man page renderer.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "scripts")
# Each page's program, and the name its usage gives itself.
BUILT = {
    "shadowtap": (os.environ.get("SHADOWTAP", ""), "shadowtap"),
    "shadowtapctl": (os.environ.get("SHADOWTAPCTL", ""), "shadowtapctl"),
    "shadowtap-replay": (os.environ.get("SHADOWTAP_REPLAY", ""),
                         "shadowtap-replay"),
}
PROGRAMS = dict(BUILT, **{
    "shadowtap-setup-hugepages": (os.path.join(SCRIPTS, "setup-hugepages"),
                                  "setup-hugepages"),
    "shadowtap-bind-nics": (os.path.join(SCRIPTS, "bind-nics"),
                            "bind-nics"),
})
PAGES = {os.path.basename(p): p
         for p in os.environ.get("ST_MAN_PAGES", "").split(":") if p}
WIDTH = 80
# A page's text starts at this column; a term's description is further in.
TEXT_INDENT = 7
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")


def run(args, **kwargs):
    # argparse wraps its usage to $COLUMNS, at hyphens too.
    env = kwargs.pop("env", dict(os.environ, COLUMNS="500"))
    return subprocess.run(args, capture_output=True, text=True, timeout=30,
                          env=env, **kwargs)


def render(path):
    """The renderer's run (its warnings on stderr), and the page as plain
    text WIDTH columns wide."""
    env = dict(os.environ, MANWIDTH=str(WIDTH), LANG="C.UTF-8",
               LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat",
               GROFF_NO_SGR="1")
    env.pop("MAN_KEEP_FORMATTING", None)
    if shutil.which("man"):
        proc = run(["man", "--warnings", "-l", path], env=env)
    else:
        proc = run(["groff", "-man", "-Tutf8", "-ww",
                    "-rLL=%dn" % (WIDTH - 2), path], env=env)
    # Overstrike (groff without SGR) to plain text; U+2010, the hyphen
    # groff may print for '-', to '-'.
    text = re.sub(r".\x08", "", proc.stdout).replace("\u2010", "-")
    return proc, text


def indent(line):
    return len(line) - len(line.lstrip(" "))


def term_paragraphs(text):
    """The terms of a rendered page: each paragraph that the next line,
    indented further, describes (an option, a command, a key). List items
    are not terms, even when they wrap further in."""
    lines = text.splitlines()
    terms, start = [], 0
    for i, line in enumerate(lines):
        if not line.strip() or indent(line) < TEXT_INDENT:  # or a heading
            start = i + 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (nxt.strip() and indent(nxt) > indent(line)
                and indent(lines[start]) == indent(line)
                and not lines[start].lstrip().startswith("\u2022")):
            terms.append(" ".join(l.strip() for l in lines[start:i + 1]))
            start = i + 1
    return terms


def section_re(name):
    """A page's section, from its heading to the next one."""
    return re.compile(r"^%s\n(.*?)(?=^\S)" % re.escape(name), re.M | re.S)


def section(text, name):
    match = section_re(name).search(text)
    return match.group(1) if match else ""


class ManPages(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        missing = [n for n, (p, _) in PROGRAMS.items()
                   if not os.access(p, os.X_OK)]
        if missing or len(PAGES) != len(PROGRAMS) + 1:
            raise RuntimeError("run by meson: programs %s, pages %s"
                               % (PROGRAMS, PAGES))
        cls.rendered = {}
        for name, path in PAGES.items():
            cls.rendered[name] = render(path)

    def test_help_on_stdout(self):
        for program, (binary, name) in PROGRAMS.items():
            for flag in ("--help", "-h"):
                with self.subTest(program=program, flag=flag):
                    proc = run([binary, flag])
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertTrue(proc.stdout.startswith("usage: "),
                                    proc.stdout)
                    self.assertIn(name, proc.stdout.splitlines()[0])
                    # shadowtap's would follow EAL's logs, were EAL started.
                    self.assertEqual(proc.stderr, "")

    def test_usage_errors_on_stderr(self):
        for args in (["shadowtap", "--check-config"],
                     ["shadowtapctl", "--bogus"],
                     ["shadowtap-replay", "--bogus"],
                     ["shadowtap-bind-nics", "--bogus"]):
            with self.subTest(args=args):
                proc = run([PROGRAMS[args[0]][0]] + args[1:])
                self.assertNotEqual(proc.returncode, 0)
                self.assertEqual(proc.stdout, "")
                self.assertIn("usage", proc.stderr)

    def test_version(self):
        versions = set()
        for name, (binary, _) in BUILT.items():
            with self.subTest(program=name):
                proc = run([binary, "--version"])
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertRegex(proc.stdout,
                                 r"^%s \d+\.\d+\.\d+\S*\n$" % re.escape(name))
                self.assertEqual(proc.stderr, "")
                versions.add(proc.stdout.split()[1])
        self.assertEqual(len(versions), 1, versions)

    def test_pages_render_cleanly(self):
        for name, (proc, text) in self.rendered.items():
            with self.subTest(page=name):
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(proc.stderr, "", "renderer warnings")
                for heading in ("NAME", "SYNOPSIS", "DESCRIPTION",
                                "SEE ALSO"):
                    self.assertRegex(text, r"(?m)^%s$" % heading)
                wide = [l for l in text.splitlines() if len(l) > WIDTH]
                self.assertEqual(wide, [], "lines wider than %d" % WIDTH)

    def test_program_pages_have_their_sections(self):
        for program in PROGRAMS:
            text = self.rendered[program + ".8"][1]
            for heading in ("OPTIONS", "EXIT STATUS", "EXAMPLES"):
                with self.subTest(page=program, heading=heading):
                    self.assertRegex(text, r"(?m)^%s$" % heading)

    def test_options_match_help(self):
        for program, (binary, _) in PROGRAMS.items():
            with self.subTest(program=program):
                usage = run([binary, "--help"]).stdout
                helped = set(LONG_OPTION.findall(usage))
                # Command lines there continue further in, as terms do.
                text = section_re("EXAMPLES").sub(
                    "", self.rendered[program + ".8"][1])
                terms = term_paragraphs(text)
                documented = set(LONG_OPTION.findall(" ".join(terms)))
                self.assertGreater(len(helped), 2)
                self.assertEqual(sorted(helped - documented), [],
                                 "in --help, not documented in the page")
                self.assertEqual(sorted(documented - helped), [],
                                 "documented in the page, not in --help")

    def test_config_example_is_accepted(self):
        text = self.rendered["shadowtap.yaml.5"][1]
        example = section(text, "EXAMPLES").split("\n\n")[0]
        lines = example.splitlines()
        self.assertIn("ports:", example)
        depth = min(indent(l) for l in lines if l.strip())
        self.assertGreater(depth, TEXT_INDENT)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write("\n".join(l[depth:] for l in lines) + "\n")
            f.flush()
            proc = run([PROGRAMS["shadowtap"][0], "--check-config",
                        f.name])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("1 mirror(s), 3 route(s)", proc.stdout)


if __name__ == "__main__":
    if not shutil.which("man") and not shutil.which("groff"):
        print("SKIP: neither man (man-db) nor groff can render a man page: "
              "apt-get install man-db", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
