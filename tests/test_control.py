"""The control socket and shadowtapctl (docs/control.md), against a running
appliance.

The appliance runs between net_null ports: the client port generates
frames (all the same non-IP flow, so counters and rates move and a mirror
at 100% copies), the others receive nothing. Each test class starts its
own appliance and stops it with SIGTERM at the end, which must exit 0 and
write its counters.

$SHADOWTAP is the appliance (default ../build/shadowtap), $SHADOWTAPCTL the
client (default ../build/shadowtapctl).
"""

import grp
import itertools
import json
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from shadowtap_run import eal_runtime_dir, shadowtap_binary

TIMEOUT_S = 10          # no reply within this is a hang
START_TIMEOUT_S = 120   # sanitizer builds start slowly
MAX_LINE = 64 * 1024
MAX_CLIENTS = 64

# Line numbers matter: refused reloads must name them.
CONFIG = """\
ports:
  client: net_null0
  server: net_null1
mirrors:
  - name: v2
    port: net_null2
    percent: 10
  - name: v3
    port: net_null3
    percent: 100
routes:
  - name: health
    match: { path: "^/healthz" }
    mirror: none
  - name: api
    match: { methods: [GET, HEAD], path: "^/api/" }
    mirror: [v2, v3]
    percent: 50
"""
API_PATH_LINE = 16      # the line of api's match
SERVER_PORT_LINE = 3
V3_PORT_LINE = 9

_run_ids = itertools.count()


def shadowtapctl_binary():
    """The client under test: $SHADOWTAPCTL, else the default build's."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("SHADOWTAPCTL",
                          os.path.join(here, "..", "build", "shadowtapctl"))


class Conn:
    """One client connection speaking JSON lines."""

    def __init__(self, path, timeout=TIMEOUT_S):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        """Send bytes (or a JSON value, as one line)."""
        if not isinstance(data, bytes):
            data = json.dumps(data).encode() + b"\n"
        self.sock.sendall(data)

    def line(self, timeout=TIMEOUT_S):
        """The next reply line, as bytes without its newline."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no reply within {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise AssertionError(f"no reply within {timeout} s") from None
            if not chunk:
                raise AssertionError(f"connection closed; unterminated: {self.buf[:200]!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self, timeout=TIMEOUT_S):
        """The next reply, parsed; it must be an object with a boolean ok."""
        line = self.line(timeout)
        reply = json.loads(line)
        assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), line
        return reply

    def call(self, request):
        self.send(request)
        return self.reply()

    def closed_by_peer(self, timeout=TIMEOUT_S):
        """True once the appliance closed the connection (nothing more to read)."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class Appliance:
    """shadowtap between net_null ports, with a control socket."""

    def __init__(self, config=CONFIG, group=None):
        """@p group: the gid to run as (root's user, another group)."""
        self.tmp = tempfile.TemporaryDirectory(prefix="st_ctl_")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "config.yaml")
        self.socket = os.path.join(self.dir, "ctl.sock")
        self.stats_file = os.path.join(self.dir, "stats.json")
        self.log = os.path.join(self.dir, "shadowtap.log")
        self.write_config(config)
        cpus = os.cpu_count() or 1
        # net_null0 generates frames; net_null4 is free for a changed port.
        vdevs = ["--vdev=net_null0"] + [f"--vdev=net_null{i},no-rx=1"
                                        for i in range(1, 5)]
        self.prefix = f"st_ctl_{os.getpid()}_{next(_run_ids)}"
        cmd = [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
               f"--file-prefix={self.prefix}",
               f"--lcores=0@0,1@{1 % cpus}", "--log-level=lib.eal:error",
               *vdevs, "--", "--config", self.config, "--socket", self.socket,
               "--stats-file", self.stats_file]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         group=group)
        self._wait_ready()

    def output(self):
        with open(self.log) as f:
            return f.read()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shadowtap exited {self.proc.returncode} "
                                   f"before serving:\n{self.output()}")
            if os.path.exists(self.socket):
                try:
                    Conn(self.socket, timeout=2).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"no control socket after {START_TIMEOUT_S} s:\n{self.output()}")

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def connect(self, timeout=TIMEOUT_S):
        return Conn(self.socket, timeout)

    def call(self, request):
        """One request on a fresh connection."""
        conn = self.connect()
        try:
            return conn.call(request)
        finally:
            conn.close()

    def stop(self):
        """SIGTERM; returns (exit code, output, stats written or None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        stats = None
        if os.path.exists(self.stats_file):
            with open(self.stats_file) as f:
                stats = json.load(f)
        output = self.output()
        self.cleanup()
        return code, output, stats

    def cleanup(self):
        """Its files, and EAL's runtime files, which shadowtap removes at
        exit but not when killed."""
        self.tmp.cleanup()
        shutil.rmtree(eal_runtime_dir(self.prefix), ignore_errors=True)


class ApplianceTest(unittest.TestCase):
    """A test class with its own appliance, which must stop cleanly."""

    config = CONFIG

    @classmethod
    def setUpClass(cls):
        cls.app = Appliance(cls.config)

    @classmethod
    def tearDownClass(cls):
        try:
            served = cls.app.call({"command": "stats"}).get("stats")
        except (OSError, AssertionError, ValueError) as e:
            served = f"no stats: {e}"
        code, output, stats = cls.app.stop()
        if code != 0:
            raise AssertionError(f"shadowtap exited {code} on SIGTERM:\n{output}")
        if stats is None or "ports" not in stats:
            raise AssertionError(f"no stats written on SIGTERM:\n{output}")
        if shape(served) != shape(stats):
            raise AssertionError(f"the stats command and --stats-file differ in shape:\n"
                                 f"{served}\n{stats}")

    def call(self, request):
        return self.app.call(request)

    def ok(self, request):
        reply = self.call(request)
        self.assertTrue(reply["ok"], f"{request} -> {reply}")
        return reply

    def refused(self, request, *fragments):
        reply = self.call(request)
        self.assert_error(reply, *fragments, request=request)
        return reply

    def assert_error(self, reply, *fragments, request=None):
        self.assertIs(reply["ok"], False, f"{request!r} -> {reply}")
        self.assertIsInstance(reply.get("error"), str, reply)
        self.assertTrue(reply["error"], reply)
        for f in fragments:
            self.assertIn(f, reply["error"], f"{request!r} -> {reply}")

    def show(self):
        return self.ok({"command": "show"})

    def stats(self):
        return self.ok({"command": "stats"})["stats"]

    def assert_alive(self):
        self.assertIsNone(self.app.proc.poll(), f"shadowtap died:\n{self.app.output()}")
        reply = self.ok({"command": "version"})
        self.assertIn("version", reply)


def shape(doc):
    """The keys of a JSON document, recursively, without the values."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shape(v) for v in doc]
    return type(doc).__name__


def by_name(items):
    return {item["name"]: item for item in items}


class RuntimeFiles(unittest.TestCase):
    """EAL's runtime directory (/var/run/dpdk/PREFIX): there while the
    appliance runs, for the capture tools; gone once it exits, however it
    exits after start-up; never another running appliance's."""

    def test_removed_on_sigterm(self):
        app = Appliance()
        try:
            path = eal_runtime_dir(app.prefix)
            self.assertTrue(os.path.exists(os.path.join(path, "config")), path)
            app.proc.send_signal(signal.SIGTERM)
            self.assertEqual(app.proc.wait(timeout=60), 0, app.output())
            self.assertFalse(os.path.exists(path), os.listdir(path) if
                             os.path.isdir(path) else path)
        finally:
            app.stop()

    def run_appliance(self, prefix, config_path):
        return subprocess.run(
            [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
             f"--file-prefix={prefix}", "--lcores=0@0,1@0",
             "--log-level=lib.eal:error", "--vdev=net_null0",
             "--vdev=net_null1", "--", "--config", config_path],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=START_TIMEOUT_S)

    def test_removed_after_a_start_up_error(self):
        prefix = f"st_ctl_{os.getpid()}_{next(_run_ids)}"
        with tempfile.TemporaryDirectory(prefix="st_ctl_") as tmp:
            p = self.run_appliance(prefix, os.path.join(tmp, "missing.yaml"))
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("missing.yaml", p.stdout)
        self.assertFalse(os.path.exists(eal_runtime_dir(prefix)))

    def test_a_running_appliances_files_are_kept(self):
        app = Appliance()
        try:
            p = self.run_appliance(app.prefix, app.config)
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertTrue(os.path.exists(
                os.path.join(eal_runtime_dir(app.prefix), "config")))
            self.assertIsNone(app.proc.poll(), app.output())
            self.assertTrue(app.call({"command": "version"})["ok"])
        finally:
            app.stop()


class Commands(ApplianceTest):
    """Every command of the table with good arguments, on raw JSON lines."""

    def test_version(self):
        reply = self.ok({"command": "version"})
        self.assertRegex(reply["version"], r"^\d+\.\d+\.\d+")
        self.assertTrue(reply["dpdk"].startswith("DPDK 22.11"), reply)
        self.assertIsInstance(reply["hyperscan"], str)

    def test_stats_is_the_stats_file_document(self):
        first = self.stats()
        for key in ("rx_packets", "forwarded_packets", "dropped_packets",
                    "mirrored_packets", "mirror_dropped_packets", "mirrored_flows",
                    "malformed_packets", "flows_created", "workers", "unrouted"):
            self.assertIn(key, first)
        self.assertEqual(set(first["ports"]), {"client", "server"})
        self.assertEqual(set(first["mirrors"]), {"v2", "v3"})
        self.assertEqual(list(first["routes"]), ["health", "api"])
        self.assertEqual(len(first["workers"]), 1)
        for key in ("ring_full", "no_mbuf", "link_down"):
            self.assertIn(key, first["mirrors"]["v2"]["dropped_by_cause"])
        time.sleep(0.2)
        second = self.stats()
        self.assertGreater(second["ports"]["client"]["rx_packets"],
                           first["ports"]["client"]["rx_packets"])

    def test_show(self):
        reply = self.show()
        self.assertEqual(reply["config"], self.app.config)
        self.assertIsInstance(reply["generation"], int)
        mirrors = by_name(reply["mirrors"])
        self.assertEqual(list(mirrors), ["v2", "v3"])
        self.assertEqual(mirrors["v2"]["port_id"], 2)
        self.assertEqual(mirrors["v3"]["port_id"], 3)
        for m in mirrors.values():
            self.assertIsInstance(m["enabled"], bool)
            self.assertIsInstance(m["percent"], (int, float))
            self.assertEqual(m["truncate"], 0)
            self.assertEqual(m["encap"], {"type": "none"})
        routes = reply["routes"]
        self.assertEqual([r["name"] for r in routes], ["health", "api"])
        self.assertEqual(routes[0]["mirrors"], [])
        self.assertEqual(routes[1]["mirrors"], ["v2", "v3"])

    def test_set_route_percent(self):
        for percent in (25, 12.5, 0, 100, 50):
            reply = self.ok({"command": "set_route_percent", "route": "api",
                             "percent": percent})
            self.assertEqual((reply["route"], reply["percent"]), ("api", percent))
            self.assertEqual(self.show()["routes"][1]["percent"], percent)

    def test_set_mirror_percent(self):
        for percent in (33, 0.5, 0, 100, 10):
            reply = self.ok({"command": "set_mirror_percent", "mirror": "v2",
                             "percent": percent})
            self.assertEqual((reply["mirror"], reply["percent"]), ("v2", percent))
            self.assertEqual(by_name(self.show()["mirrors"])["v2"]["percent"], percent)
            self.assertEqual(self.stats()["mirrors"]["v2"]["percent"], percent,
                             "stats still shows the old default percent")

    def assert_copies(self, mirror, flowing):
        """Copies to @p mirror keep coming (or have stopped), once what was
        in flight has gone out."""
        def mirrored():
            return self.stats()["mirrors"][mirror]["mirrored_packets"]

        time.sleep(0.3)
        before = mirrored()
        time.sleep(0.5)
        after = mirrored()
        if flowing:
            self.assertGreater(after, before, f"no copies to {mirror}")
        else:
            self.assertEqual(after, before, f"copies to {mirror} go on")

    def test_mirror_off_and_on(self):
        """Off: nothing more is copied to it; on: copies again."""
        try:
            reply = self.ok({"command": "mirror", "mirror": "v3", "enabled": False})
            self.assertEqual((reply["mirror"], reply["enabled"]), ("v3", False))
            self.assertIs(by_name(self.show()["mirrors"])["v3"]["enabled"], False)
            self.assert_copies("v3", False)
        finally:
            reply = self.ok({"command": "mirror", "mirror": "v3", "enabled": True})
        self.assertEqual((reply["mirror"], reply["enabled"]), ("v3", True))
        self.assertIs(by_name(self.show()["mirrors"])["v3"]["enabled"], True)
        self.assert_copies("v3", True)

    def test_percent_applies_to_open_flows(self):
        """The generated flow is open all along: 0% stops its copies."""
        try:
            self.ok({"command": "set_mirror_percent", "mirror": "v3", "percent": 0})
            self.assert_copies("v3", False)
        finally:
            self.ok({"command": "set_mirror_percent", "mirror": "v3", "percent": 100})
        self.assert_copies("v3", True)

    def test_switching_off_twice_is_fine(self):
        for _ in range(2):
            self.ok({"command": "mirror", "mirror": "v2", "enabled": False})
        for _ in range(2):
            self.ok({"command": "mirror", "mirror": "v2", "enabled": True})
        self.assertIs(by_name(self.show()["mirrors"])["v2"]["enabled"], True)

    def test_reload_unchanged_file(self):
        self.assertEqual(self.ok({"command": "reload"})["routes"], 2)

    def test_reload_dry_run_unchanged_file(self):
        reply = self.ok({"command": "reload", "dry_run": True})
        self.assertEqual((reply["routes"], reply["dry_run"]), (2, True))
        reply = self.ok({"command": "reload", "dry_run": False})
        self.assertEqual(reply["routes"], 2)
        self.assertNotIn("dry_run", reply)

    def test_id_is_echoed(self):
        conn = self.app.connect()
        try:
            for ident in (7, "abc", 1.5, None, True, [1, "x"], {"a": [1, {"b": None}]}):
                for request in ({"command": "version", "id": ident},
                                {"command": "show", "id": ident},
                                {"command": "no_such_command", "id": ident},
                                {"command": "set_route_percent", "route": "nope",
                                 "percent": 1, "id": ident}):
                    reply = conn.call(request)
                    self.assertIn("id", reply, request)
                    self.assertEqual(reply["id"], ident, request)
        finally:
            conn.close()

    def test_one_connection_many_commands(self):
        conn = self.app.connect()
        try:
            for command in ("version", "stats", "show", "reload", "version"):
                self.assertTrue(conn.call({"command": command})["ok"], command)
        finally:
            conn.close()

    def test_socket_mode(self):
        self.assertEqual(os.stat(self.app.socket).st_mode & 0o777, 0o660)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to act as another user")
    def test_other_users_refused(self):
        """Even through a socket anyone may open, the peer's credentials
        decide (nobody, without root's supplementary groups)."""
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX)\n"
                 "s.settimeout(10)\n"
                 "s.connect(sys.argv[1])\n"
                 "try:\n"
                 "    s.sendall(b'{\"command\": \"version\"}\\n')\n"
                 "except OSError:\n"
                 "    pass\n"
                 "data = b''\n"
                 "try:\n"
                 "    while chunk := s.recv(4096):\n"
                 "        data += chunk\n"
                 "except ConnectionResetError:\n"
                 "    pass\n"
                 "print(data.decode())\n")
        os.chmod(self.app.dir, 0o711)
        os.chmod(self.app.socket, 0o666)
        try:
            proc = subprocess.run(["python3", "-c", probe, self.app.socket],
                                  user=65534, group=65534, extra_groups=[],
                                  capture_output=True, text=True, timeout=30)
        finally:
            os.chmod(self.app.socket, 0o660)
            os.chmod(self.app.dir, 0o700)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        replies = [json.loads(line) for line in filter(None, proc.stdout.splitlines())]
        self.assertEqual([r["ok"] for r in replies], [False], proc.stdout)
        self.assertIn("permission denied: uid 65534", replies[0]["error"])


# Connects to the socket in argv[1] and asks for the version; prints the
# first reply line, or {"connect": "EACCES"} when the socket file's mode
# keeps it out.
PEER_PROBE = """\
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print(json.dumps({"connect": "EACCES"}))
    sys.exit(0)
try:
    s.sendall(b'{"command": "version"}\\n')
except OSError:
    pass
data = b""
try:
    while b"\\n" not in data and (chunk := s.recv(4096)):
        data += chunk
except ConnectionResetError:
    pass
print(data.decode().split("\\n")[0])
"""


def _run_checked(*cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr}")


@unittest.skipUnless(os.geteuid() == 0,
                     "NOT TESTED: the socket's group check needs root (useradd, groupadd)")
class PeerGroups(unittest.TestCase):
    """The appliance runs with a group of its own (as with Group= in the
    unit): a client in it, as its primary or only as a supplementary group,
    is served; any other user is refused, and the refusal is logged. The
    groups are the connecting process's own, not the user database's.

    A throwaway group and two users exist for the class only: a member
    (the group as a supplementary one) and an outsider."""

    @classmethod
    def setUpClass(cls):
        tag = os.getpid() % 100000
        cls.group = f"st-ctl-g{tag}"
        member, outsider = f"st-ctl-m{tag}", f"st-ctl-o{tag}"
        _run_checked("groupadd", "--system", cls.group)
        cls.addClassCleanup(_run_checked, "groupdel", cls.group)
        for user, groups in ((member, ["--groups", cls.group]), (outsider, [])):
            _run_checked("useradd", "--system", "--user-group", "--no-create-home",
                         "--shell", "/usr/sbin/nologin", *groups, user)
            cls.addClassCleanup(_run_checked, "userdel", user)
        cls.gid = grp.getgrnam(cls.group).gr_gid
        cls.member = pwd.getpwnam(member)
        cls.outsider = pwd.getpwnam(outsider)
        cls.app = Appliance(CONFIG, group=cls.gid)
        cls.addClassCleanup(cls.app.stop)
        # Others may pass through the directory to the socket; its mode
        # and owner then decide who connects.
        os.chmod(cls.app.dir, 0o711)

    def probe(self, user, *groups, gid=None):
        """The probe as @p user (a pwd entry), with its own primary group
        or @p gid, and setpriv's group options @p groups; returns its one
        line, parsed."""
        gid = user.pw_gid if gid is None else gid
        proc = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={gid}",
                               *groups,
                               "python3", "-c", PEER_PROBE, self.app.socket],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_socket_belongs_to_the_group(self):
        st = os.stat(self.app.socket)
        self.assertEqual((st.st_gid, st.st_mode & 0o777), (self.gid, 0o660))

    def test_member_by_a_supplementary_group_is_served(self):
        self.assertNotEqual(self.member.pw_gid, self.gid)
        reply = self.probe(self.member, "--init-groups")
        self.assertIs(reply.get("ok"), True, reply)
        self.assertIn("version", reply)

    def test_outsider_is_refused_by_the_socket_mode(self):
        self.assertEqual(self.probe(self.outsider, "--init-groups"), {"connect": "EACCES"})

    def test_outsider_is_refused_by_the_appliance_and_logged(self):
        """With the file opened to all, the appliance's own check refuses."""
        os.chmod(self.app.socket, 0o666)
        try:
            reply = self.probe(self.outsider, "--init-groups")
        finally:
            os.chmod(self.app.socket, 0o660)
        self.assertIs(reply.get("ok"), False, reply)
        why = (f"permission denied: uid {self.outsider.pw_uid} (pid ")
        self.assertIn(why, reply["error"])
        self.assertIn(f"nor in group {self.gid}", reply["error"])
        log = [line for line in self.app.output().splitlines()
               if "refused a client" in line and why in line]
        self.assertTrue(log, self.app.output())

    def test_the_process_groups_decide_not_the_user_database(self):
        """The member without its groups (setpriv --clear-groups) is
        refused; the outsider given the group by its parent is served, as
        is one with it as its primary group."""
        os.chmod(self.app.socket, 0o666)
        try:
            dropped = self.probe(self.member, "--clear-groups")
            given = self.probe(self.outsider, f"--groups={self.gid}")
            primary = self.probe(self.outsider, "--clear-groups", gid=self.gid)
        finally:
            os.chmod(self.app.socket, 0o660)
        self.assertIs(dropped.get("ok"), False, dropped)
        self.assertIn(f"uid {self.member.pw_uid} ", dropped["error"])
        self.assertIs(given.get("ok"), True, given)
        self.assertIs(primary.get("ok"), True, primary)


# The config after an edit: api at 30%, a new route, health unchanged.
RELOADED = CONFIG.replace("    percent: 50\n", "    percent: 30\n") + """\
  - name: static
    match: { path: "^/static/" }
    mirror: v2
    percent: 5
"""


class Reload(ApplianceTest):
    """reload applies the file, or refuses it and changes nothing."""

    def setUp(self):
        self.app.write_config(CONFIG)
        self.ok({"command": "reload"})

    def tearDown(self):
        self.app.write_config(CONFIG)

    def test_reload_applies_the_file(self):
        self.ok({"command": "set_route_percent", "route": "api", "percent": 77})
        self.ok({"command": "set_mirror_percent", "mirror": "v2", "percent": 44})
        generation = self.show()["generation"]
        self.app.write_config(RELOADED)
        self.assertEqual(self.ok({"command": "reload"})["routes"], 3)
        shown = self.show()
        self.assertGreater(shown["generation"], generation)
        routes = by_name(shown["routes"])
        self.assertEqual(list(routes), ["health", "api", "static"])
        self.assertEqual(routes["api"]["percent"], 30)
        self.assertEqual(routes["static"]["percent"], 5)
        self.assertEqual(routes["static"]["mirrors"], ["v2"])
        # Run-time changes are lost: the file applies.
        self.assertEqual(by_name(shown["mirrors"])["v2"]["percent"], 10)
        self.assertEqual(list(self.stats()["routes"]), ["health", "api", "static"])
        self.ok({"command": "set_route_percent", "route": "static", "percent": 9})
        self.assertEqual(by_name(self.show()["routes"])["static"]["percent"], 9)

    def test_reload_can_remove_routes(self):
        self.app.write_config(CONFIG.split("routes:\n")[0])
        self.assertEqual(self.ok({"command": "reload"})["routes"], 0)
        self.assertEqual(self.show()["routes"], [])
        self.refused({"command": "set_route_percent", "route": "api", "percent": 1}, "api")

    def test_dry_run_changes_nothing(self):
        """A dry run of a good file says what a reload would, and that is
        all: run-time changes stay, the routes stay, the generation too."""
        self.ok({"command": "set_route_percent", "route": "api", "percent": 77})
        self.ok({"command": "mirror", "mirror": "v2", "enabled": False})
        before = self.show()
        self.app.write_config(RELOADED)
        reply = self.ok({"command": "reload", "dry_run": True})
        self.assertEqual((reply["routes"], reply["dry_run"]), (3, True))
        self.assertEqual(self.show(), before)
        self.assertEqual(list(self.stats()["routes"]), ["health", "api"])
        self.assertEqual(self.ok({"command": "reload"})["routes"], 3)
        self.assertEqual([r["name"] for r in self.show()["routes"]],
                         ["health", "api", "static"])

    def test_dry_run_argument(self):
        before = self.show()
        for request, fragment in (
                ({"command": "reload", "dry_run": "yes"}, "'dry_run' must be true or false"),
                ({"command": "reload", "dry_run": 1}, "'dry_run' must be true or false"),
                ({"command": "reload", "dry_run": None}, "'dry_run' must be true or false"),
                ({"command": "reload", "dryrun": True}, "reload takes no 'dryrun'")):
            self.refused(request, fragment)
        self.assertEqual(self.show(), before)

    def assert_refused_unchanged(self, text, *fragments):
        """Reload @p text: refused naming the file, nothing changes. A dry
        run is refused first, with the same message."""
        self.ok({"command": "set_route_percent", "route": "api", "percent": 66})
        self.ok({"command": "mirror", "mirror": "v2", "enabled": False})
        before = self.show()
        self.app.write_config(text)
        dry = self.refused({"command": "reload", "dry_run": True}, *fragments)
        self.assertEqual(self.show(), before, f"a refused dry run changed the config: {dry}")
        reply = self.refused({"command": "reload"}, *fragments)
        self.assertEqual(dry["error"], reply["error"])
        self.assertEqual(self.show(), before, f"a refused reload changed the config: {reply}")
        self.assertIn("api", self.stats()["routes"])
        # And the file, once fixed, reloads.
        self.app.write_config(CONFIG)
        self.assertEqual(self.ok({"command": "reload"})["routes"], 2)
        return reply

    def test_bad_regex(self):
        """Only Hyperscan finds it: the dry run compiles the routes."""
        self.assert_refused_unchanged(
            CONFIG.replace('"^/api/"', '"^/api/(["'),
            f"{self.app.config}:{API_PATH_LINE}: route 'api'")

    def test_malformed_device_name(self):
        self.assert_refused_unchanged(
            CONFIG.replace("port: net_null3", "port: 3b:00.0"),
            f"{self.app.config}:{V3_PORT_LINE}:", "'0000:3b:00.0'")

    def test_bad_yaml(self):
        reply = self.assert_refused_unchanged(
            CONFIG.replace("routes:\n", "routes: [\n"), self.app.config)
        self.assertRegex(reply["error"], re.escape(self.app.config) + r":\d+:")

    def test_unknown_key(self):
        self.assert_refused_unchanged(CONFIG + "rootes: []\n",
                                      f"{self.app.config}:{CONFIG.count(chr(10)) + 1}:",
                                      "rootes")

    def test_changed_wire_port(self):
        self.assert_refused_unchanged(
            CONFIG.replace("server: net_null1", "server: net_null4"),
            f"{self.app.config}:{SERVER_PORT_LINE}:")

    def test_changed_mirror_port(self):
        self.assert_refused_unchanged(
            CONFIG.replace("port: net_null3", "port: net_null4"),
            f"{self.app.config}:{V3_PORT_LINE}:")

    def test_changed_mirrors(self):
        reply = self.assert_refused_unchanged(
            CONFIG.replace("name: v3", "name: v4").replace("[v2, v3]", "[v2, v4]"),
            self.app.config)
        self.assertRegex(reply["error"], re.escape(self.app.config) + r":\d+:")

    def test_changed_flow_table(self):
        reply = self.assert_refused_unchanged(
            CONFIG + "flow_table:\n  size: 1024\n", self.app.config)
        self.assertRegex(reply["error"], re.escape(self.app.config) + r":\d+:")

    def test_missing_file(self):
        before = self.show()
        os.unlink(self.app.config)
        self.refused({"command": "reload", "dry_run": True}, self.app.config)
        self.refused({"command": "reload"}, self.app.config)
        self.assertEqual(self.show(), before)


class Malformed(ApplianceTest):
    """Whatever a client sends gets an error reply, never a crash or a hang;
    after each test the appliance still answers on a new connection."""

    def setUp(self):
        self.conn = self.app.connect()

    def tearDown(self):
        self.conn.close()
        self.assert_alive()

    def assert_error_then_open(self, data, *fragments):
        """@p data gets one error reply; the connection stays usable."""
        self.conn.send(data)
        self.assert_error(self.conn.reply(), *fragments, request=data)
        self.assertTrue(self.conn.call({"command": "version"})["ok"],
                        f"connection unusable after {data!r}")

    def test_not_json(self):
        for line in (b'{"command": "vers', b'{"command": "version"', b"{", b"}",
                     b"hello", b'{"command": version}', b"{'command': 'version'}",
                     b'{"command": "version"} {"command": "version"}',
                     b'{"command": "version"},', b"[" * 60000, b"1e400",
                     b'{"command": "set_route_percent", "route": "api", "percent": 1e400}'):
            self.assert_error_then_open(line + b"\n")

    def test_not_an_object(self):
        for line in (b"[1]", b'"x"', b"42", b"null", b"true", b"3.5", b"[]",
                     b'[{"command": "version"}]'):
            self.assert_error_then_open(line + b"\n")

    def test_empty_and_blank_lines(self):
        for line in (b"\n", b"   \n", b"\t\n", b"\r\n"):
            self.assert_error_then_open(line)

    def test_crlf_line_end(self):
        """JSON allows \\r as white space: a CRLF line is a good request."""
        self.conn.send(b'{"command": "version", "id": 1}\r\n')
        self.assertEqual(self.conn.reply()["id"], 1)

    def test_unknown_or_missing_command(self):
        for request in ({"command": "explode"}, {"command": ""}, {"command": "VERSION"},
                        {"command": "version\u0000"}, {}, {"id": 3},
                        {"command": 5}, {"command": None}, {"command": ["version"]},
                        {"Command": "version"}):
            self.assert_error_then_open(request)

    def test_missing_arguments(self):
        for request in ({"command": "set_route_percent", "route": "api"},
                        {"command": "set_route_percent", "percent": 10},
                        {"command": "set_route_percent"},
                        {"command": "set_mirror_percent", "mirror": "v2"},
                        {"command": "set_mirror_percent", "percent": 10},
                        {"command": "mirror", "mirror": "v2"},
                        {"command": "mirror", "enabled": False}):
            self.assert_error_then_open(request)

    def test_wrong_types_and_ranges(self):
        before = self.show()
        for request in (
                {"command": "set_route_percent", "route": "api", "percent": "10"},
                {"command": "set_route_percent", "route": "api", "percent": 101},
                {"command": "set_route_percent", "route": "api", "percent": 100.0001},
                {"command": "set_route_percent", "route": "api", "percent": -1},
                {"command": "set_route_percent", "route": "api", "percent": -0.001},
                {"command": "set_route_percent", "route": "api", "percent": None},
                {"command": "set_route_percent", "route": "api", "percent": True},
                {"command": "set_route_percent", "route": "api", "percent": [10]},
                {"command": "set_route_percent", "route": 5, "percent": 10},
                {"command": "set_route_percent", "route": ["api"], "percent": 10},
                {"command": "set_route_percent", "route": None, "percent": 10},
                {"command": "set_mirror_percent", "mirror": "v2", "percent": "10"},
                {"command": "set_mirror_percent", "mirror": "v2", "percent": 101},
                {"command": "set_mirror_percent", "mirror": "v2", "percent": -1},
                {"command": "set_mirror_percent", "mirror": 2, "percent": 10},
                {"command": "mirror", "mirror": "v2", "enabled": "yes"},
                {"command": "mirror", "mirror": "v2", "enabled": 0},
                {"command": "mirror", "mirror": "v2", "enabled": None},
                {"command": "mirror", "mirror": 5, "enabled": True}):
            self.assert_error_then_open(request)
        self.assertEqual(self.show(), before, "a refused request changed something")

    def test_unknown_names(self):
        before = self.show()
        for request, name in (
                ({"command": "set_route_percent", "route": "nope", "percent": 10}, "nope"),
                ({"command": "set_route_percent", "route": "", "percent": 10}, None),
                ({"command": "set_route_percent", "route": "API", "percent": 10}, "API"),
                ({"command": "set_route_percent", "route": "v2", "percent": 10}, "v2"),
                ({"command": "set_mirror_percent", "mirror": "nope", "percent": 10}, "nope"),
                ({"command": "set_mirror_percent", "mirror": "api", "percent": 10}, "api"),
                ({"command": "mirror", "mirror": "nope", "enabled": False}, "nope"),
                ({"command": "mirror", "mirror": "x" * 5000, "enabled": False}, None)):
            self.assert_error_then_open(request, *([name] if name else []))
        self.assertEqual(self.show(), before, "a refused request changed something")

    def test_binary_garbage_with_nul_bytes(self):
        for line in (b"\x00", b"\x00\x01\x02\xff\xfe\x80", b'\x00{"command": "version"}',
                     b'{"command": "version"}\x00', b'{"command": "vers\x00ion"}',
                     bytes(range(256)).replace(b"\n", b""), os.urandom(4096).replace(b"\n", b"")):
            self.assert_error_then_open(line + b"\n")

    def test_invalid_utf8(self):
        for line in (b'{"command": "version", "id": "\xff\xfe"}', b'{"command": "\xc3\x28"}',
                     b'{"command": "version", "id": "\xed\xa0\x80"}',  # a surrogate
                     b'{"command": "version", "id": "\xc0\xaf"}',      # overlong
                     b'{"command": "mirror", "mirror": "v\xe9", "enabled": true}'):
            self.assert_error_then_open(line + b"\n")

    def test_long_line_closes_the_connection(self):
        line = json.dumps({"command": "version", "id": "x" * (100 * 1024)}).encode() + b"\n"
        try:
            self.conn.send(line)
        except (BrokenPipeError, ConnectionResetError):
            pass    # it may close before reading it all; the reply is queued
        self.assert_error(self.conn.reply(), "line too long")
        self.assertTrue(self.conn.closed_by_peer(), "still open after a line too long")

    def test_long_line_without_newline(self):
        """No newline at all: refused once it passes the limit, not when it ends."""
        try:
            self.conn.send(b"x" * (MAX_LINE + 1))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assert_error(self.conn.reply(), "line too long")
        self.assertTrue(self.conn.closed_by_peer())

    def test_line_just_under_the_limit(self):
        """60 KiB is within 64 KiB: served, and the large reply arrives whole."""
        ident = "y" * (60 * 1024)
        reply = self.conn.call({"command": "version", "id": ident})
        self.assertTrue(reply["ok"])
        self.assertEqual(reply["id"], ident)

    def test_line_of_exactly_64_kib(self):
        """64 KiB is not longer than 64 KiB (the newline aside)."""
        request = {"command": "version", "id": ""}
        request["id"] = "z" * (MAX_LINE - len(json.dumps(request)))
        line = json.dumps(request).encode()
        self.assertEqual(len(line), MAX_LINE)
        self.conn.send(line + b"\n")
        self.assertTrue(self.conn.reply()["ok"], "a line of exactly 64 KiB refused")

    def test_pipelined_requests_answered_in_order(self):
        requests = []
        for i in range(300):
            kind = i % 5
            if kind == 0:
                requests.append({"command": "version", "id": i})
            elif kind == 1:
                requests.append({"command": "stats", "id": i})
            elif kind == 2:
                requests.append({"command": "no_such", "id": i})
            elif kind == 3:
                requests.append({"command": "set_route_percent", "route": "api",
                                 "percent": i % 101, "id": i})
            else:
                requests.append({"command": "show", "id": i})
        self.conn.send(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        for i, request in enumerate(requests):
            reply = self.conn.reply()
            self.assertEqual(reply.get("id"), i)
            self.assertEqual(reply["ok"], request["command"] != "no_such", reply)
            if request["command"] == "set_route_percent":
                self.assertEqual(reply["percent"], request["percent"])
        self.assertEqual(by_name(self.show()["routes"])["api"]["percent"], 298 % 101)

    def test_request_split_across_writes(self):
        pieces = [b'{"comm', b'and": "ver', b'sion", "i', b'd": 42', b"}", b"\n"]
        for piece in pieces:
            self.conn.send(piece)
            time.sleep(0.15)
        self.assertEqual(self.conn.reply()["id"], 42)
        # One byte at a time, two requests.
        for byte in b'{"command": "show", "id": 1}\n{"command": "version", "id": 2}\n':
            self.conn.send(bytes([byte]))
            time.sleep(0.002)
        self.assertEqual(self.conn.reply()["id"], 1)
        self.assertEqual(self.conn.reply()["id"], 2)

    def test_client_that_sends_nothing(self):
        for _ in range(5):
            silent = self.app.connect()
            time.sleep(0.1)
            silent.close()
        # One that stays silent does not hold up the others.
        silent = self.app.connect()
        try:
            self.assert_alive()
        finally:
            silent.close()

    def test_client_that_leaves_mid_line(self):
        for partial in (b'{"command": "ver', b"{", b"x" * 50000):
            leaver = self.app.connect()
            leaver.send(partial)
            leaver.close()
        # Shut down for writing only: whatever it makes of the unfinished
        # line, it then closes the connection.
        half = self.app.connect()
        half.send(b'{"command": "version", "id": 9}')
        half.sock.shutdown(socket.SHUT_WR)
        half.sock.settimeout(TIMEOUT_S)
        try:
            while half.sock.recv(1 << 16):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail("a client that shut down writing is never closed")
        half.close()

    def test_client_that_leaves_before_its_replies(self):
        """Replies to a closed client are dropped, not a SIGPIPE."""
        for _ in range(3):
            leaver = self.app.connect()
            leaver.send(b'{"command": "stats"}\n' * 200)
            leaver.close()
        time.sleep(0.3)

    def test_client_that_never_reads(self):
        """A client that sends and never reads does not stall the others."""
        hog = self.app.connect()
        try:
            hog.sock.setblocking(False)
            request = b'{"command": "stats"}\n' * 100
            sent = 0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sent < 20000:
                try:
                    hog.sock.send(request)
                    sent += 100
                except BlockingIOError:
                    time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    break   # closing a client that does not read is fair
            start = time.monotonic()
            self.assert_alive()
            self.assertLess(time.monotonic() - start, 3,
                            "others wait for a client that never reads")
        finally:
            hog.close()


class Clients(ApplianceTest):
    """Up to 64 clients at once; one more is told so and closed."""

    def test_64_clients_50_requests_each(self):
        barrier = threading.Barrier(MAX_CLIENTS)
        errors = []

        def client(n):
            try:
                conn = self.app.connect(timeout=60)
                try:
                    barrier.wait(timeout=60)    # all 64 connected at once
                    for i in range(50):
                        ident = f"{n}-{i}"
                        kind = i % 5
                        if kind == 0:
                            request = {"command": "version"}
                        elif kind == 1:
                            request = {"command": "stats"}
                        elif kind == 2:
                            request = {"command": "show"}
                        elif kind == 3:
                            request = {"command": "set_mirror_percent", "mirror": "v2",
                                       "percent": n}
                        else:
                            request = {"command": "mirror", "mirror": f"none-{n}",
                                       "enabled": True}
                        request["id"] = ident
                        conn.send(request)
                        reply = conn.reply(timeout=60)
                        expect_ok = kind != 4
                        if reply.get("id") != ident or reply["ok"] != expect_ok:
                            errors.append(f"client {n}: {request} -> {reply}")
                            return
                        if kind == 1 and set(reply["stats"]["mirrors"]) != {"v2", "v3"}:
                            errors.append(f"client {n}: bad stats {reply}")
                            return
                        if kind == 3 and reply["percent"] != n:
                            errors.append(f"client {n}: {request} -> {reply}")
                            return
                finally:
                    conn.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"client {n}: {type(e).__name__}: {e}")
                barrier.abort()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(MAX_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        self.assertFalse(any(t.is_alive() for t in threads), "clients hung")
        self.assertEqual(errors, [])
        self.assert_alive()

    def open_all(self):
        """MAX_CLIENTS connections, each known to be served."""
        time.sleep(0.5)     # earlier tests' connections are gone by now
        conns = []
        for n in range(MAX_CLIENTS):
            conn = self.app.connect()
            conns.append(conn)
            reply = conn.call({"command": "version", "id": n})
            self.assertTrue(reply["ok"], f"connection {n + 1} refused: {reply}")
        return conns

    def assert_told_and_closed(self, conn):
        try:
            conn.send({"command": "version", "id": "extra"})
        except (BrokenPipeError, ConnectionResetError):
            pass    # closed already; the reply must be waiting
        self.assert_error(conn.reply())
        self.assertTrue(conn.closed_by_peer(), "the client over the limit is not closed")

    def test_one_client_too_many(self):
        conns = self.open_all()
        try:
            extra = self.app.connect()
            self.assert_told_and_closed(extra)
            extra.close()
            # The 64 are still served.
            for n, conn in enumerate(conns):
                self.assertEqual(conn.call({"command": "show", "id": n})["id"], n)
            # shadowtapctl as the extra one: an error reply, status 1.
            proc = subprocess.run([shadowtapctl_binary(), "-s", self.app.socket, "version"],
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 1, proc)
            self.assertTrue(proc.stderr.strip(), proc)
            # A slot freed is a slot for the next one.
            conns.pop().close()
            deadline = time.monotonic() + 5
            while True:
                conn = self.app.connect()
                try:
                    conn.send({"command": "version"})
                    reply = conn.reply()
                except (BrokenPipeError, ConnectionResetError):
                    # Refused and closed before the request was read:
                    # the appliance has not seen the slot freed yet.
                    reply = {"ok": False}
                if reply["ok"] or time.monotonic() > deadline:
                    break
                conn.close()
            conns.append(conn)
            self.assertTrue(reply["ok"], "a freed slot is not given to a new client")
        finally:
            for conn in conns:
                conn.close()
        time.sleep(0.5)
        self.assert_alive()


class FakeAppliance:
    """A listening socket that answers the way @p serve(conn) says."""

    def __init__(self, serve):
        self.tmp = tempfile.TemporaryDirectory(prefix="st_fake_")
        self.path = os.path.join(self.tmp.name, "fake.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        self.serve = serve
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.server.accept()
        with conn:
            try:
                self.serve(conn)
            except OSError:
                pass

    def close(self):
        self.server.close()
        self.thread.join(timeout=10)
        self.tmp.cleanup()


def read_request(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


class Ctl(ApplianceTest):
    """shadowtapctl: output and exit status."""

    def ctl(self, *args, path=None, timeout=30):
        return subprocess.run([shadowtapctl_binary(), "-s", path or self.app.socket, *args],
                              capture_output=True, text=True, timeout=timeout)

    def assert_status(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         f"{proc.args}: stdout {proc.stdout!r} stderr {proc.stderr!r}")

    def test_version(self):
        proc = self.ctl("version")
        self.assert_status(proc, 0)
        self.assertIn(self.ok({"command": "version"})["version"], proc.stdout)
        self.assertIn("DPDK 22.11", proc.stdout)

    def test_stats_json(self):
        proc = self.ctl("stats")
        self.assert_status(proc, 0)
        stats = json.loads(proc.stdout)
        self.assertEqual(set(stats["ports"]), {"client", "server"})
        self.assertEqual(set(stats["mirrors"]), {"v2", "v3"})
        self.assertGreater(stats["rx_packets"], 0)

    def test_stats_table(self):
        proc = self.ctl("-H", "stats")
        self.assert_status(proc, 0)
        for word in ("client", "server", "v2", "v3", "health", "api", "(unrouted)",
                     "rx", "forwarded", "dropped", "ring_full", "no_mbuf", "link_down",
                     "requests", "flows selected"):
            self.assertIn(word, proc.stdout)
        mirror_line = next(l for l in proc.stdout.splitlines() if l.startswith("v2 "))
        self.assertEqual(mirror_line.split()[1], "10", "default percent of v2")
        self.assertRaises(ValueError, json.loads, proc.stdout)

    def test_show(self):
        proc = self.ctl("show")
        self.assert_status(proc, 0)
        shown = json.loads(proc.stdout)
        self.assertNotIn("ok", shown)
        self.assertEqual([m["name"] for m in shown["mirrors"]], ["v2", "v3"])
        self.assertEqual([r["name"] for r in shown["routes"]], ["health", "api"])

    def test_set_percent(self):
        for kind, name, section in (("route", "api", "routes"), ("mirror", "v2", "mirrors")):
            for percent in ("25", "12.5", "0", "100", "10"):
                proc = self.ctl("set", kind, name, "percent", percent)
                self.assert_status(proc, 0)
                self.assertEqual(len(proc.stdout.splitlines()), 1, proc.stdout)
                self.assertTrue(proc.stdout.startswith(f"{kind} {name}: "), proc.stdout)
                self.assertIn(f"percent {percent}\n", proc.stdout)
                self.assertEqual(by_name(self.show()[section])[name]["percent"],
                                 float(percent))

    def test_mirror_on_off(self):
        for state, enabled in (("off", False), ("on", True)):
            proc = self.ctl("mirror", "v2", state)
            self.assert_status(proc, 0)
            self.assertEqual(proc.stdout.strip(), f"mirror v2: {state}")
            self.assertIs(by_name(self.show()["mirrors"])["v2"]["enabled"], enabled)

    def test_reload(self):
        proc = self.ctl("reload")
        self.assert_status(proc, 0)
        self.assertIn("2 routes", proc.stdout)

    def test_reload_dry_run(self):
        generation = self.show()["generation"]
        proc = self.ctl("reload", "--dry-run")
        self.assert_status(proc, 0)
        self.assertEqual(proc.stdout, "dry run: the file would reload, 2 routes; "
                                      "nothing changed\n")
        self.assertEqual(self.show()["generation"], generation)
        self.app.write_config(CONFIG.replace('"^/api/"', '"^/api/(["'))
        try:
            proc = self.ctl("reload", "--dry-run")
        finally:
            self.app.write_config(CONFIG)
        self.assert_status(proc, 1)
        self.assertIn(f"{self.app.config}:{API_PATH_LINE}:", proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertEqual(self.show()["generation"], generation)

    def test_error_reply_exits_1(self):
        for args in (("set", "route", "nope", "percent", "5"),
                     ("set", "mirror", "nope", "percent", "5"),
                     ("mirror", "nope", "off")):
            proc = self.ctl(*args)
            self.assert_status(proc, 1)
            self.assertIn("nope", proc.stderr)
            self.assertEqual(proc.stdout, "")

    def test_refused_reload_exits_1_with_the_file_line(self):
        self.app.write_config(CONFIG.replace('"^/api/"', '"^/api/(["'))
        try:
            proc = self.ctl("reload")
        finally:
            self.app.write_config(CONFIG)
        self.assert_status(proc, 1)
        self.assertIn(f"{self.app.config}:{API_PATH_LINE}:", proc.stderr)

    def test_usage_errors_exit_2_before_connecting(self):
        nowhere = os.path.join(self.app.dir, "nowhere.sock")
        for args in ((), ("bogus",), ("stats", "extra"), ("show", "-H"),
                     ("set",), ("set", "route", "api"), ("set", "route", "api", "percent"),
                     ("set", "route", "api", "percent", "101"),
                     ("set", "route", "api", "percent", "-1"),
                     ("set", "route", "api", "percent", "abc"),
                     ("set", "route", "api", "percent", ""),
                     ("set", "route", "api", "percent", "nan"),
                     ("set", "route", "api", "percent", "inf"),
                     ("set", "route", "api", "percent", "0x10"),
                     ("set", "route", "api", "percent", "1.2.3"),
                     ("set", "route", "api", "percent", " 5"),
                     ("set", "route", "api", "percent", "5", "extra"),
                     ("set", "route", "api", "share", "5"),
                     ("set", "port", "api", "percent", "5"),
                     ("mirror", "v2"), ("mirror", "v2", "yes"), ("mirror", "v2", "ON"),
                     ("watch", "-n"), ("watch", "-n", "0"), ("watch", "-n", "x"),
                     ("watch", "-n", "-1"), ("watch", "5"), ("watch", "-x", "2"),
                     ("version", "now"), ("reload", "--bogus"), ("reload", "dry-run"),
                     ("reload", "--dry-run", "now")):
            proc = self.ctl(*args, path=nowhere)
            self.assert_status(proc, 2)
            self.assertIn("usage", proc.stderr)
            self.assertNotIn("cannot reach", proc.stderr)
        proc = subprocess.run([shadowtapctl_binary(), "-s"], capture_output=True, text=True,
                              timeout=30)
        self.assert_status(proc, 2)
        proc = subprocess.run([shadowtapctl_binary(), "-Z", "version"], capture_output=True,
                              text=True, timeout=30)
        self.assert_status(proc, 2)

    def test_help(self):
        proc = subprocess.run([shadowtapctl_binary(), "-h"], capture_output=True, text=True,
                              timeout=30)
        self.assert_status(proc, 0)
        for command in ("stats", "show", "set route", "set mirror", "mirror NAME",
                        "reload [--dry-run]", "watch", "version"):
            self.assertIn(command, proc.stdout)

    def test_unreachable_exits_2(self):
        nowhere = os.path.join(self.app.dir, "nowhere.sock")
        proc = self.ctl("version", path=nowhere)
        self.assert_status(proc, 2)
        self.assertIn(f"cannot reach {nowhere}:", proc.stderr)
        # A socket file nobody listens on, a regular file, a too long path.
        with tempfile.TemporaryDirectory() as tmp:
            dead = os.path.join(tmp, "dead.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(dead)
            s.close()
            regular = os.path.join(tmp, "file")
            open(regular, "w").close()
            for path in (dead, regular, "/" + "x" * 200):
                proc = self.ctl("stats", path=path)
                self.assert_status(proc, 2)
                self.assertIn(f"cannot reach {path}:", proc.stderr)

    def test_default_socket_path(self):
        proc = subprocess.run([shadowtapctl_binary(), "version"], capture_output=True,
                              text=True, timeout=30)
        if not os.path.exists("/run/shadowtap/ctl.sock"):
            self.assert_status(proc, 2)
            self.assertIn("cannot reach /run/shadowtap/ctl.sock:", proc.stderr)

    def fake(self, serve, *args, timeout=30):
        fake = FakeAppliance(serve)
        try:
            start = time.monotonic()
            proc = self.ctl(*args, path=fake.path, timeout=timeout)
            return proc, time.monotonic() - start
        finally:
            fake.close()

    def test_stuck_appliance_times_out(self):
        def never_answer(conn):
            read_request(conn)
            conn.recv(1)    # until the client gives up

        proc, elapsed = self.fake(never_answer, "version")
        self.assert_status(proc, 2)
        self.assertIn("no reply", proc.stderr)
        self.assertLess(elapsed, 9)

    def test_trickling_appliance_times_out(self):
        """The timeout is for the whole reply, not for each read."""
        def trickle(conn):
            read_request(conn)
            for _ in range(40):
                conn.sendall(b" ")
                time.sleep(0.25)

        proc, elapsed = self.fake(trickle, "version")
        self.assert_status(proc, 2)
        self.assertLess(elapsed, 9)

    def test_large_reply_in_pieces(self):
        stats = self.stats()
        stats["routes"] = {f"route{i}": {"requests": i, "flows_selected": 0,
                                          "mirrored_packets": i, "mirrored_bytes": 0}
                           for i in range(20000)}
        reply = json.dumps({"ok": True, "stats": stats}).encode() + b"\n"
        self.assertGreater(len(reply), 1 << 20)

        def in_pieces(conn):
            self.assertEqual(read_request(conn), {"command": "stats"})
            for i in range(0, len(reply), 997):
                conn.sendall(reply[i:i + 997])
                if i % (997 * 100) == 0:
                    time.sleep(0.01)

        proc, _ = self.fake(in_pieces, "stats")
        self.assert_status(proc, 0)
        self.assertEqual(json.loads(proc.stdout), stats)
        proc, _ = self.fake(in_pieces, "-H", "stats")
        self.assert_status(proc, 0)
        self.assertIn("route19999", proc.stdout)

    def test_broken_replies_exit_2(self):
        for answer in (b"not json\n", b"[1]\n", b'{"version": "1"}\n', b""):
            def serve(conn, answer=answer):
                read_request(conn)
                conn.sendall(answer)

            proc, _ = self.fake(serve, "version")
            self.assert_status(proc, 2)
            self.assertTrue(proc.stderr, proc)

    def test_error_reply_from_any_appliance(self):
        def refuse(conn):
            read_request(conn)
            conn.sendall(b'{"ok": false, "error": "too many clients"}\n')

        proc, _ = self.fake(refuse, "show")
        self.assert_status(proc, 1)
        self.assertIn("too many clients", proc.stderr)

    def screens(self, text):
        return text.count("per-second rates")

    def client_rx_rates(self, text):
        return [float(l.split()[1]) for l in text.splitlines() if l.startswith("client ")]

    def test_watch_two_screens(self):
        start = time.monotonic()
        proc = self.ctl("watch", "-n", "2")
        elapsed = time.monotonic() - start
        self.assert_status(proc, 0)
        self.assertEqual(self.screens(proc.stdout), 2, proc.stdout)
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 8)
        self.assertNotIn("\x1b[", proc.stdout, "screen cleared on a pipe")
        for word in ("client", "server", "v2", "v3", "health", "api",
                     "rx/s", "forwarded/s", "dropped/s", "copies/s", "drops/s", "requests/s"):
            self.assertIn(word, proc.stdout)
        rates = self.client_rx_rates(proc.stdout)
        self.assertEqual(len(rates), 2)
        self.assertTrue(all(r > 0 for r in rates), proc.stdout)
        # v3 copies every frame: its copy rate is close to the rx rate.
        copies = [float(l.split()[1]) for l in proc.stdout.splitlines()
                  if l.startswith("v3 ")]
        self.assertTrue(all(c > 0 for c in copies), proc.stdout)

    def test_watch_stops_on_sigint(self):
        proc = subprocess.Popen([shadowtapctl_binary(), "-s", self.app.socket, "watch"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("watch did not stop on SIGINT")
        self.assertEqual(proc.returncode, 0, err)
        self.assertGreaterEqual(self.screens(out), 1, out)

    def test_watch_clears_a_terminal(self):
        master, slave = pty.openpty()
        proc = subprocess.Popen([shadowtapctl_binary(), "-s", self.app.socket,
                                 "watch", "-n", "2"],
                                stdout=slave, stderr=subprocess.DEVNULL)
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break       # EIO: the other end is closed
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        os.close(master)
        self.assertEqual(proc.wait(timeout=10), 0)
        self.assertEqual(out.count(b"\x1b[2J"), 2, out)
        self.assertEqual(out.count(b"per-second rates"), 2, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
