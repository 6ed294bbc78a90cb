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
	uint32_t hand;		/* the run eviction samples next */
	uint32_t stride;	/* between the runs it samples */
	uint32_t count;		/* flows in the table */
	uint32_t capacity;	/* most flows it holds: its size */
	uint32_t slots;		/* positions in rte_hash (see SLACK) */
	struct st_flow flows[];	/* indexed by rte_hash key position */
};

/*
 * rte_hash is made with a quarter more entries than the table holds. A
 * cuckoo hash filled to its last bucket slot makes every insertion search
 * up to a thousand buckets for a chain of moves (a microsecond), and under
 * a flood every packet inserts; with its buckets no more than 80% full a
 * new key nearly always finds room at once. The table evicts at its own
 * count, so that room stays free.
 */
#define SLACK(size) ((size) / 4)

/* Eviction reads runs of this many neighbouring slots: 96 bytes, two cache
 * lines at most. */
#define EVICT_RUN 4
_Static_assert(ST_FLOW_EVICT_WINDOW % EVICT_RUN == 0, "whole runs");
_Static_assert(ST_FLOW_EVICT_SCAN_MAX % EVICT_RUN == 0, "whole runs");
#define EVICT_SCAN_RUNS ((uint32_t)(ST_FLOW_EVICT_SCAN_MAX / EVICT_RUN))

/* rte_hash's own hash of a key, for the calls that take no hash: the same
 * as st_flow_hash(). */
static uint32_t
key_hash(const void *key, uint32_t len, uint32_t init)
{
	RTE_SET_USED(len);
	RTE_SET_USED(init);
	return st_flow_hash(key);
}

static uint32_t
gcd(uint32_t a, uint32_t b)
{
	while (b != 0) {
		uint32_t r = a % b;

		a = b;
		b = r;
	}
	return a;
}

/* Between two runs sampled in a row: the window's runs spread over the
 * table, and coprime with the number of runs so that all come in turn. */
static uint32_t
sample_stride(uint32_t runs)
{
	uint32_t stride =
		RTE_MAX(runs / (ST_FLOW_EVICT_WINDOW / EVICT_RUN), 1u);

	while (gcd(stride, runs) != 1)
		stride++;
	return stride;
}

struct st_flow_table *
st_flow_table_create(const char *name, uint32_t size, uint32_t idle_timeout_s,
		     int socket)
{
	uint32_t slots = RTE_ALIGN_CEIL(size + SLACK(size), EVICT_RUN);
	struct rte_hash_parameters params = {
		.name = name,
		.entries = slots,
		.key_len = sizeof(struct st_flow_key),
		.hash_func = key_hash,
		.socket_id = socket,
		/* A key that finds both its buckets full goes into a linked
		 * one: rte_hash refuses no key while it has a free entry. */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct st_flow_table *t;

	t = rte_zmalloc_socket(name, sizeof(*t) + sizeof(t->flows[0]) * slots,
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
	t->capacity = size;
	t->slots = slots;
	t->stride = sample_stride(slots / EVICT_RUN);
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
	uint8_t dir = (info->flags & ST_PKT_SWAPPED) ? ST_FLOW_SEEN_HI :
						       ST_FLOW_SEEN_LO;
	uint8_t syn =
		(info->tcp_flags & RTE_TCP_SYN_FLAG) ? ST_FLOW_SEEN_SYN : 0;
	uint8_t data = info->payload_len != 0 ? ST_FLOW_SEEN_DATA : 0;

	f->last_seen_tsc = now_tsc;
	/* On the line just written, without a branch: what eviction needs
	 * to tell a connection that opened from a half-open one. */
	f->seen |= dir | syn | data;
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
	f->seen = 0;
	f->next_request_dir = 0;
	f->selected = 0;
}

/* Remove the flow at @p pos; its slot is zeroed for the next one. */
static bool
flow_remove(struct st_flow_table *t, uint32_t pos)
{
	const void *key;

	if (rte_hash_get_key_with_position(t->hash, (int32_t)pos,
					   (void **)&key) != 0 ||
	    rte_hash_del_key(t->hash, key) < 0)
		return false;
	memset(&t->flows[pos], 0, sizeof(t->flows[pos]));
	t->count--;
	return true;
}

#define SEEN_EXCHANGE (ST_FLOW_SEEN_LO | ST_FLOW_SEEN_HI | ST_FLOW_SEEN_DATA)

static inline enum st_flow_evict
evict_class(const struct st_flow *f)
{
	if (f->closing)
		return ST_FLOW_EVICT_CLOSED;
	if ((f->seen & ST_FLOW_SEEN_SYN) &&
	    (f->seen & SEEN_EXCHANGE) != SEEN_EXCHANGE)
		return ST_FLOW_EVICT_HALF_OPEN;
	return ST_FLOW_EVICT_LRU;
}

/*
 * Entries that may not go: those seen at @p now_tsc (packets of this burst
 * point at them) and those a request head points at. They are at most the
 * packets of one poll and the heads (256); with the free slots, a fifth of
 * them, they leave most of ST_FLOW_EVICT_SCAN_MAX samples evictable.
 */
static inline bool
evictable(const struct st_flow *f, uint64_t now_tsc)
{
	return f->last_seen_tsc != 0 && f->last_seen_tsc != now_tsc &&
	       f->head == 0;
}

static inline uint32_t
next_run(const struct st_flow_table *t, uint32_t run)
{
	run += t->stride;
	return run >= t->slots / EVICT_RUN ? run - t->slots / EVICT_RUN : run;
}

static inline void
prefetch_run(const struct st_flow_table *t, uint32_t run)
{
	rte_prefetch0(&t->flows[run * EVICT_RUN]);
	rte_prefetch0(&t->flows[run * EVICT_RUN + EVICT_RUN - 1]);
}

/*
 * Make room in a full table: of the next ST_FLOW_EVICT_WINDOW evictable
 * entries sampled, evict a closed one, else the oldest half-open one, else
 * the oldest.
 *
 * Sampled, as Redis approximates LRU, rather than lists kept in order: a
 * list per class, or one in order of last use, would be relinked on every
 * packet, writing to two other flows' cache lines at line rate for the
 * rare moments the table is full. Sampling costs nothing until the table
 * is full, then a bounded number of reads per new flow, and ranks entries
 * by what every packet writes anyway. The window is small because a flood
 * makes a new flow per packet: under a flood most entries are the flood's,
 * and with a share s of entries half-open, a window of 16 misses them all
 * with probability about (1 - s)^16, under 1% for s >= 25%.
 *
 * A window is four runs of four slots, a quarter of the table apart. Runs,
 * because once a slot is read its neighbours cost little (16 scattered
 * slots cost about 60 ns more per new flow); apart, because flows created
 * together sit in neighbouring slots, and a window of them only (a batch
 * of long-lived connections) would give one of them up. The runs step at
 * a stride coprime with their number, so every slot is sampled in turn;
 * new flows take slots just freed, so a flow is sampled again only after
 * that turn. The next window is asked for at the end: under a flood, the
 * next new flow comes a few packets later and finds it in cache.
 */
static int
evict_one(struct st_flow_table *t, uint64_t now_tsc, uint64_t *evicted)
{
	uint32_t left = RTE_MIN(t->slots / EVICT_RUN, EVICT_SCAN_RUNS);
	enum st_flow_evict best = ST_FLOW_EVICT_CLASSES;
	unsigned int candidates = 0;
	uint64_t best_tsc = 0;
	uint32_t victim = 0, run, k;

	while (left > 0 && candidates < ST_FLOW_EVICT_WINDOW &&
	       best != ST_FLOW_EVICT_CLOSED) {
		uint32_t pos[ST_FLOW_EVICT_WINDOW];
		uint32_t nb = 0;

		/* Runs far apart: asked for all at once. */
		for (; nb < ST_FLOW_EVICT_WINDOW && left > 0; left--) {
			prefetch_run(t, t->hand);
			for (k = 0; k < EVICT_RUN; k++)
				pos[nb++] = t->hand * EVICT_RUN + k;
			t->hand = next_run(t, t->hand);
		}
		for (k = 0; k < nb && candidates < ST_FLOW_EVICT_WINDOW &&
			    best != ST_FLOW_EVICT_CLOSED;
		     k++) {
			const struct st_flow *f = &t->flows[pos[k]];
			enum st_flow_evict class;

			if (!evictable(f, now_tsc))
				continue;
			candidates++;
			class = evict_class(f);
			if (class < best ||
			    (class == best && f->last_seen_tsc < best_tsc)) {
				best = class;
				best_tsc = f->last_seen_tsc;
				victim = pos[k];
			}
		}
	}
	for (k = 0, run = t->hand; k < ST_FLOW_EVICT_WINDOW / EVICT_RUN; k++) {
		prefetch_run(t, run);
		run = next_run(t, run);
	}
	if (best == ST_FLOW_EVICT_CLASSES || !flow_remove(t, victim))
		return -ENOSPC;
	evicted[best]++;
	return 0;
}

/*
 * Make room for the new flow of packet @p i, just added to a full table
 * (rte_hash has room past the table's: SLACK), or take it out again.
 * Packets after @p i know their flows' positions: those flows are marked
 * as seen now (which their own update will say anyway), so that no
 * eviction takes them.
 */
static __rte_noinline bool
make_room(struct st_flow_table *t, const struct st_flow_key *keys,
	  uint32_t *hashes, const int32_t *pos, unsigned int i, unsigned int n,
	  uint64_t now_tsc, bool *marked, uint64_t *evicted)
{
	unsigned int k;

	if (!*marked) {
		for (k = i + 1; k < n; k++)
			if (pos[k] >= 0)
				t->flows[pos[k]].last_seen_tsc = now_tsc;
		*marked = true;
	}
	if (evict_one(t, now_tsc, evicted) == 0)
		return true;
	rte_hash_del_key_with_hash(t->hash, &keys[i], hashes[i]);
	return false;
}

void
st_flow_table_lookup_burst(struct st_flow_table *t,
			   const struct st_flow_key *keys,
			   uint32_t *hashes,
			   const struct st_pkt_info *infos, unsigned int n,
			   uint64_t now_tsc, struct st_flow **flows,
			   uint64_t *created, uint64_t *full,
			   uint64_t *evicted)
{
	const void *key_ptrs[ST_FLOW_BURST_MAX];
	int32_t pos[ST_FLOW_BURST_MAX];
	bool marked = false;
	unsigned int i;

	/* A burst that needs no flow (http.ports let it all by) costs
	 * nothing here: rte_hash's bulk lookup is not free for no key. */
	if (n == 0)
		return;
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
			if (unlikely(t->count == t->capacity) &&
			    !make_room(t, keys, hashes, pos, i, n, now_tsc,
				       &marked, evicted)) {
				(*full)++;
				flows[i] = NULL;
				continue;
			}
			f->route = ST_FLOW_ROUTE_UNSET;
			t->count++;
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

	/* A walk over the slots, not rte_hash_iterate(): that one skips
	 * empty slots unbounded, so a mostly empty table cost most. */
	while (budget-- > 0) {
		uint32_t pos = t->iter;
		struct st_flow *f = &t->flows[pos];
		uint64_t timeout = f->closing ? t->closing_tsc : t->idle_tsc;

		t->iter = pos + 1 == t->slots ? 0 : pos + 1;
		/* A zero time is a free slot: slots are zeroed when freed. */
		if (f->last_seen_tsc == 0 || now_tsc - f->last_seen_tsc <= timeout)
			continue;
		removed += flow_remove(t, pos);
	}
	return removed;
}

uint32_t
st_flow_table_count(const struct st_flow_table *t)
{
	return (uint32_t)rte_hash_count(t->hash);
}
