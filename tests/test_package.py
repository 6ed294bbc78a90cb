"""The Debian package: built from the tree by scripts/package, installed on
this machine with dpkg, checked as installed, then purged.

The build compiles the whole project once more (LTO, without the tests),
in a copy of the tree. Installed: the programs run from /usr (their shared
libraries resolved by the package's dependencies), the config check passes
on a shipped example, the shadowtap group exists, the unit is installed,
runs what the package installed, and is not enabled; lintian reports no
error or warning that debian/shadowtap.lintian-overrides does not explain.
Purged: the files and the unit are gone (the group stays, as Debian keeps
system groups; the test removes it again if it created it).

Needs root, dpkg-buildpackage, debhelper and lintian (scripts/install-deps);
exits 77 saying so otherwise, and when a shadowtap package is already
installed, which it leaves alone.
"""

import grp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
UNIT = "/lib/systemd/system/shadowtap.service"
EXAMPLES = "/usr/share/doc/shadowtap/examples"


def skip(reason):
    print(f"SKIP: {reason}", file=sys.stderr)
    sys.exit(77)


def run(*cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout)


def package_status():
    """dpkg's state of the shadowtap package: "not-installed" when dpkg
    knows nothing of it."""
    p = run("dpkg-query", "-W", "-f=${db:Status-Status}", "shadowtap")
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def meson_version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"^\tversion: '([^']+)',$", f.read(), re.M).group(1)


def unit_exec_programs(path):
    """The programs the unit's Exec lines run, prefixes such as "+" off."""
    programs = []
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key.startswith("Exec"):
                programs.append(value.lstrip("@-:+!").split()[0])
    return programs


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="st_package_")
        cls.group_existed = True
        try:
            grp.getgrnam("shadowtap")
        except KeyError:
            cls.group_existed = False
        p = run(os.path.join(ROOT, "scripts", "package"), "--output",
                cls.tmp.name, timeout=1800)
        if p.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError("scripts/package failed:\n" + p.stderr[-4000:])
        cls.deb = p.stdout.strip().splitlines()[-1]
        p = run("dpkg", "-i", cls.deb, timeout=300)
        if p.returncode != 0:
            cls.purge()
            raise AssertionError(f"dpkg -i {cls.deb} failed:\n{p.stdout}{p.stderr}")

    @classmethod
    def purge(cls):
        p = run("dpkg", "--purge", "shadowtap", timeout=300)
        if not cls.group_existed:
            run("groupdel", "shadowtap")
        cls.tmp.cleanup()
        return p

    @classmethod
    def tearDownClass(cls):
        p = cls.purge()
        if p.returncode != 0:
            raise AssertionError(f"dpkg --purge shadowtap failed:\n{p.stdout}{p.stderr}")
        left = [f for f in ("/usr/bin/shadowtap", "/usr/sbin/shadowtap-bind-nics",
                            UNIT, "/etc/shadowtap/shadowtap.env", EXAMPLES)
                if os.path.exists(f)]
        if left or package_status() != "not-installed":
            raise AssertionError(f"after the purge: {package_status()}, left {left}")

    def test_programs_run_from_usr(self):
        p = run("/usr/bin/shadowtap-replay", "--version")
        self.assertEqual((p.returncode, p.stdout),
                         (0, f"shadowtap-replay {meson_version()}\n"), p.stderr)
        # No appliance: exit status 2 (docs/control.md), after it ran.
        p = run("/usr/bin/shadowtapctl", "-s", "/nonexistent/ctl.sock", "version")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("cannot reach /nonexistent/ctl.sock", p.stderr)
        for script in ("shadowtap-setup-hugepages", "shadowtap-bind-nics"):
            p = run(os.path.join("/usr/sbin", script), "--help")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("usage:", p.stdout)

    def test_config_check_on_the_shipped_examples(self):
        example = os.path.join(EXAMPLES, "baremetal.yaml")
        p = run("/usr/bin/shadowtap", "--check-config", example)
        self.assertEqual(p.returncode, 0, p.stderr)
        bad = os.path.join(self.tmp.name, "bad.yaml")
        with open(example) as f, open(bad, "w") as out:
            out.write(f.read() + "no_such_key: 1\n")
        p = run("/usr/bin/shadowtap", "--check-config", bad)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no_such_key", p.stderr)

    def test_group_is_a_system_group(self):
        self.assertLess(grp.getgrnam("shadowtap").gr_gid, 1000)

    def test_unit_installed_not_enabled(self):
        with open(UNIT) as f:
            self.assertIn("\nGroup=shadowtap\n", f.read())
        programs = unit_exec_programs(UNIT)
        self.assertEqual(len(programs), 4, programs)
        for program in programs:
            self.assertRegex(program, r"^/usr/s?bin/")
            self.assertTrue(os.access(program, os.X_OK), program)
        wants = "/etc/systemd/system/multi-user.target.wants/shadowtap.service"
        self.assertFalse(os.path.lexists(wants))
        p = run("systemctl", "is-enabled", "shadowtap.service")
        self.assertEqual(p.stdout.strip(), "disabled", p.stderr)

    def test_files_in_place(self):
        p = run("dpkg-query", "-W", "-f=${Conffiles}", "shadowtap")
        self.assertIn("/etc/shadowtap/shadowtap.env ", p.stdout)
        for f in ("/usr/share/shadowtap/prometheus.yml",
                  "/usr/share/shadowtap/grafana-dashboard.json",
                  os.path.join(EXAMPLES, "lab.yaml")):
            self.assertTrue(os.path.isfile(f), f)

    def test_lintian(self):
        p = run("lintian", "--fail-on", "error,warning", self.deb, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("installs a package: needs root")
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed (scripts/install-deps)")
    status = package_status()
    if status != "not-installed":
        skip(f"a shadowtap package is already installed ({status}); "
             "this test installs and purges its own, so it leaves that one alone")
    unittest.main(verbosity=2)
