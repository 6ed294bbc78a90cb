/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the replay's pipeline below the program: captured
 * frames through st_decap(), st_reasm and the HTTP exchange parser, with
 * small limits so that every bound, eviction, hole and idle timeout is
 * reached.
 *
 * Input (written by pipeline_seeds.py from real captures):
 *   byte 0: the decapsulation mode (modulo ST_DECAP_MODES)
 *   then records: a big-endian 16-bit length and that many bytes of an
 *   Ethernet frame (fewer if the input ends). Frame i is captured at
 *   i ms; expiry runs every 16 frames.
 *
 * Checked: no crash or sanitizer report; reassembly calls nothing on a
 * connection after close(), end() at most once per direction, no gap of
 * 0 bytes; after st_reasm_flush() every connection is closed and every
 * requested exchange is done; the counters agree with the callbacks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decap.h"
#include "exchange.h"
#include "reasm.h"

#define MAX_CONNS 4
#define MS 1000000ull

struct tally {
	struct st_exchange_parser *parser;
	uint64_t opened, closed, requests, done;
};

/* What reassembly said of one connection, checked before it is passed
 * on to the HTTP layer. */
struct watched {
	struct tally *t;
	void *inner;
	bool ended[2];
};

static const struct st_reasm_ops *http;

static void *
w_open(void *arg, const struct st_reasm_conn_info *info, uint64_t ts_ns)
{
	struct tally *t = arg;
	struct watched *w = calloc(1, sizeof(*w));

	if (w == NULL)
		abort();
	w->t = t;
	w->inner = http->open(t->parser, info, ts_ns);
	if (w->inner == NULL)
		abort();
	t->opened++;
	return w;
}

static void
w_data(void *user, int dir, const uint8_t *p, uint32_t len, uint64_t ts_ns)
{
	struct watched *w = user;

	if (len == 0 || w->ended[dir])
		abort();
	http->data(w->inner, dir, p, len, ts_ns);
}

static void
w_gap(void *user, int dir, uint64_t len, uint64_t ts_ns)
{
	struct watched *w = user;

	if (len == 0 || w->ended[dir])
		abort();
	http->gap(w->inner, dir, len, ts_ns);
}

static void
w_end(void *user, int dir, uint64_t ts_ns)
{
	struct watched *w = user;

	if (w->ended[dir])
		abort();
	w->ended[dir] = true;
	http->end(w->inner, dir, ts_ns);
}

static void
w_close(void *user, enum st_reasm_end why, uint64_t ts_ns)
{
	struct watched *w = user;

	if (why >= ST_REASM_END_COUNT)
		abort();
	http->close(w->inner, why, ts_ns);
	w->t->closed++;
	free(w);
}

static const struct st_reasm_ops watch_ops = {
	.open = w_open,
	.data = w_data,
	.gap = w_gap,
	.end = w_end,
	.close = w_close,
};

static void
on_request(void *arg, struct st_exchange *ex)
{
	struct tally *t = arg;

	if (ex->req.method[0] == '\0')
		abort();
	t->requests++;
}

static void
on_done(void *arg, struct st_exchange *ex, enum st_exchange_end how)
{
	struct tally *t = arg;

	(void)ex;
	if (how >= ST_EXCHANGE_END_COUNT)
		abort();
	t->done++;
}

static const struct st_exchange_ops exchange_ops = {
	.request = on_request,
	.done = on_done,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct st_reasm_limits rlim = {
		.max_connections = MAX_CONNS,
		.max_stream_bytes = 2048,
		.max_total_bytes = 4096,
		.idle_timeout_ms = 50,
		.hole_timeout_ms = 10,
	};
	static const struct st_exchange_limits xlim = {
		.max_head_bytes = 1024,
		.max_body_bytes = 256,
		.max_pending = 4,
	};
	const struct st_reasm_stats *rs;
	struct tally t = { 0 };
	struct st_reasm *r;
	enum st_decap_mode mode;
	uint64_t ts = MS, ended = 0;
	size_t off = 1, frames = 0;
	unsigned int i;

	if (size < 1)
		return 0;
	mode = (enum st_decap_mode)(data[0] % ST_DECAP_MODES);
	http = st_exchange_reasm_ops();
	if (st_exchange_parser_create(&xlim, &exchange_ops, &t, &t.parser) != 0 ||
	    st_reasm_create(&rlim, &watch_ops, &t, &r) != 0)
		abort();
	while (size - off >= 2) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		struct st_tcp_segment seg;

		off += 2;
		if (len > size - off)
			len = size - off;
		if (st_decap(data + off, (uint32_t)len, (uint32_t)len, mode,
			     &seg) == ST_DECAP_OK) {
			seg.ts_ns = ts;
			st_reasm_segment(r, &seg);
		}
		off += len;
		ts += MS;
		if (++frames % 16 == 0)
			st_reasm_expire(r, ts);
	}
	st_reasm_flush(r, ts);

	rs = st_reasm_stats(r);
	for (i = 0; i < ST_REASM_END_COUNT; i++)
		ended += rs->ended[i];
	if (rs->connections_active != 0 || rs->bytes_buffered != 0 ||
	    t.closed != t.opened || rs->connections != ended ||
	    t.done != t.requests ||
	    st_exchange_parser_stats(t.parser)->requests != t.requests)
		abort();
	st_reasm_free(r);
	st_exchange_parser_free(t.parser);
	return 0;
}
