/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_TXBUF_H
#define ST_TXBUF_H

/*
 * Per-lcore TX that accounts for every packet: what the PMD took is added
 * to the "sent" counters, what it refused after the allowed retries is
 * freed and added to the "dropped" counters. Originals get a few retries
 * and leave as the burst they came in; mirror copies are gathered in a
 * buffer and get none (fire-and-forget).
 */

#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define ST_BURST 32

/* Where packets go, and the counters they feed. */
struct st_txq {
	uint16_t port_id;
	uint16_t queue_id;
	uint16_t retries;	/* extra tx_burst calls before giving up */
	uint64_t *sent_packets;
	uint64_t *sent_bytes;
	uint64_t *dropped_packets;
	uint64_t *dropped_bytes;
};

/** Point a queue at a TX queue and at the counters it must feed. */
static inline void
st_txq_init(struct st_txq *q, uint16_t port_id, uint16_t queue_id,
	    uint16_t retries, uint64_t *sent_packets, uint64_t *sent_bytes,
	    uint64_t *dropped_packets, uint64_t *dropped_bytes)
{
	q->port_id = port_id;
	q->queue_id = queue_id;
	q->retries = retries;
	q->sent_packets = sent_packets;
	q->sent_bytes = sent_bytes;
	q->dropped_packets = dropped_packets;
	q->dropped_bytes = dropped_bytes;
}

/**
 * Hand @p count packets, @p bytes in all (read before: a PMD may free
 * what it sends at once), to the PMD; drop and count what it refuses.
 */
static inline void
st_txq_send(const struct st_txq *q, struct rte_mbuf **pkts, uint16_t count,
	    uint64_t bytes)
{
	uint64_t unsent_bytes = 0;
	uint16_t i, sent = 0, tries = 0;

	do {
		sent += rte_eth_tx_burst(q->port_id, q->queue_id, pkts + sent,
					 count - sent);
	} while (sent < count && tries++ < q->retries);

	if (unlikely(sent < count)) {
		for (i = sent; i < count; i++)
			unsent_bytes += rte_pktmbuf_pkt_len(pkts[i]);
		rte_pktmbuf_free_bulk(pkts + sent, count - sent);
		*q->dropped_packets += count - sent;
		*q->dropped_bytes += unsent_bytes;
	}
	*q->sent_packets += sent;
	*q->sent_bytes += bytes - unsent_bytes;
}

/* Packets gathered one by one for a queue, and their bytes: counted as
 * each comes, while its mbuf is at hand, not in a pass over the burst's
 * mbufs at the flush. */
struct st_txbuf {
	struct st_txq q;
	uint16_t count;
	uint64_t bytes;
	struct rte_mbuf *pkts[ST_BURST];
};

/** An empty buffer for a queue (st_txq_init()'s parameters). */
static inline void
st_txbuf_init(struct st_txbuf *b, uint16_t port_id, uint16_t queue_id,
	      uint16_t retries, uint64_t *sent_packets, uint64_t *sent_bytes,
	      uint64_t *dropped_packets, uint64_t *dropped_bytes)
{
	st_txq_init(&b->q, port_id, queue_id, retries, sent_packets,
		    sent_bytes, dropped_packets, dropped_bytes);
	b->count = 0;
	b->bytes = 0;
}

/** Hand everything buffered to the PMD; drop and count what it refuses. */
static inline void
st_txbuf_flush(struct st_txbuf *b)
{
	if (b->count == 0)
		return;
	st_txq_send(&b->q, b->pkts, b->count, b->bytes);
	b->count = 0;
	b->bytes = 0;
}

/**
 * Where the next packets go, in order, and how many fit (*@p room): one
 * at least, as a full buffer is sent at once. st_txbuf_took() then takes
 * those stored.
 */
static inline struct rte_mbuf **
st_txbuf_room(struct st_txbuf *b, unsigned int *room)
{
	*room = ST_BURST - b->count;
	return b->pkts + b->count;
}

/** Take the @p n packets, @p bytes in all, stored at st_txbuf_room(),
 * sending a full burst when the buffer fills. */
static inline void
st_txbuf_took(struct st_txbuf *b, unsigned int n, uint64_t bytes)
{
	b->count += n;
	b->bytes += bytes;
	if (unlikely(b->count == ST_BURST))
		st_txbuf_flush(b);
}

/** Buffer one packet, sending a full burst when the buffer fills. */
static inline void
st_txbuf_add(struct st_txbuf *b, struct rte_mbuf *m)
{
	b->pkts[b->count] = m;
	st_txbuf_took(b, 1, rte_pktmbuf_pkt_len(m));
}

#endif
