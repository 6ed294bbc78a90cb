/* SPDX-License-Identifier: BSD-3-Clause */
#include "flow.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <numa.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>
#if defined(RTE_ARCH_X86_64)
#include <emmintrin.h>
#endif

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

/*
 * The table is our own rather than rte_hash: a packet's lookup there read
 * three cache lines (rte_hash's bucket, its key store, then the flow) and
 * cost 145 instructions a packet, a sixth of the HTTP mix's. Here a flow's
 * key sits beside its state in one 64-byte slot, and the buckets are only
 * signatures, four to a cache line: a packet reads its key's first-choice
 * slot, and a bucket and another slot only when its key is not there.
 *
 * A key's home bucket, its first choice there and its 16-bit signature come
 * from its hash. Its slot is its first choice when that was free, else one
 * of its home bucket's seven or, when those are taken, of the next
 * buckets' (linear probing over buckets), at most ST_FLOW_PROBE_MAX on.
 * Each bucket counts the entries stored past it whose home is at or before
 * it, so a lookup stops at the first bucket that none passed: nearly
 * always its home, with the table no more than 80% full (SLACK). Entries
 * never move, so the flows a lookup returned stay where they are.
 */
#define BUCKET_SLOTS 7
/* ST_FLOW_PROBE_MAX bounds every lookup, even on keys made to collide: the
 * hash is not keyed, as st_sample() needs the same hash on every run. */
_Static_assert(ST_FLOW_PROBE_MAX <= UINT8_MAX, "st_flow.probe: a distance");

struct bucket {
	uint16_t sig[BUCKET_SLOTS];	/* 0: a free slot */
	uint16_t passed;	/* entries stored past it, home at or before */
} __rte_aligned(16);

struct entry {
	uint64_t key[ST_FLOW_KEY_HASHED / 8];
	struct st_flow flow;
} __rte_aligned(64);

_Static_assert(sizeof(struct bucket) == 16, "four buckets a cache line");
_Static_assert(sizeof(struct entry) == 64, "a flow and its key: one line");

struct st_flow_table {
	struct bucket *buckets;
	struct entry *slots_of;	/* BUCKET_SLOTS per bucket, in its order */
	void *mem;		/* the slots, then the buckets */
	size_t mem_len;		/* its length when mapped by table_map() */
	uint64_t idle_tsc;
	uint64_t closing_tsc;
	uint32_t nb_buckets;
	uint32_t probe_max;	/* ST_FLOW_PROBE_MAX, less when small */
	uint32_t iter;		/* the slot the expiry scan resumes at */
	uint32_t hand;		/* the run eviction samples next */
	uint32_t stride;	/* between the runs it samples */
	uint32_t count;		/* flows in the table */
	uint32_t capacity;	/* most flows it holds: its size */
	uint32_t slots;		/* BUCKET_SLOTS * nb_buckets */
	bool buckets_first;	/* the last burst found more than an eighth
				 * of its keys out of their first choice */
};

/*
 * The table has a quarter more slots than it holds flows, and evicts at
 * its own count, so that room stays free: a full bucket sends a key to
 * the next one, and a run of full buckets makes every lookup that starts
 * in it longer.
 */
#define SLACK(size) ((size) / 4)

/* Eviction reads runs of this many neighbouring slots: four cache lines. */
#define EVICT_RUN 4
_Static_assert(ST_FLOW_EVICT_WINDOW % EVICT_RUN == 0, "whole runs");
_Static_assert(ST_FLOW_EVICT_SCAN_MAX % EVICT_RUN == 0, "whole runs");
#define EVICT_SCAN_RUNS ((uint32_t)(ST_FLOW_EVICT_SCAN_MAX / EVICT_RUN))

static inline uint32_t
home_of(const struct st_flow_table *t, uint32_t hash)
{
	/* The hash's high bits scaled to the buckets, with no power of two
	 * to round the table up to; the signature is its low bits. */
	return (uint32_t)(((uint64_t)hash * t->nb_buckets) >> 32);
}

static inline uint16_t
sig_of(uint32_t hash)
{
	return (uint16_t)hash | 1;	/* never 0, a free slot's */
}

/* Which of its home bucket's slots a key takes when that one is free. A
 * lookup reads it first, and most often finds its key there: one line
 * read, not a bucket and then a slot. */
static inline uint32_t
first_choice(uint32_t hash)
{
	return ((hash & UINT16_MAX) * BUCKET_SLOTS) >> 16;
}

/* The slot of its home bucket a new key takes, of those @p free there. */
static inline uint32_t
new_slot(uint32_t free, uint32_t hash)
{
	return free & (1u << first_choice(hash)) ? first_choice(hash) :
						   rte_bsf32(free);
}

static inline uint32_t
next_bucket(const struct st_flow_table *t, uint32_t b)
{
	return b + 1 == t->nb_buckets ? 0 : b + 1;
}

/* Bit k set: slot k of bucket @p b has signature @p sig. */
static inline uint32_t
bucket_match(const struct bucket *b, uint16_t sig)
{
#if defined(RTE_ARCH_X86_64)
	__m128i eq = _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)b),
				     _mm_set1_epi16((short)sig));

	/* Lanes to bytes, bytes to bits; the eighth lane is "passed". */
	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(
		       eq, _mm_setzero_si128())) &
	       ((1u << BUCKET_SLOTS) - 1);
#else
	uint32_t hits = 0;
	unsigned int k;

	for (k = 0; k < BUCKET_SLOTS; k++)
		hits |= (uint32_t)(b->sig[k] == sig) << k;
	return hits;
#endif
}

static inline bool
key_equal(const uint64_t *stored, const struct st_flow_key *key)
{
	const uint64_t *w = (const uint64_t *)key;

	_Static_assert(ST_FLOW_KEY_HASHED == 40, "a key is 5 words");
	return ((stored[0] ^ w[0]) | (stored[1] ^ w[1]) | (stored[2] ^ w[2]) |
		(stored[3] ^ w[3]) | (stored[4] ^ w[4])) == 0;
}

/* The slot of @p key, or -1; @p hits: bucket_match() of its home @p b. */
static inline int32_t
find(const struct st_flow_table *t, const struct st_flow_key *key,
     uint32_t b, uint16_t sig, uint32_t hits)
{
	uint32_t d;

	for (d = 0;; d++) {
		for (; hits != 0; hits &= hits - 1) {
			uint32_t pos = b * BUCKET_SLOTS + rte_bsf32(hits);

			if (likely(key_equal(t->slots_of[pos].key, key)))
				return (int32_t)pos;
		}
		if (likely(t->buckets[b].passed == 0) || d == t->probe_max)
			return -1;
		b = next_bucket(t, b);
		hits = bucket_match(&t->buckets[b], sig);
	}
}

/* Store a key not in the table: its slot, or -1 when the buckets within
 * reach of its home are full. The slot's flow is zero but for its probe. */
static int32_t
insert(struct st_flow_table *t, const struct st_flow_key *key, uint32_t hash)
{
	uint32_t home = home_of(t, hash), b = home, d;

	for (d = 0; d <= t->probe_max; d++, b = next_bucket(t, b)) {
		uint32_t free = bucket_match(&t->buckets[b], 0), k;
		struct entry *e;

		if (free == 0)
			continue;
		k = d == 0 ? new_slot(free, hash) : rte_bsf32(free);
		e = &t->slots_of[b * BUCKET_SLOTS + k];
		t->buckets[b].sig[k] = sig_of(hash);
		memcpy(e->key, key, sizeof(e->key));
		e->flow.probe = (uint8_t)d;
		for (b = home; d > 0; d--, b = next_bucket(t, b))
			t->buckets[b].passed++;
		return (int32_t)(e - t->slots_of);
	}
	return -1;
}

/* Remove the flow at @p pos; its slot is zeroed for the next one. */
static void
flow_remove(struct st_flow_table *t, uint32_t pos)
{
	uint32_t b = pos / BUCKET_SLOTS;
	uint32_t d = t->slots_of[pos].flow.probe;

	t->buckets[b].sig[pos % BUCKET_SLOTS] = 0;
	for (b = b >= d ? b - d : b + t->nb_buckets - d; d > 0;
	     d--, b = next_bucket(t, b))
		t->buckets[b].passed--;
	memset(&t->slots_of[pos], 0, sizeof(t->slots_of[pos]));
	t->count--;
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

/*
 * Lookups read the slots at random, a line each. On 4 KiB pages (EAL's
 * --no-huge, as in containers without hugepages) each flow's line is on a
 * page of its own, and the packets' buffers crowd those pages out of the
 * TLB: in a virtual machine, where a TLB miss walks two sets of page
 * tables, the table on transparent hugepages made the HTTP mix about 4
 * cycles a packet cheaper (perf/RESULTS.md). So without EAL
 * hugepages the table is mapped here, and the kernel asked for them. It
 * is written whole before any packet comes, so that no page fault is
 * left for the workers.
 */
#define THP_SIZE (UINT64_C(2) << 20)

static void *
table_map(size_t len, int socket)
{
	uint8_t *raw, *p;

	/* A page more, to start on a hugepage boundary. */
	raw = mmap(NULL, len + THP_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = RTE_PTR_ALIGN_CEIL(raw, THP_SIZE);
	if (p != raw)
		munmap(raw, p - raw);
	munmap(p + len, raw + THP_SIZE - p);
	/* Hints both: without them the table works on small pages, or on
	 * memory of another node. */
	(void)madvise(p, len, MADV_HUGEPAGE);
	if (socket >= 0 && numa_available() >= 0)
		numa_tonode_memory(p, len, socket);
	memset(p, 0, len);
	return p;
}

struct st_flow_table *
st_flow_table_create(const char *name, uint32_t size, uint32_t idle_timeout_s,
		     int socket)
{
	/* Whole runs of slots for eviction: EVICT_RUN buckets at a time. */
	uint32_t nb_buckets = RTE_ALIGN_CEIL(
		(size + SLACK(size) + BUCKET_SLOTS - 1) / BUCKET_SLOTS,
		EVICT_RUN);
	size_t slots_len = sizeof(struct entry) * (size_t)nb_buckets *
			   BUCKET_SLOTS;
	size_t len = slots_len + sizeof(struct bucket) * nb_buckets;
	struct st_flow_table *t;

	t = rte_zmalloc_socket(name, sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL)
		goto nomem;
	if (rte_eal_has_hugepages()) {
		t->mem = rte_zmalloc_socket(name, len, RTE_CACHE_LINE_SIZE,
					    socket);
	} else {
		len = RTE_ALIGN_CEIL(len, THP_SIZE);
		t->mem = table_map(len, socket);
		t->mem_len = t->mem != NULL ? len : 0;
	}
	if (t->mem == NULL)
		goto nomem;
	t->slots_of = t->mem;
	t->buckets = RTE_PTR_ADD(t->mem, slots_len);
	t->nb_buckets = nb_buckets;
	t->probe_max = RTE_MIN((uint32_t)ST_FLOW_PROBE_MAX, nb_buckets - 1);
	t->capacity = size;
	t->slots = nb_buckets * BUCKET_SLOTS;
	t->stride = sample_stride(t->slots / EVICT_RUN);
	t->idle_tsc = (uint64_t)idle_timeout_s * rte_get_tsc_hz();
	t->closing_tsc = RTE_MIN(t->idle_tsc, (uint64_t)CLOSING_TIMEOUT_S *
						  rte_get_tsc_hz());
	return t;
nomem:
	st_flow_table_free(t);
	rte_errno = ENOMEM;
	return NULL;
}

void
st_flow_table_free(struct st_flow_table *t)
{
	if (t == NULL)
		return;
	if (t->mem_len != 0)
		munmap(t->mem, t->mem_len);
	else
		rte_free(t->mem);
	rte_free(t);
}

int
st_flow_table_memory(const struct st_flow_table *t, size_t *bytes,
		     size_t *thp_bytes)
{
	uintptr_t at = (uintptr_t)t->mem, start, end;
	bool in = false, whole = true;
	unsigned long long kb;
	char line[256];
	FILE *f;

	*bytes = t->mem_len != 0 ? t->mem_len :
		 (size_t)t->slots * sizeof(struct entry) +
			 (size_t)t->nb_buckets * sizeof(struct bucket);
	*thp_bytes = 0;
	if (t->mem_len == 0)
		return 0;
	f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		return -errno;
	/* The mapping that holds the table: one of its own, or one the kernel
	 * merged it into with its neighbours (another worker's table). */
	for (; fgets(line, sizeof(line), f) != NULL;
	     whole = strchr(line, '\n') != NULL) {
		/* Only a line's start (a long path comes in pieces) says what
		 * it is. A mapping's, "start-end perms ...": no field's name
		 * is hex digits then a '-'. */
		if (!whole)
			continue;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &start,
			   &end) == 2) {
			in = start <= at && at < end;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) {
			*thp_bytes = RTE_MIN((size_t)kb << 10, *bytes);
			break;
		}
	}
	fclose(f);
	return 0;
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
	unsigned int k;

	for (k = 0; k < EVICT_RUN; k++)
		rte_prefetch0(&t->slots_of[run * EVICT_RUN + k]);
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
			const struct st_flow *f = &t->slots_of[pos[k]].flow;
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
	if (best == ST_FLOW_EVICT_CLASSES)
		return -ENOSPC;
	flow_remove(t, victim);
	evicted[best]++;
	return 0;
}

/* The slot of packet @p i's flow, or -1, on the table as it is now. */
static inline int32_t
find_now(const struct st_flow_table *t, const struct st_flow_key *keys,
	 const uint32_t *hashes, const uint32_t *home, unsigned int i)
{
	uint16_t sig = sig_of(hashes[i]);

	return find(t, &keys[i], home[i], sig,
		    bucket_match(&t->buckets[home[i]], sig));
}

/*
 * Add the new flow of packet @p i, evicting one first when the table is
 * full: its slot, or -1. The flows of the packets after @p i are marked
 * as seen now (which their own update will say anyway), so that no
 * eviction takes them.
 */
static __rte_noinline int32_t
flow_add(struct st_flow_table *t, const struct st_flow_key *keys,
	 const uint32_t *hashes, const uint32_t *home, unsigned int i,
	 unsigned int n, uint64_t now_tsc, bool *marked, uint64_t *evicted)
{
	unsigned int k;
	int32_t p;

	if (unlikely(t->count == t->capacity)) {
		if (!*marked) {
			for (k = i + 1; k < n; k++) {
				p = find_now(t, keys, hashes, home, k);
				if (p >= 0)
					t->slots_of[p].flow.last_seen_tsc =
						now_tsc;
			}
			*marked = true;
		}
		if (evict_one(t, now_tsc, evicted) != 0)
			return -1;
	}
	p = insert(t, &keys[i], hashes[i]);
	if (p >= 0) {
		t->slots_of[p].flow.route = ST_FLOW_ROUTE_UNSET;
		t->count++;
	}
	return p;
}

_Static_assert(ST_FLOW_BURST_MAX <= UINT8_MAX + 1, "indexes in a burst");

/*
 * Read the home buckets of the burst's packets @p which[0..nb): the slots
 * their signatures point at (or where a new flow will go) are asked for.
 * Returns how many of those keys are not in their first choice, as the
 * signatures say.
 */
static inline unsigned int
ask_slots(const struct st_flow_table *t, const uint8_t *which,
	  unsigned int nb, const uint32_t *hashes, const uint32_t *home,
	  uint32_t *hits)
{
	unsigned int k, elsewhere = 0;

	for (k = 0; k < nb; k++) {
		unsigned int i = which[k];
		const struct bucket *b = &t->buckets[home[i]];
		uint32_t free;

		hits[i] = bucket_match(b, sig_of(hashes[i]));
		elsewhere += !((hits[i] >> first_choice(hashes[i])) & 1);
		if (likely(hits[i] != 0))
			rte_prefetch0(&t->slots_of[home[i] * BUCKET_SLOTS +
						   rte_bsf32(hits[i])]);
		else if ((free = bucket_match(b, 0)) != 0)
			rte_prefetch0(&t->slots_of[home[i] * BUCKET_SLOTS +
						   new_slot(free, hashes[i])]);
	}
	return elsewhere;
}

void
st_flow_table_lookup_burst(struct st_flow_table *t,
			   const struct st_flow_key *keys,
			   const uint32_t *hashes,
			   const struct st_pkt_info *infos, unsigned int n,
			   uint64_t now_tsc, struct st_flow **flows,
			   uint64_t *created, uint64_t *full,
			   uint64_t *evicted)
{
	uint32_t home[ST_FLOW_BURST_MAX], hits[ST_FLOW_BURST_MAX];
	int32_t found[ST_FLOW_BURST_MAX];
	uint8_t missed[ST_FLOW_BURST_MAX];	/* not found in a first pass */
	bool marked = false, changed = false;
	unsigned int i, nb_missed = 0;

	/*
	 * Each pass asks for the lines the next one reads, for all the burst
	 * at once, rather than waiting on each packet in turn. Most keys are
	 * in their first-choice slot while the table has room: that slot is
	 * read first, and only the keys not there read their bucket, then
	 * the slot its signatures point at. One line a packet, not two: the
	 * CPU has only so many loads in flight, and a burst's prefetches
	 * past that stall it. When more than an eighth of the last burst's
	 * keys were elsewhere (a fuller table, a flood of new flows), every
	 * key reads its bucket first instead, as a first-choice miss would
	 * cost a wait of its own.
	 *
	 * A key found in its first choice is found before any flow of the
	 * burst is added or evicted, and stays: entries never move, and an
	 * eviction spares the burst's flows (flow_add()).
	 */
	if (likely(!t->buckets_first)) {
		/* found[i]: the key's first choice, until its key is not
		 * there. */
		for (i = 0; i < n; i++) {
			home[i] = home_of(t, hashes[i]);
			found[i] = (int32_t)(home[i] * BUCKET_SLOTS +
					     first_choice(hashes[i]));
			rte_prefetch0(&t->slots_of[found[i]]);
		}
		for (i = 0; i < n; i++) {
			/* A free slot's key is zero, which no packet's is:
			 * its kind is never 0. */
			if (likely(key_equal(t->slots_of[found[i]].key,
					     &keys[i])))
				continue;
			found[i] = -1;
			missed[nb_missed++] = (uint8_t)i;
			rte_prefetch0(&t->buckets[home[i]]);
		}
	} else {
		for (i = 0; i < n; i++) {
			home[i] = home_of(t, hashes[i]);
			rte_prefetch0(&t->buckets[home[i]]);
			found[i] = -1;
			missed[nb_missed++] = (uint8_t)i;
		}
	}
	t->buckets_first =
		ask_slots(t, missed, nb_missed, hashes, home, hits) * 8 > n;
	for (i = 0; i < n; i++) {
		struct st_flow *f;
		int32_t pos = found[i];

		/* Once a flow came or went in this burst, the buckets are
		 * read again: an earlier packet may have added this one's. */
		if (pos < 0)
			pos = likely(!changed) ?
				      find(t, &keys[i], home[i],
					   sig_of(hashes[i]), hits[i]) :
				      find_now(t, keys, hashes, home, i);
		if (unlikely(pos < 0)) {
			changed = true;
			pos = flow_add(t, keys, hashes, home, i, n, now_tsc,
				       &marked, evicted);
			if (unlikely(pos < 0)) {
				(*full)++;
				flows[i] = NULL;
				continue;
			}
			(*created)++;
		}
		f = &t->slots_of[pos].flow;
		if (unlikely(reopens(f, &infos[i])))
			reopen(f);
		flow_update(f, &infos[i], now_tsc);
		flows[i] = f;
	}
}

unsigned int
st_flow_table_expire(struct st_flow_table *t, uint64_t now_tsc,
		     unsigned int budget)
{
	unsigned int removed = 0;

	/* A walk over the slots, so that a call costs its budget however
	 * empty the table is. */
	while (budget-- > 0) {
		uint32_t pos = t->iter;
		struct st_flow *f = &t->slots_of[pos].flow;
		uint64_t timeout = f->closing ? t->closing_tsc : t->idle_tsc;

		t->iter = pos + 1 == t->slots ? 0 : pos + 1;
		/* A zero time is a free slot: slots are zeroed when freed. */
		if (f->last_seen_tsc == 0 || now_tsc - f->last_seen_tsc <= timeout)
			continue;
		flow_remove(t, pos);
		removed++;
	}
	return removed;
}

uint32_t
st_flow_table_count(const struct st_flow_table *t)
{
	return t->count;
}
