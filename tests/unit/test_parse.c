/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of st_parse() against docs/flows.md.
 *
 * Frames are built field by field with the small writers below. Each one is
 * parsed from a heap copy of exactly its length, so an over-read shows up
 * under AddressSanitizer.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <cmocka.h>

#include <rte_common.h>

#include "parse.h"

#define FRAME_MAX 512
#define ETH_LEN 14
#define IPV4_LEN 20
#define IPV6_LEN 40
#define TCP_LEN 20
#define UDP_LEN 8

#define TYPE_IPV4 0x0800
#define TYPE_IPV6 0x86dd
#define TYPE_ARP 0x0806
#define TYPE_VLAN 0x8100
#define TYPE_QINQ 0x88a8
#define TYPE_QINQ_OLD 0x9100
#define TYPE_PPPOE 0x8864
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define PPP_LCP 0xc021

#define IPV4_MF 0x2000
#define IPV4_DF 0x4000

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Endpoint "a" sorts before endpoint "b" in every address family. */
static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t ip4_a[4] = { 10, 0, 0, 1 };
static const uint8_t ip4_b[4] = { 10, 0, 0, 2 };
static const uint8_t ip6_a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t ip6_b[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
#define PORT_A 40000
#define PORT_B 80

struct frame {
	uint8_t b[FRAME_MAX];
	uint32_t len;
};

/* --- frame writers ------------------------------------------------------ */

static void
put8(struct frame *f, uint8_t v)
{
	assert_true(f->len < FRAME_MAX);
	f->b[f->len++] = v;
}

static void
put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void
put_bytes(struct frame *f, const uint8_t *p, size_t n)
{
	while (n-- > 0)
		put8(f, *p++);
}

static void
put_fill(struct frame *f, uint8_t v, size_t n)
{
	while (n-- > 0)
		put8(f, v);
}

static void
set16(struct frame *f, uint32_t off, uint16_t v)
{
	f->b[off] = (uint8_t)(v >> 8);
	f->b[off + 1] = (uint8_t)v;
}

/* Starts a new frame. */
static void
eth(struct frame *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	f->len = 0;
	put_bytes(f, dst, 6);
	put_bytes(f, src, 6);
	put16(f, type);
}

/* The rest of a tag whose TPID was the previous EtherType. */
static void
vlan(struct frame *f, uint16_t vid, uint16_t next_type)
{
	put16(f, vid);
	put16(f, next_type);
}

static void
pppoe(struct frame *f, uint16_t ppp_proto)
{
	put8(f, 0x11);		/* version 1, type 1 */
	put8(f, 0x00);		/* session data */
	put16(f, 0x2a2a);	/* session id */
	put16(f, 0);		/* length: not read by the parser */
	put16(f, ppp_proto);
}

/* IPv4 header of @p ihl words, options filled with NOPs. The total length
 * is set by ipv4_done(). Returns the header's offset. */
static uint32_t
ipv4(struct frame *f, const uint8_t *src, const uint8_t *dst, uint8_t proto,
     unsigned int ihl, uint16_t frag)
{
	uint32_t off = f->len;

	assert_true(ihl >= 5 && ihl <= 15);
	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0);		/* DSCP, ECN */
	put16(f, 0);		/* total length */
	put16(f, 0x1234);	/* identification */
	put16(f, frag);
	put8(f, 64);		/* TTL */
	put8(f, proto);
	put16(f, 0);		/* checksum: not checked */
	put_bytes(f, src, 4);
	put_bytes(f, dst, 4);
	put_fill(f, 1, (ihl - 5) * 4);
	return off;
}

static void
ipv4_done(struct frame *f, uint32_t off)
{
	set16(f, off + 2, (uint16_t)(f->len - off));
}

/* IPv6 header; the payload length is set by ipv6_done(). */
static uint32_t
ipv6(struct frame *f, const uint8_t *src, const uint8_t *dst, uint8_t next)
{
	uint32_t off = f->len;

	put8(f, 0x60);
	put_fill(f, 0, 3);	/* traffic class, flow label */
	put16(f, 0);		/* payload length */
	put8(f, next);
	put8(f, 64);		/* hop limit */
	put_bytes(f, src, 16);
	put_bytes(f, dst, 16);
	return off;
}

static void
ipv6_done(struct frame *f, uint32_t off)
{
	set16(f, off + 4, (uint16_t)(f->len - off - IPV6_LEN));
}

/* Hop-by-hop, routing or destination options: (len8 + 1) * 8 bytes. */
static void
ipv6_opts(struct frame *f, uint8_t next, uint8_t len8)
{
	put8(f, next);
	put8(f, len8);
	put_fill(f, 0, (len8 + 1u) * 8 - 2);	/* Pad1 options */
}

/* Authentication header: (plen + 2) * 4 bytes. */
static void
ipv6_ah(struct frame *f, uint8_t next, uint8_t plen)
{
	put8(f, next);
	put8(f, plen);
	put_fill(f, 0xa5, (plen + 2u) * 4 - 2);	/* reserved, SPI, seq, ICV */
}

static void
ipv6_frag(struct frame *f, uint8_t next, uint16_t offset8, bool more)
{
	put8(f, next);
	put8(f, 0);
	put16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	put_fill(f, 0x77, 4);	/* identification */
}

/* TCP header of @p doff words (options are NOPs) and @p n payload bytes. */
static void
tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags,
    unsigned int doff, unsigned int n)
{
	assert_true(doff >= 5 && doff <= 15);
	put16(f, sport);
	put16(f, dport);
	put_fill(f, 0x11, 4);	/* sequence number */
	put_fill(f, 0x22, 4);	/* acknowledgement number */
	put8(f, (uint8_t)(doff << 4));
	put8(f, flags);
	put16(f, 65535);	/* window */
	put16(f, 0);		/* checksum */
	put16(f, 0);		/* urgent pointer */
	put_fill(f, 1, (doff - 5) * 4);
	put_fill(f, 0xdd, n);
}

static void
udp(struct frame *f, uint16_t sport, uint16_t dport, unsigned int n)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, (uint16_t)(UDP_LEN + n));
	put16(f, 0);
	put_fill(f, 0xdd, n);
}

/* Ethernet padding up to the 60-byte minimum, as a NIC delivers it. */
static void
eth_pad(struct frame *f, uint8_t v)
{
	if (f->len < 60)
		put_fill(f, v, 60 - f->len);
}

/* --- common frames ------------------------------------------------------ */

/* Ethernet, IPv4, TCP from a to b (from b to a when @p reverse). */
static void
tcp4_frame(struct frame *f, bool reverse, uint8_t flags, unsigned int n)
{
	uint32_t ip;

	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, TYPE_IPV4);
	ip = ipv4(f, reverse ? ip4_b : ip4_a, reverse ? ip4_a : ip4_b,
		  IPPROTO_TCP, 5, IPV4_DF);
	tcp(f, reverse ? PORT_B : PORT_A, reverse ? PORT_A : PORT_B, flags, 5,
	    n);
	ipv4_done(f, ip);
}

/* Ethernet, IPv6 with no extension header, TCP or UDP from a to b. */
static void
l4_6_frame(struct frame *f, bool reverse, uint8_t proto, unsigned int n)
{
	uint32_t ip;

	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, TYPE_IPV6);
	ip = ipv6(f, reverse ? ip6_b : ip6_a, reverse ? ip6_a : ip6_b, proto);
	if (proto == IPPROTO_TCP)
		tcp(f, reverse ? PORT_B : PORT_A, reverse ? PORT_A : PORT_B,
		    TCP_ACK, 5, n);
	else
		udp(f, reverse ? PORT_B : PORT_A, reverse ? PORT_A : PORT_B,
		    n);
	ipv6_done(f, ip);
}

/* --- parsing and checking ----------------------------------------------- */

/* Parse from an exact-size heap copy; the outputs start out as garbage to
 * show that st_parse() sets every byte. */
static void
parse(const struct frame *f, struct st_pkt_info *info,
      struct st_flow_key *key)
{
	uint8_t *copy = malloc(f->len > 0 ? f->len : 1);

	assert_non_null(copy);
	memcpy(copy, f->b, f->len);
	memset(info, 0xa5, sizeof(*info));
	memset(key, 0xa5, sizeof(*key));
	st_parse(copy, f->len, info, key);
	free(copy);
}

/* The whole key, bytes past the address length and padding included. */
static void
expect_key(const struct st_flow_key *key, enum st_flow_kind kind,
	   uint8_t proto, const uint8_t *lo, uint16_t port_lo,
	   const uint8_t *hi, uint16_t port_hi, size_t addr_len)
{
	struct st_flow_key want;

	memset(&want, 0, sizeof(want));
	memcpy(want.addr_lo, lo, addr_len);
	memcpy(want.addr_hi, hi, addr_len);
	want.port_lo = port_lo;
	want.port_hi = port_hi;
	want.kind = (uint8_t)kind;
	want.proto = proto;
	if (kind != ST_FLOW_L2)
		want.family = addr_len == 4 ? 4 : 6;
	assert_int_equal(key->kind, kind);
	assert_int_equal(key->proto, proto);
	assert_int_equal(key->port_lo, port_lo);
	assert_int_equal(key->port_hi, port_hi);
	assert_memory_equal(key, &want, sizeof(want));
}

static void
expect_l2(const struct frame *f, const struct st_pkt_info *info,
	  const struct st_flow_key *key, uint8_t flags)
{
	/* The MACs of the frame as built: "a" is the source unless
	 * reversed; a runt has none. */
	static const uint8_t zero[6];
	const uint8_t *lo = f->len >= ETH_LEN ? mac_a : zero;
	const uint8_t *hi = f->len >= ETH_LEN ? mac_b : zero;

	expect_key(key, ST_FLOW_L2, 0, lo, 0, hi, 0, 6);
	assert_int_equal(info->flags, flags);
	assert_int_equal(info->l3_off, 0);
	assert_int_equal(info->l4_off, 0);
	assert_int_equal(info->payload_off, 0);
	assert_int_equal(info->payload_len, 0);
	assert_int_equal(info->l4_proto, 0);
	assert_int_equal(info->tcp_flags, 0);
}

static void
expect_offsets(const struct st_pkt_info *info, unsigned int l3_off,
	       unsigned int l4_off, unsigned int payload_off,
	       unsigned int payload_len)
{
	assert_int_equal(info->l3_off, l3_off);
	assert_int_equal(info->l4_off, l4_off);
	assert_int_equal(info->payload_off, payload_off);
	assert_int_equal(info->payload_len, payload_len);
}

static void
expect_ip4_flow(const struct st_pkt_info *info, const struct st_flow_key *key,
		uint8_t flags)
{
	expect_key(key, ST_FLOW_IP, 0, ip4_a, 0, ip4_b, 0, 4);
	expect_offsets(info, ETH_LEN, 0, 0, 0);
	assert_int_equal(info->l4_proto, 0);
	assert_int_equal(info->flags, flags);
}

static void
expect_ip6_flow(const struct st_pkt_info *info, const struct st_flow_key *key,
		uint8_t flags)
{
	expect_key(key, ST_FLOW_IP, 0, ip6_a, 0, ip6_b, 0, 16);
	expect_offsets(info, ETH_LEN, 0, 0, 0);
	assert_int_equal(info->flags, flags);
}

/* --- IPv4 --------------------------------------------------------------- */

static void
test_ipv4_tcp(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;

	(void)state;
	tcp4_frame(&f, false, TCP_SYN | TCP_ACK, 10);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_TCP, ip4_a, PORT_A, ip4_b, PORT_B,
		   4);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN,
		       ETH_LEN + IPV4_LEN + TCP_LEN, 10);
	assert_int_equal(info.l4_proto, IPPROTO_TCP);
	assert_int_equal(info.tcp_flags, TCP_SYN | TCP_ACK);
	assert_int_equal(info.flags, 0);
}

static void
test_ipv4_tcp_options(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_TCP, 5, 0);
	tcp(&f, PORT_A, PORT_B, TCP_ACK, 8, 7);
	ipv4_done(&f, ip);
	parse(&f, &info, &key);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN,
		       ETH_LEN + IPV4_LEN + 32, 7);
	assert_int_equal(info.tcp_flags, TCP_ACK);
}

static void
test_ipv4_udp(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_UDP, 5, 0);
	udp(&f, 5353, 53, 33);
	ipv4_done(&f, ip);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_UDP, ip4_a, 5353, ip4_b, 53, 4);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN,
		       ETH_LEN + IPV4_LEN + UDP_LEN, 33);
	assert_int_equal(info.l4_proto, IPPROTO_UDP);
	assert_int_equal(info.tcp_flags, 0);
	assert_int_equal(info.flags, 0);
}

/* 4..7 bytes of UDP: the ports make an L4 flow, but there is no payload. */
static void
test_ipv4_udp_short_header(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_UDP, 5, 0);
	put16(&f, 5353);
	put16(&f, 53);
	put16(&f, 8);
	ipv4_done(&f, ip);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_UDP, ip4_a, 5353, ip4_b, 53, 4);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN, 0, 0);
}

static void
test_ipv4_options(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int ihl;
	uint32_t ip;

	(void)state;
	for (ihl = 6; ihl <= 15; ihl++) {
		eth(&f, mac_b, mac_a, TYPE_IPV4);
		ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_TCP, ihl, 0);
		tcp(&f, PORT_A, PORT_B, TCP_ACK, 5, 3);
		ipv4_done(&f, ip);
		parse(&f, &info, &key);
		expect_key(&key, ST_FLOW_L4, IPPROTO_TCP, ip4_a, PORT_A, ip4_b,
			   PORT_B, 4);
		expect_offsets(&info, ETH_LEN, ETH_LEN + ihl * 4,
			       ETH_LEN + ihl * 4 + TCP_LEN, 3);
	}
}

/* Fragments are keyed by address pair: only the first one has ports. */
static void
test_ipv4_fragments(void **state)
{
	static const uint16_t frag_fields[] = {
		IPV4_MF,		/* first fragment */
		IPV4_MF | 185,		/* middle fragment */
		185,			/* last fragment */
		1,			/* smallest offset */
		0x1fff,			/* largest offset */
	};
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int i;
	uint32_t ip;

	(void)state;
	for (i = 0; i < RTE_DIM(frag_fields); i++) {
		eth(&f, mac_b, mac_a, TYPE_IPV4);
		ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_UDP, 5, frag_fields[i]);
		udp(&f, 5353, 53, 20);
		ipv4_done(&f, ip);
		parse(&f, &info, &key);
		expect_ip4_flow(&info, &key, ST_PKT_FRAGMENT);
	}

	/* DF alone is no fragment. */
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_UDP, 5, IPV4_DF);
	udp(&f, 5353, 53, 20);
	ipv4_done(&f, ip);
	parse(&f, &info, &key);
	assert_int_equal(key.kind, ST_FLOW_L4);
	assert_int_equal(info.flags, 0);
}

static void
test_ipv4_icmp(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_ICMP, 5, 0);
	put8(&f, 8);		/* echo request */
	put_fill(&f, 0, 7);
	ipv4_done(&f, ip);
	parse(&f, &info, &key);
	expect_ip4_flow(&info, &key, 0);
}

/* The IP packet ends at its total length: Ethernet padding is no payload. */
static void
test_padding_is_not_payload(void **state)
{
	static const unsigned int payload_lens[] = { 0, 1, 3, 5 };
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int i;
	uint32_t ip;

	(void)state;
	for (i = 0; i < RTE_DIM(payload_lens); i++) {
		tcp4_frame(&f, false, TCP_ACK, payload_lens[i]);
		eth_pad(&f, 0xee);
		assert_int_equal(f.len, 60);
		parse(&f, &info, &key);
		assert_int_equal(info.payload_off,
				 ETH_LEN + IPV4_LEN + TCP_LEN);
		assert_int_equal(info.payload_len, payload_lens[i]);
	}

	/* Ports found only in the padding are no ports. */
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_TCP, 5, 0);
	ipv4_done(&f, ip);
	eth_pad(&f, 0xee);
	parse(&f, &info, &key);
	expect_ip4_flow(&info, &key, 0);

	/* The same holds for a UDP datagram. */
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, ip4_a, ip4_b, IPPROTO_UDP, 5, 0);
	udp(&f, 5353, 53, 2);
	ipv4_done(&f, ip);
	eth_pad(&f, 0xee);
	parse(&f, &info, &key);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN,
		       ETH_LEN + IPV4_LEN + UDP_LEN, 2);

	/* And for IPv6, which ends at its payload length. */
	l4_6_frame(&f, false, IPPROTO_UDP, 2);
	put_fill(&f, 0xee, 10);
	parse(&f, &info, &key);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV6_LEN,
		       ETH_LEN + IPV6_LEN + UDP_LEN, 2);
}

/* A frame captured shorter than its IP total length: payload_len counts
 * what is present. */
static void
test_ipv4_truncated_payload(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;

	(void)state;
	tcp4_frame(&f, false, TCP_ACK, 100);
	f.len -= 90;
	parse(&f, &info, &key);
	assert_int_equal(key.kind, ST_FLOW_L4);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN,
		       ETH_LEN + IPV4_LEN + TCP_LEN, 10);
}

/* How an IPv4 header is broken. */
enum ipv4_damage {
	CUT_HEADER,		/* the frame ends inside the fixed header */
	CUT_OPTIONS,		/* IHL 15, the frame ends inside the options */
	IHL_4,
	IHL_0,
	VERSION_6,
	VERSION_0,
	TOTAL_LEN_19,		/* total length < 20 */
	TOTAL_LEN_BELOW_IHL,	/* IHL 6, total length 20 */
};

static void
ipv4_damaged_frame(struct frame *f, enum ipv4_damage damage)
{
	uint32_t ip;

	eth(f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(f, ip4_a, ip4_b, IPPROTO_TCP,
		  damage == CUT_OPTIONS ? 15 :
		  damage == TOTAL_LEN_BELOW_IHL ? 6 : 5, 0);
	tcp(f, PORT_A, PORT_B, TCP_ACK, 5, 4);
	ipv4_done(f, ip);
	switch (damage) {
	case CUT_HEADER:
		f->len = ip + IPV4_LEN - 1;
		break;
	case CUT_OPTIONS:
		f->len = ip + 15 * 4 - 1;
		break;
	case IHL_4:
		f->b[ip] = 0x44;
		break;
	case IHL_0:
		f->b[ip] = 0x40;
		break;
	case VERSION_6:
		f->b[ip] = 0x65;
		break;
	case VERSION_0:
		f->b[ip] = 0x05;
		break;
	case TOTAL_LEN_19:
		set16(f, ip + 2, 19);
		break;
	case TOTAL_LEN_BELOW_IHL:
		set16(f, ip + 2, 20);
		break;
	}
}

/* An IPv4 header that fails validation makes the frame non-IP. */
static void
test_ipv4_malformed(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	int damage;

	(void)state;
	for (damage = CUT_HEADER; damage <= TOTAL_LEN_BELOW_IHL; damage++) {
		ipv4_damaged_frame(&f, (enum ipv4_damage)damage);
		parse(&f, &info, &key);
		expect_l2(&f, &info, &key, ST_PKT_MALFORMED);
	}
}

/* Not even the ports after the IP header: an address-pair flow. */
static void
test_tcp_cut_after_ip_header(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int cut;

	(void)state;
	for (cut = 0; cut < 4; cut++) {
		tcp4_frame(&f, false, TCP_ACK, 0);
		f.len = ETH_LEN + IPV4_LEN + cut;
		parse(&f, &info, &key);
		expect_ip4_flow(&info, &key, 0);
		assert_int_equal(info.tcp_flags, 0);
	}
}

/* The ports alone make an L4 flow; flags and payload need the header. */
static void
test_tcp_ports_only(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int cut;

	(void)state;
	for (cut = 4; cut < TCP_LEN; cut++) {
		tcp4_frame(&f, false, TCP_SYN, 0);
		f.len = ETH_LEN + IPV4_LEN + cut;
		parse(&f, &info, &key);
		expect_key(&key, ST_FLOW_L4, IPPROTO_TCP, ip4_a, PORT_A, ip4_b,
			   PORT_B, 4);
		expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN, 0, 0);
		assert_int_equal(info.l4_proto, IPPROTO_TCP);
		assert_int_equal(info.tcp_flags, 0);
	}
}

/* A data offset below 5 words, or past the packet: no payload. */
static void
test_tcp_bad_data_offset(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int doff;

	(void)state;
	for (doff = 0; doff <= 15; doff++) {
		if (doff == 5)
			continue;
		tcp4_frame(&f, false, TCP_FIN | TCP_ACK, 8);
		f.b[ETH_LEN + IPV4_LEN + 12] = (uint8_t)(doff << 4);
		parse(&f, &info, &key);
		expect_key(&key, ST_FLOW_L4, IPPROTO_TCP, ip4_a, PORT_A, ip4_b,
			   PORT_B, 4);
		assert_int_equal(info.tcp_flags, TCP_FIN | TCP_ACK);
		if (doff == 6 || doff == 7) {
			/* 4 or 8 of the 8 bytes are options. */
			assert_int_equal(info.payload_off,
					 ETH_LEN + IPV4_LEN + doff * 4);
			assert_int_equal(info.payload_len, 28 - doff * 4);
		} else {
			expect_offsets(&info, ETH_LEN, ETH_LEN + IPV4_LEN, 0,
				       0);
		}
	}
}

/* --- IPv6 --------------------------------------------------------------- */

static void
test_ipv6_tcp_udp(void **state)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int i, hdr_len;

	(void)state;
	for (i = 0; i < RTE_DIM(protos); i++) {
		hdr_len = protos[i] == IPPROTO_TCP ? TCP_LEN : UDP_LEN;
		l4_6_frame(&f, false, protos[i], 12);
		parse(&f, &info, &key);
		expect_key(&key, ST_FLOW_L4, protos[i], ip6_a, PORT_A, ip6_b,
			   PORT_B, 16);
		expect_offsets(&info, ETH_LEN, ETH_LEN + IPV6_LEN,
			       ETH_LEN + IPV6_LEN + hdr_len, 12);
		assert_int_equal(info.l4_proto, protos[i]);
		assert_int_equal(info.tcp_flags,
				 protos[i] == IPPROTO_TCP ? TCP_ACK : 0);
		assert_int_equal(info.flags, 0);
	}
}

/* Hop-by-hop, destination options and routing headers are skipped by
 * (hdr_ext_len + 1) * 8 bytes. */
static void
test_ipv6_extension_headers(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip, l4_off;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(&f, ip6_a, ip6_b, IPPROTO_HOPOPTS);
	ipv6_opts(&f, IPPROTO_DSTOPTS, 0);	/* 8 bytes */
	ipv6_opts(&f, IPPROTO_ROUTING, 1);	/* 16 bytes */
	ipv6_opts(&f, IPPROTO_TCP, 2);		/* 24 bytes */
	l4_off = f.len;
	tcp(&f, PORT_A, PORT_B, TCP_SYN, 5, 5);
	ipv6_done(&f, ip);
	assert_int_equal(l4_off, ETH_LEN + IPV6_LEN + 8 + 16 + 24);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_TCP, ip6_a, PORT_A, ip6_b, PORT_B,
		   16);
	expect_offsets(&info, ETH_LEN, l4_off, l4_off + TCP_LEN, 5);
	assert_int_equal(info.tcp_flags, TCP_SYN);
}

/* AH is skipped by (payload_len + 2) * 4 bytes. */
static void
test_ipv6_ah(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip, l4_off;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(&f, ip6_a, ip6_b, IPPROTO_AH);
	ipv6_ah(&f, IPPROTO_UDP, 4);		/* 24 bytes: 96-bit ICV */
	l4_off = f.len;
	udp(&f, PORT_A, PORT_B, 9);
	ipv6_done(&f, ip);
	assert_int_equal(l4_off, ETH_LEN + IPV6_LEN + 24);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_UDP, ip6_a, PORT_A, ip6_b, PORT_B,
		   16);
	expect_offsets(&info, ETH_LEN, l4_off, l4_off + UDP_LEN, 9);
}

static void
ipv6_frag_frame(struct frame *f, uint16_t offset8, bool more)
{
	uint32_t ip;

	eth(f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(f, ip6_a, ip6_b, IPPROTO_FRAGMENT);
	ipv6_frag(f, IPPROTO_UDP, offset8, more);
	udp(f, PORT_A, PORT_B, 16);
	ipv6_done(f, ip);
}

static void
test_ipv6_fragments(void **state)
{
	static const struct {
		uint16_t offset8;
		bool more;
	} frags[] = {
		{ 0, true },		/* first fragment */
		{ 1, true },		/* middle fragment */
		{ 1, false },		/* last fragment */
		{ 0x1fff, false },	/* largest offset */
	};
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(frags); i++) {
		ipv6_frag_frame(&f, frags[i].offset8, frags[i].more);
		parse(&f, &info, &key);
		expect_ip6_flow(&info, &key, ST_PKT_FRAGMENT);
	}

	/* An atomic fragment (offset 0, M clear) is a whole datagram. */
	ipv6_frag_frame(&f, 0, false);
	parse(&f, &info, &key);
	expect_key(&key, ST_FLOW_L4, IPPROTO_UDP, ip6_a, PORT_A, ip6_b, PORT_B,
		   16);
	expect_offsets(&info, ETH_LEN, ETH_LEN + IPV6_LEN + 8,
		       ETH_LEN + IPV6_LEN + 8 + UDP_LEN, 16);
	assert_int_equal(info.flags, 0);
}

/* An IPv6 packet ending inside an extension header of @p type that
 * announces (len8 + 1) * 8 bytes, of which @p present are there. */
static void
ipv6_cut_ext_frame(struct frame *f, uint8_t type, uint8_t len8,
		   unsigned int present)
{
	uint32_t ip;

	eth(f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(f, ip6_a, ip6_b, type);
	put8(f, IPPROTO_TCP);
	put8(f, len8);
	put_fill(f, 0, present - 2);
	ipv6_done(f, ip);
}

/* An extension header running past the packet's end: an IP flow. */
static void
test_ipv6_extension_past_end(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	uint32_t ip;

	(void)state;
	/* Announces 88 bytes, 16 follow. */
	ipv6_cut_ext_frame(&f, IPPROTO_HOPOPTS, 10, 16);
	parse(&f, &info, &key);
	expect_ip6_flow(&info, &key, 0);

	/* Fewer than 8 bytes of a header, fragment header included. */
	ipv6_cut_ext_frame(&f, IPPROTO_DSTOPTS, 0, 6);
	parse(&f, &info, &key);
	expect_ip6_flow(&info, &key, 0);
	ipv6_cut_ext_frame(&f, IPPROTO_FRAGMENT, 0, 7);
	parse(&f, &info, &key);
	expect_ip6_flow(&info, &key, 0);

	/* A 16-byte header in an IPv6 packet of 8 payload bytes: what the
	 * frame holds after the packet does not count. */
	eth(&f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(&f, ip6_a, ip6_b, IPPROTO_ROUTING);
	ipv6_opts(&f, IPPROTO_UDP, 1);
	udp(&f, PORT_A, PORT_B, 4);
	set16(&f, ip + 4, 8);
	parse(&f, &info, &key);
	expect_ip6_flow(&info, &key, 0);
}

/* At most 8 extension headers are skipped. */
static void
test_ipv6_extension_limit(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int n, i;
	uint32_t ip;

	(void)state;
	for (n = 7; n <= 9; n++) {
		eth(&f, mac_b, mac_a, TYPE_IPV6);
		ip = ipv6(&f, ip6_a, ip6_b, IPPROTO_DSTOPTS);
		for (i = 0; i < n; i++)
			ipv6_opts(&f, i + 1 < n ? IPPROTO_DSTOPTS :
				  IPPROTO_TCP, 0);
		tcp(&f, PORT_A, PORT_B, TCP_ACK, 5, 1);
		ipv6_done(&f, ip);
		parse(&f, &info, &key);
		if (n <= 8) {
			assert_int_equal(key.kind, ST_FLOW_L4);
			assert_int_equal(info.l4_off,
					 ETH_LEN + IPV6_LEN + n * 8);
		} else {
			expect_ip6_flow(&info, &key, 0);
		}
	}
}

static void
test_ipv6_malformed(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;

	(void)state;
	/* 39 bytes of IPv6 header. */
	l4_6_frame(&f, false, IPPROTO_TCP, 0);
	f.len = ETH_LEN + IPV6_LEN - 1;
	parse(&f, &info, &key);
	expect_l2(&f, &info, &key, ST_PKT_MALFORMED);

	/* Version 4 in an IPv6 EtherType. */
	l4_6_frame(&f, false, IPPROTO_TCP, 0);
	f.b[ETH_LEN] = 0x45;
	parse(&f, &info, &key);
	expect_l2(&f, &info, &key, ST_PKT_MALFORMED);
}

/* --- layer 2 ------------------------------------------------------------ */

/* VLAN tags, QinQ and PPPoE in front of IP. */
struct encap {
	const char *name;
	uint16_t tpids[3];
	unsigned int nb_tags;
	bool pppoe;
	uint16_t ppp_proto;	/* 0: the one matching the IP version */
	unsigned int l3_off;	/* 0: the frame is non-IP */
};

static const struct encap encaps[] = {
	{ "untagged", { 0 }, 0, false, 0, 14 },
	{ "802.1Q", { TYPE_VLAN }, 1, false, 0, 18 },
	{ "QinQ 88a8", { TYPE_QINQ, TYPE_VLAN }, 2, false, 0, 22 },
	{ "QinQ 9100", { TYPE_QINQ_OLD, TYPE_VLAN }, 2, false, 0, 22 },
	{ "three tags", { TYPE_QINQ, TYPE_VLAN, TYPE_VLAN }, 3, false, 0, 0 },
	{ "PPPoE", { 0 }, 0, true, 0, 22 },
	{ "802.1Q PPPoE", { TYPE_VLAN }, 1, true, 0, 26 },
	{ "PPPoE LCP", { 0 }, 0, true, PPP_LCP, 0 },
};

/* A TCP segment from a to b (IPv4 or IPv6) behind encapsulation @p e. */
static void
encap_frame(struct frame *f, const struct encap *e, bool v6)
{
	uint16_t ip_type = v6 ? TYPE_IPV6 : TYPE_IPV4;
	uint16_t inner = e->pppoe ? TYPE_PPPOE : ip_type;
	unsigned int i;
	uint32_t ip;

	eth(f, mac_b, mac_a, e->nb_tags > 0 ? e->tpids[0] : inner);
	for (i = 0; i < e->nb_tags; i++)
		vlan(f, (uint16_t)(100 + i),
		     i + 1 < e->nb_tags ? e->tpids[i + 1] : inner);
	if (e->pppoe)
		pppoe(f, e->ppp_proto != 0 ? e->ppp_proto :
		      v6 ? PPP_IPV6 : PPP_IPV4);
	if (v6)
		ip = ipv6(f, ip6_a, ip6_b, IPPROTO_TCP);
	else
		ip = ipv4(f, ip4_a, ip4_b, IPPROTO_TCP, 5, 0);
	tcp(f, PORT_A, PORT_B, TCP_ACK, 5, 6);
	if (v6)
		ipv6_done(f, ip);
	else
		ipv4_done(f, ip);
}

/* Encapsulation moves the offsets but never changes the key. */
static void
test_encapsulations(void **state)
{
	struct st_flow_key key, plain_key;
	struct st_pkt_info info;
	struct frame f;
	unsigned int i, v6;

	(void)state;
	for (v6 = 0; v6 <= 1; v6++) {
		encap_frame(&f, &encaps[0], v6);
		parse(&f, &info, &plain_key);
		assert_int_equal(plain_key.kind, ST_FLOW_L4);
		for (i = 0; i < RTE_DIM(encaps); i++) {
			const struct encap *e = &encaps[i];
			unsigned int ip_len = v6 ? IPV6_LEN : IPV4_LEN;

			print_message("%s over IPv%c\n", e->name,
				      v6 ? '6' : '4');
			encap_frame(&f, e, v6);
			parse(&f, &info, &key);
			if (e->l3_off == 0) {
				expect_l2(&f, &info, &key, 0);
				continue;
			}
			assert_memory_equal(&key, &plain_key, sizeof(key));
			expect_offsets(&info, e->l3_off, e->l3_off + ip_len,
				       e->l3_off + ip_len + TCP_LEN, 6);
		}
	}
}

/* A tag or PPPoE header cut short leaves the frame non-IP. */
static void
test_encapsulation_cut(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int len;

	(void)state;
	for (len = ETH_LEN; len < 18; len++) {
		encap_frame(&f, &encaps[1], false);
		f.len = len;
		parse(&f, &info, &key);
		expect_l2(&f, &info, &key, 0);
	}
	for (len = ETH_LEN; len < 22; len++) {
		encap_frame(&f, &encaps[5], false);
		f.len = len;
		parse(&f, &info, &key);
		expect_l2(&f, &info, &key, 0);
	}
}

static void
test_arp(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_ARP);
	put16(&f, 1);		/* Ethernet */
	put16(&f, TYPE_IPV4);
	put8(&f, 6);
	put8(&f, 4);
	put16(&f, 1);		/* request */
	put_bytes(&f, mac_a, 6);
	put_bytes(&f, ip4_a, 4);
	put_fill(&f, 0, 6);
	put_bytes(&f, ip4_b, 4);
	eth_pad(&f, 0);
	parse(&f, &info, &key);
	expect_l2(&f, &info, &key, 0);

	/* The reply comes from the "hi" MAC. */
	eth(&f, mac_a, mac_b, TYPE_ARP);
	eth_pad(&f, 0);
	parse(&f, &info, &key);
	expect_l2(&f, &info, &key, ST_PKT_SWAPPED);
}

/* Shorter than an Ethernet header: both MACs taken as zero. */
static void
test_runts(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int len;

	(void)state;
	for (len = 0; len < ETH_LEN; len++) {
		tcp4_frame(&f, false, TCP_SYN, 0);
		f.len = len;
		parse(&f, &info, &key);
		expect_l2(&f, &info, &key, 0);
	}
}

/* --- symmetry ----------------------------------------------------------- */

static void
icmp4_frame(struct frame *f, bool reverse)
{
	uint32_t ip;

	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, TYPE_IPV4);
	ip = ipv4(f, reverse ? ip4_b : ip4_a, reverse ? ip4_a : ip4_b,
		  IPPROTO_ICMP, 5, 0);
	put8(f, reverse ? 0 : 8);	/* echo reply / request */
	put_fill(f, 0, 7);
	ipv4_done(f, ip);
}

static void
frag4_frame(struct frame *f, bool reverse)
{
	uint32_t ip;

	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, TYPE_IPV4);
	ip = ipv4(f, reverse ? ip4_b : ip4_a, reverse ? ip4_a : ip4_b,
		  IPPROTO_UDP, 5, 100);
	put_fill(f, 0xdd, 40);
	ipv4_done(f, ip);
}

static void
frag6_frame(struct frame *f, bool reverse)
{
	uint32_t ip;

	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, TYPE_IPV6);
	ip = ipv6(f, reverse ? ip6_b : ip6_a, reverse ? ip6_a : ip6_b,
		  IPPROTO_FRAGMENT);
	ipv6_frag(f, IPPROTO_TCP, 0, true);
	tcp(f, reverse ? PORT_B : PORT_A, reverse ? PORT_A : PORT_B, TCP_ACK,
	    5, 10);
	ipv6_done(f, ip);
}

static void
tcp4_symmetry_frame(struct frame *f, bool reverse)
{
	tcp4_frame(f, reverse, TCP_ACK, 3);
}

static void
tcp6_symmetry_frame(struct frame *f, bool reverse)
{
	l4_6_frame(f, reverse, IPPROTO_TCP, 3);
}

static void
udp6_symmetry_frame(struct frame *f, bool reverse)
{
	l4_6_frame(f, reverse, IPPROTO_UDP, 3);
}

/* Same address both ways (loopback): the ports decide the order. */
static void
same_addr_frame(struct frame *f, bool reverse)
{
	uint32_t ip;

	eth(f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(f, ip4_a, ip4_a, IPPROTO_UDP, 5, 0);
	udp(f, reverse ? 9000 : 1000, reverse ? 1000 : 9000, 0);
	ipv4_done(f, ip);
}

/* The "b" address with the lower port: addresses decide before ports. */
static void
addr_before_port_frame(struct frame *f, bool reverse)
{
	uint32_t ip;

	eth(f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(f, reverse ? ip4_b : ip4_a, reverse ? ip4_a : ip4_b,
		  IPPROTO_UDP, 5, 0);
	udp(f, reverse ? 1 : 65535, reverse ? 65535 : 1, 0);
	ipv4_done(f, ip);
}

static void
l2_frame(struct frame *f, bool reverse)
{
	eth(f, reverse ? mac_a : mac_b, reverse ? mac_b : mac_a, 0x88cc);
	eth_pad(f, 0);
}

static void
malformed_frame(struct frame *f, bool reverse)
{
	tcp4_frame(f, reverse, TCP_ACK, 0);
	f->b[ETH_LEN] = 0x44;
}

/* Each builds the "a to b" frame, or "b to a" when reversed. */
static const struct {
	const char *name;
	void (*build)(struct frame *f, bool reverse);
	uint8_t kind;
} symmetry_cases[] = {
	{ "IPv4 TCP", tcp4_symmetry_frame, ST_FLOW_L4 },
	{ "IPv6 TCP", tcp6_symmetry_frame, ST_FLOW_L4 },
	{ "IPv6 UDP", udp6_symmetry_frame, ST_FLOW_L4 },
	{ "IPv4 ICMP", icmp4_frame, ST_FLOW_IP },
	{ "IPv4 fragment", frag4_frame, ST_FLOW_IP },
	{ "IPv6 fragment", frag6_frame, ST_FLOW_IP },
	{ "same address", same_addr_frame, ST_FLOW_L4 },
	{ "address before port", addr_before_port_frame, ST_FLOW_L4 },
	{ "LLDP", l2_frame, ST_FLOW_L2 },
	{ "malformed IPv4", malformed_frame, ST_FLOW_L2 },
};

static void
test_symmetry(void **state)
{
	struct st_pkt_info fwd_info, rev_info;
	struct st_flow_key fwd, rev;
	struct frame f;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(symmetry_cases); i++) {
		print_message("%s\n", symmetry_cases[i].name);
		symmetry_cases[i].build(&f, false);
		parse(&f, &fwd_info, &fwd);
		symmetry_cases[i].build(&f, true);
		parse(&f, &rev_info, &rev);
		assert_int_equal(fwd.kind, symmetry_cases[i].kind);
		assert_memory_equal(&fwd, &rev, sizeof(fwd));
		assert_int_equal(fwd_info.flags & ST_PKT_SWAPPED, 0);
		assert_int_equal(rev_info.flags & ST_PKT_SWAPPED,
				 ST_PKT_SWAPPED);
		assert_int_equal(fwd_info.flags & ~ST_PKT_SWAPPED,
				 rev_info.flags & ~ST_PKT_SWAPPED);
	}
}

/* The key is hashed and compared as bytes: no hidden padding, and the
 * explicit padding is zero whatever was in the memory before. */
static void
test_key_padding(void **state)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	struct frame f;
	unsigned int i;

	(void)state;
	assert_int_equal(sizeof(key), 16 + 16 + 2 + 2 + 1 + 1 + 1 + 1);
	for (i = 0; i < RTE_DIM(symmetry_cases); i++) {
		symmetry_cases[i].build(&f, true);
		parse(&f, &info, &key);
		assert_int_equal(key.pad, 0);
	}
}

/*
 * An IPv4 address and an IPv6 address are different endpoints, even when
 * the IPv6 one is the IPv4 bytes followed by zeros (32.1.13.184 and
 * 2001:db8::): the two flows must not share a key, or they share a flow
 * table entry (FIN/RST state, mirror bits) as well as a verdict.
 */
static void
test_key_tells_ipv4_from_ipv6(void **state)
{
	static const uint8_t v4_a[4] = { 0x20, 0x01, 0x0d, 0xb8 };
	static const uint8_t v4_b[4] = { 0x20, 0x01, 0x0d, 0xb9 };
	static const uint8_t v6_a[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	static const uint8_t v6_b[16] = { 0x20, 0x01, 0x0d, 0xb9 };
	struct st_flow_key key4, key6;
	struct st_pkt_info info;
	struct frame f;
	uint32_t ip;

	(void)state;
	eth(&f, mac_b, mac_a, TYPE_IPV4);
	ip = ipv4(&f, v4_a, v4_b, IPPROTO_TCP, 5, 0);
	tcp(&f, PORT_A, PORT_B, TCP_SYN, 5, 0);
	ipv4_done(&f, ip);
	parse(&f, &info, &key4);
	eth(&f, mac_b, mac_a, TYPE_IPV6);
	ip = ipv6(&f, v6_a, v6_b, IPPROTO_TCP);
	tcp(&f, PORT_A, PORT_B, TCP_SYN, 5, 0);
	ipv6_done(&f, ip);
	parse(&f, &info, &key6);
	assert_int_equal(key4.kind, ST_FLOW_L4);
	assert_int_equal(key6.kind, ST_FLOW_L4);
	assert_memory_not_equal(&key4, &key6, sizeof(key4));
}

/* --- random frames ------------------------------------------------------ */

#define FUZZ_FRAMES 300000
#define FUZZ_LEN_MAX 200

static uint64_t fuzz_rng;

static uint32_t
fuzz_rand(void)
{
	/* xorshift64* */
	fuzz_rng ^= fuzz_rng >> 12;
	fuzz_rng ^= fuzz_rng << 25;
	fuzz_rng ^= fuzz_rng >> 27;
	return (uint32_t)((fuzz_rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static void
fuzz_set16(uint8_t *b, uint32_t len, uint32_t off, uint16_t v)
{
	if (off + 2 <= len) {
		b[off] = (uint8_t)(v >> 8);
		b[off + 1] = (uint8_t)v;
	}
}

static void
fuzz_set8(uint8_t *b, uint32_t len, uint32_t off, uint8_t v)
{
	if (off < len)
		b[off] = v;
}

/* Random bytes, often with believable headers so that the parser goes deep:
 * a chain of EtherTypes, then an IP header with a plausible version, IHL,
 * length, fragment field and protocol. */
static void
fuzz_frame(uint8_t *b, uint32_t len)
{
	static const uint16_t types[] = {
		TYPE_IPV4, TYPE_IPV6, TYPE_VLAN, TYPE_QINQ, TYPE_QINQ_OLD,
		TYPE_PPPOE, TYPE_IPV4, TYPE_IPV6,
	};
	static const uint8_t protos[] = {
		IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_HOPOPTS,
		IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_AH, IPPROTO_DSTOPTS,
	};
	uint32_t i, off = 12;
	uint16_t type;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)fuzz_rand();
	if (fuzz_rand() % 8 == 0)
		return;
	for (;;) {
		type = types[fuzz_rand() % RTE_DIM(types)];
		fuzz_set16(b, len, off, type);
		if (type == TYPE_IPV4 || type == TYPE_IPV6)
			break;
		if (type == TYPE_PPPOE) {
			type = fuzz_rand() % 2 ? TYPE_IPV4 : TYPE_IPV6;
			fuzz_set16(b, len, off + 8, type == TYPE_IPV4 ?
				   PPP_IPV4 : PPP_IPV6);
			off += 8;
			break;
		}
		off += 4;
	}
	off += 2;
	if (type == TYPE_IPV4) {
		fuzz_set8(b, len, off, (uint8_t)(0x45 + fuzz_rand() % 11));
		fuzz_set16(b, len, off + 2, (uint16_t)(fuzz_rand() % 256));
		if (fuzz_rand() % 2)
			fuzz_set16(b, len, off + 6, 0);
		fuzz_set8(b, len, off + 9, protos[fuzz_rand() % 3]);
	} else {
		fuzz_set8(b, len, off, 0x60);
		fuzz_set16(b, len, off + 4, (uint16_t)(fuzz_rand() % 256));
		fuzz_set8(b, len, off + 6,
			  protos[fuzz_rand() % RTE_DIM(protos)]);
		/* Small extension headers, each pointing to another one or
		 * to TCP/UDP. */
		for (off += IPV6_LEN; off < len; off += 8) {
			fuzz_set8(b, len, off,
				  protos[fuzz_rand() % RTE_DIM(protos)]);
			fuzz_set8(b, len, off + 1, (uint8_t)(fuzz_rand() % 2));
		}
	}
}

/* What must hold for any frame. */
static void
check_invariants(const struct st_pkt_info *info,
		 const struct st_flow_key *key, uint32_t len)
{
	int cmp = memcmp(key->addr_lo, key->addr_hi, sizeof(key->addr_lo));

	assert_true(key->kind >= ST_FLOW_L2 && key->kind <= ST_FLOW_L4);
	assert_int_equal(key->pad, 0);
	/* The family is set exactly for the keys made of IP addresses. */
	if (key->kind == ST_FLOW_L2)
		assert_int_equal(key->family, 0);
	else
		assert_true(key->family == 4 || key->family == 6);
	assert_true(cmp < 0 || (cmp == 0 && key->port_lo <= key->port_hi));
	assert_int_equal(info->flags & ~(ST_PKT_MALFORMED | ST_PKT_FRAGMENT |
					 ST_PKT_SWAPPED), 0);

	if (key->kind != ST_FLOW_L4) {
		assert_int_equal(key->proto, 0);
		assert_int_equal(key->port_lo | key->port_hi, 0);
		assert_int_equal(info->l4_off, 0);
		assert_int_equal(info->l4_proto, 0);
		assert_int_equal(info->tcp_flags, 0);
		assert_int_equal(info->payload_off, 0);
	} else {
		assert_true(key->proto == IPPROTO_TCP ||
			    key->proto == IPPROTO_UDP);
		assert_int_equal(info->l4_proto, key->proto);
		assert_true(info->l4_off >= info->l3_off + IPV4_LEN);
		assert_true((uint32_t)info->l4_off + 4 <= len);
	}
	if (key->kind == ST_FLOW_L2) {
		assert_int_equal(info->l3_off, 0);
		assert_int_equal(info->flags & ST_PKT_FRAGMENT, 0);
	} else {
		assert_true(info->l3_off >= ETH_LEN);
		assert_true((uint32_t)info->l3_off + IPV4_LEN <= len);
		assert_int_equal(info->flags & ST_PKT_MALFORMED, 0);
	}
	if (info->flags & ST_PKT_FRAGMENT)
		assert_int_equal(key->kind, ST_FLOW_IP);
	if (info->tcp_flags != 0) {
		assert_int_equal(info->l4_proto, IPPROTO_TCP);
		assert_true((uint32_t)info->l4_off + TCP_LEN <= len);
	}
	if (info->payload_off != 0) {
		assert_true(info->payload_off >= info->l4_off + UDP_LEN);
		assert_true((uint32_t)info->payload_off + info->payload_len <=
			    len);
	} else {
		assert_int_equal(info->payload_len, 0);
	}
}

/* st_parse()'s IPv4 entry (its fast path) gives what the general parse
 * gives, byte for byte, padding included. */
static void
expect_same_as_any(const uint8_t *frame, uint32_t len,
		   const struct st_pkt_info *info,
		   const struct st_flow_key *key)
{
	struct st_pkt_info any_info;
	struct st_flow_key any_key;

	memset(&any_info, 0x5a, sizeof(any_info));
	memset(&any_key, 0x5a, sizeof(any_key));
	st_parse_any(frame, len, &any_info, &any_key);
	assert_memory_equal(info, &any_info, sizeof(any_info));
	assert_memory_equal(key, &any_key, sizeof(any_key));
}

static void
test_random_frames(void **state)
{
	unsigned int kinds[ST_FLOW_L4 + 1] = { 0 };
	unsigned int payloads = 0;
	struct st_pkt_info info;
	struct st_flow_key key;
	uint8_t *buf = malloc(FUZZ_LEN_MAX);
	unsigned int i;

	(void)state;
	assert_non_null(buf);
	fuzz_rng = 0x5348414d00000001ULL;
	for (i = 0; i < FUZZ_FRAMES; i++) {
		uint32_t len = fuzz_rand() % (FUZZ_LEN_MAX + 1);
		/* At the end of the allocation: ASan sees any over-read. */
		uint8_t *frame = buf + FUZZ_LEN_MAX - len;

		fuzz_frame(frame, len);
		st_parse(frame, len, &info, &key);
		check_invariants(&info, &key, len);
		expect_same_as_any(frame, len, &info, &key);
		kinds[key.kind]++;
		payloads += info.payload_len > 0;
	}
	free(buf);
	/* The generator reaches every outcome, or the loop proves little. */
	print_message("L2 %u, IP %u, L4 %u, with payload %u\n",
		      kinds[ST_FLOW_L2], kinds[ST_FLOW_IP], kinds[ST_FLOW_L4],
		      payloads);
	assert_true(kinds[ST_FLOW_L2] > FUZZ_FRAMES / 20);
	assert_true(kinds[ST_FLOW_IP] > FUZZ_FRAMES / 20);
	assert_true(kinds[ST_FLOW_L4] > FUZZ_FRAMES / 20);
	assert_true(payloads > FUZZ_FRAMES / 50);
}

/* Values that steer a mutated header byte to a boundary of a check the
 * fast path makes: IHL and version, protocols, data offsets, lengths,
 * fragment bits. */
static uint8_t
mutant_byte(void)
{
	static const uint8_t edges[] = {
		0x00, 0x01, 0x04, 0x05, 0x06, 0x11, 0x14, 0x1f, 0x20, 0x22,
		0x3f, 0x40, 0x44, 0x45, 0x46, 0x4f, 0x50, 0x55, 0x60, 0xf0,
		0xff,
	};

	return fuzz_rand() % 2 ? edges[fuzz_rand() % RTE_DIM(edges)] :
				 (uint8_t)fuzz_rand();
}

/* The frames the fast path takes, and every near miss: valid IPv4 TCP and
 * UDP frames with a few bytes of their headers changed and cut at any
 * length, parsed by st_parse() and by st_parse_any(). */
static void
test_fast_path_equals_general(void **state)
{
	enum { SEEDS = 6, MUTANTS = 100000 };
	struct frame seeds[SEEDS], *f;
	unsigned int i, fast_like = 0, other = 0;
	struct st_pkt_info info;
	struct st_flow_key key;
	uint32_t ip;

	(void)state;
	tcp4_frame(&seeds[0], false, TCP_SYN, 0);
	tcp4_frame(&seeds[1], true, TCP_ACK, 40);
	for (i = 2; i < SEEDS; i++) {
		f = &seeds[i];
		eth(f, mac_b, mac_a, TYPE_IPV4);
		ip = ipv4(f, ip4_a, i % 2 ? ip4_a : ip4_b,
			  i < 4 ? IPPROTO_TCP : IPPROTO_UDP, 5, 0);
		if (i < 4)
			tcp(f, PORT_B, PORT_A, TCP_ACK, i == 2 ? 8 : 5, 3);
		else
			udp(f, PORT_B, i == 4 ? PORT_B : PORT_A, 30);
		ipv4_done(f, ip);
		eth_pad(f, 0);
	}
	fuzz_rng = 0x5348414d00000002ULL;
	for (i = 0; i < MUTANTS; i++) {
		const struct frame *seed = &seeds[fuzz_rand() % SEEDS];
		uint32_t hdr_end = RTE_MIN(seed->len, ETH_LEN + IPV4_LEN + 32u);
		uint32_t len = fuzz_rand() % 4 ? seed->len :
			       fuzz_rand() % (seed->len + 1);
		unsigned int k, changes = fuzz_rand() % 4;
		uint8_t buf[FRAME_MAX], *copy;

		memcpy(buf, seed->b, seed->len);
		for (k = 0; k < changes; k++)
			buf[12 + fuzz_rand() % (hdr_end - 12)] = mutant_byte();
		/* Exactly @len bytes: ASan sees any over-read. */
		copy = malloc(len > 0 ? len : 1);
		assert_non_null(copy);
		memcpy(copy, buf, len);
		memset(&info, 0xa5, sizeof(info));
		memset(&key, 0xa5, sizeof(key));
		st_parse(copy, len, &info, &key);
		check_invariants(&info, &key, len);
		expect_same_as_any(copy, len, &info, &key);
		if (key.kind == ST_FLOW_L4 && key.family == 4 &&
		    info.l4_off == ETH_LEN + IPV4_LEN)
			fast_like++;
		else
			other++;
		free(copy);
	}
	/* Both sides of the fast path's checks were reached. */
	print_message("fast-path frames %u, others %u\n", fast_like, other);
	assert_true(fast_like > MUTANTS / 4);
	assert_true(other > MUTANTS / 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_tcp),
		cmocka_unit_test(test_ipv4_tcp_options),
		cmocka_unit_test(test_ipv4_udp),
		cmocka_unit_test(test_ipv4_udp_short_header),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv4_icmp),
		cmocka_unit_test(test_padding_is_not_payload),
		cmocka_unit_test(test_ipv4_truncated_payload),
		cmocka_unit_test(test_ipv4_malformed),
		cmocka_unit_test(test_tcp_cut_after_ip_header),
		cmocka_unit_test(test_tcp_ports_only),
		cmocka_unit_test(test_tcp_bad_data_offset),
		cmocka_unit_test(test_ipv6_tcp_udp),
		cmocka_unit_test(test_ipv6_extension_headers),
		cmocka_unit_test(test_ipv6_ah),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_ipv6_extension_past_end),
		cmocka_unit_test(test_ipv6_extension_limit),
		cmocka_unit_test(test_ipv6_malformed),
		cmocka_unit_test(test_encapsulations),
		cmocka_unit_test(test_encapsulation_cut),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_runts),
		cmocka_unit_test(test_symmetry),
		cmocka_unit_test(test_key_padding),
		cmocka_unit_test(test_key_tells_ipv4_from_ipv6),
		cmocka_unit_test(test_random_frames),
		cmocka_unit_test(test_fast_path_equals_general),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
