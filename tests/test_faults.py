"""Faults on the wire and on the shadow, on ports whose links the kernel and
DPDK can both switch (docs/deploy.md, "Link faults").

- Link propagation: the wire ports are net_tap interfaces. The kernel
  drops one side's carrier (ip link set IF carrier off, a cable pulled);
  shadowtap must take the other side down, bring it back when the first
  returns, and never take the first one down in turn. A driver without link
  control (net_null) is said once and counted, and its link stays up.
- A shadow that flaps: a net_tap shadow set down and up.
- A shadow that stalls and vanishes: a net_memif shadow whose peer,
  dpdk-testpmd reading it, is stopped (SIGSTOP: a ring nobody reads),
  continued (the ring drained), killed, and started again.
- A shadow whose device vanishes: its tap deleted from the kernel.

In every case every original is forwarded byte for byte, every copy is
sent or counted by cause, copies resume when the shadow returns, and the
mempools' in-use counts return to their idle figures (no mbuf leaked).
Counters are polled until they say what is expected; the only time checked
is a lower bound (a port given time to negotiate), which a slow machine
cannot break.

Needs root and /dev/net/tun (exits 77 saying so otherwise); the memif case
needs dpdk-testpmd (skipped without). The interfaces are named stf<pid>...
and disappear with the appliance.

$SHADOWTAP is the appliance (default ../build/shadowtap).
"""

import errno
import itertools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from pcaplib import ethernet, ipv4, udp
from shadowtap_run import eal_runtime_dir, shadowtap_binary
from test_control import Appliance as ControlledAppliance

TIMEOUT_S = 30          # for a counter to say what is expected
SETTLE_S = 5            # ST_LINK_SETTLE_MS (dataplane/link.h)
LINKWATCH_S = 1.5       # the kernel's linkwatch delays an event up to 1 s
BATCH = 100             # frames sent before waiting for shadowtap to read them
MEMIF_RING = 1024       # net_memif's default ring (log2-ring-size=10)
STALL_FRAMES = 3000     # more than the ring holds
MARK = b"stfault:"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33     # Linux; Python does not name it
RCVBUF = 32 << 20

PREFIX = f"stf{os.getpid() % 100000}"
_run_ids = itertools.count()


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def check_prerequisites():
    if os.geteuid() != 0:
        skip("needs root (net_tap interfaces)")
    if not os.path.exists("/dev/net/tun"):
        skip("needs /dev/net/tun (net_tap)")
    if shutil.which("ip") is None:
        skip("needs ip (iproute2)")


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True,
                   timeout=TIMEOUT_S)


def kernel_up(iface):
    """Whether the kernel has the interface administratively up."""
    out = subprocess.run(["ip", "-j", "link", "show", iface], check=True,
                         capture_output=True, text=True).stdout
    return "UP" in json.loads(out)[0]["flags"]


def frame(tag, seq, reverse=False):
    """A UDP frame marked with its tag and number; 8 flows per tag."""
    a, b = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
    mac_a, mac_b = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    if reverse:
        a, b, mac_a, mac_b = b, a, mac_b, mac_a
    payload = MARK + tag.encode() + struct.pack("!I", seq) + bytes(40)
    return ethernet(mac_b, mac_a, 0x0800,
                    ipv4(a, b, 17, udp(a, b, 40000 + seq % 8, 9, payload)))


class Iface:
    """The kernel side of a tap: frames sent into it reach shadowtap, frames
    shadowtap sends out of it are read here."""

    def __init__(self, name):
        self.name = name
        self.sock = None

    def open(self):
        """A fresh socket: one bound while its interface went down reports
        ENETDOWN once."""
        self.close()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        self.sock.bind((self.name, 0))
        self.sock.setblocking(False)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, frames):
        for f in frames:
            self.sock.send(f)

    def marked(self, tag):
        """The frames tagged @p tag received since the last call."""
        out, mark = [], MARK + tag.encode()
        while True:
            try:
                data, addr = self.sock.recvfrom(1 << 16)
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno != errno.ENETDOWN:
                    raise
                continue
            if addr[2] != PACKET_OUTGOING and mark in data:
                out.append(data)

    def collect(self, tag, count):
        """The frames tagged @p tag, once @p count are in or time is up."""
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < count and time.monotonic() < deadline:
            got += self.marked(tag)
            time.sleep(0.02)
        return got


def quiet(iface):
    """No IPv6 chatter (router solicitations, MLD) from the kernel side."""
    with open(f"/proc/sys/net/ipv6/conf/{iface}/disable_ipv6", "w") as f:
        f.write("1")


class Appliance(ControlledAppliance):
    """shadowtap on the given vdevs (test_control's runs on net_null ones),
    the kernel side of its taps kept quiet."""

    # Its own start: the rest of test_control's appliance serves as is.
    # @p args: more of shadowtap's own options (perf/soak's --metrics);
    # @p memory: EAL's (test_dumpcap's hugepages); @p prefix: EAL's
    # --file-prefix, one of its own by default.
    def __init__(self, vdevs, config, ifaces, args=(),
                 memory=("--no-huge", "-m", "512"), prefix=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_faults_")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "config.yaml")
        self.socket = os.path.join(self.dir, "ctl.sock")
        self.stats_file = os.path.join(self.dir, "stats.json")
        self.log = os.path.join(self.dir, "shadowtap.log")
        self.write_config(config)
        cpus = os.cpu_count() or 1
        self.prefix = prefix or f"stf_{os.getpid()}_{next(_run_ids)}"
        cmd = [shadowtap_binary(), *memory, "--no-pci", f"--file-prefix={self.prefix}",
               f"--lcores=0@0,1@{1 % cpus}", "--log-level=lib.eal:error",
               "--log-level=pmd.net.tap:error", "--log-level=pmd.net.memif:error",
               *[f"--vdev={v}" for v in vdevs],
               "--", "--config", self.config, "--socket", self.socket,
               "--stats-file", self.stats_file, *args]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        for name in ifaces:
            quiet(name)

    def call(self, request):
        reply = super().call(request)
        if not reply["ok"]:
            raise AssertionError(f"{request}: {reply}")
        return reply

    def stats(self):
        return self.call({"command": "stats"})["stats"]

    def wait(self, what, predicate, timeout=TIMEOUT_S):
        """Poll the counters until @p predicate holds; return them."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if predicate(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}\n"
                                     f"{json.dumps(s, indent=1)[:3000]}\n"
                                     f"{self.output()[-3000:]}")
            time.sleep(0.05)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            # One stuck in the kernel (state D) outlives SIGKILL: an error
            # here, not a test that hangs until its harness's timeout.
            self.proc.wait(timeout=TIMEOUT_S)
        self.cleanup()


def rx_total(s):
    return s["ports"]["client"]["rx_packets"] + s["ports"]["server"]["rx_packets"]


def in_use(s):
    return {name: pool["in_use"] for name, pool in s["mempools"].items()}


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="st_faults_")
        self.apps = []
        self.ifaces = []

    def tearDown(self):
        for app in self.apps:
            app.kill()
        for iface in self.ifaces:
            iface.close()
        # Taps go with the process; one left by a crash is removed here.
        for iface in self.ifaces:
            subprocess.run(["ip", "link", "del", iface.name], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def iface(self, role):
        iface = Iface(f"{PREFIX}{role}")
        self.ifaces.append(iface)
        return iface

    def start(self, vdevs, config, ifaces):
        app = Appliance(vdevs, config, [i.name for i in ifaces])
        self.apps.append(app)
        for i in ifaces:
            i.open()
        return app

    def stop(self, app):
        """Stop cleanly; the counters written at the stop must add up."""
        code, output, stats = app.stop()
        self.assertEqual(code, 0, output[-3000:])
        self.assertIsNotNone(stats)
        for side in ("client", "server"):
            port = stats["ports"][side]
            self.assertEqual(port["rx_packets"],
                             port["forwarded_packets"] + port["dropped_packets"])
        for name, m in stats["mirrors"].items():
            # At 100% every original is copied: each copy sent or counted.
            self.assertEqual(m["mirrored_packets"] +
                             sum(m["dropped_by_cause"].values()),
                             rx_total(stats), name)
        return stats

    def forward(self, app, src, dst, tag, count, reverse=False, side="client"):
        """Send @p count frames into @p src in batches shadowtap has read
        before the next (a tap's queue is finite), and check that @p dst got
        every one, byte for byte and in order."""
        frames = [frame(tag, i, reverse) for i in range(count)]
        rx = app.stats()["ports"][side]["rx_packets"]
        for i in range(0, count, BATCH):
            src.send(frames[i:i + BATCH])
            rx += len(frames[i:i + BATCH])
            app.wait(f"{side} read batch {i // BATCH} of {tag}",
                     lambda s, rx=rx: s["ports"][side]["rx_packets"] >= rx)
        got = dst.collect(tag, count)
        self.assertEqual(len(got), count, f"{tag}: originals out of {dst.name}")
        self.assertTrue(got == frames, f"{tag}: originals changed or reordered")

    def wait_idle_pools(self, app, idle):
        """Every pool back to its idle figure: nothing holds an mbuf."""
        app.wait(f"mempools back to {idle}", lambda s: in_use(s) == idle)


class LinkPropagation(FaultTest):
    def tap_pair(self, extra=""):
        c, s = self.iface("c"), self.iface("s")
        config = ("ports:\n  client: net_tap0\n  server: net_tap1\n" + extra)
        app = self.start([f"net_tap0,iface={c.name}", f"net_tap1,iface={s.name}"],
                         config, [c, s])
        app.wait("both wire links up", lambda st: all(
            st["ports"][x]["link_up"] for x in ("client", "server")))
        return app, c, s

    def test_a_lost_link_takes_the_other_side_down_and_back_up(self):
        app, c, s = self.tap_pair()

        # The client side's cable is pulled: the server side goes down.
        ip("link", "set", c.name, "carrier", "off")
        st = app.wait("server taken down",
                      lambda st: st["ports"]["server"]["link_held_down"])
        client, server = st["ports"]["client"], st["ports"]["server"]
        self.assertEqual((client["link_down_events"], client["link_up"]), (1, False))
        self.assertEqual((server["propagated_downs"], server["link_up"]), (1, False))
        self.assertFalse(kernel_up(s.name))
        # The server port, down by shadowtap's doing, is no fault of its own:
        # nothing propagates back, in the poll that took it down or later.
        self.assertEqual(server["link_down_events"], 0)
        self.assertEqual((client["propagated_downs"], client["link_held_down"]),
                         (0, False))

        # The cable is back: so is the server side, and nothing else moves.
        ip("link", "set", c.name, "carrier", "on")
        st = app.wait("server brought back up", lambda st: (
            st["ports"]["server"]["link_up"] and st["ports"]["client"]["link_up"]
            and not st["ports"]["server"]["link_held_down"]))
        self.assertTrue(kernel_up(s.name))
        self.assertEqual([(st["ports"][x]["link_down_events"],
                           st["ports"][x]["propagated_downs"])
                          for x in ("client", "server")], [(1, 0), (0, 1)])
        self.forward(app, c, s, "after-client-fault", 300)
        self.forward(app, s, c, "after-client-fault-back", 300, reverse=True,
                     side="server")

        # The other way, and the server's cable pulled while shadowtap holds
        # its peer down: once its peer is up again, the server is given
        # SETTLE_S to negotiate before its missing link is a fault, and then
        # the client goes down once, not back and forth.
        ip("link", "set", s.name, "carrier", "off")
        st = app.wait("client taken down",
                      lambda st: st["ports"]["client"]["link_held_down"])
        self.assertEqual(st["ports"]["server"]["link_down_events"], 1)
        self.assertEqual(st["ports"]["client"]["propagated_downs"], 1)
        ip("link", "set", c.name, "carrier", "off")
        # The kernel shows a carrier change in the interface's flags up to
        # a second later (linkwatch): released sooner, the client would
        # read as up for an instant, a real flap.
        time.sleep(LINKWATCH_S)
        ip("link", "set", s.name, "carrier", "on")
        st = app.wait("client released", lambda st: (
            not st["ports"]["client"]["link_held_down"]))
        released = time.monotonic()
        # Released: its missing carrier is not a fault yet, and the server,
        # up again, is not taken down for it.
        self.assertEqual(st["ports"]["client"]["link_down_events"], 1)
        self.assertFalse(st["ports"]["server"]["link_held_down"])
        st = app.wait("client's missing link, past settling, takes the server down",
                      lambda st: st["ports"]["server"]["link_held_down"],
                      timeout=SETTLE_S + TIMEOUT_S)
        # A lower bound only, which a slow machine cannot break: without the
        # settling, the next poll (100 ms) would take the server down.
        self.assertGreater(time.monotonic() - released, SETTLE_S / 2)
        self.assertEqual(st["ports"]["client"]["link_down_events"], 2)
        self.assertEqual(st["ports"]["server"]["propagated_downs"], 2)
        ip("link", "set", c.name, "carrier", "on")
        st = app.wait("both up", lambda st: all(
            st["ports"][x]["link_up"] and not st["ports"][x]["link_held_down"]
            for x in ("client", "server")))
        self.assertEqual([(st["ports"][x]["link_down_events"],
                           st["ports"][x]["propagated_downs"])
                          for x in ("client", "server")], [(2, 1), (1, 2)])

        # Turned off by a reload while it holds a port down: the port comes
        # back; turned on again, it goes down again.
        ip("link", "set", c.name, "carrier", "off")
        app.wait("server held", lambda st: st["ports"]["server"]["link_held_down"])
        app.write_config("ports:\n  client: net_tap0\n  server: net_tap1\n"
                         "  link_propagation: false\n")
        app.call({"command": "reload"})
        app.wait("server released by the reload", lambda st: (
            st["ports"]["server"]["link_up"]
            and not st["ports"]["server"]["link_held_down"]))
        app.write_config("ports:\n  client: net_tap0\n  server: net_tap1\n")
        app.call({"command": "reload"})
        st = app.wait("server held again",
                      lambda st: st["ports"]["server"]["link_held_down"])
        self.assertEqual(st["ports"]["server"]["propagated_downs"], 4)
        ip("link", "set", c.name, "carrier", "on")
        app.wait("both up", lambda st: all(
            st["ports"][x]["link_up"] for x in ("client", "server")))

        out = app.output()
        stats = self.stop(app)
        self.assertEqual(stats["ports"]["server"]["propagation_failures"], 0)
        self.assertIn("link propagation: server port 1 (net_tap1) taken down: "
                      "client port 0 (net_tap0) has no link", out)
        self.assertIn("link propagation: server port 1 (net_tap1) brought back up",
                      out)
        self.assertIn("link propagation is off: server port 1 (net_tap1) brought "
                      "back up", out)

    def test_propagation_off_leaves_the_other_side_up(self):
        app, c, s = self.tap_pair("  link_propagation: false\n")
        ip("link", "set", c.name, "carrier", "off")
        # The poll that counts the fault is the one that would propagate it.
        st = app.wait("client fault seen",
                      lambda st: st["ports"]["client"]["link_down_events"] == 1)
        server = st["ports"]["server"]
        self.assertEqual((server["link_up"], server["link_held_down"],
                          server["propagated_downs"]), (True, False, 0))
        self.assertTrue(kernel_up(s.name))
        ip("link", "set", c.name, "carrier", "on")
        app.wait("client up", lambda st: st["ports"]["client"]["link_up"])
        self.forward(app, c, s, "no-propagation", 200)
        self.stop(app)

    def test_a_driver_without_link_control_is_said_once_and_counted(self):
        c = self.iface("c")
        app = self.start([f"net_tap0,iface={c.name}", "net_null1,no-rx=1"],
                         "ports:\n  client: net_tap0\n  server: net_null1\n", [c])
        app.wait("both links up", lambda st: all(
            st["ports"][x]["link_up"] for x in ("client", "server")))
        for fault in (1, 2, 3):
            ip("link", "set", c.name, "carrier", "off")
            st = app.wait(f"fault {fault} seen", lambda st, fault=fault:
                          st["ports"]["client"]["link_down_events"] == fault)
            server = st["ports"]["server"]
            # Tried once per fault, not at every poll.
            self.assertEqual(server["propagation_failures"], fault)
            self.assertEqual((server["link_up"], server["link_held_down"],
                              server["propagated_downs"]), (True, False, 0))
            ip("link", "set", c.name, "carrier", "on")
            app.wait("client up", lambda st: st["ports"]["client"]["link_up"])
        self.assertEqual(app.stats()["ports"]["server"]["propagation_failures"], 3)
        out = app.output()
        self.assertEqual(out.count("cannot be taken down: its driver has no "
                                   "link control"), 1, out)
        self.stop(app)


class ShadowFaults(FaultTest):
    def test_a_shadow_that_flaps_or_vanishes(self):
        c, s, m = self.iface("c"), self.iface("s"), self.iface("m")
        app = self.start([f"net_tap0,iface={c.name}", f"net_tap1,iface={s.name}",
                          f"net_tap2,iface={m.name}"],
                         "ports:\n  client: net_tap0\n  server: net_tap1\n"
                         "mirrors:\n  - name: flappy\n    port: net_tap2\n",
                         [c, s, m])
        idle = in_use(app.wait("links up", lambda st: st["mirrors"]["flappy"]["link_up"]
                               and st["ports"]["client"]["link_up"]))

        self.forward(app, c, s, "before", 300)
        self.assertTrue(m.collect("before", 300) ==
                        [frame("before", i) for i in range(300)])

        ip("link", "set", m.name, "down")
        before = app.wait("shadow link down",
                          lambda st: not st["mirrors"]["flappy"]["link_up"])
        self.assertEqual(before["mirrors"]["flappy"]["link_down_events"], 1)
        self.forward(app, c, s, "while-down", 300)
        after = app.stats()
        drops = [after["mirrors"]["flappy"]["dropped_by_cause"][k] -
                 before["mirrors"]["flappy"]["dropped_by_cause"][k]
                 for k in ("link_down", "ring_full", "no_mbuf")]
        self.assertGreaterEqual(drops[0], 300)
        self.assertEqual(drops[1:], [0, 0])

        ip("link", "set", m.name, "up")
        app.wait("shadow link up", lambda st: st["mirrors"]["flappy"]["link_up"])
        m.open()
        self.forward(app, c, s, "after", 300)
        self.assertTrue(m.collect("after", 300) ==
                        [frame("after", i) for i in range(300)],
                        "copies resume, whole and in order")
        self.wait_idle_pools(app, idle)

        # The shadow's device vanishes from the kernel: its link reads down.
        ip("link", "del", m.name)
        app.wait("shadow gone", lambda st: not st["mirrors"]["flappy"]["link_up"])
        self.forward(app, c, s, "vanished", 300)
        self.forward(app, s, c, "vanished-back", 300, reverse=True, side="server")
        self.wait_idle_pools(app, idle)
        stats = self.stop(app)
        self.assertEqual(stats["mirrors"]["flappy"]["link_down_events"], 2)
        self.assertEqual(stats["ports"]["client"]["dropped_packets"], 0)
        self.assertEqual(stats["ports"]["server"]["dropped_packets"], 0)

    @unittest.skipIf(shutil.which("dpdk-testpmd") is None, "needs dpdk-testpmd")
    def test_a_shadow_that_stalls_is_drained_vanishes_and_returns(self):
        c, s = self.iface("c"), self.iface("s")
        sock = os.path.join(self.tmp, "memif.sock")
        app = self.start([f"net_tap0,iface={c.name}", f"net_tap1,iface={s.name}",
                          f"net_memif0,role=server,socket={sock}"],
                         "ports:\n  client: net_tap0\n  server: net_tap1\n"
                         "mirrors:\n  - name: peer\n    port: net_memif0\n", [c, s])
        idle = in_use(app.wait("wire links up", lambda st: all(
            st["ports"][x]["link_up"] for x in ("client", "server"))))
        peer = self.start_peer(sock)
        app.wait("memif connected", lambda st: st["mirrors"]["peer"]["link_up"])

        def mirror(st):
            m = st["mirrors"]["peer"]
            return [m["mirrored_packets"]] + [m["dropped_by_cause"][k] for k in
                                              ("ring_full", "no_mbuf", "link_down")]

        def delta(a, b):
            return [y - x for x, y in zip(mirror(a), mirror(b))]

        # Stalled: the peer stops reading; its ring fills, then every copy is
        # a ring_full drop. The originals do not notice.
        peer.send_signal(signal.SIGSTOP)
        a = app.stats()
        self.forward(app, c, s, "stalled", STALL_FRAMES)
        d = delta(a, app.stats())
        self.assertLessEqual(d[0], MEMIF_RING)
        self.assertGreaterEqual(d[1], STALL_FRAMES - MEMIF_RING)
        self.assertEqual(d[2:], [0, 0])

        # Drained: the peer reads again, and copies go out again.
        peer.send_signal(signal.SIGCONT)
        self.copies_resume(app, c, s, "drained", mirror)

        # Vanished: the peer is killed; its link goes down, copies are
        # link_down drops. Then a new peer comes, and copies resume.
        self.stop_peer(peer)
        a = app.wait("memif disconnected",
                     lambda st: not st["mirrors"]["peer"]["link_up"])
        self.forward(app, c, s, "vanished", 300)
        d = delta(a, app.stats())
        self.assertEqual((d[0], d[2]), (0, 0))
        self.assertGreaterEqual(d[1] + d[3], 300)
        peer = self.start_peer(sock)
        app.wait("memif connected again", lambda st: st["mirrors"]["peer"]["link_up"])
        self.copies_resume(app, c, s, "returned", mirror)
        self.stop_peer(peer)
        app.wait("memif disconnected again",
                 lambda st: not st["mirrors"]["peer"]["link_up"])
        self.wait_idle_pools(app, idle)
        stats = self.stop(app)
        self.assertEqual(stats["mirrors"]["peer"]["link_down_events"], 2)
        self.assertEqual(stats["ports"]["client"]["dropped_packets"], 0)

    def start_peer(self, sock):
        """dpdk-testpmd reading the memif shadow (its stdin kept open, or it
        stops at once); on CPU 0, away from the worker."""
        prefix = f"stf_peer_{os.getpid()}_{next(_run_ids)}"
        cmd = ["dpdk-testpmd", "--no-huge", "--no-pci", "-m", "256",
               f"--file-prefix={prefix}",
               "--lcores=0@0,1@0", "--log-level=lib.eal:error",
               f"--vdev=net_memif0,role=client,socket={sock}",
               "--", "--forward-mode=rxonly", "--total-num-mbufs=2048", "--txq=0"]
        log = open(os.path.join(self.tmp, "testpmd.log"), "a")
        peer = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT)
        log.close()
        # Killed, testpmd leaves EAL's runtime files (13 MB or so):
        # removed once it is (cleanups run last first).
        self.addCleanup(shutil.rmtree, eal_runtime_dir(prefix), True)
        self.addCleanup(self.stop_peer, peer)
        return peer

    @staticmethod
    def stop_peer(peer):
        """Kill it, as a crash would."""
        if peer.poll() is None:
            peer.kill()
            peer.wait()
        peer.stdin.close()

    def copies_resume(self, app, c, s, tag, mirror):
        """Batches of originals until one is copied whole: the shadow takes
        copies again. Every original still goes through."""
        for attempt in range(20):
            a = mirror(app.stats())
            self.forward(app, c, s, f"{tag}{attempt}", 32)
            if mirror(app.stats())[0] - a[0] >= 32:
                return
        self.fail(f"{tag}: no batch of copies went through")


if __name__ == "__main__":
    check_prerequisites()
    unittest.main(verbosity=2)
