/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Truncation and encapsulation of mirror copies: the frame that leaves is
 * checked byte for byte against headers written out here by hand, and the
 * original's data is shown to be shared, never copied nor written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "eal_fixture.h"
#include "encap.h"

#define FRAME_LEN 300
#define HASH 0x12345678u

static struct rte_mempool *data_pool, *clone_pool, *hdr_pool;

static const uint8_t port_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };
static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static int
setup(void **state)
{
	(void)state;
	if (st_test_eal_init("encap", NULL) != 0)
		return -1;
	/* No per-lcore caches, so in-use counts are exact. */
	data_pool = rte_pktmbuf_pool_create("t_data", 64, 0, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE,
					    SOCKET_ID_ANY);
	clone_pool = rte_pktmbuf_pool_create("t_clone", 64, 0, 0, 0,
					     SOCKET_ID_ANY);
	hdr_pool = rte_pktmbuf_pool_create(
		"t_hdr", 4, 0, 0, RTE_PKTMBUF_HEADROOM + ST_ENCAP_MAX_HEADER,
		SOCKET_ID_ANY);
	return data_pool && clone_pool && hdr_pool ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	rte_mempool_free(hdr_pool);
	rte_mempool_free(clone_pool);
	rte_mempool_free(data_pool);
	return st_test_eal_cleanup();
}

/* A frame of @p len bytes: MACs, @p type, then a counting pattern. */
static void
fill_frame(uint8_t *p, unsigned int len, uint16_t type)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	p[12] = (uint8_t)(type >> 8);
	p[13] = (uint8_t)type;
}

/* An original in one mbuf, or in two when @p split is not 0. */
static struct rte_mbuf *
original(unsigned int len, unsigned int split, uint16_t type,
	 uint8_t *bytes)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(data_pool);
	struct rte_mbuf *tail;

	assert_non_null(m);
	fill_frame(bytes, len, type);
	if (split == 0) {
		memcpy(rte_pktmbuf_append(m, (uint16_t)len), bytes, len);
		return m;
	}
	tail = rte_pktmbuf_alloc(data_pool);
	assert_non_null(tail);
	memcpy(rte_pktmbuf_append(m, (uint16_t)split), bytes, split);
	memcpy(rte_pktmbuf_append(tail, (uint16_t)(len - split)),
	       bytes + split, len - split);
	assert_int_equal(rte_pktmbuf_chain(m, tail), 0);
	return m;
}

static struct st_encap_conf
l3_conf(enum st_encap_type type)
{
	struct st_encap_conf c = {
		.type = type,
		.has_src_mac = true,
		.ttl = 64,
		.dscp = 10,
		.dst_port = 4789,
		.udp_checksum = true,
		.src_ip = RTE_BE32(0xc0000201),	/* 192.0.2.1 */
		.dst_ip = RTE_BE32(0xc0000202),
	};

	memcpy(c.src_mac, src_mac, 6);
	memcpy(c.dst_mac, dst_mac, 6);
	return c;
}

struct result {
	uint8_t bytes[2048];
	unsigned int len;
	uint64_t truncated;
	bool has_header;
};

/*
 * Clone @p m, apply the encapsulation @p c with @p truncate, and flatten
 * what would leave into @p r. Checks on the way that no data mbuf was
 * taken and that every segment after the header shares the original's
 * buffers.
 */
static void
wrap(const struct st_encap_conf *c, uint32_t truncate, struct rte_mbuf *m,
     struct result *r, uint32_t seq)
{
	unsigned int data_in_use = rte_mempool_in_use_count(data_pool);
	struct st_encap *e = st_encap_create(
		c, truncate, (const struct rte_ether_addr *)port_mac,
		SOCKET_ID_ANY);
	struct rte_mbuf *out, *seg;
	const void *p;

	assert_non_null(e);
	r->has_header = st_encap_has_header(e);
	out = rte_pktmbuf_clone(m, clone_pool);
	assert_non_null(out);
	r->truncated = 0;
	out = st_encap_apply(e, out, hdr_pool, HASH, seq, &r->truncated);
	assert_non_null(out);
	assert_int_equal(rte_mempool_in_use_count(data_pool), data_in_use);
	seg = st_encap_has_header(e) ? out->next : out;
	for (; seg != NULL; seg = seg->next) {
		assert_true(RTE_MBUF_CLONED(seg));
		assert_ptr_equal(rte_mbuf_from_indirect(seg)->pool, data_pool);
	}
	r->len = rte_pktmbuf_pkt_len(out);
	assert_true(r->len <= sizeof(r->bytes));
	p = rte_pktmbuf_read(out, 0, r->len, r->bytes);
	if (p != r->bytes)
		memcpy(r->bytes, p, r->len);
	rte_pktmbuf_free(out);
	st_encap_free(e);
}

/* The original is as it was, and alone again once copies are gone. */
static void
assert_original_intact(struct rte_mbuf *m, const uint8_t *bytes,
		       unsigned int len)
{
	uint8_t flat[2048];
	const void *p = rte_pktmbuf_read(m, 0, len, flat);

	assert_int_equal(rte_pktmbuf_pkt_len(m), len);
	assert_memory_equal(p, bytes, len);
	assert_int_equal(rte_mbuf_refcnt_read(m), 1);
	assert_int_equal(rte_mempool_in_use_count(clone_pool), 0);
	assert_int_equal(rte_mempool_in_use_count(hdr_pool), 0);
}

/* Ones' complement sum, written out independently of DPDK's. */
static uint32_t
sum16(const uint8_t *p, unsigned int len, uint32_t sum)
{
	unsigned int i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Outer Ethernet + IPv4 as the test config says, for @p inner bytes
 * after @p l4_bytes of L4 headers. */
static void
assert_outer(const uint8_t *f, uint8_t proto, unsigned int l4_bytes,
	     unsigned int inner, uint16_t id)
{
	assert_memory_equal(f, dst_mac, 6);
	assert_memory_equal(f + 6, src_mac, 6);
	assert_int_equal(be16(f + 12), 0x0800);
	assert_int_equal(f[14], 0x45);
	assert_int_equal(f[15], 10 << 2);
	assert_int_equal(be16(f + 16), 20 + l4_bytes + inner);
	assert_int_equal(be16(f + 18), id);
	assert_int_equal(be16(f + 20), 0);	/* no DF, no fragment */
	assert_int_equal(f[22], 64);
	assert_int_equal(f[23], proto);
	assert_int_equal(be32(f + 26), 0xc0000201);
	assert_int_equal(be32(f + 30), 0xc0000202);
	assert_int_equal(fold(sum16(f + 14, 20, 0)), 0xffff);
}

static void
test_truncate_only(void **state)
{
	struct st_encap_conf c = { .type = ST_ENCAP_NONE };
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x0800, bytes);
	struct result r;

	(void)state;
	wrap(&c, 100, m, &r, 0);
	assert_false(r.has_header);
	assert_int_equal(r.len, 100);
	assert_int_equal(r.truncated, 1);
	assert_memory_equal(r.bytes, bytes, 100);
	assert_original_intact(m, bytes, FRAME_LEN);

	/* Shorter than the limit: whole, and not counted. */
	wrap(&c, 1000, m, &r, 0);
	assert_int_equal(r.len, FRAME_LEN);
	assert_int_equal(r.truncated, 0);
	assert_memory_equal(r.bytes, bytes, FRAME_LEN);
	rte_pktmbuf_free(m);
}

/* A cut inside the second segment and one inside the first, which must
 * release the second segment's clone. */
static void
test_truncate_chain(void **state)
{
	struct st_encap_conf c = { .type = ST_ENCAP_NONE };
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 120, 0x0800, bytes);
	const uint32_t cuts[] = { 200, 64, 120 };
	unsigned int i;
	struct result r;

	(void)state;
	for (i = 0; i < RTE_DIM(cuts); i++) {
		wrap(&c, cuts[i], m, &r, 0);
		assert_int_equal(r.len, cuts[i]);
		assert_memory_equal(r.bytes, bytes, cuts[i]);
		assert_original_intact(m, bytes, FRAME_LEN);
	}
	rte_pktmbuf_free(m);
}

static void
test_vlan(void **state)
{
	struct st_encap_conf c = {
		.type = ST_ENCAP_VLAN, .vlan_id = 100, .pcp = 5
	};
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x86dd, bytes);
	struct result r;

	(void)state;
	wrap(&c, 0, m, &r, 0);
	assert_true(r.has_header);
	assert_int_equal(r.len, FRAME_LEN + 4);
	assert_memory_equal(r.bytes, bytes, 12);
	assert_int_equal(be16(r.bytes + 12), 0x8100);
	assert_int_equal(be16(r.bytes + 14), 5 << 13 | 100);
	assert_memory_equal(r.bytes + 16, bytes + 12, FRAME_LEN - 12);
	assert_original_intact(m, bytes, FRAME_LEN);
	rte_pktmbuf_free(m);
}

static void
assert_udp_checksum(const struct result *r)
{
	const uint8_t *ip = r->bytes + 14, *udp = ip + 20;
	unsigned int udp_len = be16(udp + 4);
	uint32_t sum = sum16(ip + 12, 8, 0) + 17 + udp_len;

	assert_int_equal(udp_len, r->len - 34);
	assert_int_not_equal(be16(udp + 6), 0);
	assert_int_equal(fold(sum16(udp, udp_len, sum)), 0xffff);
}

static void
test_vxlan(void **state)
{
	struct st_encap_conf c = l3_conf(ST_ENCAP_VXLAN);
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x0800, bytes);
	struct result r;

	(void)state;
	c.vni = 0xabcdef;
	wrap(&c, 0, m, &r, 7);
	assert_int_equal(r.len, 50 + FRAME_LEN);
	assert_outer(r.bytes, 17, 16, FRAME_LEN, 7);
	assert_int_equal(be16(r.bytes + 34), 49152 | (HASH & 0x3fff));
	assert_int_equal(be16(r.bytes + 36), 4789);
	assert_int_equal(be32(r.bytes + 42), 0x08000000);
	assert_int_equal(be32(r.bytes + 46), 0xabcdef00);
	assert_memory_equal(r.bytes + 50, bytes, FRAME_LEN);
	assert_udp_checksum(&r);
	assert_original_intact(m, bytes, FRAME_LEN);

	/* A fixed source port, no checksum, the port's own MAC, truncated;
	 * the original in two segments. */
	rte_pktmbuf_free(m);
	m = original(FRAME_LEN, 40, 0x0800, bytes);
	c.src_port = 5555;
	c.udp_checksum = false;
	c.has_src_mac = false;
	wrap(&c, 128, m, &r, 8);
	assert_int_equal(r.len, 50 + 128);
	assert_memory_equal(r.bytes + 6, port_mac, 6);
	assert_int_equal(be16(r.bytes + 16), 20 + 16 + 128);
	assert_int_equal(be16(r.bytes + 34), 5555);
	assert_int_equal(be16(r.bytes + 38), 8 + 8 + 128);
	assert_int_equal(be16(r.bytes + 40), 0);
	assert_memory_equal(r.bytes + 50, bytes, 128);
	assert_int_equal(r.truncated, 1);
	assert_original_intact(m, bytes, FRAME_LEN);
	rte_pktmbuf_free(m);
}

/* The checksum over a chain whose segments have odd lengths. */
static void
test_vxlan_checksum_odd_segments(void **state)
{
	struct st_encap_conf c = l3_conf(ST_ENCAP_VXLAN);
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN - 1, 33, 0x0800, bytes);
	struct result r;

	(void)state;
	wrap(&c, 0, m, &r, 0);
	assert_udp_checksum(&r);
	assert_memory_equal(r.bytes + 50, bytes, FRAME_LEN - 1);
	rte_pktmbuf_free(m);
}

static void
test_gre(void **state)
{
	struct st_encap_conf c = l3_conf(ST_ENCAP_GRE);
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x0800, bytes);
	struct result r;

	(void)state;
	wrap(&c, 0, m, &r, 1);
	assert_int_equal(r.len, 38 + FRAME_LEN);
	assert_outer(r.bytes, 47, 4, FRAME_LEN, 1);
	assert_int_equal(be16(r.bytes + 34), 0);
	assert_int_equal(be16(r.bytes + 36), 0x6558);
	assert_memory_equal(r.bytes + 38, bytes, FRAME_LEN);

	c.has_key = true;
	c.key = 0xdeadbeef;
	wrap(&c, 0, m, &r, 2);
	assert_int_equal(r.len, 42 + FRAME_LEN);
	assert_outer(r.bytes, 47, 8, FRAME_LEN, 2);
	assert_int_equal(be16(r.bytes + 34), 0x2000);
	assert_int_equal(be32(r.bytes + 38), 0xdeadbeef);
	assert_memory_equal(r.bytes + 42, bytes, FRAME_LEN);
	assert_original_intact(m, bytes, FRAME_LEN);
	rte_pktmbuf_free(m);
}

static void
test_erspan(void **state)
{
	struct st_encap_conf c = l3_conf(ST_ENCAP_ERSPAN);
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x0800, bytes);
	struct result r;

	(void)state;
	c.session_id = 1000;
	wrap(&c, 0, m, &r, 41);
	assert_int_equal(r.len, 50 + FRAME_LEN);
	assert_outer(r.bytes, 47, 16, FRAME_LEN, 41);
	assert_int_equal(be16(r.bytes + 34), 0x1000);
	assert_int_equal(be16(r.bytes + 36), 0x88be);
	assert_int_equal(be32(r.bytes + 38), 41);
	assert_int_equal(be32(r.bytes + 42), 1u << 28 | 1000);
	assert_int_equal(be32(r.bytes + 46), 0);
	assert_memory_equal(r.bytes + 50, bytes, FRAME_LEN);

	/* Truncated, and a VLAN-tagged original: T, En, VLAN and COS. */
	rte_pktmbuf_free(m);
	m = original(FRAME_LEN, 0, 0x8100, bytes);
	/* The tag's TCI: PCP 6, VID 300. */
	bytes[14] = (6 << 5) | (300 >> 8);
	bytes[15] = 300 & 0xff;
	memcpy(rte_pktmbuf_mtod(m, uint8_t *) + 14, bytes + 14, 2);
	wrap(&c, 64, m, &r, 42);
	assert_int_equal(r.len, 50 + 64);
	assert_int_equal(be32(r.bytes + 42), 1u << 28 | 300u << 16 |
						     6u << 13 | 3u << 11 |
						     1u << 10 | 1000);
	assert_memory_equal(r.bytes + 50, bytes, 64);
	assert_original_intact(m, bytes, FRAME_LEN);
	rte_pktmbuf_free(m);
}

/* No header mbuf left: no copy, and nothing leaks. */
static void
test_header_pool_empty(void **state)
{
	struct st_encap_conf c = l3_conf(ST_ENCAP_GRE);
	struct rte_mbuf *held[4], *copy;
	uint8_t bytes[FRAME_LEN];
	struct rte_mbuf *m = original(FRAME_LEN, 0, 0x0800, bytes);
	uint64_t truncated = 0;
	struct st_encap *e;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(held); i++)
		assert_non_null(held[i] = rte_pktmbuf_alloc(hdr_pool));
	e = st_encap_create(&c, 0, (const struct rte_ether_addr *)port_mac,
			    SOCKET_ID_ANY);
	copy = rte_pktmbuf_clone(m, clone_pool);
	assert_null(st_encap_apply(e, copy, hdr_pool, HASH, 0, &truncated));
	for (i = 0; i < RTE_DIM(held); i++)
		rte_pktmbuf_free(held[i]);
	assert_original_intact(m, bytes, FRAME_LEN);
	st_encap_free(e);
	rte_pktmbuf_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncate_only),
		cmocka_unit_test(test_truncate_chain),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_vxlan),
		cmocka_unit_test(test_vxlan_checksum_odd_segments),
		cmocka_unit_test(test_gre),
		cmocka_unit_test(test_erspan),
		cmocka_unit_test(test_header_pool_empty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
