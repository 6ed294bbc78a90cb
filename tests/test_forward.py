"""Forwarding and per-flow sampling through real net_pcap ports, on traffic
the project generates itself (tests/gen_traffic.py): thousands of flows in
both directions, with VLAN, QinQ, PPPoE, IPv6 extension headers, fragments,
non-IP and malformed frames."""

import shutil
import sys
import tempfile
import unittest

from gen_traffic import generate
from pcaplib import check_two_way_union, group_by_flow, split_queues
from shadowtap_run import Mirror, counter_errors, run

FLOWS = 3000
SEED = 7
PART_PERCENT = 37
# Over ~3000 flows one standard deviation of the sampled share is ~0.9
# points; the selection is deterministic, so this bound is stable and
# still catches a biased or per-packet sampler.
SHARE_TOLERANCE_POINTS = 2.5
MIRRORS = [Mirror("none", 0), Mirror("all", 100), Mirror("part", PART_PERCENT)]


class GeneratedTraffic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="st_forward_")
        cls.client, cls.server = generate(FLOWS, SEED)
        cls.flows = set(group_by_flow(cls.client)) | set(group_by_flow(cls.server))
        cls.one = run(cls.tmp, [cls.client], [cls.server], MIRRORS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def selected_flows(self, shadow_frames, client=None, server=None):
        """Check a shadow stream holds whole flows, both directions, each in
        order; return the selected flow keys."""
        client = self.client if client is None else client
        server = self.server if server is None else server
        selected, errors = check_two_way_union(client, server, shadow_frames)
        self.assertEqual(errors[:5], [], f"{len(errors)} bad flows in the shadow")
        return selected

    def test_originals_forwarded_byte_for_byte_in_order(self):
        self.assertEqual(self.one.server_out[0], self.client)
        self.assertEqual(self.one.client_out[0], self.server)

    def test_counters_add_up(self):
        self.assertEqual(counter_errors(self.one, self.client, self.server), [])
        self.assertGreater(self.one.stats["malformed_packets"], 0,
                           "the generated malformed frames were not seen")

    def test_zero_percent_sends_nothing(self):
        self.assertEqual(self.one.mirror_frames("none"), [])
        self.assertEqual(self.one.stats["mirrors"]["none"]["mirrored_flows"], 0)

    def test_hundred_percent_sends_every_packet_in_order(self):
        shadow = self.one.mirror_frames("all")
        self.assertEqual(len(shadow), len(self.client) + len(self.server))
        self.assertEqual(self.selected_flows(shadow), self.flows)
        self.assertEqual(self.one.stats["mirrors"]["all"]["mirrored_flows"], len(self.flows))

    def test_partial_mirror_is_whole_flows_at_the_right_share(self):
        selected = self.selected_flows(self.one.mirror_frames("part"))
        share = 100.0 * len(selected) / len(self.flows)
        print(f"part: {len(selected)} of {len(self.flows)} flows = {share:.2f}% "
              f"(asked {PART_PERCENT}%)", file=sys.stderr)
        self.assertLessEqual(abs(share - PART_PERCENT), SHARE_TOLERANCE_POINTS)
        self.assertEqual(self.one.stats["mirrors"]["part"]["mirrored_flows"], len(selected))

    def test_same_traffic_gives_same_shadow_output(self):
        again = run(self.tmp, [self.client], [self.server], MIRRORS)
        for m in MIRRORS:
            self.assertEqual(again.mirrors[m.name], self.one.mirrors[m.name], m.name)

    def test_full_flow_table_evicts_never_a_lost_original(self):
        table_size = 64
        r = run(self.tmp, [self.client], [self.server], [Mirror("all", 100)],
                extra_config=f"flow_table:\n  size: {table_size}\n")
        self.assertEqual(r.server_out[0], self.client)
        self.assertEqual(r.client_out[0], self.server)
        self.assertEqual(counter_errors(r, self.client, self.server), [])
        # New flows evict old entries (docs/flows.md), so every packet still
        # has a flow: at 100% every flow is mirrored whole.
        evicted = sum(r.stats[f"flows_evicted_{c}"] for c in ("closed", "half_open", "lru"))
        self.assertGreater(evicted, 0)
        self.assertEqual(r.stats["flow_table_full"], 0)
        self.assertEqual(self.selected_flows(r.mirror_frames("all")), self.flows)

    def test_several_workers_give_the_same_results(self):
        workers = 2
        client_q = split_queues(self.client, workers)
        server_q = split_queues(self.server, workers)
        self.assertTrue(all(client_q) and all(server_q), "a queue got no traffic")
        multi = run(self.tmp, client_q, server_q, MIRRORS)
        self.assertEqual(counter_errors(multi, self.client, self.server), [])
        self.assertEqual([w["rx_packets"] > 0 for w in multi.stats["workers"]],
                         [True] * workers, "a worker forwarded nothing")
        for q in range(workers):
            # Worker q reads RX queue q and sends on TX queue q.
            self.assertEqual(multi.server_out[q], client_q[q])
            self.assertEqual(multi.client_out[q], server_q[q])
            shadow = multi.mirrors["all"][q]
            self.assertEqual(len(shadow), len(client_q[q]) + len(server_q[q]))
            self.assertEqual(self.selected_flows(shadow, client_q[q], server_q[q]),
                             set(group_by_flow(client_q[q] + server_q[q])))
        self.assertEqual(multi.mirror_frames("none"), [])
        self.assertEqual(self.selected_flows(multi.mirror_frames("part")),
                         self.selected_flows(self.one.mirror_frames("part")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
