/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_TXBUF_H
#define ST_TXBUF_H

/*
 * A per-lcore TX buffer that accounts for every packet: what the PMD took
 * is added to the "sent" counters, what it refused after the allowed
 * retries is freed and added to the "dropped" counters. Originals get a
 * few retries; mirror copies get none (fire-and-forget).
 */

#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define ST_BURST 32

struct st_txbuf {
	uint16_t port_id;
	uint16_t queue_id;
	uint16_t count;
	uint16_t retries;	/* extra tx_burst calls before giving up */
	uint64_t *sent_packets;
	uint64_t *sent_bytes;
	uint64_t *dropped_packets;
	uint64_t *dropped_bytes;
	struct rte_mbuf *pkts[ST_BURST];
};

/** Point a buffer at a TX queue and at the counters it must feed. */
static inline void
st_txbuf_init(struct st_txbuf *b, uint16_t port_id, uint16_t queue_id,
	      uint16_t retries, uint64_t *sent_packets, uint64_t *sent_bytes,
	      uint64_t *dropped_packets, uint64_t *dropped_bytes)
{
	b->port_id = port_id;
	b->queue_id = queue_id;
	b->count = 0;
	b->retries = retries;
	b->sent_packets = sent_packets;
	b->sent_bytes = sent_bytes;
	b->dropped_packets = dropped_packets;
	b->dropped_bytes = dropped_bytes;
}

/** Hand everything buffered to the PMD; drop and count what it refuses. */
static inline void
st_txbuf_flush(struct st_txbuf *b)
{
	uint64_t bytes = 0, unsent_bytes = 0;
	uint16_t i, sent = 0, tries = 0;

	if (b->count == 0)
		return;
	/* Lengths are read now: a PMD may free what it sends at once. */
	for (i = 0; i < b->count; i++)
		bytes += rte_pktmbuf_pkt_len(b->pkts[i]);
	do {
		sent += rte_eth_tx_burst(b->port_id, b->queue_id,
					 b->pkts + sent, b->count - sent);
	} while (sent < b->count && tries++ < b->retries);

	if (unlikely(sent < b->count)) {
		for (i = sent; i < b->count; i++)
			unsent_bytes += rte_pktmbuf_pkt_len(b->pkts[i]);
		rte_pktmbuf_free_bulk(b->pkts + sent, b->count - sent);
		*b->dropped_packets += b->count - sent;
		*b->dropped_bytes += unsent_bytes;
	}
	*b->sent_packets += sent;
	*b->sent_bytes += bytes - unsent_bytes;
	b->count = 0;
}

/** Buffer one packet, sending a full burst when the buffer fills. */
static inline void
st_txbuf_add(struct st_txbuf *b, struct rte_mbuf *m)
{
	b->pkts[b->count++] = m;
	if (unlikely(b->count == ST_BURST))
		st_txbuf_flush(b);
}

#endif
