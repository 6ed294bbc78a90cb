"""A shadow that never drains costs counted drops of its copies, nothing
else: every original is forwarded untouched, and another shadow still gets
every copy. The stuck shadow is a net_ring port nobody reads: its ring
fills, then its TX queue refuses every copy."""

import shutil
import tempfile
import unittest

from gen_traffic import generate
from pcaplib import check_two_way_union, decapsulate, group_by_flow
from shadowtap_run import Mirror, counter_errors, run

RING_SLOTS = 1024   # net_ring's ring: one slot is always kept free
TUNNEL = {"dst_mac": "02:00:00:00:00:02", "src_ip": "192.0.2.1", "dst_ip": "192.0.2.2"}
STUCK_TRUNCATE = 100


class StalledShadow(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="st_isolation_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check_isolation(self, r, client, server):
        """What a stuck shadow beside a healthy one, both at 100%, may cost: nothing for
        the originals, nothing for the healthy shadow, and for the stuck one copies sent
        until its ring is full, then counted drops. Returns the stuck mirror's counters."""
        total = len(client) + len(server)
        self.assertEqual(r.server_out[0], client)
        self.assertEqual(r.client_out[0], server)
        self.assertEqual(counter_errors(r, client, server), [])
        for side in ("client", "server"):
            self.assertEqual(r.stats["ports"][side]["dropped_packets"], 0)

        stuck = r.stats["mirrors"]["stuck"]
        drops = stuck["dropped_by_cause"]
        self.assertGreater(stuck["mirrored_packets"], 0)
        self.assertLess(stuck["mirrored_packets"], RING_SLOTS)
        self.assertGreater(drops["ring_full"], total // 2)
        self.assertEqual(stuck["mirrored_packets"] + sum(drops.values()), total,
                         "every copy is either sent or counted as dropped")
        self.assertEqual((drops["no_mbuf"], drops["link_down"]), (0, 0))

        healthy = r.stats["mirrors"]["healthy"]
        self.assertEqual(healthy["mirror_dropped_packets"], 0)
        self.assertEqual(len(r.mirror_frames("healthy")), total)
        return stuck

    def test_a_stalled_shadow_costs_only_its_own_copies(self):
        client, server = generate(3000, 5)
        r = run(self.tmp, [client], [server],
                [Mirror("stuck", 100, device="net_ring0"), Mirror("healthy", 100)])
        self.check_isolation(r, client, server)

    def test_a_stalled_encapsulated_shadow_costs_only_its_own_copies(self):
        """The same with VXLAN and truncation on the stuck shadow and GRE on the healthy
        one: a copy now also holds a header mbuf while it waits."""
        client, server = generate(3000, 6)
        r = run(self.tmp, [client], [server],
                [Mirror("stuck", 100, device="net_ring0", truncate=STUCK_TRUNCATE,
                        encap={"type": "vxlan", "vni": 99, **TUNNEL}),
                 Mirror("healthy", 100, truncate=0,
                        encap={"type": "gre", "key": 7, **TUNNEL})])
        stuck = self.check_isolation(r, client, server)
        # A copy is cut before it is sent, so dropped copies may count as cut too.
        longer = sum(len(f) > STUCK_TRUNCATE for f in client + server)
        self.assertTrue(0 < stuck["truncated_packets"] <= longer, stuck["truncated_packets"])

        healthy = r.stats["mirrors"]["healthy"]
        frames = r.mirror_frames("healthy")
        self.assertEqual(healthy["truncated_packets"], 0)
        self.assertEqual(healthy["mirrored_bytes"], sum(map(len, frames)))
        inner = [decapsulate(f)[1] for f in frames]
        selected, errors = check_two_way_union(client, server, inner)
        self.assertEqual(errors[:5], [])
        self.assertEqual(selected, set(group_by_flow(client)) | set(group_by_flow(server)))

if __name__ == "__main__":
    unittest.main(verbosity=2)
