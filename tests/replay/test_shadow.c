/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the shadow client (replay/shadow.h) against a real HTTP/1.1
 * server on 127.0.0.1 run by the test itself.
 *
 * The server is written here rather than taken from libmicrohttpd: the
 * tests look at the request bytes exactly as sent (duplicate fields, the
 * raw target), count TCP connections, and need a server that accepts and
 * then closes without answering, which libmicrohttpd does not expose.
 *
 * What the server does is chosen by the request target:
 *   /delay/N...  answers after N ms (waiting ends early if the client
 *                goes away)
 *   /close       closes the connection without answering
 *   /then-close  answers, then closes the connection without having said
 *                so (no "Connection: close"), as an idle timeout would
 *   /body/N      answers N bytes of body
 *   /interim     sends a 100 Continue with a field before the answer
 *   /chunked     answers a chunked body of 7 bytes with two trailer fields
 *   /to-close    answers a body of 5 bytes that ends with the connection
 *   anything else answers 200 with a short body
 * Every answer carries "X-Seq: N", N counting requests in arrival order.
 */

#define _GNU_SOURCE /* memmem, strcasestr, POLLRDHUP */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadow.h"

#define MAX_SEEN 128
#define MAX_CONNS 64
#define HEAD_MAX 8192

/* A request as the server received it. */
struct seen {
	char head[HEAD_MAX];	/* request line to empty line, NUL added */
	char body[1024];
	size_t body_len;
	unsigned int conn;	/* which accepted connection */
};

struct server {
	int lfd;
	uint16_t port;
	pthread_t accept_thread;
	pthread_mutex_t lock;
	unsigned int nb_conns;
	int conn_fds[MAX_CONNS];
	pthread_t conn_threads[MAX_CONNS];
	unsigned int nb_seen;
	struct seen seen[MAX_SEEN];
};

struct conn_arg {
	struct server *srv;
	int fd;
	unsigned int idx;
};

static struct server srv;

static void
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Wait @p ms, or less if the client closes its side. */
static void
wait_ms(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	poll(&p, 1, ms);
}

static void
answer(int fd, unsigned int seq, bool head, size_t body_len)
{
	char hdr[256], *body = malloc(body_len + 1);

	assert_non_null(body);
	memset(body, 'b', body_len);
	snprintf(hdr, sizeof(hdr),
		 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Seq: %u\r\n"
		 "X-Final: yes\r\n\r\n",
		 body_len, seq);
	send_all(fd, hdr, strlen(hdr));
	if (!head)
		send_all(fd, body, body_len);
	free(body);
}

static void *
conn_main(void *p)
{
	static const char interim[] =
		"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n";
	static const char chunked[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"X-Final: yes\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n"
		"X-Trailer: t\r\nX-Trailer-2: u\r\n\r\n";
	static const char to_close[] =
		"HTTP/1.1 200 OK\r\nX-Final: yes\r\n\r\nhello";
	struct conn_arg *a = p;
	char buf[HEAD_MAX + 4096];
	size_t have = 0;

	for (;;) {
		char *end = NULL, *cl, method[16], target[256];
		size_t head_len, body_len = 0;
		struct seen *sn;
		unsigned int seq;
		ssize_t r;
		int ms;

		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
			r = recv(a->fd, buf + have, sizeof(buf) - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		head_len = (size_t)(end - buf) + 4;
		buf[head_len - 1] = '\0';
		cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl != NULL)
			body_len = strtoul(cl + 17, NULL, 10);
		buf[head_len - 1] = '\n';
		while (have < head_len + body_len) {
			r = recv(a->fd, buf + have, sizeof(buf) - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		pthread_mutex_lock(&a->srv->lock);
		seq = a->srv->nb_seen;
		sn = seq < MAX_SEEN ? &a->srv->seen[seq] : NULL;
		if (sn != NULL) {
			memcpy(sn->head, buf, head_len);
			sn->head[head_len] = '\0';
			sn->body_len = body_len < sizeof(sn->body) ?
					       body_len : sizeof(sn->body);
			memcpy(sn->body, buf + head_len, sn->body_len);
			sn->conn = a->idx;
			a->srv->nb_seen++;
		}
		pthread_mutex_unlock(&a->srv->lock);
		if (sscanf(buf, "%15s %255s", method, target) != 2)
			goto out;
		memmove(buf, buf + head_len + body_len,
			have - head_len - body_len);
		have -= head_len + body_len;

		if (strcmp(target, "/close") == 0)
			goto out;
		if (strcmp(target, "/chunked") == 0) {
			send_all(a->fd, chunked, strlen(chunked));
			continue;
		}
		if (strcmp(target, "/to-close") == 0) {
			send_all(a->fd, to_close, strlen(to_close));
			goto out;
		}
		if (strcmp(target, "/then-close") == 0) {
			answer(a->fd, seq, false, 2);
			goto out;
		}
		if (sscanf(target, "/delay/%d", &ms) == 1)
			wait_ms(a->fd, ms);
		if (strcmp(target, "/interim") == 0)
			send_all(a->fd, interim, strlen(interim));
		if (sscanf(target, "/body/%d", &ms) == 1)
			answer(a->fd, seq, false, (size_t)ms);
		else
			answer(a->fd, seq, strcmp(method, "HEAD") == 0, 2);
	}
out:
	shutdown(a->fd, SHUT_RDWR);
	free(a);
	return NULL;
}

static void *
accept_main(void *p)
{
	struct server *s = p;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		struct conn_arg *a;

		if (fd < 0)
			return NULL;
		a = malloc(sizeof(*a));
		assert_non_null(a);
		pthread_mutex_lock(&s->lock);
		assert_true(s->nb_conns < MAX_CONNS);
		*a = (struct conn_arg){ .srv = s, .fd = fd,
					.idx = s->nb_conns };
		s->conn_fds[s->nb_conns] = fd;
		assert_int_equal(pthread_create(&s->conn_threads[s->nb_conns],
						NULL, conn_main, a),
				 0);
		s->nb_conns++;
		pthread_mutex_unlock(&s->lock);
	}
}

/* A listening socket on 127.0.0.1, some free port. */
static int
listen_any(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
server_start(void **state)
{
	(void)state;
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	srv.lfd = listen_any(&srv.port);
	return pthread_create(&srv.accept_thread, NULL, accept_main, &srv);
}

static int
server_stop(void **state)
{
	unsigned int i;

	(void)state;
	shutdown(srv.lfd, SHUT_RDWR);
	pthread_join(srv.accept_thread, NULL);
	close(srv.lfd);
	for (i = 0; i < srv.nb_conns; i++) {
		shutdown(srv.conn_fds[i], SHUT_RDWR);
		pthread_join(srv.conn_threads[i], NULL);
		close(srv.conn_fds[i]);
	}
	pthread_mutex_destroy(&srv.lock);
	return 0;
}

static unsigned int
server_conns(void)
{
	unsigned int n;

	pthread_mutex_lock(&srv.lock);
	n = srv.nb_conns;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

static unsigned int
server_seen(void)
{
	unsigned int n;

	pthread_mutex_lock(&srv.lock);
	n = srv.nb_seen;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

/* How many fields named @p name (any case) a received head holds; the
 * value of the last one in @p value. */
static unsigned int
field_count(const char *head, const char *name, char *value, size_t len)
{
	const char *line = strstr(head, "\r\n");
	size_t nlen = strlen(name);
	unsigned int n = 0;

	while (line != NULL && line[2] != '\r') {
		const char *p = line + 2, *eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;

			while (*v == ' ')
				v++;
			if (value != NULL)
				snprintf(value, len, "%.*s", (int)(eol - v), v);
			n++;
		}
		line = eol;
	}
	return n;
}

/* ---- the client side ---------------------------------------------- */

struct result {
	bool done;
	enum st_shadow_outcome outcome;
	int status;
	uint32_t body_len;
	bool truncated;
	double ttfb_ms, total_ms;
	char seq[16];		/* X-Seq of the answer */
	bool interim_field, final_field, trailer_field;
	unsigned int order;	/* when it was done */
};

struct run {
	struct result res[64];
	unsigned int nb_done;
};

static void
on_done(void *arg, void *user, const struct st_shadow_response *r)
{
	struct run *run = arg;
	struct result *res = &run->res[(uintptr_t)user];
	unsigned int i;

	assert_false(res->done);
	res->done = true;
	res->order = run->nb_done++;
	res->outcome = r->outcome;
	res->status = r->status;
	res->body_len = r->body_len;
	res->truncated = r->body_truncated;
	res->ttfb_ms = r->ttfb_ms;
	res->total_ms = r->total_ms;
	if (r->outcome != ST_SHADOW_ANSWERED)
		assert_non_null(r->error);
	for (i = 0; i < r->nb_fields; i++) {
		const struct st_http_field *f = &r->fields[i];

		if (f->name_len == 5 && strncasecmp(f->name, "x-seq", 5) == 0)
			snprintf(res->seq, sizeof(res->seq), "%.*s",
				 (int)f->value_len, f->value);
		res->interim_field |= f->name_len == 9 &&
				      strncasecmp(f->name, "x-interim", 9) == 0;
		res->trailer_field |= f->name_len == 9 &&
				      strncasecmp(f->name, "x-trailer", 9) == 0;
		res->final_field |= f->name_len == 7 &&
				    strncmp(f->name, "X-Final", 7) == 0 &&
				    f->value_len == 3 &&
				    strncmp(f->value, "yes", 3) == 0;
	}
}

static void
default_conf(struct st_replay_shadow_conf *c, uint16_t port)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u", port);
	c->host_mode = ST_REPLAY_HOST_KEEP;
	c->timeout_ms = 3000;
	c->connections = 4;
	c->max_in_flight = 64;
	strcpy(c->mark_header, "x-shadowtap-replay");
	strcpy(c->mark_value, "1");
}

static struct st_shadow *
make(const struct st_replay_shadow_conf *c, const struct st_sanitizer *san,
     uint32_t max_body, struct run *run)
{
	struct st_shadow *s = NULL;
	char err[256] = "";

	memset(run, 0, sizeof(*run));
	assert_int_equal(st_shadow_create(c, san, max_body, on_done, run, &s,
					  err, sizeof(err)),
			 0);
	assert_non_null(s);
	return s;
}

static int
submit(struct st_shadow *s, const char *method, const char *target,
       uint64_t conn_id, unsigned int user)
{
	struct st_shadow_request req = {
		.method = method,
		.target = target,
		.host = "api.example",
		.conn_id = conn_id,
		.user = (void *)(uintptr_t)user,
	};

	return st_shadow_submit(s, &req);
}

/* Poll until @p n requests are done (at most 5 s). */
static void
run_until(struct st_shadow *s, struct run *run, unsigned int n)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (run->nb_done < n) {
		assert_true(st_shadow_poll(s, NULL, 0, 100) >= 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 5);
	}
}

static void
check_stats(const struct st_shadow *s)
{
	const struct st_shadow_stats *st = st_shadow_stats(s);
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < ST_SHADOW_OUTCOMES; i++)
		sum += st->outcome[i];
	assert_int_equal(st->submitted, sum + st_shadow_in_flight(s));
}

/* ---- the tests ---------------------------------------------------- */

#define FIELD(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static void
test_request_shape(void **state)
{
	static const struct st_http_field fields[] = {
		FIELD("Host", "api.example:8080"),
		FIELD("Authorization", "Bearer secret"),
		FIELD("Cookie", "sid=1"),
		FIELD("X-Api-Key", "k-123"),
		FIELD("Accept-Encoding", "gzip, br"),
		FIELD("Connection", "keep-alive, X-Hop"),
		FIELD("X-Hop", "1"),
		FIELD("Keep-Alive", "timeout=5"),
		FIELD("Proxy-Authorization", "Basic x"),
		FIELD("Content-Length", "5"),
		FIELD("Content-Type", "text/plain"),
		FIELD("X-Shadowtap-Replay", "spoofed"),
		FIELD("X-Empty", ""),
		FIELD("X-Custom", "a"),
		FIELD("x-custom", "b"),
	};
	struct st_replay_sanitize_conf sc = { 0 };
	struct st_replay_shadow_conf c;
	struct st_sanitizer *san = NULL;
	struct st_shadow_request req = {
		.method = "POST",
		.target = "/p/../q?card=1&x",
		.host = "api.example:8080",
		.fields = fields,
		.nb_fields = sizeof(fields) / sizeof(fields[0]),
		.body = (const uint8_t *)"hello",
		.body_len = 5,
		.conn_id = 1,
	};
	char err[128], v[128], *head;
	unsigned int base = server_seen();
	struct st_shadow *s;
	struct run run;

	(void)state;
	sc.nb_drop_headers = 2;
	strcpy(sc.drop_headers[0], "authorization");
	strcpy(sc.drop_headers[1], "cookie");
	sc.nb_replace_headers = 1;
	strcpy(sc.replace_headers[0].name, "x-api-key");
	strcpy(sc.replace_headers[0].value, "REDACTED");
	assert_int_equal(st_sanitizer_create(&sc, &san, err, sizeof(err)), 0);
	default_conf(&c, srv.port);
	strcat(c.url, "/v2/");
	c.host_mode = ST_REPLAY_HOST_SUFFIX;
	strcpy(c.host, "-shadow");
	s = make(&c, san, 1024, &run);
	assert_int_equal(st_shadow_submit(s, &req), 0);
	run_until(s, &run, 1);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[0].status, 200);

	head = srv.seen[base].head;
	assert_memory_equal(head, "POST /v2/p/../q?card=1&x HTTP/1.1\r\n", 35);
	assert_int_equal(field_count(head, "host", v, sizeof(v)), 1);
	assert_string_equal(v, "api.example-shadow:8080");
	assert_int_equal(field_count(head, "authorization", NULL, 0), 0);
	assert_int_equal(field_count(head, "cookie", NULL, 0), 0);
	assert_int_equal(field_count(head, "x-api-key", v, sizeof(v)), 1);
	assert_string_equal(v, "REDACTED");
	assert_int_equal(field_count(head, "accept-encoding", v, sizeof(v)),
			 1);
	assert_string_equal(v, "gzip, br");
	assert_int_equal(field_count(head, "connection", NULL, 0), 0);
	assert_int_equal(field_count(head, "x-hop", NULL, 0), 0);
	assert_int_equal(field_count(head, "keep-alive", NULL, 0), 0);
	assert_int_equal(field_count(head, "proxy-authorization", NULL, 0), 0);
	assert_int_equal(field_count(head, "content-length", v, sizeof(v)), 1);
	assert_string_equal(v, "5");
	assert_int_equal(field_count(head, "content-type", v, sizeof(v)), 1);
	assert_string_equal(v, "text/plain");
	assert_int_equal(field_count(head, "x-shadowtap-replay", v, sizeof(v)),
			 1);
	assert_string_equal(v, "1");
	assert_int_equal(field_count(head, "x-empty", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(field_count(head, "x-custom", v, sizeof(v)), 2);
	assert_string_equal(v, "b");
	/* nothing of libcurl's own */
	assert_int_equal(field_count(head, "expect", NULL, 0), 0);
	assert_int_equal(field_count(head, "accept", NULL, 0), 0);
	assert_int_equal(field_count(head, "user-agent", NULL, 0), 0);
	assert_int_equal(srv.seen[base].body_len, 5);
	assert_memory_equal(srv.seen[base].body, "hello", 5);
	st_shadow_free(s);
	st_sanitizer_free(san);
}

/* The Host field a request with @p target and captured host @p host gets
 * under @p mode. */
static void
host_sent(enum st_replay_host_mode mode, const char *value,
	  const char *target, const char *host, char *out, size_t len)
{
	struct st_shadow_request req = {
		.method = "GET", .target = target, .host = host, .conn_id = 7,
	};
	struct st_replay_shadow_conf c;
	unsigned int base = server_seen();
	struct st_shadow *s;
	struct run run;

	default_conf(&c, srv.port);
	c.host_mode = mode;
	strcpy(c.host, value);
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(st_shadow_submit(s, &req), 0);
	run_until(s, &run, 1);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(field_count(srv.seen[base].head, "host", out, len),
			 1);
	st_shadow_free(s);
}

static void
test_host_modes(void **state)
{
	char v[128], want[64];

	(void)state;
	host_sent(ST_REPLAY_HOST_KEEP, "", "/", "api.example", v, sizeof(v));
	assert_string_equal(v, "api.example");
	host_sent(ST_REPLAY_HOST_SET, "shadow.internal", "/", "api.example", v,
		  sizeof(v));
	assert_string_equal(v, "shadow.internal");
	host_sent(ST_REPLAY_HOST_SUFFIX, "-s", "/", "api.example", v,
		  sizeof(v));
	assert_string_equal(v, "api.example-s");
	host_sent(ST_REPLAY_HOST_SUFFIX, "-s", "/", "[::1]:80", v, sizeof(v));
	assert_string_equal(v, "[::1]-s:80");
	/* an absolute-form target's authority is the host; its path goes */
	host_sent(ST_REPLAY_HOST_KEEP, "", "http://abs.example:81?q", "other",
		  v, sizeof(v));
	assert_string_equal(v, "abs.example:81");
	assert_memory_equal(srv.seen[server_seen() - 1].head,
			    "GET /?q HTTP/1.1\r\n", 18);
	/* no captured host: the url's authority */
	host_sent(ST_REPLAY_HOST_KEEP, "", "/", "", v, sizeof(v));
	snprintf(want, sizeof(want), "127.0.0.1:%u", srv.port);
	assert_string_equal(v, want);
}

static void
test_methods(void **state)
{
	static const struct st_http_field cl[] = { FIELD("Content-Length",
							 "3") };
	struct st_shadow_request req = {
		.target = "/m", .host = "h", .conn_id = 1,
	};
	struct st_replay_shadow_conf c;
	unsigned int base = server_seen();
	struct st_shadow *s;
	struct run run;
	char v[32];

	(void)state;
	default_conf(&c, srv.port);
	s = make(&c, NULL, 1024, &run);
	req.method = "HEAD";
	req.user = (void *)0;
	assert_int_equal(st_shadow_submit(s, &req), 0);
	req.method = "PURGE";
	req.user = (void *)1;
	assert_int_equal(st_shadow_submit(s, &req), 0);
	req.method = "QUERY";
	req.fields = cl;
	req.nb_fields = 1;
	req.body = (const uint8_t *)"a=1";
	req.body_len = 3;
	req.user = (void *)2;
	assert_int_equal(st_shadow_submit(s, &req), 0);
	run_until(s, &run, 3);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[0].body_len, 0);
	assert_int_equal(run.res[1].body_len, 2);
	assert_int_equal(run.res[2].body_len, 2);
	assert_memory_equal(srv.seen[base].head, "HEAD /m HTTP/1.1\r\n", 18);
	assert_memory_equal(srv.seen[base + 1].head, "PURGE /m HTTP/1.1\r\n",
			    19);
	assert_int_equal(
		field_count(srv.seen[base + 1].head, "content-length", NULL, 0),
		0);
	assert_memory_equal(srv.seen[base + 2].head, "QUERY /m HTTP/1.1\r\n",
			    19);
	assert_int_equal(field_count(srv.seen[base + 2].head,
				     "content-length", v, sizeof(v)),
			 1);
	assert_string_equal(v, "3");
	assert_memory_equal(srv.seen[base + 2].body, "a=1", 3);
	/* not replayable */
	req.method = "CONNECT";
	req.target = "api.example:443";
	assert_int_equal(st_shadow_submit(s, &req), -EINVAL);
	req.method = "GE T";
	req.target = "/";
	assert_int_equal(st_shadow_submit(s, &req), -EINVAL);
	check_stats(s);
	st_shadow_free(s);
}

static void
test_order(void **state)
{
	static const char *const delays[] = {
		"/delay/80", "/delay/10", "/delay/60", "/delay/0", "/delay/30",
	};
	struct st_replay_shadow_conf c;
	unsigned int base = server_seen(), i;
	struct st_shadow *s;
	struct run run;
	char want[16];

	(void)state;
	default_conf(&c, srv.port);
	s = make(&c, NULL, 1024, &run);
	for (i = 0; i < 5; i++)
		assert_int_equal(submit(s, "GET", delays[i], 42, i), 0);
	assert_int_equal(st_shadow_in_flight(s), 5);
	run_until(s, &run, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(run.res[i].order, i);
		snprintf(want, sizeof(want), "%u", base + i);
		assert_string_equal(run.res[i].seq, want);
		assert_non_null(strstr(srv.seen[base + i].head, delays[i]));
	}
	/* Two connections interleave: B's two requests are both done while
	 * A's first still waits. */
	memset(&run, 0, sizeof(run));
	assert_int_equal(submit(s, "GET", "/delay/300", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/delay/0", 1, 1), 0);
	assert_int_equal(submit(s, "GET", "/delay/0", 2, 2), 0);
	assert_int_equal(submit(s, "GET", "/delay/0", 2, 3), 0);
	run_until(s, &run, 4);
	assert_int_equal(run.res[2].order, 0);
	assert_int_equal(run.res[3].order, 1);
	assert_int_equal(run.res[0].order, 2);
	assert_int_equal(run.res[1].order, 3);
	st_shadow_free(s);
}

static void
test_max_in_flight(void **state)
{
	struct st_replay_shadow_conf c;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.max_in_flight = 3;
	s = make(&c, NULL, 1024, &run);
	/* queued behind its predecessor counts too */
	assert_int_equal(submit(s, "GET", "/delay/50", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/delay/50", 1, 1), 0);
	assert_int_equal(submit(s, "GET", "/delay/50", 2, 2), 0);
	assert_int_equal(submit(s, "GET", "/", 3, 3), -EBUSY);
	assert_int_equal(submit(s, "GET", "/", 1, 3), -EBUSY);
	assert_int_equal(st_shadow_stats(s)->busy, 2);
	assert_int_equal(st_shadow_stats(s)->submitted, 3);
	run_until(s, &run, 1);
	assert_int_equal(submit(s, "GET", "/", 3, 3), 0);
	run_until(s, &run, 4);
	assert_int_equal(st_shadow_in_flight(s), 0);
	check_stats(s);
	st_shadow_free(s);
}

static void
test_connection_reuse(void **state)
{
	struct st_replay_shadow_conf c;
	unsigned int before = server_conns(), i;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.connections = 2;
	s = make(&c, NULL, 1024, &run);
	for (i = 0; i < 20; i++)
		assert_int_equal(submit(s, "GET", "/delay/5", i, i), 0);
	run_until(s, &run, 20);
	for (i = 0; i < 20; i++)
		assert_int_equal(run.res[i].outcome, ST_SHADOW_ANSWERED);
	assert_true(server_conns() - before <= 2);
	assert_true(server_conns() - before >= 1);
	st_shadow_free(s);
}

static void
test_failures(void **state)
{
	struct st_replay_shadow_conf c;
	struct st_shadow *s, *dead;
	struct run run, dead_run;
	uint16_t closed_port;
	int fd;

	(void)state;
	default_conf(&c, srv.port);
	c.timeout_ms = 200;
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(submit(s, "GET", "/delay/2000", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/close", 2, 1), 0);
	run_until(s, &run, 2);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_TIMEOUT);
	assert_true(run.res[0].total_ms >= 150);
	assert_int_equal(run.res[0].status, 0);
	assert_int_equal(run.res[1].outcome, ST_SHADOW_RESET);
	check_stats(s);
	assert_int_equal(st_shadow_stats(s)->outcome[ST_SHADOW_TIMEOUT], 1);
	assert_int_equal(st_shadow_stats(s)->outcome[ST_SHADOW_RESET], 1);
	st_shadow_free(s);

	/* a port nobody listens on any more */
	fd = listen_any(&closed_port);
	close(fd);
	default_conf(&c, closed_port);
	dead = make(&c, NULL, 1024, &dead_run);
	assert_int_equal(submit(dead, "GET", "/", 1, 0), 0);
	run_until(dead, &dead_run, 1);
	assert_int_equal(dead_run.res[0].outcome, ST_SHADOW_REFUSED);
	assert_int_equal(st_shadow_stats(dead)->outcome[ST_SHADOW_REFUSED], 1);
	st_shadow_free(dead);
}

/* A request waiting for a connection slot is not timed out: its timeout
 * runs from when it gets the slot. */
static void
test_timeout_from_slot(void **state)
{
	struct st_replay_shadow_conf c;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.connections = 1;
	c.timeout_ms = 300;
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(submit(s, "GET", "/delay/200", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/delay/200", 2, 1), 0);
	run_until(s, &run, 2);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[1].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[1].order, 1);
	st_shadow_free(s);
}

static void
test_body_truncated(void **state)
{
	struct st_replay_shadow_conf c;
	unsigned int before;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.connections = 1;
	s = make(&c, NULL, 100, &run);
	before = server_conns();
	assert_int_equal(submit(s, "GET", "/body/50000", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/body/100", 2, 1), 0);
	run_until(s, &run, 2);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[0].body_len, 100);
	assert_true(run.res[0].truncated);
	assert_int_equal(run.res[1].body_len, 100);
	assert_false(run.res[1].truncated);
	/* the rest was read: the connection served the second request */
	assert_int_equal(server_conns() - before, 1);
	assert_true(st_shadow_stats(s)->bytes_received > 50000);
	assert_true(st_shadow_stats(s)->bytes_sent > 2 * strlen("GET / "));
	st_shadow_free(s);
}

/* A kept-alive connection the shadow closed meanwhile fails the next
 * request before any byte of an answer: it is sent once more on a fresh
 * connection, and only once. */
static void
test_keepalive_retry(void **state)
{
	struct st_replay_shadow_conf c;
	unsigned int conns, seen;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.connections = 1;
	s = make(&c, NULL, 1024, &run);
	conns = server_conns();
	seen = server_seen();
	/* the second goes on the first's connection as soon as the first
	 * is answered, before the close is noticed */
	assert_int_equal(submit(s, "GET", "/then-close", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/", 1, 1), 0);
	run_until(s, &run, 2);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[1].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(server_conns() - conns, 2);
	assert_int_equal(server_seen() - seen, 2);

	/* closed on the fresh connection too: RESET after one retry */
	memset(&run, 0, sizeof(run));
	seen = server_seen();
	assert_int_equal(submit(s, "GET", "/close", 2, 0), 0);
	run_until(s, &run, 1);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_RESET);
	assert_int_equal(server_seen() - seen, 2);
	assert_true(strstr(srv.seen[seen + 1].head, "GET /close ") ==
		    srv.seen[seen + 1].head);
	check_stats(s);
	st_shadow_free(s);
}

/* Bodies framed otherwise than by Content-Length: chunked (de-chunked,
 * its trailer not reported) and to the close of the connection. */
static void
test_framing(void **state)
{
	struct st_replay_shadow_conf c;
	unsigned int conns = server_conns();
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	c.connections = 1;
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(submit(s, "GET", "/chunked", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/to-close", 1, 1), 0);
	assert_int_equal(submit(s, "GET", "/", 1, 2), 0);
	run_until(s, &run, 3);
	assert_int_equal(run.res[0].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[0].body_len, 7);
	assert_true(run.res[0].final_field);
	assert_false(run.res[0].trailer_field);
	assert_int_equal(run.res[1].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[1].body_len, 5);
	assert_true(run.res[1].final_field);
	/* the next one on a new connection */
	assert_int_equal(run.res[2].outcome, ST_SHADOW_ANSWERED);
	assert_int_equal(run.res[2].status, 200);
	assert_int_equal(server_conns() - conns, 2);
	st_shadow_free(s);
}

static void
test_ttfb_and_interim(void **state)
{
	struct st_replay_shadow_conf c;
	struct st_shadow *s;
	struct run run;

	(void)state;
	default_conf(&c, srv.port);
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(submit(s, "GET", "/delay/120", 1, 0), 0);
	assert_int_equal(submit(s, "GET", "/interim", 2, 1), 0);
	run_until(s, &run, 2);
	assert_true(run.res[0].ttfb_ms >= 115);
	assert_true(run.res[0].ttfb_ms < 2000);
	assert_true(run.res[0].total_ms >= run.res[0].ttfb_ms);
	assert_int_equal(run.res[1].status, 200);
	assert_false(run.res[1].interim_field);
	assert_true(run.res[1].final_field);
	st_shadow_free(s);
}

static void
test_poll_extra_fds(void **state)
{
	struct st_replay_shadow_conf c;
	struct pollfd pfd[2];
	struct st_shadow *s;
	struct run run;
	int p[2];

	(void)state;
	default_conf(&c, srv.port);
	s = make(&c, NULL, 1024, &run);
	assert_int_equal(pipe(p), 0);
	pfd[0] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = p[1], .events = 0 };
	assert_int_equal(st_shadow_poll(s, pfd, 2, 10), 0);
	assert_int_equal(pfd[0].revents, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(st_shadow_poll(s, pfd, 2, 1000), 1);
	assert_int_equal(pfd[0].revents, POLLIN);
	assert_int_equal(pfd[1].revents, 0);
	close(p[0]);
	close(p[1]);
	st_shadow_free(s);
}

static void
test_create_errors(void **state)
{
	struct st_replay_shadow_conf c;
	struct st_shadow *s = NULL;
	struct run run;
	char err[256];

	(void)state;
	default_conf(&c, srv.port);
	strcpy(c.url, "ftp://127.0.0.1/");
	assert_int_equal(st_shadow_create(&c, NULL, 10, on_done, &run, &s, err,
					  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "shadow.url"));
	default_conf(&c, srv.port);
	c.connections = 0;
	assert_int_equal(st_shadow_create(&c, NULL, 10, on_done, &run, &s, err,
					  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "shadow.connections"));
	default_conf(&c, srv.port);
	c.host_mode = ST_REPLAY_HOST_SET;
	assert_int_equal(st_shadow_create(&c, NULL, 10, on_done, &run, &s, err,
					  sizeof(err)),
			 -EINVAL);
	assert_null(s);
	assert_string_equal(st_shadow_outcome_name(ST_SHADOW_RESET), "reset");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_host_modes),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_max_in_flight),
		cmocka_unit_test(test_connection_reuse),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_timeout_from_slot),
		cmocka_unit_test(test_body_truncated),
		cmocka_unit_test(test_keepalive_retry),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_ttfb_and_interim),
		cmocka_unit_test(test_poll_extra_fds),
		cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, server_start, server_stop);
}
