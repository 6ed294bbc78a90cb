/* SPDX-License-Identifier: BSD-3-Clause */
#include "shadow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* Response head bytes kept per request (the final response's fields). */
#define HEAD_MAX_BYTES 65536
/* A recycled request keeps its buffers up to this size: most answers fit,
 * and a few large ones do not pin memory for good. */
#define KEEP_BUF_BYTES 16384
/* Fields a recycled request keeps room for. */
#define KEEP_FIELDS 256
/* Lanes hash: buckets for max_in_flight lanes, within reason. */
#define MAX_BUCKETS 65536

/* curl_waitfd events are poll()'s on Linux: the caller's pollfd events and
 * revents are passed through as they are. */
_Static_assert(CURL_WAIT_POLLIN == POLLIN && CURL_WAIT_POLLPRI == POLLPRI &&
		       CURL_WAIT_POLLOUT == POLLOUT,
	       "curl_waitfd events differ from poll()'s");

struct buf {
	char *data;
	size_t len, cap;
};

/*
 * One taken request, from submit to done(): a lane head is the oldest
 * request of its conn_id (in the ready queue, in libcurl, or failed to
 * start); the others wait behind it on lane_next.
 */
struct xfer {
	CURL *easy;
	struct curl_slist *headers;
	void *user;
	uint64_t conn_id;
	uint32_t max_body_bytes;
	struct xfer *next;		/* free list, ready or failed queue */
	struct xfer *lane_next;		/* next request of this conn_id */
	struct xfer *lane_tail;		/* last of the lane (lane head only) */
	struct xfer *bucket_next;	/* next lane head in the bucket */
	bool added;			/* in the multi handle */
	CURLcode failed;		/* why it could not be started */
	bool head_done;			/* later header lines are trailers */
	bool body_truncated;
	struct buf head;		/* final response's field lines */
	struct buf body;
	struct st_http_field *fields;
	unsigned int fields_cap;
	char errbuf[CURL_ERROR_SIZE];
};

struct st_shadow {
	struct st_replay_shadow_conf conf;
	const struct st_sanitizer *san;
	uint32_t max_body_bytes;
	st_shadow_done_fn done;
	void *arg;
	CURLM *multi;
	char prefix[ST_REPLAY_URL_MAX];	/* path of the url, no final '/' */
	struct xfer **buckets;		/* lane heads by conn_id */
	size_t bucket_mask;
	struct xfer *free_list;
	struct xfer *ready_head, *ready_tail;	/* waiting for a slot */
	struct xfer *failed;		/* done without running */
	unsigned int in_flight;
	unsigned int active;		/* in the multi handle */
	struct buf line;		/* scratch: a header line, the target */
	struct curl_waitfd *waitfds;
	unsigned int waitfds_cap;
	struct st_shadow_stats stats;
};

/* Hop-by-hop and framing fields, set by libcurl or meaningless on the
 * shadow's connection; Host is set per host mode. Proxy-* too. */
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

/* Append @p n bytes, growing geometrically up to @p limit bytes (which the
 * caller checked). @return 0 or -1 when memory runs out. */
static int
buf_add(struct buf *b, const void *p, size_t n, size_t limit)
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

static int
line_add(struct st_shadow *s, const void *p, size_t n)
{
	return buf_add(&s->line, p, n, SIZE_MAX);
}

static void
buf_recycle(struct buf *b)
{
	b->len = 0;
	if (b->cap > KEEP_BUF_BYTES) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
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

/* Append what s->line holds, NUL-terminated, to the request's fields. */
static int
commit_line(struct st_shadow *s, struct xfer *x)
{
	struct curl_slist *l;

	if (line_add(s, "", 1) < 0)
		return -ENOMEM;
	l = curl_slist_append(x->headers, s->line.data);
	if (l == NULL)
		return -ENOMEM;
	x->headers = l;
	return 0;
}

/* Add "name: value" to the request's fields; "name;" is libcurl's way to
 * send a field with an empty value. */
static int
add_field(struct st_shadow *s, struct xfer *x, const char *name,
	  size_t name_len, const char *value, size_t value_len)
{
	s->line.len = 0;
	if (line_add(s, name, name_len) < 0)
		return -ENOMEM;
	if (value_len == 0) {
		if (line_add(s, ";", 1) < 0)
			return -ENOMEM;
	} else if (line_add(s, ": ", 2) < 0 ||
		   line_add(s, value, value_len) < 0) {
		return -ENOMEM;
	}
	return commit_line(s, x);
}

/* "Name:" with no value removes a field libcurl would add of its own. */
static int
suppress_field(struct xfer *x, const char *removal)
{
	struct curl_slist *l = curl_slist_append(x->headers, removal);

	if (l == NULL)
		return -ENOMEM;
	x->headers = l;
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

/* The Host field per host mode; nothing when there is no captured host to
 * keep or suffix (libcurl then sends the url's authority). */
static int
add_host(struct st_shadow *s, struct xfer *x, const struct target *tgt,
	 const char *captured)
{
	const char *h = captured != NULL ? captured : "";
	size_t len = strlen(h), name_end;

	if (tgt->authority_len > 0) {
		h = tgt->authority;
		len = tgt->authority_len;
	}
	if (s->conf.host_mode == ST_REPLAY_HOST_SET)
		return add_field(s, x, "Host", 4, s->conf.host,
				 strlen(s->conf.host));
	if (len == 0)
		return 0;
	if (s->conf.host_mode == ST_REPLAY_HOST_KEEP)
		return add_field(s, x, "Host", 4, h, len);
	/* SUFFIX: after the name, before ":port"; an IPv6 literal's name
	 * ends at its ']'. */
	if (h[0] == '[') {
		const char *close = memchr(h, ']', len);

		name_end = close != NULL ? (size_t)(close - h) + 1 : len;
	} else {
		const char *colon = memchr(h, ':', len);

		name_end = colon != NULL ? (size_t)(colon - h) : len;
	}
	s->line.len = 0;
	if (line_add(s, "Host: ", 6) < 0 || line_add(s, h, name_end) < 0 ||
	    line_add(s, s->conf.host, strlen(s->conf.host)) < 0 ||
	    line_add(s, h + name_end, len - name_end) < 0)
		return -ENOMEM;
	return commit_line(s, x);
}

/* The request's fields, in order, as the shadow is to get them. */
static int
add_fields(struct st_shadow *s, struct xfer *x,
	   const struct st_shadow_request *req, const struct target *tgt,
	   bool with_body)
{
	unsigned int i;
	int rc;

	rc = add_host(s, x, tgt, req->host);
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
		rc = add_field(s, x, f->name, f->name_len, value, value_len);
	}
	if (rc == 0 && s->conf.mark_header[0] != '\0')
		rc = add_field(s, x, s->conf.mark_header,
			       strlen(s->conf.mark_header), s->conf.mark_value,
			       strlen(s->conf.mark_value));
	if (rc == 0 && !has_field(req, "accept"))
		rc = suppress_field(x, "Accept:");
	if (rc == 0 && with_body && !has_field(req, "content-type"))
		rc = suppress_field(x, "Content-Type:");
	if (rc == 0)
		rc = suppress_field(x, "Expect:");
	return rc;
}

/* The target goes as the request target rather than in the URL: libcurl
 * would remove dot segments and re-encode it. */
static int
set_target(struct st_shadow *s, CURL *e, const struct target *tgt)
{
	s->line.len = 0;
	if (tgt->asterisk) {
		if (line_add(s, "*", 2) < 0)
			return -ENOMEM;
	} else if (line_add(s, s->prefix, strlen(s->prefix)) < 0 ||
		   (tgt->slash && line_add(s, "/", 1) < 0) ||
		   line_add(s, tgt->path, strlen(tgt->path) + 1) < 0) {
		return -ENOMEM;
	}
	if (curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, s->line.data) !=
	    CURLE_OK)
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

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	/* A status line starts a response: a 1xx one is followed by
	 * another, and only the last response's fields are kept. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		x->head.len = 0;
		x->head_done = false;
		return len;
	}
	/* trailers */
	if (x->head_done)
		return len;
	if (p[0] == '\r' || p[0] == '\n') {
		x->head_done = true;
		return len;
	}
	if (x->head.len + len > HEAD_MAX_BYTES)
		return len;
	/* Anything but len aborts the transfer (CURLE_WRITE_ERROR). */
	return buf_add(&x->head, p, len, HEAD_MAX_BYTES) == 0 ? len : 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, keep = x->max_body_bytes - x->body.len;

	/* Past the limit the body is still read, so that the connection
	 * stays usable, and dropped. */
	if (keep < len)
		x->body_truncated = true;
	else
		keep = len;
	if (keep > 0 && buf_add(&x->body, p, keep, x->max_body_bytes) < 0)
		return 0;
	return len;
}

/* Set up @p x's easy handle for @p req. Strings are copied by libcurl;
 * the header list is kept in @p x until the request is done. */
static int
configure(struct st_shadow *s, struct xfer *x,
	  const struct st_shadow_request *req)
{
	bool head, with_body;
	struct target tgt;
	CURL *e = x->easy;
	int rc;

	if (req->method == NULL || !is_token(req->method) ||
	    req->target == NULL || parse_target(req->target, &tgt) < 0)
		return -EINVAL;
	head = strcmp(req->method, "HEAD") == 0;
	with_body = !head && (req->body_len > 0 ||
			      has_field(req, "content-length") ||
			      has_field(req, "transfer-encoding"));

	curl_easy_reset(e);
	x->errbuf[0] = '\0';
	x->max_body_bytes = s->max_body_bytes;
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->conf.timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	if (curl_easy_setopt(e, CURLOPT_URL, s->conf.url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK)
		return -ENOMEM;

	if (set_target(s, e, &tgt) < 0)
		return -ENOMEM;

	if (head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if ((strcmp(req->method, "GET") != 0 || with_body) &&
		 curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) !=
			 CURLE_OK)
		return -ENOMEM;
	if (with_body &&
	    (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			      (curl_off_t)req->body_len) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
			      req->body != NULL ? (const char *)req->body :
						  "") != CURLE_OK))
		return -ENOMEM;

	rc = add_fields(s, x, req, &tgt, with_body);
	if (rc < 0)
		return rc;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	return 0;
}

static struct xfer **
bucket_of(struct st_shadow *s, uint64_t conn_id)
{
	/* Fibonacci hashing: conn_ids are often consecutive. */
	return &s->buckets[(conn_id * 0x9e3779b97f4a7c15ull) >> 32 &
			   s->bucket_mask];
}

static void
ready_push(struct st_shadow *s, struct xfer *x)
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
lane_add(struct st_shadow *s, struct xfer *x)
{
	struct xfer **b = bucket_of(s, x->conn_id), *h;

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
lane_advance(struct st_shadow *s, struct xfer *x)
{
	struct xfer **pp = bucket_of(s, x->conn_id), *next = x->lane_next;

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

/* Hand ready requests to libcurl while connection slots are free. */
static void
start_ready(struct st_shadow *s)
{
	while (s->active < s->conf.connections && s->ready_head != NULL) {
		struct xfer *x = s->ready_head;
		CURLMcode mc;

		s->ready_head = x->next;
		if (s->ready_head == NULL)
			s->ready_tail = NULL;
		mc = curl_multi_add_handle(s->multi, x->easy);
		if (mc != CURLM_OK) {
			/* done() is never called from submit: the failure
			 * is reported by the next poll. */
			snprintf(x->errbuf, sizeof(x->errbuf), "%s",
				 curl_multi_strerror(mc));
			x->failed = CURLE_FAILED_INIT;
			x->next = s->failed;
			s->failed = x;
			continue;
		}
		x->added = true;
		s->active++;
	}
}

static struct xfer *
xfer_get(struct st_shadow *s)
{
	struct xfer *x = s->free_list;

	if (x != NULL) {
		s->free_list = x->next;
		return x;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	return x;
}

static void
xfer_recycle(struct st_shadow *s, struct xfer *x)
{
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	x->user = NULL;
	x->failed = CURLE_OK;
	x->head_done = false;
	x->body_truncated = false;
	buf_recycle(&x->head);
	buf_recycle(&x->body);
	if (x->fields_cap > KEEP_FIELDS) {
		free(x->fields);
		x->fields = NULL;
		x->fields_cap = 0;
	}
	x->next = s->free_list;
	s->free_list = x;
}

static void
xfer_destroy(struct st_shadow *s, struct xfer *x)
{
	if (x->added)
		curl_multi_remove_handle(s->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->head.data);
	free(x->body.data);
	free(x->fields);
	free(x);
}

static enum st_shadow_outcome
outcome_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return ST_SHADOW_ANSWERED;
	case CURLE_OPERATION_TIMEDOUT:
		return ST_SHADOW_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
		return ST_SHADOW_REFUSED;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:	/* closed in the middle of the body */
		return ST_SHADOW_RESET;
	default:
		return ST_SHADOW_ERROR;
	}
}

/* Split the kept field lines into fields (name and value trimmed).
 * @return 0 or -ENOMEM */
static int
parse_fields(struct xfer *x, unsigned int *nb)
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

/* Tell the caller how @p x ended, and count it. */
static void
report(struct st_shadow *s, struct xfer *x, CURLcode rc)
{
	struct st_shadow_response r = { .outcome = outcome_of(rc) };
	curl_off_t pre = 0, start = 0, total = 0, up = 0, down = 0;
	long status = 0, req_bytes = 0, head_bytes = 0;
	CURL *e = x->easy;

	curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &start);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req_bytes);
	curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &head_bytes);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (r.outcome == ST_SHADOW_ANSWERED &&
	    parse_fields(x, &r.nb_fields) < 0) {
		r.outcome = ST_SHADOW_ERROR;
		r.error = "out of memory for the response's fields";
	}
	if (r.outcome == ST_SHADOW_ANSWERED) {
		r.status = (int)status;
		r.fields = x->fields;
		r.body = (const uint8_t *)x->body.data;
		r.body_len = (uint32_t)x->body.len;
		r.body_truncated = x->body_truncated;
	} else if (r.error == NULL) {
		r.error = x->errbuf[0] != '\0' ? x->errbuf :
						 curl_easy_strerror(rc);
	}
	r.ttfb_ms = start > pre ? (double)(start - pre) / 1000.0 : 0.0;
	r.total_ms = (double)total / 1000.0;
	s->stats.outcome[r.outcome]++;
	s->stats.bytes_sent += (uint64_t)req_bytes + (uint64_t)up;
	s->stats.bytes_received += (uint64_t)head_bytes + (uint64_t)down;
	s->done(s->arg, x->user, &r);
}

static void
finish(struct st_shadow *s, struct xfer *x, CURLcode rc)
{
	if (x->added) {
		curl_multi_remove_handle(s->multi, x->easy);
		x->added = false;
		s->active--;
	}
	/* Its successor and the slot are given out before done() runs, so
	 * that a submit from done() finds a consistent state. */
	lane_advance(s, x);
	start_ready(s);
	report(s, x, rc);
	s->in_flight--;
	xfer_recycle(s, x);
}

int
st_shadow_submit(struct st_shadow *s, const struct st_shadow_request *req)
{
	struct xfer *x;
	int rc;

	if (s->in_flight >= s->conf.max_in_flight) {
		s->stats.busy++;
		return -EBUSY;
	}
	x = xfer_get(s);
	if (x == NULL)
		return -ENOMEM;
	rc = configure(s, x, req);
	if (rc < 0) {
		xfer_recycle(s, x);
		return rc;
	}
	x->user = req->user;
	x->conn_id = req->conn_id;
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
	unsigned int i;
	int ready = 0, running, left, events = 0;
	long due_ms = -1;
	CURLMsg *msg;
	CURLMcode mc;

	if (nb_extra > s->waitfds_cap) {
		struct curl_waitfd *w =
			realloc(s->waitfds, nb_extra * sizeof(*w));

		if (w == NULL)
			return -ENOMEM;
		s->waitfds = w;
		s->waitfds_cap = nb_extra;
	}
	for (i = 0; i < nb_extra; i++)
		s->waitfds[i] = (struct curl_waitfd){
			.fd = extra[i].fd,
			.events = extra[i].events &
				  (POLLIN | POLLPRI | POLLOUT),
		};
	/* Requests that failed to start are reported without waiting. */
	mc = curl_multi_poll(s->multi, s->waitfds, nb_extra,
			     s->failed != NULL ? 0 : timeout_ms, &events);
	if (mc == CURLM_OK)
		mc = curl_multi_timeout(s->multi, &due_ms);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	for (i = 0; i < nb_extra; i++) {
		extra[i].revents = (short)s->waitfds[i].revents;
		ready += extra[i].revents != 0;
	}
	/* curl_multi_perform() checks every transfer's socket with a poll()
	 * of its own: with nothing ready on the shadow's sockets and no
	 * timer due (a new transfer's is), it would only cost a syscall per
	 * connection, which a --fast replay paid after every batch of
	 * packets. */
	if (events > ready || due_ms == 0) {
		mc = curl_multi_perform(s->multi, &running);
		if (mc != CURLM_OK)
			return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	/* The message is read before finish() removes its handle, which
	 * invalidates it. */
	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		struct xfer *x;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		finish(s, x, rc);
	}
	while (s->failed != NULL) {
		struct xfer *x = s->failed;

		s->failed = x->next;
		finish(s, x, x->failed);
	}
	return ready;
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

/* Check the url and keep its path as the prefix of every target. */
static int
parse_url(struct st_shadow *s, char *err, size_t errlen)
{
	char *scheme = NULL, *host = NULL, *path = NULL;
	CURLU *u = curl_url();
	CURLUcode uc;
	int rc = 0;
	size_t len;

	if (u == NULL) {
		snprintf(err, errlen, "shadow.url: out of memory");
		return -ENOMEM;
	}
	uc = curl_url_set(u, CURLUPART_URL, s->conf.url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
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
		len = strlen(path);
		while (len > 0 && path[len - 1] == '/')
			len--;
		/* path is no longer than the url, which fits */
		memcpy(s->prefix, path, len);
		s->prefix[len] = '\0';
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
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
	size_t nb_buckets = 16;
	struct st_shadow *s;
	long conns;
	int rc;

	rc = check_conf(c, err, errlen);
	if (rc < 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "shadow: libcurl cannot be initialised");
		return -EIO;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		curl_global_cleanup();
		snprintf(err, errlen, "shadow: out of memory");
		return -ENOMEM;
	}
	s->conf = *c;
	s->san = san;
	s->max_body_bytes = max_body_bytes;
	s->done = done;
	s->arg = arg;
	rc = parse_url(s, err, errlen);
	if (rc < 0)
		goto fail;
	while (nb_buckets < c->max_in_flight && nb_buckets < MAX_BUCKETS)
		nb_buckets *= 2;
	s->bucket_mask = nb_buckets - 1;
	s->buckets = calloc(nb_buckets, sizeof(*s->buckets));
	s->multi = curl_multi_init();
	if (s->buckets == NULL || s->multi == NULL) {
		snprintf(err, errlen, "shadow: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	/* The pool: one request per connection at a time (HTTP/1.1, no
	 * pipelining), at most `connections` of them, all kept alive. */
	conns = (long)c->connections;
	curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, conns);
	*out = s;
	return 0;
fail:
	st_shadow_free(s);
	return rc;
}

void
st_shadow_free(struct st_shadow *s)
{
	struct xfer *h, *x, *next;
	size_t i;

	if (s == NULL)
		return;
	/* Every taken request is in a lane: the ready and failed queues
	 * hold lane heads only. */
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
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	free(s->buckets);
	free(s->waitfds);
	free(s->line.data);
	free(s);
	curl_global_cleanup();
}
