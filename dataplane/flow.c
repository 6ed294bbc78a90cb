/* SPDX-License-Identifier: BSD-3-Clause */
#include "flow.h"

#include <math.h>
#include <string.h>

#include <rte_prefetch.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_tcp.h>

uint64_t
st_sample_threshold(double percent)
{
	if (!(percent > 0))	/* also catches NaN */
		return 0;
	if (percent >= 100)
		return ST_SAMPLE_ALL;
	return (uint64_t)llround(percent / 100.0 * (double)ST_SAMPLE_ALL);
}

uint32_t
st_sample_salt(const char *name)
{
	/* The CRC reads words: give it an aligned copy of the name. */
	char aligned[ST_SAMPLE_NAME_MAX] __attribute__((aligned(8)));
	size_t len = strnlen(name, sizeof(aligned));

	memcpy(aligned, name, len);
	/* Mixed so that names differing in one character give unrelated
	 * salts. */
	return st_flow_mix(rte_hash_crc(aligned, len, 0x5348414d));
}

/* A flow that said goodbye (RST, or FIN both ways) lingers this long, so
 * the last ACKs and retransmissions still find it. It must outlive a
 * pending request head (ST_FLOW_HEAD_TIMEOUT_MS), which points at it. */
#define CLOSING_TIMEOUT_S 2
_Static_assert(ST_FLOW_HEAD_TIMEOUT_MS < CLOSING_TIMEOUT_S * 1000,
	       "a flow must outlive its pending request head");

struct st_flow_table {
	struct rte_hash *hash;
	uint64_t idle_tsc;
	uint64_t closing_tsc;
	uint32_t iter;		/* the slot the expiry scan resumes at */
	uint32_t size;		/* slots */
	struct st_flow flows[];	/* indexed by rte_hash key position */
};

/* rte_hash's own hash of a key, for the calls that take no hash: the same
 * as st_flow_hash(). */
static uint32_t
key_hash(const void *key, uint32_t len, uint32_t init)
{
	RTE_SET_USED(len);
	RTE_SET_USED(init);
	return st_flow_hash(key);
}

struct st_flow_table *
st_flow_table_create(const char *name, uint32_t size, uint32_t idle_timeout_s,
		     int socket)
{
	struct rte_hash_parameters params = {
		.name = name,
		.entries = size,
		.key_len = sizeof(struct st_flow_key),
		.hash_func = key_hash,
		.socket_id = socket,
	};
	struct st_flow_table *t;

	t = rte_zmalloc_socket(name, sizeof(*t) + sizeof(t->flows[0]) * size,
			       RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	t->hash = rte_hash_create(&params);
	if (t->hash == NULL) {
		rte_free(t);
		return NULL;
	}
	t->size = size;
	t->idle_tsc = (uint64_t)idle_timeout_s * rte_get_tsc_hz();
	t->closing_tsc = RTE_MIN(t->idle_tsc, (uint64_t)CLOSING_TIMEOUT_S *
						  rte_get_tsc_hz());
	return t;
}

void
st_flow_table_free(struct st_flow_table *t)
{
	if (t == NULL)
		return;
	rte_hash_free(t->hash);
	rte_free(t);
}

static inline void
flow_update(struct st_flow *f, const struct st_pkt_info *info,
	    uint64_t now_tsc)
{
	f->last_seen_tsc = now_tsc;
	if (likely(!(info->tcp_flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG))))
		return;
	if (info->tcp_flags & RTE_TCP_RST_FLAG)
		f->closing = 1;
	else
		f->fin_seen |= (info->flags & ST_PKT_SWAPPED) ? 2 : 1;
	if (f->fin_seen == 3)
		f->closing = 1;
}

/* Whether a packet opens a new connection over a closed one. An entry with
 * a request head still gathered is left to its head (it expires soon). */
static inline bool
reopens(const struct st_flow *f, const struct st_pkt_info *info)
{
	return f->closing && f->head == 0 &&
	       (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
		       RTE_TCP_SYN_FLAG;
}

/*
 * A SYN on a closed connection's entry: clients reuse a port within a
 * second, while the entry lingers. The new connection's TCP state starts
 * afresh and its first request is a new selection (flows_selected); until
 * that request it follows the flow's verdict, as a keep-alive connection
 * would, so a flow stays one flow for its copies (mirrored_flows).
 */
static inline void
reopen(struct st_flow *f)
{
	f->closing = 0;
	f->fin_seen = 0;
	f->next_request_dir = 0;
	f->selected = 0;
}

void
st_flow_table_lookup_burst(struct st_flow_table *t,
			   const struct st_flow_key *keys,
			   uint32_t *hashes,
			   const struct st_pkt_info *infos, unsigned int n,
			   uint64_t now_tsc, struct st_flow **flows,
			   uint64_t *created, uint64_t *full)
{
	const void *key_ptrs[ST_FLOW_BURST_MAX];
	int32_t pos[ST_FLOW_BURST_MAX];
	unsigned int i;

	for (i = 0; i < n; i++)
		key_ptrs[i] = &keys[i];
	rte_hash_lookup_with_hash_bulk(t->hash, key_ptrs, hashes, n, pos);
	/* Flows are scattered over the table: ask for all of them at once
	 * rather than waiting on each in turn. */
	for (i = 0; i < n; i++)
		if (likely(pos[i] >= 0))
			rte_prefetch0(&t->flows[pos[i]]);

	for (i = 0; i < n; i++) {
		struct st_flow *f;

		if (unlikely(pos[i] < 0)) {
			/* Added one at a time: a later packet of this burst
			 * may belong to the same new flow, and adding an
			 * existing key returns its position. */
			pos[i] = rte_hash_add_key_with_hash(t->hash, &keys[i],
							    hashes[i]);
			if (unlikely(pos[i] < 0)) {
				(*full)++;
				flows[i] = NULL;
				continue;
			}
		}
		f = &t->flows[pos[i]];
		if (unlikely(reopens(f, &infos[i])))
			reopen(f);
		/* Slots are zeroed when freed, so a zero time is a new flow
		 * (one created earlier in this burst already has a time). */
		if (f->last_seen_tsc == 0) {
			f->route = ST_FLOW_ROUTE_UNSET;
			(*created)++;
		}
		flow_update(f, &infos[i], now_tsc);
		flows[i] = f;
	}
}

unsigned int
st_flow_table_expire(struct st_flow_table *t, uint64_t now_tsc,
		     unsigned int budget)
{
	unsigned int removed = 0;
	const void *key;

	/* A walk over the slots, not rte_hash_iterate(): that one skips
	 * empty slots unbounded, so a mostly empty table cost most. */
	while (budget-- > 0) {
		uint32_t pos = t->iter;
		struct st_flow *f = &t->flows[pos];
		uint64_t timeout = f->closing ? t->closing_tsc : t->idle_tsc;

		t->iter = pos + 1 == t->size ? 0 : pos + 1;
		/* A zero time is a free slot: slots are zeroed when freed. */
		if (f->last_seen_tsc == 0 || now_tsc - f->last_seen_tsc <= timeout)
			continue;
		if (rte_hash_get_key_with_position(t->hash, (int32_t)pos,
						   (void **)&key) == 0 &&
		    rte_hash_del_key(t->hash, key) >= 0) {
			memset(f, 0, sizeof(*f));
			removed++;
		}
	}
	return removed;
}

uint32_t
st_flow_table_count(const struct st_flow_table *t)
{
	return (uint32_t)rte_hash_count(t->hash);
}
