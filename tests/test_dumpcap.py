"""DPDK's secondary-process tools against a running appliance (docs/deploy.md,
"Capturing a running appliance").

dpdk-dumpcap, dpdk-pdump and dpdk-proc-info attach to the appliance's
hugepage memory under its --file-prefix; the capture tools then ask it, over
EAL's multi-process channel, to add lib/pdump's callbacks to a port's queues.
So the appliance runs here WITH hugepages: the test reserves 2 MB pages and
mounts hugetlbfs when they are missing, and puts back what it changed.

The ports are net_af_packet on veth pairs, not net_pcap: a net_pcap port
reads its whole file before a tool can attach, and the 22.11 driver stops a
port when a secondary process closes it (dpdk-proc-info does), which takes
the appliance's link down. While the tools run, the test
writes numbered frames into the wire ports' peers at a steady pace, both
directions, two flows from the client side, and reads on every peer what
the appliance sent out of that port: forwarded originals, and on the shadow
the copies of a mirror at 100%. Checked:
- dumpcap on the server wire port (-c N, both directions): per direction,
  byte for byte as tshark reads them, a run of consecutive frames the port
  received (written by the test) or sent (read on its peer);
- dumpcap on the client wire port with a BPF filter (-f): only the frames
  of the filtered flow, a consecutive run of them;
- dumpcap on the shadow port (both directions asked, as dumpcap does: the
  port has an RX queue nobody polls for it): only frames sent, a
  consecutive run of the copies the shadow got;
- dpdk-pdump on the shadow port (tx-dev): the same;
- the wire port is still promiscuous after dumpcap -p;
- every frame sent was forwarded and copied, byte for byte, in order;
- dpdk-proc-info --stats and --xstats give the counters of shadowtap's own
  stats (control socket);
- the appliance still forwards once the tools are gone, and stops cleanly.

Skips (77, saying why) without root, 2 MB hugepages it can reserve, veth
pairs, or dpdk-dumpcap, dpdk-pdump, dpdk-proc-info (Debian's dpdk package),
tshark or ip. The interfaces are named stdc<pid>..., the EAL files too.

$SHADOWTAP is the appliance (default ../build/shadowtap).
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from pcaplib import (check_two_way_union, ethernet, ipv4, read_pcap, udp,
                     write_pcap)
from shadowtap_run import eal_runtime_dir
from test_faults import Appliance as FaultAppliance

TOOLS = ("dpdk-dumpcap", "dpdk-pdump", "dpdk-proc-info", "tshark", "ip")
HUGE_DIR = "/sys/kernel/mm/hugepages/hugepages-2048kB"
HUGE_MOUNT = "/dev/hugepages"
BASE_VIRTADDR = "0x200000000000"   # above ASan's shadow, below its heap
APP_MB = 192            # EAL's -m: the appliance's pools (~30 MB), the tools'
PAGES = APP_MB // 2 + 32    # 2 MB pages: those and a margin
PACE_S = 0.002          # a frame each way every 2 ms while the tools run
CAPTURE = 40            # frames dumpcap stops after (-c); pdump's least
TIMEOUT_S = 30          # for a tool, a counter or a frame to arrive
MARK = b"stdumpcap:"
FILTERED_PORT = 5001    # one of the client's two flows, for -f
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33     # Linux; Python does not name it
RCVBUF = 32 << 20
DIR_IN, DIR_OUT = 1, 2  # pcapng's direction flag, as tshark shows it

PREFIX = f"stdc{os.getpid() % 100000}"


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def log(msg):
    print(msg, flush=True)


def check_prerequisites():
    if os.geteuid() != 0:
        skip("needs root (hugepages, veth pairs)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        skip(f"needs {', '.join(missing)} (Debian packages dpdk, tshark, "
             f"iproute2)")
    if not os.path.isdir(HUGE_DIR):
        skip(f"no 2 MB hugepages in this kernel ({HUGE_DIR})")


def read_int(path):
    with open(path) as f:
        return int(f.read())


def write_sysfs(path, value):
    with open(path, "w") as f:
        f.write(f"{value}\n")


def hugetlbfs_2m_mounted():
    with open("/proc/meminfo") as f:
        default_2m = "Hugepagesize:       2048 kB" in f.read()
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] != "hugetlbfs":
                continue
            if "pagesize=2M" in fields[3] or (
                    "pagesize=" not in fields[3] and default_2m):
                return True
    return False


class Hugepages:
    """PAGES free 2 MB pages and a hugetlbfs mount for them, as long as the
    test runs; restore() puts back what reserve() changed."""

    def __init__(self):
        self.nr_before = None
        self.mounted = False
        self.made_dir = False

    def reserve(self):
        free = read_int(f"{HUGE_DIR}/free_hugepages")
        if free < PAGES:
            self.nr_before = read_int(f"{HUGE_DIR}/nr_hugepages")
            try:
                write_sysfs(f"{HUGE_DIR}/nr_hugepages",
                            self.nr_before + PAGES - free)
            except OSError as e:
                self.restore()
                skip(f"cannot reserve 2 MB hugepages: {e}")
            free = read_int(f"{HUGE_DIR}/free_hugepages")
            if free < PAGES:
                self.restore()
                skip(f"only {free} free 2 MB hugepages, {PAGES} needed "
                     f"(memory too fragmented?)")
        if not hugetlbfs_2m_mounted():
            self.made_dir = not os.path.isdir(HUGE_MOUNT)
            os.makedirs(HUGE_MOUNT, exist_ok=True)
            proc = subprocess.run(["mount", "-t", "hugetlbfs", "-o",
                                   "pagesize=2M", "nodev", HUGE_MOUNT],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                self.restore()
                skip(f"cannot mount hugetlbfs: {proc.stderr.strip()}")
            self.mounted = True
        log(f"hugepages: {read_int(f'{HUGE_DIR}/free_hugepages')} free "
            f"(reserved here: {self.nr_before is not None}, "
            f"mounted here: {self.mounted})")

    def restore(self):
        if self.mounted:
            subprocess.run(["umount", HUGE_MOUNT], capture_output=True)
            self.mounted = False
        if self.made_dir:
            os.rmdir(HUGE_MOUNT)
            self.made_dir = False
        if self.nr_before is not None:
            write_sysfs(f"{HUGE_DIR}/nr_hugepages", self.nr_before)
            self.nr_before = None


def remove_eal_files(prefix):
    """What a primary with hugepages leaves: its page files, its runtime
    directory (the secondaries' sockets were in it)."""
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f
                  if line.split()[2] == "hugetlbfs"]
    for mount in mounts:
        for path in glob.glob(os.path.join(mount, f"{prefix}map_*")):
            os.unlink(path)
    shutil.rmtree(eal_runtime_dir(prefix), ignore_errors=True)


def frame(side, seq, dport):
    """A UDP frame, marked and numbered; the server side's go back."""
    a, b = bytes([10, 7, 0, 1]), bytes([10, 7, 0, 2])
    mac_a, mac_b = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    sport = 40000
    if side == "server":
        a, b, mac_a, mac_b = b, a, mac_b, mac_a
        sport, dport = dport, sport
    payload = MARK + side.encode() + struct.pack("!I", seq) + bytes(32)
    return ethernet(mac_b, mac_a, 0x0800,
                    ipv4(a, b, 17, udp(a, b, sport, dport, payload)))


def filtered(f):
    """Whether the capture filter of the test takes @p f (IPv4 UDP to
    FILTERED_PORT), for any frame, the test's or not."""
    return (len(f) >= 38 and f[12:14] == b"\x08\x00" and f[23] == 17 and
            struct.unpack_from("!H", f, 14 + (f[14] & 15) * 4 + 2)[0] ==
            FILTERED_PORT)


class Peer:
    """The far end of a veth pair whose near end the appliance drives. A
    thread keeps both directions: what enters the appliance's port (the
    test's frames, and any the kernel sends) and what it sent out of it."""

    def __init__(self, name):
        self.name = name
        # Protocol 0 until bound: a packet socket for ETH_P_ALL takes
        # every interface's frames until bind() names one.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        self.sock.bind((name, ETH_P_ALL))
        self.sock.settimeout(0.1)
        # A socket of its own to send: a packet socket does not see what
        # it sends itself, and self.sock must.
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind((name, 0))
        self.frames = {"entered": [], "got": []}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stopping.is_set():
            try:
                data, addr = self.sock.recvfrom(1 << 16)
            except socket.timeout:
                continue
            way = "entered" if addr[2] == PACKET_OUTGOING else "got"
            with self.lock:
                self.frames[way].append(data)

    def send(self, f):
        self.tx.send(f)

    def entered(self):
        """Every frame sent into the appliance's port, in order."""
        with self.lock:
            return list(self.frames["entered"])

    def got(self):
        """Every frame the appliance sent out of its port, in order."""
        with self.lock:
            return list(self.frames["got"])

    def forget(self):
        """Start both records afresh."""
        with self.lock:
            self.frames = {"entered": [], "got": []}

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.sock.close()
        self.tx.close()


class Traffic:
    """Frames into the client and server peers at a steady pace, from a
    thread, until stop(); the client's alternate between two flows."""

    def __init__(self, client, server):
        self.peers = {"client": client, "server": server}
        self.sent = {"client": [], "server": []}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = None

    def send(self, side, count):
        for _ in range(count):
            with self.lock:
                seq = len(self.sent[side])
                f = frame(side, seq, FILTERED_PORT + seq % 2)
                self.sent[side].append(f)
            self.peers[side].send(f)

    def start(self):
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(PACE_S):
            self.send("client", 1)
            self.send("server", 1)

    def stop(self):
        if self.thread is not None:
            self.stopping.set()
            self.thread.join()
            self.thread = None

    def frames(self, side):
        with self.lock:
            return list(self.sent[side])


class Appliance(FaultAppliance):
    """shadowtap with hugepages (test_faults' runs without), so that the
    tools can attach under its file prefix."""

    def __init__(self, vdevs, config):
        # Its memory taken at start (-m), with room for the tools' pools: a
        # tool that grows the shared heap at run time can wedge EAL's
        # multi-process channel in 22.11 (docs/deploy.md). Its memory at a
        # fixed address far from any library's: a tool maps it at the same
        # addresses, and EAL's default (4 GB up) is inside ASan's shadow in
        # the build-san binary, whose memory then lands at a random address
        # that a tool's libraries sometimes hold (CI: "Cannot get a virtual
        # area at requested address").
        super().__init__(vdevs, config, [],
                         memory=("-m", str(APP_MB), "--base-virtaddr",
                                 BASE_VIRTADDR), prefix=PREFIX)


def tool(*args, timeout=TIMEOUT_S):
    """Run a tool to its end; its standard output, or an AssertionError."""
    proc = subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout


def tshark_frames(path):
    """[(direction or None, frame bytes)] of a capture, as tshark reads it."""
    out = tool("tshark", "-r", path, "-T", "json", "-x")
    frames = []
    for packet in json.loads(out):
        layers = packet["_source"]["layers"]
        flags = layers["frame"].get("frame.packet_flags_tree", {})
        direction = flags.get("frame.packet_flags_direction")
        frames.append((int(direction, 16) if direction else None,
                       bytes.fromhex(layers["frame_raw"][0])))
    return frames


def wait_until(what, predicate, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def marked(frames):
    """The test's own frames among @p frames."""
    return [f for f in frames if MARK in f]


def run_error(captured, stream, what):
    """None if @p captured is a run of consecutive frames of @p stream (whose
    frames are all distinct), else what is wrong."""
    if not captured:
        return f"{what}: nothing captured"
    try:
        start = stream.index(captured[0])
    except ValueError:
        return f"{what}: its first frame is not one of the {len(stream)}"
    if stream[start:start + len(captured)] != captured:
        return (f"{what}: {len(captured)} frames are not the consecutive "
                f"ones from #{start} of {len(stream)}")
    return None


def proc_info_stats(text):
    """{port: {RX-packets, RX-bytes, TX-packets, TX-bytes}} of --stats."""
    ports = {}
    for block in re.split(r"NIC statistics for port\s+", text)[1:]:
        port = int(block.split()[0])
        ports[port] = {key: int(re.search(rf"\b{key}:\s+(\d+)", block)[1])
                       for key in ("RX-packets", "RX-bytes", "TX-packets",
                                   "TX-bytes")}
    return ports


def proc_info_xstats(text):
    """{port: {name: value}} of --xstats."""
    ports = {}
    for block in re.split(r"NIC extended statistics for port\s+", text)[1:]:
        port = int(block.split()[0])
        ports[port] = {m[1]: int(m[2]) for m in
                       re.finditer(r"^(\w+): (\d+)$", block, re.M)}
    return ports


class Scenario:
    """Everything the checks look at, gathered once: the appliance runs,
    traffic flows, the tools capture and count."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="st_dumpcap_")
        self.huge = Hugepages()
        self.links = []
        self.peers = {}
        self.app = None
        self.base = None    # its counters when the test's traffic began
        self.traffic = None
        self.tools = []     # running ones, stopped by close()
        self.captures = {}
        self.promisc_after = None
        self.stats = None
        self.proc_stats = None
        self.proc_xstats = None
        self.final = None
        self.exit_code = None
        self.output = None

    def path(self, name):
        return os.path.join(self.workdir, name)

    def veth(self, role):
        near, far = f"{PREFIX}{role}", f"{PREFIX}{role}p"
        proc = subprocess.run(["ip", "link", "add", near, "type", "veth",
                               "peer", "name", far],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            skip(f"cannot create a veth pair: {proc.stderr.strip()}")
        self.links.append(near)
        for name in (near, far):
            # No IPv6 chatter: every frame on these links is the test's.
            write_sysfs(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", 1)
            subprocess.run(["ip", "link", "set", name, "up"], check=True)
        self.peers[role] = Peer(far)
        return near

    def start(self):
        self.huge.reserve()
        remove_eal_files(PREFIX)
        c, s, m = self.veth("c"), self.veth("s"), self.veth("m")
        config = ("ports:\n  client: net_af_packet0\n"
                  "  server: net_af_packet1\n"
                  "mirrors:\n  - name: v2\n    port: net_af_packet2\n"
                  "    percent: 100\n")
        # framecnt: the kernel's ring in front of each port holds seconds
        # of the test's traffic, should a worker be held up.
        self.app = Appliance([f"net_af_packet0,iface={c},framecnt=4096",
                              f"net_af_packet1,iface={s},framecnt=4096",
                              f"net_af_packet2,iface={m}"], config)
        self.traffic = Traffic(self.peers["c"], self.peers["s"])
        self.forget_the_start()

    def forget_the_start(self):
        """net_af_packet's sockets take any interface's frames until they
        are bound (22.11), so the appliance may forward a burst of the
        host's traffic as it starts: let it, then count from there."""
        prev = None
        while True:
            st = self.app.stats()
            if prev is not None and st["rx_packets"] == prev["rx_packets"]:
                break
            prev = st
            time.sleep(0.2)
        for peer in self.peers.values():
            peer.forget()
        self.base = st
        log(f"frames read before the test's: {st['rx_packets']}")

    def since_start(self, st, side, key="forwarded_packets"):
        """A port's counter less what it was when the test began."""
        return st["ports"][side][key] - self.base["ports"][side][key]

    def copies_since_start(self, st):
        return (st["mirrors"]["v2"]["mirrored_packets"] -
                self.base["mirrors"]["v2"]["mirrored_packets"])

    def wait_flowing(self):
        """Until the appliance has forwarded both sides' frames again."""
        before = self.app.stats()["ports"]
        self.app.wait("traffic flowing", lambda st: all(
            st["ports"][side]["forwarded_packets"] >
            before[side]["forwarded_packets"] for side in ("client",
                                                           "server")))

    def dumpcap(self, name, port, *args):
        out = self.path(f"{name}.pcapng")
        tool("dpdk-dumpcap", "--file-prefix", PREFIX, "-i", port, "-p",
             "-q", "-w", out, "-c", str(CAPTURE), "-a",
             f"duration:{TIMEOUT_S}", *args, timeout=TIMEOUT_S + 10)
        self.captures[name] = tshark_frames(out)

    def pdump_shadow(self):
        """dpdk-pdump on the shadow port until its file holds CAPTURE
        frames; it stops on SIGINT."""
        out = self.path("shadow.pcap")
        spec = (f"device_id=net_af_packet2,queue=*,tx-dev={out},"
                f"ring-size=1024,total-num-mbufs=2048")
        proc = subprocess.Popen(["dpdk-pdump", "-l", "0",
                                 f"--file-prefix={PREFIX}", "--",
                                 "--pdump", spec],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.tools.append(proc)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if len(read_pcap(out)[1]) >= CAPTURE:
                    break
            except (OSError, ValueError):
                pass    # not there yet, or a record half written
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=TIMEOUT_S)[0]
        self.tools.remove(proc)
        if proc.returncode != 0:
            raise AssertionError(f"dpdk-pdump exited {proc.returncode}:\n"
                                 f"{output[-3000:]}")
        self.captures["shadow"] = tshark_frames(out)

    def settle(self):
        """Stop sending; wait until the appliance has forwarded and copied
        all that entered its wire ports; its counters then."""
        self.traffic.stop()
        c, srv, m = self.peers["c"], self.peers["s"], self.peers["m"]
        wait_until("the test's frames in", lambda: all(
            len(marked(peer.entered())) == len(self.traffic.frames(side))
            for side, peer in (("client", c), ("server", srv))))

        def counts(st):
            return {"entered client": len(c.entered()),
                    "entered server": len(srv.entered()),
                    "forwarded client": self.since_start(st, "client"),
                    "forwarded server": self.since_start(st, "server"),
                    "out of server": len(srv.got()),
                    "out of client": len(c.got()),
                    "mirrored": self.copies_since_start(st),
                    "out of shadow": len(m.got())}

        def settled(st):
            n = counts(st)
            both = n["entered client"] + n["entered server"]
            return (n["forwarded client"] == n["out of server"] ==
                    n["entered client"] and
                    n["forwarded server"] == n["out of client"] ==
                    n["entered server"] and
                    n["mirrored"] == n["out of shadow"] == both)

        try:
            return self.app.wait("all that entered forwarded and copied",
                                 settled)
        except AssertionError:
            raise AssertionError(f"not settled: {counts(self.app.stats())}")

    def run(self):
        self.start()
        self.traffic.start()
        self.wait_flowing()
        self.dumpcap("server_port", "net_af_packet1")
        self.dumpcap("client_filtered", "0", "-f",
                     f"udp dst port {FILTERED_PORT}")
        self.promisc_after = "PROMISC" in json.loads(subprocess.run(
            ["ip", "-j", "link", "show", f"{PREFIX}s"], check=True,
            capture_output=True, text=True).stdout)[0]["flags"]
        self.dumpcap("shadow_port", "net_af_packet2")
        self.pdump_shadow()
        self.wait_flowing()
        self.stats = self.settle()
        self.proc_stats = proc_info_stats(tool(
            "dpdk-proc-info", f"--file-prefix={PREFIX}", "--", "--stats"))
        self.proc_xstats = proc_info_xstats(tool(
            "dpdk-proc-info", f"--file-prefix={PREFIX}", "--", "--xstats"))
        # proc-info closes every port as it leaves (in its own process).
        self.traffic.send("client", 10)
        self.traffic.send("server", 10)
        self.settle()
        self.exit_code, self.output, self.final = self.app.stop()

    def close(self):
        """Stop and remove everything, whatever failed; what fails here is
        said, and the rest still done."""
        steps = [proc.kill for proc in self.tools]
        if self.traffic is not None:
            steps.append(self.traffic.stop)
        if self.app is not None:
            steps.append(self.app.kill)
        steps += [peer.close for peer in self.peers.values()]
        steps += [lambda name=name: subprocess.run(
            ["ip", "link", "del", name], capture_output=True)
                  for name in self.links]
        steps += [lambda: remove_eal_files(PREFIX), self.huge.restore]
        for step in steps:
            try:
                step()
            except Exception as e:     # the next step still runs
                print(f"cleanup: {e!r}", file=sys.stderr, flush=True)


SCENARIO = None


class DumpcapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = SCENARIO

    def sent(self, side):
        return self.s.traffic.frames(side)

    def entered(self, role):
        return self.s.peers[role].entered()

    def got(self, role):
        return self.s.peers[role].got()

    def test_1_dumpcap_on_a_wire_port_sees_both_directions(self):
        cap = self.s.captures["server_port"]
        self.assertGreaterEqual(len(cap), CAPTURE)
        got_in = [f for d, f in cap if d == DIR_IN]
        got_out = [f for d, f in cap if d == DIR_OUT]
        self.assertEqual(len(got_in) + len(got_out), len(cap),
                         "a frame without a direction")
        self.assertIsNone(run_error(got_in, self.entered("s"), "in"))
        self.assertIsNone(run_error(got_out, self.got("s"), "out"))

    def test_2_dumpcap_with_a_filter_sees_only_its_flow(self):
        cap = self.s.captures["client_filtered"]
        self.assertGreaterEqual(len(cap), CAPTURE)
        self.assertEqual({d for d, _ in cap}, {DIR_IN})
        flow = [f for f in self.entered("c") if filtered(f)]
        self.assertIsNone(run_error([f for _, f in cap], flow, "filtered"))

    def test_3_dumpcap_on_the_shadow_port_sees_the_copies(self):
        cap = self.s.captures["shadow_port"]
        self.assertGreaterEqual(len(cap), CAPTURE)
        self.assertEqual({d for d, _ in cap}, {DIR_OUT})
        self.assertIsNone(run_error([f for _, f in cap], self.got("m"),
                                    "shadow"))

    def test_4_pdump_on_the_shadow_port_sees_the_copies(self):
        cap = self.s.captures["shadow"]
        self.assertGreaterEqual(len(cap), CAPTURE)
        self.assertIsNone(run_error([f for _, f in cap], self.got("m"),
                                    "shadow"))

    def test_5_dumpcap_p_leaves_the_wire_port_promiscuous(self):
        self.assertTrue(self.s.promisc_after)

    def test_6_everything_forwarded_and_copied_while_captured(self):
        # Every frame the test sent went in, and all that went in came out.
        self.assertEqual(marked(self.entered("c")), self.sent("client"))
        self.assertEqual(marked(self.entered("s")), self.sent("server"))
        self.assertEqual(self.got("s"), self.entered("c"))
        self.assertEqual(self.got("c"), self.entered("s"))
        _, errors = check_two_way_union(self.entered("c"), self.entered("s"),
                                        self.got("m"))
        self.assertEqual(errors, [])
        self.assertEqual(len(self.got("m")),
                         len(self.entered("c")) + len(self.entered("s")))

    def check_counters(self, info, names, zero):
        """@p info's counters per port (@p names: RX, TX packets and bytes)
        against shadowtap's stats at the same moment; @p zero: a shadow
        port's RX."""
        st = self.s.stats
        client, server = st["ports"]["client"], st["ports"]["server"]
        mirror = st["mirrors"]["v2"]
        want = {
            client["port_id"]: (client["rx_packets"],
                                server["forwarded_packets"],
                                client["rx_bytes"], server["forwarded_bytes"]),
            server["port_id"]: (server["rx_packets"],
                                client["forwarded_packets"],
                                server["rx_bytes"], client["forwarded_bytes"]),
            mirror["port_id"]: (zero, mirror["mirrored_packets"], zero,
                                mirror["mirrored_bytes"]),
        }
        got = {p: tuple(info.get(p, {}).get(n) for n in names) for p in want}
        self.assertEqual(got, want)
        self.assertEqual(st["dropped_packets"], 0)

    def test_7_proc_info_stats_are_shadowtaps(self):
        self.check_counters(self.s.proc_stats, ("RX-packets", "TX-packets",
                                                "RX-bytes", "TX-bytes"), 0)

    def test_8_proc_info_xstats_are_shadowtaps(self):
        self.check_counters(self.s.proc_xstats,
                            ("rx_good_packets", "tx_good_packets",
                             "rx_good_bytes", "tx_good_bytes"), 0)

    def test_9_still_forwarding_after_the_tools_and_stops_cleanly(self):
        self.assertEqual(self.s.exit_code, 0, self.s.output)
        final = self.s.final
        self.assertIsNotNone(final)
        for side, role in (("client", "c"), ("server", "s")):
            self.assertEqual(self.s.since_start(final, side),
                             len(self.entered(role)), side)
            # A tool leaving (proc-info closes every port in its process)
            # must not take a link down.
            self.assertEqual(final["ports"][side]["link_down_events"], 0, side)
        self.assertEqual(final["mirrors"]["v2"]["link_down_events"], 0)


def _on_sigterm(signum, frame):
    raise SystemExit(f"signal {signum}")


def keep_evidence(s):
    """The peers' frames beside the captures; shadowtap's output."""
    for role, peer in s.peers.items():
        for way in ("entered", "got"):
            write_pcap(s.path(f"{role}_{way}.pcap"), getattr(peer, way)())
    if s.output is None and s.app is not None and os.path.exists(s.app.log):
        s.output = s.app.output()


def main():
    global SCENARIO
    check_prerequisites()
    signal.signal(signal.SIGTERM, _on_sigterm)
    SCENARIO = s = Scenario()
    ok = skipped = False
    try:
        started = time.monotonic()
        s.run()
        foreign = sum(len(p.entered()) - len(marked(p.entered()))
                      for p in s.peers.values())
        log(f"scenario ran in {time.monotonic() - started:.1f} s; "
            f"frames sent {len(s.traffic.frames('client'))} + "
            f"{len(s.traffic.frames('server'))}, others on the links "
            f"{foreign}")
        ok = unittest.main(verbosity=2, exit=False).result.wasSuccessful()
    except SystemExit as e:
        skipped = e.code == 77
        raise
    finally:
        failed = not ok and not skipped
        if failed:
            keep_evidence(s)
        s.close()
        if failed:
            log(f"--- shadowtap's output ---\n{s.output}\n"
                f"FAILED: captures, and the frames on each link, kept in "
                f"{s.workdir}")
        else:
            shutil.rmtree(s.workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
