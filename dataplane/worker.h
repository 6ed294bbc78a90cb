/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_WORKER_H
#define ST_WORKER_H

/*
 * A poll-mode worker: RX bursts from its queues on both wire ports, each
 * original forwarded to the other port, sampled flows copied to the
 * shadows. One per worker lcore; no locks, no allocation, no syscalls.
 */

#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "mirror.h"
#include "policy.h"
#include "stats.h"

struct st_worker;

/* Default period of the drain: held request heads decided, idle flows
 * expired. Packets never wait for it. */
#define ST_WORKER_DRAIN_US 100

struct st_worker_params {
	unsigned int lcore_id;
	unsigned int index;		/* 0..workers-1: RCU thread id */
	uint16_t tx_queue; /* this worker's TX queue on every port */
	uint16_t port[ST_SIDE_COUNT];	/* client and server port ids */
	uint16_t rx_queue[ST_SIDE_COUNT]; /* RX queue polled on each port */
	uint8_t polls[ST_SIDE_COUNT];	/* whether it polls that port */
	const struct st_mirror_set *mirrors;
	/* What each flow gets: read at every iteration, swapped by the
	 * control thread, which waits for qsbr before freeing the old one. */
	struct st_policy *const *policy;
	struct rte_rcu_qsbr *qsbr;
	uint32_t max_head_bytes;	/* largest any policy will ask for */
	struct st_mirror_pools pools;	/* what its copies draw on */
	struct st_worker_stats *stats;	/* counters it owns */
	const struct st_flow_table_conf *flow_table;
	uint32_t drain_us;		/* 0: ST_WORKER_DRAIN_US */
};

/**
 * Create a worker (on its lcore's NUMA socket).
 * @return the worker, or NULL with @p err saying why
 */
struct st_worker *st_worker_create(const struct st_worker_params *p,
				   char *err, size_t errlen);

/** Free a worker that is not running. */
void st_worker_free(struct st_worker *w);

/**
 * The worker loop, for rte_eal_remote_launch(): runs until st_worker_stop(),
 * then sends everything it has buffered. Returns 0.
 */
int st_worker_main(void *worker);

/**
 * One iteration of the loop: an RX burst from each port it polls, every
 * original handed to the PMD before the next port is polled, every copy
 * before it returns; the drain when its period is due. For
 * st_worker_main(), and for tests that drive a worker step by step (the
 * caller must then have registered the worker's RCU thread id online).
 *
 * @return packets received
 */
uint16_t st_worker_poll(struct st_worker *w);

/** Ask a running worker to finish (any thread). */
void st_worker_stop(struct st_worker *w);

/** The worker's flow table, for start-up messages. */
const struct st_flow_table *st_worker_flow_table(const struct st_worker *w);

/** TSC of the worker's last non-empty RX burst, or of its start; 0 until
 * the worker has started. */
uint64_t st_worker_last_rx_tsc(const struct st_worker *w);

#endif
