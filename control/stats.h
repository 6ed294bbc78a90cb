/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_STATS_H
#define ST_STATS_H

/*
 * Counters. Each worker owns one struct st_worker_stats and increments it
 * with plain stores; the control thread sums them. No atomics on the hot
 * path, and one cache-aligned block per worker so workers never share a
 * line.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_seqcount.h>

#include "config.h"

/* The side a packet came in on; it leaves on the other one. */
enum st_side {
	ST_SIDE_CLIENT = 0,
	ST_SIDE_SERVER = 1,
	ST_SIDE_COUNT
};

/* Why a copy for a mirror was given up. */
enum st_drop_cause {
	ST_DROP_RING_FULL,	/* the shadow TX queue did not take it */
	ST_DROP_NO_MBUF,	/* no clone buffer left */
	ST_DROP_LINK_DOWN,	/* the shadow port's link is down */
	ST_DROP_CAUSES
};

struct st_side_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t forwarded_packets;
	uint64_t forwarded_bytes;
	uint64_t dropped_packets;	/* the peer port did not take them */
	uint64_t dropped_bytes;
};

/* Where a wire port's flow work runs: in its NIC's flow engine (rte_flow
 * rules made at start), or in software. */
struct st_port_offload {
	bool rss;	/* symmetric RSS by flow rules */
	bool prefilter;	/* packets no route can select marked by the NIC */
};

struct st_mirror_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t flows;		/* flows that sent at least one copy */
	uint64_t truncated;	/* copies cut to the mirror's truncate */
	uint64_t dropped[ST_DROP_CAUSES];
	uint64_t dropped_bytes;
};

/* Per route; index ST_ROUTE_STATS_DEFAULT is traffic no route claims. */
struct st_route_stats {
	uint64_t requests;	/* request heads that matched it */
	uint64_t flows;		/* times one of them selected a flow */
	uint64_t packets; /* packets copied (once, whatever the mirrors) */
	uint64_t bytes;
};

/* Twice the routes: a reload may replace every route by new ones while
 * workers still count the old ones. */
#define ST_ROUTE_STATS_SLOTS (2 * ST_MAX_ROUTES)
#define ST_ROUTE_STATS_DEFAULT ST_ROUTE_STATS_SLOTS

/*
 * How long worker loop iterations that handled packets take: a histogram
 * with these upper bounds in nanoseconds, plus one bucket above the last.
 * The millisecond bounds tell a worker that stalled (a blocking call, a
 * retry loop) from one the kernel preempted on a shared CPU (perf/soak).
 */
#define ST_ITER_BUCKETS 16
#define ST_ITER_BOUNDS_NS                                                 \
	{ 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,  \
	  256000, 1000000, 4000000, 16000000, 64000000 }

/* Classes of the flows a full flow table evicts for new ones: closed,
 * half-open, least recently seen (enum st_flow_evict, dataplane/flow.h). */
#define ST_STATS_EVICT_CLASSES 3

struct st_worker_stats {
	/* Written around each burst's side[] update: side[] is read whole. */
	rte_seqcount_t side_seq;
	struct st_side_stats side[ST_SIDE_COUNT];
	struct st_mirror_stats mirror[ST_MAX_MIRRORS];
	struct st_route_stats route[ST_ROUTE_STATS_SLOTS + 1];
	uint64_t http_heads_split;	/* heads gathered over segments */
	uint64_t http_heads_partial;	/* decided on part of a head: too
					 * long, a gap, a timeout, no slot */
	uint64_t http_hold_failed;	/* segments of a split head that could
					 * not be held for the shadow */
	uint64_t iter_count[ST_ITER_BUCKETS];	/* not cumulative */
	uint64_t iter_tsc_sum;			/* total TSC of those */
	uint64_t malformed_packets;	/* IP headers that failed validation */
	uint64_t bypassed_packets;	/* forwarded without a flow: off the
					 * HTTP ports, no mirror could take
					 * them */
	uint64_t flows_created;
	uint64_t flows_expired;
	uint64_t flow_table_full;	/* packets whose flow found no slot,
					 * even by eviction */
	uint64_t flows_evicted[ST_STATS_EVICT_CLASSES];	/* by class */
} __rte_cache_aligned;

/** "client" or "server". */
const char *st_stats_side_name(enum st_side side);

/** "ring_full", "no_mbuf" or "link_down". */
const char *st_stats_drop_name(enum st_drop_cause cause);

/** The counters of route @p i of @p cfg, or of the traffic no route
 * claims when @p i is cfg->nb_routes. */
static inline const struct st_route_stats *
st_stats_route(const struct st_worker_stats *s, const struct st_config *cfg,
	       unsigned int i)
{
	return &s->route[i < cfg->nb_routes ? cfg->routes[i].stats_slot :
					      ST_ROUTE_STATS_DEFAULT];
}

/** Copies of a mirror given up, all causes. */
uint64_t st_stats_mirror_dropped(const struct st_mirror_stats *m);

/**
 * Sum the counters of @p nb_workers workers into @p total. Safe while the
 * workers run: each counter is read once, atomically, and each worker's
 * side counters as of one instant (rx = forwarded + dropped).
 */
void st_stats_sum(struct st_worker_stats *total,
		  const struct st_worker_stats *workers,
		  unsigned int nb_workers);

struct st_view;

/**
 * Write the counters of a view's workers as one JSON document, with its
 * ports' offloads and links and its mempools' use, named by its running
 * configuration. Call it from the control thread (the view's only writer)
 * or holding the view's lock; the workers may still run.
 *
 * @return 0, or -EIO when writing failed
 */
int st_stats_write_json(FILE *out, const struct st_view *view);

/** Print a short human-readable summary of the totals. */
void st_stats_print_summary(FILE *out, const struct st_config *cfg,
			    const struct st_worker_stats *workers,
			    unsigned int nb_workers);

#endif
