/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shadow client's libcurl transport, for https:// (shadow.c's top
 * says why http:// has its own): one easy handle per request in one multi
 * handle whose pool is the client's connections.
 */
#include "shadow_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* curl_waitfd events are poll()'s on Linux: the caller's pollfd events and
 * revents are passed through as they are. */
_Static_assert(CURL_WAIT_POLLIN == POLLIN && CURL_WAIT_POLLPRI == POLLPRI &&
		       CURL_WAIT_POLLOUT == POLLOUT,
	       "curl_waitfd events differ from poll()'s");
_Static_assert(SHADOW_ERROR_SIZE >= CURL_ERROR_SIZE,
	       "the error buffer is libcurl's");

struct curl_xfer {
	struct shadow_xfer c;	/* first: what shadow.c knows */
	CURL *easy;
	struct curl_slist *headers;
	bool added;		/* in the multi handle */
	CURLcode failed;	/* why it could not be started */
	bool head_done;		/* later header lines are trailers */
};

struct curl_tp {
	CURLM *multi;
	struct curl_xfer *failed;	/* done without running, on c.next */
	struct curl_waitfd *waitfds;
	unsigned int waitfds_cap;
	struct shadow_buf line;		/* scratch: a header line */
};

static struct curl_xfer *
cx(struct shadow_xfer *x)
{
	return (struct curl_xfer *)x;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct curl_xfer *x = arg;
	size_t len = size * n;

	/* A status line starts a response: a 1xx one is followed by
	 * another, and only the last response's fields are kept. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		x->c.head.len = 0;
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
	if (x->c.head.len + len > SHADOW_HEAD_MAX_BYTES)
		return len;
	/* Anything but len aborts the transfer (CURLE_WRITE_ERROR). */
	return shadow_buf_add(&x->c.head, p, len, SHADOW_HEAD_MAX_BYTES) == 0 ?
		       len :
		       0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	size_t len = size * n;

	return shadow_keep_body(arg, p, len) == 0 ? len : 0;
}

static int
add_header(struct curl_xfer *x, const char *line)
{
	struct curl_slist *l = curl_slist_append(x->headers, line);

	if (l == NULL)
		return -ENOMEM;
	x->headers = l;
	return 0;
}

/* The built fields as libcurl's header list: "name;" is its way to send
 * a field with an empty value ("name:" would remove one of its own), and
 * "Accept:", "Content-Type:", "Expect:" remove those it would add. */
static int
set_headers(struct curl_tp *t, struct curl_xfer *x, const struct shadow_msg *m)
{
	const char *p = m->fields, *end = m->fields + m->fields_len;

	while (p < end) {
		const char *eol = p, *colon;
		size_t len;

		while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
			eol++;
		len = (size_t)(eol - p);
		colon = memchr(p, ':', len);

		t->line.len = 0;
		if (shadow_buf_add(&t->line, p, len + 1, SIZE_MAX) < 0)
			return -ENOMEM;
		if (colon == eol - 1)
			t->line.data[len - 1] = ';';
		t->line.data[len] = '\0';
		if (add_header(x, t->line.data) < 0)
			return -ENOMEM;
		p = eol + 2;
	}
	if (add_header(x, "Accept:") < 0 || add_header(x, "Content-Type:") < 0 ||
	    add_header(x, "Expect:") < 0)
		return -ENOMEM;
	return 0;
}

/* Set up @p x's easy handle for @p m. Strings are copied by libcurl; the
 * header list is kept in @p x until the request is done. */
static int
curl_prepare(struct st_shadow *s, struct shadow_xfer *sx,
	     const struct shadow_msg *m)
{
	struct curl_xfer *x = cx(sx);
	CURL *e = x->easy;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->c.error);
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
	/* The target goes as the request target rather than in the URL:
	 * libcurl would remove dot segments and re-encode it. */
	if (curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, m->target) != CURLE_OK)
		return -ENOMEM;
	if (m->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if ((strcmp(m->method, "GET") != 0 || m->with_body) &&
		 curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m->method) !=
			 CURLE_OK)
		return -ENOMEM;
	if (m->with_body &&
	    (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			      (curl_off_t)m->body_len) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
			      m->body != NULL ? (const char *)m->body : "") !=
		     CURLE_OK))
		return -ENOMEM;
	if (set_headers(s->be, x, m) < 0)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	return 0;
}

/* Into the multi handle; a refusal is reported by the next poll, since
 * done() is never called from submit. */
static void
curl_start(struct st_shadow *s, struct shadow_xfer *sx)
{
	struct curl_tp *t = s->be;
	struct curl_xfer *x = cx(sx);
	CURLMcode mc = curl_multi_add_handle(t->multi, x->easy);

	if (mc == CURLM_OK) {
		x->added = true;
		return;
	}
	snprintf(x->c.error, sizeof(x->c.error), "%s",
		 curl_multi_strerror(mc));
	x->failed = CURLE_FAILED_INIT;
	x->c.next = t->failed != NULL ? &t->failed->c : NULL;
	t->failed = x;
}

static struct shadow_xfer *
curl_xfer_new(void)
{
	struct curl_xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	return &x->c;
}

static void
curl_xfer_reset(struct shadow_xfer *sx)
{
	struct curl_xfer *x = cx(sx);

	curl_slist_free_all(x->headers);
	x->headers = NULL;
	x->failed = CURLE_OK;
	x->head_done = false;
}

static void
curl_xfer_free(struct st_shadow *s, struct shadow_xfer *sx)
{
	struct curl_tp *t = s->be;
	struct curl_xfer *x = cx(sx);

	if (x->added)
		curl_multi_remove_handle(t->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
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

/* @p x ended with @p rc: out of the multi handle, then reported. */
static void
finish(struct st_shadow *s, struct curl_xfer *x, CURLcode rc)
{
	struct curl_tp *t = s->be;
	struct st_shadow_response r = { .outcome = outcome_of(rc) };
	curl_off_t pre = 0, start = 0, total = 0, up = 0, down = 0;
	long status = 0, req_bytes = 0, head_bytes = 0;
	CURL *e = x->easy;

	if (x->added) {
		curl_multi_remove_handle(t->multi, e);
		x->added = false;
	}
	curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &start);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req_bytes);
	curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &head_bytes);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	r.status = (int)status;
	if (r.outcome != ST_SHADOW_ANSWERED && x->c.error[0] == '\0')
		r.error = curl_easy_strerror(rc);
	r.ttfb_ms = start > pre ? (double)(start - pre) / 1000.0 : 0.0;
	r.total_ms = (double)total / 1000.0;
	shadow_finish(s, &x->c, &r, (uint64_t)req_bytes + (uint64_t)up,
		      (uint64_t)head_bytes + (uint64_t)down);
}

static int
curl_poll(struct st_shadow *s, struct pollfd *extra, unsigned int nb_extra,
	  int timeout_ms)
{
	struct curl_tp *t = s->be;
	unsigned int i;
	int ready = 0, running, left, events = 0;
	long due_ms = -1;
	CURLMsg *msg;
	CURLMcode mc;

	if (nb_extra > t->waitfds_cap) {
		struct curl_waitfd *w =
			realloc(t->waitfds, nb_extra * sizeof(*w));

		if (w == NULL)
			return -ENOMEM;
		t->waitfds = w;
		t->waitfds_cap = nb_extra;
	}
	for (i = 0; i < nb_extra; i++)
		t->waitfds[i] = (struct curl_waitfd){
			.fd = extra[i].fd,
			.events = extra[i].events &
				  (POLLIN | POLLPRI | POLLOUT),
		};
	/* Requests that failed to start are reported without waiting. */
	mc = curl_multi_poll(t->multi, t->waitfds, nb_extra,
			     t->failed != NULL ? 0 : timeout_ms, &events);
	if (mc == CURLM_OK)
		mc = curl_multi_timeout(t->multi, &due_ms);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	for (i = 0; i < nb_extra; i++) {
		extra[i].revents = (short)t->waitfds[i].revents;
		ready += extra[i].revents != 0;
	}
	/* curl_multi_perform() checks every transfer's socket with a poll()
	 * of its own: with nothing ready on the shadow's sockets and no
	 * timer due (a new transfer's is), it would only cost a syscall per
	 * connection, which a --fast replay paid after every batch of
	 * packets. */
	if (events > ready || due_ms == 0) {
		mc = curl_multi_perform(t->multi, &running);
		if (mc != CURLM_OK)
			return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	/* The message is read before finish() removes its handle, which
	 * invalidates it. */
	while ((msg = curl_multi_info_read(t->multi, &left)) != NULL) {
		struct curl_xfer *x;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		finish(s, x, rc);
	}
	while (t->failed != NULL) {
		struct curl_xfer *x = t->failed;

		t->failed = cx(x->c.next);
		finish(s, x, x->failed);
	}
	return ready;
}

static int
curl_init(struct st_shadow *s, const char *host, const char *port, char *err,
	  size_t errlen)
{
	long conns = (long)s->conf.connections;
	struct curl_tp *t;

	/* libcurl reads the url itself */
	(void)host;
	(void)port;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "shadow: libcurl cannot be initialised");
		return -EIO;
	}
	t = calloc(1, sizeof(*t));
	if (t != NULL)
		t->multi = curl_multi_init();
	if (t == NULL || t->multi == NULL) {
		free(t);
		curl_global_cleanup();
		snprintf(err, errlen, "shadow: out of memory");
		return -ENOMEM;
	}
	/* The pool: one request per connection at a time (HTTP/1.1, no
	 * pipelining), at most `connections` of them, all kept alive. */
	curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
	curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(t->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, conns);
	s->be = t;
	return 0;
}

static void
curl_fini(struct st_shadow *s)
{
	struct curl_tp *t = s->be;

	if (t == NULL)
		return;
	curl_multi_cleanup(t->multi);
	free(t->waitfds);
	free(t->line.data);
	free(t);
	s->be = NULL;
	curl_global_cleanup();
}

const struct shadow_transport shadow_curl = {
	.init = curl_init,
	.fini = curl_fini,
	.xfer_new = curl_xfer_new,
	.prepare = curl_prepare,
	.start = curl_start,
	.xfer_reset = curl_xfer_reset,
	.xfer_free = curl_xfer_free,
	.poll = curl_poll,
};
