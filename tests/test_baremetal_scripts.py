"""scripts/bind-nics and scripts/setup-hugepages against a fake sysfs, and
deploy/shadowtap.service with its environment file.

Nothing here touches the machine: every run gets ST_SYSFS_ROOT (and
ST_PROC_ROOT) pointing into a temporary tree, an injected default route and
address list, and a fake dpdk-devbind.py that only rewrites the fake
tree's driver links. The unit's command lines are expanded as systemd
expands them; its config check runs with $SHADOWTAP (the built appliance),
without EAL. Runs the same as root or not.
"""

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "scripts")
BIND_NICS = os.path.join(SCRIPTS, "bind-nics")
SETUP_HUGEPAGES = os.path.join(SCRIPTS, "setup-hugepages")
DEPLOY = os.path.join(SCRIPTS, "..", "deploy")
EXAMPLES = os.path.join(SCRIPTS, "..", "examples")

# A fake dpdk-devbind.py: logs its arguments, then "binds" by pointing the
# fake device's driver link at the fake driver, as the kernel would. With
# FAKE_DEVBIND_SKIP set it does nothing and exits 0, as the real one does
# when it decides an interface is active.
FAKE_DEVBIND = textwrap.dedent("""\
    #!%s
    import os, sys
    root = os.environ["ST_SYSFS_ROOT"]
    with open(os.environ["FAKE_DEVBIND_LOG"], "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\\n")
    if os.environ.get("FAKE_DEVBIND_SKIP"):
        sys.exit(0)
    drv = [a for a in sys.argv[1:] if a.startswith("--bind=")][0][7:]
    for bdf in [a for a in sys.argv[1:] if not a.startswith("-")]:
        link = os.path.join(root, "bus/pci/devices", bdf, "driver")
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(os.path.join(root, "bus/pci/drivers", drv), link)
    """) % sys.executable


class FakeSys:
    """A sysfs tree with NICs behind a PCI bridge, their interfaces, a
    bridge, and IOMMU groups when asked."""

    def __init__(self, root):
        self.root = root
        for d in ("bus/pci/devices", "bus/pci/drivers", "class/net",
                  "kernel/iommu_groups", "devices/virtual/net"):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def driver(self, name):
        os.makedirs(self.path("bus/pci/drivers", name), exist_ok=True)

    def nic(self, bdf, netdev=None, driver="ixgbe", node=0, up=False,
            pci_class="0x020000"):
        real = self.path("devices/pci0000:3a/0000:3a:00.0", bdf)
        os.makedirs(real)
        with open(os.path.join(real, "class"), "w") as f:
            f.write(pci_class + "\n")
        with open(os.path.join(real, "numa_node"), "w") as f:
            f.write(f"{node}\n")
        if driver:
            self.driver(driver)
            os.symlink(self.path("bus/pci/drivers", driver),
                       os.path.join(real, "driver"))
        os.symlink(real, self.path("bus/pci/devices", bdf))
        if netdev:
            nd = os.path.join(real, "net", netdev)
            os.makedirs(nd)
            with open(os.path.join(nd, "flags"), "w") as f:
                f.write("0x1003\n" if up else "0x1002\n")
            os.symlink(nd, self.path("class/net", netdev))

    def bridge(self, name, members):
        nd = self.path("devices/virtual/net", name)
        os.makedirs(os.path.join(nd, "brif"))
        for m in members:
            os.symlink(self.path("class/net", m),
                       os.path.join(nd, "brif", m))
        with open(os.path.join(nd, "flags"), "w") as f:
            f.write("0x1003\n")
        os.symlink(nd, self.path("class/net", name))

    def iommu_group(self, number, *bdfs):
        g = self.path("kernel/iommu_groups", str(number))
        os.makedirs(os.path.join(g, "devices"))
        for bdf in bdfs:
            os.symlink(self.path("bus/pci/devices", bdf),
                       os.path.join(g, "devices", bdf))
            os.symlink(g, self.path("bus/pci/devices", bdf, "iommu_group"))

    def driver_of(self, bdf):
        link = self.path("bus/pci/devices", bdf, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) \
            else None


class BindNics(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_bind_")
        self.sys = FakeSys(os.path.join(self.tmp.name, "sys"))
        s = self.sys
        s.nic("0000:19:00.0", "eno1", driver="igb", up=True)  # management
        s.nic("0000:3b:00.0", "ens1f0")                   # client, down
        s.nic("0000:3b:00.1", "ens1f1", up=True)          # server, up
        s.nic("0000:af:00.0", "ens5f0", node=1, up=True)  # shadow, up
        s.nic("0000:00:17.0", None, driver="ahci", pci_class="0x010601")
        s.driver("vfio-pci")
        s.iommu_group(30, "0000:3b:00.0", "0000:3b:00.1")
        s.iommu_group(31, "0000:af:00.0")
        self.addrs = [
            {"ifname": "eno1", "addr_info": [
                {"family": "inet", "local": "192.0.2.10", "prefixlen": 24,
                 "scope": "global"}]},
            # link-local only: not "in use"
            {"ifname": "ens1f1", "addr_info": [
                {"family": "inet6", "local": "fe80::1", "prefixlen": 64,
                 "scope": "link"}]},
            {"ifname": "ens5f0", "addr_info": [
                {"family": "inet", "local": "10.9.9.9", "prefixlen": 24,
                 "scope": "global"}]},
        ]
        self.devbind = os.path.join(self.tmp.name, "dpdk-devbind.py")
        with open(self.devbind, "w") as f:
            f.write(FAKE_DEVBIND)
        os.chmod(self.devbind, stat.S_IRWXU)
        self.log = os.path.join(self.tmp.name, "devbind.log")
        self.route_dev = "eno1"

    def tearDown(self):
        self.tmp.cleanup()

    def run_bind(self, *args, **env):
        addr_json = os.path.join(self.tmp.name, "addr.json")
        with open(addr_json, "w") as f:
            json.dump(self.addrs, f)
        e = dict(os.environ, ST_SYSFS_ROOT=self.sys.root,
                 ST_DEFAULT_ROUTE_DEV=self.route_dev,
                 ST_IP_ADDR_JSON=addr_json, ST_DEVBIND=self.devbind,
                 FAKE_DEVBIND_LOG=self.log)
        e.update(env)
        p = subprocess.run([sys.executable, BIND_NICS, *args], env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def assert_refused(self, args, *expected):
        """bind-nics ARGS exits 1 saying each of @p expected."""
        code, out, err = self.run_bind(*args)
        self.assertEqual(code, 1, out + err)
        for e in expected:
            self.assertIn(e, err)
        return out

    def assert_done(self, *args):
        """bind-nics ARGS exits 0; returns its stdout and stderr."""
        code, out, err = self.run_bind(*args)
        self.assertEqual(code, 0, out + err)
        return out, err

    def devbind_calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def test_dry_run_prints_the_devbind_command_and_changes_nothing(self):
        out, err = self.assert_done("--dry-run", "0000:3b:00.0",
                                       "3b:00.1")
        self.assertIn(f"would run: {self.devbind} --bind=vfio-pci "
                      "0000:3b:00.0 0000:3b:00.1", out)
        self.assertEqual(self.devbind_calls(), [])
        self.assertEqual(self.sys.driver_of("0000:3b:00.0"), "ixgbe")
        self.assertEqual(self.sys.driver_of("0000:3b:00.1"), "ixgbe")

    def test_bind_runs_devbind_and_checks_the_result(self):
        out, err = self.assert_done("0000:3b:00.0", "0000:3b:00.1")
        self.assertEqual(self.devbind_calls(),
                         ["--bind=vfio-pci 0000:3b:00.0 0000:3b:00.1"])
        self.assertEqual(self.sys.driver_of("0000:3b:00.0"), "vfio-pci")
        # Again: nothing to do, devbind not run a second time.
        out, err = self.assert_done("0000:3b:00.0", "0000:3b:00.1")
        self.assertIn("0000:3b:00.0: already bound to vfio-pci", out)
        self.assertEqual(len(self.devbind_calls()), 1)

    def test_a_bind_devbind_skipped_is_a_failure(self):
        code, out, err = self.run_bind("0000:3b:00.0", FAKE_DEVBIND_SKIP="1")
        self.assertEqual(code, 1)
        self.assertIn("0000:3b:00.0 is bound to ixgbe, not vfio-pci", err)

    def test_default_route_nic_is_refused(self):
        for arg in ("0000:19:00.0", "19:00.0", "eno1"):
            out = self.assert_refused(("--dry-run", arg), "eno1",
                                      "default route")
            self.assertNotIn("would run", out)

    def test_default_route_refusal_survives_force(self):
        self.assert_refused(("--force", "0000:19:00.0"),
                            "eno1, which carries the default route")
        self.assertEqual(self.devbind_calls(), [])
        self.assertEqual(self.sys.driver_of("0000:19:00.0"), "igb")

    def test_default_route_through_a_bridge_is_refused(self):
        self.sys.bridge("br0", ["eno1"])
        self.route_dev = "br0"
        self.assert_refused(("--dry-run", "0000:19:00.0"),
                            "eno1, which carries the default route")
        # An IPv6 default route on another NIC counts as well.
        self.route_dev = "br0,ens1f0"
        self.assert_refused(("--dry-run", "0000:3b:00.0"),
                            "ens1f0, which carries the default route")

    def test_one_refusal_changes_nothing(self):
        self.assert_refused(("0000:3b:00.0", "0000:19:00.0"), "eno1")
        self.assertEqual(self.devbind_calls(), [])
        self.assertEqual(self.sys.driver_of("0000:3b:00.0"), "ixgbe")

    def test_unknown_pci_address_is_refused(self):
        self.assert_refused(("--dry-run", "0000:3b:00.7"),
                            "0000:3b:00.7: no such PCI device")
        self.assert_refused(("--dry-run", "nosuchif0"), "nosuchif0")

    def test_up_with_address_needs_force(self):
        self.assert_refused(("--dry-run", "0000:af:00.0"),
                            "ens5f0, which is up with address 10.9.9.9/24")
        out, err = self.assert_done("--dry-run", "--force", "0000:af:00.0")
        self.assertIn("--bind=vfio-pci --force 0000:af:00.0", out)

    def test_link_local_only_is_not_in_use(self):
        out, err = self.assert_done("--dry-run", "ens1f1")
        self.assertIn("--bind=vfio-pci 0000:3b:00.1", out)

    def test_not_a_nic_is_refused(self):
        self.assert_refused(("--dry-run", "0000:00:17.0"),
                            "not a network controller")

    def test_vfio_module_and_iommu(self):
        os.rmdir(self.sys.path("bus/pci/drivers/vfio-pci"))
        out, err = self.assert_done("--dry-run", "0000:3b:00.0")
        self.assertIn("would run: modprobe vfio-pci", out)
        self.assertNotIn("enable_unsafe_noiommu_mode", err)
        for g in os.listdir(self.sys.path("kernel/iommu_groups")):
            os.rename(self.sys.path("kernel/iommu_groups", g),
                      self.sys.path(f"gone_{g}"))
        out, err = self.assert_done("--dry-run", "0000:3b:00.0")
        self.assertIn("enable_unsafe_noiommu_mode", err)

    def test_iommu_group_peer_on_a_kernel_driver_is_warned(self):
        out, err = self.assert_done("--dry-run", "0000:3b:00.0")
        self.assertIn("shares its IOMMU group with 0000:3b:00.1", err)
        code, out, err = self.run_bind("--dry-run", "0000:3b:00.0",
                                       "0000:3b:00.1")
        self.assertNotIn("IOMMU group", err)

    def test_back_to_the_kernel(self):
        self.run_bind("0000:3b:00.0")
        self.assertEqual(self.sys.driver_of("0000:3b:00.0"), "vfio-pci")
        out, err = self.assert_done("--to-kernel", "--driver", "ixgbe",
                                       "--dry-run", "0000:3b:00.0")
        self.assertIn("--bind=ixgbe 0000:3b:00.0", out)
        out, err = self.assert_done("--to-kernel", "--driver", "ixgbe",
                                       "0000:3b:00.0")
        self.assertEqual(self.sys.driver_of("0000:3b:00.0"), "ixgbe")

    def test_status(self):
        out, err = self.assert_done("--status")
        lines = {l.split()[0]: l for l in out.splitlines() if l[:1] == "0"}
        self.assertEqual(sorted(lines), ["0000:19:00.0", "0000:3b:00.0",
                                         "0000:3b:00.1", "0000:af:00.0"])
        self.assertIn("DEFAULT ROUTE", lines["0000:19:00.0"])
        self.assertNotIn("DEFAULT ROUTE", lines["0000:3b:00.0"])
        self.assertIn(" 1 ixgbe", lines["0000:af:00.0"])
        self.assertIn("IOMMU: on", out)


class SetupHugepages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_huge_")
        self.sysfs = os.path.join(self.tmp.name, "sys")
        self.proc = os.path.join(self.tmp.name, "proc")
        os.makedirs(self.proc)
        for node in (0, 1):
            for kb in (2048, 1048576):
                self.pool(node, kb, 0)
        for kb in (2048, 1048576):
            self.pool(None, kb, 0)
        with open(os.path.join(self.proc, "meminfo"), "w") as f:
            f.write("MemTotal: 65536000 kB\nHugepagesize:       2048 kB\n")
        self.mounts("proc /proc proc rw 0 0\n")

    def tearDown(self):
        self.tmp.cleanup()

    def pool_path(self, node, kb):
        if node is None:
            return os.path.join(self.sysfs, "kernel/mm/hugepages",
                                f"hugepages-{kb}kB")
        return os.path.join(self.sysfs, f"devices/system/node/node{node}",
                            "hugepages", f"hugepages-{kb}kB")

    def pool(self, node, kb, pages):
        d = self.pool_path(node, kb)
        os.makedirs(d, exist_ok=True)
        for name in ("nr_hugepages", "free_hugepages", "surplus_hugepages"):
            with open(os.path.join(d, name), "w") as f:
                f.write(f"{pages if name != 'surplus_hugepages' else 0}\n")

    def nr(self, node, kb):
        with open(os.path.join(self.pool_path(node, kb), "nr_hugepages")) as f:
            return int(f.read())

    def mounts(self, text):
        with open(os.path.join(self.proc, "mounts"), "w") as f:
            f.write(text)

    def run_huge(self, *args):
        e = dict(os.environ, ST_SYSFS_ROOT=self.sysfs, ST_PROC_ROOT=self.proc)
        p = subprocess.run([sys.executable, SETUP_HUGEPAGES, *args], env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_dry_run_prints_paths_and_values_and_writes_nothing(self):
        code, out, err = self.run_huge("--dry-run", "--pages", "512")
        self.assertEqual(code, 0, err)
        for node in (0, 1):
            path = os.path.join(self.pool_path(node, 2048), "nr_hugepages")
            self.assertIn(f"would write: echo 512 > {path}\n", out)
            self.assertEqual(self.nr(node, 2048), 0)
        self.assertNotIn("1048576kB", out)
        self.assertIn("would run: mount -t hugetlbfs -o pagesize=2M nodev "
                      "/dev/hugepages", out)

    def test_one_node_1g(self):
        code, out, err = self.run_huge("--dry-run", "--size", "1G",
                                       "--node", "1", "--pages", "4")
        self.assertEqual(code, 0, err)
        path = os.path.join(self.pool_path(1, 1048576), "nr_hugepages")
        self.assertIn(f"would write: echo 4 > {path}\n", out)
        self.assertNotIn("node0", out)
        # 2M is the default size: 1G pages need a mount of their own.
        self.assertIn("-o pagesize=1G nodev /dev/hugepages-1G", out)
        self.assertEqual(self.nr(1, 1048576), 0)

    def test_existing_mount_is_used(self):
        self.mounts("hugetlbfs /dev/hugepages hugetlbfs rw,relatime,"
                    "pagesize=2M 0 0\nnone /mnt/h1g hugetlbfs "
                    "rw,pagesize=1024M 0 0\n")
        code, out, err = self.run_huge("--dry-run", "--size", "1G")
        self.assertEqual(code, 0, err)
        self.assertIn("mounted at /mnt/h1g", out)
        self.assertNotIn("would run: mount", out)

    def test_writes_then_is_idempotent(self):
        self.mounts("hugetlbfs /dev/hugepages hugetlbfs rw,relatime 0 0\n")
        code, out, err = self.run_huge("--pages", "300", "--node", "0")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.nr(0, 2048), 300)
        self.assertEqual(self.nr(1, 2048), 0)
        self.assertIn("mounted at /dev/hugepages", out)
        code, out, err = self.run_huge("--pages", "300", "--node", "0")
        self.assertEqual(code, 0, err)
        self.assertIn("nothing to do", out)
        self.assertNotIn("echo", out)

    def test_never_lowers_without_exact(self):
        self.pool(0, 2048, 800)
        code, out, err = self.run_huge("--pages", "512", "--node", "0",
                                       "--no-mount")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.nr(0, 2048), 800)
        code, out, err = self.run_huge("--pages", "512", "--node", "0",
                                       "--no-mount", "--exact")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.nr(0, 2048), 512)

    def test_unsupported_size_and_unknown_node(self):
        shutil.rmtree(self.pool_path(0, 1048576))
        code, out, err = self.run_huge("--dry-run", "--size", "1G")
        self.assertEqual(code, 1)
        self.assertIn("1G pages are not available", err)
        code, out, err = self.run_huge("--dry-run", "--node", "7")
        self.assertEqual(code, 1)
        self.assertIn("no such node", err)

    def test_without_numa_nodes_the_global_pool(self):
        shutil.rmtree(os.path.join(self.sysfs, "devices"))
        code, out, err = self.run_huge("--dry-run", "--pages", "64")
        self.assertEqual(code, 0, err)
        path = os.path.join(self.pool_path(None, 2048), "nr_hugepages")
        self.assertIn(f"would write: echo 64 > {path}\n", out)

    def test_status(self):
        self.pool(1, 2048, 256)
        code, out, err = self.run_huge("--status")
        self.assertEqual(code, 0, err)
        rows = [l.split() for l in out.splitlines()]
        self.assertIn(["node1", "2M", "256", "256", "0"], rows)
        self.assertIn(["node0", "1G", "0", "0", "0"], rows)
        self.assertIn("hugetlbfs: not mounted", out)


def unit_service(path):
    """The [Service] settings of a unit file: name -> its values, in order."""
    settings, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]":
                key, _, value = line.partition("=")
                settings.setdefault(key, []).append(value)
    return settings


def environment_file(path):
    """VAR=value lines as systemd reads them: no shell, quotes removed."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            env[key] = value
    return env


def expand(command, env):
    """An Exec line's words as systemd makes them: "$VAR" alone is split at
    white space, "${VAR}" is not; a prefix such as "+" is not a word."""
    words = []
    for word in shlex.split(command.lstrip("@-:+!")):
        alone = re.fullmatch(r"\$(\w+)", word)
        if alone:
            words += env.get(alone.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
    return words


class Unit(unittest.TestCase):
    """deploy/shadowtap.service with deploy/shadowtap.env, as installed."""

    CONFIG = "/etc/shadowtap/shadowtap.yaml"

    def setUp(self):
        self.unit = unit_service(os.path.join(DEPLOY, "shadowtap.service"))
        self.env = dict(v.partition("=")[::2] for v in self.unit["Environment"])
        self.assertEqual(self.unit["EnvironmentFile"], ["/etc/shadowtap/shadowtap.env"])
        self.env.update(environment_file(os.path.join(DEPLOY, "shadowtap.env")))

    def test_the_started_config_is_the_checked_one_checked_first(self):
        pre = [expand(c, self.env) for c in self.unit["ExecStartPre"]]
        self.assertEqual(pre[0], ["/usr/local/bin/shadowtap", "--check-config", self.CONFIG])
        self.assertFalse(self.unit["ExecStartPre"][0].startswith("-"),
                         "a failed check must fail the start")
        self.assertEqual(pre[1][0], "/usr/local/sbin/shadowtap-setup-hugepages")
        start = expand(self.unit["ExecStart"][0], self.env)
        self.assertEqual(start[0], "/usr/local/bin/shadowtap")
        self.assertEqual(start[start.index("--") + 1:],
                         ["--config", self.CONFIG, "--socket", "/run/shadowtap/ctl.sock",
                          "--metrics", "127.0.0.1:9417"])
        # A bad config is not fixed by restarting: the start limit ends it.
        self.assertEqual(self.unit["Restart"], ["always"])

    def test_the_check_passes_on_the_config_the_docs_install(self):
        binary = os.environ.get("SHADOWTAP")
        if not binary:
            self.skipTest("NOT TESTED: $SHADOWTAP (the built appliance) is not set")
        env = dict(self.env, SHADOWTAP_CONFIG=os.path.join(EXAMPLES, "baremetal.yaml"))
        check = expand(self.unit["ExecStartPre"][0], env)
        proc = subprocess.run([binary, *check[1:]], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with tempfile.TemporaryDirectory(prefix="st_unit_") as tmp:
            bad = os.path.join(tmp, "shadowtap.yaml")
            with open(os.path.join(EXAMPLES, "baremetal.yaml")) as f:
                text = f.read()
            with open(bad, "w") as f:
                f.write(text.replace('"0000:af:00.0"', '"af:00.0"'))
            check = expand(self.unit["ExecStartPre"][0], dict(env, SHADOWTAP_CONFIG=bad))
            proc = subprocess.run([binary, *check[1:]], capture_output=True, text=True,
                                  timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertRegex(proc.stderr, re.escape(bad) + r":\d+: mirror '\w+': 'af:00.0'")


if __name__ == "__main__":
    unittest.main(verbosity=2)
