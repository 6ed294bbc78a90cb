/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of flow hashing, per-flow sampling (docs/flows.md) and the
 * per-worker flow table. The table tests run under a minimal EAL (no huge
 * pages, no PCI) set up once for their group.
 */

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cmocka.h>

#include "eal_fixture.h"

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include "flow.h"
#include "parse.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* --- keys --------------------------------------------------------------- */

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr_ip(uint8_t *p, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	p[0] = a;
	p[1] = b;
	p[2] = c;
	p[3] = d;
}

/*
 * Parse an IPv4 TCP segment between client number c (10.0.c/256.c%256,
 * port 1024+c: always the key's "lo" endpoint) and the server 10.9.9.9:80,
 * in either direction.
 */
static void
tcp_packet(uint16_t client, bool from_server, uint8_t flags,
	   struct st_flow_key *key, struct st_pkt_info *info)
{
	uint8_t f[54] = { 0 };
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint8_t *client_ip = ip + (from_server ? 16 : 12);
	uint8_t *server_ip = ip + (from_server ? 12 : 16);
	uint16_t client_port = (uint16_t)(1024 + client);

	f[5] = 0x0b;		/* destination MAC ...0b, source ...0a */
	f[11] = 0x0a;
	wr16(f + 12, 0x0800);
	ip[0] = 0x45;
	wr16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	wr_ip(client_ip, 10, 0, (uint8_t)(client >> 8), (uint8_t)client);
	wr_ip(server_ip, 10, 9, 9, 9);
	wr16(tcp + (from_server ? 2 : 0), client_port);
	wr16(tcp + (from_server ? 0 : 2), 80);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	st_parse(f, sizeof(f), info, key);
	assert_int_equal(key->kind, ST_FLOW_L4);
	assert_int_equal(key->port_lo, client_port);
	assert_int_equal(info->flags & ST_PKT_SWAPPED,
			 from_server ? ST_PKT_SWAPPED : 0);
}

#define NB_KEYS 100000

/* NB_KEYS distinct 5-tuples filled in directly, and their hashes. */
static const uint32_t *
synthetic_hashes(void)
{
	static uint32_t hashes[NB_KEYS];
	static bool done;
	struct st_flow_key key;
	uint32_t i;

	if (done)
		return hashes;
	for (i = 0; i < NB_KEYS; i++) {
		memset(&key, 0, sizeof(key));
		key.kind = ST_FLOW_L4;
		key.proto = i % 3 == 0 ? IPPROTO_UDP : IPPROTO_TCP;
		wr_ip(key.addr_lo, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
		      (uint8_t)i);
		wr_ip(key.addr_hi, 192, 0, 2, 1);
		key.port_lo = (uint16_t)(32768 + i % 28000);
		key.port_hi = 443;
		hashes[i] = st_flow_hash(&key);
	}
	done = true;
	return hashes;
}

/* Share of the synthetic flows (in percent) that a sample selects. */
static double
selected_percent(uint32_t salt, uint64_t threshold)
{
	const uint32_t *hashes = synthetic_hashes();
	unsigned int i, n = 0;

	for (i = 0; i < NB_KEYS; i++)
		n += st_sample(hashes[i], salt, threshold);
	return 100.0 * n / NB_KEYS;
}

/* --- hashing and sampling ----------------------------------------------- */

static void
test_hash_symmetric(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key fwd, rev, other;

	(void)state;
	tcp_packet(7, false, TCP_SYN, &fwd, &info);
	tcp_packet(7, true, TCP_SYN | TCP_ACK, &rev, &info);
	tcp_packet(8, false, TCP_SYN, &other, &info);
	assert_memory_equal(&fwd, &rev, sizeof(fwd));
	assert_int_equal(st_flow_hash(&fwd), st_flow_hash(&rev));
	assert_int_not_equal(st_flow_hash(&fwd), st_flow_hash(&other));
}

/* Every hashed byte of the key counts, padding and kind included. */
static void
test_hash_covers_key(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	uint32_t hash;
	size_t i;

	(void)state;
	tcp_packet(7, false, TCP_ACK, &key, &info);
	hash = st_flow_hash(&key);
	for (i = 0; i < ST_FLOW_KEY_HASHED; i++) {
		((uint8_t *)&key)[i] ^= 0x01;
		assert_int_not_equal(st_flow_hash(&key), hash);
		((uint8_t *)&key)[i] ^= 0x01;
	}
	assert_int_equal(st_flow_hash(&key), hash);
}

/*
 * A key at any address its type allows hashes the same. struct st_flow_key
 * needs only 2-byte alignment while rte_hash_crc() reads 8 bytes at a time:
 * x86 tolerates that, UndefinedBehaviorSanitizer reports a "load of
 * misaligned address" here.
 */
static void
test_hash_key_alignment(void **state)
{
	union {
		uint64_t align;
		uint8_t bytes[sizeof(struct st_flow_key) + 8];
	} buf;
	const size_t align = _Alignof(struct st_flow_key);
	struct st_flow_key *moved = (struct st_flow_key *)(buf.bytes + align);
	struct st_pkt_info info;
	struct st_flow_key key;

	(void)state;
	tcp_packet(7, false, TCP_ACK, &key, &info);
	memcpy(moved, &key, sizeof(key));
	assert_int_equal(st_flow_hash(moved), st_flow_hash(&key));
}

/*
 * "The same traffic always gives the same selection on any machine": the
 * hash and the salt match a bitwise CRC32-C computed apart from DPDK, with
 * each of DPDK's CRC implementations (the key holds its ports in host order,
 * so these values are those of a little-endian host).
 */
static void
test_hash_golden(void **state)
{
	static const uint8_t algs[] = {
		CRC32_SW,
#if defined(RTE_ARCH_X86)
		CRC32_SSE42, CRC32_SSE42_x64,
#elif defined(RTE_ARCH_ARM64)
		CRC32_ARM64,
#endif
	};
	const uint8_t saved_alg = crc32_alg;
	struct st_pkt_info info;
	struct st_flow_key key;
	unsigned int i;

	(void)state;
	assert_int_equal(st_sample_salt("v2"), 0x68e5829a);
	assert_int_equal(st_sample_salt("shadow-a"), 0x2e5c078b);
	if (RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN)
		skip();
	tcp_packet(7, false, TCP_ACK, &key, &info);
	for (i = 0; i < RTE_DIM(algs); i++) {
		rte_hash_crc_set_alg(algs[i]);
		assert_int_equal(st_flow_hash(&key), 0x615c8b97);
	}
	crc32_alg = saved_alg;
}

static void
test_threshold_values(void **state)
{
	static const struct {
		double percent;
		uint64_t threshold;
	} cases[] = {
		{ 0, 0 },
		{ -0.0, 0 },
		{ -1, 0 },
		{ -INFINITY, 0 },
		{ NAN, 0 },
		{ 50, ST_SAMPLE_ALL / 2 },
		{ 25, ST_SAMPLE_ALL / 4 },
		{ 100, ST_SAMPLE_ALL },
		{ 100.5, ST_SAMPLE_ALL },
		{ 150, ST_SAMPLE_ALL },
		{ INFINITY, ST_SAMPLE_ALL },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(cases); i++) {
		print_message("percent %g\n", cases[i].percent);
		assert_int_equal(st_sample_threshold(cases[i].percent),
				 cases[i].threshold);
	}
	/* The smallest fractions still select something. */
	assert_true(st_sample_threshold(0.001) > 0);
	assert_true(st_sample_threshold(99.999) < ST_SAMPLE_ALL);
	/* 1% is 1% of 2^32, to the nearest integer. */
	assert_int_equal(st_sample_threshold(1), 42949673);
}

static void
test_threshold_monotonic(void **state)
{
	uint64_t prev = 0, t;
	int i;

	(void)state;
	for (i = -100; i <= 10100; i++) {
		t = st_sample_threshold(i / 100.0);
		assert_true(t >= prev);
		assert_true(t <= ST_SAMPLE_ALL);
		prev = t;
	}
	assert_int_equal(prev, ST_SAMPLE_ALL);
}

static void
test_sample_none_and_all(void **state)
{
	uint32_t salt = st_sample_salt("shadow-a");

	(void)state;
	assert_true(selected_percent(salt, st_sample_threshold(0)) == 0.0);
	assert_true(selected_percent(salt, st_sample_threshold(100)) == 100.0);
	/* The extremes of the mixed hash. */
	assert_false(st_sample(0, 0, 0));
	assert_true(st_sample(0, 0, 1));	/* mix(0) == 0 */
	assert_true(st_sample(UINT32_MAX, 0, ST_SAMPLE_ALL));
}

static void
test_sample_share(void **state)
{
	static const double percents[] = { 1, 10, 33.3, 50 };
	uint32_t salt = st_sample_salt("shadow-a");
	unsigned int i;
	double got;

	(void)state;
	for (i = 0; i < RTE_DIM(percents); i++) {
		got = selected_percent(salt,
				       st_sample_threshold(percents[i]));
		print_message("%g%%: %.3f%% of %d flows\n", percents[i], got,
			      NB_KEYS);
		assert_true(fabs(got - percents[i]) <= 0.5);
	}
}

/* Raising the percentage only adds flows: a ramp from 0.1% to 100% adds
 * each flow not in the first step exactly once. */
static void
test_sample_ramp(void **state)
{
	static const double ramp[] = { 0.1, 1, 10, 33.3, 50, 99.9, 100 };
	const uint32_t *hashes = synthetic_hashes();
	uint64_t thresholds[RTE_DIM(ramp)];
	uint32_t salt = st_sample_salt("ramp");
	unsigned int i, r, first = 0, added = 0;
	bool lower, higher;

	(void)state;
	for (r = 0; r < RTE_DIM(ramp); r++)
		thresholds[r] = st_sample_threshold(ramp[r]);
	for (i = 0; i < NB_KEYS; i++) {
		lower = st_sample(hashes[i], salt, thresholds[0]);
		first += lower;
		for (r = 1; r < RTE_DIM(ramp); r++) {
			higher = st_sample(hashes[i], salt, thresholds[r]);
			assert_true(!lower || higher);
			added += higher && !lower;
			lower = higher;
		}
	}
	assert_true(first > 0);
	assert_int_equal(first + added, NB_KEYS);
}

/* Two mirrors at 10% pick independent flow sets: about 1% in both. */
static void
test_salts_independent(void **state)
{
	const uint32_t *hashes = synthetic_hashes();
	uint32_t v2 = st_sample_salt("v2"), v3 = st_sample_salt("v3");
	uint64_t ten = st_sample_threshold(10);
	unsigned int i, in_v2 = 0, in_v3 = 0, in_both = 0;
	double both;

	(void)state;
	for (i = 0; i < NB_KEYS; i++) {
		bool a = st_sample(hashes[i], v2, ten);
		bool b = st_sample(hashes[i], v3, ten);

		in_v2 += a;
		in_v3 += b;
		in_both += a && b;
	}
	both = 100.0 * in_both / NB_KEYS;
	print_message("v2 %u, v3 %u, both %u (%.3f%%)\n", in_v2, in_v3,
		      in_both, both);
	assert_true(fabs(100.0 * in_v2 / NB_KEYS - 10) <= 0.5);
	assert_true(fabs(100.0 * in_v3 / NB_KEYS - 10) <= 0.5);
	/* The binomial standard deviation is 0.03 points. */
	assert_true(fabs(both - 1.0) <= 0.2);
}

static void
test_salt_deterministic(void **state)
{
	static const char *const names[] = {
		"v2", "v3", "", "a", "b", "ab", "ba", "shadow-a", "shadow-b",
		"shadow-a.", "SHADOW-A",
	};
	uint32_t salts[RTE_DIM(names)];
	unsigned int i, j;

	(void)state;
	for (i = 0; i < RTE_DIM(names); i++) {
		salts[i] = st_sample_salt(names[i]);
		assert_int_equal(st_sample_salt(names[i]), salts[i]);
		for (j = 0; j < i; j++)
			assert_int_not_equal(salts[i], salts[j]);
	}
	/* A copy of the name in other memory gives the same salt. */
	{
		char copy[16];

		snprintf(copy, sizeof(copy), "%s", "shadow-a");
		assert_int_equal(st_sample_salt(copy), salts[7]);
	}
}

static void
test_sample_mask(void **state)
{
	const uint32_t *hashes = synthetic_hashes();
	struct st_sample_policy policy = {
		.count = 3,
		.threshold = { ST_SAMPLE_ALL, 0, ST_SAMPLE_ALL / 2,
			       ST_SAMPLE_ALL, ST_SAMPLE_ALL },
	};
	unsigned int i, third = 0;
	uint32_t mask;

	(void)state;
	policy.salt[0] = st_sample_salt("all");
	policy.salt[1] = st_sample_salt("none");
	policy.salt[2] = st_sample_salt("half");
	for (i = 0; i < NB_KEYS; i++) {
		mask = st_sample_mask(&policy, hashes[i]);
		/* Mirrors 3 and 4 are past count: never set. */
		assert_int_equal(mask & ~0x7u, 0);
		assert_int_equal(mask & 0x1, 0x1);
		assert_int_equal(mask & 0x2, 0);
		assert_int_equal(!!(mask & 0x4),
				 st_sample(hashes[i], policy.salt[2],
					   policy.threshold[2]));
		third += !!(mask & 0x4);
	}
	assert_true(fabs(100.0 * third / NB_KEYS - 50) <= 0.5);

	policy.count = 0;
	assert_int_equal(st_sample_mask(&policy, hashes[0]), 0);
	policy.count = ST_SAMPLE_MAX;
	for (i = 0; i < ST_SAMPLE_MAX; i++)
		policy.threshold[i] = ST_SAMPLE_ALL;
	assert_int_equal(st_sample_mask(&policy, hashes[0]), 0xff);
}

/* --- the flow table ----------------------------------------------------- */

/* One burst of packets and what the table made of them. The keys come
 * first, 8-byte aligned: see test_hash_key_alignment. */
struct burst {
	struct st_flow_key keys[ST_FLOW_BURST_MAX];
	unsigned int n;
	struct st_pkt_info infos[ST_FLOW_BURST_MAX];
	uint32_t hashes[ST_FLOW_BURST_MAX];
	struct st_flow *flows[ST_FLOW_BURST_MAX];
};

static void
burst_add(struct burst *b, uint16_t client, bool from_server, uint8_t flags)
{
	assert_true(b->n < ST_FLOW_BURST_MAX);
	tcp_packet(client, from_server, flags, &b->keys[b->n],
		   &b->infos[b->n]);
	b->hashes[b->n] = st_flow_hash(&b->keys[b->n]);
	b->n++;
}

/* Counters of a table, accumulated over its bursts. */
struct counters {
	uint64_t created;
	uint64_t full;
	uint64_t evicted[ST_FLOW_EVICT_CLASSES];
};

static void
burst_run(struct st_flow_table *t, struct burst *b, uint64_t now_tsc,
	  struct counters *c)
{
	st_flow_table_lookup_burst(t, b->keys, b->hashes, b->infos, b->n,
				   now_tsc, b->flows, &c->created, &c->full,
				   c->evicted);
}

/* One packet on its own, with @p payload_len bytes of payload (headers
 * only are built: the parse result says it): returns its flow. */
static struct st_flow *
segment(struct st_flow_table *t, uint16_t client, bool from_server,
	uint8_t flags, uint16_t payload_len, uint64_t now_tsc,
	struct counters *c)
{
	struct burst b = { .n = 0 };

	burst_add(&b, client, from_server, flags);
	b.infos[0].payload_len = payload_len;
	burst_run(t, &b, now_tsc, c);
	return b.flows[0];
}

static struct st_flow *
packet(struct st_flow_table *t, uint16_t client, bool from_server,
       uint8_t flags, uint64_t now_tsc, struct counters *c)
{
	return segment(t, client, from_server, flags, 0, now_tsc, c);
}

/* A connection that opened: handshake, then a request, at @p now_tsc and
 * the three ticks after it. */
static struct st_flow *
open_connection(struct st_flow_table *t, uint16_t client, uint64_t now_tsc,
		struct counters *c)
{
	packet(t, client, false, TCP_SYN, now_tsc, c);
	packet(t, client, true, TCP_SYN | TCP_ACK, now_tsc + 1, c);
	packet(t, client, false, TCP_ACK, now_tsc + 2, c);
	return segment(t, client, false, TCP_ACK, 100, now_tsc + 3, c);
}

static struct st_flow_table *
table_new(uint32_t size, uint32_t idle_timeout_s)
{
	static unsigned int seq;
	struct st_flow_table *t;
	char name[32];

	snprintf(name, sizeof(name), "ut_flows_%u", seq++);
	t = st_flow_table_create(name, size, idle_timeout_s, SOCKET_ID_ANY);
	assert_non_null(t);
	assert_int_equal(st_flow_table_count(t), 0);
	return t;
}

static uint64_t hz;
/* A fake, far from zero, start time. */
#define T0 (UINT64_C(1) << 40)
/* An expiry budget past the slots of any table here: a call looks at
 * every flow. */
#define EVERY_SLOT 4096

static int
eal_setup(void **state)
{
	(void)state;
	if (st_test_eal_init("flow", NULL) != 0)
		return -1;
	hz = rte_get_tsc_hz();
	return hz > 0 ? 0 : -1;
}

static int
eal_teardown(void **state)
{
	(void)state;
	return st_test_eal_cleanup();
}

static void
test_table_create_and_find(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct burst b = { .n = 0 }, again;
	unsigned int i, j;

	(void)state;
	for (i = 0; i < 10; i++)
		burst_add(&b, (uint16_t)i, false, TCP_SYN);
	again = b;
	burst_run(t, &b, T0, &c);
	assert_int_equal(c.created, 10);
	assert_int_equal(c.full, 0);
	assert_int_equal(st_flow_table_count(t), 10);
	for (i = 0; i < b.n; i++) {
		assert_non_null(b.flows[i]);
		assert_int_equal(b.flows[i]->last_seen_tsc, T0);
		assert_int_equal(b.flows[i]->closing, 0);
		for (j = 0; j < i; j++)
			assert_ptr_not_equal(b.flows[i], b.flows[j]);
	}

	burst_run(t, &again, T0 + 5, &c);
	assert_int_equal(c.created, 10);
	assert_int_equal(st_flow_table_count(t), 10);
	for (i = 0; i < b.n; i++) {
		assert_ptr_equal(again.flows[i], b.flows[i]);
		assert_int_equal(b.flows[i]->last_seen_tsc, T0 + 5);
	}
	st_flow_table_free(t);
	st_flow_table_free(NULL);
}

/* A whole burst of ST_FLOW_BURST_MAX new flows, and an empty burst. */
static void
test_table_full_burst(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct burst b = { .n = 0 };
	unsigned int i;

	(void)state;
	for (i = 0; i < ST_FLOW_BURST_MAX; i++)
		burst_add(&b, (uint16_t)(100 + i), i % 2, TCP_ACK);
	burst_run(t, &b, T0, &c);
	assert_int_equal(c.created, ST_FLOW_BURST_MAX);
	assert_int_equal(st_flow_table_count(t), ST_FLOW_BURST_MAX);
	b.n = 0;
	burst_run(t, &b, T0, &c);
	assert_int_equal(c.created, ST_FLOW_BURST_MAX);
	assert_int_equal(c.full, 0);
	st_flow_table_free(t);
}

static void
test_table_both_directions(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct st_flow *fwd, *rev;

	(void)state;
	fwd = packet(t, 3, false, TCP_SYN, T0, &c);
	rev = packet(t, 3, true, TCP_SYN | TCP_ACK, T0 + 1, &c);
	assert_non_null(fwd);
	assert_ptr_equal(fwd, rev);
	assert_int_equal(c.created, 1);
	assert_int_equal(st_flow_table_count(t), 1);
	st_flow_table_free(t);
}

/* Packets of one new flow in one burst: created once, one flow. */
static void
test_table_same_flow_in_burst(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct burst b = { .n = 0 };

	(void)state;
	burst_add(&b, 5, false, TCP_SYN);
	burst_add(&b, 6, false, TCP_SYN);
	burst_add(&b, 5, true, TCP_SYN | TCP_ACK);
	burst_add(&b, 5, false, TCP_ACK);
	burst_run(t, &b, T0, &c);
	assert_int_equal(c.created, 2);
	assert_int_equal(st_flow_table_count(t), 2);
	assert_non_null(b.flows[0]);
	assert_ptr_equal(b.flows[0], b.flows[2]);
	assert_ptr_equal(b.flows[0], b.flows[3]);
	assert_ptr_not_equal(b.flows[0], b.flows[1]);
	st_flow_table_free(t);
}

static void
test_table_fin_both_sides(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct st_flow *f;

	(void)state;
	f = packet(t, 9, false, TCP_SYN, T0, &c);
	assert_non_null(f);
	assert_int_equal(f->fin_seen, 0);

	/* The client ("lo") says goodbye, twice: still open. */
	packet(t, 9, false, TCP_FIN | TCP_ACK, T0 + 1, &c);
	assert_int_equal(f->fin_seen, 1);
	assert_int_equal(f->closing, 0);
	packet(t, 9, false, TCP_FIN | TCP_ACK, T0 + 2, &c);
	assert_int_equal(f->fin_seen, 1);
	assert_int_equal(f->closing, 0);

	/* Then the server ("hi"). */
	packet(t, 9, true, TCP_FIN | TCP_ACK, T0 + 3, &c);
	assert_int_equal(f->fin_seen, 3);
	assert_int_equal(f->closing, 1);

	/* The server alone. */
	f = packet(t, 10, true, TCP_FIN, T0, &c);
	assert_int_equal(f->fin_seen, 2);
	assert_int_equal(f->closing, 0);
	st_flow_table_free(t);
}

static void
test_table_rst(void **state)
{
	struct st_flow_table *t = table_new(1024, 120);
	struct counters c = { 0 };
	struct st_flow *f;

	(void)state;
	f = packet(t, 11, false, TCP_SYN, T0, &c);
	packet(t, 11, true, TCP_RST | TCP_ACK, T0 + 1, &c);
	assert_int_equal(f->closing, 1);

	f = packet(t, 12, false, TCP_RST, T0, &c);
	assert_int_equal(f->closing, 1);
	assert_int_equal(c.created, 2);
	st_flow_table_free(t);
}

static void
test_table_idle_expiry(void **state)
{
	struct st_flow_table *t = table_new(1024, 1);
	struct counters c = { 0 };
	uint16_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		packet(t, i, false, TCP_ACK, T0, &c);
	assert_int_equal(st_flow_table_expire(t, T0 + hz / 2, EVERY_SLOT), 0);
	assert_int_equal(st_flow_table_count(t), 5);

	/* Flow 0 is seen again: its idle time starts over. */
	packet(t, 0, true, TCP_ACK, T0 + hz * 3 / 2, &c);
	assert_int_equal(st_flow_table_expire(t, T0 + 2 * hz, EVERY_SLOT), 4);
	assert_int_equal(st_flow_table_count(t), 1);
	assert_int_equal(st_flow_table_expire(t, T0 + 4 * hz, EVERY_SLOT), 1);
	assert_int_equal(st_flow_table_count(t), 0);

	/* A forgotten flow is new again. */
	packet(t, 1, false, TCP_ACK, T0 + 5 * hz, &c);
	assert_int_equal(c.created, 6);
	st_flow_table_free(t);
}

/* A closing flow lingers about 2 s; an open one its idle timeout. */
static void
test_table_closing_expiry(void **state)
{
	struct st_flow_table *t = table_new(1024, 100);
	struct counters c = { 0 };
	struct st_flow *open;

	(void)state;
	open = packet(t, 1, false, TCP_ACK, T0, &c);
	packet(t, 2, false, TCP_RST, T0, &c);
	packet(t, 3, false, TCP_FIN, T0, &c);
	packet(t, 3, true, TCP_FIN, T0, &c);

	assert_int_equal(st_flow_table_expire(t, T0 + hz, EVERY_SLOT), 0);
	assert_int_equal(st_flow_table_expire(t, T0 + 2 * hz, EVERY_SLOT), 0);
	assert_int_equal(
		st_flow_table_expire(t, T0 + 2 * hz + hz / 10, EVERY_SLOT), 2);
	assert_int_equal(st_flow_table_count(t), 1);
	assert_int_equal(open->last_seen_tsc, T0);
	assert_int_equal(st_flow_table_expire(t, T0 + 99 * hz, EVERY_SLOT), 0);
	assert_int_equal(st_flow_table_expire(t, T0 + 101 * hz, EVERY_SLOT), 1);
	assert_int_equal(st_flow_table_count(t), 0);
	st_flow_table_free(t);
}

/* The budget bounds the work of one call; the scan resumes where the last
 * stopped (else it would never get past the first slots), and wraps (else
 * the second round, spread over the table, would not all go). */
static void
test_table_expire_budget(void **state)
{
	struct st_flow_table *t = table_new(1024, 1);
	struct counters c = { 0 };
	unsigned int calls, removed, total, round;
	uint16_t i;

	(void)state;
	for (round = 0; round < 2; round++) {
		uint64_t now = T0 + round * 10 * hz;

		for (i = 0; i < 20; i++)
			packet(t, (uint16_t)(round * 20 + i), false, TCP_ACK,
			       now, &c);
		total = 0;
		for (calls = 0; calls < EVERY_SLOT / 3 &&
				st_flow_table_count(t) > 0;
		     calls++) {
			removed = st_flow_table_expire(t, now + 5 * hz, 3);
			assert_true(removed <= 3);
			total += removed;
		}
		assert_int_equal(total, 20);
		assert_int_equal(st_flow_table_count(t), 0);
	}
	assert_int_equal(st_flow_table_expire(t, T0 + 100 * hz, 0), 0);
	st_flow_table_free(t);
}

/* A client reusing its port after a close starts a new connection on the
 * same flow: TCP state afresh, a new selection to count, the verdict kept
 * until its first request. A SYN on an open connection (a retransmission,
 * say) changes nothing. */
static void
test_table_port_reuse(void **state)
{
	struct st_flow_table *t = table_new(64, 100);
	struct counters c = { 0 };
	struct st_flow *f, *g;

	(void)state;
	f = packet(t, 5, false, TCP_SYN, T0, &c);
	f->mirrored = 1;
	f->route = 3;
	f->selected = 1;
	f->next_request_dir = 1;
	g = packet(t, 5, false, TCP_SYN, T0 + 1, &c);
	assert_ptr_equal(g, f);
	assert_int_equal(g->selected, 1);
	assert_int_equal(g->next_request_dir, 1);

	packet(t, 5, false, TCP_FIN | TCP_ACK, T0 + 2, &c);
	packet(t, 5, true, TCP_FIN | TCP_ACK, T0 + 3, &c);
	assert_int_equal(f->closing, 1);
	/* The closing connection's last ACK still belongs to it. */
	packet(t, 5, false, TCP_ACK, T0 + 4, &c);
	assert_int_equal(f->closing, 1);

	g = packet(t, 5, false, TCP_SYN, T0 + 5, &c);
	assert_ptr_equal(g, f);
	assert_int_equal(c.created, 1);
	assert_int_equal(g->closing, 0);
	assert_int_equal(g->fin_seen, 0);
	assert_int_equal(g->selected, 0);
	assert_int_equal(g->next_request_dir, 0);
	assert_int_equal(g->mirrored, 1);
	assert_int_equal(g->route, 3);
	assert_int_equal(g->last_seen_tsc, T0 + 5);
	st_flow_table_free(t);
}

/* A slot freed by expiry comes back zeroed for the next flow. */
static void
test_table_recycled_slot_zeroed(void **state)
{
	struct st_flow_table *t = table_new(64, 1);
	struct st_flow *old[64] = { NULL };
	struct counters c = { 0 };
	unsigned int i, j, reused = 0;
	struct st_flow *f;

	(void)state;
	for (i = 0; i < 64; i++) {
		old[i] = packet(t, (uint16_t)i, false, TCP_FIN, T0, &c);
		if (old[i] != NULL)
			old[i]->mirrored = 0xff;
	}
	assert_true(st_flow_table_count(t) >= 32);
	st_flow_table_expire(t, T0 + 10 * hz, 1000);
	assert_int_equal(st_flow_table_count(t), 0);

	c.created = 0;
	for (i = 0; i < 64; i++) {
		f = packet(t, (uint16_t)(1000 + i), false, TCP_ACK,
			   T0 + 20 * hz, &c);
		if (f == NULL)
			continue;
		assert_int_equal(f->mirrored, 0);
		assert_int_equal(f->fin_seen, 0);
		assert_int_equal(f->closing, 0);
		assert_int_equal(f->last_seen_tsc, T0 + 20 * hz);
		for (j = 0; j < 64; j++)
			reused += f == old[j];
	}
	assert_int_equal(c.created, st_flow_table_count(t));
	/* The check above only means something for slots used before. */
	assert_true(reused >= 32);
	st_flow_table_free(t);
}

/* What eviction tells apart: directions, SYN, payload. A new connection
 * over a closed one's entry starts afresh. */
static void
test_table_seen(void **state)
{
	struct st_flow_table *t = table_new(64, 100);
	struct counters c = { 0 };
	struct st_flow *f;

	(void)state;
	f = packet(t, 1, false, TCP_SYN, T0, &c);
	assert_int_equal(f->seen, ST_FLOW_SEEN_LO | ST_FLOW_SEEN_SYN);
	packet(t, 1, true, TCP_SYN | TCP_ACK, T0 + 1, &c);
	assert_int_equal(f->seen,
			 ST_FLOW_SEEN_LO | ST_FLOW_SEEN_HI | ST_FLOW_SEEN_SYN);
	segment(t, 1, true, TCP_ACK, 10, T0 + 2, &c);
	assert_int_equal(f->seen, ST_FLOW_SEEN_LO | ST_FLOW_SEEN_HI |
					  ST_FLOW_SEEN_SYN | ST_FLOW_SEEN_DATA);

	/* Picked up mid-stream: no SYN. */
	f = segment(t, 2, true, TCP_ACK, 10, T0, &c);
	assert_int_equal(f->seen, ST_FLOW_SEEN_HI | ST_FLOW_SEEN_DATA);

	f = open_connection(t, 3, T0, &c);
	packet(t, 3, false, TCP_FIN | TCP_ACK, T0 + 10, &c);
	packet(t, 3, true, TCP_FIN | TCP_ACK, T0 + 11, &c);
	assert_int_equal(f->closing, 1);
	assert_ptr_equal(packet(t, 3, false, TCP_SYN, T0 + 12, &c), f);
	assert_int_equal(f->seen, ST_FLOW_SEEN_LO | ST_FLOW_SEEN_SYN);
	st_flow_table_free(t);
}

/*
 * Which of the @p n flows (NULL: gone already) was evicted for the new
 * flow @p f: its slot is free (zeroed), or @p f took it. Exactly one.
 */
static unsigned int
victim(struct st_flow *const *flows, unsigned int n, const struct st_flow *f)
{
	unsigned int i, found = n, nb = 0;

	for (i = 0; i < n; i++)
		if (flows[i] != NULL &&
		    (flows[i] == f || flows[i]->last_seen_tsc == 0)) {
			found = i;
			nb++;
		}
	assert_int_equal(nb, 1);
	return found;
}

/*
 * A full table no larger than the eviction window ranks every entry: the
 * closed ones go first, then the half-open ones, oldest first, then the
 * rest, least recently seen first.
 */
static void
test_evict_order(void **state)
{
	enum { SIZE = ST_FLOW_EVICT_WINDOW, NEW = SIZE + 4 };
	/* Flows 0-1 closed, 2-4 half-open, the rest opened; then the new
	 * ones, SIZE onwards. */
	static const int expected[NEW] = {
		-1, -1, 3, 4, 2, 6, 8, 9, 10, 11, 12, 13, 14, 15, 7, 5,
		SIZE, SIZE + 1, SIZE + 2, SIZE + 3,
	};
	struct st_flow_table *t = table_new(SIZE, 100);
	struct st_flow *flow[SIZE + NEW];	/* NULL once evicted */
	struct counters c = { 0 };
	uint64_t now = T0;
	unsigned int i, v;

	(void)state;
	/* Closed: a reset; FIN both ways. */
	flow[0] = packet(t, 0, false, TCP_SYN, now += 10, &c);
	packet(t, 0, true, TCP_RST | TCP_ACK, now += 10, &c);
	flow[1] = open_connection(t, 1, now += 10, &c);
	packet(t, 1, false, TCP_FIN | TCP_ACK, now += 10, &c);
	packet(t, 1, true, TCP_FIN | TCP_ACK, now += 10, &c);
	/* Half-open: a SYN alone; one answered; one with data, unanswered. */
	flow[2] = packet(t, 2, false, TCP_SYN, now += 10, &c);
	flow[3] = packet(t, 3, false, TCP_SYN, now += 10, &c);
	packet(t, 3, true, TCP_SYN | TCP_ACK, now += 10, &c);
	flow[4] = packet(t, 4, false, TCP_SYN, now += 10, &c);
	segment(t, 4, false, TCP_ACK, 50, now += 10, &c);
	/* Opened, or picked up mid-stream (no SYN seen). */
	for (i = 5; i < 11; i++)
		flow[i] = open_connection(t, (uint16_t)i, now += 10, &c);
	for (i = 11; i < SIZE; i++)
		flow[i] = segment(t, (uint16_t)i, i % 2, TCP_ACK, 20,
				  now += 10, &c);
	/* Seen again, out of slot order: age decides. A FIN one way leaves
	 * a connection open the other way. */
	packet(t, 7, false, TCP_FIN | TCP_ACK, now += 10, &c);
	segment(t, 5, true, TCP_ACK, 30, now += 10, &c);
	packet(t, 2, false, TCP_SYN, now += 10, &c);
	assert_int_equal(st_flow_table_count(t), SIZE);
	assert_int_equal(c.created, SIZE);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_LRU], 0);

	for (i = 0; i < NEW; i++) {
		struct st_flow *f = segment(t, (uint16_t)(100 + i), false,
					    TCP_ACK, 20, now += 10, &c);

		assert_non_null(f);
		v = victim(flow, SIZE + i, f);
		if (expected[i] < 0)
			assert_true(v == 0 || v == 1);
		else
			assert_int_equal(v, expected[i]);
		flow[v] = NULL;
		flow[SIZE + i] = f;
	}
	assert_int_equal(c.evicted[ST_FLOW_EVICT_CLOSED], 2);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_HALF_OPEN], 3);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_LRU], NEW - 5);
	assert_int_equal(c.full, 0);
	assert_int_equal(c.created, SIZE + NEW);
	assert_int_equal(st_flow_table_count(t), SIZE);
	st_flow_table_free(t);
}

/* Flows a burst points at, and flows a request head points at, are not
 * evicted; when nothing else is left, the new flow gets no entry. */
static void
test_evict_spares_burst_and_heads(void **state)
{
	enum { SIZE = ST_FLOW_EVICT_WINDOW };
	struct st_flow_table *t = table_new(SIZE, 100);
	struct st_flow *flow[SIZE];
	struct counters c = { 0 };
	const uint64_t t1 = T0 + 1000, t2 = T0 + 2000;
	struct burst b = { .n = 0 };
	unsigned int i;

	(void)state;
	for (i = 0; i < SIZE; i++)
		flow[i] = open_connection(t, (uint16_t)i, T0 + 10 * i, &c);
	flow[0]->head = 1;
	/* The new flow comes first: flow 1, which the bulk lookup has found
	 * already, must not be the one evicted for it. */
	burst_add(&b, 100, false, TCP_ACK);
	burst_add(&b, 1, true, TCP_ACK);
	burst_run(t, &b, t1, &c);
	assert_int_equal(victim(flow, SIZE, b.flows[0]), 2);
	flow[2] = b.flows[0];
	assert_ptr_equal(b.flows[1], flow[1]);
	assert_int_equal(flow[1]->last_seen_tsc, t1);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_LRU], 1);

	flow[0]->head = 0;
	assert_int_equal(
		victim(flow, SIZE, packet(t, 101, false, TCP_SYN, t1 + 1, &c)),
		0);

	/* SIZE + 1 new flows at one time: the last finds every entry in use
	 * by its own burst. */
	b.n = 0;
	for (i = 0; i <= SIZE; i++)
		burst_add(&b, (uint16_t)(200 + i), false, TCP_SYN);
	burst_run(t, &b, t2, &c);
	for (i = 0; i < SIZE; i++)
		assert_non_null(b.flows[i]);
	assert_null(b.flows[SIZE]);
	assert_int_equal(c.full, 1);
	assert_int_equal(c.created, 2 * SIZE + 2);
	assert_int_equal(st_flow_table_count(t), SIZE);
	st_flow_table_free(t);
}

/*
 * A SYN flood through a table holding real connections: 31 new half-open
 * flows per burst, 20 times the table's size. Real connections opened
 * together before it (in neighbouring slots), and others open during it
 * (one handshake packet per burst); all then stay idle, the least recently
 * seen entries of all. Every real connection keeps its entry and state;
 * only flood entries are evicted.
 */
static void
test_real_flows_survive_flood(void **state)
{
	enum { SIZE = 1024, BEFORE = 32, REAL = 64, PER_BURST = 31 };
	enum { BURSTS = 20 * 33 };
	struct st_flow_table *t = table_new(SIZE, 100);
	struct st_flow *real[REAL] = { NULL };
	struct counters c = { 0 };
	uint16_t flood = 0;
	unsigned int i, k;

	(void)state;
	for (i = 0; i < BEFORE; i++) {
		real[i] = open_connection(t, (uint16_t)(60000 + i),
					  T0 - 1000 + 4 * i, &c);
		real[i]->route = 7;
	}
	for (k = 0; k < BURSTS; k++) {
		struct burst b = { .n = 0 };
		unsigned int r = BEFORE + k / 16, step = k % 16;

		for (i = 0; i < PER_BURST; i++)
			burst_add(&b, flood++, false, TCP_SYN);
		/* Real connection r: SYN, SYN-ACK, ACK, a request. */
		if (r < REAL && step < 4) {
			burst_add(&b, (uint16_t)(60000 + r), step == 1,
				  step == 0   ? TCP_SYN :
				  step == 1 ? TCP_SYN | TCP_ACK :
					      TCP_ACK);
			b.infos[b.n - 1].payload_len = step == 3 ? 200 : 0;
		}
		burst_run(t, &b, T0 + k, &c);
		if (r < REAL && step == 3) {
			real[r] = b.flows[b.n - 1];
			real[r]->route = 7;
		}
	}
	assert_int_equal(c.full, 0);
	assert_int_equal(c.created, (uint64_t)flood + REAL);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_HALF_OPEN],
			 c.created - SIZE);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_LRU], 0);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_CLOSED], 0);
	for (i = 0; i < REAL; i++) {
		assert_ptr_equal(segment(t, (uint16_t)(60000 + i), true,
					 TCP_ACK, 300, T0 + BURSTS, &c),
				 real[i]);
		assert_int_equal(real[i]->route, 7);
	}
	assert_int_equal(c.created, (uint64_t)flood + REAL);
	st_flow_table_free(t);
}

static uint32_t
real_hash(const struct st_flow_key *key)
{
	return st_flow_hash(key);
}

/* Three hashes, a third of the table apart: keys pile up in three runs of
 * full buckets, each lookup crosses its run, and every slot of it matches
 * the lookup's signature. */
static uint32_t
three_hashes(const struct st_flow_key *key)
{
	return st_flow_hash(key) % 3 * 0x55555555u;
}

/*
 * The table against a model, over random bursts in either direction and
 * sweeps of the expiry: a flow is found again, the same entry, while the
 * model has it (seen within the idle timeout at the last sweep), and is
 * created anew once it expired; the count is the model's. The table never
 * fills: only expiry removes.
 */
static void
churn(uint32_t (*hash_of)(const struct st_flow_key *))
{
	enum { SIZE = 256, KEYS = 220, STEPS = 4000 };
	struct st_flow_table *t = table_new(SIZE, 1);
	struct st_flow *known[KEYS] = { NULL };
	uint64_t last[KEYS] = { 0 }, now = T0, created = 0;
	struct counters c = { 0 };
	unsigned int step, i, k, live;

	srandom(7);
	for (step = 0; step < STEPS; step++) {
		struct burst b = { .n = 0 };
		unsigned int which[ST_FLOW_BURST_MAX];
		unsigned int nb = 1 + (unsigned int)random() % 16;

		for (i = 0; i < nb; i++) {
			which[i] = (unsigned int)random() % KEYS;
			burst_add(&b, (uint16_t)which[i], random() & 1,
				  TCP_ACK);
			b.hashes[i] = hash_of(&b.keys[i]);
		}
		now += (uint64_t)random() % (hz / 10);
		burst_run(t, &b, now, &c);
		for (i = 0; i < nb; i++) {
			k = which[i];
			assert_non_null(b.flows[i]);
			if (known[k] != NULL) {
				assert_ptr_equal(b.flows[i], known[k]);
			} else {
				known[k] = b.flows[i];
				created++;
			}
			last[k] = now;
		}
		assert_int_equal(c.created, created);
		if (step % 8 == 7) {
			st_flow_table_expire(t, now, EVERY_SLOT);
			for (k = 0; k < KEYS; k++)
				if (known[k] != NULL && now - last[k] > hz)
					known[k] = NULL;
		}
		for (k = 0, live = 0; k < KEYS; k++)
			live += known[k] != NULL;
		assert_int_equal(st_flow_table_count(t), live);
	}
	assert_int_equal(c.full, 0);
	print_message("%" PRIu64 " flows over %u bursts\n", created, STEPS);
	assert_true(created > 2 * KEYS);
	st_flow_table_free(t);
}

static void
test_table_model(void **state)
{
	(void)state;
	churn(real_hash);
}

static void
test_table_model_collisions(void **state)
{
	(void)state;
	churn(three_hashes);
}

static uint32_t
one_hash(const struct st_flow_key *key)
{
	(void)key;
	return 0xfffffff0u;	/* the last bucket: its run wraps */
}

/*
 * Keys that share one hash take their home bucket and the
 * ST_FLOW_PROBE_MAX after it, and no more: the next ones get no entry
 * though the table has room. Those stored are all found again; once they
 * expire, as many are stored again.
 */
static void
test_table_probe_bound(void **state)
{
	enum { KEYS = 300, REACH = (ST_FLOW_PROBE_MAX + 1) * 7 };
	struct st_flow_table *t = table_new(1024, 1);
	struct st_flow *first[KEYS];
	struct counters c;
	unsigned int round, k;

	(void)state;
	_Static_assert(REACH < KEYS && KEYS < 1024, "a bound, not a full table");
	for (round = 0; round < 2; round++) {
		uint64_t now = T0 + round * 10 * hz;

		memset(&c, 0, sizeof(c));
		for (k = 0; k < KEYS; k++) {
			struct burst b = { .n = 0 };

			burst_add(&b, (uint16_t)k, false, TCP_ACK);
			b.hashes[0] = one_hash(&b.keys[0]);
			burst_run(t, &b, now, &c);
			first[k] = b.flows[0];
			assert_true((first[k] != NULL) == (k < REACH));
		}
		assert_int_equal(c.created, REACH);
		assert_int_equal(c.full, KEYS - REACH);
		assert_int_equal(st_flow_table_count(t), REACH);
		for (k = 0; k < REACH; k++) {
			struct burst b = { .n = 0 };

			burst_add(&b, (uint16_t)k, true, TCP_ACK);
			b.hashes[0] = one_hash(&b.keys[0]);
			burst_run(t, &b, now, &c);
			assert_ptr_equal(b.flows[0], first[k]);
		}
		assert_int_equal(c.created, REACH);
		assert_int_equal(st_flow_table_expire(t, now + 5 * hz,
						      EVERY_SLOT),
				 REACH);
	}
	st_flow_table_free(t);
}

/*
 * Without EAL hugepages (the fixture's --no-huge) a table is mapped on its
 * own and the kernel asked for transparent hugepages: all of it is on them
 * where the kernel gives them (enabled "always" or "madvise"). On 4 KiB
 * pages lookups miss the TLB (flow.c).
 */
static void
test_table_on_transparent_hugepages(void **state)
{
	struct st_flow_table *t;
	size_t bytes, thp;
	char mode[128] = "";
	FILE *f;

	(void)state;
	assert_false(rte_eal_has_hugepages());
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f != NULL) {
		if (fgets(mode, sizeof(mode), f) == NULL)
			mode[0] = '\0';
		mode[strcspn(mode, "\n")] = '\0';
		fclose(f);
	}
	if (strstr(mode, "[always]") == NULL &&
	    strstr(mode, "[madvise]") == NULL) {
		print_message("SKIPPED: transparent hugepages are off here "
			      "(enabled: %s)\n", mode[0] ? mode : "unknown");
		skip();
	}
	/* 65,536 flows: 81,920 slots of 64 bytes and their buckets, in
	 * three hugepages. */
	t = table_new(65536, 120);
	assert_int_equal(st_flow_table_memory(t, &bytes, &thp), 0);
	assert_int_equal(bytes, 3u << 21);
	assert_int_equal(thp, bytes);
	st_flow_table_free(t);
}

/*
 * Keys that differ only in their last word, as one client's connections to
 * one server do (ports, protocol), and share one hash, hence one
 * first-choice slot: each is a flow of its own, and is found again as
 * itself, whether it sits in that slot or elsewhere, looked up alone or in
 * one burst with the others.
 */
static void
test_table_keys_differ_in_last_word(void **state)
{
	enum { KEYS = 24 };
	struct st_flow_table *t = table_new(1024, 100);
	struct st_flow *flow[KEYS];
	struct burst all = { .n = 0 };
	struct counters c = { 0 };
	unsigned int k, j, round;

	(void)state;
	for (k = 0; k < KEYS; k++) {
		burst_add(&all, 5, false, TCP_ACK);
		all.keys[k].port_lo = (uint16_t)(all.keys[k].port_lo + k / 2);
		all.keys[k].proto = k % 2 ? IPPROTO_UDP : IPPROTO_TCP;
		all.hashes[k] = 0x12345678;
	}
	for (round = 0; round < 3; round++) {
		for (k = 0; k < KEYS; k++) {
			struct burst b = { .n = 1 };

			b.keys[0] = all.keys[k];
			b.infos[0] = all.infos[k];
			b.hashes[0] = all.hashes[k];
			burst_run(t, &b, T0 + round, &c);
			assert_non_null(b.flows[0]);
			if (round == 0)
				flow[k] = b.flows[0];
			assert_ptr_equal(b.flows[0], flow[k]);
		}
		burst_run(t, &all, T0 + round, &c);
		for (k = 0; k < KEYS; k++)
			assert_ptr_equal(all.flows[k], flow[k]);
	}
	for (k = 0; k < KEYS; k++)
		for (j = 0; j < k; j++)
			assert_ptr_not_equal(flow[j], flow[k]);
	assert_int_equal(c.created, KEYS);
	assert_int_equal(st_flow_table_count(t), KEYS);
	st_flow_table_free(t);
}

/*
 * One eviction looks at ST_FLOW_EVICT_SCAN_MAX slots, not the whole table,
 * and the next goes on from there. A full table of 1024 flows all seen at
 * the current time but one: some evictions give up before they find it,
 * and the third finds it at the latest (the table has fewer than three
 * times ST_FLOW_EVICT_SCAN_MAX slots).
 */
static void
test_evict_bounded(void **state)
{
	enum { SIZE = 1024 };
	_Static_assert(2 * ST_FLOW_EVICT_SCAN_MAX == SIZE, "sweeps of 512");
	struct st_flow_table *t = table_new(SIZE, 100);
	struct st_flow *flow[SIZE];
	struct counters c = { 0 };
	unsigned int i, k, retried = 0;
	struct st_flow *f;

	(void)state;
	for (k = 0; k < SIZE / ST_FLOW_BURST_MAX; k++) {
		struct burst b = { .n = 0 };

		for (i = 0; i < ST_FLOW_BURST_MAX; i++)
			burst_add(&b, (uint16_t)(k * ST_FLOW_BURST_MAX + i),
				  false, TCP_ACK);
		burst_run(t, &b, T0, &c);
		memcpy(&flow[k * ST_FLOW_BURST_MAX], b.flows,
		       sizeof(b.flows));
	}
	assert_int_equal(st_flow_table_count(t), SIZE);
	for (i = 0; i < SIZE; i++) {
		flow[i]->last_seen_tsc = T0 - 1;
		for (k = 0; k < 3; k++) {
			f = packet(t, (uint16_t)(2000 + i), false, TCP_ACK, T0,
				   &c);
			if (f != NULL)
				break;
			retried++;
		}
		assert_non_null(f);
		assert_int_equal(victim(flow, SIZE, f), i);
		flow[i] = NULL;
	}
	print_message("%u sweeps of %u evictions gave up\n", retried, SIZE);
	assert_true(retried > 0);
	assert_int_equal(c.full, retried);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_LRU], SIZE);
	st_flow_table_free(t);
}

/* A full table evicts for new flows; when every entry is in use by the
 * burst it counts the packets it has no room for, and goes on. */
static void
test_table_full(void **state)
{
	struct st_flow_table *t = table_new(64, 1);
	struct counters c = { 0 };
	struct burst b;
	unsigned int i, k, nulls = 0;
	uint16_t client = 0;

	(void)state;
	for (k = 0; k < 8; k++) {
		b.n = 0;
		for (i = 0; i < 25; i++)
			burst_add(&b, client++, false, TCP_SYN);
		burst_run(t, &b, T0 + k, &c);
		for (i = 0; i < b.n; i++)
			nulls += b.flows[i] == NULL;
	}
	assert_int_equal(nulls, 0);
	assert_int_equal(c.created, 200);
	assert_int_equal(c.full, 0);
	assert_int_equal(c.evicted[ST_FLOW_EVICT_HALF_OPEN], 200 - 64);
	assert_int_equal(st_flow_table_count(t), 64);

	/* 80 new flows at one time: the last 16 find all 64 entries taken
	 * by their own burst. */
	b.n = 0;
	for (i = 0; i < 80 && b.n < ST_FLOW_BURST_MAX; i++)
		burst_add(&b, client++, false, TCP_ACK);
	burst_run(t, &b, T0 + 10, &c);
	b.n = 0;
	for (i = 0; i < 16; i++)
		burst_add(&b, client++, false, TCP_ACK);
	burst_run(t, &b, T0 + 10, &c);
	for (i = 0; i < b.n; i++)
		assert_null(b.flows[i]);
	assert_int_equal(c.full, 16);
	assert_int_equal(c.created, 264);
	assert_int_equal(st_flow_table_count(t), 64);

	/* Known flows are still found; expiry makes room again. */
	assert_non_null(packet(t, 199 + 64, true, TCP_ACK, T0 + 11, &c));
	assert_int_equal(c.created, 264);
	assert_int_equal(st_flow_table_expire(t, T0 + 10 * hz, 1000), 64);
	assert_non_null(packet(t, 1, false, TCP_ACK, T0 + 10 * hz, &c));
	assert_int_equal(st_flow_table_count(t), 1);
	st_flow_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest sampling[] = {
		cmocka_unit_test(test_hash_symmetric),
		cmocka_unit_test(test_hash_covers_key),
		cmocka_unit_test(test_hash_key_alignment),
		cmocka_unit_test(test_hash_golden),
		cmocka_unit_test(test_threshold_values),
		cmocka_unit_test(test_threshold_monotonic),
		cmocka_unit_test(test_sample_none_and_all),
		cmocka_unit_test(test_sample_share),
		cmocka_unit_test(test_sample_ramp),
		cmocka_unit_test(test_salts_independent),
		cmocka_unit_test(test_salt_deterministic),
		cmocka_unit_test(test_sample_mask),
	};
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_table_create_and_find),
		cmocka_unit_test(test_table_full_burst),
		cmocka_unit_test(test_table_both_directions),
		cmocka_unit_test(test_table_same_flow_in_burst),
		cmocka_unit_test(test_table_fin_both_sides),
		cmocka_unit_test(test_table_rst),
		cmocka_unit_test(test_table_idle_expiry),
		cmocka_unit_test(test_table_closing_expiry),
		cmocka_unit_test(test_table_expire_budget),
		cmocka_unit_test(test_table_model),
		cmocka_unit_test(test_table_model_collisions),
		cmocka_unit_test(test_table_probe_bound),
		cmocka_unit_test(test_table_keys_differ_in_last_word),
		cmocka_unit_test(test_table_on_transparent_hugepages),
		cmocka_unit_test(test_table_port_reuse),
		cmocka_unit_test(test_table_recycled_slot_zeroed),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_table_seen),
		cmocka_unit_test(test_evict_order),
		cmocka_unit_test(test_evict_spares_burst_and_heads),
		cmocka_unit_test(test_real_flows_survive_flood),
		cmocka_unit_test(test_evict_bounded),
	};
	int failed;

	failed = cmocka_run_group_tests_name("sampling", sampling, NULL, NULL);
	failed += cmocka_run_group_tests_name("flow table", table, eal_setup,
					      eal_teardown);
	return failed;
}
