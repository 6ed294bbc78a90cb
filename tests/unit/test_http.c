/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the HTTP/1.x request framing helpers in classifier/http.h.
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
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_method_prefixes),
		cmocka_unit_test(test_not_requests),
		cmocka_unit_test(test_head_length),
		cmocka_unit_test(test_body_length_none),
		cmocka_unit_test(test_body_length_content_length),
		cmocka_unit_test(test_body_length_unknown),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
