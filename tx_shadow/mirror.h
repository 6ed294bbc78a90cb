/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_MIRROR_H
#define ST_MIRROR_H

/*
 * Mirror sessions: the zero-copy path from a packet the dataplane chose to
 * copy to a shadow port. A copy shares the original's data by mbuf
 * refcount: where the session leaves the frame as it is, the copy is the
 * original's own mbuf, referenced once more; where it cuts the frame or
 * tags it, a clone (an indirect mbuf with lengths of its own). It is sent
 * on a TX queue of its own; a copy that cannot be sent is counted and
 * freed, never waited for, so a slow or dead shadow never delays an
 * original.
 *
 * A set of sessions is shared by all workers and tuned by the control
 * thread; each worker has its own st_mirror_worker with its TX queues.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "config.h"
#include "stats.h"

struct st_mirror_set;
struct st_mirror_worker;

/**
 * Create the sessions of every mirror in @p cfg (ports resolved and
 * probed: an encapsulation's outer source MAC defaults to its port's).
 * Links start as up.
 *
 * @param cfg     the config, with its mirrors' truncation and encapsulation
 * @param socket  NUMA socket for the allocation
 * @return the set, or NULL on allocation failure
 */
struct st_mirror_set *st_mirror_set_create(const struct st_config *cfg,
					   int socket);

/** Whether any session wraps its copies, so needs header mbufs. */
bool st_mirror_set_has_headers(const struct st_mirror_set *set);

/** Free a set (NULL is ignored); no worker may use it any more. */
void st_mirror_set_free(struct st_mirror_set *set);

/** Number of sessions in @p set. */
unsigned int st_mirror_set_count(const struct st_mirror_set *set);

/** Shadow port of session @p idx. */
uint16_t st_mirror_set_port(const struct st_mirror_set *set,
			    unsigned int idx);

/**
 * Record a session's link state (control thread). While down, copies are
 * not made and are counted as ST_DROP_LINK_DOWN. Safe while workers run.
 */
void st_mirror_set_link(struct st_mirror_set *set, unsigned int idx,
			bool up);

/*
 * The pools a worker's copies draw on. A copy pins its original's data
 * mbuf until the shadow's driver frees it. Clones are bounded by their
 * pool; shared originals by the shadow's TX queue, which the data pool is
 * sized for, and, should a driver hold more than its descriptors, by the
 * reserve: a worker shares only while the data pool has more free mbufs
 * than that, so that RX always finds its own.
 */
struct st_mirror_pools {
	struct rte_mempool *data;	/* where the originals come from */
	unsigned int data_reserve;	/* free data mbufs left to RX */
	unsigned int data_sharers;	/* workers whose copies pin @data */
	struct rte_mempool *clone;	/* indirect mbufs for the clones */
	struct rte_mempool *hdr;	/* header mbufs, or NULL when
					 * st_mirror_set_has_headers() is
					 * false */
};

/**
 * Per-worker state: one TX queue on every shadow port.
 *
 * @param set         the shared sessions
 * @param queue_id    this worker's TX queue id on every shadow port
 * @param pools       what copies draw on
 * @param stats       the worker's counters (mirror[] is fed)
 * @param socket      NUMA socket for the allocation
 * @return the state, or NULL on allocation failure
 */
struct st_mirror_worker *
st_mirror_worker_create(const struct st_mirror_set *set, uint16_t queue_id,
			const struct st_mirror_pools *pools,
			struct st_worker_stats *stats, int socket);

/** Free per-worker state (after st_mirror_drain(); NULL is ignored). */
void st_mirror_worker_free(struct st_mirror_worker *mw);

/**
 * Send a copy of @p m to every session whose bit is set in @p sessions,
 * truncated and encapsulated as the session says. @p m is only read and
 * its refcount raised; the caller still owns it and must modify neither
 * its data nor its lengths afterwards. A packet for two sessions is
 * referenced twice. A copy that finds no mbuf (the clone pool empty, the
 * data pool at its reserve) is an ST_DROP_NO_MBUF drop.
 *
 * @param flow_hash  the flow's symmetric hash, for outer entropy
 */
void st_mirror_send(struct st_mirror_worker *mw, struct rte_mbuf *m,
		    uint32_t sessions, uint32_t flow_hash);

/**
 * Raise the refcount of every segment of @p m: a copy that is the
 * original itself.
 */
static inline void
st_mirror_ref(struct rte_mbuf *m)
{
	/* rte_pktmbuf_refcnt_update() walks the chain through m->next, on
	 * the mbuf's second cache line: one segment (nearly all) needs
	 * neither. */
	if (likely(m->nb_segs == 1))
		rte_mbuf_refcnt_update(m, 1);
	else
		rte_pktmbuf_refcnt_update(m, 1);
}

/**
 * Room for a run of copies that st_mirror_send() would send to
 * @p sessions, when that is one session that sends the originals as they
 * are: it is plain, its link is up, and copies may still share. A run
 * reads the session, the share budget and the buffer once, where
 * st_mirror_send() reads them once a copy.
 *
 * The caller stores up to *@p n originals (at most @p want) in the room,
 * in order, each after st_mirror_ref(), then calls st_mirror_commit().
 *
 * @return the room, or NULL when these copies need st_mirror_send()
 */
struct rte_mbuf **st_mirror_reserve(struct st_mirror_worker *mw,
				    uint32_t sessions, unsigned int want,
				    unsigned int *n);

/** Take the @p n copies, @p bytes in all, stored in the room that
 * st_mirror_reserve() gave for @p sessions; a full buffer is sent. */
void st_mirror_commit(struct st_mirror_worker *mw, uint32_t sessions,
		      unsigned int n, uint64_t bytes);

/**
 * Keep a reference to @p m for a later st_mirror_send(), without copying
 * its data: a clone from the clone pool, so that what is held is bounded
 * by that pool. The caller frees it.
 *
 * @return the reference, or NULL when the clone pool is empty
 */
struct rte_mbuf *st_mirror_hold(struct st_mirror_worker *mw,
				struct rte_mbuf *m);

/** Send whatever copies are buffered: at the end of every iteration that
 * received packets (a data pool found at its reserve is looked at again
 * in the next one). */
void st_mirror_flush(struct st_mirror_worker *mw);

/**
 * st_mirror_flush(), and give the clone pool back the mbufs kept in stock
 * for the next copies: at each drain, so that once traffic stops the
 * pool's in-use figure is what copies and held heads hold, and a leak
 * shows.
 */
void st_mirror_drain(struct st_mirror_worker *mw);

#endif
