/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_PARSE_H
#define ST_PARSE_H

/*
 * L2-L4 parsing of one frame into what the rest of the dataplane needs:
 * the canonical flow key (docs/flows.md) and where the L4 payload is.
 * Pure functions over a byte buffer: no mbuf, no allocation, no state.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>

/* Flow kinds, from the most to the least specific. None is 0, so that no
 * key is all zeros, as the flow table's free slots are. */
enum st_flow_kind {
	ST_FLOW_L2 = 1,	/* MAC pair: non-IP, malformed IP, runts */
	ST_FLOW_IP = 2,	/* address pair: fragments, ICMP, other protocols */
	ST_FLOW_L4 = 3,	/* TCP/UDP 5-tuple */
};

/*
 * Canonical flow key: endpoint "lo" sorts before endpoint "hi", so both
 * directions of a connection give the same key. Padding is always zero so
 * the key can be hashed and compared as bytes; 8-byte alignment lets the
 * CRC read it a word at a time.
 */
struct st_flow_key {
	uint8_t addr_lo[16];
	uint8_t addr_hi[16];
	uint16_t port_lo;
	uint16_t port_hi;
	uint8_t kind;	/* enum st_flow_kind */
	uint8_t proto;	/* IPPROTO_TCP or IPPROTO_UDP for ST_FLOW_L4, else 0 */
	uint8_t family;	/* 4 or 6 for IP and L4 flows, 0 for L2: an IPv4
			 * address and an IPv6 one with 12 zero bytes after
			 * the same 4 must not give the same key */
	uint8_t pad;
} __attribute__((aligned(8)));

/* The bytes of a key that st_flow_hash() reads: all of them. */
#define ST_FLOW_KEY_HASHED sizeof(struct st_flow_key)

/* Flags in struct st_pkt_info.flags. */
#define ST_PKT_MALFORMED 0x01	/* an IP header that failed validation */
#define ST_PKT_FRAGMENT 0x02	/* an IP fragment */
#define ST_PKT_SWAPPED 0x04	/* the sender is the key's "hi" endpoint (set
				 * by st_flow_key_of()) */
#define ST_PKT_HTTP 0x08	/* not set by st_parse(): a TCP segment whose
				 * requests the worker looks at */

/* Where the interesting parts of a parsed frame are. */
struct st_pkt_info {
	uint16_t l3_off;	/* IP header offset; 0 when there is none */
	uint16_t l4_off; /* TCP/UDP header offset; 0 when there is none */
	uint16_t payload_off;	/* L4 payload offset; 0 when there is none */
	uint16_t payload_len;	/* L4 payload bytes present in the frame */
	uint16_t src_port;	/* TCP/UDP ports, for an ST_FLOW_L4 flow; */
	uint16_t dst_port;	/* else 0 */
	uint8_t l4_proto;	/* IPPROTO_TCP / IPPROTO_UDP, else 0 */
	uint8_t tcp_flags;	/* TCP flags byte; 0 for other packets */
	uint8_t flags;		/* ST_PKT_* */
	uint8_t kind;		/* enum st_flow_kind of its flow */
	uint8_t family;		/* 4 or 6: the addresses at l3_off; else 0 */
};

/**
 * Parse a frame: where its parts are, and what its flow is made of, with
 * no key built yet (a packet that needs no flow needs none).
 *
 * @param frame  first byte of the Ethernet frame
 * @param len    bytes available at @p frame (may be less than the frame
 *               when the rest is in further segments)
 * @param info   filled with offsets, flags and the flow's parts; never
 *               NULL
 *
 * Never fails: whatever it cannot understand becomes an L2 or IP flow as
 * docs/flows.md says. Thread-safe (no shared state).
 */
void st_parse_info(const uint8_t *frame, uint32_t len,
		   struct st_pkt_info *info);

/**
 * st_parse_info() without its entry for the common frame (Ethernet then
 * IPv4, parsed by an inlined copy of the same code): the parse of every
 * frame, which st_parse_info() falls back to and equals on every input.
 * Same parameters.
 */
void st_parse_info_any(const uint8_t *frame, uint32_t len,
		       struct st_pkt_info *info);

/*
 * Store two endpoints in canonical order. Returns whether they were
 * swapped, i.e. whether the sender is the "hi" endpoint. IPv4 addresses
 * compare as big-endian integers, which is memcmp()'s order without its
 * call: nearly every packet comes this way.
 */
static __rte_always_inline int
st_key_set(struct st_flow_key *key, const uint8_t *a, uint16_t port_a,
	   const uint8_t *b, uint16_t port_b, unsigned int addr_len)
{
	int cmp, swap;

	if (addr_len == 4) {
		uint32_t x, y;

		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		x = rte_be_to_cpu_32(x);
		y = rte_be_to_cpu_32(y);
		cmp = (x > y) - (x < y);
	} else {
		cmp = memcmp(a, b, addr_len);
	}
	swap = cmp > 0 || (cmp == 0 && port_a > port_b);

	if (swap) {
		const uint8_t *t = a;
		uint16_t tp = port_a;

		a = b;
		b = t;
		port_a = port_b;
		port_b = tp;
	}
	memcpy(key->addr_lo, a, addr_len);
	memcpy(key->addr_hi, b, addr_len);
	key->port_lo = port_a;
	key->port_hi = port_b;
	return swap;
}

/* The key of an IP or L4 flow (@p addr_len 4 or 16), on a zeroed key.
 * Returns whether the sender is its "hi" endpoint. An IP flow's ports and
 * protocol are 0 in info, as in its key. */
static __rte_always_inline int
st_key_ip(struct st_flow_key *key, const uint8_t *frame,
	  const struct st_pkt_info *info, unsigned int addr_len)
{
	/* The source address: IPv4's at 12, IPv6's at 8; the destination
	 * right after it. */
	const uint8_t *src = frame + info->l3_off + (addr_len == 4 ? 12 : 8);

	key->kind = info->kind;
	key->family = info->family;
	key->proto = info->l4_proto;
	return st_key_set(key, src, info->src_port, src + addr_len,
			  info->dst_port, addr_len);
}

/** st_flow_key_of() of a frame that is not IPv4. */
void st_flow_key_any(const uint8_t *frame, uint32_t len,
		     struct st_pkt_info *info, struct st_flow_key *key);

/**
 * The canonical flow key of a frame st_parse_info() parsed; sets
 * ST_PKT_SWAPPED in @p info when the sender is its "hi" endpoint.
 * Inline for IPv4, which nearly every frame is.
 *
 * @param frame, len  as given to st_parse_info()
 * @param key         filled; never NULL
 */
static inline void
st_flow_key_of(const uint8_t *frame, uint32_t len, struct st_pkt_info *info,
	       struct st_flow_key *key)
{
	if (unlikely(info->family != 4)) {
		st_flow_key_any(frame, len, info, key);
		return;
	}
	memset(key, 0, sizeof(*key));
	if (st_key_ip(key, frame, info, 4))
		info->flags |= ST_PKT_SWAPPED;
}

/** Parse a frame and build its canonical flow key. */
static inline void
st_parse(const uint8_t *frame, uint32_t len, struct st_pkt_info *info,
	 struct st_flow_key *key)
{
	st_parse_info(frame, len, info);
	st_flow_key_of(frame, len, info, key);
}

/** st_parse() by st_parse_info_any(). */
static inline void
st_parse_any(const uint8_t *frame, uint32_t len, struct st_pkt_info *info,
	     struct st_flow_key *key)
{
	st_parse_info_any(frame, len, info);
	st_flow_key_of(frame, len, info, key);
}

#endif
