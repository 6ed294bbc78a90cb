/* SPDX-License-Identifier: BSD-3-Clause */
#include "worker.h"

#include <stdbool.h>
#include <stdio.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_seqcount.h>

#include "flow.h"
#include "offload.h"
#include "parse.h"
#include "txbuf.h"
#include "verdict.h"

/* Packets whose headers are prefetched ahead of the one being parsed. */
#define PREFETCH_OFFSET 4
/* A pass of the expiry over the whole flow table takes about this long.
 * Each slot it looks at is a line read whatever the load: at 64 slots a
 * drain, a pass of the default table every 0.1 s, it took 1% of a worker
 * at 4 Mpps, and pushed the flows' own slots out of the caches. A
 * second's pass forgets a flow at most a second after its timeout. */
#define EXPIRE_PASS_US US_PER_S
/* tx_burst attempts for originals before one is counted as dropped. */
#define FWD_TX_RETRIES 8

_Static_assert(ST_BURST <= ST_FLOW_BURST_MAX, "burst exceeds flow lookup");
_Static_assert(ST_MAX_MIRRORS <= 8 && ST_MAX_MIRRORS <= ST_SAMPLE_MAX,
	       "st_flow.mirrored is an 8-bit mask of mirrors");
_Static_assert(ST_STATS_EVICT_CLASSES == ST_FLOW_EVICT_CLASSES,
	       "a counter per eviction class");

struct st_worker {
	uint64_t last_rx_tsc;	/* read by the control thread */
	uint8_t stop;		/* written by the control thread */
	uint8_t polls[ST_SIDE_COUNT];
	uint16_t port[ST_SIDE_COUNT];
	uint16_t rx_queue[ST_SIDE_COUNT];
	unsigned int index;
	struct st_worker_stats *stats;
	struct st_policy *const *policy;
	struct rte_rcu_qsbr *qsbr;
	uint64_t iter_bound_tsc[ST_ITER_BUCKETS - 1];
	struct st_flow_table *flows;
	uint32_t expire_slots;	/* per drain */
	uint64_t drain_tsc;	/* period of expiry and held-head checks */
	uint64_t prev_drain_tsc;
	struct st_mirror_worker *mirror;
	struct st_verdict *verdict;
	/* What fwd[] sent and dropped since the last publish_side(). */
	struct st_side_stats pending[ST_SIDE_COUNT];
	/* fwd[side]: originals that came in on @side, going out the other. */
	struct st_txq fwd[ST_SIDE_COUNT];
} __rte_cache_aligned;

static void
set_iter_bounds(struct st_worker *w)
{
	static const uint64_t bounds_ns[ST_ITER_BUCKETS - 1] =
		ST_ITER_BOUNDS_NS;
	unsigned int i;

	for (i = 0; i < ST_ITER_BUCKETS - 1; i++)
		w->iter_bound_tsc[i] = bounds_ns[i] * rte_get_tsc_hz() /
				       NS_PER_S;
}

/* Time of a loop iteration that handled packets, into the histogram. */
static inline void
count_iteration(struct st_worker *w, uint64_t start_tsc)
{
	uint64_t tsc = rte_rdtsc() - start_tsc;
	unsigned int b = 0;

	while (b < ST_ITER_BUCKETS - 1 && tsc > w->iter_bound_tsc[b])
		b++;
	w->stats->iter_count[b]++;
	w->stats->iter_tsc_sum += tsc;
}

struct st_worker *
st_worker_create(const struct st_worker_params *p, char *err, size_t errlen)
{
	int socket = (int)rte_lcore_to_socket_id(p->lcore_id);
	uint32_t drain_us;
	char name[32];
	struct st_worker *w;
	int side;

	w = rte_zmalloc_socket("st_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
			       socket);
	if (w == NULL) {
		snprintf(err, errlen, "worker on lcore %u: out of memory",
			 p->lcore_id);
		return NULL;
	}
	w->index = p->index;
	w->stats = p->stats;
	w->policy = p->policy;
	w->qsbr = p->qsbr;
	set_iter_bounds(w);
	drain_us = p->drain_us != 0 ? p->drain_us : ST_WORKER_DRAIN_US;
	w->drain_tsc = (rte_get_tsc_hz() + US_PER_S - 1) / US_PER_S * drain_us;
	w->prev_drain_tsc = rte_rdtsc();
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		struct st_side_stats *ss = &w->pending[side];

		w->polls[side] = p->polls[side];
		w->port[side] = p->port[side];
		w->rx_queue[side] = p->rx_queue[side];
		st_txq_init(&w->fwd[side], p->port[!side], p->tx_queue,
			    FWD_TX_RETRIES, &ss->forwarded_packets,
			    &ss->forwarded_bytes, &ss->dropped_packets,
			    &ss->dropped_bytes);
	}
	snprintf(name, sizeof(name), "st_flows_%u", p->lcore_id);
	w->flows = st_flow_table_create(name, p->flow_table->size,
					p->flow_table->idle_timeout_s, socket);
	w->expire_slots = (uint32_t)RTE_MIN(
		(uint64_t)p->flow_table->size,
		((uint64_t)p->flow_table->size * drain_us + EXPIRE_PASS_US - 1) /
			EXPIRE_PASS_US);
	if (w->flows == NULL) {
		snprintf(err, errlen,
			 "worker on lcore %u: flow table of %u entries: %s",
			 p->lcore_id, p->flow_table->size,
			 rte_strerror(rte_errno));
		st_worker_free(w);
		return NULL;
	}
	w->mirror = st_mirror_worker_create(p->mirrors, p->tx_queue,
					    &p->pools, p->stats, socket);
	if (w->mirror != NULL)
		w->verdict = st_verdict_create(w->mirror, p->stats, p->index,
					       p->max_head_bytes, socket);
	if (w->mirror == NULL || w->verdict == NULL) {
		snprintf(err, errlen, "worker on lcore %u: out of memory",
			 p->lcore_id);
		st_worker_free(w);
		return NULL;
	}
	return w;
}

void
st_worker_free(struct st_worker *w)
{
	if (w == NULL)
		return;
	st_verdict_free(w->verdict);
	st_mirror_worker_free(w->mirror);
	st_flow_table_free(w->flows);
	rte_free(w);
}

/*
 * A burst's side counters, received and forwarded or dropped, made visible
 * together: a reader (st_stats_sum()) sees rx = forwarded + dropped at any
 * instant, not a burst counted as received but not yet as sent. A few
 * stores per burst; the reader retries in the rare case it overlaps them.
 */
static inline void
publish_side(struct st_worker *w, enum st_side side, uint16_t nb,
	     uint64_t bytes)
{
	struct st_side_stats *ss = &w->stats->side[side];
	struct st_side_stats *p = &w->pending[side];

	rte_seqcount_write_begin(&w->stats->side_seq);
	ss->rx_packets += nb;
	ss->rx_bytes += bytes;
	ss->forwarded_packets += p->forwarded_packets;
	ss->forwarded_bytes += p->forwarded_bytes;
	ss->dropped_packets += p->dropped_packets;
	ss->dropped_bytes += p->dropped_bytes;
	rte_seqcount_write_end(&w->stats->side_seq);
	*p = (struct st_side_stats){0};
}

/*
 * Whether a parsed packet needs its flow: always, unless it is off the
 * HTTP ports while the policy lets such traffic through without one.
 * Marks a TCP segment whose requests are to be looked at.
 */
static inline bool
needs_flow(const struct st_policy *policy, struct st_pkt_info *info)
{
	bool http = policy->http && info->l4_proto == IPPROTO_TCP &&
		    st_policy_http_port(policy, info);

	if (http)
		info->flags |= ST_PKT_HTTP;
	return http || !policy->bypass;
}

/*
 * Parse packet @p i of a burst into the @p n-th place of the arrays when it
 * needs its flow. Returns whether it does. Packets that no mirror can take
 * (the NIC's mark says so, or their ports do) get no flow.
 */
static __rte_always_inline bool
gather(const struct st_policy *policy, struct rte_mbuf *m, uint16_t i,
       uint16_t n, struct st_pkt_info *info, struct st_flow_key *keys,
       uint16_t *at, uint64_t *malformed)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);

	if (policy->bypass && st_offload_bypass(m))
		return false;
	/* Headers are in the first segment; a frame cut short there is
	 * parsed as far as it goes. Its key is built only when it needs its
	 * flow. */
	st_parse_info(frame, rte_pktmbuf_data_len(m), &info[n]);
	*malformed += (info[n].flags & ST_PKT_MALFORMED) != 0;
	if (!needs_flow(policy, &info[n]))
		return false;
	st_flow_key_of(frame, rte_pktmbuf_data_len(m), &info[n], &keys[n]);
	at[n] = i;
	return true;
}

/* One RX burst: parse, find flows, copy the sampled ones, in arrival
 * order. The packets that need their flow are gathered at the front of
 * the arrays. Returns the burst's bytes; the caller forwards it whole. */
static uint64_t
process_burst(struct st_worker *w, const struct st_policy *policy,
	      struct rte_mbuf **pkts, uint16_t nb, uint64_t now_tsc)
{
	struct st_pkt_info info[ST_BURST];
	struct st_flow_key keys[ST_BURST];
	uint32_t hashes[ST_BURST];
	struct st_flow *flows[ST_BURST];
	uint16_t at[ST_BURST];	/* of the n-th packet with a flow */
	struct st_worker_stats *stats = w->stats;
	uint64_t bytes = 0, malformed = 0;
	uint16_t i, n = 0;

	for (i = 0; i < nb && i < PREFETCH_OFFSET; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	/* Two loops, as DPDK's l3fwd: a test for the prefetch in one loop
	 * is one more branch a packet, taken or not by the burst's size. */
	for (i = 0; i + PREFETCH_OFFSET < nb; i++) {
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_OFFSET],
					       void *));
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
		n += gather(policy, pkts[i], i, n, info, keys, at, &malformed);
	}
	for (; i < nb; i++) {
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
		n += gather(policy, pkts[i], i, n, info, keys, at, &malformed);
	}
	/* Hashed in a pass of their own: a key just written field by field
	 * and read back a word at a time would stall the load on the
	 * stores still in flight. */
	for (i = 0; i < n; i++)
		hashes[i] = st_flow_hash(&keys[i]);
	st_flow_table_lookup_burst(w->flows, keys, hashes, info, n, now_tsc,
				   flows, &stats->flows_created,
				   &stats->flow_table_full,
				   stats->flows_evicted);

	for (i = 0; i < n; i++)
		st_verdict_packet(w->verdict, policy, flows[i], pkts[at[i]],
				  &info[i], hashes[i], now_tsc);
	st_verdict_send(w->verdict, policy);
	stats->malformed_packets += malformed;
	stats->bypassed_packets += nb - n;
	return bytes;
}

/* A burst's originals, whole, out the other side; then its counters. Out
 * of line, once a burst, so that perf/profile counts it with
 * process_burst(). */
static __rte_noinline void
forward_burst(struct st_worker *w, enum st_side side, struct rte_mbuf **pkts,
	      uint16_t nb, uint64_t bytes)
{
	st_txq_send(&w->fwd[side], pkts, nb, bytes);
	publish_side(w, side, nb, bytes);
}

/*
 * Originals leave in the iteration that received them: a tx_burst after
 * each RX burst, as testpmd's io mode does. Buffering them until a burst
 * filled, or until a drain came round, held each one up to the drain
 * period at low load: latency added to every production request. At full
 * load RX bursts are full and nothing changes. Copies leave at the end of
 * the same iteration, both sides' in one tx_burst per shadow: they wait
 * at most the other side's RX burst, which buys fuller copy bursts for
 * nothing an original pays.
 */
uint16_t
st_worker_poll(struct st_worker *w)
{
	/* One policy for the whole iteration; the quiescent report at its
	 * end lets the control thread free older ones. */
	const struct st_policy *policy =
		__atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	uint64_t now_tsc = rte_rdtsc();
	struct rte_mbuf *pkts[ST_BURST];
	uint16_t total = 0;
	int side;

	/* The drain is for what waits by design: request heads held for
	 * their next segment, and idle flows. */
	if (unlikely(now_tsc - w->prev_drain_tsc > w->drain_tsc)) {
		st_verdict_expire(w->verdict, policy, now_tsc);
		st_mirror_drain(w->mirror);
		w->stats->flows_expired += st_flow_table_expire(
			w->flows, now_tsc, w->expire_slots);
		w->prev_drain_tsc = now_tsc;
	}
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		uint64_t bytes;
		uint16_t nb;

		if (!w->polls[side])
			continue;
		nb = rte_eth_rx_burst(w->port[side], w->rx_queue[side], pkts,
				      ST_BURST);
		if (nb == 0)
			continue;
		__atomic_store_n(&w->last_rx_tsc, now_tsc, __ATOMIC_RELAXED);
		/* Copies first: once an original is handed to TX it may be
		 * freed. */
		bytes = process_burst(w, policy, pkts, nb, now_tsc);
		forward_burst(w, side, pkts, nb, bytes);
		total += nb;
	}
	if (total != 0) {
		st_mirror_flush(w->mirror);
		count_iteration(w, now_tsc);
	}
	rte_rcu_qsbr_quiescent(w->qsbr, w->index);
	return total;
}

int
st_worker_main(void *arg)
{
	struct st_worker *w = arg;

	rte_rcu_qsbr_thread_register(w->qsbr, w->index);
	rte_rcu_qsbr_thread_online(w->qsbr, w->index);
	w->prev_drain_tsc = rte_rdtsc();
	__atomic_store_n(&w->last_rx_tsc, w->prev_drain_tsc,
			 __ATOMIC_RELAXED);
	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
		st_worker_poll(w);
	st_verdict_drain(w->verdict, __atomic_load_n(w->policy,
						    __ATOMIC_ACQUIRE));
	st_mirror_drain(w->mirror);
	rte_rcu_qsbr_thread_offline(w->qsbr, w->index);
	rte_rcu_qsbr_thread_unregister(w->qsbr, w->index);
	return 0;
}

void
st_worker_stop(struct st_worker *w)
{
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
}

const struct st_flow_table *
st_worker_flow_table(const struct st_worker *w)
{
	return w->flows;
}

uint64_t
st_worker_last_rx_tsc(const struct st_worker *w)
{
	return __atomic_load_n(&w->last_rx_tsc, __ATOMIC_RELAXED);
}
