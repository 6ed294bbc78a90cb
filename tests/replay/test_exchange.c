/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/exchange.h, driving its st_reasm_ops callbacks
 * directly as the reassembler would. Every chunk is passed as a heap copy
 * of exactly its length, so an over-read shows up under AddressSanitizer.
 */
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "exchange.h"

#define MAX_SEEN 16

/* What the consumer was told about one exchange, copied. */
struct seen {
	uint64_t id;
	uint64_t conn_id;
	char method[32];
	char target[128];
	char host[64];
	char req_body[256];
	uint32_t req_body_len;
	bool req_truncated;
	uint64_t req_first_ns;
	uint64_t req_last_ns;
	unsigned int nb_req_fields;
	bool requested;
	bool done;
	enum st_exchange_end how;
	int status;
	char reason[64];
	char resp_body[256];
	uint32_t resp_body_len;
	uint64_t resp_first_ns;
	uint64_t resp_last_ns;
};

struct fixture {
	struct st_exchange_parser *p;
	struct st_reasm_conn_info info;
	void *conn;
	struct seen seen[MAX_SEEN];
	unsigned int nb_seen;
	unsigned int nb_done;
};

static void
copy_str(char *dst, size_t size, const void *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
on_request(void *arg, struct st_exchange *ex)
{
	struct fixture *f = arg;
	struct seen *s;

	assert_true(f->nb_seen < MAX_SEEN);
	s = &f->seen[f->nb_seen];
	ex->user = s;
	s->id = ex->id;
	s->conn_id = ex->conn_id;
	copy_str(s->method, sizeof(s->method), ex->req.method,
		 strlen(ex->req.method));
	copy_str(s->target, sizeof(s->target), ex->req.target,
		 strlen(ex->req.target));
	copy_str(s->host, sizeof(s->host), ex->req.host,
		 strlen(ex->req.host));
	copy_str(s->req_body, sizeof(s->req_body), ex->req.body,
		 ex->req.body_len);
	s->req_body_len = ex->req.body_len;
	s->req_truncated = ex->req.body_truncated;
	s->req_first_ns = ex->req.first_ns;
	s->req_last_ns = ex->req.last_ns;
	s->nb_req_fields = ex->req.nb_fields;
	s->requested = true;
	f->nb_seen++;
}

static void
on_done(void *arg, struct st_exchange *ex, enum st_exchange_end how)
{
	struct fixture *f = arg;
	struct seen *s = ex->user;

	/* done() only for an exchange request() saw, once */
	assert_non_null(s);
	assert_false(s->done);
	s->done = true;
	s->how = how;
	f->nb_done++;
	if (how != ST_EXCHANGE_ANSWERED)
		return;
	s->status = ex->resp.status;
	copy_str(s->reason, sizeof(s->reason), ex->resp.reason,
		 strlen(ex->resp.reason));
	copy_str(s->resp_body, sizeof(s->resp_body), ex->resp.body,
		 ex->resp.body_len);
	s->resp_body_len = ex->resp.body_len;
	s->resp_first_ns = ex->resp.first_ns;
	s->resp_last_ns = ex->resp.last_ns;
}

static const struct st_exchange_ops ops = {
	.request = on_request,
	.done = on_done,
};

static const uint16_t http_ports[] = { 80, 8080 };

static struct fixture *
fixture_new(uint32_t max_body, uint32_t max_pending)
{
	struct st_exchange_limits limits = {
		.max_head_bytes = 4096,
		.max_body_bytes = max_body,
		.max_pending = max_pending,
		.http_ports = http_ports,
		.nb_http_ports = 2,
	};
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(st_exchange_parser_create(&limits, &ops, f, &f->p),
			 0);
	return f;
}

/* ep[0] port 40000 opened the connection (@p syn) or was seen first. */
static void
conn_open(struct fixture *f, bool syn, uint16_t port0, uint16_t port1)
{
	f->info.ep[0].family = AF_INET;
	f->info.ep[0].port = port0;
	f->info.ep[1].family = AF_INET;
	f->info.ep[1].port = port1;
	f->info.syn_seen = syn;
	f->conn = st_exchange_reasm_ops()->open(f->p, &f->info, 1);
	assert_non_null(f->conn);
}

static void
feed_bytes(struct fixture *f, int dir, const void *p, size_t len,
	   uint64_t ts)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, p, len);
	st_exchange_reasm_ops()->data(f->conn, dir, copy, len, ts);
	free(copy);
}

static void
feed(struct fixture *f, int dir, const char *s, uint64_t ts)
{
	feed_bytes(f, dir, s, strlen(s), ts);
}

static void
conn_close(struct fixture *f)
{
	st_exchange_reasm_ops()->close(f->conn, ST_REASM_END_FIN, 1000);
	f->conn = NULL;
}

static const struct st_exchange_stats *
stats(struct fixture *f)
{
	return st_exchange_parser_stats(f->p);
}

static void
fixture_free(struct fixture *f)
{
	if (f->conn != NULL)
		conn_close(f);
	st_exchange_parser_free(f->p);
	free(f);
}

static void
test_create_einval(void **state)
{
	struct st_exchange_limits limits = { .max_head_bytes = 4096 };
	struct st_exchange_parser *p;

	(void)state;
	/* max_pending 0 */
	assert_int_equal(st_exchange_parser_create(&limits, &ops, NULL, &p),
			 -EINVAL);
	limits.max_pending = 1;
	limits.nb_http_ports = 1;	/* without the ports */
	assert_int_equal(st_exchange_parser_create(&limits, &ops, NULL, &p),
			 -EINVAL);
	limits.nb_http_ports = 0;
	assert_int_equal(st_exchange_parser_create(&limits, &ops, NULL, &p),
			 0);
	st_exchange_parser_free(p);
}

static void
test_content_length(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0,
	     "POST /a?b=1 HTTP/1.1\r\nHost: example.com\r\n"
	     "Content-Length: 5\r\n\r\nhello", 10);
	assert_int_equal(f->nb_seen, 1);
	assert_string_equal(f->seen[0].method, "POST");
	assert_string_equal(f->seen[0].target, "/a?b=1");
	assert_string_equal(f->seen[0].host, "example.com");
	assert_string_equal(f->seen[0].req_body, "hello");
	assert_int_equal(f->seen[0].nb_req_fields, 2);
	assert_false(f->seen[0].done);
	feed(f, 1, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 20);
	assert_true(f->seen[0].done);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_ANSWERED);
	assert_int_equal(f->seen[0].status, 201);
	assert_string_equal(f->seen[0].reason, "Created");
	assert_string_equal(f->seen[0].resp_body, "ok");
	assert_int_equal(stats(f)->connections, 1);
	assert_int_equal(stats(f)->requests, 1);
	assert_int_equal(stats(f)->responses, 1);
	assert_int_equal(stats(f)->ended[ST_EXCHANGE_ANSWERED], 1);
	assert_int_equal(stats(f)->bytes_skipped, 0);
	fixture_free(f);
}

static void
test_chunked(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0,
	     "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	     "\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n"
	     "X-Trailer: t\r\n\r\n", 10);
	assert_int_equal(f->nb_seen, 1);
	assert_string_equal(f->seen[0].req_body, "hello world");
	feed(f, 1,
	     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "3\r\nabc\r\n0\r\n\r\n", 20);
	assert_true(f->seen[0].done);
	assert_string_equal(f->seen[0].resp_body, "abc");
	assert_int_equal(f->seen[0].resp_body_len, 3);
	fixture_free(f);
}

static void
test_pipelining(void **state)
{
	struct fixture *f = fixture_new(1024, 8);
	unsigned int i;

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0,
	     "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
	     "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
	     "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n", 10);
	assert_int_equal(f->nb_seen, 3);
	assert_int_equal(f->nb_done, 0);
	feed(f, 1,
	     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
	     "HTTP/1.1 201 OK\r\nContent-Length: 1\r\n\r\nb"
	     "HTTP/1.1 202 OK\r\nContent-Length: 1\r\n\r\nc", 20);
	assert_int_equal(f->nb_done, 3);
	for (i = 0; i < 3; i++) {
		char target[8];

		snprintf(target, sizeof(target), "/%u", i + 1);
		assert_string_equal(f->seen[i].target, target);
		assert_int_equal(f->seen[i].id, i);
		assert_int_equal(f->seen[i].status, 200 + i);
		assert_int_equal(f->seen[i].resp_body[0], 'a' + i);
	}
	assert_string_equal(f->seen[1].req_body, "abc");
	fixture_free(f);
}

static void
test_keep_alive(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 20);
	feed(f, 0, "GET /y HTTP/1.1\r\nHost: h\r\n\r\n", 30);
	feed(f, 1, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 40);
	assert_int_equal(f->nb_done, 2);
	assert_string_equal(f->seen[1].target, "/y");
	assert_int_equal(f->seen[1].status, 404);
	assert_int_equal(f->seen[0].conn_id, f->seen[1].conn_id);
	fixture_free(f);
}

static const char split_req[] =
	"POST /split HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	"\r\n4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"
	"GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
static const char split_resp[] =
	"HTTP/1.1 100 Continue\r\n\r\n"
	"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
	"0\r\n\r\n";

static void
check_split_result(struct fixture *f)
{
	assert_int_equal(f->nb_seen, 2);
	assert_int_equal(f->nb_done, 2);
	assert_string_equal(f->seen[0].target, "/split");
	assert_string_equal(f->seen[0].req_body, "wikipedia");
	assert_string_equal(f->seen[0].resp_body, "body");
	assert_string_equal(f->seen[1].target, "/next");
	assert_string_equal(f->seen[1].resp_body, "ok");
	assert_int_equal(stats(f)->interim_responses, 1);
	assert_int_equal(stats(f)->bytes_skipped, 0);
}

/* Every split point of the request stream, then of the response stream:
 * the same exchanges. */
static void
test_split_everywhere(void **state)
{
	size_t rq = strlen(split_req), rs = strlen(split_resp), k;

	(void)state;
	for (k = 0; k <= rq; k++) {
		struct fixture *f = fixture_new(1024, 8);

		conn_open(f, true, 40000, 80);
		feed_bytes(f, 0, split_req, k, 10);
		feed_bytes(f, 0, split_req + k, rq - k, 11);
		feed(f, 1, split_resp, 20);
		check_split_result(f);
		fixture_free(f);
	}
	for (k = 0; k <= rs; k++) {
		struct fixture *f = fixture_new(1024, 8);

		conn_open(f, true, 40000, 80);
		feed(f, 0, split_req, 10);
		feed_bytes(f, 1, split_resp, k, 20);
		feed_bytes(f, 1, split_resp + k, rs - k, 21);
		check_split_result(f);
		fixture_free(f);
	}
}

static void
test_byte_by_byte(void **state)
{
	struct fixture *f = fixture_new(1024, 8);
	size_t i;

	(void)state;
	conn_open(f, false, 40000, 80);
	for (i = 0; split_req[i]; i++)
		feed_bytes(f, 0, split_req + i, 1, 10 + i);
	for (i = 0; split_resp[i]; i++)
		feed_bytes(f, 1, split_resp + i, 1, 1000 + i);
	check_split_result(f);
	assert_int_equal(f->seen[0].req_first_ns, 10);
	assert_int_equal(f->seen[0].resp_last_ns,
			 1000 + (strstr(split_resp, "body") - split_resp) + 3);
	fixture_free(f);
}

static void
test_head_with_length(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"
		   "GET /g HTTP/1.1\r\nHost: h\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 20);
	assert_int_equal(f->nb_done, 2);
	assert_int_equal(f->seen[0].resp_body_len, 0);
	assert_string_equal(f->seen[1].resp_body, "hi");
	fixture_free(f);
}

static void
test_continue(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
		   "Content-Length: 4\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 100 Continue\r\n\r\n", 20);
	assert_int_equal(f->nb_seen, 0);
	feed(f, 0, "data", 30);
	assert_int_equal(f->nb_seen, 1);
	assert_int_equal(f->seen[0].req_last_ns, 30);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 40);
	assert_int_equal(f->nb_done, 1);
	assert_int_equal(f->seen[0].status, 200);
	assert_int_equal(f->seen[0].resp_first_ns, 40);
	assert_int_equal(stats(f)->interim_responses, 1);
	assert_int_equal(stats(f)->responses, 1);
	fixture_free(f);
}

static void
test_no_body_statuses(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "DELETE /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
		   "GET /c HTTP/1.1\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
		   "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz", 20);
	assert_int_equal(f->nb_done, 3);
	assert_int_equal(f->seen[0].status, 204);
	assert_int_equal(f->seen[1].status, 304);
	assert_int_equal(f->seen[2].status, 200);
	assert_string_equal(f->seen[2].resp_body, "z");
	fixture_free(f);
}

static void
test_close_delimited(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /old HTTP/1.0\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nab", 20);
	feed(f, 1, "cd", 30);
	assert_int_equal(f->nb_done, 0);
	st_exchange_reasm_ops()->end(f->conn, 1, 40);
	assert_int_equal(f->nb_done, 1);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_ANSWERED);
	assert_string_equal(f->seen[0].resp_body, "abcd");
	assert_int_equal(f->seen[0].resp_last_ns, 30);
	fixture_free(f);
}

static void
test_any_method(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "PURGE /p HTTP/1.1\r\nHost: h\r\n\r\n"
		   "PROPFIND /d HTTP/1.1\r\nHost: h\r\nDepth: 1\r\n\r\n"
		   "QUERY /q HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"
		   "{}", 10);
	assert_int_equal(f->nb_seen, 3);
	assert_string_equal(f->seen[0].method, "PURGE");
	assert_string_equal(f->seen[1].method, "PROPFIND");
	assert_string_equal(f->seen[2].method, "QUERY");
	assert_string_equal(f->seen[2].req_body, "{}");
	fixture_free(f);
}

static void
test_absolute_form(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 8080);
	feed(f, 0, "GET http://example.com:8080/x?y HTTP/1.1\r\n\r\n"
		   "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
	     10);
	assert_int_equal(f->nb_seen, 2);
	assert_string_equal(f->seen[0].host, "example.com:8080");
	assert_string_equal(f->seen[0].target, "http://example.com:8080/x?y");
	assert_string_equal(f->seen[1].host, "b.example");
	fixture_free(f);
}

/* No SYN: the client's copy starts in a body, the server's in an answer
 * to a request never seen; the port tells who is who. */
static void
test_mid_stream(void **state)
{
	static const char client_tail[] = "some body\r\n{\"a\": 1}";
	static const char server_tail[] = "ody of an older answer";
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, false, 40000, 80);
	feed(f, 0, client_tail, 5);
	feed(f, 1, server_tail, 6);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7);
	feed(f, 0, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n", 10);
	feed(f, 1, "junk HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20);
	assert_int_equal(f->nb_done, 1);
	assert_string_equal(f->seen[0].method, "GET");
	assert_string_equal(f->seen[0].target, "/first");
	assert_int_equal(f->seen[0].status, 200);
	assert_int_equal(f->seen[0].resp_first_ns, 20);
	assert_int_equal(stats(f)->connections, 1);
	assert_int_equal(stats(f)->bytes_skipped,
			 strlen(client_tail) + strlen(server_tail) +
				 strlen("HTTP/1.1 200 OK\r\nContent-Length: "
					"0\r\n\r\n") + strlen("junk "));
	fixture_free(f);
}

/* No SYN, no port: the side that starts a request line is the client,
 * even when it is ep[1]. */
static void
test_direction_by_request_line(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, false, 5000, 6000);
	feed(f, 0, "\x01\x02" "binary", 5);
	feed(f, 1, "GET /rev HTTP/1.1\r\n\r\n", 10);
	feed(f, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 20);
	assert_int_equal(f->nb_done, 1);
	assert_string_equal(f->seen[0].target, "/rev");
	assert_int_equal(stats(f)->bytes_skipped, 8);
	fixture_free(f);
}

static void
test_not_http(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 443);
	feed_bytes(f, 0, "\x16\x03\x01\x02\x00\x01", 6, 10);
	assert_int_equal(stats(f)->connections_not_http, 1);
	feed(f, 0, "GET / HTTP/1.1\r\n\r\n", 20);
	assert_int_equal(f->nb_seen, 0);
	conn_close(f);
	/* without SYN or port: both sides must fail to start */
	conn_open(f, false, 5000, 6000);
	feed(f, 0, "EHLO x\r\n", 10);
	assert_int_equal(stats(f)->connections_not_http, 1);
	feed(f, 1, "250 ok\r\n", 20);
	assert_int_equal(stats(f)->connections_not_http, 2);
	assert_int_equal(stats(f)->connections, 0);
	fixture_free(f);
}

static void
test_upgrade(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
		   "Upgrade: websocket\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		   "Connection: Upgrade\r\n\r\n\x81\x05hello", 20);
	feed(f, 0, "GET /not-http HTTP/1.1\r\n\r\n", 30);
	assert_int_equal(f->nb_seen, 1);
	assert_int_equal(f->seen[0].status, 101);
	assert_int_equal(stats(f)->upgrades, 1);
	assert_int_equal(stats(f)->interim_responses, 0);
	fixture_free(f);
}

static void
test_gap_request(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "POST /cut HTTP/1.1\r\nContent-Length: 10\r\n\r\nab", 10);
	st_exchange_reasm_ops()->gap(f->conn, 0, 4, 11);
	feed(f, 0, "ijGET /after HTTP/1.1\r\n\r\n", 12);
	assert_int_equal(f->nb_seen, 1);
	assert_string_equal(f->seen[0].target, "/after");
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 20);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_ANSWERED);
	assert_int_equal(stats(f)->requests_dropped, 1);
	assert_int_equal(stats(f)->requests, 1);
	fixture_free(f);
}

static void
test_gap_response(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 20);
	st_exchange_reasm_ops()->gap(f->conn, 1, 100, 21);
	assert_int_equal(f->nb_done, 1);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_GAP);
	feed(f, 1, "tail HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 22);
	assert_int_equal(f->seen[1].how, ST_EXCHANGE_ANSWERED);
	assert_int_equal(f->seen[1].status, 500);
	assert_int_equal(stats(f)->ended[ST_EXCHANGE_GAP], 1);
	fixture_free(f);
}

/* A request left out of the copy (shadowtap mirrors a keep-alive
 * connection per request: a health check in it is not copied) leaves a
 * hole in each direction; the request after it keeps its own answer,
 * whichever hole is reported first. */
static void
test_gap_unmirrored_request(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	int order;

	(void)state;
	for (order = 0; order < 2; order++) {
		struct fixture *f = fixture_new(1024, 8);

		conn_open(f, false, 40000, 80);
		feed(f, 0, "GET /r0 HTTP/1.1\r\n\r\n", 10);
		feed(f, 1, ok, 11);
		if (order == 0) {
			st_exchange_reasm_ops()->gap(f->conn, 0, 40, 20);
			feed(f, 0, "GET /r2 HTTP/1.1\r\n\r\n", 21);
			st_exchange_reasm_ops()->gap(f->conn, 1, 60, 22);
		} else {
			st_exchange_reasm_ops()->gap(f->conn, 1, 60, 20);
			st_exchange_reasm_ops()->gap(f->conn, 0, 40, 21);
			feed(f, 0, "GET /r2 HTTP/1.1\r\n\r\n", 22);
		}
		feed(f, 1, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		     23);
		assert_int_equal(f->nb_done, 2);
		assert_string_equal(f->seen[1].target, "/r2");
		assert_int_equal(f->seen[1].how, ST_EXCHANGE_ANSWERED);
		assert_int_equal(f->seen[1].status, 404);
		assert_int_equal(stats(f)->ended[ST_EXCHANGE_GAP], 0);
		/* A lost answer with no lost request before it is a gap. */
		feed(f, 0, "GET /r3 HTTP/1.1\r\n\r\n", 30);
		st_exchange_reasm_ops()->gap(f->conn, 1, 60, 31);
		assert_int_equal(f->seen[2].how, ST_EXCHANGE_GAP);
		fixture_free(f);
	}
}

static void
test_max_pending(void **state)
{
	struct fixture *f = fixture_new(1024, 2);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
		   "GET /3 HTTP/1.1\r\n\r\n", 10);
	assert_int_equal(f->nb_done, 1);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_NO_RESPONSE);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 20);
	assert_int_equal(f->seen[1].status, 200);
	conn_close(f);
	assert_int_equal(f->seen[2].how, ST_EXCHANGE_NO_RESPONSE);
	assert_int_equal(stats(f)->ended[ST_EXCHANGE_NO_RESPONSE], 2);
	fixture_free(f);
}

static void
test_malformed_response(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "GET /m HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\n", 10);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: x1\r\n\r\n"
		   "HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n", 20);
	assert_int_equal(f->seen[0].how, ST_EXCHANGE_MALFORMED);
	assert_int_equal(f->seen[1].status, 202);
	assert_int_equal(stats(f)->malformed_responses, 1);
	fixture_free(f);
}

static void
test_malformed_request_and_truncation(void **state)
{
	struct fixture *f = fixture_new(4, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "POST /bad HTTP/1.1\r\nBad Header\r\n\r\n"
		   "POST /big HTTP/1.1\r\nContent-Length: 6\r\n\r\nabcdef", 10);
	assert_int_equal(stats(f)->malformed_requests, 1);
	assert_int_equal(stats(f)->requests_dropped, 1);
	assert_int_equal(f->nb_seen, 1);
	assert_string_equal(f->seen[0].req_body, "abcd");
	assert_true(f->seen[0].req_truncated);
	assert_int_equal(stats(f)->bodies_truncated, 1);
	fixture_free(f);
}

static void
test_timestamps(void **state)
{
	struct fixture *f = fixture_new(1024, 8);

	(void)state;
	conn_open(f, true, 40000, 80);
	feed(f, 0, "POST /t HTTP/1.1\r\nContent-", 100);
	feed(f, 0, "Length: 2\r\n\r\n", 200);
	feed(f, 0, "xy", 300);
	feed(f, 1, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na", 400);
	feed(f, 1, "bc", 500);
	assert_int_equal(f->seen[0].req_first_ns, 100);
	assert_int_equal(f->seen[0].req_last_ns, 300);
	assert_int_equal(f->seen[0].resp_first_ns, 400);
	assert_int_equal(f->seen[0].resp_last_ns, 500);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_einval),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_head_with_length),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_no_body_statuses),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_any_method),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_mid_stream),
		cmocka_unit_test(test_direction_by_request_line),
		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_gap_request),
		cmocka_unit_test(test_gap_response),
		cmocka_unit_test(test_gap_unmirrored_request),
		cmocka_unit_test(test_max_pending),
		cmocka_unit_test(test_malformed_response),
		cmocka_unit_test(test_malformed_request_and_truncation),
		cmocka_unit_test(test_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
