"""The appliance refuses bad arguments and bad configs with a clear message,
a non-zero exit, and before any port starts: the client port has frames to
read, and not one may come out of any port. shadowtap --check-config asks
the same questions of a config without EAL, and gets the same answers."""

import glob
import os
import pwd
import re
import subprocess
import tempfile
import time
import unittest

from gen_traffic import generate
from pcaplib import read_pcap, write_pcap
from shadowtap_run import shadowtap_binary

GOOD = """ports:
  client: net_pcap0
  server: net_pcap1
mirrors:
  - name: v2
    port: net_pcap2
    percent: 10
"""


class Run(unittest.TestCase):
    """Runs of the appliance in a directory of its own (no tests here)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_cli_")
        self.dir = self.tmp.name
        self.input = os.path.join(self.dir, "in.pcap")
        write_pcap(self.input, generate(10, 1)[0])

    def tearDown(self):
        self.tmp.cleanup()

    def shadowtap(self, config_text, app_args=None, lcores="0,1", tx_files=1):
        """Run with three net_pcap ports; returns (exit code, output)."""
        config = os.path.join(self.dir, "config.yaml")
        with open(config, "w") as f:
            f.write(config_text)
        vdevs = []
        for port in range(3):
            rx = [] if port == 2 else [f"rx_pcap={self.input}"]
            tx = [f"tx_pcap={self.dir}/out{port}_{q}.pcap" for q in range(tx_files)]
            vdevs.append("--vdev=" + ",".join([f"net_pcap{port}"] + rx + tx))
        args = (["--config", config, "--idle-exit", "200", "--socket", f"{self.dir}/ctl.sock"]
                if app_args is None else app_args)
        proc = subprocess.run(
            [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "256",
             f"--file-prefix=st_cli_{os.getpid()}", f"--lcores={lcores}",
             "--log-level=lib.eal:error", *vdevs, "--", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        return proc.returncode, proc.stdout


class BadInput(Run):
    def assert_refused(self, config_text, *expected, **kwargs):
        code, out = self.shadowtap(config_text, **kwargs)
        self.assertNotEqual(code, 0, out)
        for e in expected:
            self.assertIn(e, out)
        sent = {f: len(read_pcap(os.path.join(self.dir, f))[1])
                for f in os.listdir(self.dir) if f.startswith("out")}
        self.assertEqual(set(sent.values()), {0}, "a port forwarded before the error")

    def test_good_config_runs(self):
        code, out = self.shadowtap(GOOD)
        self.assertEqual(code, 0, out)
        self.assertIn("mirror v2", out)
        self.assertGreater(len(read_pcap(os.path.join(self.dir, "out1_0.pcap"))[1]), 0)

    def test_unknown_key_names_the_line(self):
        self.assert_refused(GOOD + "mirorrs: []\n", "config.yaml:8:", "unknown key 'mirorrs'")

    def test_percent_out_of_range(self):
        self.assert_refused(GOOD.replace("percent: 10", "percent: 120"),
                            "config.yaml:7:", "out of range")

    def test_missing_port(self):
        self.assert_refused(GOOD.replace("net_pcap2", "net_pcap7"),
                            "config.yaml:6:", "no DPDK port named 'net_pcap7'")

    def test_port_used_twice(self):
        self.assert_refused(GOOD.replace("port: net_pcap2", "port: net_pcap1"),
                            "config.yaml:6:", "already used by ports.server")

    def test_yaml_syntax_error(self):
        self.assert_refused("ports: [client: 0\n", "config.yaml:", "YAML syntax")

    def test_missing_config_file(self):
        self.assert_refused(GOOD, "nope.yaml", app_args=["--config", "/nonexistent/nope.yaml"])

    def test_bad_arguments(self):
        self.assert_refused(GOOD, "--idle-exit: 'soon' is not a whole number in 1..",
                            app_args=["--config", "x.yaml", "--idle-exit", "soon"])
        self.assert_refused(GOOD, "--extra-mbufs: '-5' is not a whole number in 1..16777216",
                            app_args=["--config", "x.yaml", "--extra-mbufs", "-5"])
        self.assert_refused(GOOD, "usage:", app_args=[])

    def test_no_worker_lcore(self):
        self.assert_refused(GOOD, "no worker lcore", lcores="0")

    def test_fewer_tx_queues_than_workers(self):
        self.assert_refused(GOOD, "one per worker", "tx_pcap", lcores="0@0,1@1,2@1")


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
ROUTES = """routes:
  - name: api
    match: { methods: [GET], path: "^/api/" }
    mirror: v2
"""
# Configs a start refuses before any port starts, each with a word of the
# message; the check must refuse them with the very same message.
REFUSED = {
    "unknown key": (GOOD + "mirorrs: []\n", "unknown key 'mirorrs'"),
    "percent out of range": (GOOD.replace("percent: 10", "percent: 120"), "out of range"),
    "YAML syntax": ("ports: [client: 0\n", "YAML syntax"),
    "port used twice by name": (GOOD.replace("port: net_pcap2", "port: net_pcap1"),
                                "'net_pcap1' is already used by ports.server (line 3)"),
    "port used twice by id": ("ports:\n  client: 0\n  server: 0\n",
                              "port 0 is already used by ports.client (line 2)"),
    "bad regex": (GOOD + ROUTES.replace('"^/api/"', '"^/api/(["'), "route 'api'"),
    "writes without opt-in": (GOOD + ROUTES.replace("[GET]", "[GET, POST]"),
                              "allow_writes"),
    "short PCI address": (GOOD.replace("port: net_pcap2", "port: 3b:00.0"),
                          "EAL names this device '0000:3b:00.0'"),
    "PCI address in upper case": (GOOD.replace("client: net_pcap0", "client: 0000:3B:00.0"),
                                  "EAL names this device '0000:3b:00.0'"),
    "PCI address with a suffix": (GOOD.replace("port: net_pcap2",
                                               'port: "AF:00.1_representor_vf0"'),
                                  "'0000:af:00.1_representor_vf0'"),
    "device arguments": (GOOD.replace("port: net_pcap2", "port: net_pcap2,tx_pcap=x.pcap"),
                         "has no ','"),
    "control character": (GOOD.replace("port: net_pcap2", 'port: "net_pcap\\t2"'),
                          "control character"),
}


def check_config(path, **kwargs):
    """shadowtap --check-config PATH; returns the CompletedProcess."""
    return subprocess.run([shadowtap_binary(), "--check-config", path],
                          capture_output=True, text=True, timeout=60, **kwargs)


class CheckConfig(Run):
    """shadowtap --check-config FILE: a start's checks, without EAL."""

    def write(self, text):
        path = os.path.join(self.dir, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_exit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         f"{proc.args}: stdout {proc.stdout!r} stderr {proc.stderr!r}")

    def test_every_example_passes_well_under_a_second(self):
        examples = [p for p in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))
                    if os.path.basename(p) != "replay.yaml"]    # shadowtap-replay's
        self.assertGreaterEqual(len(examples), 4)
        for path in examples:
            times = []
            for _ in range(3):
                start = time.monotonic()
                proc = check_config(path)
                times.append(time.monotonic() - start)
                self.assert_exit(proc, 0)
            self.assertEqual(proc.stdout.splitlines()[-1][:len(path) + 5], f"{path}: ok:")
            # The best of three: a busy machine slows any one run.
            self.assertLess(min(times), 1.0, f"{path}: {times}")

    def test_a_start_and_the_check_say_the_same(self):
        for what, (text, word) in REFUSED.items():
            with self.subTest(what):
                path = self.write(text)
                code, out = self.shadowtap(text)
                self.assertNotEqual(code, 0, out)
                causes = re.findall(r"Cause: (.*)", out)
                self.assertEqual(len(causes), 1, out)
                proc = check_config(path)
                self.assert_exit(proc, 1)
                self.assertEqual(proc.stdout, "")
                self.assertEqual(proc.stderr.splitlines(), [causes[0]])
                self.assertIn(word, causes[0])
                self.assertTrue(causes[0].startswith(path + ":"), causes[0])

    def test_a_missing_file(self):
        path = os.path.join(self.dir, "nope.yaml")
        code, out = self.shadowtap(GOOD, app_args=["--config", path])
        self.assertNotEqual(code, 0, out)
        proc = check_config(path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stderr.splitlines(), re.findall(r"Cause: (.*)", out))
        self.assertIn(path, proc.stderr)

    def test_devices_are_looked_up_only_at_start(self):
        text = GOOD.replace("net_pcap2", "net_pcap7")
        proc = check_config(self.write(text))
        self.assert_exit(proc, 0)
        code, out = self.shadowtap(text)
        self.assertNotEqual(code, 0, out)
        self.assertIn("no DPDK port named 'net_pcap7'", out)
        # PCI addresses as EAL writes them, with or without a PMD's suffix.
        for name in ("0000:3b:00.0", "0000:af:00.1_representor_vf0", "10000:00:1f.7",
                     "mlx4_0 port 1", "net_af_packet0"):
            with self.subTest(name):
                proc = check_config(self.write(GOOD.replace("net_pcap2", f'"{name}"')))
                self.assert_exit(proc, 0)

    def test_the_warnings_of_a_start(self):
        """No routes: a start warns that writes are copied; so does the check."""
        proc = check_config(self.write(GOOD))
        self.assert_exit(proc, 0)
        self.assertIn("mirror 'v2' copies 10% of all flows, HTTP writes included", proc.stderr)
        code, out = self.shadowtap(GOOD)
        self.assertEqual(code, 0, out)
        self.assertIn("mirror 'v2' copies 10% of all flows, HTTP writes included", out)
        proc = check_config(self.write(GOOD + ROUTES))
        self.assert_exit(proc, 0)
        self.assertEqual(proc.stderr, "")

    def test_no_eal(self):
        """As a user without hugepages or devices, and without writing EAL's
        runtime files: EAL would put them in $XDG_RUNTIME_DIR/dpdk."""
        os.chmod(self.dir, 0o755)
        runtime = os.path.join(self.dir, "runtime")
        os.mkdir(runtime, 0o777)
        os.chmod(runtime, 0o777)
        path = self.write(GOOD + ROUTES)
        os.chmod(path, 0o644)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            proc = check_config(path, env=env, user=nobody.pw_uid, group=nobody.pw_gid,
                                extra_groups=[])
        else:
            proc = check_config(path, env=env)
        self.assert_exit(proc, 0)
        self.assertEqual(os.listdir(runtime), [])
        self.assertNotIn("EAL", proc.stdout + proc.stderr)

    def test_usage(self):
        for args in ((), ("a.yaml", "b.yaml")):
            proc = subprocess.run([shadowtap_binary(), "--check-config", *args],
                                  capture_output=True, text=True, timeout=60)
            self.assert_exit(proc, 1)
            self.assertIn("--check-config FILE", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
