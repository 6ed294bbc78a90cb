/* SPDX-License-Identifier: BSD-3-Clause */
#include "decap.h"

#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#define ETH_HDR_BYTES 14
#define VLAN_TAG_BYTES 4
#define MAX_TAGS 2		/* QinQ; a third tag is not IP */
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100	/* pre-802.1ad switches */
#define ETHERTYPE_TEB 0x6558		/* GRE: an Ethernet frame inside */
#define ETHERTYPE_ERSPAN_II 0x88be

#define IPV4_HDR_BYTES 20
#define IPV4_FRAG_MASK 0x3fff		/* MF and the offset */
#define IPV6_HDR_BYTES 40
#define IPV6_MAX_EXT_HDRS 8		/* bounds the walk */
#define TCP_HDR_BYTES 20
#define UDP_HDR_BYTES 8

#define VXLAN_PORT 4789
#define VXLAN_HDR_BYTES 8
#define VXLAN_FLAG_VNI 0x08		/* "I": the VNI is valid */

#define GRE_HDR_BYTES 4
#define GRE_CSUM 0x8000
#define GRE_ROUTING 0x4000		/* RFC 1701 source routing: gone */
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007
#define GRE_OPTION_BYTES 4		/* each of checksum, key, sequence */

#define ERSPAN_II_HDR_BYTES 8
#define ERSPAN_VERSION_II 1u
#define ERSPAN_TRUNCATED (1u << 10)

/* An IP packet: where its upper layer is. */
struct l3 {
	uint8_t family;
	uint8_t proto;
	const uint8_t *src;
	const uint8_t *dst;
	const uint8_t *l4;
	uint32_t l4_len;	/* up to the IP length: padding is off */
};

/* Which outer encapsulation a packet carries. */
enum tunnel {
	TUNNEL_NONE,
	TUNNEL_VXLAN,
	TUNNEL_GRE,
	TUNNEL_ERSPAN,
};

static const char *const mode_names[ST_DECAP_MODES] = {
	[ST_DECAP_AUTO] = "auto",
	[ST_DECAP_NONE] = "none",
	[ST_DECAP_VLAN] = "vlan",
	[ST_DECAP_VXLAN] = "vxlan",
	[ST_DECAP_GRE] = "gre",
	[ST_DECAP_ERSPAN] = "erspan",
};

static const char *const result_names[ST_DECAP_RESULTS] = {
	[ST_DECAP_OK] = "ok",
	[ST_DECAP_NOT_IP] = "not_ip",
	[ST_DECAP_NOT_TCP] = "not_tcp",
	[ST_DECAP_FRAGMENT] = "fragment",
	[ST_DECAP_TRUNCATED] = "truncated",
	[ST_DECAP_MALFORMED] = "malformed",
	[ST_DECAP_OTHER_ENCAP] = "other_encap",
};

const char *
st_decap_mode_name(enum st_decap_mode m)
{
	return (unsigned int)m < ST_DECAP_MODES ? mode_names[m] : NULL;
}

const char *
st_decap_result_name(enum st_decap_result r)
{
	return (unsigned int)r < ST_DECAP_RESULTS ? result_names[r] : NULL;
}

static inline uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Ethernet and up to two tags: the EtherType of what follows and where. */
static enum st_decap_result
parse_ethernet(const uint8_t *f, uint32_t len, bool tags_ok, uint16_t *type,
	       uint32_t *l3_off)
{
	uint32_t off = ETH_HDR_BYTES;
	int tags = 0;

	if (len < ETH_HDR_BYTES)
		return ST_DECAP_MALFORMED;
	*type = be16(f + 12);
	while ((*type == ETHERTYPE_VLAN || *type == ETHERTYPE_QINQ ||
		*type == ETHERTYPE_QINQ_OLD) && tags < MAX_TAGS) {
		if (!tags_ok)
			return ST_DECAP_OTHER_ENCAP;
		if (len < off + VLAN_TAG_BYTES)
			return ST_DECAP_MALFORMED;
		*type = be16(f + off + 2);
		off += VLAN_TAG_BYTES;
		tags++;
	}
	if (*type != ETHERTYPE_IPV4 && *type != ETHERTYPE_IPV6)
		return ST_DECAP_NOT_IP;
	*l3_off = off;
	return ST_DECAP_OK;
}

static enum st_decap_result
parse_ipv4(const uint8_t *p, uint32_t len, struct l3 *l3)
{
	uint32_t total, ihl;

	if (len < IPV4_HDR_BYTES || p[0] >> 4 != 4)
		return ST_DECAP_MALFORMED;
	total = be16(p + 2);
	ihl = (p[0] & 0xfu) * 4;
	if (total > len)
		return ST_DECAP_TRUNCATED;
	if (ihl < IPV4_HDR_BYTES || ihl > total)
		return ST_DECAP_MALFORMED;
	if (be16(p + 6) & IPV4_FRAG_MASK)
		return ST_DECAP_FRAGMENT;
	l3->family = AF_INET;
	l3->proto = p[9];
	l3->src = p + 12;
	l3->dst = p + 16;
	l3->l4 = p + ihl;
	l3->l4_len = total - ihl;
	return ST_DECAP_OK;
}

/* IPv6 and the extension headers a TCP segment may sit behind. */
static enum st_decap_result
parse_ipv6(const uint8_t *p, uint32_t len, struct l3 *l3)
{
	uint32_t end, off = IPV6_HDR_BYTES;
	uint8_t next;
	int i;

	if (len < IPV6_HDR_BYTES || p[0] >> 4 != 6)
		return ST_DECAP_MALFORMED;
	end = IPV6_HDR_BYTES + be16(p + 4);
	if (end > len)
		return ST_DECAP_TRUNCATED;
	next = p[6];
	for (i = 0;; i++) {
		uint32_t hdr_len;

		if (next == IPPROTO_FRAGMENT)
			return ST_DECAP_FRAGMENT;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_AH)
			break;
		if (i == IPV6_MAX_EXT_HDRS || off + 2 > end)
			return ST_DECAP_MALFORMED;
		/* AH counts 4-byte words less two, the others 8-byte
		 * words less one (RFC 4302, RFC 8200). */
		hdr_len = next == IPPROTO_AH ? (p[off + 1] + 2u) * 4 :
					       (p[off + 1] + 1u) * 8;
		next = p[off];
		off += hdr_len;
		if (off > end)
			return ST_DECAP_MALFORMED;
	}
	l3->family = AF_INET6;
	l3->proto = next;
	l3->src = p + 8;
	l3->dst = p + 24;
	l3->l4 = p + off;
	l3->l4_len = end - off;
	return ST_DECAP_OK;
}

/* An Ethernet frame down to its IP packet. */
static enum st_decap_result
parse_l3(const uint8_t *f, uint32_t len, bool tags_ok, struct l3 *l3)
{
	enum st_decap_result r;
	uint16_t type;
	uint32_t off;

	r = parse_ethernet(f, len, tags_ok, &type, &off);
	if (r != ST_DECAP_OK)
		return r;
	if (type == ETHERTYPE_IPV4)
		return parse_ipv4(f + off, len - off, l3);
	return parse_ipv6(f + off, len - off, l3);
}

static void
fill_endpoint(struct st_endpoint *ep, const struct l3 *l3,
	      const uint8_t *addr, const uint8_t *port)
{
	size_t addr_len = l3->family == AF_INET ? 4 : 16;

	ep->family = l3->family;
	memcpy(ep->addr, addr, addr_len);
	memset(ep->addr + addr_len, 0, sizeof(ep->addr) - addr_len);
	ep->port = be16(port);
}

static enum st_decap_result
parse_tcp(const struct l3 *l3, struct st_tcp_segment *seg)
{
	const uint8_t *t = l3->l4;
	uint32_t doff;

	if (l3->proto != IPPROTO_TCP)
		return ST_DECAP_NOT_TCP;
	if (l3->l4_len < TCP_HDR_BYTES)
		return ST_DECAP_MALFORMED;
	doff = (uint32_t)(t[12] >> 4) * 4;
	if (doff < TCP_HDR_BYTES || doff > l3->l4_len)
		return ST_DECAP_MALFORMED;
	fill_endpoint(&seg->src, l3, l3->src, t);
	fill_endpoint(&seg->dst, l3, l3->dst, t + 2);
	seg->seq = be32(t + 4);
	seg->ack = be32(t + 8);
	seg->flags = t[13];
	seg->payload = t + doff;
	seg->payload_len = l3->l4_len - doff;
	return ST_DECAP_OK;
}

/*
 * What tunnel an outer packet is. Auto mode takes UDP to 4789 as VXLAN;
 * the VXLAN mode also takes another port when the VXLAN "I" flag is set,
 * as the appliance's port is configurable and the replay is not told it.
 */
static enum tunnel
tunnel_of(const struct l3 *l3, enum st_decap_mode mode)
{
	if (l3->proto == IPPROTO_UDP &&
	    l3->l4_len >= UDP_HDR_BYTES + VXLAN_HDR_BYTES &&
	    (be16(l3->l4 + 2) == VXLAN_PORT ||
	     (mode == ST_DECAP_VXLAN &&
	      (l3->l4[UDP_HDR_BYTES] & VXLAN_FLAG_VNI))))
		return TUNNEL_VXLAN;
	if (l3->proto == IPPROTO_GRE && l3->l4_len >= GRE_HDR_BYTES) {
		uint16_t proto = be16(l3->l4 + 2);

		if (proto == ETHERTYPE_TEB)
			return TUNNEL_GRE;
		if (proto == ETHERTYPE_ERSPAN_II)
			return TUNNEL_ERSPAN;
	}
	return TUNNEL_NONE;
}

static enum st_decap_result
open_vxlan(const struct l3 *l3, const uint8_t **inner, uint32_t *inner_len)
{
	uint32_t udp_len = be16(l3->l4 + 4);

	if (udp_len < UDP_HDR_BYTES + VXLAN_HDR_BYTES ||
	    udp_len > l3->l4_len)
		return ST_DECAP_MALFORMED;
	/* RFC 7348: the other flags are reserved and ignored on receipt. */
	if (!(l3->l4[UDP_HDR_BYTES] & VXLAN_FLAG_VNI))
		return ST_DECAP_MALFORMED;
	*inner = l3->l4 + UDP_HDR_BYTES + VXLAN_HDR_BYTES;
	*inner_len = udp_len - UDP_HDR_BYTES - VXLAN_HDR_BYTES;
	return ST_DECAP_OK;
}

/* GRE (RFC 2890 options), then ERSPAN type II's header if it is one. */
static enum st_decap_result
open_gre(const struct l3 *l3, enum tunnel t, const uint8_t **inner,
	 uint32_t *inner_len)
{
	uint16_t flags = be16(l3->l4);
	uint32_t off = GRE_HDR_BYTES;

	if (flags & (GRE_VERSION | GRE_ROUTING))
		return ST_DECAP_MALFORMED;
	off += (flags & GRE_CSUM ? GRE_OPTION_BYTES : 0) +
	       (flags & GRE_KEY ? GRE_OPTION_BYTES : 0) +
	       (flags & GRE_SEQ ? GRE_OPTION_BYTES : 0);
	if (t == TUNNEL_ERSPAN) {
		uint32_t word;

		/* Type II always numbers its copies; type I (no sequence
		 * number, no header) is not supported. */
		if (!(flags & GRE_SEQ) ||
		    off + ERSPAN_II_HDR_BYTES > l3->l4_len)
			return ST_DECAP_MALFORMED;
		word = be32(l3->l4 + off);
		if (word >> 28 != ERSPAN_VERSION_II)
			return ST_DECAP_MALFORMED;
		if (word & ERSPAN_TRUNCATED)
			return ST_DECAP_TRUNCATED;
		off += ERSPAN_II_HDR_BYTES;
	}
	if (off > l3->l4_len)
		return ST_DECAP_MALFORMED;
	*inner = l3->l4 + off;
	*inner_len = l3->l4_len - off;
	return ST_DECAP_OK;
}

enum st_decap_result
st_decap(const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
	 enum st_decap_mode mode, struct st_tcp_segment *seg)
{
	static const enum tunnel fixed[ST_DECAP_MODES] = {
		[ST_DECAP_VXLAN] = TUNNEL_VXLAN,
		[ST_DECAP_GRE] = TUNNEL_GRE,
		[ST_DECAP_ERSPAN] = TUNNEL_ERSPAN,
	};
	enum st_decap_result r;
	const uint8_t *inner;
	uint32_t inner_len;
	struct l3 l3;
	enum tunnel t;

	if ((unsigned int)mode >= ST_DECAP_MODES)
		return ST_DECAP_OTHER_ENCAP;
	if (caplen < wirelen)
		return ST_DECAP_TRUNCATED;
	r = parse_l3(frame, caplen, mode != ST_DECAP_NONE, &l3);
	if (r != ST_DECAP_OK)
		return r;
	/* Without a tunnel mode, a tunnel is taken at face value: IP that
	 * is not TCP. */
	if (mode == ST_DECAP_NONE || mode == ST_DECAP_VLAN)
		return parse_tcp(&l3, seg);
	t = tunnel_of(&l3, mode);
	if (mode != ST_DECAP_AUTO && t != fixed[mode])
		return ST_DECAP_OTHER_ENCAP;
	if (t == TUNNEL_NONE)
		return parse_tcp(&l3, seg);
	r = t == TUNNEL_VXLAN ? open_vxlan(&l3, &inner, &inner_len) :
				open_gre(&l3, t, &inner, &inner_len);
	if (r != ST_DECAP_OK)
		return r;
	r = parse_l3(inner, inner_len, true, &l3);
	if (r != ST_DECAP_OK)
		return r;
	return parse_tcp(&l3, seg);
}
