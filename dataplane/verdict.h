/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_VERDICT_H
#define ST_VERDICT_H

/*
 * Per-flow verdicts: which mirrors get each packet of a flow.
 *
 * Without routes a flow's verdict is its hash sample. With routes, a TCP
 * payload that begins with an HTTP/1.x method is a request start: its head
 * is classified, and the verdict it gives holds for every later packet of
 * the flow, both directions, until the next request start. A head split
 * over segments is gathered (up to the policy's max_head_bytes); the
 * segments are held as clones meanwhile, and sent to the shadow once the
 * head is decided, so a selected request reaches the shadow whole.
 */

#include <stdint.h>

#include <rte_mbuf.h>

#include "flow.h"
#include "mirror.h"
#include "parse.h"
#include "policy.h"
#include "stats.h"

struct st_verdict;

/**
 * Per-worker state.
 *
 * @param mirror          the worker's mirror TX state
 * @param stats           the worker's counters
 * @param worker          the worker's index (its classifier scratch in
 *                        every policy)
 * @param max_head_bytes  largest head any policy of this run gathers
 * @param socket          NUMA socket for the memory
 * @return the state, or NULL when memory is short
 */
struct st_verdict *st_verdict_create(struct st_mirror_worker *mirror,
				     struct st_worker_stats *stats,
				     unsigned int worker,
				     uint32_t max_head_bytes, int socket);

/** Free the state, dropping anything still held. */
void st_verdict_free(struct st_verdict *v);

/**
 * Send the copies one packet deserves: with its burst's, at
 * st_verdict_send(), or, for a segment of a split request head, once the
 * head is decided. The caller still owns @p m and forwards it after
 * st_verdict_send(), unmodified.
 *
 * @param flow       the packet's flow, or NULL when the flow table had no
 *                   room (then nothing is copied)
 * @param flow_hash  st_flow_hash() of the flow
 */
void st_verdict_packet(struct st_verdict *v, const struct st_policy *policy,
		       struct st_flow *flow, struct rte_mbuf *m,
		       const struct st_pkt_info *info, uint32_t flow_hash,
		       uint64_t now_tsc);

/**
 * Copy the packets st_verdict_packet() decided to copy since the last
 * call, in the order they came. Call it after each burst, while the
 * originals are still the caller's.
 */
void st_verdict_send(struct st_verdict *v, const struct st_policy *policy);

/**
 * Decide request heads that have waited too long for their next segment,
 * on what was seen.
 */
void st_verdict_expire(struct st_verdict *v, const struct st_policy *policy,
		       uint64_t now_tsc);

/**
 * Decide every pending request head on what was seen, sending what it
 * held: when the worker stops, nothing it holds is silently lost.
 */
void st_verdict_drain(struct st_verdict *v, const struct st_policy *policy);

#endif
