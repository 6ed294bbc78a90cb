/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_VIEW_H
#define ST_VIEW_H

/*
 * What threads other than the workers read: the running configuration
 * (with the percents and mirror switches changed at run time) and the
 * counters. The control thread holds the lock while it changes the
 * configuration; readers (control commands, DPDK telemetry, the Prometheus
 * endpoint) hold it while they read. Workers never take it: they read the
 * compiled policy, swapped under RCU, and write their own counters.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

struct rte_mempool;

/* The mempools shown: data, clone and header pools per NUMA socket. */
#define ST_VIEW_MAX_POOLS (3 * RTE_MAX_NUMA_NODES)

/*
 * A port's link as the control thread last polled it, and what link
 * propagation did to it (dataplane/link.h). Shadow ports only have up and
 * down_events.
 */
struct st_link_view {
	bool up;
	bool held_down;		/* taken down by shadowtap: the other
				 * wire port has no link */
	uint64_t down_events;	/* links lost, not counting shadowtap's own
				 * taking down */
	uint64_t propagated_downs;	/* times shadowtap took it down */
	uint64_t propagation_failures;	/* times it could not (a PMD
					 * without link control: -ENOTSUP) */
};

struct st_view {
	pthread_mutex_t lock;
	struct st_config *cfg;		/* running config; replaced on reload */
	uint32_t mirrors_enabled;	/* bit i: mirror i is on */
	uint64_t generation;		/* bumped at every change of cfg */
	const struct st_worker_stats *workers;	/* one per worker */
	const unsigned int *lcores;	/* lcore id of each worker */
	unsigned int nb_workers;
	uint64_t tsc_hz;
	/* Set once at start, after the wire ports' rte_flow rules. */
	struct st_port_offload offload[ST_SIDE_COUNT];
	/* Written by the control thread, under the lock. */
	struct st_link_view wire_link[ST_SIDE_COUNT];
	struct st_link_view mirror_link[ST_MAX_MIRRORS];
	/* Set once at start, before other threads read the view; their
	 * in-use counts are read when shown. */
	struct rte_mempool *pools[ST_VIEW_MAX_POOLS];
	unsigned int nb_pools;
};

#endif
