/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HTTP/1.x exchanges out of reassembled streams (see exchange.h).
 *
 * Each direction of a connection runs one small machine:
 *   SKIP  look for a message start (a request line on the client side, a
 *         status line on the server side), counting what is passed over;
 *   HEAD  collect the head up to its empty line (bounded);
 *   BODY  frame and de-chunk the body;
 *   WAIT  (direction still unknown, its start was not a message): drop.
 *
 * Framing and de-chunking are libhttp-parser's (2.9.4): it is
 * well-tested on chunk extensions, trailers, EOF-delimited bodies and
 * the Content-Length/Transfer-Encoding corner cases, which we would
 * otherwise rewrite. It rejects request methods outside its fixed list
 * (QUERY, any extension token), so request lines are recognised here
 * (any RFC 9110 token) and the parser is given a stand-in request line
 * followed by the real header lines: for a request the method does not
 * change the framing. Heads are split into fields here too, because
 * the fields are kept as pointers into the raw head, which the parser's
 * callbacks do not give in one piece. classifier/http.c's framing
 * helpers are not used: they know only nine methods and give no chunked
 * framing.
 *
 * Requests form a FIFO per connection from their first byte on, so a
 * response that starts before its request ends (100-continue, an early
 * 413) pairs with it; an exchange leaves the FIFO once both its request
 * is complete and its response is over, in order.
 */
#define _GNU_SOURCE	/* memmem */
#include "exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <http_parser.h>

enum side_mode { MODE_SKIP, MODE_HEAD, MODE_BODY, MODE_WAIT, MODE_OFF };

enum role { ROLE_UNKNOWN, ROLE_CLIENT, ROLE_SERVER };

enum conn_state {
	CONN_PROBING,	/* not known to be HTTP yet */
	CONN_HTTP,
	CONN_OFF,	/* not HTTP, or upgraded: data is ignored */
};

enum scan_result { SCAN_MORE, SCAN_FAIL, SCAN_DONE };

/* One message as kept: every pointer is owned. */
struct msg {
	uint8_t *head;
	uint32_t head_len;
	uint32_t line_len;	/* the start line, its line end included */
	struct st_http_field *fields;
	unsigned int nb_fields;
	uint8_t *body;
	uint32_t body_len;
	uint32_t body_cap;
	bool body_truncated;
	char *strs;	/* request: method, target, host; response: reason */
	uint64_t first_ns;
	uint64_t last_ns;
};

struct xchg {
	struct st_exchange pub;
	TAILQ_ENTRY(xchg) next;
	struct msg req;
	struct msg resp;
	int status;
	bool is_head;		/* the response has no body */
	bool is_connect;	/* a 2xx response opens a tunnel */
	bool req_over;		/* complete, or dropped */
	bool resp_over;
	bool dropped;		/* incomplete: never given to request() */
	/* Requests were lost in a gap just before this one: a gap between
	 * two responses may have held their answers, not this one's. */
	bool after_client_gap;
	enum st_exchange_end how;
};

TAILQ_HEAD(xchg_list, xchg);

/* Incremental start-line matchers: a start may be split over chunks. */
struct rq_scan {
	uint8_t phase;
	uint8_t idx;
};

struct st_scan {
	uint8_t idx;
};

struct conn;

struct side {
	struct conn *c;
	int dir;
	enum side_mode mode;
	enum role role;
	bool in_candidate;	/* buf holds a start being matched */
	bool probed;		/* its first candidate was decided */
	bool body_done;		/* set by the parser's message callback */
	struct rq_scan rq;
	struct st_scan st;
	uint8_t *buf;		/* the start line, then the head */
	uint32_t buf_len;
	uint32_t buf_cap;
	uint32_t line_len;	/* of the start line in buf */
	uint64_t first_ns;	/* of the message's first byte */
	uint64_t last_data_ns;
	uint64_t wait_bytes;	/* dropped before HTTP was recognised */
	struct xchg *x;		/* whose message this side parses */
	http_parser hp;
};

struct conn {
	struct st_exchange_parser *p;
	LIST_ENTRY(conn) link;	/* every open one, to free them */
	const struct st_reasm_conn_info *info;
	uint64_t id;
	enum conn_state state;
	int client_dir;		/* -1: unknown */
	struct side side[2];
	struct xchg_list fifo;
	struct xchg *resp_next;	/* the oldest exchange awaiting an answer */
	uint32_t nb_pending;
	bool client_gap;	/* a gap in the requests since the last one */
};

struct st_exchange_parser {
	struct st_exchange_limits limits;
	uint16_t *ports;
	const struct st_exchange_ops *ops;
	void *arg;
	uint64_t next_id;
	uint64_t next_conn_id;
	struct st_exchange_stats stats;
	http_parser_settings settings;
	LIST_HEAD(, conn) conns;
};

/* What http_parser is given in place of a request line (see the top). */
static const char stand_in_line[] = "POST / HTTP/1.1\r\n";
static const char http_1[] = "HTTP/1.";

/* RFC 9110 tchar. */
static bool
is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

enum {
	RQ_TOKEN,
	RQ_TARGET_START,
	RQ_TARGET,
	RQ_VERSION,
	RQ_CR,
	RQ_LF,
	RQ_FAILED,	/* stays failed until reset */
};

/* token SP target SP "HTTP/1." DIGIT [CR] LF, one byte at a time. */
static enum scan_result
rq_feed(struct rq_scan *s, uint8_t c)
{
	switch (s->phase) {
	case RQ_TOKEN:
		if (is_tchar(c)) {
			s->idx = 1;
			return SCAN_MORE;
		}
		if (c == ' ' && s->idx) {
			s->phase = RQ_TARGET_START;
			return SCAN_MORE;
		}
		break;
	case RQ_TARGET_START:
	case RQ_TARGET:
		/* Visible ASCII or obs-text: lenient as servers are. */
		if (c > ' ' && c != 0x7f) {
			s->phase = RQ_TARGET;
			return SCAN_MORE;
		}
		if (c == ' ' && s->phase == RQ_TARGET) {
			s->phase = RQ_VERSION;
			s->idx = 0;
			return SCAN_MORE;
		}
		break;
	case RQ_VERSION:
		if (s->idx < sizeof(http_1) - 1) {
			if (c != (uint8_t)http_1[s->idx])
				break;
			s->idx++;
			return SCAN_MORE;
		}
		if (!is_digit(c))
			break;
		s->phase = RQ_CR;
		return SCAN_MORE;
	case RQ_CR:
		if (c == '\r') {
			s->phase = RQ_LF;
			return SCAN_MORE;
		}
		if (c == '\n')
			return SCAN_DONE;
		break;
	case RQ_LF:
		if (c == '\n')
			return SCAN_DONE;
		break;
	case RQ_FAILED:
		break;
	}
	s->phase = RQ_FAILED;
	return SCAN_FAIL;
}

#define ST_FAILED UINT8_MAX

/* "HTTP/1." DIGIT SP 3DIGIT (100 to 999), then SP, CR or LF. */
static enum scan_result
st_feed(struct st_scan *s, uint8_t c)
{
	static const char pattern[] = "HTTP/1.# 1##";
	bool ok;

	if (s->idx < sizeof(pattern) - 1) {
		if (pattern[s->idx] == '#')
			ok = is_digit(c);
		else if (s->idx == 9)
			ok = c >= '1' && c <= '9';
		else
			ok = c == (uint8_t)pattern[s->idx];
		if (ok) {
			s->idx++;
			return SCAN_MORE;
		}
	} else if (s->idx != ST_FAILED &&
		   (c == ' ' || c == '\r' || c == '\n')) {
		return SCAN_DONE;
	}
	s->idx = ST_FAILED;
	return SCAN_FAIL;
}

/*
 * Where the next start may be, from the byte a candidate failed at: a
 * request starts a line (or a chunk), a status line anywhere ("HTTP/1."
 * is distinctive and cannot overlap itself).
 */
static const uint8_t *
next_candidate(enum role role, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;

	if (p >= end)
		return NULL;
	if (role == ROLE_SERVER)
		return memchr(p, 'H', end - p);
	q = memchr(p, '\n', end - p);
	return q ? q + 1 : NULL;
}

static void
msg_free(struct msg *m)
{
	free(m->head);
	free(m->fields);
	free(m->body);
	free(m->strs);
	memset(m, 0, sizeof(*m));
}

static void
xchg_free(struct xchg *x)
{
	msg_free(&x->req);
	msg_free(&x->resp);
	free(x);
}

static bool
port_is_http(const struct st_exchange_parser *p, uint16_t port)
{
	unsigned int i;

	for (i = 0; i < p->limits.nb_http_ports; i++)
		if (p->ports[i] == port)
			return true;
	return false;
}

/* The direction the configured ports make the client's, or -1. */
static int
client_dir_by_port(const struct conn *c)
{
	bool h0, h1;

	if (c->p->ports == NULL)
		return -1;
	h0 = port_is_http(c->p, c->info->ep[0].port);
	h1 = port_is_http(c->p, c->info->ep[1].port);
	if (h0 == h1)
		return -1;
	return h1 ? 0 : 1;
}

static void
fill_request(struct xchg *x)
{
	struct st_http_request *r = &x->pub.req;
	const char *s = x->req.strs;

	r->method = s;
	r->target = s + strlen(s) + 1;
	r->host = r->target + strlen(r->target) + 1;
	r->head = x->req.head;
	r->head_len = x->req.head_len;
	r->fields = x->req.fields;
	r->nb_fields = x->req.nb_fields;
	r->body = x->req.body;
	r->body_len = x->req.body_len;
	r->body_truncated = x->req.body_truncated;
	r->first_ns = x->req.first_ns;
	r->last_ns = x->req.last_ns;
}

static void
fill_response(struct xchg *x)
{
	struct st_http_response *r = &x->pub.resp;

	r->status = x->status;
	r->reason = x->resp.strs;
	r->head = x->resp.head;
	r->head_len = x->resp.head_len;
	r->fields = x->resp.fields;
	r->nb_fields = x->resp.nb_fields;
	r->body = x->resp.body;
	r->body_len = x->resp.body_len;
	r->body_truncated = x->resp.body_truncated;
	r->first_ns = x->resp.first_ns;
	r->last_ns = x->resp.last_ns;
}

static void
side_reset(struct side *s, enum side_mode mode)
{
	s->mode = mode;
	s->in_candidate = false;
	s->buf_len = 0;
	s->x = NULL;
}

/* Exchanges leave in order once both halves are over. */
static void
retire(struct conn *c)
{
	struct st_exchange_parser *p = c->p;
	struct xchg *x;

	while ((x = TAILQ_FIRST(&c->fifo)) != NULL && x->req_over &&
	       x->resp_over) {
		TAILQ_REMOVE(&c->fifo, x, next);
		c->nb_pending--;
		if (!x->dropped) {
			if (x->how == ST_EXCHANGE_ANSWERED)
				fill_response(x);
			p->stats.ended[x->how]++;
			p->ops->done(p->arg, &x->pub, x->how);
		}
		xchg_free(x);
	}
}

static void
resp_over(struct conn *c, struct xchg *x, enum st_exchange_end how)
{
	struct side *srv = &c->side[c->client_dir ^ 1];

	x->resp_over = true;
	x->how = how;
	if (c->resp_next == x)
		c->resp_next = TAILQ_NEXT(x, next);
	/* its answer, if being parsed, no longer pairs */
	if (srv->x == x)
		side_reset(srv, srv->mode == MODE_OFF ? MODE_OFF : MODE_SKIP);
	retire(c);
}

static void
req_complete(struct conn *c, struct xchg *x)
{
	struct st_exchange_parser *p = c->p;

	x->req_over = true;
	x->pub.id = p->next_id++;
	p->stats.requests++;
	if (x->req.body_truncated)
		p->stats.bodies_truncated++;
	fill_request(x);
	p->ops->request(p->arg, &x->pub);
	retire(c);
}

/*
 * The request being parsed will not complete. It leaves at once unless
 * its response is being parsed, which it then absorbs silently.
 */
static void
req_drop(struct conn *c, struct xchg *x)
{
	struct side *srv = &c->side[c->client_dir ^ 1];

	c->p->stats.requests_dropped++;
	x->req_over = true;
	x->dropped = true;
	if (srv->x == x)
		return;
	if (c->resp_next == x)
		c->resp_next = TAILQ_NEXT(x, next);
	TAILQ_REMOVE(&c->fifo, x, next);
	c->nb_pending--;
	xchg_free(x);
	retire(c);
}

/* The message this side was on is abandoned (gap, malformed, end). */
static void
side_abandon(struct side *s, enum st_exchange_end how)
{
	struct conn *c = s->c;
	struct xchg *x = s->x;

	side_reset(s, s->mode == MODE_OFF ? MODE_OFF : MODE_SKIP);
	if (x == NULL)
		return;
	if (s->role == ROLE_CLIENT)
		req_drop(c, x);
	else
		resp_over(c, x, how);
}

/* HTTP ends here: every exchange still open ends now. */
static void
conn_off(struct conn *c)
{
	struct xchg *x;

	c->state = CONN_OFF;
	if (c->client_dir >= 0) {
		side_abandon(&c->side[c->client_dir], ST_EXCHANGE_NO_RESPONSE);
		side_abandon(&c->side[c->client_dir ^ 1],
			     ST_EXCHANGE_NO_RESPONSE);
	}
	/* all requests are over now: each resp_over() retires its own */
	while ((x = TAILQ_FIRST(&c->fifo)) != NULL)
		resp_over(c, x, ST_EXCHANGE_NO_RESPONSE);
	side_reset(&c->side[0], MODE_OFF);
	side_reset(&c->side[1], MODE_OFF);
}

static void
set_http(struct conn *c, int client_dir)
{
	struct st_exchange_parser *p = c->p;
	int d;

	c->client_dir = client_dir;
	c->state = CONN_HTTP;
	p->stats.connections++;
	for (d = 0; d < 2; d++) {
		struct side *s = &c->side[d];

		s->role = d == client_dir ? ROLE_CLIENT : ROLE_SERVER;
		p->stats.bytes_skipped += s->wait_bytes;
		s->wait_bytes = 0;
		if (s->mode == MODE_WAIT)
			s->mode = MODE_SKIP;
	}
}

/*
 * A direction's first bytes start no message (@p at_start), or were lost
 * in a gap: decide the connection from the SYN, the ports, or the other
 * direction.
 */
static void
probe_failed(struct conn *c, struct side *s, bool at_start)
{
	int by_port;

	s->probed = true;
	if (c->client_dir >= 0) {
		/* After a SYN the stream starts here: unless its start was
		 * lost, it is not HTTP/1.x. */
		if (!at_start) {
			set_http(c, c->client_dir);
			return;
		}
		c->p->stats.connections_not_http++;
		conn_off(c);
		return;
	}
	by_port = client_dir_by_port(c);
	if (by_port >= 0) {
		set_http(c, by_port);
		return;
	}
	if (c->side[s->dir ^ 1].mode == MODE_WAIT) {
		c->p->stats.connections_not_http++;
		conn_off(c);
		return;
	}
	s->mode = MODE_WAIT;
}

static int
buf_append(struct side *s, const uint8_t *p, uint32_t len)
{
	uint32_t need = s->buf_len + len;

	if (len == 0)
		return 0;
	if (need > s->buf_cap) {
		uint32_t cap = s->buf_cap ? s->buf_cap : 256;
		uint8_t *b;

		while (cap < need)
			cap *= 2;
		if (cap > s->c->p->limits.max_head_bytes)
			cap = s->c->p->limits.max_head_bytes;
		b = realloc(s->buf, cap);
		if (b == NULL)
			return -ENOMEM;
		s->buf = b;
		s->buf_cap = cap;
	}
	memcpy(s->buf + s->buf_len, p, len);
	s->buf_len = need;
	return 0;
}

/* A client's request line was recognised: a new exchange starts. */
static int
request_start(struct conn *c, struct side *s)
{
	struct xchg *x, *old;
	uint32_t mlen = 0;

	while (c->nb_pending >= c->p->limits.max_pending) {
		old = TAILQ_FIRST(&c->fifo);
		resp_over(c, old, ST_EXCHANGE_NO_RESPONSE);
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	while (s->buf[mlen] != ' ')
		mlen++;
	x->is_head = mlen == 4 && memcmp(s->buf, "HEAD", 4) == 0;
	x->is_connect = mlen == 7 && memcmp(s->buf, "CONNECT", 7) == 0;
	x->pub.conn = c->info;
	x->pub.conn_id = c->id;
	x->req.first_ns = s->first_ns;
	x->after_client_gap = c->client_gap;
	c->client_gap = false;
	TAILQ_INSERT_TAIL(&c->fifo, x, next);
	c->nb_pending++;
	if (c->resp_next == NULL)
		c->resp_next = x;
	s->x = x;
	return 0;
}

/* A start line was recognised in @p s's buf (line_len bytes). */
static void
start_found(struct side *s, enum role role)
{
	struct conn *c = s->c;

	if (c->state == CONN_PROBING)
		set_http(c, role == ROLE_CLIENT ? s->dir : s->dir ^ 1);
	s->probed = true;
	s->in_candidate = false;
	if (role == ROLE_CLIENT) {
		if (request_start(c, s) < 0) {
			side_reset(s, MODE_SKIP);
			return;
		}
	} else if (c->resp_next != NULL) {
		s->x = c->resp_next;
	} else {
		/* a response to no request seen */
		c->p->stats.bytes_skipped += s->buf_len;
		side_reset(s, MODE_SKIP);
		return;
	}
	s->mode = MODE_HEAD;
}

/*
 * SKIP: match candidates, keeping a candidate's bytes in buf until it is
 * decided. Consumes at least one byte unless it changes mode. A chunk
 * starts a candidate unless one is carried over from the last chunk (a
 * start line split over segments): so a body's last line of token
 * characters glued to a request in the next segment reads as a longer
 * method.
 */
static uint32_t
skip_step(struct side *s, const uint8_t *p, uint32_t len, uint64_t ts)
{
	struct conn *c = s->c;
	struct st_exchange_parser *ep = c->p;
	const uint8_t *end = p + len, *start = p, *q = p;
	enum scan_result rq, st;
	uint32_t carry;

	/* Nothing to answer: the server's bytes cannot pair. */
	if (c->state == CONN_HTTP && s->role == ROLE_SERVER &&
	    c->resp_next == NULL) {
		ep->stats.bytes_skipped += s->buf_len + len;
		side_reset(s, MODE_SKIP);
		return len;
	}
	if (!s->in_candidate) {
		s->in_candidate = true;
		s->rq = (struct rq_scan){ 0 };
		s->st = (struct st_scan){ 0 };
		s->first_ns = ts;
	}
	while (q < end) {
		rq = s->role != ROLE_SERVER ? rq_feed(&s->rq, *q) : SCAN_FAIL;
		st = s->role != ROLE_CLIENT ? st_feed(&s->st, *q) : SCAN_FAIL;
		q++;
		if (rq == SCAN_DONE || st == SCAN_DONE) {
			if (buf_append(s, start, q - start) < 0)
				return len;
			start_found(s, rq == SCAN_DONE ? ROLE_CLIENT :
							 ROLE_SERVER);
			return q - p;
		}
		if ((rq == SCAN_MORE || st == SCAN_MORE) &&
		    s->buf_len + (q - start) <= ep->limits.max_head_bytes)
			continue;
		/* This candidate failed: its carried bytes are skipped. */
		carry = s->buf_len;
		s->buf_len = 0;
		if (!s->probed && c->state == CONN_PROBING) {
			probe_failed(c, s, true);
			if (s->mode != MODE_SKIP) {
				s->wait_bytes += carry + (q - p);
				return q - p;
			}
		}
		/* the failing byte may end a line or start a status line */
		q = next_candidate(s->role, q - 1, end);
		if (q == NULL) {
			ep->stats.bytes_skipped += carry + (end - start);
			s->in_candidate = false;
			return len;
		}
		ep->stats.bytes_skipped += carry + (q - start);
		start = q;
		s->rq = (struct rq_scan){ 0 };
		s->st = (struct st_scan){ 0 };
		s->first_ns = ts;
	}
	if (buf_append(s, start, end - start) < 0)
		s->in_candidate = false;
	return len;
}

/* The head's end in @p b (its length), searched from @p from; 0 if it is
 * not there. "\n\n" and "\n\r\n" end it as "\r\n\r\n" does. */
static uint32_t
head_end(const uint8_t *b, uint32_t from, uint32_t len)
{
	const uint8_t *lf = b + from, *end = b + len;

	while ((lf = memchr(lf, '\n', end - lf)) != NULL) {
		if (end - lf > 1 && lf[1] == '\n')
			return lf - b + 2;
		if (end - lf > 2 && lf[1] == '\r' && lf[2] == '\n')
			return lf - b + 3;
		lf++;
	}
	return 0;
}

static bool
trim_char(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Split the head's header lines into fields; an obsolete folded line
 * continues the previous value. @return 0 or -ENOMEM */
static int
split_fields(struct msg *m)
{
	const uint8_t *q = m->head + m->line_len, *end = m->head + m->head_len;
	unsigned int n = 0, max = 0;
	const uint8_t *lf, *colon, *v, *ve;

	for (lf = q; (lf = memchr(lf, '\n', end - lf)) != NULL; lf++)
		max++;
	m->fields = calloc(max ? max : 1, sizeof(*m->fields));
	if (m->fields == NULL)
		return -ENOMEM;
	for (; q < end; q = lf + 1) {
		lf = memchr(q, '\n', end - q);
		if (lf == NULL)
			lf = end;
		ve = lf;
		while (ve > q && trim_char(ve[-1]))
			ve--;
		if ((*q == ' ' || *q == '\t') && n > 0) {
			struct st_http_field *f = &m->fields[n - 1];

			if (ve > (const uint8_t *)f->value)
				f->value_len = ve - (const uint8_t *)f->value;
			continue;
		}
		colon = memchr(q, ':', lf - q);
		if (colon == NULL)
			continue;	/* the empty line */
		v = colon + 1;
		while (v < ve && trim_char(*v))
			v++;
		m->fields[n++] = (struct st_http_field){
			.name = (const char *)q,
			.name_len = colon - q,
			.value = (const char *)v,
			.value_len = ve > v ? ve - v : 0,
		};
	}
	m->nb_fields = n;
	return 0;
}

static const struct st_http_field *
find_field(const struct msg *m, const char *name)
{
	size_t len = strlen(name);
	unsigned int i;

	for (i = 0; i < m->nb_fields; i++)
		if (m->fields[i].name_len == len &&
		    strncasecmp(m->fields[i].name, name, len) == 0)
			return &m->fields[i];
	return NULL;
}

/* NUL-terminated copies of @p n (pointer, length) pairs, back to back. */
static char *
join_strings(unsigned int n, const char *const *s, const size_t *len)
{
	size_t total = 0, off = 0;
	unsigned int i;
	char *out;

	for (i = 0; i < n; i++)
		total += len[i] + 1;
	out = malloc(total);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		memcpy(out + off, s[i], len[i]);
		off += len[i];
		out[off++] = '\0';
	}
	return out;
}

/* method, target and host of a request head. @return 0 or -ENOMEM */
static int
request_strings(struct msg *m)
{
	const char *line = (const char *)m->head, *s[3];
	const char *sp1 = memchr(line, ' ', m->line_len);
	const char *sp2 = memchr(sp1 + 1, ' ', m->line_len - (sp1 + 1 - line));
	const struct st_http_field *host = find_field(m, "host");
	const char *scheme_end;
	size_t len[3];

	s[0] = line;
	len[0] = sp1 - line;
	s[1] = sp1 + 1;
	len[1] = sp2 - s[1];
	scheme_end = memmem(s[1], len[1], "://", 3);
	if (host != NULL) {
		s[2] = host->value;
		len[2] = host->value_len;
	} else if (scheme_end != NULL) {
		/* absolute-form: the authority, up to the path or query */
		const char *a = scheme_end + 3, *e = a;

		while (e < s[1] + len[1] && *e != '/' && *e != '?' && *e != '#')
			e++;
		s[2] = a;
		len[2] = e - a;
	} else {
		s[2] = "";
		len[2] = 0;
	}
	m->strs = join_strings(3, s, len);
	return m->strs ? 0 : -ENOMEM;
}

/* The reason phrase of a response head. @return 0 or -ENOMEM */
static int
response_strings(struct msg *m)
{
	/* after the code, up to the line's LF */
	const char *reason = (const char *)m->head + 12;
	size_t len = m->line_len - 13;

	while (len > 0 && trim_char(*reason)) {
		reason++;
		len--;
	}
	while (len > 0 && trim_char(reason[len - 1]))
		len--;
	m->strs = join_strings(1, &reason, &len);
	return m->strs ? 0 : -ENOMEM;
}

/* Give http_parser bytes; @return consumed, or -1 on a framing error. */
static int64_t
parser_feed(struct side *s, const uint8_t *p, uint32_t len)
{
	size_t n = http_parser_execute(&s->hp, &s->c->p->settings,
				       (const char *)p, len);
	enum http_errno e = HTTP_PARSER_ERRNO(&s->hp);

	if (e != HPE_OK && e != HPE_PAUSED)
		return -1;
	return n;
}

static void
malformed(struct side *s)
{
	if (s->role == ROLE_CLIENT)
		s->c->p->stats.malformed_requests++;
	else
		s->c->p->stats.malformed_responses++;
	side_abandon(s, ST_EXCHANGE_MALFORMED);
}

/* A message is complete at @p ts (the chunk with its last byte). */
static void
message_done(struct side *s, uint64_t ts)
{
	struct conn *c = s->c;
	struct xchg *x = s->x;
	bool upgrade;

	side_reset(s, MODE_SKIP);
	if (s->role == ROLE_CLIENT) {
		x->req.last_ns = ts;
		req_complete(c, x);
		return;
	}
	x->resp.last_ns = ts;
	c->p->stats.responses++;
	upgrade = x->status == 101 ||
		  (x->is_connect && x->status >= 200 && x->status < 300);
	resp_over(c, x, ST_EXCHANGE_ANSWERED);
	if (upgrade) {
		c->p->stats.upgrades++;
		conn_off(c);
	}
}

/* The head is in buf: keep it in its message, start its body. */
static void
head_done(struct side *s, uint64_t ts)
{
	struct xchg *x = s->x;
	struct msg *m = s->role == ROLE_CLIENT ? &x->req : &x->resp;
	int rc;
	int64_t n;

	s->line_len = (const uint8_t *)memchr(s->buf, '\n', s->buf_len) -
		      s->buf + 1;
	http_parser_init(&s->hp, s->role == ROLE_CLIENT ? HTTP_REQUEST :
							  HTTP_RESPONSE);
	s->hp.data = s;
	s->body_done = false;
	if (s->role == ROLE_CLIENT) {
		n = parser_feed(s, (const uint8_t *)stand_in_line,
				sizeof(stand_in_line) - 1);
		if (n >= 0)
			n = parser_feed(s, s->buf + s->line_len,
					s->buf_len - s->line_len);
		if (n != s->buf_len - s->line_len)
			n = -1;
	} else {
		/* status first: on_headers_complete decides on a body */
		x->status = (s->buf[9] - '0') * 100 + (s->buf[10] - '0') * 10 +
			    (s->buf[11] - '0');
		n = parser_feed(s, s->buf, s->buf_len);
		if (n != s->buf_len)
			n = -1;
	}
	if (n < 0) {
		malformed(s);
		return;
	}
	if (s->role == ROLE_SERVER && x->status / 100 == 1 &&
	    x->status != 101) {
		s->c->p->stats.interim_responses++;
		side_reset(s, MODE_SKIP);
		return;
	}
	m->head = s->buf;
	m->head_len = s->buf_len;
	m->line_len = s->line_len;
	m->first_ns = s->first_ns;
	s->buf = NULL;
	s->buf_cap = 0;
	s->buf_len = 0;
	rc = split_fields(m);
	if (rc == 0)
		rc = s->role == ROLE_CLIENT ? request_strings(m) :
					      response_strings(m);
	if (rc < 0) {
		malformed(s);
		return;
	}
	if (s->body_done)
		message_done(s, ts);
	else
		s->mode = MODE_BODY;
}

static uint32_t
head_step(struct side *s, const uint8_t *p, uint32_t len, uint64_t ts)
{
	uint32_t max = s->c->p->limits.max_head_bytes;
	uint32_t old = s->buf_len, n = len, end;

	if (n > max - old)
		n = max - old;
	if (buf_append(s, p, n) < 0) {
		malformed(s);
		return 0;
	}
	end = head_end(s->buf, old >= 2 ? old - 2 : 0, s->buf_len);
	if (end == 0) {
		if (s->buf_len == max)
			malformed(s);
		return n;
	}
	s->buf_len = end;
	head_done(s, ts);
	return end - old;
}

static uint32_t
body_step(struct side *s, const uint8_t *p, uint32_t len, uint64_t ts)
{
	int64_t n = parser_feed(s, p, len);

	if (n < 0) {
		malformed(s);
		return 0;
	}
	if (s->body_done)
		message_done(s, ts);
	return n;
}

static void
side_data(struct side *s, const uint8_t *p, uint32_t len, uint64_t ts)
{
	uint32_t n;

	s->last_data_ns = ts;
	while (len > 0) {
		switch (s->mode) {
		case MODE_SKIP:
			n = skip_step(s, p, len, ts);
			break;
		case MODE_HEAD:
			n = head_step(s, p, len, ts);
			break;
		case MODE_BODY:
			n = body_step(s, p, len, ts);
			break;
		case MODE_WAIT:
			s->wait_bytes += len;
			return;
		case MODE_OFF:
		default:
			return;
		}
		p += n;
		len -= n;
	}
}

/* The body's message callbacks: @p hp->data is the side. */
static int
on_headers_complete(http_parser *hp)
{
	struct side *s = hp->data;
	const struct xchg *x = s->x;

	if (s->role == ROLE_CLIENT)
		return 0;
	/* These have no body whatever their headers say (RFC 9110 6.4.1):
	 * 1 tells the parser so. */
	if (x->is_head || x->status / 100 == 1 || x->status == 204 ||
	    x->status == 304 ||
	    (x->is_connect && x->status >= 200 && x->status < 300))
		return 1;
	return 0;
}

static int
on_body(http_parser *hp, const char *at, size_t len)
{
	struct side *s = hp->data;
	struct msg *m = s->role == ROLE_CLIENT ? &s->x->req : &s->x->resp;
	uint32_t max = s->c->p->limits.max_body_bytes, keep = len;

	if (keep > max - m->body_len) {
		keep = max - m->body_len;
		m->body_truncated = true;
	}
	if (keep == 0)
		return 0;
	if (m->body_len + keep > m->body_cap) {
		uint32_t cap = m->body_cap ? m->body_cap : 1024;
		uint8_t *b;

		while (cap < m->body_len + keep)
			cap = cap > max / 2 ? max : cap * 2;
		b = realloc(m->body, cap);
		if (b == NULL) {
			m->body_truncated = true;
			return 0;
		}
		m->body = b;
		m->body_cap = cap;
	}
	memcpy(m->body + m->body_len, at, keep);
	m->body_len += keep;
	return 0;
}

/* Stop right after the message so that the caller knows where the next
 * one starts (http_parser_execute() returns the bytes consumed). */
static int
on_message_complete(http_parser *hp)
{
	struct side *s = hp->data;

	s->body_done = true;
	http_parser_pause(hp, 1);
	return 0;
}

static void *
cb_open(void *arg, const struct st_reasm_conn_info *info, uint64_t ts_ns)
{
	struct st_exchange_parser *p = arg;
	struct conn *c = calloc(1, sizeof(*c));
	int d;

	(void)ts_ns;
	if (c == NULL)
		return NULL;
	c->p = p;
	LIST_INSERT_HEAD(&p->conns, c, link);
	c->info = info;
	c->id = p->next_conn_id++;
	c->client_dir = info->syn_seen ? 0 : -1;
	TAILQ_INIT(&c->fifo);
	for (d = 0; d < 2; d++) {
		c->side[d].c = c;
		c->side[d].dir = d;
		c->side[d].mode = MODE_SKIP;
		if (info->syn_seen)
			c->side[d].role = d == 0 ? ROLE_CLIENT : ROLE_SERVER;
	}
	return c;
}

static void
cb_data(void *user, int dir, const uint8_t *p, uint32_t len, uint64_t ts_ns)
{
	struct conn *c = user;

	if (c->state != CONN_OFF)
		side_data(&c->side[dir], p, len, ts_ns);
}

static void
cb_gap(void *user, int dir, uint64_t len, uint64_t ts_ns)
{
	struct conn *c = user;
	struct side *s = &c->side[dir];

	(void)len;
	(void)ts_ns;
	if (c->state == CONN_OFF)
		return;
	if (c->state == CONN_PROBING) {
		if (!s->probed) {
			s->buf_len = 0;
			s->in_candidate = false;
			probe_failed(c, s, false);
		}
		return;
	}
	if (s->role == ROLE_CLIENT)
		c->client_gap = true;
	/*
	 * A gap between two responses held the answer of the oldest waiting
	 * request, unless requests were lost just before that one: then it
	 * held theirs. That is the shape shadowtap gives a keep-alive
	 * connection when a request in it is not mirrored (a health check):
	 * a hole in each direction, the next request and its answer after.
	 */
	if (s->role == ROLE_SERVER && s->x == NULL && c->resp_next != NULL) {
		if (c->resp_next->after_client_gap)
			c->resp_next->after_client_gap = false;
		else
			s->x = c->resp_next;
	}
	side_abandon(s, ST_EXCHANGE_GAP);
}

/* The direction's sender has no more bytes: an EOF-delimited response
 * ends here; a message cut short ends. */
static void
side_eof(struct side *s)
{
	if (s->mode == MODE_BODY && s->role == ROLE_SERVER) {
		parser_feed(s, NULL, 0);
		if (s->body_done) {
			message_done(s, s->last_data_ns);
			return;
		}
	}
	side_abandon(s, ST_EXCHANGE_NO_RESPONSE);
}

static void
cb_end(void *user, int dir, uint64_t ts_ns)
{
	struct conn *c = user;

	(void)ts_ns;
	if (c->state == CONN_HTTP)
		side_eof(&c->side[dir]);
}

/* Free a connection without telling the consumer. */
static void
conn_free(struct conn *c)
{
	struct xchg *x;

	while ((x = TAILQ_FIRST(&c->fifo)) != NULL) {
		TAILQ_REMOVE(&c->fifo, x, next);
		xchg_free(x);
	}
	free(c->side[0].buf);
	free(c->side[1].buf);
	LIST_REMOVE(c, link);
	free(c);
}

static void
cb_close(void *user, enum st_reasm_end why, uint64_t ts_ns)
{
	struct conn *c = user;

	(void)why;
	(void)ts_ns;
	if (c->state == CONN_HTTP) {
		/* the server first: its EOF may end a response */
		side_eof(&c->side[c->client_dir ^ 1]);
		side_eof(&c->side[c->client_dir]);
		conn_off(c);
	}
	conn_free(c);
}

static const struct st_reasm_ops reasm_ops = {
	.open = cb_open,
	.data = cb_data,
	.gap = cb_gap,
	.end = cb_end,
	.close = cb_close,
};

const struct st_reasm_ops *
st_exchange_reasm_ops(void)
{
	return &reasm_ops;
}

int
st_exchange_parser_create(const struct st_exchange_limits *limits,
			  const struct st_exchange_ops *ops, void *arg,
			  struct st_exchange_parser **out)
{
	struct st_exchange_parser *p;

	if (limits == NULL || ops == NULL || ops->request == NULL ||
	    ops->done == NULL || out == NULL || limits->max_head_bytes < 16 ||
	    limits->max_pending == 0 ||
	    (limits->nb_http_ports > 0 && limits->http_ports == NULL))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->limits = *limits;
	if (limits->nb_http_ports > 0) {
		p->ports = malloc(limits->nb_http_ports * sizeof(*p->ports));
		if (p->ports == NULL) {
			free(p);
			return -ENOMEM;
		}
		memcpy(p->ports, limits->http_ports,
		       limits->nb_http_ports * sizeof(*p->ports));
	}
	p->limits.http_ports = p->ports;
	p->ops = ops;
	p->arg = arg;
	p->settings.on_headers_complete = on_headers_complete;
	p->settings.on_body = on_body;
	p->settings.on_message_complete = on_message_complete;
	LIST_INIT(&p->conns);
	*out = p;
	return 0;
}

void
st_exchange_parser_free(struct st_exchange_parser *p)
{
	if (p == NULL)
		return;
	while (!LIST_EMPTY(&p->conns))
		conn_free(LIST_FIRST(&p->conns));
	free(p->ports);
	free(p);
}

const struct st_exchange_stats *
st_exchange_parser_stats(const struct st_exchange_parser *p)
{
	return &p->stats;
}
