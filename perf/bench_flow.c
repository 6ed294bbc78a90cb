/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The flow table alone, for sizing it (docs/flows.md): what a worker's
 * lookup costs with FLOWS flows in a table of TABLE entries, what a new
 * flow costs while the table has room, and what one costs in a full table,
 * where each evicts another.
 *
 * usage: st_bench_flow [--rss-hash] [FLOWS [TABLE]]   (defaults 2000 and
 *        65536; the table at least twice the flows, so that there is room
 *        to time)
 * prints one JSON object, times in ns per packet, bursts of 32 as a
 * worker's; keys in a random order, so that a large table misses cache
 * as real traffic does.
 *
 * --rss-hash hashes the keys as a NIC's RSS would with the symmetric key
 * shadowtap gives the wire ports (dataplane/port.c), instead of
 * st_flow_hash(): what the table would do if it took the NIC's hash
 * (mbuf->hash.rss) rather than computing one (docs/flows.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>
#include <rte_tcp.h>
#include <rte_thash.h>

#include "bench_eal.h"
#include "flow.h"
#include "offload.h"

#define BURST 32
#define ROUND_NS 1000000000.0	/* lookups are timed over about a second */

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Flow @p i's key: 10.x.y.z:port to 10.9.9.9:80, a TCP connection. */
static void
make_key(uint32_t i, struct st_flow_key *key)
{
	memset(key, 0, sizeof(*key));
	key->addr_lo[0] = 10;
	key->addr_lo[1] = (uint8_t)(i >> 24);
	key->addr_lo[2] = (uint8_t)(i >> 16);
	key->addr_lo[3] = (uint8_t)(i >> 8);
	memcpy(key->addr_hi, (const uint8_t[]){ 10, 9, 9, 9 }, 4);
	key->port_lo = (uint16_t)(1024 + (i & 0xff));
	key->port_hi = 80;
	key->kind = ST_FLOW_L4;
	key->proto = IPPROTO_TCP;
	key->family = 4;
}

struct keys {
	struct st_flow_key *key;
	uint32_t *hash;
	uint32_t n;
};

/* One word more than the tuple: rte_softrss() reads that far. */
static uint8_t rss_key[RTE_THASH_V4_L4_LEN * 4 + 4];

/* Toeplitz with the symmetric key port.c and offload.c give the NIC. */
static uint32_t
rss_hash(const struct st_flow_key *key)
{
	struct rte_ipv4_tuple tuple;
	uint32_t addr;

	memcpy(&addr, key->addr_lo, sizeof(addr));
	tuple.src_addr = rte_be_to_cpu_32(addr);
	memcpy(&addr, key->addr_hi, sizeof(addr));
	tuple.dst_addr = rte_be_to_cpu_32(addr);
	tuple.sport = key->port_lo;
	tuple.dport = key->port_hi;
	return rte_softrss((uint32_t *)&tuple, RTE_THASH_V4_L4_LEN, rss_key);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* How many different values @p n hashes take; -ENOMEM. */
static int64_t
distinct(const uint32_t *hash, uint32_t n)
{
	uint32_t *sorted = malloc(sizeof(*sorted) * n), i, count = 0;

	if (sorted == NULL)
		return -ENOMEM;
	memcpy(sorted, hash, sizeof(*sorted) * n);
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	for (i = 0; i < n; i++)
		count += i == 0 || sorted[i] != sorted[i - 1];
	free(sorted);
	return count;
}

/* Keys first .. first + n - 1, shuffled. */
static int
keys_make(struct keys *k, uint32_t first, uint32_t n, bool rss)
{
	uint32_t i;

	k->key = malloc(sizeof(*k->key) * n);
	k->hash = malloc(sizeof(*k->hash) * n);
	k->n = n;
	if (k->key == NULL || k->hash == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		make_key(first + i, &k->key[i]);
	for (i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)random() % (i + 1);
		struct st_flow_key tmp = k->key[i];

		k->key[i] = k->key[j];
		k->key[j] = tmp;
	}
	for (i = 0; i < n; i++)
		k->hash[i] = rss ? rss_hash(&k->key[i]) :
				   st_flow_hash(&k->key[i]);
	return 0;
}

struct counters {
	uint64_t created, full, evicted[ST_FLOW_EVICT_CLASSES];
};

/* Bursts of packets of keys [from, to), wrapping at the end of @p k, at
 * times @p *tsc, @p *tsc + 1, ...; returns ns per packet. */
static double
run(struct st_flow_table *t, const struct keys *k, uint64_t packets,
    uint32_t from, uint64_t *tsc, struct counters *c)
{
	static const struct st_pkt_info info = {
		.l4_proto = IPPROTO_TCP, .tcp_flags = RTE_TCP_ACK_FLAG
	};
	struct st_pkt_info infos[BURST];
	struct st_flow *flows[BURST];
	uint64_t done;
	uint32_t at = from, n;
	double t0 = now_ns();
	unsigned int i;

	for (i = 0; i < BURST; i++)
		infos[i] = info;
	for (done = 0; done < packets; done += n) {
		n = (uint32_t)RTE_MIN((uint64_t)BURST, k->n - at);

		st_flow_table_lookup_burst(t, &k->key[at], &k->hash[at], infos,
					   n, (*tsc)++, flows, &c->created,
					   &c->full, c->evicted);
		at = at + n == k->n ? 0 : at + n;
	}
	return (now_ns() - t0) / (double)done;
}

int
main(int argc, char **argv)
{
	char prefix[64];
	/* A prefix per run; no runtime files left behind (bench_eal.h). */
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "1024",
			prefix, "--log-level=lib.eal:error", "--no-shconf",
			"--no-telemetry", NULL };
	bool rss = argc > 1 && strcmp(argv[1], "--rss-hash") == 0;
	char **arg = argv + 1 + rss;
	int nb_args = argc - 1 - rss;
	uint32_t flows = nb_args > 0 ? (uint32_t)strtoul(arg[0], NULL, 0) :
				       2000;
	uint32_t size = nb_args > 1 ? (uint32_t)strtoul(arg[1], NULL, 0) :
				      65536;
	struct st_flow_table *t;
	struct keys known, fresh;
	struct counters c = { 0 };
	uint32_t evictions = RTE_MIN(size, UINT32_C(1) << 20);
	uint64_t tsc = 1, rounds;
	double hit_ns, room_ns, full_ns;
	int64_t nb_hashes;

	if (nb_args > 2 || flows < BURST || size / 2 < flows) {
		fprintf(stderr, "usage: %s [--rss-hash] [FLOWS [TABLE]], "
				"%u <= FLOWS <= TABLE / 2\n", argv[0], BURST);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=st_bench_flow_%d",
		 (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0) {
		fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	srandom(1);
	t = st_flow_table_create("bench_flows", size, 1, SOCKET_ID_ANY);
	st_offload_symmetric_key(rss_key, sizeof(rss_key));
	if (t == NULL || keys_make(&known, 0, flows, rss) != 0 ||
	    keys_make(&fresh, flows, size - flows + evictions, rss) != 0 ||
	    (nb_hashes = distinct(known.hash, flows)) < 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	run(t, &known, flows, 0, &tsc, &c);
	/* Lookups: a short round to size a round of about a second. */
	hit_ns = run(t, &known, 1u << 16, 0, &tsc, &c);
	rounds = RTE_MAX((uint64_t)(ROUND_NS / hit_ns), (uint64_t)1 << 16);
	hit_ns = run(t, &known, rounds, 0, &tsc, &c);
	/* Filled to its size, then new flows in the full table: each evicts
	 * one. */
	run(t, &fresh, size - flows, 0, &tsc, &c);
	full_ns = run(t, &fresh, evictions, size - flows, &tsc, &c);
	/* All expired, then filled again: new flows while there is room
	 * (timed on memory touched before, as a running worker's is). */
	tsc += 2 * rte_get_tsc_hz();
	st_flow_table_expire(t, tsc, 2 * size);
	room_ns = run(t, &fresh, size, 0, &tsc, &c);
	printf("{\"hash\": \"%s\", \"distinct_hashes\": %" PRId64 ", "
	       "\"flows\": %u, \"table\": %u, \"lookup_ns\": %.1f, "
	       "\"lookups_per_s\": %.0f, \"new_flow_with_room_ns\": %.1f, "
	       "\"new_flow_in_full_table_ns\": %.1f, \"created\": %" PRIu64
	       ", \"evicted\": %" PRIu64 ", \"no_entry\": %" PRIu64
	       ", \"left\": %u}\n",
	       rss ? "symmetric-toeplitz" : "crc32c",
	       nb_hashes, flows, size, hit_ns, 1e9 / hit_ns,
	       room_ns, full_ns, c.created,
	       c.evicted[ST_FLOW_EVICT_CLOSED] +
		       c.evicted[ST_FLOW_EVICT_HALF_OPEN] +
		       c.evicted[ST_FLOW_EVICT_LRU],
	       c.full, st_flow_table_count(t));
	st_flow_table_free(t);
	free(known.key);
	free(known.hash);
	free(fresh.key);
	free(fresh.hash);
	st_bench_eal_cleanup();
	return 0;
}
