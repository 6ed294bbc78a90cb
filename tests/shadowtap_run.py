"""Run shadowtap between net_pcap ports and collect what it sent.

Every port is a DPDK net_pcap vdev: the wire ports read one pcap per RX
queue and write one pcap per TX queue (one queue per worker), each shadow
port writes one pcap per worker. The run stops by itself (--idle-exit)
once every queue has been read.
"""

import itertools
import json
import os
import subprocess
from dataclasses import dataclass, field

from pcaplib import read_pcap, write_pcap

_run_ids = itertools.count()


@dataclass
class Mirror:
    name: str
    percent: float | None   # None: leave it to the config's default
    device: str | None = None   # a vdev of its own (e.g. net_ring0), else a pcap port
    truncate: int | None = None  # bytes of the original kept (0: all); None: not said
    # None: not said; a string is written as it is ("none", or YAML of one's own);
    # a dict is written as a flow mapping, e.g. {"type": "vlan", "vlan_id": 100}
    encap: dict | str | None = None


@dataclass
class Result:
    """What one run sent out of each port, per TX queue, and its counters."""
    client_out: list          # frames sent out of the client port, per queue
    server_out: list          # frames sent out of the server port, per queue
    mirrors: dict             # mirror name -> frames per queue
    stats: dict
    returncode: int
    output: str = field(repr=False)

    def mirror_frames(self, name):
        """All frames a mirror got, queue after queue."""
        return [f for queue in self.mirrors[name] for f in queue]


def eal_runtime_dir(prefix):
    """EAL's runtime directory for a --file-prefix: /var/run/dpdk/PREFIX as
    root, else under $XDG_RUNTIME_DIR (as EAL and dpdk-telemetry.py place
    it)."""
    base = "/var/run/dpdk" if os.getuid() == 0 else \
        os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
    return os.path.join(base, prefix)


def shadowtap_binary():
    """The binary under test: $SHADOWTAP, else the default build's."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("SHADOWTAP",
                          os.path.join(here, "..", "build", "shadowtap"))


def _lcores(workers):
    """Main lcore on CPU 0, workers spread over the CPUs there are."""
    cpus = os.cpu_count() or 1
    return ",".join(f"{lcore}@{lcore % cpus}" for lcore in range(workers + 1))


def _pcap_vdev(index, rx_files, tx_files):
    args = [f"rx_pcap={f}" for f in rx_files] + [f"tx_pcap={f}" for f in tx_files]
    return "--vdev=" + ",".join([f"net_pcap{index}"] + args)


def _mirror_port(i, m):
    return m.device.split(",")[0] if m.device else f"net_pcap{i + 2}"


def _yaml_scalar(value):
    """A config value as YAML: booleans in lower case, text with a colon
    (a MAC, an IPv6 address) quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return f'"{text}"' if ":" in text else text


def _encap_yaml(encap):
    if isinstance(encap, str):
        return encap
    return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in encap.items()) + "}"


def _config(mirrors, extra):
    lines = ["ports:", "  client: net_pcap0", "  server: net_pcap1"]
    if mirrors:
        lines.append("mirrors:")
    for i, m in enumerate(mirrors):
        lines += [f"  - name: {m.name}", f"    port: {_mirror_port(i, m)}"]
        if m.percent is not None:   # None: the config's default
            lines.append(f"    percent: {m.percent}")
        if m.truncate is not None:
            lines.append(f"    truncate: {m.truncate}")
        if m.encap is not None:
            lines.append(f"    encap: {_encap_yaml(m.encap)}")
    return "\n".join(lines) + "\n" + extra


def run(workdir, client_queues, server_queues, mirrors, extra_config="",
        idle_exit_ms=1000, timeout_s=300, check=True):
    """Run shadowtap once.

    client_queues / server_queues: a list of frame lists per RX queue; their
    length is the number of workers. Returns a Result; with check=True a
    non-zero exit raises with the program's output.
    """
    workers = len(client_queues)
    assert workers == len(server_queues) and workers > 0
    run_dir = os.path.join(workdir, f"run{next(_run_ids)}")
    os.makedirs(run_dir)

    def path(name):
        return os.path.join(run_dir, name)

    vdevs = []
    for port, (side, queues) in enumerate((("client", client_queues),
                                           ("server", server_queues))):
        rx = []
        for q, frames in enumerate(queues):
            write_pcap(path(f"{side}_in{q}.pcap"), frames)
            rx.append(path(f"{side}_in{q}.pcap"))
        tx = [path(f"{side}_out{q}.pcap") for q in range(workers)]
        vdevs.append(_pcap_vdev(port, rx, tx))
    for i, m in enumerate(mirrors):
        vdevs.append(f"--vdev={m.device}" if m.device else
                     _pcap_vdev(i + 2, [], [path(f"{m.name}_out{q}.pcap")
                                           for q in range(workers)]))
    with open(path("config.yaml"), "w") as f:
        f.write(_config(mirrors, extra_config))

    cmd = [shadowtap_binary(), "--no-huge", "--no-pci", "-m", "512",
           f"--file-prefix=st_test_{os.getpid()}_{os.path.basename(run_dir)}",
           f"--lcores={_lcores(workers)}", "--log-level=lib.eal:error",
           *vdevs, "--", "--config", path("config.yaml"), "--socket", path("ctl.sock"),
           "--idle-exit", str(idle_exit_ms), "--stats-file", path("stats.json")]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout_s)
    if check and proc.returncode != 0:
        raise RuntimeError(f"shadowtap exited {proc.returncode}:\n"
                           f"{' '.join(cmd)}\n{proc.stdout}")
    if proc.returncode != 0:
        return Result([], [], {}, {}, proc.returncode, proc.stdout)

    def outputs(prefix):
        return [read_pcap(path(f"{prefix}_out{q}.pcap"))[1] for q in range(workers)]

    with open(path("stats.json")) as f:
        stats = json.load(f)
    return Result(outputs("client"), outputs("server"),
                  {m.name: outputs(m.name) for m in mirrors if not m.device}, stats,
                  proc.returncode, proc.stdout)


def counter_errors(result, client_frames, server_frames):
    """Check that the counters add up, packets and bytes, for the frames
    each side was given; returns a list of problems."""
    errors = []
    s = result.stats
    for side, frames in (("client", client_frames), ("server", server_frames)):
        port = s["ports"][side]
        if port["rx_packets"] != len(frames):
            errors.append(f"{side}: rx_packets {port['rx_packets']} != {len(frames)} sent")
        if port["rx_packets"] != port["forwarded_packets"] + port["dropped_packets"]:
            errors.append(f"{side}: rx {port['rx_packets']} != forwarded "
                          f"{port['forwarded_packets']} + dropped {port['dropped_packets']}")
        sent_bytes = sum(len(f) for f in frames)
        if port["rx_bytes"] != sent_bytes:
            errors.append(f"{side}: rx_bytes {port['rx_bytes']} != {sent_bytes} sent")
        if port["rx_bytes"] != port["forwarded_bytes"] + port["dropped_bytes"]:
            errors.append(f"{side}: rx_bytes {port['rx_bytes']} != forwarded "
                          f"{port['forwarded_bytes']} + dropped {port['dropped_bytes']}")
    sent = len(client_frames) + len(server_frames)
    if s["rx_packets"] != sent:
        errors.append(f"total rx_packets {s['rx_packets']} != {sent}")
    for name, frames in result.mirrors.items():
        got = sum(len(q) for q in frames)
        if s["mirrors"][name]["mirrored_packets"] != got:
            errors.append(f"mirror {name}: mirrored_packets "
                          f"{s['mirrors'][name]['mirrored_packets']} != {got} in its pcap")
    for key in ("rx_packets", "forwarded_packets", "mirrored_packets"):
        per_worker = sum(w[key] for w in s["workers"])
        if per_worker != s[key]:
            errors.append(f"workers' {key} add up to {per_worker}, total says {s[key]}")
    return errors
