/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_REASM_H
#define ST_REASM_H

/*
 * TCP reassembly for the replay: TCP segments in (already decapsulated),
 * each connection's two byte streams out, in order, through callbacks.
 *
 * Semantics a user relies on
 * --------------------------
 * - A connection is its 4-tuple (IPv4 or IPv6). ep[0] is the endpoint that
 *   sent the SYN when one was seen; otherwise the sender of the first
 *   segment seen (a copy picked up mid-stream: shadowtap delivers a
 *   connection selected by a route from its selecting request on, so the
 *   first segment usually is the client's).
 * - Each direction's bytes are delivered once, in sequence order, whatever
 *   order the segments came in: out-of-order segments wait (bounded),
 *   retransmissions and overlaps are trimmed (the first copy of a byte
 *   wins, as most stacks do).
 * - Without a SYN, a direction starts at its first segment seen. Bytes that
 *   never come (a gap that does not fill before a bound or a timeout) are
 *   reported by gap() with their count, then delivery goes on after them.
 * - A hole (bytes missing before bytes or a FIN that came after them) that
 *   stays unfilled for hole_timeout_ms of capture time is given up: gap()
 *   with its exact length, then what waited behind it is delivered. The
 *   clock of a direction's hole starts when its delivery stops there, so
 *   the next hole gets a whole timeout of its own from then. Why: shadowtap
 *   copies a kept-alive connection request by request, and leaves out the
 *   ones whose route mirrors nothing (health checks); those holes never
 *   fill, and the requests after them must not wait for the idle timeout.
 *   It is checked when a segment of that connection comes (before the
 *   segment is taken) and by st_reasm_expire(), whichever comes first.
 * - FIN ends a direction (end()); RST, both FINs, the idle timeout, an
 *   eviction or st_reasm_flush() end the connection (close()), once.
 * - Memory is bounded: per direction (bytes waiting out of order), in total
 *   (all connections' waiting bytes), and in connections. What a bound
 *   drops is counted by cause in struct st_reasm_stats, never silently.
 *   A direction whose waiting bytes would pass max_stream_bytes gives up
 *   its oldest hole (gap()) and delivers what waited behind it, until the
 *   new segment fits; only a segment that alone exceeds the bound is
 *   dropped. Past max_total_bytes a segment that must wait is dropped.
 *   A full table ends its least recently seen connection (EVICTED).
 * - Only a SYN or a segment with payload opens a connection: pure ACKs and
 *   lone FINs or RSTs of unknown 4-tuples are counted, never opened.
 * - Both directions ended by FIN close the connection (FIN). When both
 *   FINs came but a hole before one of them never fills, the hole timeout
 *   reports it by gap(), then end(), then close(FIN).
 * - A 4-tuple closed by FIN or RST is remembered for min(idle timeout,
 *   10 s: its late segments (final ACKs, retransmissions: no payload, or
 *   payload starting within or right after the bytes that direction sent)
 *   are counted as segments_after_close. A SYN, or payload elsewhere,
 *   opens a new connection: a client reusing its port, copied without its
 *   SYN.
 *   Remembered tuples are the first to go when the table is full.
 * - Sequence numbers are compared modulo 2^32 (wrap-around is fine).
 *
 * Not thread-safe: one table per thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One end of a connection; addresses in network byte order. */
struct st_endpoint {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* IPv4 in the first 4 bytes (the rest is
				 * ignored; st_decap() zeroes it) */
	uint16_t port;		/* host byte order */
};

/* A TCP segment as decapsulation found it. */
struct st_tcp_segment {
	struct st_endpoint src;
	struct st_endpoint dst;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;		/* TCP flags byte: FIN 0x01 SYN 0x02 RST 0x04
				 * PSH 0x08 ACK 0x10 */
	const uint8_t *payload;
	uint32_t payload_len;
	uint64_t ts_ns;		/* capture time */
};

struct st_reasm_conn_info {
	struct st_endpoint ep[2];	/* see above: ep[0] opened it */
	bool syn_seen;		/* ep[0] is known to be the client */
};

/* Why a connection ended. */
enum st_reasm_end {
	ST_REASM_END_FIN,	/* both directions ended with FIN */
	ST_REASM_END_RST,
	ST_REASM_END_IDLE,	/* idle timeout */
	ST_REASM_END_EVICTED,	/* the table was full */
	ST_REASM_END_FLUSH,	/* st_reasm_flush(): end of input */
	ST_REASM_END_COUNT
};

/*
 * What a consumer (the HTTP layer) is told. dir 0 carries ep[0]'s bytes,
 * dir 1 ep[1]'s. Callbacks may not call back into the table.
 */
struct st_reasm_ops {
	/* A new connection: return what data/gap/end/close get as @user,
	 * or NULL to ignore the connection (its segments are then dropped
	 * and counted as ignored). */
	void *(*open)(void *arg, const struct st_reasm_conn_info *info,
		      uint64_t ts_ns);
	/* In-order bytes; @ts_ns is the capture time of the segment that
	 * carried them. */
	void (*data)(void *user, int dir, const uint8_t *p, uint32_t len,
		     uint64_t ts_ns);
	/* @len bytes of @dir will never be delivered. */
	void (*gap)(void *user, int dir, uint64_t len, uint64_t ts_ns);
	/* @dir's sender closed its side (FIN), after all its data. */
	void (*end)(void *user, int dir, uint64_t ts_ns);
	/* The connection is gone; @user is not used again. */
	void (*close)(void *user, enum st_reasm_end why, uint64_t ts_ns);
};

struct st_reasm_limits {
	uint32_t max_connections;	/* connections tracked at once */
	uint32_t max_stream_bytes;	/* out-of-order bytes per direction */
	uint64_t max_total_bytes;	/* out-of-order bytes, all together */
	uint32_t idle_timeout_ms;
	uint32_t hole_timeout_ms;	/* a hole is given up after it */
};

/* Counters; every byte or segment dropped is in exactly one cause. */
struct st_reasm_stats {
	uint64_t segments;
	uint64_t connections;		/* opened (open() called) */
	uint64_t connections_active;	/* now: connections - sum(ended) */
	uint64_t ended[ST_REASM_END_COUNT];	/* by cause, refused ones too
						 * (they get no close()) */
	uint64_t bytes_delivered;
	uint64_t bytes_retransmitted;	/* duplicates trimmed */
	uint64_t gaps;			/* gap() calls */
	uint64_t gap_bytes;
	uint64_t dropped_stream_bound;	/* bytes over max_stream_bytes */
	uint64_t dropped_total_bound;	/* bytes over max_total_bytes */
	uint64_t segments_ignored;	/* of connections open() refused */
	uint64_t segments_after_close;	/* late segments of ended ones,
					 * and segments with bytes past
					 * their sender's FIN */
	uint64_t bytes_buffered;	/* waiting out of order, now */
	uint64_t segments_no_conn;	/* no payload, no SYN, unknown
					 * 4-tuple: nothing to open */
};

struct st_reasm;

/**
 * Create a table. Memory for max_connections connections is reserved
 * (touched only as they are used); out-of-order bytes are allocated as
 * they wait.
 *
 * @param limits  all non-zero; max_connections at most 2^30
 * @param ops     every callback set; copied
 * @param arg     passed to open()
 * @param out     the table, on success
 * @return 0, -EINVAL for a zero limit or a missing callback, or -ENOMEM
 */
int st_reasm_create(const struct st_reasm_limits *limits,
		    const struct st_reasm_ops *ops, void *arg,
		    struct st_reasm **out);

/** Free a table without calling close() (NULL is fine). */
void st_reasm_free(struct st_reasm *r);

/**
 * Feed one segment: callbacks run from inside this call. Segments come in
 * capture order (ts_ns not decreasing, which expiry relies on). No
 * allocation unless the segment must wait out of order.
 */
void st_reasm_segment(struct st_reasm *r, const struct st_tcp_segment *seg);

/**
 * As of @p now_ns (capture time): give up holes that waited
 * hole_timeout_ms (gap(), then the bytes behind them; a connection whose
 * both FINs are then delivered closes with FIN), end connections idle for
 * longer than the idle timeout, and forget closed 4-tuples remembered long
 * enough. Costs only what it does (oldest first): call it often, as a hole
 * no later segment of its connection comes to check waits up to
 * hole_timeout_ms plus the time between two calls.
 */
void st_reasm_expire(struct st_reasm *r, uint64_t now_ns);

/**
 * End every connection (end of input): gaps are reported, then close();
 * recently closed 4-tuples are forgotten too.
 */
void st_reasm_flush(struct st_reasm *r, uint64_t now_ns);

/** The counters (valid until st_reasm_free()). */
const struct st_reasm_stats *st_reasm_stats(const struct st_reasm *r);

#endif
