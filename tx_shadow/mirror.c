/* SPDX-License-Identifier: BSD-3-Clause */
#include "mirror.h"

#include <string.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "encap.h"
#include "txbuf.h"

_Static_assert(ST_MAX_MIRRORS <= 32, "sessions are a 32-bit mask");

struct st_mirror_session {
	struct st_encap *encap;
	uint16_t port_id;
	uint8_t link_up;	/* written by the control thread */
	uint8_t shares;		/* copies are the original, referenced */
	uint8_t plain;		/* and go out as they are: no header */
};

struct st_mirror_set {
	unsigned int count;
	struct st_mirror_session session[ST_MAX_MIRRORS];
};

struct st_mirror_worker {
	const struct st_mirror_set *set;
	struct st_mirror_pools pools;
	struct st_worker_stats *stats;
	/* Copies that may still share their original before the data pool
	 * is looked at again, and whether it was in this iteration. */
	uint32_t share_budget;
	bool share_looked;
	/* Copies made, per session that is not plain: its headers'
	 * sequence numbers. */
	uint32_t seq[ST_MAX_MIRRORS];
	/* Indirect mbufs taken from the clone pool ST_BURST at a time: a
	 * copy then costs a pop, not a mempool get of its own. */
	uint16_t stocked;
	struct rte_mbuf *stock[ST_BURST];
	struct st_txbuf tx[ST_MAX_MIRRORS];
} __rte_cache_aligned;

struct st_mirror_set *
st_mirror_set_create(const struct st_config *cfg, int socket)
{
	struct st_mirror_set *set;
	unsigned int i;

	set = rte_zmalloc_socket("st_mirror_set", sizeof(*set),
				 RTE_CACHE_LINE_SIZE, socket);
	if (set == NULL)
		return NULL;
	for (i = 0; i < cfg->nb_mirrors; i++) {
		const struct st_mirror_conf *mc = &cfg->mirrors[i];
		struct st_mirror_session *s = &set->session[i];
		struct rte_ether_addr mac;

		s->port_id = mc->port.port_id;
		s->link_up = 1;
		if (rte_eth_macaddr_get(s->port_id, &mac) != 0)
			memset(&mac, 0, sizeof(mac));
		s->encap = st_encap_create(&mc->encap, mc->truncate, &mac,
					   socket);
		if (s->encap == NULL) {
			st_mirror_set_free(set);
			return NULL;
		}
		s->shares = st_encap_keeps_frame(s->encap);
		s->plain = s->shares && !st_encap_has_header(s->encap);
		set->count++;
	}
	return set;
}

void
st_mirror_set_free(struct st_mirror_set *set)
{
	unsigned int i;

	if (set == NULL)
		return;
	for (i = 0; i < set->count; i++)
		st_encap_free(set->session[i].encap);
	rte_free(set);
}

unsigned int
st_mirror_set_count(const struct st_mirror_set *set)
{
	return set->count;
}

uint16_t
st_mirror_set_port(const struct st_mirror_set *set, unsigned int idx)
{
	return set->session[idx].port_id;
}

bool
st_mirror_set_has_headers(const struct st_mirror_set *set)
{
	unsigned int i;

	for (i = 0; i < set->count; i++)
		if (st_encap_has_header(set->session[i].encap))
			return true;
	return false;
}

void
st_mirror_set_link(struct st_mirror_set *set, unsigned int idx, bool up)
{
	__atomic_store_n(&set->session[idx].link_up, up, __ATOMIC_RELAXED);
}

struct st_mirror_worker *
st_mirror_worker_create(const struct st_mirror_set *set, uint16_t queue_id,
			const struct st_mirror_pools *pools,
			struct st_worker_stats *stats, int socket)
{
	struct st_mirror_worker *mw;
	unsigned int i;

	mw = rte_zmalloc_socket("st_mirror_worker", sizeof(*mw),
				RTE_CACHE_LINE_SIZE, socket);
	if (mw == NULL)
		return NULL;
	mw->set = set;
	mw->pools = *pools;
	if (mw->pools.data_sharers == 0)
		mw->pools.data_sharers = 1;
	mw->stats = stats;
	for (i = 0; i < set->count; i++) {
		struct st_mirror_stats *ms = &stats->mirror[i];

		st_txbuf_init(&mw->tx[i], set->session[i].port_id, queue_id, 0,
			      &ms->packets, &ms->bytes,
			      &ms->dropped[ST_DROP_RING_FULL],
			      &ms->dropped_bytes);
	}
	return mw;
}

static void
unstock(struct st_mirror_worker *mw)
{
	rte_mempool_put_bulk(mw->pools.clone, (void **)mw->stock, mw->stocked);
	mw->stocked = 0;
}

void
st_mirror_worker_free(struct st_mirror_worker *mw)
{
	if (mw == NULL)
		return;
	unstock(mw);
	rte_free(mw);
}

static void
count_drop(struct st_mirror_stats *ms, enum st_drop_cause cause,
	   const struct rte_mbuf *m)
{
	ms->dropped[cause]++;
	ms->dropped_bytes += rte_pktmbuf_pkt_len(m);
}

/* Refill the empty stock. A pool with fewer than a burst left gives its
 * last mbufs one at a time, so that copies fail only once it is empty. */
static __rte_noinline bool
restock(struct st_mirror_worker *mw)
{
	if (rte_mempool_get_bulk(mw->pools.clone, (void **)mw->stock,
				 ST_BURST) == 0) {
		mw->stocked = ST_BURST;
		return true;
	}
	mw->stock[0] = rte_mbuf_raw_alloc(mw->pools.clone);
	mw->stocked = mw->stock[0] != NULL;
	return mw->stocked != 0;
}

/*
 * rte_pktmbuf_clone() of @p m. That one is not inline and loops over the
 * segments; for a one-segment packet (nearly all) it is an alloc and an
 * attach. The attach sets every field the alloc's reset would, so an mbuf
 * as the pool keeps it (what rte_mbuf_raw_alloc() returns) is enough.
 */
static inline struct rte_mbuf *
clone_of(struct st_mirror_worker *mw, struct rte_mbuf *m)
{
	struct rte_mbuf *mi;

	if (unlikely(m->nb_segs != 1))
		return rte_pktmbuf_clone(m, mw->pools.clone);
	if (unlikely(mw->stocked == 0) && !restock(mw))
		return NULL;
	mi = mw->stock[--mw->stocked];
	rte_pktmbuf_attach(mi, m);
	return mi;
}

/*
 * Whether a copy may share its original. The budget is this worker's part
 * of what the data pool had beyond the reserve when last looked at: the
 * look reads every lcore's cache, so it is made once a budget, and at
 * most once an iteration when the pool is short.
 */
static __rte_noinline bool
share_refill(struct st_mirror_worker *mw)
{
	unsigned int avail;

	if (mw->share_looked)
		return false;
	mw->share_looked = true;
	avail = rte_mempool_avail_count(mw->pools.data);
	mw->share_budget = avail > mw->pools.data_reserve ?
		(avail - mw->pools.data_reserve) / mw->pools.data_sharers : 0;
	return mw->share_budget != 0;
}

static inline struct rte_mbuf *
share_of(struct st_mirror_worker *mw, struct rte_mbuf *m)
{
	if (unlikely(mw->share_budget == 0) && !share_refill(mw))
		return NULL;
	mw->share_budget--;
	st_mirror_ref(m);
	return m;
}

/* A copy that session @p i changes: a clone of its own (truncated,
 * tagged), or the original shared with a header mbuf in front. */
static struct rte_mbuf *
copy_of(struct st_mirror_worker *mw, unsigned int i, struct rte_mbuf *m,
	uint32_t flow_hash)
{
	const struct st_mirror_session *s = &mw->set->session[i];
	struct rte_mbuf *copy = s->shares ? share_of(mw, m) : clone_of(mw, m);

	if (unlikely(copy == NULL))
		return NULL;
	return st_encap_apply(s->encap, copy, mw->pools.hdr, flow_hash,
			      mw->seq[i]++, &mw->stats->mirror[i].truncated);
}

void
st_mirror_send(struct st_mirror_worker *mw, struct rte_mbuf *m,
	       uint32_t sessions, uint32_t flow_hash)
{
	while (sessions != 0) {
		unsigned int i = rte_bsf32(sessions);
		const struct st_mirror_session *s = &mw->set->session[i];
		struct st_mirror_stats *ms = &mw->stats->mirror[i];
		struct rte_mbuf *copy;

		sessions &= sessions - 1;
		if (unlikely(!__atomic_load_n(&s->link_up, __ATOMIC_RELAXED))) {
			count_drop(ms, ST_DROP_LINK_DOWN, m);
			continue;
		}
		/* What copies pin is bounded (struct st_mirror_pools): under
		 * pressure copies fail here, originals do not. A plain
		 * session's copy is the original as it is: nothing for
		 * st_encap_apply() to do. */
		copy = likely(s->plain) ? share_of(mw, m) :
					  copy_of(mw, i, m, flow_hash);
		if (unlikely(copy == NULL)) {
			count_drop(ms, ST_DROP_NO_MBUF, m);
			continue;
		}
		st_txbuf_add(&mw->tx[i], copy);
	}
}

struct rte_mbuf **
st_mirror_reserve(struct st_mirror_worker *mw, uint32_t sessions,
		  unsigned int want, unsigned int *n)
{
	unsigned int i = rte_bsf32(sessions), room;
	const struct st_mirror_session *s = &mw->set->session[i];
	struct rte_mbuf **at;

	if ((sessions & (sessions - 1)) != 0 || !s->plain ||
	    !__atomic_load_n(&s->link_up, __ATOMIC_RELAXED))
		return NULL;
	if (unlikely(mw->share_budget == 0) && !share_refill(mw))
		return NULL;
	at = st_txbuf_room(&mw->tx[i], &room);
	*n = RTE_MIN(RTE_MIN(want, mw->share_budget), room);
	return at;
}

void
st_mirror_commit(struct st_mirror_worker *mw, uint32_t sessions,
		 unsigned int n, uint64_t bytes)
{
	mw->share_budget -= n;
	st_txbuf_took(&mw->tx[rte_bsf32(sessions)], n, bytes);
}

struct rte_mbuf *
st_mirror_hold(struct st_mirror_worker *mw, struct rte_mbuf *m)
{
	return clone_of(mw, m);
}

void
st_mirror_flush(struct st_mirror_worker *mw)
{
	unsigned int i;

	for (i = 0; i < mw->set->count; i++)
		st_txbuf_flush(&mw->tx[i]);
	mw->share_looked = false;
}

void
st_mirror_drain(struct st_mirror_worker *mw)
{
	st_mirror_flush(mw);
	unstock(mw);
}
