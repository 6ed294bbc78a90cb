"""A shadow that never drains costs counted drops of its copies, nothing
else: every original is forwarded untouched, and another shadow still gets
every copy. The stuck shadow is a net_ring port nobody reads: its ring
fills, then its TX queue refuses every copy."""

import shutil
import tempfile
import unittest

from gen_traffic import generate
from shadowtap_run import Mirror, counter_errors, run

RING_SLOTS = 1024   # net_ring's ring: one slot is always kept free


class StalledShadow(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="st_isolation_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_stalled_shadow_costs_only_its_own_copies(self):
        client, server = generate(3000, 5)
        total = len(client) + len(server)
        r = run(self.tmp, [client], [server],
                [Mirror("stuck", 100, device="net_ring0"), Mirror("healthy", 100)])
        self.assertEqual(r.server_out[0], client)
        self.assertEqual(r.client_out[0], server)
        self.assertEqual(counter_errors(r, len(client), len(server)), [])
        for side in ("client", "server"):
            self.assertEqual(r.stats["ports"][side]["dropped_packets"], 0)

        stuck = r.stats["mirrors"]["stuck"]
        drops = stuck["dropped_by_cause"]
        self.assertGreater(stuck["mirrored_packets"], 0)
        self.assertLess(stuck["mirrored_packets"], RING_SLOTS)
        self.assertGreater(drops["ring_full"], total // 2)
        self.assertEqual(stuck["mirrored_packets"] + drops["ring_full"], total,
                         "every copy is either sent or counted as dropped")
        self.assertEqual((drops["no_mbuf"], drops["link_down"]), (0, 0))

        healthy = r.stats["mirrors"]["healthy"]
        self.assertEqual(healthy["mirror_dropped_packets"], 0)
        self.assertEqual(len(r.mirror_frames("healthy")), total)


if __name__ == "__main__":
    unittest.main(verbosity=2)
