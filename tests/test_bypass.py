"""Traffic no route can select is forwarded without a flow: with routes,
`http.ports`, and no mirror taking unrouted flows, only TCP on those ports
is parsed for requests and kept in the flow table; everything else is
counted as bypassed and forwarded as it came. A mirror that takes unrouted
flows turns that off."""

import shutil
import sys
import tempfile
import unittest

from gen_traffic import generate
from pcaplib import PROTO_TCP, flow_key, group_by_flow
from shadowtap_run import Mirror, counter_errors, run

FLOWS = 1500
SEED = 11
HTTP_PORT = 80
ROUTES = """
routes:
  - name: everything
    match: { path: "^/" }
    mirror: v2
"""
PORTS = "http:\n  ports: [%d]\n" % HTTP_PORT


def on_http_port(frame):
    key = flow_key(frame)
    return key[0] == "L4" and key[1] == PROTO_TCP and \
        HTTP_PORT in (key[2][1], key[3][1])


class Bypass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_bypass_")
        cls.client, cls.server = generate(FLOWS, SEED)
        frames = cls.client + cls.server
        cls.http = [f for f in frames if on_http_port(f)]
        cls.other = len(frames) - len(cls.http)
        cls.with_ports = run(cls.tmp, [cls.client], [cls.server],
                             [Mirror("v2", 0)], ROUTES + PORTS)
        cls.without_ports = run(cls.tmp, [cls.client], [cls.server],
                                [Mirror("v2", 0)], ROUTES)
        cls.unrouted_taken = run(cls.tmp, [cls.client], [cls.server],
                                 [Mirror("v2", 10)], ROUTES + PORTS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_traffic_has_both_kinds(self):
        self.assertGreater(len(self.http), 1000)
        self.assertGreater(self.other, 1000)
        self.assertGreater(len([f for f in self.client + self.server
                                if flow_key(f)[0] == "L4" and
                                flow_key(f)[1] == PROTO_TCP and
                                not on_http_port(f)]), 100,
                           "no TCP off the HTTP port")

    def test_originals_untouched(self):
        for r in (self.with_ports, self.without_ports, self.unrouted_taken):
            self.assertEqual(r.server_out[0], self.client)
            self.assertEqual(r.client_out[0], self.server)
            self.assertEqual(counter_errors(r, self.client, self.server), [])

    def test_only_http_port_flows_are_tracked(self):
        s = self.with_ports.stats
        self.assertEqual(s["bypassed_packets"], self.other)
        self.assertEqual(s["flows_created"], len(group_by_flow(self.http)))
        self.assertGreater(self.without_ports.stats["flows_created"],
                           s["flows_created"])

    def test_the_shadow_gets_the_same_http_port_flows(self):
        shadow = self.with_ports.mirrors["v2"][0]
        reference = self.without_ports.mirrors["v2"][0]
        self.assertGreater(len(shadow), 0)
        self.assertTrue(all(on_http_port(f) for f in shadow))
        self.assertEqual(shadow, [f for f in reference if on_http_port(f)])
        self.assertGreater(len(reference), len(shadow),
                           "the reference mirrored nothing off port 80")

    def test_a_mirror_taking_unrouted_flows_tracks_everything(self):
        s = self.unrouted_taken.stats
        self.assertEqual(s["bypassed_packets"], 0)
        self.assertGreater(s["mirrors"]["v2"]["mirrored_packets"],
                           len(self.with_ports.mirrors["v2"][0]))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
