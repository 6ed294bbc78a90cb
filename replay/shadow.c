/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shadow client's API and what its two transports share (see
 * shadow_int.h): lanes, slots, the request as the shadow gets it, the
 * report of an answer.
 *
 * Why two transports: http:// goes through our own epoll client
 * (shadow_http.c) because libcurl's multi interface costs more than the
 * replay can afford. Profiled against nginx on one core (perf/replay),
 * libcurl 7.88 spends about 22 us of its own per request (some 2.3 extra
 * poll() calls per request, a liveness check of every reused connection)
 * and alone tops out near 0.5 of wrk's rate, before the replay has
 * extracted anything. Our client makes one send() and one recv() per
 * request and an epoll_wait() per 6 (strace -c of a --fast replay). On
 * a quiet machine (perf/RESULTS.md) the replay reaches 0.57 of wrk's rate
 * with it, against 0.18 to 0.20 with libcurl. https:// stays with
 * libcurl (shadow_curl.c): TLS is not ours to write, and there the
 * handshakes and ciphers dwarf what libcurl adds.
 */
#include "shadow_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* A recycled request keeps its buffers up to this size: most answers fit,
 * and a few large ones do not pin memory for good. */
#define KEEP_BUF_BYTES 16384
/* Fields a recycled request keeps room for. */
#define KEEP_FIELDS 256
/* Lanes hash: buckets for max_in_flight lanes, within reason. */
#define MAX_BUCKETS 65536

/* Hop-by-hop and framing fields, set by the transport or meaningless on
 * the shadow's connection; Host is set per host mode. Proxy-* too. */
static const char *const own_fields[] = {
	"host", "connection", "keep-alive", "transfer-encoding",
	"content-length", "expect", "te", "upgrade",
};

static const char *const outcome_names[ST_SHADOW_OUTCOMES] = {
	[ST_SHADOW_ANSWERED] = "answered",
	[ST_SHADOW_TIMEOUT] = "timeout",
	[ST_SHADOW_REFUSED] = "refused",
	[ST_SHADOW_RESET] = "reset",
	[ST_SHADOW_ERROR] = "error",
};

const char *
st_shadow_outcome_name(enum st_shadow_outcome o)
{
	return (unsigned int)o < ST_SHADOW_OUTCOMES ? outcome_names[o] : "?";
}

int
shadow_buf_add(struct shadow_buf *b, const void *p, size_t n, size_t limit)
{
	if (n == 0)
		return 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap > 0 ? b->cap * 2 : 1024;
		char *d;

		if (cap < b->len + n)
			cap = b->len + n;
		if (cap > limit)
			cap = limit;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
shadow_buf_recycle(struct shadow_buf *b)
{
	b->len = 0;
	if (b->cap > KEEP_BUF_BYTES) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

int
shadow_keep_body(struct shadow_xfer *x, const char *p, size_t len)
{
	size_t keep = x->max_body_bytes - x->body.len;

	/* Past the limit the body is still read, so that the connection
	 * stays usable, and dropped. */
	if (keep < len)
		x->body_truncated = true;
	else
		keep = len;
	return shadow_buf_add(&x->body, p, keep, x->max_body_bytes);
}

static int
fields_add(struct st_shadow *s, const void *p, size_t n)
{
	return shadow_buf_add(&s->fields, p, n, SIZE_MAX);
}

static bool
name_eq(const char *name, size_t len, const char *lower)
{
	return strlen(lower) == len && strncasecmp(name, lower, len) == 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether a Connection field of the request names @p f (RFC 9110
 * section 7.6.1: such fields are hop-by-hop too). */
static bool
named_by_connection(const struct st_shadow_request *req,
		    const struct st_http_field *f)
{
	unsigned int i;

	for (i = 0; i < req->nb_fields; i++) {
		const struct st_http_field *c = &req->fields[i];
		const char *p = c->value, *end = c->value + c->value_len;

		if (!name_eq(c->name, c->name_len, "connection"))
			continue;
		while (p < end) {
			const char *tok, *tok_end;

			while (p < end && (is_space(*p) || *p == ','))
				p++;
			tok = p;
			while (p < end && *p != ',')
				p++;
			tok_end = p;
			while (tok_end > tok && is_space(tok_end[-1]))
				tok_end--;
			if (tok_end > tok &&
			    (size_t)(tok_end - tok) == f->name_len &&
			    strncasecmp(tok, f->name, f->name_len) == 0)
				return true;
		}
	}
	return false;
}

static bool
is_own_field(const struct st_shadow *s, const struct st_http_field *f)
{
	unsigned int i;

	for (i = 0; i < sizeof(own_fields) / sizeof(own_fields[0]); i++)
		if (name_eq(f->name, f->name_len, own_fields[i]))
			return true;
	if (f->name_len >= 6 && strncasecmp(f->name, "proxy-", 6) == 0)
		return true;
	return s->conf.mark_header[0] != '\0' &&
	       name_eq(f->name, f->name_len, s->conf.mark_header);
}

static bool
has_field(const struct st_shadow_request *req, const char *lower)
{
	unsigned int i;

	for (i = 0; i < req->nb_fields; i++)
		if (name_eq(req->fields[i].name, req->fields[i].name_len,
			    lower))
			return true;
	return false;
}

/* Add "name: value" ("name:" when the value is empty) to the request's
 * fields. */
static int
add_field(struct st_shadow *s, const char *name, size_t name_len,
	  const char *value, size_t value_len)
{
	if (fields_add(s, name, name_len) < 0 || fields_add(s, ":", 1) < 0 ||
	    (value_len > 0 && (fields_add(s, " ", 1) < 0 ||
			       fields_add(s, value, value_len) < 0)) ||
	    fields_add(s, "\r\n", 2) < 0)
		return -ENOMEM;
	return 0;
}

/* A captured request target, as the shadow is to get it. */
struct target {
	const char *path;	/* after the authority, or the whole target */
	bool slash;		/* a '/' goes before path ("" or "?q") */
	bool asterisk;		/* "*" */
	const char *authority;	/* of an absolute-form target */
	size_t authority_len;
};

static int
parse_target(const char *t, struct target *out)
{
	const char *p = t;

	memset(out, 0, sizeof(*out));
	if (t[0] == '/') {
		out->path = t;
		return 0;
	}
	if (strcmp(t, "*") == 0) {
		out->asterisk = true;
		return 0;
	}
	/* absolute-form: scheme "://" authority [path] ["?" query] */
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	       (p > t && ((*p >= '0' && *p <= '9') || *p == '+' ||
			  *p == '-' || *p == '.')))
		p++;
	if (p == t || strncmp(p, "://", 3) != 0)
		return -EINVAL;
	out->authority = p + 3;
	out->authority_len = strcspn(out->authority, "/?");
	out->path = out->authority + out->authority_len;
	out->slash = out->path[0] != '/';
	return 0;
}

/* The Host field per host mode; the url's authority when there is no
 * captured host to keep or suffix, as a client of the url sends. */
static int
add_host(struct st_shadow *s, const struct target *tgt, const char *captured)
{
	const char *h = captured != NULL ? captured : "";
	size_t len = strlen(h), name_end;

	if (tgt->authority_len > 0) {
		h = tgt->authority;
		len = tgt->authority_len;
	}
	if (s->conf.host_mode == ST_REPLAY_HOST_SET)
		return add_field(s, "Host", 4, s->conf.host,
				 strlen(s->conf.host));
	if (len == 0)
		return add_field(s, "Host", 4, s->authority,
				 strlen(s->authority));
	if (s->conf.host_mode == ST_REPLAY_HOST_KEEP)
		return add_field(s, "Host", 4, h, len);
	/* SUFFIX: after the name, before ":port"; an IPv6 literal's name
	 * ends at its ']'. */
	if (h[0] == '[') {
		const char *close = memchr(h, ']', len);

		name_end = close != NULL ? (size_t)(close - h) + 1 : len;
	} else {
		const char *colon = memchr(h, ':', len);

		name_end = colon != NULL ? (size_t)(colon - h) : len;
	}
	if (fields_add(s, "Host: ", 6) < 0 || fields_add(s, h, name_end) < 0 ||
	    fields_add(s, s->conf.host, strlen(s->conf.host)) < 0 ||
	    fields_add(s, h + name_end, len - name_end) < 0 ||
	    fields_add(s, "\r\n", 2) < 0)
		return -ENOMEM;
	return 0;
}

/* The request's fields, in order, as the shadow is to get them. */
static int
add_fields(struct st_shadow *s, const struct st_shadow_request *req,
	   const struct target *tgt)
{
	unsigned int i;
	int rc;

	s->fields.len = 0;
	rc = add_host(s, tgt, req->host);
	for (i = 0; rc == 0 && i < req->nb_fields; i++) {
		const struct st_http_field *f = &req->fields[i];
		const char *value = f->value;
		size_t value_len = f->value_len;

		if (is_own_field(s, f) || named_by_connection(req, f))
			continue;
		if (s->san != NULL) {
			switch (st_sanitize_header(s->san, f->name, f->name_len,
						   &value)) {
			case ST_SANITIZE_DROP:
				continue;
			case ST_SANITIZE_REPLACE:
				value_len = strlen(value);
				break;
			case ST_SANITIZE_KEEP:
				break;
			}
		}
		rc = add_field(s, f->name, f->name_len, value, value_len);
	}
	if (rc == 0 && s->conf.mark_header[0] != '\0')
		rc = add_field(s, s->conf.mark_header,
			       strlen(s->conf.mark_header), s->conf.mark_value,
			       strlen(s->conf.mark_value));
	return rc;
}

/* The target as sent, NUL-terminated: byte for byte after the url's path,
 * no dot-segment removal, no re-encoding. */
static int
set_target(struct st_shadow *s, const struct target *tgt)
{
	struct shadow_buf *b = &s->target;

	b->len = 0;
	if (tgt->asterisk)
		return shadow_buf_add(b, "*", 2, SIZE_MAX) < 0 ? -ENOMEM : 0;
	if (shadow_buf_add(b, s->prefix, strlen(s->prefix), SIZE_MAX) < 0 ||
	    (tgt->slash && shadow_buf_add(b, "/", 1, SIZE_MAX) < 0) ||
	    shadow_buf_add(b, tgt->path, strlen(tgt->path) + 1, SIZE_MAX) < 0)
		return -ENOMEM;
	return 0;
}

static bool
is_token(const char *t)
{
	static const char specials[] = "!#$%&'*+-.^_`|~";

	if (*t == '\0')
		return false;
	for (; *t != '\0'; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || strchr(specials, *t) != NULL))
			return false;
	return true;
}

/* @p req as the shadow is to get it, in s->target and s->fields. */
static int
build(struct st_shadow *s, const struct st_shadow_request *req,
      struct shadow_msg *m)
{
	struct target tgt;
	int rc;

	if (req->method == NULL || !is_token(req->method) ||
	    req->target == NULL || parse_target(req->target, &tgt) < 0)
		return -EINVAL;
	m->method = req->method;
	m->head = strcmp(req->method, "HEAD") == 0;
	m->with_body = !m->head && (req->body_len > 0 ||
				    has_field(req, "content-length") ||
				    has_field(req, "transfer-encoding"));
	m->body = req->body_len > 0 ? req->body : NULL;
	m->body_len = req->body_len;
	rc = set_target(s, &tgt);
	if (rc == 0)
		rc = add_fields(s, req, &tgt);
	m->target = s->target.data;
	m->fields = s->fields.data;
	m->fields_len = s->fields.len;
	return rc;
}

static struct shadow_xfer **
bucket_of(struct st_shadow *s, uint64_t conn_id)
{
	/* Fibonacci hashing: conn_ids are often consecutive. */
	return &s->buckets[(conn_id * 0x9e3779b97f4a7c15ull) >> 32 &
			   s->bucket_mask];
}

static void
ready_push(struct st_shadow *s, struct shadow_xfer *x)
{
	x->next = NULL;
	if (s->ready_tail != NULL)
		s->ready_tail->next = x;
	else
		s->ready_head = x;
	s->ready_tail = x;
}

/* Queue @p x behind its conn_id's earlier requests, or make it ready
 * when there are none. */
static void
lane_add(struct st_shadow *s, struct shadow_xfer *x)
{
	struct shadow_xfer **b = bucket_of(s, x->conn_id), *h;

	x->lane_next = NULL;
	for (h = *b; h != NULL; h = h->bucket_next) {
		if (h->conn_id == x->conn_id) {
			h->lane_tail->lane_next = x;
			h->lane_tail = x;
			return;
		}
	}
	x->lane_tail = x;
	x->bucket_next = *b;
	*b = x;
	ready_push(s, x);
}

/* @p x, a lane head, is done: the next request of its conn_id (if any)
 * becomes the lane head and is ready. */
static void
lane_advance(struct st_shadow *s, struct shadow_xfer *x)
{
	struct shadow_xfer **pp = bucket_of(s, x->conn_id),
			   *next = x->lane_next;

	while (*pp != x)
		pp = &(*pp)->bucket_next;
	if (next == NULL) {
		*pp = x->bucket_next;
		return;
	}
	next->lane_tail = x->lane_tail;
	next->bucket_next = x->bucket_next;
	*pp = next;
	ready_push(s, next);
}

/* Hand ready requests to the transport while connection slots are
 * free. */
static void
start_ready(struct st_shadow *s)
{
	while (s->active < s->conf.connections && s->ready_head != NULL) {
		struct shadow_xfer *x = s->ready_head;

		s->ready_head = x->next;
		if (s->ready_head == NULL)
			s->ready_tail = NULL;
		s->active++;
		s->tp->start(s, x);
	}
}

static struct shadow_xfer *
xfer_get(struct st_shadow *s)
{
	struct shadow_xfer *x = s->free_list;

	if (x != NULL) {
		s->free_list = x->next;
		return x;
	}
	return s->tp->xfer_new();
}

static void
xfer_recycle(struct st_shadow *s, struct shadow_xfer *x)
{
	s->tp->xfer_reset(x);
	x->user = NULL;
	x->body_truncated = false;
	x->error[0] = '\0';
	shadow_buf_recycle(&x->head);
	shadow_buf_recycle(&x->body);
	if (x->fields_cap > KEEP_FIELDS) {
		free(x->fields);
		x->fields = NULL;
		x->fields_cap = 0;
	}
	x->next = s->free_list;
	s->free_list = x;
}

static void
xfer_destroy(struct st_shadow *s, struct shadow_xfer *x)
{
	free(x->head.data);
	free(x->body.data);
	free(x->fields);
	s->tp->xfer_free(s, x);
}

/* Split the kept field lines into fields (name and value trimmed).
 * @return 0 or -ENOMEM */
static int
parse_fields(struct shadow_xfer *x, unsigned int *nb)
{
	const char *p = x->head.data, *end = p + x->head.len;
	unsigned int lines = 0, n = 0;
	const char *q;

	for (q = p; q < end; q++)
		lines += *q == '\n';
	if (lines > x->fields_cap) {
		struct st_http_field *f =
			realloc(x->fields, lines * sizeof(*f));

		if (f == NULL)
			return -ENOMEM;
		x->fields = f;
		x->fields_cap = lines;
	}
	for (; p < end; p = q + 1) {
		const char *eol, *colon, *v, *ve;

		q = memchr(p, '\n', (size_t)(end - p));
		if (q == NULL)
			break;
		eol = q > p && q[-1] == '\r' ? q - 1 : q;
		colon = memchr(p, ':', (size_t)(eol - p));
		/* obsolete line folding, or not a field: left out */
		if (colon == NULL || colon == p || is_space(p[0]))
			continue;
		for (v = colon + 1; v < eol && is_space(*v); v++)
			;
		for (ve = eol; ve > v && is_space(ve[-1]); ve--)
			;
		x->fields[n++] = (struct st_http_field){
			.name = p,
			.name_len = (uint32_t)(colon - p),
			.value = v,
			.value_len = (uint32_t)(ve - v),
		};
	}
	*nb = n;
	return 0;
}

void
shadow_finish(struct st_shadow *s, struct shadow_xfer *x,
	      struct st_shadow_response *r, uint64_t sent, uint64_t received)
{
	/* Its successor and the slot are given out before done() runs, so
	 * that a submit from done() finds a consistent state. */
	s->active--;
	lane_advance(s, x);
	start_ready(s);
	if (r->outcome == ST_SHADOW_ANSWERED &&
	    parse_fields(x, &r->nb_fields) < 0) {
		r->outcome = ST_SHADOW_ERROR;
		r->error = "out of memory for the response's fields";
	}
	if (r->outcome == ST_SHADOW_ANSWERED) {
		r->fields = x->fields;
		r->body = (const uint8_t *)x->body.data;
		r->body_len = (uint32_t)x->body.len;
		r->body_truncated = x->body_truncated;
	} else {
		r->status = 0;
		r->nb_fields = 0;
		if (r->error == NULL)
			r->error = x->error[0] != '\0' ? x->error : "failed";
	}
	s->stats.outcome[r->outcome]++;
	s->stats.bytes_sent += sent;
	s->stats.bytes_received += received;
	s->done(s->arg, x->user, r);
	s->in_flight--;
	xfer_recycle(s, x);
}

int
st_shadow_submit(struct st_shadow *s, const struct st_shadow_request *req)
{
	struct shadow_xfer *x;
	struct shadow_msg m;
	int rc;

	if (s->in_flight >= s->conf.max_in_flight) {
		s->stats.busy++;
		return -EBUSY;
	}
	rc = build(s, req, &m);
	if (rc < 0)
		return rc;
	x = xfer_get(s);
	if (x == NULL)
		return -ENOMEM;
	rc = s->tp->prepare(s, x, &m);
	if (rc < 0) {
		xfer_recycle(s, x);
		return rc;
	}
	x->user = req->user;
	x->conn_id = req->conn_id;
	x->max_body_bytes = s->max_body_bytes;
	s->in_flight++;
	s->stats.submitted++;
	lane_add(s, x);
	start_ready(s);
	return 0;
}

int
st_shadow_poll(struct st_shadow *s, struct pollfd *extra,
	       unsigned int nb_extra, int timeout_ms)
{
	return s->tp->poll(s, extra, nb_extra, timeout_ms);
}

unsigned int
st_shadow_in_flight(const struct st_shadow *s)
{
	return s->in_flight;
}

const struct st_shadow_stats *
st_shadow_stats(const struct st_shadow *s)
{
	return &s->stats;
}

/* Check the url, keep its path as the prefix of every target and its
 * authority for Host, pick the transport; @p host and @p port (the
 * scheme's default when the url has none) receive the rest. */
static int
parse_url(struct st_shadow *s, char *host, char *port, size_t len,
	  char *err, size_t errlen)
{
	char *scheme = NULL, *h = NULL, *path = NULL, *p = NULL, *given = NULL;
	CURLU *u = curl_url();
	CURLUcode uc;
	int rc = 0;
	size_t n;

	if (u == NULL) {
		snprintf(err, errlen, "shadow.url: out of memory");
		return -ENOMEM;
	}
	uc = curl_url_set(u, CURLUPART_URL, s->conf.url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_HOST, &h, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT);
	if (uc != CURLUE_OK) {
		snprintf(err, errlen, "shadow.url: '%s': %s", s->conf.url,
			 curl_url_strerror(uc));
		rc = uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	} else if (strcmp(scheme, "http") != 0 &&
		   strcmp(scheme, "https") != 0) {
		snprintf(err, errlen,
			 "shadow.url: '%s': the scheme must be http or https",
			 s->conf.url);
		rc = -EINVAL;
	} else {
		s->tp = strcmp(scheme, "http") == 0 ? &shadow_http :
						      &shadow_curl;
		n = strlen(path);
		while (n > 0 && path[n - 1] == '/')
			n--;
		/* path, host and port are no longer than the url, which
		 * fits */
		memcpy(s->prefix, path, n);
		s->prefix[n] = '\0';
		snprintf(host, len, "%s", h);
		snprintf(port, len, "%s", p);
		/* the port only if the url names it, as libcurl's Host */
		if (curl_url_get(u, CURLUPART_PORT, &given, 0) == CURLUE_OK)
			snprintf(s->authority, sizeof(s->authority), "%s:%s",
				 h, given);
		else
			snprintf(s->authority, sizeof(s->authority), "%s", h);
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(path);
	curl_free(p);
	curl_free(given);
	curl_url_cleanup(u);
	return rc;
}

static int
check_conf(const struct st_replay_shadow_conf *c, char *err, size_t errlen)
{
	if (c->connections == 0 || c->max_in_flight == 0) {
		snprintf(err, errlen, "shadow.%s: must be at least 1",
			 c->connections == 0 ? "connections" :
					       "max_in_flight");
		return -EINVAL;
	}
	if (c->host_mode != ST_REPLAY_HOST_KEEP && c->host[0] == '\0') {
		snprintf(err, errlen, "shadow.%s: empty",
			 c->host_mode == ST_REPLAY_HOST_SET ? "host" :
							      "host_suffix");
		return -EINVAL;
	}
	return 0;
}

int
st_shadow_create(const struct st_replay_shadow_conf *c,
		 const struct st_sanitizer *san, uint32_t max_body_bytes,
		 st_shadow_done_fn done, void *arg, struct st_shadow **out,
		 char *err, size_t errlen)
{
	char host[ST_REPLAY_URL_MAX], port[ST_REPLAY_URL_MAX];
	size_t nb_buckets = 16;
	struct st_shadow *s;
	int rc;

	rc = check_conf(c, err, errlen);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "shadow: out of memory");
		return -ENOMEM;
	}
	s->conf = *c;
	s->san = san;
	s->max_body_bytes = max_body_bytes;
	s->done = done;
	s->arg = arg;
	rc = parse_url(s, host, port, sizeof(host), err, errlen);
	if (rc < 0)
		goto fail;
	while (nb_buckets < c->max_in_flight && nb_buckets < MAX_BUCKETS)
		nb_buckets *= 2;
	s->bucket_mask = nb_buckets - 1;
	s->buckets = calloc(nb_buckets, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		snprintf(err, errlen, "shadow: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = s->tp->init(s, host, port, err, errlen);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	st_shadow_free(s);
	return rc;
}

void
st_shadow_free(struct st_shadow *s)
{
	struct shadow_xfer *h, *x, *next;
	size_t i;

	if (s == NULL)
		return;
	/* Every taken request is in a lane: the ready queue and the
	 * transport hold lane heads only. */
	for (i = 0; s->buckets != NULL && i <= s->bucket_mask; i++) {
		for (h = s->buckets[i]; h != NULL; h = next) {
			next = h->bucket_next;
			while (h != NULL) {
				x = h->lane_next;
				xfer_destroy(s, h);
				h = x;
			}
		}
	}
	for (x = s->free_list; x != NULL; x = next) {
		next = x->next;
		xfer_destroy(s, x);
	}
	if (s->tp != NULL)
		s->tp->fini(s);
	free(s->buckets);
	free(s->target.data);
	free(s->fields.data);
	free(s);
}
