/* SPDX-License-Identifier: BSD-3-Clause */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier.h"
#include "decap.h"
#include "exchange.h"
#include "reasm.h"
#include "sanitize.h"
#include "shadow.h"

/*
 * What a record keeps of a message until it is complete. The comparison
 * needs headers and the start of bodies, not whole downloads: with
 * max_in_flight records waiting on the shadow, whole bodies would cost
 * max_in_flight * 2 * max_body_bytes.
 */
#define KEEP_FIELDS_MAX 64
#define KEEP_FIELD_BYTES (16 * 1024)
#define KEEP_BODY_BYTES (64 * 1024)
#define KEEP_TARGET_BYTES 2048
#define KEEP_METHOD_BYTES 32

/* Reassembly's timeouts are checked this often, in capture time: a hole
 * (a request shadowtap did not copy) costs the requests behind it about
 * hole_timeout_ms plus this. */
#define EXPIRE_PERIOD_NS 100000000ull
/* How long st_engine_poll() waits while a file waits for room. */
#define ROOM_POLL_MS 100
/* With a secondary, the wait is on the shadow's connections and the
 * caller's fds; the secondary's are looked at between slices this long
 * while it has requests in flight. Its answers are read up to this much
 * late, not timed late (kernel receive stamps), but for an https://
 * secondary, timed by libcurl: shown, never judged (compare.h). */
#define SECONDARY_SLICE_MS 1

/* Records of requests that matched no route are counted here. */
#define UNROUTED ST_MAX_ROUTES

struct kept_message {
	int status;
	double ttfb_ms;
	struct st_http_field fields[KEEP_FIELDS_MAX];
	unsigned int nb_fields;
	bool fields_truncated;
	char *field_bytes;
	uint8_t *body;
	uint32_t body_len;
	bool body_truncated;
};

/* One request, from its arrival to its record. */
struct pending {
	struct pending *prev, *next;	/* every pending of the engine */
	uint64_t id;
	uint64_t conn_id;
	int route;
	uint64_t ts_ns;
	char method[KEEP_METHOD_BYTES];
	char target[KEEP_TARGET_BYTES];
	char host[ST_REPLAY_HOST_MAX];
	bool primary_done;
	bool shadow_done;	/* answered, failed, or never sent */
	bool secondary_done;	/* likewise; true without a secondary */
	enum st_exchange_end primary_end;
	enum st_record_outcome outcome;
	enum st_record_outcome secondary_outcome;
	struct kept_message primary;
	struct kept_message shadow;
	struct kept_message secondary;
};

struct route_counters {
	uint64_t records;
	uint64_t outcome[ST_RECORD_OUTCOMES];
};

struct st_engine {
	struct st_engine_opts opts;
	enum st_decap_mode decap_mode;
	uint32_t keep_body_bytes;
	uint32_t finish_timeout_ms;	/* the longer of both clients' */
	struct st_classifier *classifier;
	struct st_classifier_scratch *scratch;
	struct st_sanitizer *sanitizer;
	struct st_exchange_parser *parser;
	struct st_reasm *reasm;
	struct st_shadow *shadow;
	struct st_shadow *secondary;	/* NULL: none configured */
	st_record_sink sink;
	void *sink_arg;
	struct pending *pendings;	/* list head */
	uint64_t next_expire_ns;
	uint64_t last_ts_ns;
	uint64_t decap[ST_DECAP_RESULTS];
	uint64_t records_out_of_memory;	/* requests that got no record */
	unsigned int nb_routes;
	char route_names[ST_MAX_ROUTES][ST_NAME_MAX];
	bool allow_writes[ST_MAX_ROUTES];
	uint64_t replayed;	/* bit i: route i's requests are replayed */
	struct route_counters routes[ST_MAX_ROUTES + 1];
};

/* --- records ------------------------------------------------------------- */

static void
keep_message(struct kept_message *k, int status, double ttfb_ms,
	     const struct st_http_field *fields, unsigned int nb_fields,
	     const uint8_t *body, uint32_t body_len, bool body_truncated,
	     uint32_t body_max)
{
	size_t bytes = 0, used = 0;
	unsigned int i, n;

	k->status = status;
	k->ttfb_ms = ttfb_ms;
	for (n = 0; n < nb_fields && n < KEEP_FIELDS_MAX; n++) {
		if (bytes + fields[n].name_len + fields[n].value_len >
		    KEEP_FIELD_BYTES)
			break;
		bytes += fields[n].name_len + fields[n].value_len;
	}
	k->field_bytes = bytes > 0 ? malloc(bytes) : NULL;
	if (bytes > 0 && k->field_bytes == NULL)
		n = 0;
	k->fields_truncated = n < nb_fields;
	for (i = 0; i < n; i++) {
		struct st_http_field *f = &k->fields[i];

		memcpy(k->field_bytes + used, fields[i].name,
		       fields[i].name_len);
		f->name = k->field_bytes + used;
		f->name_len = fields[i].name_len;
		used += f->name_len;
		memcpy(k->field_bytes + used, fields[i].value,
		       fields[i].value_len);
		f->value = k->field_bytes + used;
		f->value_len = fields[i].value_len;
		used += f->value_len;
	}
	k->nb_fields = n;
	k->body_len = body_len < body_max ? body_len : body_max;
	k->body = k->body_len > 0 ? malloc(k->body_len) : NULL;
	if (k->body == NULL)
		k->body_len = 0;
	else
		memcpy(k->body, body, k->body_len);
	k->body_truncated = body_truncated || k->body_len < body_len;
}

static void
message_view(const struct kept_message *k, struct st_record_message *m)
{
	*m = (struct st_record_message){
		.status = k->status,
		.ttfb_ms = k->ttfb_ms,
		.fields = k->fields,
		.nb_fields = k->nb_fields,
		.fields_truncated = k->fields_truncated,
		.body = k->body,
		.body_len = k->body_len,
		.body_truncated = k->body_truncated,
	};
}

static void
pending_free(struct st_engine *e, struct pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		e->pendings = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	free(p->primary.field_bytes);
	free(p->primary.body);
	free(p->shadow.field_bytes);
	free(p->shadow.body);
	free(p->secondary.field_bytes);
	free(p->secondary.body);
	free(p);
}

/* Both sides are in: count the record, hand it over, forget it. */
static void
emit(struct st_engine *e, struct pending *p)
{
	struct route_counters *rc =
		&e->routes[p->route >= 0 ? (unsigned int)p->route : UNROUTED];
	struct st_record r = {
		.id = p->id,
		.conn_id = p->conn_id,
		.route = p->route,
		.route_name = p->route >= 0 ? e->route_names[p->route] : NULL,
		.method = p->method,
		.target = p->target,
		.host = p->host,
		.ts_ns = p->ts_ns,
		.primary_end = p->primary_end,
		.outcome = p->outcome,
		.has_secondary = e->secondary != NULL,
		.secondary_outcome = p->secondary_outcome,
	};

	message_view(&p->primary, &r.primary);
	message_view(&p->shadow, &r.shadow);
	message_view(&p->secondary, &r.secondary);
	rc->records++;
	rc->outcome[p->outcome]++;
	e->sink(e->sink_arg, &r);
	pending_free(e, p);
}

/* --- the shadow's side --------------------------------------------------- */

static enum st_record_outcome
outcome_of(enum st_shadow_outcome o)
{
	switch (o) {
	case ST_SHADOW_ANSWERED:
		return ST_RECORD_REPLAYED;
	case ST_SHADOW_TIMEOUT:
		return ST_RECORD_TIMEOUT;
	case ST_SHADOW_REFUSED:
		return ST_RECORD_REFUSED;
	case ST_SHADOW_RESET:
		return ST_RECORD_RESET;
	default:
		return ST_RECORD_ERROR;
	}
}

static bool
all_done(const struct pending *p)
{
	return p->primary_done && p->shadow_done && p->secondary_done;
}

static void
keep_answer(const struct st_engine *e, struct kept_message *k,
	    const struct st_shadow_response *resp)
{
	if (resp->outcome == ST_SHADOW_ANSWERED)
		keep_message(k, resp->status, resp->ttfb_ms, resp->fields,
			     resp->nb_fields, resp->body, resp->body_len,
			     resp->body_truncated, e->keep_body_bytes);
}

/* One client's side of @p p is over. */
static void
side_done(struct st_engine *e, struct pending *p, bool secondary,
	  const struct st_shadow_response *resp)
{
	if (secondary) {
		p->secondary_outcome = outcome_of(resp->outcome);
		keep_answer(e, &p->secondary, resp);
		p->secondary_done = true;
	} else {
		p->outcome = outcome_of(resp->outcome);
		keep_answer(e, &p->shadow, resp);
		p->shadow_done = true;
	}
	if (all_done(p))
		emit(e, p);
}

static void
on_shadow_done(void *arg, void *user, const struct st_shadow_response *resp)
{
	side_done(arg, user, false, resp);
}

static void
on_secondary_done(void *arg, void *user,
		  const struct st_shadow_response *resp)
{
	side_done(arg, user, true, resp);
}

/* Hand a request to a client (the shadow or the secondary); the outcome
 * when it is not taken. */
static bool
submit(struct st_engine *e, struct st_shadow *client, struct pending *p,
       const struct st_exchange *ex, enum st_record_outcome *outcome)
{
	const struct st_http_request *req = &ex->req;
	struct st_shadow_request sr = {
		.method = req->method,
		.target = req->target,
		.host = req->host,
		.fields = req->fields,
		.nb_fields = req->nb_fields,
		.body = req->body,
		.body_len = req->body_len,
		.conn_id = ex->conn_id,
		.user = p,
	};
	int rc = st_shadow_submit(client, &sr);

	/* A file waits for room: what a run replays must not depend on
	 * how fast the shadow answered. The done() calls this poll makes
	 * complete other pendings, never this one. */
	while (rc == -EBUSY && e->opts.wait_for_room) {
		if (st_shadow_poll(client, NULL, 0, ROOM_POLL_MS) < 0)
			break;
		rc = st_shadow_submit(client, &sr);
	}
	if (rc == 0)
		return true;
	*outcome = rc == -EBUSY ? ST_RECORD_SKIPPED_BUSY : ST_RECORD_ERROR;
	return false;
}

/* --- the primary's side -------------------------------------------------- */

/* The method token as an enum st_http_method, or -1 for another one. */
static int
method_of(const char *token)
{
	int m;

	for (m = 0; m < ST_HTTP_METHODS; m++)
		if (strcmp(token, st_http_method_name(m)) == 0)
			return m;
	return -1;
}

static bool
is_read(int method)
{
	return method == ST_HTTP_GET || method == ST_HTTP_HEAD ||
	       method == ST_HTTP_OPTIONS;
}

static void
on_request(void *arg, struct st_exchange *ex)
{
	struct st_engine *e = arg;
	const struct st_http_request *req = &ex->req;
	struct pending *p = calloc(1, sizeof(*p));
	int method, route = ST_ROUTE_NONE;

	ex->user = p;
	if (p == NULL) {
		e->records_out_of_memory++;
		return;
	}
	p->next = e->pendings;
	if (p->next != NULL)
		p->next->prev = p;
	e->pendings = p;
	p->id = ex->id;
	p->conn_id = ex->conn_id;
	p->ts_ns = req->first_ns;
	p->primary.ttfb_ms = -1;
	p->shadow.ttfb_ms = -1;
	p->secondary.ttfb_ms = -1;
	snprintf(p->method, sizeof(p->method), "%s", req->method);
	st_sanitize_text(e->sanitizer, req->target, strlen(req->target),
			 p->target, sizeof(p->target));
	st_sanitize_text(e->sanitizer, req->host, strlen(req->host), p->host,
			 sizeof(p->host));
	method = method_of(req->method);
	if (method >= 0)
		route = st_classifier_match(e->classifier, e->scratch,
					    req->head, req->head_len,
					    (enum st_http_method)method);
	p->route = route >= 0 ? route : -1;
	p->shadow_done = true;
	if (method < 0)
		p->outcome = ST_RECORD_SKIPPED_METHOD;
	else if (p->route >= 0 && !(e->replayed >> p->route & 1))
		p->outcome = ST_RECORD_SKIPPED_ROUTE;
	else if (!is_read(method) &&
		 (p->route < 0 || !e->allow_writes[p->route]))
		p->outcome = ST_RECORD_SKIPPED_WRITE;
	else if (req->body_truncated)
		p->outcome = ST_RECORD_SKIPPED_TRUNCATED;
	else if (e->opts.dry_run)
		p->outcome = ST_RECORD_DRY_RUN;
	else
		p->shadow_done = !submit(e, e->shadow, p, ex, &p->outcome);
	/* The secondary is asked what the shadow was asked, no more. */
	p->secondary_outcome = p->outcome;
	p->secondary_done = e->secondary == NULL || p->shadow_done ||
			    !submit(e, e->secondary, p, ex,
				    &p->secondary_outcome);
}

static void
on_exchange_done(void *arg, struct st_exchange *ex, enum st_exchange_end how)
{
	struct st_engine *e = arg;
	struct pending *p = ex->user;

	if (p == NULL)	/* a request never complete, or no memory */
		return;
	p->primary_end = how;
	if (how == ST_EXCHANGE_ANSWERED)
		keep_message(&p->primary, ex->resp.status,
			     (double)((int64_t)ex->resp.first_ns -
				      (int64_t)ex->req.last_ns) / 1e6,
			     ex->resp.fields, ex->resp.nb_fields,
			     ex->resp.body, ex->resp.body_len,
			     ex->resp.body_truncated, e->keep_body_bytes);
	p->primary_done = true;
	if (all_done(p))
		emit(e, p);
}

/* --- the engine ---------------------------------------------------------- */

static int
create_parts(struct st_engine *e, const struct st_replay_conf *conf,
	     char *err, size_t errlen)
{
	/* Static: the parser keeps the pointer. */
	static const struct st_exchange_ops ops = {
		.request = on_request,
		.done = on_exchange_done,
	};
	const struct st_replay_limits_conf *l = &conf->limits;
	const struct st_exchange_limits xl = {
		.max_head_bytes = l->max_head_bytes,
		.max_body_bytes = l->max_body_bytes,
		.max_pending = l->max_pending,
		.http_ports = conf->routes.http.nb_ports > 0 ?
				      conf->routes.http.ports :
				      NULL,
		.nb_http_ports = conf->routes.http.nb_ports,
	};
	const struct st_reasm_limits rl = {
		.max_connections = l->max_connections,
		.max_stream_bytes = l->max_stream_bytes,
		.max_total_bytes = l->max_total_bytes,
		.idle_timeout_ms = l->idle_timeout_ms,
		.hole_timeout_ms = l->hole_timeout_ms,
	};
	char why[512];
	int rc;

	rc = st_classifier_create(&conf->routes, &e->classifier, err, errlen);
	if (rc != 0)
		return rc;
	rc = st_classifier_scratch_alloc(e->classifier, &e->scratch);
	if (rc != 0) {
		snprintf(err, errlen, "classifier: %s", strerror(-rc));
		return rc;
	}
	rc = st_sanitizer_create(&conf->sanitize, &e->sanitizer, why,
				 sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: %s", conf->path,
			 conf->sanitize.line, why);
		return rc;
	}
	rc = st_exchange_parser_create(&xl, &ops, e, &e->parser);
	if (rc == 0)
		rc = st_reasm_create(&rl, st_exchange_reasm_ops(), e->parser,
				     &e->reasm);
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: limits: %s", conf->path,
			 l->line, strerror(-rc));
		return rc;
	}
	if (e->opts.dry_run)
		return 0;
	rc = st_shadow_create(&conf->shadow, e->sanitizer, e->keep_body_bytes,
			      on_shadow_done, e, &e->shadow, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: %s", conf->path,
			 conf->shadow.line, why);
		return rc;
	}
	if (!conf->has_secondary)
		return 0;
	rc = st_shadow_create(&conf->secondary, e->sanitizer,
			      e->keep_body_bytes, on_secondary_done, e,
			      &e->secondary, why, sizeof(why));
	/* The client names its keys "shadow.KEY": these are not. */
	if (rc != 0)
		snprintf(err, errlen, "%s:%d: secondary%s%s", conf->path,
			 conf->secondary.line,
			 strncmp(why, "shadow.", 7) == 0 ? "." : ": ",
			 strncmp(why, "shadow.", 7) == 0 ? why + 7 : why);
	return rc;
}

int
st_engine_create(const struct st_replay_conf *conf,
		 const struct st_engine_opts *opts, st_record_sink sink,
		 void *sink_arg, struct st_engine **out, char *err,
		 size_t errlen)
{
	struct st_engine *e;
	unsigned int i;
	int rc;

	if (!conf->has_shadow && !opts->dry_run) {
		snprintf(err, errlen, "%s: no shadow: section: say where to "
			 "replay, or run with --dry-run", conf->path);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->opts = *opts;
	e->decap_mode = conf->capture.decap;
	e->keep_body_bytes = conf->limits.max_body_bytes < KEEP_BODY_BYTES ?
				     conf->limits.max_body_bytes :
				     KEEP_BODY_BYTES;
	e->finish_timeout_ms = conf->shadow.timeout_ms;
	if (conf->has_secondary &&
	    conf->secondary.timeout_ms > e->finish_timeout_ms)
		e->finish_timeout_ms = conf->secondary.timeout_ms;
	e->sink = sink;
	e->sink_arg = sink_arg;
	e->nb_routes = conf->routes.nb_routes;
	for (i = 0; i < e->nb_routes; i++) {
		memcpy(e->route_names[i], conf->routes.routes[i].name,
		       ST_NAME_MAX);
		e->allow_writes[i] = conf->routes.routes[i].allow_writes;
	}
	e->replayed = conf->replayed;
	rc = create_parts(e, conf, err, errlen);
	if (rc != 0) {
		st_engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void
st_engine_free(struct st_engine *e)
{
	if (e == NULL)
		return;
	/* The clients first: they hold pendings as their requests' user. */
	st_shadow_free(e->shadow);
	st_shadow_free(e->secondary);
	st_reasm_free(e->reasm);
	st_exchange_parser_free(e->parser);
	while (e->pendings != NULL)
		pending_free(e, e->pendings);
	st_sanitizer_free(e->sanitizer);
	st_classifier_scratch_free(e->scratch);
	st_classifier_free(e->classifier);
	free(e);
}

void
st_engine_packet(struct st_engine *e, const uint8_t *frame, uint32_t caplen,
		 uint32_t wirelen, uint64_t ts_ns)
{
	struct st_tcp_segment seg;
	enum st_decap_result r;

	r = st_decap(frame, caplen, wirelen, e->decap_mode, &seg);
	e->decap[r < ST_DECAP_RESULTS ? r : ST_DECAP_MALFORMED]++;
	if (ts_ns > e->last_ts_ns)
		e->last_ts_ns = ts_ns;
	if (r == ST_DECAP_OK) {
		seg.ts_ns = ts_ns;
		st_reasm_segment(e->reasm, &seg);
	}
	if (ts_ns >= e->next_expire_ns) {
		st_reasm_expire(e->reasm, ts_ns);
		e->next_expire_ns = ts_ns + EXPIRE_PERIOD_NS;
	}
}

void
st_engine_expire(struct st_engine *e, uint64_t now_ns)
{
	st_reasm_expire(e->reasm, now_ns);
}

int
st_engine_poll(struct st_engine *e, struct pollfd *extra,
	       unsigned int nb_extra, int timeout_ms)
{
	int n;

	if (e->secondary != NULL && st_shadow_in_flight(e->secondary) > 0) {
		n = st_shadow_poll(e->secondary, NULL, 0, 0);
		if (n < 0)
			return n;
		if (timeout_ms > SECONDARY_SLICE_MS)
			timeout_ms = SECONDARY_SLICE_MS;
	}
	if (e->shadow != NULL)
		return st_shadow_poll(e->shadow, extra, nb_extra, timeout_ms);
	n = poll(extra, nb_extra, timeout_ms);
	return n < 0 && errno != EINTR ? -errno : (n < 0 ? 0 : n);
}

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned int
in_flight(const struct st_engine *e)
{
	return st_shadow_in_flight(e->shadow) +
	       (e->secondary != NULL ? st_shadow_in_flight(e->secondary) : 0);
}

void
st_engine_finish(struct st_engine *e, uint64_t now_ns)
{
	uint64_t deadline = monotonic_ms() + e->finish_timeout_ms;
	struct pending *p, *next;

	st_reasm_flush(e->reasm, now_ns > e->last_ts_ns ? now_ns :
							  e->last_ts_ns);
	while (e->shadow != NULL && in_flight(e) > 0 &&
	       monotonic_ms() < deadline)
		if (st_engine_poll(e, NULL, 0, ROOM_POLL_MS) < 0)
			break;
	/* Whatever is left waited longer than its client's timeout allows:
	 * timed out, as far as the record is concerned. */
	for (p = e->pendings; p != NULL; p = next) {
		next = p->next;
		if (!p->primary_done)
			continue;
		if (!p->shadow_done)
			p->outcome = ST_RECORD_TIMEOUT;
		if (!p->secondary_done)
			p->secondary_outcome = ST_RECORD_TIMEOUT;
		emit(e, p);
	}
}

/* --- counters ------------------------------------------------------------ */

static json_t *
outcomes_json(const uint64_t *n)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < ST_RECORD_OUTCOMES; i++)
		json_object_set_new(o, st_record_outcome_name(i),
				    json_integer((json_int_t)n[i]));
	return o;
}

static json_t *
route_json(const struct route_counters *rc)
{
	return json_pack("{s:I, s:I, s:o}", "exchanges",
			 (json_int_t)rc->records, "replayed",
			 (json_int_t)rc->outcome[ST_RECORD_REPLAYED],
			 "outcomes", outcomes_json(rc->outcome));
}

static json_t *
reasm_json(const struct st_reasm_stats *s)
{
	static const char *const ends[ST_REASM_END_COUNT] = {
		"fin", "rst", "idle", "evicted", "flush",
	};
	json_t *ended = json_object();
	int i;

	for (i = 0; i < ST_REASM_END_COUNT; i++)
		json_object_set_new(ended, ends[i],
				    json_integer((json_int_t)s->ended[i]));
	return json_pack(
		"{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, "
		"s:I, s:I}, s:I}",
		"segments", (json_int_t)s->segments, "connections",
		(json_int_t)s->connections, "connections_active",
		(json_int_t)s->connections_active, "ended", ended,
		"bytes_delivered", (json_int_t)s->bytes_delivered,
		"bytes_retransmitted", (json_int_t)s->bytes_retransmitted,
		"gaps", (json_int_t)s->gaps, "gap_bytes",
		(json_int_t)s->gap_bytes, "dropped", "stream_bound",
		(json_int_t)s->dropped_stream_bound, "total_bound",
		(json_int_t)s->dropped_total_bound, "segments_ignored",
		(json_int_t)s->segments_ignored, "segments_after_close",
		(json_int_t)s->segments_after_close, "segments_no_conn",
		(json_int_t)s->segments_no_conn, "bytes_buffered",
		(json_int_t)s->bytes_buffered);
}

static json_t *
exchanges_json(const struct st_exchange_stats *s)
{
	json_t *ended = json_object();
	int i;

	for (i = 0; i < ST_EXCHANGE_END_COUNT; i++)
		json_object_set_new(ended, st_record_end_name(i),
				    json_integer((json_int_t)s->ended[i]));
	return json_pack(
		"{s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"connections", (json_int_t)s->connections,
		"connections_not_http", (json_int_t)s->connections_not_http,
		"requests", (json_int_t)s->requests, "responses",
		(json_int_t)s->responses, "ended", ended, "bytes_skipped",
		(json_int_t)s->bytes_skipped, "malformed_requests",
		(json_int_t)s->malformed_requests, "malformed_responses",
		(json_int_t)s->malformed_responses, "bodies_truncated",
		(json_int_t)s->bodies_truncated, "interim_responses",
		(json_int_t)s->interim_responses, "requests_dropped",
		(json_int_t)s->requests_dropped, "upgrades",
		(json_int_t)s->upgrades);
}

static json_t *
shadow_json(const struct st_shadow *shadow)
{
	const struct st_shadow_stats *s;
	json_t *outcomes;
	int i;

	if (shadow == NULL)
		return json_null();
	s = st_shadow_stats(shadow);
	outcomes = json_object();
	for (i = 0; i < ST_SHADOW_OUTCOMES; i++)
		json_object_set_new(outcomes, st_shadow_outcome_name(i),
				    json_integer((json_int_t)s->outcome[i]));
	return json_pack("{s:I, s:I, s:I, s:o, s:I, s:I}", "submitted",
			 (json_int_t)s->submitted, "busy",
			 (json_int_t)s->busy, "in_flight",
			 (json_int_t)st_shadow_in_flight(shadow), "outcomes",
			 outcomes, "bytes_sent", (json_int_t)s->bytes_sent,
			 "bytes_received", (json_int_t)s->bytes_received);
}

const struct st_sanitizer *
st_engine_sanitizer(const struct st_engine *e)
{
	return e->sanitizer;
}

json_t *
st_engine_stats_json(const struct st_engine *e)
{
	struct route_counters total = { 0 };
	json_t *decap = json_object(), *routes = json_object();
	unsigned int i;
	int j;

	for (j = 0; j < ST_DECAP_RESULTS; j++)
		json_object_set_new(decap, st_decap_result_name(j),
				    json_integer((json_int_t)e->decap[j]));
	for (i = 0; i <= e->nb_routes; i++) {
		const struct route_counters *rc =
			&e->routes[i < e->nb_routes ? i : UNROUTED];

		total.records += rc->records;
		for (j = 0; j < ST_RECORD_OUTCOMES; j++)
			total.outcome[j] += rc->outcome[j];
		if (i < e->nb_routes)
			json_object_set_new(routes, e->route_names[i],
					    route_json(rc));
	}
	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:o}, s:o, s:o}",
		"decap",
		decap, "reasm", reasm_json(st_reasm_stats(e->reasm)),
		"exchanges",
		exchanges_json(st_exchange_parser_stats(e->parser)), 
		"shadow", shadow_json(e->shadow), "secondary",
		shadow_json(e->secondary), "records", "total",
		(json_int_t)total.records, "out_of_memory",
		(json_int_t)e->records_out_of_memory, "outcomes",
		outcomes_json(total.outcome), "routes", routes, "unrouted",
		route_json(&e->routes[UNROUTED]));
}
