/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/reasm.h: segments are made up here, fed in every
 * order, and what the callbacks see is recorded per connection: the bytes
 * of each direction, the gaps, and the order of data, gap, end and close.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <cmocka.h>

#include "reasm.h"

#define MAX_CONNS 8
#define STREAM_MAX 8192
#define LOG_MAX 512
#define MS 1000000ull
#define CLIENT_PORT 40000
#define SERVER_PORT 80
#define REFUSED_PORT 81		/* open() says no to this server port */

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

struct stream {
	uint8_t data[STREAM_MAX];
	uint32_t len;
	uint64_t gap_bytes;
	uint64_t last_gap;
	uint64_t last_gap_ts;
	bool ended;
	bool late;		/* data or gap after end() */
};

struct rconn {
	struct st_reasm_conn_info info;
	struct stream s[2];
	bool closed;
	bool late;		/* a call after close() */
	enum st_reasm_end why;
	/* D/d: data of dir 0/1, G/g gap, E/e end, C close */
	char log[LOG_MAX];
	size_t nlog;
};

struct rec {
	struct rconn conns[MAX_CONNS];
	unsigned int n;
};

static struct rec rec;

static void
log_event(struct rconn *c, char ev)
{
	if (c->closed)
		c->late = true;
	assert_true(c->nlog + 1 < LOG_MAX);
	/* Runs of the same event are one letter: orders are what count. */
	if (c->nlog > 0 && c->log[c->nlog - 1] == ev)
		return;
	c->log[c->nlog++] = ev;
}

static void *
rec_open(void *arg, const struct st_reasm_conn_info *info, uint64_t ts_ns)
{
	struct rec *r = arg;
	struct rconn *c;

	(void)ts_ns;
	if (info->ep[1].port == REFUSED_PORT)
		return NULL;
	assert_true(r->n < MAX_CONNS);
	c = &r->conns[r->n++];
	c->info = *info;
	return c;
}

static void
rec_data(void *user, int dir, const uint8_t *p, uint32_t len, uint64_t ts)
{
	struct rconn *c = user;
	struct stream *s = &c->s[dir];

	(void)ts;
	assert_true(len > 0);
	assert_true(s->len + len <= STREAM_MAX);
	if (s->ended)
		s->late = true;
	memcpy(s->data + s->len, p, len);
	s->len += len;
	log_event(c, dir ? 'd' : 'D');
}

static void
rec_gap(void *user, int dir, uint64_t len, uint64_t ts)
{
	struct rconn *c = user;
	struct stream *s = &c->s[dir];

	assert_true(len > 0);
	if (s->ended)
		s->late = true;
	s->gap_bytes += len;
	s->last_gap = len;
	s->last_gap_ts = ts;
	log_event(c, dir ? 'g' : 'G');
}

static void
rec_end(void *user, int dir, uint64_t ts)
{
	struct rconn *c = user;

	(void)ts;
	assert_false(c->s[dir].ended);
	c->s[dir].ended = true;
	log_event(c, dir ? 'e' : 'E');
}

static void
rec_close(void *user, enum st_reasm_end why, uint64_t ts)
{
	struct rconn *c = user;

	(void)ts;
	log_event(c, 'C');
	c->closed = true;
	c->why = why;
}

static const struct st_reasm_ops rec_ops = {
	.open = rec_open,
	.data = rec_data,
	.gap = rec_gap,
	.end = rec_end,
	.close = rec_close,
};

static const struct st_reasm_limits big = {
	.max_connections = 16,
	.max_stream_bytes = 1 << 20,
	.max_total_bytes = 1 << 22,
	.idle_timeout_ms = 1000,
	.hole_timeout_ms = 100,
};

static struct st_reasm *
table(const struct st_reasm_limits *lim)
{
	struct st_reasm *r = NULL;

	memset(&rec, 0, sizeof(rec));
	assert_int_equal(st_reasm_create(lim, &rec_ops, &rec, &r), 0);
	return r;
}

/* The bytes a test stream carries at sequence offset @p i. */
static uint8_t
pattern(uint32_t i)
{
	return (uint8_t)('a' + (i * 7 + i / 13) % 26);
}

static void
endpoint(struct st_endpoint *ep, uint8_t host, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = AF_INET;
	ep->addr[0] = 10;
	ep->addr[3] = host;
	ep->port = port;
}

/* One segment from the client (dir 0) or the server of conversation
 * @p conv (a client port offset). */
static void
feed_conv(struct st_reasm *r, int conv, uint16_t server_port, int from,
	  uint32_t seq, uint8_t flags, const void *p, uint32_t len,
	  uint64_t ts)
{
	struct st_tcp_segment seg = {
		.seq = seq,
		.flags = flags,
		.payload = p,
		.payload_len = len,
		.ts_ns = ts,
	};
	struct st_endpoint cl, sv;

	endpoint(&cl, 1, (uint16_t)(CLIENT_PORT + conv));
	endpoint(&sv, 2, server_port);
	seg.src = from ? sv : cl;
	seg.dst = from ? cl : sv;
	st_reasm_segment(r, &seg);
}

static void
feed(struct st_reasm *r, int from, uint32_t seq, uint8_t flags,
     const void *p, uint32_t len, uint64_t ts)
{
	feed_conv(r, 0, SERVER_PORT, from, seq, flags, p, len, ts);
}

static void
feed_str(struct st_reasm *r, int from, uint32_t seq, uint8_t flags,
	 const char *s, uint64_t ts)
{
	feed(r, from, seq, flags, s, (uint32_t)strlen(s), ts);
}

static void
assert_stream(const struct stream *s, const char *expect)
{
	assert_int_equal(s->len, strlen(expect));
	assert_memory_equal(s->data, expect, s->len);
}

static void
test_create_refusals(void **state)
{
	struct st_reasm_limits lim = big;
	struct st_reasm_ops ops = rec_ops;
	struct st_reasm *r = NULL;

	(void)state;
	lim.max_stream_bytes = 0;
	assert_int_equal(st_reasm_create(&lim, &ops, NULL, &r), -EINVAL);
	lim = big;
	lim.max_connections = 0;
	assert_int_equal(st_reasm_create(&lim, &ops, NULL, &r), -EINVAL);
	lim = big;
	lim.idle_timeout_ms = 0;
	assert_int_equal(st_reasm_create(&lim, &ops, NULL, &r), -EINVAL);
	lim = big;
	lim.hole_timeout_ms = 0;
	assert_int_equal(st_reasm_create(&lim, &ops, NULL, &r), -EINVAL);
	lim = big;
	ops.gap = NULL;
	assert_int_equal(st_reasm_create(&lim, &ops, NULL, &r), -EINVAL);
	assert_null(r);
	st_reasm_free(NULL);
}

/* A whole exchange in order: handshake, request, response, both FINs. */
static void
test_in_order(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed(r, 0, 100, SYN, NULL, 0, 1);
	feed(r, 1, 500, SYN | ACK, NULL, 0, 2);
	feed(r, 0, 101, ACK, NULL, 0, 3);
	feed_str(r, 0, 101, ACK, "GET / HT", 4);
	feed_str(r, 0, 109, ACK, "TP/1.1\r\n\r\n", 5);
	feed_str(r, 1, 501, ACK, "HTTP/1.1 200 OK\r\n\r\n", 6);
	feed(r, 0, 119, FIN | ACK, NULL, 0, 7);
	assert_true(c->s[0].ended);
	assert_false(c->closed);
	feed(r, 1, 520, FIN | ACK, NULL, 0, 8);
	feed(r, 0, 120, ACK, NULL, 0, 9);

	assert_int_equal(rec.n, 1);
	assert_true(c->info.syn_seen);
	assert_int_equal(c->info.ep[0].port, CLIENT_PORT);
	assert_stream(&c->s[0], "GET / HTTP/1.1\r\n\r\n");
	assert_stream(&c->s[1], "HTTP/1.1 200 OK\r\n\r\n");
	assert_string_equal(c->log, "DdEeC");
	assert_int_equal(c->why, ST_REASM_END_FIN);
	assert_int_equal(st->segments, 9);
	assert_int_equal(st->connections, 1);
	assert_int_equal(st->connections_active, 0);
	assert_int_equal(st->ended[ST_REASM_END_FIN], 1);
	assert_int_equal(st->bytes_delivered, 37);
	assert_int_equal(st->gaps, 0);
	assert_int_equal(st->bytes_retransmitted, 0);
	assert_int_equal(st->segments_after_close, 1);	/* the last ACK */
	st_reasm_free(r);
}

/* Segments of [0, total) of a client stream, cut at the given sizes. */
struct cut {
	uint32_t off;
	uint32_t len;
};

static unsigned int
cut_stream(struct cut *cuts, uint32_t total, unsigned int seed)
{
	unsigned int n = 0;
	uint32_t off = 0;

	srand(seed);
	while (off < total) {
		uint32_t len = 1 + (uint32_t)rand() % 97;

		if (len > total - off)
			len = total - off;
		cuts[n].off = off;
		cuts[n].len = len;
		n++;
		off += len;
	}
	return n;
}

/* The same stream in order, reversed and shuffled (a fixed seed), each
 * from an ISN just below 2^32 or not. */
static void
test_any_order(void **state)
{
	static const uint32_t isns[] = { 1000, 0xfffffff0u };
	enum { TOTAL = 3000 };
	struct cut cuts[TOTAL];
	uint8_t bytes[TOTAL];
	unsigned int n, i, order, k;

	(void)state;
	for (i = 0; i < TOTAL; i++)
		bytes[i] = pattern(i);
	n = cut_stream(cuts, TOTAL, 7);
	for (k = 0; k < 2; k++) {
		for (order = 0; order < 3; order++) {
			struct st_reasm *r = table(&big);
			const struct st_reasm_stats *st = st_reasm_stats(r);
			unsigned int idx[TOTAL];
			uint32_t isn = isns[k];

			for (i = 0; i < n; i++)
				idx[i] = order == 1 ? n - 1 - i : i;
			if (order == 2) {
				srand(42);
				for (i = n - 1; i > 0; i--) {
					unsigned int j = (unsigned int)rand() %
							 (i + 1);
					unsigned int t = idx[i];

					idx[i] = idx[j];
					idx[j] = t;
				}
			}
			feed(r, 0, isn, SYN, NULL, 0, 1);
			for (i = 0; i < n; i++) {
				const struct cut *ct = &cuts[idx[i]];

				feed(r, 0, isn + 1 + ct->off, ACK,
				     bytes + ct->off, ct->len, 2 + i);
			}
			assert_int_equal(rec.conns[0].s[0].len, TOTAL);
			assert_memory_equal(rec.conns[0].s[0].data, bytes,
					    TOTAL);
			assert_int_equal(st->bytes_buffered, 0);
			assert_int_equal(st->gaps, 0);
			assert_int_equal(st->bytes_delivered, TOTAL);
			st_reasm_flush(r, 10000);
			assert_int_equal(rec.conns[0].s[0].len, TOTAL);
			assert_int_equal(st->ended[ST_REASM_END_FLUSH], 1);
			st_reasm_free(r);
		}
	}
}

/* The first copy of a byte wins, in order and out of order. */
static void
test_overlaps(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);

	(void)state;
	feed(r, 0, 0, SYN, NULL, 0, 1);
	feed_str(r, 0, 1, ACK, "AAAAAAAAAA", 2);		/* [0, 10) */
	feed_str(r, 0, 6, ACK, "BBBBBBBBBB", 3);		/* [5, 15) */
	feed_str(r, 0, 26, ACK, "CCCCCCCCCC", 4);	/* [25, 35) waits */
	feed_str(r, 0, 21, ACK, "DDDDDDDDDDDDDDDDDDDD", 5);	/* [20, 40) */
	assert_int_equal(st->bytes_buffered, 20);
	feed_str(r, 0, 11, ACK, "EEEEEEEEEEEEEEEEEEEE", 6);	/* [10, 30) */
	assert_stream(&rec.conns[0].s[0], "AAAAAAAAAABBBBBEEEEEDDDDDCCCCCCCCCC"
					  "DDDDD");
	/* 5 of B, 10 of D, 15 of E */
	assert_int_equal(st->bytes_retransmitted, 30);
	assert_int_equal(st->bytes_buffered, 0);
	feed_str(r, 0, 1, ACK, "ZZZZZ", 7);
	assert_int_equal(st->bytes_retransmitted, 35);
	assert_int_equal(st->bytes_delivered, 40);
	st_reasm_free(r);
}

/* Data on the SYN and the SYN-ACK; a SYN-ACK seen first names the
 * client anyway. */
static void
test_syn_data(void **state)
{
	struct st_reasm *r = table(&big);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 100, SYN, "GET", 1);
	feed_str(r, 1, 900, SYN | ACK, "HTTP", 2);
	feed_str(r, 0, 104, ACK, " /", 3);
	assert_stream(&c->s[0], "GET /");
	assert_stream(&c->s[1], "HTTP");
	st_reasm_free(r);

	r = table(&big);
	c = &rec.conns[0];
	feed(r, 1, 900, SYN | ACK, NULL, 0, 1);
	feed_str(r, 0, 101, ACK, "GET", 2);
	feed_str(r, 1, 901, ACK, "HTTP", 3);
	assert_int_equal(rec.n, 1);
	assert_true(c->info.syn_seen);
	assert_int_equal(c->info.ep[0].port, CLIENT_PORT);
	assert_stream(&c->s[0], "GET");
	assert_stream(&c->s[1], "HTTP");
	st_reasm_free(r);
}

/* A FIN ahead of the data before it: end() waits for that data. */
static void
test_fin_order(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed(r, 0, 0, SYN, NULL, 0, 1);
	feed(r, 1, 0, SYN | ACK, NULL, 0, 2);
	feed_str(r, 0, 6, FIN | ACK, "world", 3);	/* [5, 10) + FIN */
	assert_false(c->s[0].ended);
	feed_str(r, 0, 1, ACK, "hello", 4);
	assert_stream(&c->s[0], "helloworld");
	assert_true(c->s[0].ended);
	/* The server's FIN before its data, and bytes past it. */
	feed(r, 1, 4, FIN | ACK, NULL, 0, 5);
	assert_false(c->closed);
	feed_str(r, 1, 1, ACK, "abcdef", 6);
	assert_int_equal(st->segments_after_close, 1);
	assert_stream(&c->s[1], "abc");
	assert_string_equal(c->log, "DEdeC");
	assert_false(c->s[0].late || c->s[1].late || c->late);
	assert_int_equal(c->why, ST_REASM_END_FIN);
	st_reasm_free(r);
}

/* Bytes half the sequence space ahead are past a FIN where the stream
 * stands (seq_lt() would put them behind it): those that waited go with
 * the FIN, those that come after it never count, and no gap follows the
 * end (fuzz_pipeline found one). */
static void
test_bytes_half_the_space_past_fin(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed(r, 0, 0, SYN, NULL, 0, 1 * MS);
	feed_str(r, 0, 1, ACK, "GET /a\n", 2 * MS);	/* up to 8 */
	feed_str(r, 0, 8u + 0x7ffffffeu, ACK, "later", 3 * MS);
	assert_int_equal(st->bytes_buffered, 5);
	feed(r, 0, 8, FIN | ACK, NULL, 0, 4 * MS);
	assert_true(c->s[0].ended);
	assert_int_equal(st->bytes_buffered, 0);
	assert_int_equal(st->segments_after_close, 1);
	feed_str(r, 0, 8u + 0x7ffffffdu, ACK, "late", 5 * MS);
	assert_int_equal(st->bytes_buffered, 0);
	assert_int_equal(st->segments_after_close, 2);
	st_reasm_expire(r, 500 * MS);
	assert_int_equal(st->gaps, 0);
	assert_false(c->s[0].late);
	assert_stream(&c->s[0], "GET /a\n");
	st_reasm_free(r);
}

/* RST: what waits is delivered after its gap, then close(RST). Late
 * segments count; a new SYN opens a new connection. */
static void
test_rst_and_after_close(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed(r, 0, 0, SYN, NULL, 0, 1);
	feed_str(r, 0, 1, ACK, "abc", 2);
	feed_str(r, 0, 8, ACK, "xyz", 3);		/* [7, 10): hole */
	feed(r, 1, 77, RST, NULL, 0, 4);
	assert_true(c->closed);
	assert_int_equal(c->why, ST_REASM_END_RST);
	assert_stream(&c->s[0], "abcxyz");
	assert_int_equal(c->s[0].gap_bytes, 4);
	assert_string_equal(c->log, "DGDC");
	assert_false(c->s[0].ended);
	assert_int_equal(st->ended[ST_REASM_END_RST], 1);
	assert_int_equal(st->gaps, 1);
	assert_int_equal(st->gap_bytes, 4);

	feed(r, 0, 11, ACK, NULL, 0, 5);
	feed_str(r, 0, 4, ACK, "def", 6);
	feed(r, 1, 77, RST, NULL, 0, 7);
	assert_int_equal(st->segments_after_close, 3);
	assert_int_equal(st->connections, 1);
	assert_false(c->late);

	feed(r, 0, 5000, SYN, NULL, 0, 8);
	feed_str(r, 0, 5001, ACK, "new", 9);
	assert_int_equal(st->connections, 2);
	assert_int_equal(st->connections_active, 1);
	assert_stream(&rec.conns[1].s[0], "new");

	/* Forgotten after the linger: data opens mid-stream again, a pure
	 * ACK opens nothing. */
	feed(r, 0, 5004, RST, NULL, 0, 10);
	st_reasm_expire(r, 10 + 1000 * MS);
	feed(r, 1, 1, ACK, NULL, 0, 11 + 1000 * MS);
	assert_int_equal(st->segments_no_conn, 1);
	feed_str(r, 1, 1, ACK, "late", 12 + 1000 * MS);
	assert_int_equal(st->connections, 3);
	assert_int_equal(st->segments_after_close, 3);
	st_reasm_free(r);
}

/* A port reused within the linger, copied without its SYN (shadowtap
 * delivers a selected connection from its request on): payload beyond
 * the old bytes is a new connection, a retransmission of old bytes is
 * not. */
static void
test_port_reuse_without_syn(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);

	(void)state;
	feed_str(r, 0, 100, ACK, "GET /a", 1);
	feed_str(r, 1, 900, ACK, "HTTP/1.1 200", 2);
	feed(r, 0, 106, FIN | ACK, NULL, 0, 3);
	feed(r, 1, 912, FIN | ACK, NULL, 0, 4);
	assert_true(rec.conns[0].closed);
	assert_int_equal(rec.conns[0].why, ST_REASM_END_FIN);
	/* Late: the final ACK, old bytes again, old bytes up to the FIN. */
	feed(r, 0, 107, ACK, NULL, 0, 5);
	feed_str(r, 0, 100, ACK, "GET /a", 6);
	feed_str(r, 1, 906, ACK, "200", 7);
	assert_int_equal(st->segments_after_close, 3);
	assert_int_equal(st->connections, 1);
	/* The same 4-tuple a moment later, a new ISN, no SYN. */
	feed_str(r, 0, 3000000000u, ACK, "GET /b", 8);
	feed_str(r, 1, 70000, ACK, "HTTP/1.1 404", 9);
	assert_int_equal(st->connections, 2);
	assert_int_equal(st->segments_after_close, 3);
	assert_false(rec.conns[1].info.syn_seen);
	assert_stream(&rec.conns[1].s[0], "GET /b");
	assert_stream(&rec.conns[1].s[1], "HTTP/1.1 404");
	assert_false(rec.conns[0].late);
	st_reasm_free(r);
}

/* Holes that never fill: reported with their length at flush and when
 * the stream bound makes delivery move on. */
static void
test_holes(void **state)
{
	struct st_reasm_limits lim = big;
	const struct st_reasm_stats *st;
	uint8_t buf[200];
	struct st_reasm *r;
	struct rconn *c;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	r = table(&big);
	st = st_reasm_stats(r);
	c = &rec.conns[0];
	feed_str(r, 0, 50, ACK, "0123456789", 1);	/* no SYN: starts */
	feed_str(r, 0, 73, ACK, "abc", 2);		/* 13 missing */
	feed_str(r, 0, 90, FIN | ACK, "xy", 3);		/* 14 missing */
	assert_int_equal(st->bytes_buffered, 5);
	st_reasm_flush(r, 4);
	assert_stream(&c->s[0], "0123456789abcxy");
	assert_int_equal(c->s[0].gap_bytes, 27);
	assert_int_equal(st->gaps, 2);
	assert_int_equal(st->gap_bytes, 27);
	assert_string_equal(c->log, "DGDGDEC");
	assert_int_equal(c->why, ST_REASM_END_FLUSH);
	assert_int_equal(st->bytes_buffered, 0);
	st_reasm_free(r);

	/* A FIN after a hole that never fills, then a flush. */
	r = table(&big);
	st = st_reasm_stats(r);
	c = &rec.conns[0];
	feed_str(r, 0, 0, ACK, "ab", 1);
	feed(r, 0, 9, FIN | ACK, NULL, 0, 2);
	st_reasm_flush(r, 3);
	assert_int_equal(c->s[0].last_gap, 7);
	assert_string_equal(c->log, "DGEC");
	st_reasm_free(r);

	/* max_stream_bytes 100: 7 bytes missing, 100 waiting, 10 more. */
	lim.max_stream_bytes = 100;
	r = table(&lim);
	st = st_reasm_stats(r);
	c = &rec.conns[0];
	feed(r, 0, 0, ACK, buf, 3, 1);
	for (i = 0; i < 4; i++)
		feed(r, 0, 10 + 25 * i, ACK, buf + 10 + 25 * i, 25, 2 + i);
	assert_int_equal(st->bytes_buffered, 100);
	assert_int_equal(st->gaps, 0);
	feed(r, 0, 120, ACK, buf + 120, 10, 7);	/* 10 more after a hole */
	assert_int_equal(c->s[0].last_gap, 7);
	assert_int_equal(st->gaps, 1);
	assert_int_equal(c->s[0].len, 103);
	assert_int_equal(st->bytes_buffered, 10);
	assert_int_equal(st->dropped_stream_bound, 0);
	/* The hole [110, 120) fills: all is delivered. */
	feed(r, 0, 110, ACK, buf + 110, 10, 8);
	assert_int_equal(c->s[0].len, 123);
	assert_memory_equal(c->s[0].data + 3, buf + 10, 120);
	/* Alone larger than the bound, out of order: dropped. */
	feed(r, 0, 140, ACK, buf, 101, 9);
	assert_int_equal(st->dropped_stream_bound, 101);
	assert_int_equal(st->bytes_buffered, 0);
	st_reasm_free(r);
}

/* max_total_bytes: what another connection keeps counts. */
static void
test_total_bound(void **state)
{
	struct st_reasm_limits lim = big;
	const struct st_reasm_stats *st;
	struct st_reasm *r;

	(void)state;
	lim.max_total_bytes = 50;
	r = table(&lim);
	st = st_reasm_stats(r);
	feed_conv(r, 0, SERVER_PORT, 0, 0, ACK, "a", 1, 1);
	feed_conv(r, 0, SERVER_PORT, 0, 10, ACK, "0123456789012345678901"
		  "234567890123456789", 40, 2);
	feed_conv(r, 1, SERVER_PORT, 0, 0, ACK, "b", 1, 3);
	feed_conv(r, 1, SERVER_PORT, 0, 10, ACK, "01234567890123456789", 20,
		  4);
	assert_int_equal(st->dropped_total_bound, 20);
	assert_int_equal(st->bytes_buffered, 40);
	feed_conv(r, 1, SERVER_PORT, 0, 10, ACK, "0123456789", 10, 5);
	assert_int_equal(st->bytes_buffered, 50);
	assert_int_equal(st->dropped_total_bound, 20);
	st_reasm_flush(r, 6);
	assert_int_equal(st->bytes_buffered, 0);
	assert_int_equal(rec.conns[1].s[0].len, 11);
	st_reasm_free(r);
}

static void
test_idle(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "abc", 1 * MS);
	feed_str(r, 0, 5, ACK, "fg", 2 * MS);
	st_reasm_expire(r, 1002 * MS);
	assert_false(c->closed);
	st_reasm_expire(r, 1003 * MS);
	assert_true(c->closed);
	assert_int_equal(c->why, ST_REASM_END_IDLE);
	assert_stream(&c->s[0], "abcfg");
	assert_int_equal(c->s[0].gap_bytes, 2);
	assert_int_equal(st->ended[ST_REASM_END_IDLE], 1);
	assert_int_equal(st->connections_active, 0);
	/* Not remembered: the next segment is a new connection. */
	feed_str(r, 0, 7, ACK, "h", 1004 * MS);
	assert_int_equal(st->connections, 2);
	assert_int_equal(st->segments_after_close, 0);
	st_reasm_free(r);

	/* Both FINs, but a hole before the client's never fills: the hole
	 * timeout ends it as a FIN close. */
	r = table(&big);
	st = st_reasm_stats(r);
	c = &rec.conns[0];
	feed_str(r, 0, 0, ACK, "ab", 1 * MS);
	feed_str(r, 0, 5, FIN | ACK, "ef", 2 * MS);
	feed(r, 1, 0, FIN | ACK, NULL, 0, 3 * MS);
	assert_false(c->closed);
	st_reasm_expire(r, 1004 * MS);
	assert_string_equal(c->log, "DeGDEC");
	assert_int_equal(c->s[0].last_gap, 3);
	assert_int_equal(c->why, ST_REASM_END_FIN);
	assert_int_equal(st->ended[ST_REASM_END_FIN], 1);
	assert_int_equal(st->ended[ST_REASM_END_IDLE], 0);
	st_reasm_free(r);
}

/* A full table ends the least recently seen connection; remembered
 * closed tuples go first. */
static void
test_eviction(void **state)
{
	struct st_reasm_limits lim = big;
	const struct st_reasm_stats *st;
	struct st_reasm *r;

	(void)state;
	lim.max_connections = 2;
	r = table(&lim);
	st = st_reasm_stats(r);
	feed_conv(r, 0, SERVER_PORT, 0, 0, ACK, "a", 1, 1);
	feed_conv(r, 1, SERVER_PORT, 0, 0, ACK, "b", 1, 2);
	feed_conv(r, 0, SERVER_PORT, 0, 1, ACK, "a", 1, 3);
	feed_conv(r, 2, SERVER_PORT, 0, 0, ACK, "c", 1, 4);
	assert_true(rec.conns[1].closed);
	assert_int_equal(rec.conns[1].why, ST_REASM_END_EVICTED);
	assert_false(rec.conns[0].closed);
	assert_int_equal(st->ended[ST_REASM_END_EVICTED], 1);
	assert_int_equal(st->connections_active, 2);

	feed_conv(r, 0, SERVER_PORT, 1, 0, RST, NULL, 0, 5);
	feed_conv(r, 3, SERVER_PORT, 0, 0, ACK, "d", 1, 6);
	assert_false(rec.conns[2].closed);
	assert_int_equal(st->ended[ST_REASM_END_EVICTED], 1);
	/* Conversation 0's tuple is forgotten: no after-close count. */
	feed_conv(r, 0, SERVER_PORT, 0, 2, ACK, NULL, 0, 7);
	assert_int_equal(st->segments_after_close, 0);
	assert_int_equal(st->segments_no_conn, 1);

	/* More than fit: the least recently seen go, one by one. */
	for (unsigned int i = 0; i < 4; i++)
		feed_conv(r, (int)(10 + i), SERVER_PORT, 0, 0, ACK, "e", 1,
			  8 + i);
	assert_int_equal(st->ended[ST_REASM_END_EVICTED], 5);
	feed_conv(r, 13, SERVER_PORT, 0, 1, ACK, "f", 1, 20);
	assert_int_equal(st->connections, 8);
	assert_int_equal(rec.conns[7].s[0].len, 2);
	st_reasm_free(r);
}

/* Many connections come and go (evicted, reset, remembered, forgotten):
 * every one still in the table is still found. */
static void
test_table_churn(void **state)
{
	enum { LIVE = 32, CONVS = 40, ROUNDS = 20, FRESH = 100 };
	struct st_reasm_limits lim = big;
	const struct st_reasm_stats *st;
	struct st_reasm *r;
	int round, conv, resets = 0;

	(void)state;
	lim.max_connections = LIVE;
	r = table(&lim);
	st = st_reasm_stats(r);
	for (round = 0; round < ROUNDS; round++) {
		for (conv = 0; conv < CONVS; conv++) {
			/* One record serves all: only counts matter. */
			memset(&rec.conns[0], 0, sizeof(rec.conns[0]));
			rec.n = 0;
			feed_conv(r, conv, SERVER_PORT, 0, 0, ACK, "x", 1,
				  (uint64_t)(round * CONVS + conv));
		}
	}
	/* Cycling through more tuples than fit: each one was a miss. */
	assert_int_equal(st->connections, ROUNDS * CONVS);
	assert_int_equal(st->ended[ST_REASM_END_EVICTED],
			 ROUNDS * CONVS - LIVE);
	/* The last LIVE are in: some reset, the others found again. */
	for (conv = CONVS - LIVE; conv < CONVS; conv += 5, resets++)
		feed_conv(r, conv, SERVER_PORT, 1, 0, RST, NULL, 0, 1000);
	rec.n = 0;
	for (conv = CONVS - LIVE; conv < CONVS; conv++)
		feed_conv(r, conv, SERVER_PORT, 0, 1, ACK, "y", 1, 1001);
	assert_int_equal(st->connections, ROUNDS * CONVS);
	assert_int_equal(st->segments_after_close, resets);
	/* New tuples take the reset ones' places first. */
	for (conv = FRESH; conv < FRESH + resets; conv++)
		feed_conv(r, conv, SERVER_PORT, 0, 0, ACK, "z", 1, 1002);
	assert_int_equal(st->ended[ST_REASM_END_EVICTED],
			 ROUNDS * CONVS - LIVE);
	assert_int_equal(st->connections_active, LIVE);
	assert_int_equal(st->connections, st->connections_active +
					  st->ended[ST_REASM_END_EVICTED] +
					  st->ended[ST_REASM_END_RST]);
	st_reasm_free(r);
}

/* A kept-alive connection's copy lacks a request shadowtap did not
 * mirror: the hole is given up at the first segment of that connection
 * that comes hole_timeout after delivery stopped, before that segment is
 * taken, whatever it is. */
static void
test_hole_timeout_on_segment(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "0123", 1 * MS);
	feed_str(r, 0, 10, ACK, "abcd", 2 * MS);	/* [4, 10) missing */
	feed(r, 1, 0, ACK, NULL, 0, 101 * MS);
	feed_str(r, 0, 14, ACK, "efgh", 101 * MS);
	assert_stream(&c->s[0], "0123");
	assert_int_equal(st->bytes_buffered, 8);
	assert_int_equal(st->gaps, 0);
	/* Its time is up when the filler comes: too late. */
	feed_str(r, 0, 4, ACK, "456789", 102 * MS);
	assert_stream(&c->s[0], "0123abcdefgh");
	assert_int_equal(c->s[0].last_gap, 6);
	assert_int_equal(c->s[0].last_gap_ts, 102 * MS);
	assert_string_equal(c->log, "DGD");
	assert_int_equal(st->gaps, 1);
	assert_int_equal(st->gap_bytes, 6);
	assert_int_equal(st->bytes_retransmitted, 6);
	assert_int_equal(st->bytes_buffered, 0);
	/* What follows is delivered as it comes. */
	feed_str(r, 0, 18, ACK, "ij", 103 * MS);
	assert_stream(&c->s[0], "0123abcdefghij");
	assert_false(c->closed);
	st_reasm_free(r);
}

/* No later segment: st_reasm_expire() gives the hole up alone. */
static void
test_hole_timeout_by_expire(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "GET /a\n", 1 * MS);
	feed_str(r, 0, 20, ACK, "GET /c\n", 2 * MS);	/* 13 missing */
	feed_str(r, 1, 0, ACK, "200 a\n", 3 * MS);
	st_reasm_expire(r, 101 * MS);
	assert_int_equal(st->gaps, 0);
	st_reasm_expire(r, 102 * MS);
	assert_stream(&c->s[0], "GET /a\nGET /c\n");
	assert_stream(&c->s[1], "200 a\n");
	assert_int_equal(c->s[0].last_gap, 13);
	assert_int_equal(c->s[0].last_gap_ts, 102 * MS);
	assert_int_equal(st->gaps, 1);
	assert_int_equal(st->bytes_buffered, 0);
	/* Given up once; the connection lives on until idle. */
	st_reasm_expire(r, 900 * MS);
	assert_int_equal(st->gaps, 1);
	assert_false(c->closed);
	st_reasm_expire(r, 1004 * MS);
	assert_true(c->closed);
	assert_int_equal(c->why, ST_REASM_END_IDLE);
	assert_int_equal(st->gaps, 1);
	st_reasm_free(r);
}

/* A hole that fills in time is never reported, and its clock stops. */
static void
test_hole_filled_in_time(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "ab", 1 * MS);
	feed_str(r, 0, 4, ACK, "ef", 2 * MS);
	feed_str(r, 1, 0, ACK, "xy", 3 * MS);
	feed_str(r, 1, 5, ACK, "z", 4 * MS);	/* the other way too */
	feed_str(r, 0, 2, ACK, "cd", 101 * MS);
	feed_str(r, 1, 2, ACK, "uvw", 103 * MS);
	st_reasm_expire(r, 500 * MS);
	feed_str(r, 0, 6, ACK, "gh", 600 * MS);
	assert_stream(&c->s[0], "abcdefgh");
	assert_stream(&c->s[1], "xyuvwz");
	assert_string_equal(c->log, "DdDdD");
	assert_int_equal(st->gaps, 0);
	assert_int_equal(st->bytes_buffered, 0);
	st_reasm_free(r);
}

/* Each hole gets a whole timeout from when delivery stops at it. */
static void
test_successive_holes(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "aaaa", 1 * MS);
	feed_str(r, 0, 6, ACK, "bbbb", 1 * MS);		/* [4, 6) missing */
	feed_str(r, 0, 13, ACK, "cccc", 1 * MS);	/* [10, 13) too */
	st_reasm_expire(r, 100 * MS);
	assert_int_equal(st->gaps, 0);
	st_reasm_expire(r, 101 * MS);
	assert_stream(&c->s[0], "aaaabbbb");
	assert_int_equal(c->s[0].last_gap, 2);
	/* The second one waited since 1 ms, but blocks only from now. */
	st_reasm_expire(r, 200 * MS);
	assert_int_equal(st->gaps, 1);
	st_reasm_expire(r, 201 * MS);
	assert_stream(&c->s[0], "aaaabbbbcccc");
	assert_int_equal(c->s[0].last_gap, 3);
	assert_int_equal(c->s[0].last_gap_ts, 201 * MS);
	assert_string_equal(c->log, "DGDGD");
	assert_int_equal(st->gap_bytes, 5);
	st_reasm_free(r);
}

/* Both FINs with a hole before one of them: gap, end, close(FIN) at the
 * hole timeout, whether what waits is bytes or the FIN alone. */
static void
test_fins_with_hole(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 0, 0, ACK, "ab", 1 * MS);
	feed_str(r, 0, 4, FIN | ACK, "ef", 2 * MS);
	feed(r, 1, 0, FIN | ACK, NULL, 0, 3 * MS);
	st_reasm_expire(r, 101 * MS);
	assert_false(c->closed);
	st_reasm_expire(r, 102 * MS);
	assert_true(c->closed);
	assert_string_equal(c->log, "DeGDEC");
	assert_int_equal(c->s[0].last_gap, 2);
	assert_int_equal(c->why, ST_REASM_END_FIN);
	assert_int_equal(st->ended[ST_REASM_END_FIN], 1);
	assert_int_equal(st->ended[ST_REASM_END_IDLE], 0);
	assert_int_equal(st->connections_active, 0);
	st_reasm_free(r);

	/* Only the FIN waits; the server's last ACK finds the time up. */
	r = table(&big);
	st = st_reasm_stats(r);
	c = &rec.conns[0];
	feed_str(r, 0, 0, ACK, "ab", 1 * MS);
	feed(r, 0, 9, FIN | ACK, NULL, 0, 2 * MS);	/* [2, 9) missing */
	feed(r, 1, 0, FIN | ACK, NULL, 0, 3 * MS);
	feed(r, 1, 1, ACK, NULL, 0, 102 * MS);
	assert_true(c->closed);
	assert_string_equal(c->log, "DeGEC");
	assert_int_equal(c->s[0].last_gap, 7);
	assert_int_equal(c->why, ST_REASM_END_FIN);
	assert_int_equal(st->ended[ST_REASM_END_FIN], 1);
	/* The ACK itself is a late one of the closed connection. */
	assert_int_equal(st->segments_after_close, 1);
	assert_int_equal(st->connections, 1);
	assert_false(c->late);
	st_reasm_free(r);
}

/* One conversation's segments, its record reset: only counts matter. */
static void
churn_feed(struct st_reasm *r, int conv, int from, uint32_t seq,
	   uint8_t flags, const char *p, uint64_t ts)
{
	memset(&rec, 0, sizeof(rec));
	feed_conv(r, conv, SERVER_PORT, from, seq, flags, p,
		  p != NULL ? (uint32_t)strlen(p) : 0, ts);
}

/* A conversation with a 4-byte hole before its second byte. */
static void
churn_hole(struct st_reasm *r, int conv, uint64_t ts)
{
	churn_feed(r, conv, 0, 0, ACK, "x", ts);
	churn_feed(r, conv, 0, 5, ACK, "y", ts);
}

/* Connections with holes reset, evicted and flushed through a small
 * table: their slots are reused by connections with younger holes, which
 * only their own time gives up. */
static void
test_hole_list_churn(void **state)
{
	enum { LIVE = 4, CONVS = 40, FRESH = 100 };
	struct st_reasm_limits lim = big;
	const struct st_reasm_stats *st;
	struct st_reasm *r;
	int conv;

	(void)state;
	lim.max_connections = LIVE;
	r = table(&lim);
	st = st_reasm_stats(r);
	for (conv = 0; conv < CONVS; conv++) {
		churn_hole(r, conv, (uint64_t)conv * MS);
		if (conv % 3 == 0)
			churn_feed(r, conv, 1, 0, RST, NULL,
				   (uint64_t)conv * MS);
	}
	/* Each ended one, reset or evicted, reported its hole once; the last
	 * one was reset, the LIVE - 1 before it are in. */
	assert_int_equal(st->connections, CONVS);
	assert_int_equal(st->ended[ST_REASM_END_RST], (CONVS + 2) / 3);
	assert_int_equal(st->connections_active, LIVE - 1);
	assert_int_equal(st->gaps, CONVS - (LIVE - 1));
	assert_int_equal(st->gaps, st->ended[ST_REASM_END_RST] +
					   st->ended[ST_REASM_END_EVICTED]);
	/* Fresh holes at 50 ms take every place. */
	for (conv = FRESH; conv < FRESH + LIVE; conv++)
		churn_hole(r, conv, 50 * MS);
	assert_int_equal(st->gaps, CONVS);
	assert_int_equal(st->bytes_buffered, LIVE);
	st_reasm_expire(r, 149 * MS);
	assert_int_equal(st->gaps, CONVS);
	st_reasm_expire(r, 150 * MS);
	assert_int_equal(st->gaps, CONVS + LIVE);
	assert_int_equal(st->bytes_buffered, 0);
	/* Holes flushed, then new ones in the same places. */
	for (conv = 0; conv < LIVE; conv++)
		churn_hole(r, 200 + conv, 200 * MS);
	st_reasm_flush(r, 250 * MS);
	assert_int_equal(st->gaps, CONVS + 2 * LIVE);
	assert_int_equal(st->ended[ST_REASM_END_FLUSH], LIVE);
	for (conv = 0; conv < LIVE; conv++)
		churn_hole(r, 300 + conv, 300 * MS);
	st_reasm_expire(r, 399 * MS);
	assert_int_equal(st->gaps, CONVS + 2 * LIVE);
	st_reasm_expire(r, 400 * MS);
	assert_int_equal(st->gaps, CONVS + 3 * LIVE);
	assert_int_equal(st->gap_bytes, 4 * st->gaps);
	assert_int_equal(st->bytes_buffered, 0);
	assert_int_equal(st->connections_active, LIVE);
	st_reasm_free(r);
}

/* Picked up mid-stream: the server speaks first; the other direction
 * starts at its first segment too, and what precedes it is old. */
static void
test_midstream(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);
	struct rconn *c = &rec.conns[0];

	(void)state;
	feed_str(r, 1, 7000, ACK, "HTTP/1.1 200", 1);
	assert_false(c->info.syn_seen);
	assert_int_equal(c->info.ep[0].port, SERVER_PORT);
	feed_str(r, 0, 300, ACK, "GET /b", 2);
	feed_str(r, 0, 290, ACK, "0123456789", 3);
	assert_stream(&c->s[0], "HTTP/1.1 200");
	assert_stream(&c->s[1], "GET /b");
	assert_int_equal(st->bytes_retransmitted, 10);
	st_reasm_free(r);
}

/* open() said no: segments counted, no callbacks, ends followed. */
static void
test_ignored(void **state)
{
	struct st_reasm *r = table(&big);
	const struct st_reasm_stats *st = st_reasm_stats(r);

	(void)state;
	feed_conv(r, 0, REFUSED_PORT, 0, 0, SYN, NULL, 0, 1);
	feed_conv(r, 0, REFUSED_PORT, 0, 1, ACK, "abc", 3, 2);
	feed_conv(r, 0, REFUSED_PORT, 1, 9, FIN | ACK, NULL, 0, 3);
	assert_int_equal(st->connections_active, 1);
	feed_conv(r, 0, REFUSED_PORT, 0, 4, FIN | ACK, NULL, 0, 4);
	assert_int_equal(rec.n, 0);
	assert_int_equal(st->segments_ignored, 4);
	assert_int_equal(st->connections, 1);
	assert_int_equal(st->connections_active, 0);
	assert_int_equal(st->ended[ST_REASM_END_FIN], 1);
	assert_int_equal(st->bytes_delivered, 0);
	feed_conv(r, 0, REFUSED_PORT, 0, 5, ACK, NULL, 0, 5);
	assert_int_equal(st->segments_after_close, 1);
	st_reasm_free(r);
}

/* IPv6 endpoints, and IPv4 ones whose unused address bytes differ. */
static void
test_endpoints(void **state)
{
	struct st_reasm *r = table(&big);
	struct st_tcp_segment seg = {
		.flags = ACK,
		.payload = (const uint8_t *)"x",
		.payload_len = 1,
	};

	(void)state;
	endpoint(&seg.src, 1, 1000);
	endpoint(&seg.dst, 2, 80);
	seg.src.family = AF_INET6;
	seg.dst.family = AF_INET6;
	st_reasm_segment(r, &seg);
	seg.src.family = AF_INET;
	seg.dst.family = AF_INET;
	st_reasm_segment(r, &seg);
	assert_int_equal(rec.n, 2);
	seg.seq = 1;
	seg.src.addr[10] = 0xff;
	st_reasm_segment(r, &seg);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.conns[1].s[0].len, 2);
	assert_int_equal(rec.conns[0].s[0].len, 1);
	st_reasm_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_any_order),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_syn_data),
		cmocka_unit_test(test_fin_order),
		cmocka_unit_test(test_bytes_half_the_space_past_fin),
		cmocka_unit_test(test_rst_and_after_close),
		cmocka_unit_test(test_port_reuse_without_syn),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_total_bound),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_table_churn),
		cmocka_unit_test(test_hole_timeout_on_segment),
		cmocka_unit_test(test_hole_timeout_by_expire),
		cmocka_unit_test(test_hole_filled_in_time),
		cmocka_unit_test(test_successive_holes),
		cmocka_unit_test(test_fins_with_hole),
		cmocka_unit_test(test_hole_list_churn),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
