/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/diff.h: two answers compared by status, allow-listed
 * headers, JSON path or bytes after content decoding; noise rules; masked
 * samples and paths; each (kind, path) once per call.
 *
 * Bodies are passed as heap copies of exactly their length, without a NUL,
 * so that reading past them shows up under AddressSanitizer.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "diff.h"

/* conf.c's default masks */
#define CARD_RE "[0-9]([ -]?[0-9]){12,18}"
#define EMAIL_RE "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}"

#define JSON "application/json"
#define MAX_FIELDS 8

/* An answer as a record holds it. */
struct answer {
	struct st_http_field fields[MAX_FIELDS];
	struct st_record_message m;
	uint8_t *body;
};

/* What a call reported, copied out of the callback. */
struct found {
	enum st_diff_kind kind;
	char path[4 * ST_DIFF_PATH_MAX];
	char primary[ST_DIFF_SAMPLE_MAX];
	char other[ST_DIFF_SAMPLE_MAX];
};

static struct found found[ST_DIFF_REPORTS_MAX + 1];
static unsigned int nb_found;

static struct st_sanitizer *san;

static int
setup(void **state)
{
	struct st_replay_sanitize_conf c;
	char err[256] = "";

	(void)state;
	memset(&c, 0, sizeof(c));
	c.nb_json_fields = 2;
	strcpy(c.json_fields[0], "password");
	strcpy(c.json_fields[1], "token");
	c.nb_patterns = 2;
	strcpy(c.patterns[0], CARD_RE);
	strcpy(c.patterns[1], EMAIL_RE);
	return st_sanitizer_create(&c, &san, err, sizeof(err));
}

static int
teardown(void **state)
{
	(void)state;
	st_sanitizer_free(san);
	return 0;
}

/* The default allow-list, and @p nb noise rules. */
static struct st_differ *
make(const struct st_replay_noise_rule *rules, unsigned int nb)
{
	static const char *const headers[] = {
		"content-type",	    "location",
		"cache-control",    "content-language",
		"content-disposition", "vary",
		"access-control-allow-origin", "www-authenticate",
		"allow",	    "retry-after",
	};
	struct st_replay_compare_conf *c = calloc(1, sizeof(*c));
	struct st_differ *d = NULL;
	char err[256] = "";
	unsigned int i;

	assert_non_null(c);
	c->nb_headers = sizeof(headers) / sizeof(headers[0]);
	for (i = 0; i < c->nb_headers; i++)
		strcpy(c->headers[i], headers[i]);
	c->nb_noise = nb;
	if (nb > 0)
		memcpy(c->noise, rules, nb * sizeof(*rules));
	assert_int_equal(st_differ_create(c, san, &d, err, sizeof(err)), 0);
	assert_non_null(d);
	free(c);
	return d;
}

static struct st_replay_noise_rule
rule(int route, bool header, const char *path,
     enum st_replay_noise_action action)
{
	struct st_replay_noise_rule r;

	memset(&r, 0, sizeof(r));
	r.route = route;
	r.header = header;
	strcpy(r.path, path);
	r.action = action;
	return r;
}

static void
field(struct answer *a, const char *name, const char *value)
{
	struct st_http_field *f = &a->fields[a->m.nb_fields++];

	assert_true(a->m.nb_fields <= MAX_FIELDS);
	f->name = name;
	f->name_len = (uint32_t)strlen(name);
	f->value = value;
	f->value_len = (uint32_t)strlen(value);
}

/* An answer with a body of @p len bytes and a Content-Type (unless
 * NULL). */
static void
answer_bytes(struct answer *a, int status, const char *type,
	     const void *body, size_t len)
{
	memset(a, 0, sizeof(*a));
	a->m.status = status;
	a->m.ttfb_ms = 1;
	a->m.fields = a->fields;
	a->body = malloc(len > 0 ? len : 1);
	assert_non_null(a->body);
	memcpy(a->body, body, len);
	a->m.body = a->body;
	a->m.body_len = (uint32_t)len;
	if (type != NULL)
		field(a, "Content-Type", type);
}

static void
answer(struct answer *a, int status, const char *type, const char *body)
{
	answer_bytes(a, status, type, body, strlen(body));
}

static void
answer_free(struct answer *a)
{
	free(a->body);
	a->body = NULL;
}

static void
collect(void *arg, const struct st_diff *d)
{
	struct found *f = &found[nb_found++];

	(void)arg;
	assert_true(nb_found <= ST_DIFF_REPORTS_MAX);
	assert_true(strlen(d->path) < sizeof(f->path));
	assert_true(strlen(d->primary) < ST_DIFF_SAMPLE_MAX);
	assert_true(strlen(d->other) < ST_DIFF_SAMPLE_MAX);
	f->kind = d->kind;
	strcpy(f->path, d->path);
	strcpy(f->primary, d->primary);
	strcpy(f->other, d->other);
}

/* Compare and free both answers. @return the count reported. */
static int
diff(const struct st_differ *d, int route, struct answer *p,
     struct answer *o)
{
	int n;

	nb_found = 0;
	n = st_diff_answers(d, route, &p->m, &o->m, collect, NULL);
	assert_int_equal(n, nb_found);
	answer_free(p);
	answer_free(o);
	return n;
}

/* Compare two JSON bodies on route @p route. */
static int
diff_json(const struct st_differ *d, int route, const char *p,
	  const char *o)
{
	struct answer a, b;

	answer(&a, 200, JSON, p);
	answer(&b, 200, JSON, o);
	return diff(d, route, &a, &b);
}

/* Compare two answers without a body, with header @p name valued @p pv
 * and @p ov (NULL: absent). */
static int
diff_header(const struct st_differ *d, const char *name, const char *pv,
	    const char *ov)
{
	struct answer a, b;

	answer(&a, 200, NULL, "");
	if (pv != NULL)
		field(&a, name, pv);
	answer(&b, 200, NULL, "");
	if (ov != NULL)
		field(&b, name, ov);
	return diff(d, 0, &a, &b);
}

static const struct found *
find(enum st_diff_kind kind, const char *path)
{
	unsigned int i;

	for (i = 0; i < nb_found; i++)
		if (found[i].kind == kind && strcmp(found[i].path, path) == 0)
			return &found[i];
	return NULL;
}

/* Assert a difference and its samples. */
static void
expect(enum st_diff_kind kind, const char *path, const char *primary,
       const char *other)
{
	const struct found *f = find(kind, path);

	if (f == NULL) {
		unsigned int i;

		for (i = 0; i < nb_found; i++)
			print_message("found %s at %s\n",
				      st_diff_kind_name(found[i].kind),
				      found[i].path);
		fail_msg("no %s at %s", st_diff_kind_name(kind), path);
	}
	assert_string_equal(f->primary, primary);
	assert_string_equal(f->other, other);
}

/* @p in compressed by zlib: window_bits 31 gzip, 15 zlib, -15 raw. */
static size_t
compress_with(const char *in, int window_bits, uint8_t *out, size_t outlen)
{
	z_stream zs;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, window_bits, 8,
				      Z_DEFAULT_STRATEGY),
			 Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)strlen(in);
	zs.next_out = out;
	zs.avail_out = (uInt)outlen;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	deflateEnd(&zs);
	return outlen - zs.avail_out;
}

static const char doc[] =
	"{\"id\": 7, \"name\": \"widget\", \"price\": 1.0,"
	" \"items\": [{\"sku\": \"a\", \"price\": 10}, {\"sku\": \"b\","
	" \"price\": 20}], \"ok\": true}";

static void
test_equal(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;

	(void)state;
	answer(&p, 200, JSON, doc);
	field(&p, "Date", "Mon, 01 Jan 2024 00:00:00 GMT");
	field(&p, "Server", "nginx/1.22");
	field(&p, "Cache-Control", "no-store");
	/* other order, 1 for 1.0, other spacing, other dates and server */
	answer(&o, 200, JSON,
	       "{\"ok\":true,\"items\":[{\"price\":10,\"sku\":\"a\"},"
	       "{\"price\":20.0,\"sku\":\"b\"}],\"price\":1,"
	       "\"name\":\"widget\",\"id\":7.0}");
	field(&o, "date", "Tue, 02 Jan 2024 10:00:00 GMT");
	field(&o, "server", "nginx/1.25");
	field(&o, "cache-control", "no-store");
	assert_int_equal(diff(d, 0, &p, &o), 0);

	/* no body, no headers */
	answer(&p, 204, NULL, "");
	answer(&o, 204, NULL, "");
	assert_int_equal(diff(d, -1, &p, &o), 0);
	st_differ_free(d);
}

static void
test_status(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;

	(void)state;
	answer(&p, 200, JSON, doc);
	answer(&o, 500, JSON, doc);
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_STATUS, "status", "200", "500");
	st_differ_free(d);
}

static void
test_headers(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;

	(void)state;
	answer(&p, 200, "text/html", "<p>x</p>");
	field(&p, "Cache-Control", "no-cache");
	field(&p, "Vary", "Accept");
	field(&p, "vary", " Accept-Encoding\t");
	field(&p, "ETag", "\"1\"");
	answer(&o, 200, "text/plain", "<p>x</p>");
	field(&o, "VARY", "Accept, Accept-Encoding");
	field(&o, "ETag", "\"2\"");	/* not on the allow-list */
	field(&o, "Location", "/next");
	assert_int_equal(diff(d, 0, &p, &o), 3);
	expect(ST_DIFF_HEADER, "content-type", "text/html", "text/plain");
	expect(ST_DIFF_HEADER, "cache-control", "no-cache", "");
	expect(ST_DIFF_HEADER, "location", "", "/next");

	/* an empty value is not an absent header */
	assert_int_equal(diff_header(d, "Allow", "", NULL), 1);
	expect(ST_DIFF_HEADER, "allow", "", "");
	st_differ_free(d);
}

static void
test_json_paths(void **state)
{
	struct st_differ *d = make(NULL, 0);

	(void)state;
	assert_int_equal(
		diff_json(d, 0,
			  "{\"id\": 1, \"ok\": true, \"items\": [{\"price\": "
			  "10, \"sku\": \"x\"}, {\"price\": 20}], \"tags\": "
			  "[\"a\", \"b\"], \"meta\": {\"odd key\": 1, "
			  "\"1st\": 2, \"a\\\"b\\n\": 3, \"\": 4}, "
			  "\"m\": [[1, 2], [3]], \"gone\": null}",
			  "{\"id\": \"1\", \"ok\": false, \"items\": "
			  "[{\"price\": 11, \"sku\": \"x\"}, {\"price\": 21}],"
			  " \"tags\": [\"a\"], \"meta\": {\"odd key\": 2, "
			  "\"1st\": 3, \"a\\\"b\\n\": 4, \"\": 5}, "
			  "\"m\": [[1, 5], [3, 4]], \"new\": {\"k\": [1]}}"),
		12);
	expect(ST_DIFF_JSON_TYPE, "$.id", "1", "\"1\"");
	expect(ST_DIFF_JSON_VALUE, "$.ok", "true", "false");
	/* first values found there */
	expect(ST_DIFF_JSON_VALUE, "$.items[*].price", "10", "11");
	expect(ST_DIFF_JSON_MISSING, "$.tags[*]", "\"b\"", "");
	expect(ST_DIFF_JSON_VALUE, "$.meta[\"odd key\"]", "1", "2");
	expect(ST_DIFF_JSON_VALUE, "$.meta[\"1st\"]", "2", "3");
	expect(ST_DIFF_JSON_VALUE, "$.meta[\"a\\\"b\\n\"]", "3", "4");
	expect(ST_DIFF_JSON_VALUE, "$.meta[\"\"]", "4", "5");
	expect(ST_DIFF_JSON_VALUE, "$.m[*][*]", "2", "5");
	expect(ST_DIFF_JSON_EXTRA, "$.m[*][*]", "", "4");
	expect(ST_DIFF_JSON_MISSING, "$.gone", "null", "");
	expect(ST_DIFF_JSON_EXTRA, "$.new", "", "{\"k\":[1]}");

	/* the whole document, and bare values */
	assert_int_equal(diff_json(d, 0, "[1]", "{}"), 1);
	expect(ST_DIFF_JSON_TYPE, "$", "[1]", "{}");
	assert_int_equal(diff_json(d, 0, "\"a\"", "\"b\""), 1);
	expect(ST_DIFF_JSON_VALUE, "$", "\"a\"", "\"b\"");
	/* strings with NUL bytes compare whole */
	assert_int_equal(diff_json(d, 0, "[\"a\\u0000b\"]", "[\"a\\u0000c\"]"),
			 1);
	expect(ST_DIFF_JSON_VALUE, "$[*]", "\"a\\u0000b\"", "\"a\\u0000c\"");
	st_differ_free(d);
}

static void
test_json_numbers(void **state)
{
	struct st_differ *d = make(NULL, 0);

	(void)state;
	assert_int_equal(diff_json(d, 0, "[1, 100, 0.5, -0.0, 3]",
				   "[1.0, 1e2, 0.50, 0, 3.0]"),
			 0);
	/* integers are compared exactly, past a double's 53 bits */
	assert_int_equal(diff_json(d, 0, "[9007199254740993]",
				   "[9007199254740992]"),
			 1);
	expect(ST_DIFF_JSON_VALUE, "$[*]", "9007199254740993",
	       "9007199254740992");
	assert_int_equal(diff_json(d, 0, "{\"x\": 1}", "{\"x\": 1.5}"), 1);
	expect(ST_DIFF_JSON_VALUE, "$.x", "1", "1.5");
	st_differ_free(d);
}

static void
test_json_fallback(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;

	(void)state;
	/* "+json" types, any case, parameters ignored, are JSON */
	answer(&p, 200, "application/problem+json; charset=utf-8",
	       "{\"a\": 1, \"b\": 2}");
	answer(&o, 200, "Application/Problem+JSON", "{\"b\": 2, \"a\": 3}");
	assert_int_equal(diff(d, 0, &p, &o), 2);
	expect(ST_DIFF_HEADER, "content-type",
	       "application/problem+json; charset=utf-8",
	       "Application/Problem+JSON");
	expect(ST_DIFF_JSON_VALUE, "$.a", "1", "3");

	/* not JSON on one side: bytes */
	answer(&p, 200, JSON, "{\"a\": 1}");
	answer(&o, 200, "text/plain", "{\"a\": 2}");
	assert_int_equal(diff(d, 0, &p, &o), 2);
	expect(ST_DIFF_BODY, "body", "@6/8: {\"a\": 1}", "@6/8: {\"a\": 2}");

	/* a body that does not parse: bytes */
	answer(&p, 200, JSON, "{\"a\": 1}");
	answer(&o, 200, JSON, "{\"a\": 1");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@7/8: {\"a\": 1}", "@7/7: {\"a\": 1");
	st_differ_free(d);
}

static void
test_encodings(void **state)
{
	static const struct {
		const char *coding;
		int window_bits;
	} codings[] = {
		{ "gzip", 31 }, { "x-gzip", 31 }, { "GZIP", 15 },
		{ "deflate", 15 }, { "deflate", -15 },
	};
	struct st_differ *d = make(NULL, 0);
	uint8_t z[1024];
	struct answer p, o;
	unsigned int i;
	size_t n;

	(void)state;
	for (i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		n = compress_with(doc, codings[i].window_bits, z, sizeof(z));
		answer(&p, 200, JSON, doc);
		answer_bytes(&o, 200, JSON, z, n);
		field(&o, "Content-Encoding", codings[i].coding);
		assert_int_equal(diff(d, 0, &p, &o), 0);
	}
	/* decoded, then compared by path */
	n = compress_with("{\"a\": [1, 2]}", 31, z, sizeof(z));
	answer_bytes(&p, 200, JSON, z, n);
	field(&p, "Content-Encoding", "gzip");
	answer(&o, 200, JSON, "{\"a\": [1, 3]}");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_JSON_VALUE, "$.a[*]", "2", "3");

	/* an encoding not decoded is compared as it came */
	answer(&p, 200, "text/plain", "\x1b\x02" "abc");
	field(&p, "Content-Encoding", "br");
	answer(&o, 200, "text/plain", "\x1b\x02" "abc");
	field(&o, "Content-Encoding", "br");
	assert_int_equal(diff(d, 0, &p, &o), 0);
	answer(&p, 200, "text/plain", "\x1b\x02" "abc");
	field(&p, "Content-Encoding", "br");
	answer(&o, 200, "text/plain", "\x1b\x02" "abd");
	field(&o, "Content-Encoding", "br");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@4/5: \\x1b\\x02abc",
	       "@4/5: \\x1b\\x02abd");
	st_differ_free(d);
}

static void
test_corrupt_encodings(void **state)
{
	static const char garbage[] = "this is not gzip at all";
	struct st_differ *d = make(NULL, 0);
	uint8_t z[1024], *zbig;
	char *big;
	struct answer p, o;
	size_t n;

	(void)state;
	/* cut short: the decoded prefix agrees */
	n = compress_with(doc, 31, z, sizeof(z));
	answer(&p, 200, JSON, doc);
	answer_bytes(&o, 200, JSON, z, n - 12);
	field(&o, "Content-Encoding", "gzip");
	assert_int_equal(diff(d, 0, &p, &o), 0);

	/* corrupt (its CRC): decoded, but a cut body, whose bytes are
	 * compared */
	n = compress_with(doc, 31, z, sizeof(z));
	z[n - 8] ^= 0xff;
	answer(&p, 200, JSON, doc);
	answer_bytes(&o, 200, JSON, z, n);
	field(&o, "Content-Encoding", "gzip");
	assert_int_equal(diff(d, 0, &p, &o), 0);
	answer(&p, 200, JSON, "{\"id\": 8}");
	answer_bytes(&o, 200, JSON, z, n);
	field(&o, "Content-Encoding", "gzip");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@7/9: {\"id\": 8}",
	       "@7/118+: {\"id\": 7, \"name\": \"widget\", \"price\": 1.0,"
	       " \"items\": [{\"sku\": \"a\", \"price\": 10}, {\"sku\": "
	       "\"b\", \"price\": 20}], \"ok\": true}");

	/* decoding stops at ST_DIFF_DECODED_MAX: a cut body */
	big = malloc(ST_DIFF_DECODED_MAX + 2);
	zbig = malloc(64 << 10);
	assert_non_null(big);
	assert_non_null(zbig);
	memset(big, 'a', ST_DIFF_DECODED_MAX + 1);
	big[ST_DIFF_DECODED_MAX + 1] = '\0';
	n = compress_with(big, 31, zbig, 64 << 10);
	big[100] = '\0';
	answer(&p, 200, "text/plain", big);
	answer_bytes(&o, 200, "text/plain", zbig, n);
	field(&o, "Content-Encoding", "gzip");
	assert_int_equal(diff(d, 0, &p, &o), 0);
	free(big);
	free(zbig);

	/* not gzip from its first byte: compared as it came */
	answer(&p, 200, JSON, doc);
	answer(&o, 200, JSON, garbage);
	field(&o, "Content-Encoding", "gzip");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@0/118: {\"id\": 7, \"name\": "
	       "\"widget\", \"price\": 1.0, \"items\": [{\"sku\": \"a\", "
	       "\"price\": 10}, {\"sku\": \"b\", \"price\": 20}], \"ok\": "
	       "true}", "@0/23: this is not gzip at all");
	st_differ_free(d);
}

static void
test_bytes(void **state)
{
	struct st_differ *d = make(NULL, 0);
	char big_p[2001], big_o[2001];
	const char *s;
	const uint8_t bin_p[] = { 'a', 0x00, 0xff, '\n', 0xc3, 0xa9, 'x' };
	const uint8_t bin_o[] = { 'a', 0x00, 0xff, '\n', 0xc3, 0xa9, 'y' };
	struct answer p, o;

	(void)state;
	answer(&p, 200, "text/plain", "hello world");
	answer(&o, 200, "text/plain", "hello there!");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@6/11: hello world",
	       "@6/12: hello there!");

	/* one a prefix of the other */
	answer(&p, 200, NULL, "abc");
	answer(&o, 200, NULL, "abcd");
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@3/3: abc", "@3/4: abcd");

	/* a long body: an excerpt from 32 bytes before the difference */
	memset(big_p, 'x', 2000);
	big_p[2000] = '\0';
	memcpy(big_p + 961, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM", 39);
	memcpy(big_o, big_p, sizeof(big_o));
	big_o[1000] = 'Y';
	answer(&p, 200, NULL, big_p);
	answer(&o, 200, NULL, big_o);
	assert_int_equal(diff(d, 0, &p, &o), 1);
	s = find(ST_DIFF_BODY, "body")->other;
	assert_true(strncmp(s, "@1000/2000: ...hijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMYxx", 50) == 0);
	assert_string_equal(s + strlen(s) - 4, "x...");
	assert_int_equal(strlen(s), ST_DIFF_SAMPLE_MAX - 1);

	/* control and invalid bytes escaped, UTF-8 kept */
	answer_bytes(&p, 200, NULL, bin_p, sizeof(bin_p));
	answer_bytes(&o, 200, NULL, bin_o, sizeof(bin_o));
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@6/7: a\\x00\\xff\\n\xc3\xa9x",
	       "@6/7: a\\x00\\xff\\n\xc3\xa9y");
	st_differ_free(d);
}

static void
test_truncated(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;

	(void)state;
	answer(&p, 200, "text/plain", "abcdef");
	p.m.body_truncated = true;
	answer(&o, 200, "text/plain", "abcdefgh");
	assert_int_equal(diff(d, 0, &p, &o), 0);

	answer(&p, 200, "text/plain", "abcdefgh");
	answer(&o, 200, "text/plain", "abcXef");
	o.m.body_truncated = true;
	assert_int_equal(diff(d, 0, &p, &o), 1);
	expect(ST_DIFF_BODY, "body", "@3/8: abcdefgh", "@3/6+: abcXef");

	/* JSON cannot be read from a part: the prefix agrees */
	answer(&p, 200, JSON, "{\"a\": 1, \"b\": 2}");
	p.m.body_truncated = true;
	answer(&o, 200, JSON, "{\"a\": 1, \"b\": 3}");
	p.m.body_len = 10;
	assert_int_equal(diff(d, 0, &p, &o), 0);
	st_differ_free(d);
}

static void
test_noise_ignore(void **state)
{
	struct st_replay_noise_rule r[2];
	struct st_differ *d;

	(void)state;
	r[0] = rule(-1, false, "$.meta", ST_NOISE_IGNORE);
	r[1] = rule(-1, true, "cache-control", ST_NOISE_IGNORE);
	d = make(r, 2);
	/* everything under $.meta, of any kind; $.metadata is another
	 * path */
	assert_int_equal(
		diff_json(d, 0,
			  "{\"meta\": {\"ts\": 1, \"gone\": 1, \"l\": [1]}, "
			  "\"metadata\": 1}",
			  "{\"meta\": {\"ts\": 2, \"new\": 1, \"l\": [\"x\"]}, "
			  "\"metadata\": 2}"),
		1);
	expect(ST_DIFF_JSON_VALUE, "$.metadata", "1", "2");
	assert_int_equal(diff_json(d, 0, "{\"meta\": 1}", "{}"), 0);
	assert_int_equal(diff_header(d, "Cache-Control", "max-age=1", NULL), 0);
	st_differ_free(d);
}

static void
test_noise_presence(void **state)
{
	struct st_replay_noise_rule r[2];
	struct st_differ *d;

	(void)state;
	r[0] = rule(-1, false, "$.ts", ST_NOISE_PRESENCE);
	r[1] = rule(-1, true, "location", ST_NOISE_PRESENCE);
	d = make(r, 2);
	assert_int_equal(diff_json(d, 0, "{\"ts\": 1, \"x\": 1}",
				   "{\"ts\": \"now\", \"x\": 1}"),
			 0);
	assert_int_equal(diff_json(d, 0, "{\"ts\": {\"a\": 1, \"b\": 1}}",
				   "{\"ts\": {\"a\": 2, \"c\": 1}}"),
			 0);
	/* absent on one side: still reported */
	assert_int_equal(diff_json(d, 0, "{\"ts\": 1}", "{}"), 1);
	expect(ST_DIFF_JSON_MISSING, "$.ts", "1", "");
	assert_int_equal(diff_json(d, 0, "{}", "{\"ts\": 1}"), 1);
	expect(ST_DIFF_JSON_EXTRA, "$.ts", "", "1");

	assert_int_equal(diff_header(d, "Location", "/a/1", "/a/2"), 0);
	assert_int_equal(diff_header(d, "Location", "/a/1", NULL), 1);
	expect(ST_DIFF_HEADER, "location", "/a/1", "");
	st_differ_free(d);
}

static void
test_noise_tolerance(void **state)
{
	struct st_replay_noise_rule r[2];
	struct st_differ *d;

	(void)state;
	r[0] = rule(-1, false, "$.prices", ST_NOISE_TOLERANCE);
	r[0].tolerance = 0.5;
	r[1] = rule(-1, true, "retry-after", ST_NOISE_TOLERANCE);
	r[1].tolerance = 2;
	d = make(r, 2);
	assert_int_equal(diff_json(d, 0, "{\"prices\": [10, 20.25]}",
				   "{\"prices\": [10.5, 20]}"),
			 0);
	assert_int_equal(diff_json(d, 0, "{\"prices\": [10, \"a\"], \"p\": 1}",
				   "{\"prices\": [11, \"b\"], \"p\": 1.25}"),
			 2);
	expect(ST_DIFF_JSON_VALUE, "$.prices[*]", "10", "11");
	expect(ST_DIFF_JSON_VALUE, "$.p", "1", "1.25");
	/* strings under the rule are not numbers */
	assert_int_equal(diff_json(d, 0, "{\"prices\": [\"a\"]}",
				   "{\"prices\": [\"b\"]}"),
			 1);

	assert_int_equal(diff_header(d, "Retry-After", "120", "121.5"), 0);
	assert_int_equal(diff_header(d, "Retry-After", "120", "125"), 1);
	assert_int_equal(diff_header(d, "Retry-After", "120", "soon"), 1);
	st_differ_free(d);
}

static void
test_noise_pattern(void **state)
{
	struct st_replay_noise_rule r[3];
	struct st_differ *d;

	(void)state;
	r[0] = rule(-1, false, "$.id", ST_NOISE_PATTERN);
	strcpy(r[0].pattern, "^req-[0-9a-f]+$");
	r[1] = rule(-1, false, "$.n", ST_NOISE_PATTERN);
	strcpy(r[1].pattern, "^[0-9]+(\\.5)?$");
	r[2] = rule(-1, true, "location", ST_NOISE_PATTERN);
	strcpy(r[2].pattern, "^/items/[0-9]+$");
	d = make(r, 3);
	assert_int_equal(diff_json(d, 0, "{\"id\": \"req-ab12\", \"n\": 12}",
				   "{\"id\": \"req-99\", \"n\": 13.5}"),
			 0);
	/* one side does not match */
	assert_int_equal(diff_json(d, 0, "{\"id\": \"req-ab12\", \"n\": 12}",
				   "{\"id\": \"req-xyz\", \"n\": 1.25}"),
			 2);
	expect(ST_DIFF_JSON_VALUE, "$.id", "\"req-ab12\"", "\"req-xyz\"");
	expect(ST_DIFF_JSON_VALUE, "$.n", "12", "1.25");

	assert_int_equal(diff_header(d, "Location", "/items/1", "/items/2"), 0);
	assert_int_equal(diff_header(d, "Location", "/items/1", "/error"), 1);
	st_differ_free(d);
}

static void
test_noise_route(void **state)
{
	struct st_replay_noise_rule r[2];
	struct st_differ *d;

	(void)state;
	r[0] = rule(1, false, "$.v", ST_NOISE_IGNORE);
	r[1] = rule(-1, false, "$.w", ST_NOISE_IGNORE);
	d = make(r, 2);
	assert_int_equal(diff_json(d, 1, "{\"v\": 1, \"w\": 1}",
				   "{\"v\": 2, \"w\": 2}"),
			 0);
	assert_int_equal(diff_json(d, 2, "{\"v\": 1, \"w\": 1}",
				   "{\"v\": 2, \"w\": 2}"),
			 1);
	expect(ST_DIFF_JSON_VALUE, "$.v", "1", "2");
	assert_int_equal(diff_json(d, -1, "{\"v\": 1, \"w\": 1}",
				   "{\"v\": 2, \"w\": 2}"),
			 1);
	st_differ_free(d);
}

static void
test_masking(void **state)
{
	struct st_differ *d = make(NULL, 0);
	char body_p[1200], body_o[1200];
	struct answer p, o;
	const char *s;

	(void)state;
	assert_int_equal(
		diff_json(d, 0,
			  "{\"password\": \"hunter2\", \"Token\": [\"a\"],"
			  " \"auth\": {\"password\": {\"old\": \"x\"}}}",
			  "{\"password\": \"hunter3\", \"Token\": [\"b\"],"
			  " \"auth\": {\"password\": {\"old\": \"y\"}}}"),
		3);
	expect(ST_DIFF_JSON_VALUE, "$.password", "\"***\"", "\"***\"");
	expect(ST_DIFF_JSON_VALUE, "$.Token[*]", "\"***\"", "\"***\"");
	expect(ST_DIFF_JSON_VALUE, "$.auth.password.old", "\"***\"",
	       "\"***\"");

	assert_int_equal(
		diff_json(d, 0,
			  "{\"note\": \"card 4111 1111 1111 1111\", "
			  "\"o\": {\"p\": [\"jane@example.com\"]}}",
			  "{\"note\": \"card 5500 0000 0000 0004\", "
			  "\"o\": {\"p\": 1}}"),
		2);
	expect(ST_DIFF_JSON_VALUE, "$.note", "\"card ***\"", "\"card ***\"");
	expect(ST_DIFF_JSON_TYPE, "$.o.p", "[\"***\"]", "1");

	/* no key above: bare values */
	assert_int_equal(diff_json(d, 0, "\"4111111111111111\"",
				   "[\"a@b.io\"]"),
			 1);
	expect(ST_DIFF_JSON_TYPE, "$", "\"***\"", "[\"***\"]");

	/* an address as a key */
	assert_int_equal(
		diff_json(d, 0,
			  "{\"users\": {\"jane@example.com\": {\"age\": 30}}}",
			  "{\"users\": {\"jane@example.com\": {\"age\": 31}}}"),
		1);
	expect(ST_DIFF_JSON_VALUE, "$.users[\"***\"].age", "30", "31");

	/* header values */
	assert_int_equal(diff_header(d, "Content-Disposition",
				     "attachment; name=\"a@b.io\"", NULL),
			 1);
	expect(ST_DIFF_HEADER, "content-disposition",
	       "attachment; name=\"***\"", "");

	/* bytes: a card in the excerpt, and one cut by the excerpt's edge
	 * (in the margin, dropped) */
	memset(body_p, '.', sizeof(body_p));
	memcpy(body_p + 960, "4111 1111 1111 1111", 19);
	memcpy(body_p + 1010, "4111111111111111", 16);
	memcpy(body_o, body_p, sizeof(body_o));
	body_o[1000] = '!';
	answer_bytes(&p, 200, NULL, body_p, sizeof(body_p));
	answer_bytes(&o, 200, NULL, body_o, sizeof(body_o));
	assert_int_equal(diff(d, 0, &p, &o), 1);
	s = find(ST_DIFF_BODY, "body")->other;
	assert_non_null(strstr(s, "!.........***...."));
	assert_true(strncmp(s, "@1000/1200: ", 12) == 0);
	assert_null(strchr(s + 12, '1'));
	assert_null(strchr(find(ST_DIFF_BODY, "body")->primary + 12, '1'));
	st_differ_free(d);
}

static void
test_once_per_call(void **state)
{
	struct st_differ *d = make(NULL, 0);
	char p[16384], o[16384];
	size_t pn = 0, on = 0;
	unsigned int i;

	(void)state;
	assert_int_equal(
		diff_json(d, 0,
			  "{\"items\": [{\"price\": 1}, {\"price\": 2}, "
			  "{\"price\": 3}], \"u\": {\"a@b.io\": 1, "
			  "\"c@d.io\": 1}}",
			  "{\"items\": [{\"price\": 4}, {\"price\": 5}, "
			  "{\"price\": \"6\"}], \"u\": {\"a@b.io\": 2, "
			  "\"c@d.io\": 3}}"),
		3);
	expect(ST_DIFF_JSON_VALUE, "$.items[*].price", "1", "4");
	expect(ST_DIFF_JSON_TYPE, "$.items[*].price", "3", "\"6\"");
	/* two keys, one masked path */
	expect(ST_DIFF_JSON_VALUE, "$.u[\"***\"]", "1", "2");

	/* at most ST_DIFF_REPORTS_MAX, then the call stops */
	pn += (size_t)sprintf(p + pn, "{");
	on += (size_t)sprintf(o + on, "{");
	for (i = 0; i < ST_DIFF_REPORTS_MAX + 40; i++) {
		pn += (size_t)sprintf(p + pn, "%s\"k%u\": 1", i ? "," : "", i);
		on += (size_t)sprintf(o + on, "%s\"k%u\": 2", i ? "," : "", i);
	}
	sprintf(p + pn, "}");
	sprintf(o + on, "}");
	assert_int_equal(diff_json(d, 0, p, o), ST_DIFF_REPORTS_MAX);
	expect(ST_DIFF_JSON_VALUE, "$.k0", "1", "2");
	st_differ_free(d);
}

static void
test_long_path(void **state)
{
	struct st_replay_noise_rule r = rule(3, false, "$.outer",
					     ST_NOISE_IGNORE);
	struct st_differ *d = make(&r, 1);
	char key[700], p[800], o[800], want[ST_DIFF_PATH_MAX];
	const struct found *f;

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(p, sizeof(p), "{\"outer\": {\"%s\": 1}}", key);
	snprintf(o, sizeof(o), "{\"outer\": {\"%s\": 2}}", key);
	assert_int_equal(diff_json(d, 0, p, o), 1);
	expect(ST_DIFF_JSON_VALUE, "$.outer...", "1", "2");
	/* a rule still covers what is below a cut path */
	assert_int_equal(diff_json(d, 3, p, o), 0);

	/* cut after the last component that fits */
	snprintf(p, sizeof(p), "{\"%.500s\": {\"abcdef\": 1}}", key);
	snprintf(o, sizeof(o), "{\"%.500s\": {\"abcdef\": 2}}", key);
	assert_int_equal(diff_json(d, 0, p, o), 1);
	f = &found[0];
	snprintf(want, sizeof(want), "$.%.500s...", key);
	assert_string_equal(f->path, want);
	snprintf(p, sizeof(p), "{\"%.500s\": {\"abcde\": 1}}", key);
	snprintf(o, sizeof(o), "{\"%.500s\": {\"abcde\": 2}}", key);
	assert_int_equal(diff_json(d, 0, p, o), 1);
	snprintf(want, sizeof(want), "$.%.500s.abcde", key);
	assert_string_equal(f->path, want);
	st_differ_free(d);
}

/* 2000 nested arrays (jansson reads 2048 levels): [[...[1]...]] */
static void
test_deep(void **state)
{
	const unsigned int depth = 2000;
	struct st_differ *d = make(NULL, 0);
	char *p = malloc(2 * depth + 2), *o = malloc(2 * depth + 2);
	const char *path;
	unsigned int i;

	(void)state;
	assert_non_null(p);
	assert_non_null(o);
	for (i = 0; i < depth; i++) {
		p[i] = o[i] = '[';
		p[depth + 1 + i] = o[depth + 1 + i] = ']';
	}
	p[depth] = '1';
	o[depth] = '2';
	p[2 * depth + 1] = o[2 * depth + 1] = '\0';
	assert_int_equal(diff_json(d, 0, p, o), 1);
	path = found[0].path;
	assert_int_equal(strlen(path), ST_DIFF_PATH_MAX - 1);
	assert_string_equal(path + strlen(path) - 6, "[*]...");
	assert_string_equal(found[0].primary, "1");
	free(p);
	free(o);
	st_differ_free(d);
}

static void
test_create(void **state)
{
	struct st_replay_compare_conf *c = calloc(1, sizeof(*c));
	struct st_differ *d = NULL;
	char err[256] = "";

	(void)state;
	assert_non_null(c);
	c->nb_noise = 2;
	c->noise[0] = rule(-1, false, "$.a", ST_NOISE_PATTERN);
	strcpy(c->noise[0].pattern, "^a+$");
	c->noise[1] = rule(-1, false, "$.b", ST_NOISE_PATTERN);
	strcpy(c->noise[1].pattern, "a(b");
	assert_int_equal(st_differ_create(c, san, &d, err, sizeof(err)),
			 -EINVAL);
	assert_null(d);
	assert_true(strncmp(err, "compare.noise[1]: 'a(b': ", 25) == 0);
	assert_true(strlen(err) > 25);
	free(c);
	st_differ_free(NULL);

	assert_string_equal(st_diff_kind_name(ST_DIFF_STATUS), "status");
	assert_string_equal(st_diff_kind_name(ST_DIFF_JSON_EXTRA),
			    "json_extra");
	assert_null(st_diff_kind_name(ST_DIFF_KINDS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_json_paths),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_fallback),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_corrupt_encodings),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_noise_ignore),
		cmocka_unit_test(test_noise_presence),
		cmocka_unit_test(test_noise_tolerance),
		cmocka_unit_test(test_noise_pattern),
		cmocka_unit_test(test_noise_route),
		cmocka_unit_test(test_masking),
		cmocka_unit_test(test_once_per_call),
		cmocka_unit_test(test_long_path),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_create),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
