/* SPDX-License-Identifier: BSD-3-Clause */
#include "encap.h"

#include <string.h>

#include <rte_byteorder.h>
#include <rte_gre.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#define ETHER_TYPE_ERSPAN 0x88be	/* ERSPAN type II, in GRE */
#define GRE_KEY_PRESENT 0x2000
#define GRE_SEQ_PRESENT 0x1000
#define ERSPAN_VERSION_II 1u
#define ERSPAN_TRUNCATED (1u << 10)
#define ERSPAN_VLAN_PRESERVED (3u << 11)	/* "En": tag left in the frame */
#define VXLAN_FLAG_VNI 0x08000000u		/* "I": the VNI is valid */
#define VXLAN_ENTROPY_BASE 49152		/* RFC 7348: 49152..65535 */
#define VXLAN_ENTROPY_MASK 0x3fff
#define MAC_BYTES (2 * RTE_ETHER_ADDR_LEN)	/* what a VLAN tag follows */
#define VLAN_TAG_BYTES 4

struct st_encap {
	enum st_encap_type type;
	uint32_t truncate;
	uint16_t hdr_len;	/* bytes of outer headers in hdr[] */
	uint16_t l4_off;	/* UDP or GRE header in hdr[] */
	uint16_t src_port;	/* VXLAN, network order; 0: flow entropy */
	uint8_t udp_checksum;
	uint32_t erspan_word;	/* ERSPAN's first word, without the per
				 * packet bits */
	/* Aligned like an mbuf's data, so the header structs fit. */
	uint8_t hdr[ST_ENCAP_MAX_HEADER] __rte_aligned(8);	/* network order,
							 * lengths and
						 * checksums left 0 */
};

/* Outer Ethernet and IPv4 headers; returns where the L4 header goes. */
static uint16_t
build_outer(struct st_encap *e, const struct st_encap_conf *c,
	    const struct rte_ether_addr *port_mac, uint8_t proto)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)e->hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

	memcpy(&eth->dst_addr, c->dst_mac, RTE_ETHER_ADDR_LEN);
	if (c->has_src_mac)
		memcpy(&eth->src_addr, c->src_mac, RTE_ETHER_ADDR_LEN);
	else
		rte_ether_addr_copy(port_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = (uint8_t)(c->dscp << 2);
	/* No DF: a copy too big for a link on the way to the shadow is
	 * better fragmented than lost. */
	ip->time_to_live = c->ttl;
	ip->next_proto_id = proto;
	ip->src_addr = c->src_ip;
	ip->dst_addr = c->dst_ip;
	return sizeof(*eth) + sizeof(*ip);
}

static void
build_vxlan(struct st_encap *e, const struct st_encap_conf *c,
	    const struct rte_ether_addr *port_mac)
{
	struct rte_udp_hdr *udp;
	struct rte_vxlan_hdr *vx;

	e->l4_off = build_outer(e, c, port_mac, IPPROTO_UDP);
	udp = (struct rte_udp_hdr *)(e->hdr + e->l4_off);
	vx = (struct rte_vxlan_hdr *)(udp + 1);
	udp->src_port = rte_cpu_to_be_16(c->src_port);
	udp->dst_port = rte_cpu_to_be_16(c->dst_port);
	vx->vx_flags = rte_cpu_to_be_32(VXLAN_FLAG_VNI);
	vx->vx_vni = rte_cpu_to_be_32(c->vni << 8);
	e->src_port = udp->src_port;
	e->udp_checksum = c->udp_checksum;
	e->hdr_len = e->l4_off + sizeof(*udp) + sizeof(*vx);
}

/* GRE words follow a 14-byte Ethernet header: 2-byte aligned at best. */
static inline void
put_be32(uint8_t *p, uint32_t v)
{
	rte_be32_t be = rte_cpu_to_be_32(v);

	memcpy(p, &be, sizeof(be));
}

/* GRE for Transparent Ethernet Bridging, or for ERSPAN type II. */
static void
build_gre(struct st_encap *e, const struct st_encap_conf *c,
	  const struct rte_ether_addr *port_mac)
{
	struct rte_gre_hdr *gre;
	uint8_t *word;
	rte_be16_t flags = 0;

	e->l4_off = build_outer(e, c, port_mac, IPPROTO_GRE);
	gre = (struct rte_gre_hdr *)(e->hdr + e->l4_off);
	word = (uint8_t *)(gre + 1);
	if (c->type == ST_ENCAP_ERSPAN) {
		flags = rte_cpu_to_be_16(GRE_SEQ_PRESENT);
		gre->proto = rte_cpu_to_be_16(ETHER_TYPE_ERSPAN);
		e->erspan_word = ERSPAN_VERSION_II << 28 | c->session_id;
		/* The sequence number and ERSPAN's two words are written
		 * per packet. */
		word += 12;
	} else {
		gre->proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_TEB);
		if (c->has_key) {
			flags = rte_cpu_to_be_16(GRE_KEY_PRESENT);
			put_be32(word, c->key);
			word += 4;
		}
	}
	/* The flags share the first 16 bits with the version (0). */
	memcpy(gre, &flags, sizeof(flags));
	e->hdr_len = (uint16_t)(word - e->hdr);
}

struct st_encap *
st_encap_create(const struct st_encap_conf *conf, uint32_t truncate,
		const struct rte_ether_addr *port_mac, int socket)
{
	struct st_encap *e;
	rte_be16_t tag[2];

	e = rte_zmalloc_socket("st_encap", sizeof(*e), RTE_CACHE_LINE_SIZE,
			       socket);
	if (e == NULL)
		return NULL;
	e->type = conf->type;
	e->truncate = truncate;
	switch (conf->type) {
	case ST_ENCAP_VLAN:
		tag[0] = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		tag[1] = rte_cpu_to_be_16((uint16_t)(conf->pcp << 13 |
						     conf->vlan_id));
		memcpy(e->hdr, tag, sizeof(tag));
		e->hdr_len = sizeof(tag);
		break;
	case ST_ENCAP_VXLAN:
		build_vxlan(e, conf, port_mac);
		break;
	case ST_ENCAP_GRE:
	case ST_ENCAP_ERSPAN:
		build_gre(e, conf, port_mac);
		break;
	default:
		break;
	}
	return e;
}

void
st_encap_free(struct st_encap *e)
{
	rte_free(e);
}

int
st_encap_has_header(const struct st_encap *e)
{
	return e->type != ST_ENCAP_NONE;
}

bool
st_encap_keeps_frame(const struct st_encap *e)
{
	return e->type != ST_ENCAP_VLAN && e->truncate == 0;
}

/* Keep the first @p len bytes of a chain, by lengths alone. */
static void
truncate_chain(struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf *seg = m;
	uint32_t left = len;
	uint16_t nb_segs = 1;

	while (seg->data_len < left) {
		left -= seg->data_len;
		seg = seg->next;
		nb_segs++;
	}
	seg->data_len = (uint16_t)left;
	if (seg->next != NULL) {
		rte_pktmbuf_free(seg->next);
		seg->next = NULL;
	}
	m->pkt_len = len;
	m->nb_segs = nb_segs;
}

/* ERSPAN's VLAN, COS and En bits say what tag the frame itself carries. */
static uint32_t
erspan_vlan_bits(const struct rte_mbuf *inner)
{
	const uint8_t *f = rte_pktmbuf_mtod(inner, const uint8_t *);
	uint16_t tci;
	uint16_t tpid;

	if (rte_pktmbuf_data_len(inner) <
	    sizeof(struct rte_ether_hdr) + sizeof(struct rte_vlan_hdr))
		return 0;
	/* The outer tag of QinQ too: the one a switch port would see. */
	tpid = (uint16_t)(f[12] << 8 | f[13]);
	if (tpid != RTE_ETHER_TYPE_VLAN && tpid != RTE_ETHER_TYPE_QINQ &&
	    tpid != RTE_ETHER_TYPE_QINQ1)
		return 0;
	tci = (uint16_t)(f[14] << 8 | f[15]);
	return (uint32_t)(tci & 0xfff) << 16 | (uint32_t)(tci >> 13) << 13 |
	       ERSPAN_VLAN_PRESERVED;
}

/* Lengths, ids and checksums of the outer headers of one copy. */
static void
patch_outer(const struct st_encap *e, uint8_t *hdr, uint32_t inner_len,
	    uint32_t flow_hash, uint32_t seq, bool cut,
	    const struct rte_mbuf *inner)
{
	struct rte_ipv4_hdr *ip =
		(struct rte_ipv4_hdr *)(hdr + sizeof(struct rte_ether_hdr));
	uint32_t l3_len = e->hdr_len - sizeof(struct rte_ether_hdr) +
			  inner_len;

	ip->total_length = rte_cpu_to_be_16((uint16_t)l3_len);
	ip->packet_id = rte_cpu_to_be_16((uint16_t)seq);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (e->type == ST_ENCAP_VXLAN) {
		struct rte_udp_hdr *udp =
			(struct rte_udp_hdr *)(hdr + e->l4_off);

		/* Both directions of a flow hash alike, so a flow keeps one
		 * outer 5-tuple and one path through ECMP. */
		udp->src_port = e->src_port != 0 ?
			e->src_port :
			rte_cpu_to_be_16(VXLAN_ENTROPY_BASE |
					 (flow_hash & VXLAN_ENTROPY_MASK));
		udp->dgram_len = rte_cpu_to_be_16(
		    (uint16_t)(l3_len - sizeof(struct rte_ipv4_hdr)));
	} else if (e->type == ST_ENCAP_ERSPAN) {
		uint8_t *word = hdr + e->l4_off + sizeof(struct rte_gre_hdr);

		put_be32(word, seq);
		put_be32(word + 4, e->erspan_word |
				   erspan_vlan_bits(inner) |
				   (cut ? ERSPAN_TRUNCATED : 0));
	}
}

/* The raw sum of @p len bytes of a chain from @p off. A segment that
 * starts at an odd place of the sum adds its bytes swapped. (DPDK 22.11's
 * rte_raw_cksum_mbuf() drops carries when it swaps, so it is wrong for
 * odd segment lengths.) */
static uint32_t
chain_sum(const struct rte_mbuf *seg, uint32_t off, uint32_t len)
{
	uint32_t sum = 0, done = 0;

	for (; seg != NULL && done < len; seg = seg->next) {
		uint32_t seg_len = rte_pktmbuf_data_len(seg);
		uint16_t part;

		if (off >= seg_len) {
			off -= seg_len;
			continue;
		}
		seg_len = RTE_MIN(seg_len - off, len - done);
		part = rte_raw_cksum(rte_pktmbuf_mtod_offset(seg, const void *,
							     off),
				     seg_len);
		sum += (done & 1) ? rte_bswap16(part) : part;
		done += seg_len;
		off = 0;
	}
	return sum;
}

/* The UDP checksum over the whole chain: it reads the shared data and
 * never writes it. */
static rte_be16_t
udp_checksum(const struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
	     uint16_t l4_off)
{
	uint32_t l4_len = rte_be_to_cpu_16(ip->total_length) -
			  rte_ipv4_hdr_len(ip);
	uint32_t sum = rte_ipv4_phdr_cksum(ip, 0) + chain_sum(m, l4_off,
							     l4_len);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	/* All ones stands for zero: a zero would mean "no checksum". */
	return sum == 0xffff ? 0xffff : (rte_be16_t)~sum;
}

struct rte_mbuf *
st_encap_apply(const struct st_encap *e, struct rte_mbuf *clone,
	       struct rte_mempool *hdr_pool, uint32_t flow_hash, uint32_t seq,
	       uint64_t *truncated)
{
	bool cut = e->truncate != 0 && rte_pktmbuf_pkt_len(clone) > e->truncate;
	struct rte_mbuf *hdr;
	uint8_t *p;

	if (cut) {
		truncate_chain(clone, e->truncate);
		(*truncated)++;
	}
	if (e->type == ST_ENCAP_NONE)
		return clone;
	hdr = rte_pktmbuf_alloc(hdr_pool);
	if (unlikely(hdr == NULL)) {
		rte_pktmbuf_free(clone);
		return NULL;
	}
	if (e->type == ST_ENCAP_VLAN) {
		/* The tag goes between the frame's MACs and its type: the
		 * MACs are copied into the header mbuf and skipped in the
		 * clone, whose data stays as it is. */
		uint16_t macs = RTE_MIN(rte_pktmbuf_data_len(clone),
					(uint16_t)MAC_BYTES);

		p = (uint8_t *)rte_pktmbuf_append(hdr, macs + VLAN_TAG_BYTES);
		memcpy(p, rte_pktmbuf_mtod(clone, const uint8_t *), macs);
		memcpy(p + macs, e->hdr, VLAN_TAG_BYTES);
		rte_pktmbuf_adj(clone, macs);
	} else {
		p = (uint8_t *)rte_pktmbuf_append(hdr, e->hdr_len);
		memcpy(p, e->hdr, e->hdr_len);
		patch_outer(e, p, rte_pktmbuf_pkt_len(clone), flow_hash, seq,
			    cut, clone);
	}
	if (unlikely(rte_pktmbuf_pkt_len(clone) == 0)) {
		/* A runt that was all MACs: nothing left to chain. */
		rte_pktmbuf_free(clone);
		return hdr;
	}
	hdr->next = clone;
	hdr->nb_segs = (uint16_t)(clone->nb_segs + 1);
	hdr->pkt_len += rte_pktmbuf_pkt_len(clone);
	if (e->type == ST_ENCAP_VXLAN && e->udp_checksum) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(
		    p + sizeof(struct rte_ether_hdr));
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(p + e->l4_off);

		udp->dgram_cksum = udp_checksum(hdr, ip, e->l4_off);
	}
	return hdr;
}
