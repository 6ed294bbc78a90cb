/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the HTTP/1.x request framing helpers in classifier/http.h:
 * the head reader, and the functions that run it alone.
 *
 * Every input is passed as a heap copy of exactly its length, so an
 * over-read shows up under AddressSanitizer.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

/* A heap copy of @p len bytes (at least one byte is allocated so that
 * malloc(0) does not return NULL; it is never read). */
static uint8_t *
exact_copy(const void *p, size_t len)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, p, len);
	return copy;
}

static int
method_of_bytes(const void *p, size_t len)
{
	uint8_t *copy = exact_copy(p, len);
	int ret = st_http_request_method(copy, len);

	free(copy);
	return ret;
}

static int
method_of(const char *s)
{
	return method_of_bytes(s, strlen(s));
}

static uint32_t
head_length_of(const char *s)
{
	size_t len = strlen(s);
	uint8_t *copy = exact_copy(s, len);
	uint32_t ret = st_http_head_length(copy, len);

	free(copy);
	return ret;
}

static int64_t
body_length_of(const char *s)
{
	size_t len = strlen(s);
	uint8_t *copy = exact_copy(s, len);
	int64_t ret = st_http_body_length(copy, len);

	free(copy);
	return ret;
}

static void
test_methods(void **state)
{
	static const struct {
		const char *start;
		int method;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", ST_HTTP_GET },
		{ "HEAD / HTTP/1.1\r\n", ST_HTTP_HEAD },
		{ "POST /x HTTP/1.1\r\n", ST_HTTP_POST },
		{ "PUT /x HTTP/1.1\r\n", ST_HTTP_PUT },
		{ "DELETE /x HTTP/1.1\r\n", ST_HTTP_DELETE },
		{ "PATCH /x HTTP/1.1\r\n", ST_HTTP_PATCH },
		{ "OPTIONS * HTTP/1.1\r\n", ST_HTTP_OPTIONS },
		{ "CONNECT a:443 HTTP/1.1\r\n", ST_HTTP_CONNECT },
		{ "TRACE / HTTP/1.1\r\n", ST_HTTP_TRACE },
		/* The token and its space are enough. */
		{ "GET ", ST_HTTP_GET },
		{ "OPTIONS ", ST_HTTP_OPTIONS },
		{ "PATCH ", ST_HTTP_PATCH },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(method_of(cases[i].start), cases[i].method);
}

static void
test_method_prefixes(void **state)
{
	static const char *const prefixes[] = {
		"G", "GE", "GET", "H", "HEA", "HEAD", "P", "PO", "POST",
		"PU", "PUT", "PA", "PATC", "PATCH", "D", "DELETE", "O",
		"OPTION", "OPTIONS", "C", "CONNECT", "T", "TRAC", "TRACE",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		print_message("%s\n", prefixes[i]);
		assert_int_equal(method_of(prefixes[i]), ST_HTTP_PREFIX);
	}
}

static void
test_not_requests(void **state)
{
	static const char *const others[] = {
		"HTTP/1.1 200 OK\r\n",	/* a response */
		"get / HTTP/1.1\r\n",	/* methods are case-sensitive */
		"Get / HTTP/1.1\r\n",
		"GETX / HTTP/1.1\r\n",
		"GET\t/ HTTP/1.1\r\n",
		"GET/ HTTP/1.1\r\n",
		"POSTX",
		"PUTT",
		"PX",
		"CONNECTED",
		" GET / HTTP/1.1\r\n",
		"\r\nGET / HTTP/1.1\r\n",
		"PRI * HTTP/2.0\r\n",	/* HTTP/2 preface */
		"X",
	};
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	static const uint8_t nul_get[] = { 'G', 'E', 0, ' ' };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		print_message("%s\n", others[i]);
		assert_int_equal(method_of(others[i]), ST_HTTP_NOT_REQUEST);
	}
	assert_int_equal(method_of_bytes(tls, sizeof(tls)),
			 ST_HTTP_NOT_REQUEST);
	assert_int_equal(method_of_bytes(nul_get, sizeof(nul_get)),
			 ST_HTTP_NOT_REQUEST);
	assert_int_equal(method_of(""), ST_HTTP_NOT_REQUEST);
	assert_int_equal(st_http_request_method(NULL, 0), ST_HTTP_NOT_REQUEST);
}

/* st_http_may_start_request() of @p len bytes, from an exact copy. */
static bool
may_start_of(const void *p, size_t len)
{
	uint8_t *copy = exact_copy(p, len);
	bool ret = st_http_may_start_request(copy, len);

	free(copy);
	return ret;
}

/* The test before st_http_request_method(): never "no" where that one
 * says a request (or a prefix of one) starts; "no" for what most
 * segments start with. */
static void
test_may_start_request(void **state)
{
	static const char *const no[] = {
		"HTTP/1.1 200 OK\r\n", "{\"id\": 1}", "<!DOCTYPE html>",
		"get / HTTP/1.1\r\n", "GETX / HTTP/1.1\r\n",
		"HTTP", "POSX", "PUTT", "PRI * HTTP/2.0\r\n",
	};
	static const char alphabet[] = "GETHADPOSUCLNIRX \r\n";
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	static const uint8_t padding[6];	/* a short frame's zeros */
	uint8_t buf[12];
	unsigned int seed = 5, i, j, met = 0;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		print_message("%s\n", no[i]);
		assert_false(may_start_of(no[i], strlen(no[i])));
	}
	assert_false(may_start_of(tls, sizeof(tls)));
	assert_false(may_start_of(padding, sizeof(padding)));
	assert_false(may_start_of("", 0));
	assert_false(st_http_may_start_request(NULL, 0));
	/* Every method st_http_request_method() knows (a new one without
	 * its entry in st_http_may_start_request() fails here), whole and
	 * cut anywhere, then bytes drawn from methods' own. */
	for (i = 0; i < ST_HTTP_METHODS; i++) {
		char line[32];

		snprintf(line, sizeof(line), "%s / HTTP/1.1",
			 st_http_method_name((enum st_http_method)i));
		assert_int_equal(method_of(line), (int)i);
		for (j = 1; j <= strlen(line); j++) {
			assert_int_not_equal(method_of_bytes(line, j),
					     ST_HTTP_NOT_REQUEST);
			assert_true(may_start_of(line, j));
		}
	}
	for (i = 0; i < 200000; i++) {
		uint32_t len = rand_r(&seed) % (sizeof(buf) + 1);
		int method;

		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)alphabet[rand_r(&seed) %
						   (sizeof(alphabet) - 1)];
		method = method_of_bytes(buf, len);
		if (method != ST_HTTP_NOT_REQUEST) {
			met++;
			assert_true(may_start_of(buf, len));
		}
	}
	/* Enough requests and prefixes drawn to say something. */
	assert_true(met > 1000);
}

static void
test_head_length(void **state)
{
	static const char crlf[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char lf[] = "GET / HTTP/1.1\nHost: a\n\n";
	static const char mixed[] = "GET / HTTP/1.1\nHost: a\n\r\n";
	static const char no_headers[] = "GET / HTTP/1.0\r\n\r\n";

	(void)state;
	assert_int_equal(head_length_of(crlf), sizeof(crlf) - 1);
	assert_int_equal(head_length_of(lf), sizeof(lf) - 1);
	assert_int_equal(head_length_of(mixed), sizeof(mixed) - 1);
	assert_int_equal(head_length_of(no_headers), sizeof(no_headers) - 1);
	/* Bytes after the head: a body, a pipelined request. */
	assert_int_equal(head_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 4\r\n\r\nabcd"
					"GET /2 HTTP/1.1\r\n\r\n"),
			 sizeof("POST / HTTP/1.1\r\n"
				"Content-Length: 4\r\n\r\n") - 1);
	/* Incomplete heads. */
	assert_int_equal(head_length_of(""), 0);
	assert_int_equal(head_length_of("GET / HTTP/1.1"), 0);
	assert_int_equal(head_length_of("GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(head_length_of("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	assert_int_equal(head_length_of("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0);
	assert_int_equal(head_length_of("GET / HTTP/1.1\r\nHost: a\r\r\n"), 0);
	assert_int_equal(st_http_head_length(NULL, 0), 0);
}

static void
test_body_length_none(void **state)
{
	(void)state;
	assert_int_equal(body_length_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
			 0);
	assert_int_equal(body_length_of("GET / HTTP/1.1\r\n\r\n"), 0);
	/* Names that only look like the framing fields. */
	assert_int_equal(body_length_of("GET / HTTP/1.1\r\n"
					"X-Content-Length: 5\r\n"
					"Content-Lengthy: 5\r\n"
					"Transfer-Encodings: chunked\r\n"
					"X-A: Content-Length: 5\r\n\r\n"),
			 0);
	/* Fields after the empty line belong to the body. */
	assert_int_equal(body_length_of("GET / HTTP/1.1\r\n\r\n"
					"Content-Length: 5\r\n"),
			 0);
	/* A final line without its LF is not a field yet. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5"),
			 0);
	assert_int_equal(body_length_of("POST / HTTP/1.1"), 0);
	assert_int_equal(body_length_of(""), 0);
}

static void
test_body_length_content_length(void **state)
{
	(void)state;
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n\r\n"),
			 5);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"content-LENGTH:\t 12 \t\r\n\r\n"),
			 12);
	assert_int_equal(body_length_of("POST / HTTP/1.1\n"
					"Content-Length:0\n\n"),
			 0);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 007\r\n\r\n"),
			 7);
	/* Repeated, equal. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n"
					"Host: a\r\n"
					"Content-Length: 5\r\n\r\n"),
			 5);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5, 5 ,5\r\n\r\n"),
			 5);
	/* The largest accepted: 18 digits. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 999999999999999999"
					"\r\n\r\n"),
			 INT64_C(999999999999999999));
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 4294967296\r\n\r\n"),
			 INT64_C(4294967296));
}

static void
test_body_length_unknown(void **state)
{
	static const char *const values[] = {
		"", " ", "-1", "+5", "0x10", "5a", "5 5", "1.0", "5,", ",5",
		"5,,5", "5, 6", "\"5\"",
		"1000000000000000000",	/* 19 digits */
		"99999999999999999999999999999999",
	};
	char head[128];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(head, sizeof(head),
			 "POST / HTTP/1.1\r\nContent-Length: %s\r\n\r\n",
			 values[i]);
		print_message("%s", head);
		assert_int_equal(body_length_of(head), -1);
	}
	/* Conflicting fields. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n"
					"Content-Length: 6\r\n\r\n"),
			 -1);
	/* Chunked, or any transfer coding, with or without a length. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Transfer-Encoding: chunked\r\n\r\n"),
			 -1);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"transfer-encoding: gzip, chunked\r\n"
					"Content-Length: 5\r\n\r\n"),
			 -1);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n"
					"TRANSFER-ENCODING: identity\r\n\r\n"),
			 -1);
	/* Smuggling shapes: space before the colon, folded values. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length : 5\r\n\r\n"),
			 -1);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Transfer-Encoding\t: chunked\r\n\r\n"),
			 -1);
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n"
					" 6\r\n\r\n"),
			 -1);
	/* A folded line after another field is ignored. */
	assert_int_equal(body_length_of("POST / HTTP/1.1\r\n"
					"Content-Length: 5\r\n"
					"X-A: 1\r\n"
					" 6\r\n\r\n"),
			 5);
}

/* What one pass of the head reader over @p s found: its lines, its length
 * and its body length. */
struct read_result {
	unsigned int lines;	/* handed out */
	uint32_t line_start[8];	/* offsets of the first ones */
	uint32_t line_end[8];
	uint32_t len;
	int64_t body_len;
};

/* Read @p len bytes of @p s: @p stop_after lines through
 * st_http_head_next() (all with UINT32_MAX), the rest through
 * st_http_head_finish(). */
static struct read_result
read_bytes(const char *s, size_t len, unsigned int stop_after)
{
	struct read_result r = { 0 };
	uint8_t *copy = exact_copy(s, len);
	struct st_http_head h;
	struct st_http_line line;

	st_http_head_begin(&h, copy, len);
	while (r.lines < stop_after && st_http_head_next(&h, &line)) {
		assert_true(line.start >= copy && line.start < copy + len);
		assert_true(line.end >= line.start && line.end <= copy + len);
		assert_true(line.end == copy + len || *line.end == '\n');
		if (r.lines < 8) {
			r.line_start[r.lines] = line.start - copy;
			r.line_end[r.lines] = line.end - copy;
		}
		r.lines++;
	}
	st_http_head_finish(&h);
	r.len = h.len;
	r.body_len = h.body_len;
	/* Once read, a reader hands nothing more out. */
	assert_false(st_http_head_next(&h, &line));
	free(copy);
	return r;
}

/* The reader on @p s: every line handed out and, stopping after any
 * number of them, the same length and body length. */
static struct read_result
read_head(const char *s)
{
	struct read_result all = read_bytes(s, strlen(s), UINT32_MAX);
	unsigned int stop;

	for (stop = 0; stop <= all.lines; stop++) {
		struct read_result part = read_bytes(s, strlen(s), stop);

		assert_int_equal(part.len, all.len);
		assert_int_equal(part.body_len, all.body_len);
	}
	/* What the functions that run the reader alone say. */
	assert_int_equal(head_length_of(s), all.len);
	if (all.len > 0) {
		char *head = strndup(s, all.len);

		assert_non_null(head);
		assert_int_equal(body_length_of(head), all.body_len);
		free(head);
	} else {
		assert_int_equal(body_length_of(s), all.body_len);
	}
	return all;
}

static void
test_reader_lines(void **state)
{
	static const char head[] = "GET /a HTTP/1.1\r\nHost: a\r\n"
				   "X-A: 1\n\r\nbody\nX-B: 2\r\n\r\n";
	struct read_result r;

	(void)state;
	r = read_head(head);
	/* The request line and two header lines; not the empty line, nor
	 * what follows the head. */
	assert_int_equal(r.lines, 3);
	assert_int_equal(r.line_start[0], 0);
	assert_int_equal(r.line_end[0], 16);
	assert_int_equal(r.line_start[1], 17);
	assert_int_equal(r.line_end[1], 25);
	assert_int_equal(r.line_start[2], 26);
	assert_int_equal(r.line_end[2], 32);
	assert_int_equal(r.len, 35);
	assert_int_equal(r.body_len, 0);
	/* A line starting with a CR is no empty line. */
	r = read_head("GET / HTTP/1.1\r\n\rX: 1\r\n\r\n");
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.len, sizeof("GET / HTTP/1.1\r\n\rX: 1\r\n\r\n") - 1);
	/* Nothing to read. */
	r = read_bytes(NULL, 0, UINT32_MAX);
	assert_int_equal(r.lines, 0);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.body_len, 0);
	/* An empty request line ends nothing; the empty line after it
	 * does. */
	r = read_head("\n\n");
	assert_int_equal(r.lines, 1);
	assert_int_equal(r.len, 2);
	r = read_head("\r\n");
	assert_int_equal(r.lines, 1);
	assert_int_equal(r.len, 0);
}

/* Heads whose end is not within the bytes: every complete line frames,
 * the cut one is handed out but frames nothing. */
static void
test_reader_cut(void **state)
{
	static const char *const cuts[] = {
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r",
		"POST / HTTP/1.1\nContent-Length: 5\n",
	};
	struct read_result r;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		print_message("%s\n", cuts[i]);
		r = read_head(cuts[i]);
		assert_int_equal(r.len, 0);
		assert_int_equal(r.body_len, 5);
	}
	r = read_head(cuts[0]);
	assert_int_equal(r.lines, 3);
	assert_int_equal(r.line_end[2], strlen(cuts[0]));
	/* Cut inside the framing field: not counted yet. */
	r = read_head("POST / HTTP/1.1\r\nContent-Length: 5");
	assert_int_equal(r.body_len, 0);
	r = read_head("POST / HTTP/1.1\r\nContent-Length: 5\r\n 6");
	assert_int_equal(r.body_len, 5);
	r = read_head("POST / HTTP/1.1\r\nContent-Length: 5\r\n 6\r\n");
	assert_int_equal(r.body_len, -1);
	/* Every cut of a head: its end is found only once all there. */
	{
		static const char full[] = "POST /x HTTP/1.1\r\nHost: a\r\n"
					   "Content-Length: 12\r\n\r\n";
		size_t cut;

		for (cut = 0; cut < sizeof(full) - 1; cut++) {
			r = read_bytes(full, cut, UINT32_MAX);
			assert_int_equal(r.len, 0);
			assert_true(r.body_len == 0 || r.body_len == 12);
		}
		r = read_bytes(full, sizeof(full) - 1, 1);
		assert_int_equal(r.len, sizeof(full) - 1);
		assert_int_equal(r.body_len, 12);
	}
}

static void
test_reader_framing(void **state)
{
	static const struct {
		const char *head;
		int64_t body_len;
	} cases[] = {
		/* LF-only heads, and the mixed ending. */
		{ "POST / HTTP/1.1\nContent-Length: 3\n\nabc", 3 },
		{ "POST / HTTP/1.1\nContent-Length: 3\n\r\nabc", 3 },
		/* Repeated Content-Length: equal, equal lists, different. */
		{ "POST / HTTP/1.1\r\nContent-Length: 7\r\n"
		  "content-length: 7, 7\r\n\r\n", 7 },
		{ "POST / HTTP/1.1\r\nContent-Length: 7\r\n"
		  "Content-Length: 8\r\n\r\n", -1 },
		/* Transfer-Encoding with a Content-Length, in either order:
		 * the end of the body is unknown. */
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 5\r\nX: 1\r\n\r\n5\r\n", -1 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", -1 },
		/* Folded lines: after Content-Length (a hidden value), after
		 * another field, and a fold that only looks like one after
		 * the head. */
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n\t6\r\n\r\n", -1 },
		{ "POST / HTTP/1.1\r\nX-A: 1\r\n 6\r\n"
		  "Content-Length: 5\r\n\r\n", 5 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n 6\r\n", 5 },
		/* Huge values: the largest taken, then too long; a length
		 * that does not fit 32 bits is still told (the caller
		 * decides). */
		{ "POST / HTTP/1.1\r\nContent-Length: 999999999999999999"
		  "\r\n\r\n", INT64_C(999999999999999999) },
		{ "POST / HTTP/1.1\r\nContent-Length: 1000000000000000000"
		  "\r\n\r\n", -1 },
		{ "POST / HTTP/1.1\r\nContent-Length: 4294967297\r\n\r\n",
		  INT64_C(4294967297) },
		/* Names that only begin like the framing fields, in any
		 * case. */
		{ "POST / HTTP/1.1\r\nCONTENT-TYPE: a\r\n"
		  "Content-Lengths: 5\r\nTransfer-Encodin: x\r\n"
		  "Content-Length5: 1\r\nTE: chunked\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nCONTENT-LENGTH: 2\r\n\r\n", 2 },
		/* A value cut by a bare CR is no number. */
		{ "POST / HTTP/1.1\r\nContent-Length: 2\r3\r\n\r\n", -1 },
	};
	static const char te_head[] = "POST / HTTP/1.1\r\n"
				      "Transfer-Encoding: chunked\r\n"
				      "Content-Length: 5\r\nX: 1\r\n\r\n";
	struct read_result r;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].head);
		r = read_head(cases[i].head);
		assert_true(r.body_len == cases[i].body_len);
		/* The head's end is found whatever the framing says. */
		assert_true(r.len > 0);
	}
	r = read_head("POST / HTTP/1.1\nContent-Length: 3\n\nabc");
	assert_int_equal(r.len, sizeof("POST / HTTP/1.1\nContent-Length: 3"
				       "\n\n") - 1);
	r = read_head("POST / HTTP/1.1\nContent-Length: 3\n\r\nabc");
	assert_int_equal(r.len, sizeof("POST / HTTP/1.1\nContent-Length: 3"
				       "\n\r\n") - 1);
	r = read_head(te_head);
	assert_int_equal(r.lines, 4);
	assert_int_equal(r.len, sizeof(te_head) - 1);
}

/* Random bytes: no crash, no over-read, results in range. */
static void
test_random_bytes(void **state)
{
	static const char alphabet[] = "GETPOS \r\n:Content-Lgh0123456789,\t";
	uint8_t buf[64];
	unsigned int seed = 1, i, j;

	(void)state;
	for (i = 0; i < 20000; i++) {
		uint32_t len = rand_r(&seed) % sizeof(buf);
		uint8_t *copy;
		int m;

		for (j = 0; j < len; j++)
			buf[j] = i % 2 ? (uint8_t)rand_r(&seed) :
				 (uint8_t)alphabet[rand_r(&seed) %
						   (sizeof(alphabet) - 1)];
		copy = exact_copy(buf, len);
		m = st_http_request_method(copy, len);
		assert_true(m >= ST_HTTP_PREFIX && m < ST_HTTP_METHODS);
		assert_true(st_http_head_length(copy, len) <= len);
		assert_true(st_http_body_length(copy, len) >= -1);
		free(copy);
		/* Lines handed out, however many, leave the same result. */
		buf[len] = '\0';
		if (strlen((char *)buf) == len)
			read_head((char *)buf);
	}
}

/* Heads of many lines, from parts chosen to frame, fold, end or cut a
 * head, long enough for st_http_head_finish() to look at 64 bytes at a
 * time: the same results however many lines were read one by one, and
 * no over-read (exact copies, under ASan). */
static void
test_random_long_heads(void **state)
{
	static const char *const parts[] = {
		"GET / HTTP/1.1\r\n", "POST /a HTTP/1.1\n", "Host: x\r\n",
		"Content-Length: 12\r\n", "content-length:12\n",
		"Content-Length: 7\r\n", "Content-Length : 3\r\n",
		"Transfer-Encoding: chunked\r\n", "tE: x\n",
		" folded\r\n", "\tfolded\n", "Cookie: a=b\r\n",
		"Connection: keep-alive\r\n", "\r\n", "\n", "\r", "\rX\r\n",
		"\r\r\n", "Accept: */*\r\n",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101\r\n",
		"X-Request-Id: 0123456789abcdef0123456789abcdef\r\n",
		("Cookie: session=0123456789abcdef0123456789abcdef0123456789"
		 "abcdef0123456789abcdef\r\n"),
		"C", "T", "t", "\n\n",
	};
	char buf[1024];
	unsigned int seed = 7, i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		unsigned int nb = 1 + rand_r(&seed) % 24;
		size_t len = 0;

		while (nb-- > 0) {
			const char *part = parts[rand_r(&seed) %
						 (sizeof(parts) / sizeof(parts[0]))];
			size_t n = strlen(part);

			if (len + n >= sizeof(buf))
				break;
			memcpy(buf + len, part, n);
			len += n;
		}
		buf[len] = '\0';
		read_head(buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_method_prefixes),
		cmocka_unit_test(test_not_requests),
		cmocka_unit_test(test_may_start_request),
		cmocka_unit_test(test_head_length),
		cmocka_unit_test(test_body_length_none),
		cmocka_unit_test(test_body_length_content_length),
		cmocka_unit_test(test_body_length_unknown),
		cmocka_unit_test(test_reader_lines),
		cmocka_unit_test(test_reader_cut),
		cmocka_unit_test(test_reader_framing),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_random_long_heads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
