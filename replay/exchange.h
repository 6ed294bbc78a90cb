/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_EXCHANGE_H
#define ST_EXCHANGE_H

/*
 * HTTP/1.x exchanges out of reassembled TCP streams: each request paired
 * with the primary's response as seen on the wire, with wire timestamps.
 * It is the consumer of st_reasm (st_exchange_reasm_ops()).
 *
 * Semantics a user relies on
 * --------------------------
 * - The client side is the side that sent the SYN; without one, the side
 *   whose bytes start with a request line (any method token, RFC 9110),
 *   or whose peer's port is in the configured HTTP ports.
 * - A stream picked up mid-stream is skipped up to the first request
 *   start (client side) or status line (server side); skipped bytes are
 *   counted.
 * - Requests: Content-Length or chunked bodies, pipelining, keep-alive.
 *   Responses are paired with requests in order; HEAD responses, 1xx,
 *   204 and 304 have no body whatever their headers say; a body without
 *   length ends with the connection. 1xx interim responses are skipped
 *   (the final response is the answer).
 * - Times: the request's first and last byte, the response's first and
 *   last byte, all capture times. The primary's time to first byte is
 *   resp.first_ns - req.last_ns.
 * - Bodies are de-chunked and kept up to max_body_bytes; past that they
 *   are marked truncated (a truncated request body is not replayable).
 * - After a gap in a direction, the exchanges it touches end with
 *   ST_EXCHANGE_GAP and parsing resumes at the next message start. A
 *   request cut by a gap is incomplete: it is dropped (never given to
 *   request()); a gap in the responses ends the oldest unanswered
 *   request with ST_EXCHANGE_GAP, unless the gap falls between two
 *   responses and requests were lost in a gap just before that request:
 *   the missing answers were theirs (shadowtap leaves an unmirrored
 *   request and its answer out of a keep-alive connection's copy).
 * - A response pairs only with a request whose first byte came before
 *   its own (so that responses to requests never seen are skipped).
 * - 101 Switching Protocols, or a 2xx to CONNECT, answers its request and
 *   ends HTTP on that connection; requests still waiting end
 *   ST_EXCHANGE_NO_RESPONSE.
 * - request() and done() come in order for one connection; done() may
 *   come for an exchange only after its request().
 *
 * Not thread-safe: one instance per thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reasm.h"

/* One header field as sent (name and value trimmed of spaces/tabs). */
struct st_http_field {
	const char *name;
	uint32_t name_len;
	const char *value;
	uint32_t value_len;
};

struct st_http_request {
	const char *method;	/* NUL-terminated token as sent */
	const char *target;	/* NUL-terminated request target as sent */
	const char *host;	/* Host header value, NUL-terminated; "" if none */
	uint8_t version_minor;	/* HTTP/1.x */
	const uint8_t *head;	/* the raw head, request line to empty line */
	uint32_t head_len;
	const struct st_http_field *fields;
	unsigned int nb_fields;
	const uint8_t *body;	/* de-chunked */
	uint32_t body_len;	/* bytes at body */
	bool body_truncated;	/* longer than max_body_bytes */
	uint64_t first_ns;	/* first byte of the request line */
	uint64_t last_ns;	/* last byte of the body */
};

struct st_http_response {
	int status;
	const char *reason;	/* NUL-terminated */
	const uint8_t *head;
	uint32_t head_len;
	const struct st_http_field *fields;
	unsigned int nb_fields;
	const uint8_t *body;	/* de-chunked, content-encoding as sent */
	uint32_t body_len;
	bool body_truncated;
	uint64_t first_ns;	/* first byte of the (final) status line */
	uint64_t last_ns;
};

/* How the primary's side of an exchange ended. */
enum st_exchange_end {
	ST_EXCHANGE_ANSWERED,	/* a complete response */
	ST_EXCHANGE_NO_RESPONSE, /* the connection ended first */
	ST_EXCHANGE_GAP,	/* bytes of it were lost in capture */
	ST_EXCHANGE_MALFORMED,	/* the response could not be parsed */
	ST_EXCHANGE_END_COUNT
};

/* Everything about one request, as the HTTP layer holds it. */
struct st_exchange {
	uint64_t id;		/* unique in this instance, in order */
	const struct st_reasm_conn_info *conn;
	uint64_t conn_id;	/* requests of one connection share it */
	struct st_http_request req;
	struct st_http_response resp;	/* valid in done() when ANSWERED */
	void *user;		/* the consumer's, kept from request() on */
};

/*
 * What the consumer is told. The pointers inside an exchange are valid
 * only during the call: copy what is kept.
 */
struct st_exchange_ops {
	/* A complete request (body included): replay it now if wanted. */
	void (*request)(void *arg, struct st_exchange *ex);
	/* The primary's side is over; @ex is freed after this call. */
	void (*done)(void *arg, struct st_exchange *ex,
		     enum st_exchange_end how);
};

struct st_exchange_limits {
	uint32_t max_head_bytes;	/* a longer head is malformed */
	uint32_t max_body_bytes;	/* kept per body */
	uint32_t max_pending;		/* requests awaiting a response per
					 * connection; older ones end
					 * NO_RESPONSE */
	const uint16_t *http_ports;	/* NULL: any port */
	unsigned int nb_http_ports;
};

struct st_exchange_stats {
	uint64_t connections;		/* HTTP ones */
	uint64_t connections_not_http;
	uint64_t requests;
	uint64_t responses;
	uint64_t ended[ST_EXCHANGE_END_COUNT];
	uint64_t bytes_skipped;		/* before a message start */
	uint64_t malformed_requests;
	uint64_t malformed_responses;
	uint64_t bodies_truncated;
	uint64_t interim_responses;	/* 1xx skipped */
	uint64_t requests_dropped;	/* incomplete: a gap, malformed or
					 * the connection's end cut them;
					 * request() never saw them */
	uint64_t upgrades;		/* 101, or 2xx to CONNECT: the rest
					 * of the connection is not HTTP */
};

struct st_exchange_parser;

/**
 * Create a parser.
 * @param limits  copied; max_head_bytes at least 16 (heads over 80 KiB
 *                are malformed whatever it says: libhttp-parser's bound),
 *                max_pending at least 1
 * @param ops     both callbacks are required; kept by pointer
 * @param arg     passed to the callbacks
 * @return 0, -EINVAL or -ENOMEM
 */
int st_exchange_parser_create(const struct st_exchange_limits *limits,
			      const struct st_exchange_ops *ops, void *arg,
			      struct st_exchange_parser **out);

/** Free it (NULL is fine); pending exchanges are dropped silently. */
void st_exchange_parser_free(struct st_exchange_parser *p);

/** The reassembly callbacks to pass to st_reasm_create() with @p p as
 * their arg. Their open() refuses a connection (returns NULL) only when
 * out of memory; a connection found not to be HTTP stays open and its
 * bytes are dropped unread. st_exchange_parser_free() frees connections
 * the table never closed. */
const struct st_reasm_ops *st_exchange_reasm_ops(void);

/** The counters (valid until st_exchange_parser_free()). */
const struct st_exchange_stats *
st_exchange_parser_stats(const struct st_exchange_parser *p);

#endif
