/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_RECORD_H
#define ST_RECORD_H

/*
 * One replayed exchange, complete: the captured request, how the primary
 * answered it on the wire, and what became of its copy at the shadow.
 * The engine hands each one, once, to a sink; the JSON log is one sink,
 * the comparison of primary and shadow answers another.
 *
 * Everything in a record is a bounded copy: the target and host are
 * already sanitized (replay/sanitize.h); bodies and header fields are as
 * the wire carried them, cut at the engine's bounds, so that a sink can
 * compare two answers byte for byte. A sink that stores or shows them
 * applies the same masks first (st_sanitize_header, st_sanitize_text,
 * st_sanitize_json). A record and what it points to are valid only
 * during the sink call.
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "exchange.h"

/* What became of a request's copy; every request gets exactly one. */
enum st_record_outcome {
	ST_RECORD_REPLAYED,	/* the shadow answered */
	ST_RECORD_TIMEOUT,	/* the shadow's ST_SHADOW_* failures, */
	ST_RECORD_REFUSED,	/* in the same order */
	ST_RECORD_RESET,
	ST_RECORD_ERROR,
	ST_RECORD_DRY_RUN,	/* --dry-run: nothing sent */
	ST_RECORD_SKIPPED_WRITE,	/* a write on a route without
					 * allow_writes */
	ST_RECORD_SKIPPED_BUSY,	/* live input, max_in_flight reached */
	ST_RECORD_SKIPPED_TRUNCATED,	/* body longer than max_body_bytes */
	ST_RECORD_SKIPPED_METHOD,	/* not one of the nine methods */
	ST_RECORD_SKIPPED_ROUTE,	/* its route mirrors nothing in the
					 * appliance's file (routes_from) */
	ST_RECORD_OUTCOMES
};

/* A message as kept: header fields and body, both bounded. */
struct st_record_message {
	int status;			/* 0: no answer */
	double ttfb_ms;			/* < 0: none */
	const struct st_http_field *fields;
	unsigned int nb_fields;
	bool fields_truncated;		/* more fields or bytes than kept */
	const uint8_t *body;
	uint32_t body_len;
	bool body_truncated;		/* cut here or in the capture */
};

struct st_record {
	uint64_t id;			/* the exchange's, in request order */
	uint64_t conn_id;
	int route;			/* index in the routes, or -1 */
	const char *route_name;		/* NULL when no route matched */
	const char *method;		/* the token as sent */
	const char *target;		/* sanitized */
	const char *host;		/* sanitized; "" when none */
	uint64_t ts_ns;			/* capture time of the request */
	enum st_exchange_end primary_end;
	struct st_record_message primary;	/* as seen on the wire */
	enum st_record_outcome outcome;
	struct st_record_message shadow;	/* when REPLAYED */
	/* The secondary (the primary's version, replayed too) when one is
	 * configured: the same request, at the same time as the shadow.
	 * Its outcome is one of REPLAYED..ERROR when it was asked, else the
	 * request's outcome (skipped, dry run). */
	bool has_secondary;
	enum st_record_outcome secondary_outcome;
	struct st_record_message secondary;	/* when REPLAYED */
};

/*
 * Where complete records go. Called from the engine's thread, once per
 * record, in the order exchanges complete.
 */
typedef void (*st_record_sink)(void *arg, const struct st_record *r);

/** Name of an outcome as logged ("skipped_write"); NULL if out of range. */
const char *st_record_outcome_name(enum st_record_outcome o);

/** Name of how the primary's side ended ("no_response"); NULL if out of
 * range. */
const char *st_record_end_name(enum st_exchange_end e);

/**
 * A record as its --log line: id, conn, route, method, target, host,
 * primary_status, primary_ms, primary_end, shadow_status, shadow_ms,
 * outcome, ts (RFC 3339 UTC, microseconds); with a secondary also
 * secondary_status, secondary_ms, secondary_outcome. Absent values are
 * null.
 * Thread-safe.
 *
 * @return a new JSON object, or NULL when out of memory
 */
json_t *st_record_json(const struct st_record *r);

#endif
