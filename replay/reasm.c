/* SPDX-License-Identifier: BSD-3-Clause */
#include "reasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define NS_PER_MS 1000000ull
/* Long enough for the final ACKs and retransmissions after a close. */
#define LINGER_MAX_MS 10000u
#define MAX_CONNECTIONS (1u << 30)	/* the slot array stays < 2^32 */

/* Bytes that came ahead of their turn, waiting for what precedes them. */
struct ooo_seg {
	TAILQ_ENTRY(ooo_seg) link;
	uint32_t seq;
	uint32_t len;
	uint64_t ts_ns;
	uint8_t data[];
};
TAILQ_HEAD(ooo_list, ooo_seg);

/* One direction of a connection. */
struct half {
	struct ooo_list ooo;	/* by sequence, disjoint, all after next */
	/* On the table's hole list while bytes are missing at next, before
	 * bytes in ooo or before the FIN. */
	TAILQ_ENTRY(half) hole_link;
	uint64_t hole_since_ns;	/* when delivery began to wait at hole_seq */
	uint32_t hole_seq;
	uint32_t buffered;	/* bytes in ooo */
	uint32_t first;		/* sequence number of its first byte */
	uint32_t next;		/* next byte to deliver */
	uint32_t fin_seq;	/* the sequence number the FIN takes */
	uint8_t dir;		/* its index in conn.half */
	bool started;		/* next is known */
	bool fin_seen;
	bool ended;		/* end() called */
	bool on_holes;		/* on the hole list */
};
TAILQ_HEAD(half_list, half);

enum conn_state {
	CONN_FREE,
	CONN_LIVE,
	CONN_IGNORED,	/* open() said no: tracked, not delivered */
	CONN_LINGER,	/* closed by FIN or RST, remembered a while */
};

struct conn {
	/* live: by last seen; linger: by close; free: free list */
	TAILQ_ENTRY(conn) lru;
	struct st_reasm_conn_info info;
	void *user;
	uint64_t last_ns;	/* linger: when it is forgotten */
	uint32_t hash;
	uint8_t state;
	struct half half[2];
};
TAILQ_HEAD(conn_list, conn);

struct slot {
	uint32_t hash;
	uint32_t idx;		/* conns[] index + 1; 0: empty */
};

/*
 * The connection table is open addressing with linear probing, at most
 * half full, with backward-shift deletion (no tombstones to age). It is
 * written here because libc offers no hash map with deletion (hsearch has
 * none and is one per process) and the project takes no other container
 * library; linear probing over 8-byte slots is also what keeps a lookup at
 * one or two cache lines per packet.
 */
struct st_reasm {
	struct st_reasm_limits lim;
	struct st_reasm_ops ops;
	void *arg;
	uint64_t idle_ns;
	uint64_t hole_timeout_ns;
	uint64_t linger_ns;
	uint64_t seed;		/* per table: no crafted collisions */
	uint32_t mask;		/* slots - 1 */
	uint32_t used;		/* conns[] handed out at least once */
	struct slot *slots;
	struct conn *conns;
	struct conn_list live;	/* least recently seen first */
	struct conn_list linger;	/* soonest forgotten first */
	struct conn_list free;
	/*
	 * Directions of live connections waiting at a hole, oldest wait
	 * first: expiry looks only at those whose time is up. One entry per
	 * direction, not per connection: each direction's hole has its own
	 * clock.
	 */
	struct half_list holes;
	struct st_reasm_stats stats;
};

static inline bool
seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline uint32_t
seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}

static inline uint32_t
u32_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* MurmurHash3's finaliser: every input bit reaches every output bit. */
static inline uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static inline size_t
addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static uint64_t
endpoint_hash(const struct st_endpoint *ep, uint64_t seed)
{
	uint64_t w[2] = { 0, 0 };

	memcpy(w, ep->addr, addr_len(ep->family));
	return mix64(mix64(seed ^ w[0]) ^ w[1] ^
		     ((uint64_t)ep->port << 8 | ep->family));
}

/* The same for both directions: the sum commutes. */
static uint32_t
tuple_hash(const struct st_reasm *r, const struct st_tcp_segment *seg)
{
	return (uint32_t)mix64(endpoint_hash(&seg->src, r->seed) +
			       endpoint_hash(&seg->dst, r->seed));
}

static inline bool
endpoint_eq(const struct st_endpoint *a, const struct st_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, addr_len(a->family)) == 0;
}

static inline uint32_t
conn_idx(const struct st_reasm *r, const struct conn *c)
{
	return (uint32_t)(c - r->conns) + 1;
}

static struct conn *
lookup(struct st_reasm *r, const struct st_tcp_segment *seg, uint32_t hash,
       int *dir)
{
	uint32_t i;

	for (i = hash & r->mask; r->slots[i].idx != 0; i = (i + 1) & r->mask) {
		struct conn *c;

		if (r->slots[i].hash != hash)
			continue;
		c = &r->conns[r->slots[i].idx - 1];
		if (endpoint_eq(&seg->src, &c->info.ep[0]) &&
		    endpoint_eq(&seg->dst, &c->info.ep[1])) {
			*dir = 0;
			return c;
		}
		if (endpoint_eq(&seg->src, &c->info.ep[1]) &&
		    endpoint_eq(&seg->dst, &c->info.ep[0])) {
			*dir = 1;
			return c;
		}
	}
	return NULL;
}

static void
slot_insert(struct st_reasm *r, struct conn *c)
{
	uint32_t i = c->hash & r->mask;

	while (r->slots[i].idx != 0)
		i = (i + 1) & r->mask;
	r->slots[i].hash = c->hash;
	r->slots[i].idx = conn_idx(r, c);
}

/* Backward-shift deletion: later entries of the probe run move up into
 * the hole unless that would put them before their home slot. */
static void
slot_remove(struct st_reasm *r, const struct conn *c)
{
	uint32_t idx = conn_idx(r, c);
	uint32_t i = c->hash & r->mask;
	uint32_t j;

	while (r->slots[i].idx != idx)
		i = (i + 1) & r->mask;
	for (j = (i + 1) & r->mask; r->slots[j].idx != 0;
	     j = (j + 1) & r->mask) {
		uint32_t home = r->slots[j].hash & r->mask;

		/* Stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		r->slots[i] = r->slots[j];
		i = j;
	}
	r->slots[i].idx = 0;
}

static void
free_waiting(struct st_reasm *r, struct half *h)
{
	struct ooo_seg *s;

	while ((s = TAILQ_FIRST(&h->ooo)) != NULL) {
		TAILQ_REMOVE(&h->ooo, s, link);
		r->stats.bytes_buffered -= s->len;
		free(s);
	}
	h->buffered = 0;
}

/* Hand @p len in-order bytes to the consumer. */
static void
emit(struct st_reasm *r, struct conn *c, int dir, const uint8_t *p,
     uint32_t len, uint64_t ts_ns)
{
	if (len == 0)
		return;
	r->ops.data(c->user, dir, p, len, ts_ns);
	r->stats.bytes_delivered += len;
	c->half[dir].next += len;
}

static void
check_fin(struct st_reasm *r, struct conn *c, int dir, uint64_t ts_ns)
{
	struct half *h = &c->half[dir];

	if (h->fin_seen && !h->ended && !seq_lt(h->next, h->fin_seq)) {
		h->ended = true;
		r->ops.end(c->user, dir, ts_ns);
	}
}

/* Deliver what waited and has become in order. */
static void
drain(struct st_reasm *r, struct conn *c, int dir)
{
	struct half *h = &c->half[dir];
	struct ooo_seg *s;

	while ((s = TAILQ_FIRST(&h->ooo)) != NULL && s->seq == h->next) {
		TAILQ_REMOVE(&h->ooo, s, link);
		h->buffered -= s->len;
		r->stats.bytes_buffered -= s->len;
		emit(r, c, dir, s->data, s->len, s->ts_ns);
		check_fin(r, c, dir, s->ts_ns);
		free(s);
	}
}

static void
report_gap(struct st_reasm *r, struct conn *c, int dir, uint32_t len,
	   uint64_t ts_ns)
{
	r->ops.gap(c->user, dir, len, ts_ns);
	r->stats.gaps++;
	r->stats.gap_bytes += len;
	c->half[dir].next += len;
}

/* Bytes are missing before bytes or a FIN that came after them. */
static inline bool
has_hole(const struct half *h)
{
	return !TAILQ_EMPTY(&h->ooo) || (h->fin_seen && !h->ended);
}

/* Give up on the hole before the first waiting bytes, or the FIN. */
static void
skip_hole(struct st_reasm *r, struct conn *c, int dir, uint64_t ts_ns)
{
	struct half *h = &c->half[dir];
	struct ooo_seg *s = TAILQ_FIRST(&h->ooo);

	report_gap(r, c, dir, (s != NULL ? s->seq : h->fin_seq) - h->next,
		   ts_ns);
	drain(r, c, dir);
	check_fin(r, c, dir, ts_ns);
}

/* The connection ends: deliver all that waits, holes as gaps, up to the
 * FIN if there was one. */
static void
finish_half(struct st_reasm *r, struct conn *c, int dir, uint64_t ts_ns)
{
	while (has_hole(&c->half[dir]))
		skip_hole(r, c, dir, ts_ns);
}

/* The connection @p h is a direction of. */
static inline struct conn *
half_conn(struct half *h)
{
	return (struct conn *)((char *)(h - h->dir) -
			       offsetof(struct conn, half));
}

/*
 * Keep @p dir of a live connection on the hole list exactly while it has
 * a hole. The clock restarts whenever delivery moves on (a hole filled or
 * skipped, the next one waited behind it): it measures how long delivery
 * has been stuck at one place, so a hole skipped at its timeout gives the
 * next hole a whole timeout too.
 */
static void
track_hole(struct st_reasm *r, struct conn *c, int dir, uint64_t ts_ns)
{
	struct half *h = &c->half[dir];
	struct half *at;

	if (h->on_holes) {
		if (has_hole(h) && h->hole_seq == h->next)
			return;
		TAILQ_REMOVE(&r->holes, h, hole_link);
		h->on_holes = false;
	}
	if (!has_hole(h))
		return;
	h->on_holes = true;
	h->hole_since_ns = ts_ns;
	h->hole_seq = h->next;
	/* Almost always the tail; an expiry's clock (live capture: the
	 * wall clock) may run a little ahead of later segments'. */
	at = TAILQ_LAST(&r->holes, half_list);
	while (at != NULL && at->hole_since_ns > ts_ns)
		at = TAILQ_PREV(at, half_list, hole_link);
	if (at != NULL)
		TAILQ_INSERT_AFTER(&r->holes, at, h, hole_link);
	else
		TAILQ_INSERT_HEAD(&r->holes, h, hole_link);
}

static inline bool
hole_timed_out(const struct st_reasm *r, const struct half *h,
	       uint64_t now_ns)
{
	return now_ns >= h->hole_since_ns &&
	       now_ns - h->hole_since_ns >= r->hole_timeout_ns;
}

/* A connection slot goes back to the free list. */
static void
forget(struct st_reasm *r, struct conn *c)
{
	TAILQ_REMOVE(c->state == CONN_LINGER ? &r->linger : &r->live, c, lru);
	slot_remove(r, c);
	free_waiting(r, &c->half[0]);
	free_waiting(r, &c->half[1]);
	c->state = CONN_FREE;
	TAILQ_INSERT_HEAD(&r->free, c, lru);
}

static void
end_conn(struct st_reasm *r, struct conn *c, enum st_reasm_end why,
	 uint64_t ts_ns)
{
	if (c->state == CONN_LIVE) {
		finish_half(r, c, 0, ts_ns);
		finish_half(r, c, 1, ts_ns);
		/* Nothing waits now: off the hole list, before the slot can
		 * be reused. */
		track_hole(r, c, 0, ts_ns);
		track_hole(r, c, 1, ts_ns);
		r->ops.close(c->user, why, ts_ns);
	}
	r->stats.ended[why]++;
	r->stats.connections_active--;
	if (why != ST_REASM_END_FIN && why != ST_REASM_END_RST) {
		forget(r, c);
		return;
	}
	TAILQ_REMOVE(&r->live, c, lru);
	c->state = CONN_LINGER;
	c->last_ns = ts_ns + r->linger_ns;
	TAILQ_INSERT_TAIL(&r->linger, c, lru);
}

/* Both directions ended with their FIN: so does the connection. */
static void
end_if_finished(struct st_reasm *r, struct conn *c, uint64_t ts_ns)
{
	if (c->half[0].ended && c->half[1].ended)
		end_conn(r, c, ST_REASM_END_FIN, ts_ns);
}

/* @p dir of a live connection has waited at its hole long enough. */
static void
hole_timeout(struct st_reasm *r, struct conn *c, int dir, uint64_t now_ns)
{
	skip_hole(r, c, dir, now_ns);
	track_hole(r, c, dir, now_ns);
	end_if_finished(r, c, now_ns);
}

/*
 * A segment of @p c came at @p now_ns: holes whose time is up go first,
 * as they would have gone before it, so what a hole costs does not hang on
 * how often st_reasm_expire() runs.
 */
static void
expire_conn_holes(struct st_reasm *r, struct conn *c, uint64_t now_ns)
{
	int dir;

	for (dir = 0; dir < 2 && c->state == CONN_LIVE; dir++)
		if (c->half[dir].on_holes &&
		    hole_timed_out(r, &c->half[dir], now_ns))
			hole_timeout(r, c, dir, now_ns);
}

/* A connection slot: a free one, else a remembered closed tuple's, else
 * the least recently seen connection's. */
static struct conn *
take_conn(struct st_reasm *r, uint64_t ts_ns)
{
	struct conn *c;

	if (TAILQ_EMPTY(&r->free) && r->used < r->lim.max_connections)
		return &r->conns[r->used++];
	if (TAILQ_EMPTY(&r->free)) {
		if (!TAILQ_EMPTY(&r->linger))
			forget(r, TAILQ_FIRST(&r->linger));
		else
			end_conn(r, TAILQ_FIRST(&r->live),
				 ST_REASM_END_EVICTED, ts_ns);
	}
	c = TAILQ_FIRST(&r->free);
	TAILQ_REMOVE(&r->free, c, lru);
	return c;
}

static struct conn *
open_conn(struct st_reasm *r, const struct st_tcp_segment *seg,
	  uint32_t hash, int *dir)
{
	struct conn *c = take_conn(r, seg->ts_ns);
	/* A SYN-ACK first: its receiver sent the SYN we missed. */
	bool syn_ack = (seg->flags & (TCP_SYN | TCP_ACK)) ==
		       (TCP_SYN | TCP_ACK);

	memset(c, 0, sizeof(*c));
	TAILQ_INIT(&c->half[0].ooo);
	TAILQ_INIT(&c->half[1].ooo);
	c->half[1].dir = 1;
	*dir = syn_ack ? 1 : 0;
	c->info.ep[*dir] = seg->src;
	c->info.ep[!*dir] = seg->dst;
	c->info.syn_seen = seg->flags & TCP_SYN;
	c->hash = hash;
	c->last_ns = seg->ts_ns;
	slot_insert(r, c);
	TAILQ_INSERT_TAIL(&r->live, c, lru);
	r->stats.connections++;
	r->stats.connections_active++;
	c->user = r->ops.open(r->arg, &c->info, seg->ts_ns);
	c->state = c->user != NULL ? CONN_LIVE : CONN_IGNORED;
	return c;
}

/* Bytes of [seq, seq + len) that no waiting segment holds yet. */
static uint32_t
uncovered(const struct half *h, uint32_t seq, uint32_t len)
{
	uint32_t end = seq + len;
	uint32_t n = len;
	const struct ooo_seg *s;

	TAILQ_FOREACH(s, &h->ooo, link) {
		uint32_t s_end = s->seq + s->len;
		uint32_t from, to;

		if (!seq_lt(s->seq, end))
			break;
		from = seq_lt(seq, s->seq) ? s->seq : seq;
		to = seq_min(end, s_end);
		if (seq_lt(from, to))
			n -= to - from;
	}
	return n;
}

/* Keep a copy of [seq, seq + len) after @p prev (NULL: first). */
static void
keep_piece(struct st_reasm *r, struct half *h, struct ooo_seg *prev,
	   uint32_t seq, const uint8_t *p, uint32_t len, uint64_t ts_ns)
{
	struct ooo_seg *s = malloc(sizeof(*s) + len);

	if (s == NULL) {
		/* The allocator's limit is a total bound too. */
		r->stats.dropped_total_bound += len;
		return;
	}
	s->seq = seq;
	s->len = len;
	s->ts_ns = ts_ns;
	memcpy(s->data, p, len);
	if (prev != NULL)
		TAILQ_INSERT_AFTER(&h->ooo, prev, s, link);
	else
		TAILQ_INSERT_HEAD(&h->ooo, s, link);
	h->buffered += len;
	r->stats.bytes_buffered += len;
}

/* Out-of-order bytes wait, minus those already waiting (the first copy
 * wins): a segment may become several pieces around older ones. */
static void
keep(struct st_reasm *r, struct half *h, uint32_t seq, const uint8_t *p,
     uint32_t len, uint64_t ts_ns)
{
	struct ooo_seg *s, *prev = NULL;
	uint32_t end = seq + len;

	/* Most out-of-order segments follow the last one waiting. */
	s = TAILQ_LAST(&h->ooo, ooo_list);
	if (s == NULL || !seq_lt(seq, s->seq + s->len)) {
		keep_piece(r, h, s, seq, p, len, ts_ns);
		return;
	}
	TAILQ_FOREACH(s, &h->ooo, link) {
		uint32_t s_end = s->seq + s->len;
		uint32_t n;

		if (!seq_lt(seq, end) || !seq_lt(s->seq, end))
			break;
		if (seq_lt(seq, s->seq)) {
			n = s->seq - seq;
			keep_piece(r, h, prev, seq, p, n, ts_ns);
			seq += n;
			p += n;
		}
		if (seq_lt(seq, s_end)) {
			n = seq_min(end, s_end) - seq;
			r->stats.bytes_retransmitted += n;
			seq += n;
			p += n;
		}
		prev = s;
	}
	if (seq_lt(seq, end))
		keep_piece(r, h, prev, seq, p, end - seq, ts_ns);
}

/* In-order bytes at next: delivered from the segment itself, except where
 * waiting bytes got there first. */
static void
deliver(struct st_reasm *r, struct conn *c, int dir, uint32_t seq,
	const uint8_t *p, uint32_t len, uint64_t ts_ns)
{
	struct half *h = &c->half[dir];

	while (len > 0) {
		struct ooo_seg *s = TAILQ_FIRST(&h->ooo);
		uint32_t n;

		if (s == NULL || !seq_lt(s->seq, seq + len)) {
			emit(r, c, dir, p, len, ts_ns);
			break;
		}
		n = s->seq - seq;
		emit(r, c, dir, p, n, ts_ns);
		seq += n;
		p += n;
		len -= n;
		drain(r, c, dir);
		n = u32_min(len, h->next - seq);
		r->stats.bytes_retransmitted += n;
		seq += n;
		p += n;
		len -= n;
	}
	drain(r, c, dir);
	check_fin(r, c, dir, ts_ns);
}

/* A segment's bytes, in whatever order they come. */
static void
take_bytes(struct st_reasm *r, struct conn *c, int dir, uint32_t seq,
	   const uint8_t *p, uint32_t len, uint64_t ts_ns)
{
	struct half *h = &c->half[dir];
	uint32_t n;

again:
	if (seq_lt(seq, h->next)) {
		n = u32_min(len, h->next - seq);
		r->stats.bytes_retransmitted += n;
		seq += n;
		p += n;
		len -= n;
		if (len == 0)
			return;
	}
	if (seq == h->next) {
		deliver(r, c, dir, seq, p, len, ts_ns);
		return;
	}
	n = uncovered(h, seq, len);
	if (h->buffered + (uint64_t)n > r->lim.max_stream_bytes) {
		if (!TAILQ_EMPTY(&h->ooo)) {
			/* Room is made by moving on, not by refusing what
			 * follows: a hole that outlived the bound will not
			 * fill. */
			skip_hole(r, c, dir, ts_ns);
			goto again;
		}
		r->stats.dropped_stream_bound += n;
		return;
	}
	if (r->stats.bytes_buffered + n > r->lim.max_total_bytes) {
		r->stats.dropped_total_bound += n;
		return;
	}
	keep(r, h, seq, p, len, ts_ns);
}

/*
 * How many of the bytes [seq, seq + len) lie at or past the FIN. Counted
 * from where the stream stands, not with seq_lt(): bytes half the sequence
 * space ahead are past the FIN too, where seq_lt() would put them behind
 * it, and kept they would leave a hole after the end.
 */
static uint32_t
past_fin(const struct half *h, uint32_t seq, uint32_t len)
{
	int64_t start = (int32_t)(seq - h->next);
	int64_t room = h->fin_seq - h->next;	/* fin_seq is never behind */
	int64_t end = start + len;

	return end > room ? (uint32_t)(end - (start > room ? start : room)) : 0;
}

/* The sender's FIN: bytes it sent past it never count. */
static void
set_fin(struct st_reasm *r, struct half *h, uint32_t fin_seq)
{
	struct ooo_seg *s;
	uint32_t cut;

	h->fin_seen = true;
	h->fin_seq = seq_lt(fin_seq, h->next) ? h->next : fin_seq;
	while ((s = TAILQ_LAST(&h->ooo, ooo_list)) != NULL &&
	       (cut = past_fin(h, s->seq, s->len)) > 0) {
		s->len -= cut;
		h->buffered -= cut;
		r->stats.bytes_buffered -= cut;
		r->stats.segments_after_close++;
		if (s->len > 0)
			break;
		TAILQ_REMOVE(&h->ooo, s, link);
		free(s);
	}
}

/* A segment of a connection whose bytes are delivered. */
static void
conn_segment(struct st_reasm *r, struct conn *c, int dir,
	     const struct st_tcp_segment *seg)
{
	struct half *h = &c->half[dir];
	uint32_t seq = seg->seq;
	uint32_t len = seg->payload_len;

	if (seg->flags & TCP_RST) {
		end_conn(r, c, ST_REASM_END_RST, seg->ts_ns);
		return;
	}
	if (seg->flags & TCP_SYN) {
		/* The ISN; a SYN's data starts after it. */
		if (!h->started)
			h->first = h->next = seq + 1;
		h->started = true;
		seq++;
	}
	if (!h->started) {
		h->first = h->next = seq;
		h->started = true;
	}
	if (h->fin_seen) {
		uint32_t cut = past_fin(h, seq, len);

		if (cut > 0) {
			r->stats.segments_after_close++;
			len -= cut;
		}
	}
	if (len > 0)
		take_bytes(r, c, dir, seq, seg->payload, len, seg->ts_ns);
	if ((seg->flags & TCP_FIN) && !h->fin_seen) {
		set_fin(r, h, seq + len);
		check_fin(r, c, dir, seg->ts_ns);
	}
	track_hole(r, c, dir, seg->ts_ns);
	end_if_finished(r, c, seg->ts_ns);
}

/* A connection open() refused: only its end is followed. */
static void
ignored_segment(struct st_reasm *r, struct conn *c, int dir,
		const struct st_tcp_segment *seg)
{
	r->stats.segments_ignored++;
	if (seg->flags & TCP_RST) {
		end_conn(r, c, ST_REASM_END_RST, seg->ts_ns);
		return;
	}
	if (seg->flags & TCP_FIN)
		c->half[dir].fin_seen = true;
	if (c->half[0].fin_seen && c->half[1].fin_seen)
		end_conn(r, c, ST_REASM_END_FIN, seg->ts_ns);
}

/*
 * Whether a segment on a remembered closed tuple is a late one of the old
 * connection (a retransmission, the last ACKs, data sent before the RST
 * arrived): no payload, or payload that starts within the bytes that
 * direction sent or right after them. Payload elsewhere is a new
 * connection: shadowtap delivers a selected connection without its SYN,
 * from its selecting request on, and clients reuse a port within seconds.
 * A new random ISN lands within the old bytes with odds of their length
 * in 2^32.
 */
static bool
late_segment(const struct conn *c, int dir, const struct st_tcp_segment *seg)
{
	const struct half *h = &c->half[dir];
	uint32_t end;

	if (seg->payload_len == 0)
		return true;
	if (!h->started)
		return false;
	end = h->fin_seen ? h->fin_seq + 1 : h->next;
	return !seq_lt(seg->seq, h->first) && !seq_lt(end, seg->seq);
}

void
st_reasm_segment(struct st_reasm *r, const struct st_tcp_segment *seg)
{
	uint32_t hash = tuple_hash(r, seg);
	struct conn *c;
	int dir;

	r->stats.segments++;
	c = lookup(r, seg, hash, &dir);
	if (c != NULL)
		expire_conn_holes(r, c, seg->ts_ns);
	if (c != NULL && c->state == CONN_LINGER) {
		if (!(seg->flags & TCP_SYN) && late_segment(c, dir, seg)) {
			r->stats.segments_after_close++;
			return;
		}
		forget(r, c);
		c = NULL;
	}
	if (c == NULL) {
		if (!(seg->flags & TCP_SYN) && seg->payload_len == 0) {
			r->stats.segments_no_conn++;
			return;
		}
		c = open_conn(r, seg, hash, &dir);
	} else {
		c->last_ns = seg->ts_ns;
		/* A burst of one connection leaves the list alone: the
		 * move touches two other connections' cache lines. */
		if (c != TAILQ_LAST(&r->live, conn_list)) {
			TAILQ_REMOVE(&r->live, c, lru);
			TAILQ_INSERT_TAIL(&r->live, c, lru);
		}
	}
	if (c->state == CONN_IGNORED)
		ignored_segment(r, c, dir, seg);
	else
		conn_segment(r, c, dir, seg);
}

void
st_reasm_expire(struct st_reasm *r, uint64_t now_ns)
{
	struct half *h;
	struct conn *c;

	while ((h = TAILQ_FIRST(&r->holes)) != NULL &&
	       hole_timed_out(r, h, now_ns))
		hole_timeout(r, half_conn(h), h->dir, now_ns);
	while ((c = TAILQ_FIRST(&r->live)) != NULL && now_ns > c->last_ns &&
	       now_ns - c->last_ns > r->idle_ns)
		end_conn(r, c,
			 c->half[0].fin_seen && c->half[1].fin_seen ?
				 ST_REASM_END_FIN :
				 ST_REASM_END_IDLE,
			 now_ns);
	while ((c = TAILQ_FIRST(&r->linger)) != NULL && now_ns >= c->last_ns)
		forget(r, c);
}

void
st_reasm_flush(struct st_reasm *r, uint64_t now_ns)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&r->live)) != NULL)
		end_conn(r, c, ST_REASM_END_FLUSH, now_ns);
	while ((c = TAILQ_FIRST(&r->linger)) != NULL)
		forget(r, c);
}

const struct st_reasm_stats *
st_reasm_stats(const struct st_reasm *r)
{
	return &r->stats;
}

int
st_reasm_create(const struct st_reasm_limits *limits,
		const struct st_reasm_ops *ops, void *arg,
		struct st_reasm **out)
{
	uint32_t slots = 2;
	struct st_reasm *r;

	if (limits->max_connections == 0 ||
	    limits->max_connections > MAX_CONNECTIONS ||
	    limits->max_stream_bytes == 0 || limits->max_total_bytes == 0 ||
	    limits->idle_timeout_ms == 0 || limits->hole_timeout_ms == 0)
		return -EINVAL;
	if (ops->open == NULL || ops->data == NULL || ops->gap == NULL ||
	    ops->end == NULL || ops->close == NULL)
		return -EINVAL;
	/* At most half full: probe runs stay short. */
	while (slots < 2 * limits->max_connections)
		slots *= 2;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->slots = calloc(slots, sizeof(*r->slots));
	r->conns = calloc(limits->max_connections, sizeof(*r->conns));
	if (r->slots == NULL || r->conns == NULL) {
		st_reasm_free(r);
		return -ENOMEM;
	}
	if (getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) !=
	    sizeof(r->seed))
		r->seed = (uintptr_t)r;
	r->lim = *limits;
	r->ops = *ops;
	r->arg = arg;
	r->mask = slots - 1;
	r->idle_ns = limits->idle_timeout_ms * NS_PER_MS;
	r->hole_timeout_ns = limits->hole_timeout_ms * NS_PER_MS;
	r->linger_ns = u32_min(limits->idle_timeout_ms, LINGER_MAX_MS) *
		       NS_PER_MS;
	TAILQ_INIT(&r->live);
	TAILQ_INIT(&r->linger);
	TAILQ_INIT(&r->free);
	TAILQ_INIT(&r->holes);
	*out = r;
	return 0;
}

void
st_reasm_free(struct st_reasm *r)
{
	uint32_t i;

	if (r == NULL)
		return;
	for (i = 0; r->conns != NULL && i < r->used; i++) {
		struct half *h = r->conns[i].half;

		if (r->conns[i].state != CONN_FREE) {
			free_waiting(r, &h[0]);
			free_waiting(r, &h[1]);
		}
	}
	free(r->conns);
	free(r->slots);
	free(r);
}
