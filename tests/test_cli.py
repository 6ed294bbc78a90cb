"""The appliance refuses bad arguments and bad configs with a clear message,
a non-zero exit, and before any port starts: the client port has frames to
read, and not one may come out of any port."""

import os
import subprocess
import tempfile
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


class BadInput(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
