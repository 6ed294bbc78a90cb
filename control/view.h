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
#include <stdint.h>

#include "config.h"
#include "stats.h"

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
};

#endif
