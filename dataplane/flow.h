/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_FLOW_H
#define ST_FLOW_H

/*
 * Flow hashing and deterministic per-flow sampling (docs/flows.md).
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_hash_crc.h>
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#include "parse.h"

/** Most samples a policy holds (a bit each in a 32-bit mask). */
#define ST_SAMPLE_MAX 8

/** A sampling threshold that selects every flow (percent = 100). */
#define ST_SAMPLE_ALL (UINT64_C(1) << 32)

_Static_assert(ST_FLOW_KEY_HASHED == 40, "st_flow_hash() reads 5 words");

/**
 * Symmetric 32-bit hash of a canonical flow key (CRC32-C, so it costs a few
 * instructions with SSE4.2 or the ARMv8 CRC extension). Thread-safe.
 */
static inline uint32_t
st_flow_hash(const struct st_flow_key *key)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	/* The CRC rte_hash_crc() gives, without its choice of CRC unit on
	 * every word: this runs once per packet. */
	const uint64_t *w = (const uint64_t *)key;
	uint64_t crc = _mm_crc32_u64(0, w[0]);

	crc = _mm_crc32_u64(crc, w[1]);
	crc = _mm_crc32_u64(crc, w[2]);
	crc = _mm_crc32_u64(crc, w[3]);
	return (uint32_t)_mm_crc32_u64(crc, w[4]);
#else
	return rte_hash_crc(key, ST_FLOW_KEY_HASHED, 0);
#endif
}

/* Finaliser of MurmurHash3: spreads the CRC's bits so that every salt gives
 * an independent, uniform sample. */
static inline uint32_t
st_flow_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/**
 * Whether a flow falls into a sample.
 *
 * @param flow_hash  st_flow_hash() of the flow's key
 * @param salt       per-mirror salt from st_sample_salt()
 * @param threshold  from st_sample_threshold()
 */
static inline bool
st_sample(uint32_t flow_hash, uint32_t salt, uint64_t threshold)
{
	return st_flow_mix(flow_hash ^ salt) < threshold;
}

/**
 * Convert a percentage (0..100, fractions allowed) to a threshold for
 * st_sample(). Values outside the range are clamped.
 */
uint64_t st_sample_threshold(double percent);

/** Longest name st_sample_salt() reads; the rest of a name is ignored. */
#define ST_SAMPLE_NAME_MAX 64

/**
 * Salt of a named sample (a mirror or a route): a stable function of the
 * name, so that the same config selects the same flows on every run.
 */
uint32_t st_sample_salt(const char *name);

/* Per-mirror sampling: mirror i takes the flows under threshold[i]. */
struct st_sample_policy {
	unsigned int count;
	uint64_t threshold[ST_SAMPLE_MAX];
	uint32_t salt[ST_SAMPLE_MAX];
};

/** Bit i set: mirror i takes the flow with hash @p flow_hash. */
static inline uint32_t
st_sample_mask(const struct st_sample_policy *policy, uint32_t flow_hash)
{
	uint32_t mask = 0;
	unsigned int i;

	for (i = 0; i < policy->count; i++)
		if (st_sample(flow_hash, policy->salt[i],
			      __atomic_load_n(&policy->threshold[i],
					      __ATOMIC_RELAXED)))
			mask |= 1u << i;
	return mask;
}

/* struct st_flow.route values other than a route index. */
#define ST_FLOW_ROUTE_UNSET 0xff	/* no request seen: mirror defaults */
#define ST_FLOW_ROUTE_DEFAULT 0xfe	/* last request matched no route */

/* A request head split over segments is decided on what was seen when
 * the rest has not come within this time. */
#define ST_FLOW_HEAD_TIMEOUT_MS 500

/* struct st_flow.seen bits: what a full table tells a connection that
 * opened from a half-open one by. */
#define ST_FLOW_SEEN_LO 0x01	/* the "lo" endpoint sent a packet */
#define ST_FLOW_SEEN_HI 0x02	/* the "hi" endpoint sent a packet */
#define ST_FLOW_SEEN_SYN 0x04	/* a SYN (TCP only) */
#define ST_FLOW_SEEN_DATA 0x08	/* an L4 payload */

/* What a worker remembers about one flow: 24 bytes, beside its key in one
 * 64-byte slot of the table (a packet touches its flow's line, and its
 * bucket's). The flags a packet rarely changes share a byte, so that the
 * verdict fits. */
struct st_flow {
	uint64_t last_seen_tsc;
	uint32_t next_request_seq;	/* where its next request starts */
	uint8_t next_request_dir;	/* 0: unknown; else 1 + ST_PKT_SWAPPED
					 * of the requests' direction */
	uint8_t mirrored;	/* mirror sessions that got a copy (bit mask) */
	uint8_t seen;		/* ST_FLOW_SEEN_* since it (re)opened */
	uint8_t fin_seen : 2;	/* bit 0: "lo" endpoint sent FIN, bit 1: "hi" */
	uint8_t closing : 1;	/* RST or FIN both ways: expire soon */
	uint8_t write : 1;	/* its last request was a write */
	uint8_t selected : 1;	/* its last request selected it for a mirror */
	uint8_t route;		/* what its last request matched (policy.h) */
	uint8_t routes_generation;	/* of the route table it refers to */
	uint8_t probe;		/* the table's: its slot's bucket less its
				 * home bucket */
	uint8_t verdict;	/* the mirrors it goes to (policy.h) ... */
	uint16_t head;		/* 1 + index of a pending request head, or 0 */
	uint16_t verdict_generation;	/* ... under the policy of this
					 * generation; 0: none yet */
};

_Static_assert(sizeof(struct st_flow) == 24, "a flow entry is 24 bytes");

struct st_flow_table;

/*
 * When a new flow finds the table full, an entry is evicted to make room,
 * so that a flood of new flows (a SYN flood, a scan) cannot stop legitimate
 * new connections from being mirrored until the flood's entries time out.
 * The victim is, in this order of preference:
 * - closed: RST, or FIN both ways; only retransmissions can still come;
 * - half-open: a SYN was seen, and not yet packets both ways and a
 *   payload. A flood's entries are; a real connection is only until its
 *   first request, which decides its verdict again in a new entry;
 * - otherwise the least recently seen.
 * An entry is never evicted while a request head is gathered for it (its
 * "head" is set: the head points at it), nor when it was seen at the
 * current @p now_tsc: the flows a lookup returned stay valid through every
 * lookup with the same time. Eviction ranks a window of entries, not the
 * whole table (flow.c says why), so its cost per new flow is bounded; it
 * costs nothing while the table has room.
 */
enum st_flow_evict {
	ST_FLOW_EVICT_CLOSED,
	ST_FLOW_EVICT_HALF_OPEN,
	ST_FLOW_EVICT_LRU,
	ST_FLOW_EVICT_CLASSES
};

/* One eviction compares this many evictable entries, sampled over the
 * table (fewer when it meets a closed one): a table no larger than this is
 * ranked whole. */
#define ST_FLOW_EVICT_WINDOW 16
/* Slots one eviction looks at, at most, whatever they hold: it gives up
 * (the new flow gets no entry) when none of them may be evicted. */
#define ST_FLOW_EVICT_SCAN_MAX 512

/* A new flow is stored in its key's home bucket of the table or at most
 * this many buckets past it (7 slots each): a bound on every lookup. When
 * they are all taken, it gets no entry (counted in flow_table_full), as
 * keys made to share a hash would find; by chance, with the table no more
 * than 80% full, it does not happen. */
#define ST_FLOW_PROBE_MAX 32

/**
 * Create a flow table for one worker (single-threaded: no locks).
 *
 * @param name            what its memory is called (rte_malloc)
 * @param size            maximum number of flows (at least 8)
 * @param idle_timeout_s  a flow idle this long is forgotten
 * @param socket          NUMA socket for the memory
 * @return the table, or NULL (rte_errno set)
 */
struct st_flow_table *st_flow_table_create(const char *name, uint32_t size,
					   uint32_t idle_timeout_s,
					   int socket);

/** Free a table (NULL is fine). */
void st_flow_table_free(struct st_flow_table *t);

/**
 * The memory of a table's slots and buckets, and how much of it the
 * kernel backs with transparent hugepages: a table made without EAL
 * hugepages asks for them (on EAL hugepages, 0). Slow, it reads
 * /proc/self/smaps: for start-up messages and tests.
 *
 * @return 0, or a negative errno when smaps cannot be read
 */
int st_flow_table_memory(const struct st_flow_table *t, size_t *bytes,
			 size_t *thp_bytes);

/**
 * Find the flows of a burst of packets, creating those not yet known (by
 * evicting one when the table is full), and update their state with each
 * packet (last seen, directions, SYN, payload, FIN/RST).
 *
 * @param keys      canonical keys
 * @param hashes    st_flow_hash() of each key (any function of the key
 *                  will do, the same on every call)
 * @param infos     parse results (TCP flags, direction, payload length)
 * @param n         burst size, at most ST_FLOW_BURST_MAX
 * @param now_tsc   current TSC; never 0. The flows returned stay valid
 *                  until a lookup with another time evicts them, or an
 *                  expiry removes them
 * @param flows     out: each packet's flow, or NULL when the table is full
 *                  and nothing could be evicted
 * @param created   counter of flows created
 * @param full      counter of packets that got no flow
 * @param evicted   ST_FLOW_EVICT_CLASSES counters of flows evicted, by
 *                  enum st_flow_evict
 */
#define ST_FLOW_BURST_MAX 64
void st_flow_table_lookup_burst(struct st_flow_table *t,
				const struct st_flow_key *keys,
				const uint32_t *hashes,
				const struct st_pkt_info *infos, unsigned int n,
				uint64_t now_tsc, struct st_flow **flows,
				uint64_t *created, uint64_t *full,
				uint64_t *evicted);

/**
 * Forget flows idle past their timeout, examining @p budget slots of the
 * table from where the previous call stopped, and wrapping at its end.
 *
 * @return the number of flows removed
 */
unsigned int st_flow_table_expire(struct st_flow_table *t, uint64_t now_tsc,
				  unsigned int budget);

/** Number of flows in the table. */
uint32_t st_flow_table_count(const struct st_flow_table *t);

#endif
