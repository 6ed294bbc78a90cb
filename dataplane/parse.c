/* SPDX-License-Identifier: BSD-3-Clause */
#include "parse.h"

#include <netinet/in.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>

#define ETH_HDR_LEN 14
#define VLAN_TAG_LEN 4
#define MAX_VLAN_TAGS 2
#define PPPOE_HDR_LEN 6	/* PPPoE session header, before the PPP protocol */
#define IPV4_MIN_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define IPV6_MAX_EXT_HDRS 8
#define L4_PORTS_LEN 4
#define TCP_MIN_HDR_LEN 20
#define UDP_HDR_LEN 8

#define ETHER_TYPE_IPV4 0x0800
#define ETHER_TYPE_IPV6 0x86dd
#define ETHER_TYPE_VLAN 0x8100
#define ETHER_TYPE_QINQ 0x88a8
#define ETHER_TYPE_QINQ_OLD 0x9100
#define ETHER_TYPE_PPPOE_SESSION 0x8864
#define PPP_PROTO_IPV4 0x0021
#define PPP_PROTO_IPV6 0x0057

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The parse sets what a flow is made of in info: its kind, and for IP and
 * L4 flows its address family (the addresses are at fixed places of the
 * IP header) and ports. The key is built from that only when a packet
 * needs its flow (st_flow_key_of()).
 */
static inline void
flow_ip(unsigned int addr_len, struct st_pkt_info *info)
{
	info->kind = ST_FLOW_IP;
	info->family = addr_len == 4 ? 4 : 6;
}

/*
 * The L4 part shared by IPv4 and IPv6: TCP/UDP with its ports present
 * is a 5-tuple flow, anything else an address pair.
 */
static __rte_always_inline void
parse_l4(const uint8_t *frame, uint32_t l4_off, uint32_t ip_end,
	 uint8_t proto, unsigned int addr_len, struct st_pkt_info *info)
{
	const uint8_t *l4 = frame + l4_off;
	uint32_t hdr_len;

	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) ||
	    l4_off + L4_PORTS_LEN > ip_end) {
		flow_ip(addr_len, info);
		return;
	}
	info->kind = ST_FLOW_L4;
	info->family = addr_len == 4 ? 4 : 6;
	info->src_port = rd16(l4);
	info->dst_port = rd16(l4 + 2);
	info->l4_off = (uint16_t)l4_off;
	info->l4_proto = proto;

	if (proto == IPPROTO_TCP) {
		if (l4_off + TCP_MIN_HDR_LEN > ip_end)
			return;
		info->tcp_flags = l4[13];
		hdr_len = (uint32_t)(l4[12] >> 4) * 4;
		if (hdr_len < TCP_MIN_HDR_LEN)
			return;
	} else {
		hdr_len = UDP_HDR_LEN;
	}
	if (l4_off + hdr_len > ip_end)
		return;
	info->payload_off = (uint16_t)(l4_off + hdr_len);
	info->payload_len = (uint16_t)(ip_end - l4_off - hdr_len);
}

/* Returns 0 when the IPv4 header is valid (and the flow's parts set). */
static __rte_always_inline int
parse_ipv4(const uint8_t *frame, uint32_t len, uint32_t off,
	   struct st_pkt_info *info)
{
	const uint8_t *ip = frame + off;
	uint32_t hdr_len, total_len, ip_end;

	if (off + IPV4_MIN_HDR_LEN > len || (ip[0] >> 4) != 4)
		return -1;
	hdr_len = (uint32_t)(ip[0] & 0x0f) * 4;
	total_len = rd16(ip + 2);
	if (hdr_len < IPV4_MIN_HDR_LEN || off + hdr_len > len ||
	    total_len < hdr_len)
		return -1;
	ip_end = RTE_MIN(len, off + total_len);
	info->l3_off = (uint16_t)off;

	/* MF flag or a non-zero offset: only the first fragment has ports. */
	if (rd16(ip + 6) & 0x3fff) {
		info->flags |= ST_PKT_FRAGMENT;
		flow_ip(4, info);
		return 0;
	}
	parse_l4(frame, off + hdr_len, ip_end, ip[9], 4, info);
	return 0;
}

/* Returns 0 when the IPv6 header is valid (and the flow's parts set). */
static int
parse_ipv6(const uint8_t *frame, uint32_t len, uint32_t off,
	   struct st_pkt_info *info)
{
	const uint8_t *ip = frame + off;
	uint32_t ip_end, next_off = off + IPV6_HDR_LEN;
	uint8_t next;
	int i;

	if (off + IPV6_HDR_LEN > len || (ip[0] >> 4) != 6)
		return -1;
	ip_end = RTE_MIN(len, next_off + rd16(ip + 4));
	info->l3_off = (uint16_t)off;
	next = ip[6];

	for (i = 0; i < IPV6_MAX_EXT_HDRS; i++) {
		const uint8_t *ext = frame + next_off;
		uint32_t ext_len;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_AH &&
		    next != IPPROTO_FRAGMENT)
			break;
		if (next_off + 8 > ip_end) {
			flow_ip(16, info);
			return 0;
		}
		if (next == IPPROTO_FRAGMENT) {
			/* Offset (13 bits) or M flag: not a whole datagram. */
			if (rd16(ext + 2) & 0xfff9) {
				info->flags |= ST_PKT_FRAGMENT;
				flow_ip(16, info);
				return 0;
			}
			ext_len = 8;
		} else if (next == IPPROTO_AH) {
			ext_len = ((uint32_t)ext[1] + 2) * 4;
		} else {
			ext_len = ((uint32_t)ext[1] + 1) * 8;
		}
		next = ext[0];
		next_off += ext_len;
	}
	if (next_off > ip_end) {
		flow_ip(16, info);
		return 0;
	}
	parse_l4(frame, next_off, ip_end, next, 16, info);
	return 0;
}

/*
 * Nearly every frame is Ethernet then IPv4: that parse gets its own copy
 * of parse_ipv4(), inlined with the IPv4 offset known, and anything else,
 * or an IPv4 header that fails its checks, is left to
 * st_parse_info_any(), which starts over.
 *
 * Out of line: the worker's parse loop is two loops (the last packets of a
 * burst have nothing to prefetch), each with its body inlined around this
 * call. Left to the compiler, the body became a call with this inlined
 * into it, and 64-byte frames took 233 instructions a packet, against 214
 * so (perf/profile).
 */
__rte_noinline void
st_parse_info(const uint8_t *frame, uint32_t len, struct st_pkt_info *info)
{
	if (likely(len >= ETH_HDR_LEN &&
		   rd16(frame + 12) == ETHER_TYPE_IPV4)) {
		memset(info, 0, sizeof(*info));
		if (likely(parse_ipv4(frame, len, ETH_HDR_LEN, info) == 0))
			return;
	}
	st_parse_info_any(frame, len, info);
}

void
st_parse_info_any(const uint8_t *frame, uint32_t len,
		  struct st_pkt_info *info)
{
	uint32_t off = ETH_HDR_LEN;
	uint16_t type;
	int tags, ret = -1;

	memset(info, 0, sizeof(*info));
	info->kind = ST_FLOW_L2;
	if (unlikely(len < ETH_HDR_LEN))
		return;
	type = rd16(frame + 12);
	for (tags = 0; (type == ETHER_TYPE_VLAN || type == ETHER_TYPE_QINQ ||
			type == ETHER_TYPE_QINQ_OLD) && tags < MAX_VLAN_TAGS &&
	     off + VLAN_TAG_LEN <= len; tags++) {
		type = rd16(frame + off + 2);
		off += VLAN_TAG_LEN;
	}
	if (type == ETHER_TYPE_PPPOE_SESSION &&
	    off + PPPOE_HDR_LEN + 1 <= len) {
		/* The PPP protocol field is 2 bytes, or 1 when compressed
		 * (RFC 1661: a protocol number's low byte is odd, its high
		 * byte even, so an odd first byte is a whole field). */
		const uint8_t *ppp = frame + off + PPPOE_HDR_LEN;
		uint32_t field = ppp[0] & 1 ? 1 : 2;
		uint16_t proto = field == 1 ? ppp[0] :
			off + PPPOE_HDR_LEN + 2 <= len ? rd16(ppp) : 0;

		off += PPPOE_HDR_LEN + field;
		type = proto == PPP_PROTO_IPV4 ? ETHER_TYPE_IPV4 :
		       proto == PPP_PROTO_IPV6 ? ETHER_TYPE_IPV6 : 0;
	}

	if (likely(type == ETHER_TYPE_IPV4))
		ret = parse_ipv4(frame, len, off, info);
	else if (type == ETHER_TYPE_IPV6)
		ret = parse_ipv6(frame, len, off, info);
	else
		return;
	if (unlikely(ret != 0))
		info->flags |= ST_PKT_MALFORMED;
}

void
st_flow_key_any(const uint8_t *frame, uint32_t len, struct st_pkt_info *info,
		struct st_flow_key *key)
{
	static const uint8_t zero_macs[12];
	const uint8_t *macs;
	int swap;

	memset(key, 0, sizeof(*key));
	if (info->kind != ST_FLOW_L2) {
		swap = st_key_ip(key, frame, info, 16);
	} else {
		/* MACs: destination at 0, source at 6; the source is the
		 * sender. A runt has none. */
		key->kind = ST_FLOW_L2;
		macs = len >= ETH_HDR_LEN ? frame : zero_macs;
		swap = st_key_set(key, macs + 6, 0, macs, 0, 6);
	}
	if (swap)
		info->flags |= ST_PKT_SWAPPED;
}
