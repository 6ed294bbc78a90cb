/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for replay/exchange.c: one connection's events, as the
 * reassembler would deliver them, through st_exchange_reasm_ops().
 *
 * Input (written by replay_seeds.py from real captures):
 *   byte 0: bit 0 a SYN was seen, bit 1 HTTP ports are configured,
 *           bit 2 small limits (max_pending 2, 64-byte bodies)
 *   then records: one byte h (bit 0 direction, bits 1-2 the event:
 *   0 or 1 data, 2 gap, 3 end), and for data a big-endian 16-bit length
 *   and that many bytes (fewer if the input ends).
 *
 * Checked: no crash or sanitizer report; request() ids increase;
 * done() comes once per exchange, only after its request(); after
 * close() every requested exchange is done; the counters agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "exchange.h"

struct tally {
	uint64_t requests;
	uint64_t done;
	uint64_t answered;
	uint64_t next_id;
};

/* A per-exchange marker: request() sets it, done() checks and clears. */
static char requested;

static void
on_request(void *arg, struct st_exchange *ex)
{
	struct tally *t = arg;

	if (ex->user != NULL || ex->id != t->next_id)
		abort();
	if (ex->req.method[0] == '\0' || ex->req.body_len > 64 * 1024)
		abort();
	ex->user = &requested;
	t->next_id++;
	t->requests++;
}

static void
on_done(void *arg, struct st_exchange *ex, enum st_exchange_end how)
{
	struct tally *t = arg;

	if (ex->user != &requested || how >= ST_EXCHANGE_END_COUNT)
		abort();
	ex->user = NULL;
	if (how == ST_EXCHANGE_ANSWERED) {
		if (ex->resp.status < 100 || ex->resp.status > 999 ||
		    ex->resp.first_ns > ex->resp.last_ns)
			abort();
		t->answered++;
	}
	t->done++;
}

static const struct st_exchange_ops ops = {
	.request = on_request,
	.done = on_done,
};

static const uint16_t ports[] = { 80, 8080 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct st_reasm_ops *r = st_exchange_reasm_ops();
	struct st_exchange_limits limits = {
		.max_head_bytes = 8192,
		.max_body_bytes = 64 * 1024,
		.max_pending = 16,
	};
	struct st_reasm_conn_info info = { 0 };
	const struct st_exchange_stats *st;
	struct st_exchange_parser *p;
	struct tally t = { 0 };
	uint64_t ts = 1, ended = 0;
	size_t off = 1;
	void *conn;
	unsigned int i;

	if (size < 1)
		return 0;
	if (data[0] & 2) {
		limits.http_ports = ports;
		limits.nb_http_ports = 2;
	}
	if (data[0] & 4) {
		limits.max_pending = 2;
		limits.max_body_bytes = 64;
	}
	if (st_exchange_parser_create(&limits, &ops, &t, &p) != 0)
		abort();
	info.syn_seen = data[0] & 1;
	info.ep[0] = (struct st_endpoint){ .family = AF_INET, .port = 40000 };
	info.ep[1] = (struct st_endpoint){ .family = AF_INET, .port = 80 };
	conn = r->open(p, &info, ts);
	while (off < size) {
		uint8_t h = data[off++];
		int dir = h & 1;
		size_t len;

		ts++;
		switch ((h >> 1) & 3) {
		case 2:
			r->gap(conn, dir, 1 + (h >> 3), ts);
			continue;
		case 3:
			r->end(conn, dir, ts);
			continue;
		}
		if (size - off < 2)
			break;
		len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		r->data(conn, dir, data + off, len, ts);
		off += len;
	}
	r->close(conn, ST_REASM_END_FLUSH, ts + 1);

	st = st_exchange_parser_stats(p);
	for (i = 0; i < ST_EXCHANGE_END_COUNT; i++)
		ended += st->ended[i];
	if (st->requests != t.requests || ended != t.done ||
	    t.done != t.requests || st->ended[ST_EXCHANGE_ANSWERED] !=
	    t.answered || st->responses < t.answered ||
	    st->connections + st->connections_not_http > 1)
		abort();
	st_exchange_parser_free(p);
	return 0;
}
