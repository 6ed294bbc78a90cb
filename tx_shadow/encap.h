/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_ENCAP_H
#define ST_ENCAP_H

/*
 * What a mirror does to a copy before it leaves: cut it to its first N
 * bytes and wrap it in VLAN, VXLAN, GRE or ERSPAN, without copying or
 * writing a byte of the packet. The copy is a clone that shares the
 * original's data; truncation only shortens the clone's own lengths, and
 * the outer headers are written into a small header mbuf chained in front
 * of it (as DPDK's ipv4_multicast example does).
 */

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "config.h"

/* Room for the longest outer headers: Ethernet, IPv4, UDP and VXLAN, or
 * Ethernet, IPv4, GRE with sequence and ERSPAN, both 50 bytes. */
#define ST_ENCAP_MAX_HEADER 64

struct st_encap;

/**
 * Prepare a mirror's encapsulation: its outer headers are built once here
 * and only patched per packet.
 *
 * @param conf      the encapsulation (type ST_ENCAP_NONE: none)
 * @param truncate  bytes of the original kept, 0 for all
 * @param port_mac  the shadow port's MAC: the outer source by default
 * @param socket    NUMA socket for the allocation
 * @return the state, or NULL on allocation failure
 */
struct st_encap *st_encap_create(const struct st_encap_conf *conf,
				 uint32_t truncate,
				 const struct rte_ether_addr *port_mac,
				 int socket);

/** Free what st_encap_create() made. */
void st_encap_free(struct st_encap *e);

/** Whether copies need a header mbuf (any type but ST_ENCAP_NONE). */
int st_encap_has_header(const struct st_encap *e);

/** Whether copies leave the frame as it is (no VLAN tag, no truncation):
 * then a reference to the original serves as the copy. */
bool st_encap_keeps_frame(const struct st_encap *e);

/**
 * Turn a copy into the frame that goes to the shadow: truncate it, then
 * chain the outer headers in front. The shared data is never written.
 * Safe for any number of workers at once on the same @p e.
 *
 * @param e          the mirror's encapsulation
 * @param clone      the copy: a clone of the original, or, where
 *                   st_encap_keeps_frame(), the original referenced once
 *                   more; consumed in every case
 * @param hdr_pool   pool of header mbufs (unused without a header)
 * @param flow_hash  the flow's symmetric hash: outer UDP source port
 * @param seq        this worker's running count of copies to the mirror:
 *                   ERSPAN sequence number and outer IPv4 id
 * @param truncated  counter raised when bytes were cut
 * @return the frame to send, or NULL when @p hdr_pool is empty
 */
struct rte_mbuf *st_encap_apply(const struct st_encap *e,
				struct rte_mbuf *clone,
				struct rte_mempool *hdr_pool,
				uint32_t flow_hash, uint32_t seq,
				uint64_t *truncated);

#endif
