/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/diff.h: two answers compared by status, allow-listed
 * headers, JSON path or bytes after content decoding; noise rules; masked
 * samples and paths; each (kind, path) once per call.
 *
 * Every comparison runs twice: as st_diff_answers() runs it, JSON bodies
 * read in lockstep first, and with jansson's parse and walk alone
 * (diff_int.h); both must report the same, in the same order. Random
 * documents and mutations of them hold the two against each other beyond
 * the cases written here.
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
#include "diff_int.h"

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

/* What a call returned and reported, in order. */
struct reports {
	int rc;
	unsigned int nb;
	struct found f[ST_DIFF_REPORTS_MAX + 1];
};

/* The last comparison's: as st_diff_answers() runs it, and by the walk
 * alone; whether jansson walked the bodies in the first. */
static struct reports got, walk;
static bool got_walked;

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
	struct reports *r = arg;
	struct found *f = &r->f[r->nb++];

	assert_true(r->nb <= ST_DIFF_REPORTS_MAX);
	assert_true(strlen(d->path) < sizeof(f->path));
	assert_true(strlen(d->primary) < ST_DIFF_SAMPLE_MAX);
	assert_true(strlen(d->other) < ST_DIFF_SAMPLE_MAX);
	f->kind = d->kind;
	strcpy(f->path, d->path);
	strcpy(f->primary, d->primary);
	strcpy(f->other, d->other);
}

/* Compare into @p r, the lockstep reading on or off. @return whether
 * jansson walked the bodies. */
static bool
run(const struct st_differ *d, int route, const struct answer *p,
    const struct answer *o, bool lockstep, struct reports *r)
{
	struct st_diff_how how = { .lockstep = lockstep };

	r->nb = 0;
	r->rc = st_diff_answers_how(d, route, &p->m, &o->m, NULL, collect, r,
				    &how);
	assert_int_equal(r->rc, r->nb);
	return how.walked;
}

static void
print_reports(const char *name, const struct reports *r)
{
	unsigned int i;

	print_message("%s: %d\n", name, r->rc);
	for (i = 0; i < r->nb; i++)
		print_message("  %s at %s: [%s] [%s]\n",
			      st_diff_kind_name(r->f[i].kind), r->f[i].path,
			      r->f[i].primary, r->f[i].other);
}

static bool
same_reports(const struct reports *a, const struct reports *b)
{
	unsigned int i;

	if (a->rc != b->rc || a->nb != b->nb)
		return false;
	for (i = 0; i < a->nb; i++)
		if (a->f[i].kind != b->f[i].kind ||
		    strcmp(a->f[i].path, b->f[i].path) != 0 ||
		    strcmp(a->f[i].primary, b->f[i].primary) != 0 ||
		    strcmp(a->f[i].other, b->f[i].other) != 0)
			return false;
	return true;
}

/* Compare both ways, into got and walk, and assert they agree. */
static void
diff_both(const struct st_differ *d, int route, const struct answer *p,
	  const struct answer *o)
{
	got_walked = run(d, route, p, o, true, &got);
	run(d, route, p, o, false, &walk);
	if (!same_reports(&got, &walk)) {
		print_message("primary: %.*s\nother: %.*s\n",
			      (int)p->m.body_len, (const char *)p->m.body,
			      (int)o->m.body_len, (const char *)o->m.body);
		print_reports("lockstep first", &got);
		print_reports("walk alone", &walk);
		fail_msg("the lockstep reading and the walk disagree");
	}
}

/* Compare and free both answers. @return the count reported. */
static int
diff(const struct st_differ *d, int route, struct answer *p,
     struct answer *o)
{
	diff_both(d, route, p, o);
	answer_free(p);
	answer_free(o);
	return got.rc;
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

	for (i = 0; i < got.nb; i++)
		if (got.f[i].kind == kind && strcmp(got.f[i].path, path) == 0)
			return &got.f[i];
	return NULL;
}

/* Assert a difference and its samples. */
static void
expect(enum st_diff_kind kind, const char *path, const char *primary,
       const char *other)
{
	const struct found *f = find(kind, path);

	if (f == NULL) {
		print_reports("found", &got);
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

/* Reals in samples read as written, not at jansson's 17 digits. */
static void
test_real_samples(void **state)
{
	struct st_differ *d = make(NULL, 0);

	(void)state;
	assert_int_equal(diff_json(d, 0, "{\"p\": 9.5, \"t\": 69.4}",
				   "{\"p\": 9.99, \"t\": 0.1}"),
			 2);
	expect(ST_DIFF_JSON_VALUE, "$.p", "9.5", "9.99");
	expect(ST_DIFF_JSON_VALUE, "$.t", "69.4", "0.1");
	/* in a container, 15 digits */
	assert_int_equal(diff_json(d, 0, "{\"a\": 1}",
				   "{\"b\": [21.45, 0.1]}"),
			 2);
	expect(ST_DIFF_JSON_EXTRA, "$.b", "", "[21.45,0.1]");
	st_differ_free(d);
}

/* Only the kinds and paths in want_only get samples. */
static const char *want_only;

static bool
want_some(void *arg, enum st_diff_kind kind, const char *path)
{
	(void)arg, (void)kind;
	return strcmp(path, want_only) == 0;
}

static void
count_samples(void *arg, const struct st_diff *d)
{
	unsigned int *n = arg;

	assert_true((d->primary != NULL) == (strcmp(d->path, want_only) == 0));
	assert_true((d->other != NULL) == (d->primary != NULL));
	n[d->primary != NULL]++;
}

static void
test_want_samples(void **state)
{
	struct st_differ *d = make(NULL, 0);
	struct answer p, o;
	unsigned int n[2] = { 0, 0 };

	(void)state;
	answer(&p, 200, JSON, "{\"a\": 1, \"b\": \"x\", \"c\": [1]}");
	answer(&o, 500, JSON, "{\"a\": 2, \"b\": \"y\", \"c\": [2]}");
	want_only = "$.b";
	assert_int_equal(st_diff_answers(d, 0, &p.m, &o.m, want_some,
					 count_samples, n),
			 4);
	assert_int_equal(n[1], 1);
	assert_int_equal(n[0], 3);
	answer_free(&p);
	answer_free(&o);
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
	f = &got.f[0];
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
	path = got.f[0].path;
	assert_int_equal(strlen(path), ST_DIFF_PATH_MAX - 1);
	assert_string_equal(path + strlen(path) - 6, "[*]...");
	assert_string_equal(got.f[0].primary, "1");
	free(p);
	free(o);
	st_differ_free(d);
}

/* A JSON answer of about 1 KiB whose request_id is @p id. */
static void
shop_body(char *out, size_t len, const char *id)
{
	size_t n;
	int i;

	n = (size_t)snprintf(out, len, "{\"request_id\":\"%s\",\"customer\":"
			     "{\"id\":10042,\"name\":\"Customer 42\",\"tier\":"
			     "\"gold\",\"address\":{\"city\":\"Lyon\"}},"
			     "\"items\":[", id);
	for (i = 0; i < 9; i++)
		n += (size_t)snprintf(out + n, len - n,
				      "%s{\"sku\":\"SKU-%05d\",\"name\":\"Burr "
				      "grinder \\\"Pro 64\\\"\",\"price\":%.2f,"
				      "\"quantity\":%d,\"in_stock\":%s}",
				      i ? "," : "", 1234 + i * 77,
				      12.5 + i * 3.25, i + 1,
				      i & 1 ? "true" : "false");
	snprintf(out + n, len - n, "],\"total\":148.14,\"next\":"
		 "\"/api/items?page=4&size=9\"}");
}

/* Wide documents: @p nb objects of @p nb members each, all valued @p v. */
static void
wide_body(char *out, size_t len, unsigned int nb, int v)
{
	size_t n = 0;
	unsigned int i, j;

	for (i = 0; i < nb; i++) {
		n += (size_t)snprintf(out + n, len - n, "%s\"o%u\":{",
				      i ? "," : "{", i);
		for (j = 0; j < nb; j++)
			n += (size_t)snprintf(out + n, len - n, "%s\"k%u\":%d",
					      j ? "," : "", j, v);
		n += (size_t)snprintf(out + n, len - n, "}");
	}
	snprintf(out + n, len - n, "}");
}

/* What the lockstep reading decides alone, and what it leaves to the
 * walk (diff() checks that both report the same either way). */
static void
test_lockstep(void **state)
{
	static const struct {
		const char *p, *o;
		int reported;
	} to_walk[] = {
		/* members in another order, or of other keys */
		{ "{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 3}", 1 },
		{ "{\"a\": 1}", "{\"b\": 1}", 2 },
		/* arrays of other lengths; a container against a scalar */
		{ "[1, 2]", "[1, 3, 4]", 2 },
		{ "{\"a\": [1]}", "{\"a\": 1}", 1 },
		{ "{\"a\": [1]}", "{\"a\": {}}", 1 },
		/* jansson keeps a repeated key's last value */
		{ "{\"a\": 1, \"a\": 2}", "{\"a\": 3, \"a\": 2}", 0 },
		/* keys with escapes: paths hold them decoded */
		{ "{\"\\u0061\": 1}", "{\"\\u0061\": 2}", 1 },
		/* texts jansson refuses: compared as bytes */
		{ "{\"a\": 1, \"x\": 1e400}", "{\"a\": 2, \"x\": 1e400}", 1 },
		{ "[9223372036854775808, 1]", "[9223372036854775808, 2]", 1 },
		{ "[1] x", "[2] x", 1 },
		{ "[\"\\ud800\", 1]", "[\"\\ud800\", 2]", 1 },
	};
	static struct reports public;
	struct st_differ *d = make(NULL, 0);
	char p[16384], o[16384];
	struct answer a, b;
	unsigned int i;

	(void)state;
	/* the common case: one serializer, a request id apart */
	shop_body(p, sizeof(p), "4f1c2a9e");
	shop_body(o, sizeof(o), "77d0b3c5");
	assert_true(strlen(p) > 1000);
	assert_int_equal(diff_json(d, 0, p, o), 1);
	assert_false(got_walked);
	expect(ST_DIFF_JSON_VALUE, "$.request_id", "\"4f1c2a9e\"",
	       "\"77d0b3c5\"");
	/* which is what st_diff_answers() does */
	answer(&a, 200, JSON, p);
	answer(&b, 200, JSON, o);
	public.rc = st_diff_answers(d, 0, &a.m, &b.m, NULL, collect, &public);
	assert_true(same_reports(&public, &got));
	answer_free(&a);
	answer_free(&b);

	/* the same values written otherwise; texts it cannot tell valid
	 * alone, checked by jansson token by token */
	assert_int_equal(
		diff_json(d, 0,
			  "[1, -0, 0.5, \"\\u0041\", \"caf\\u00e9\", "
			  "\"\\ud83d\\ude00\", \"a\\/b\", 9223372036854775807,"
			  " 1.5e300, true]",
			  "[1.0, 0, 5e-1, \"A\", \"caf\xc3\xa9\", "
			  "\"\xf0\x9f\x98\x80\", \"a/b\", 9223372036854775807,"
			  " 1.5e300, true]"),
		0);
	assert_false(got_walked);
	/* scalars of other types */
	assert_int_equal(diff_json(d, 0, "{\"id\": 1, \"ok\": null}",
				   "{\"id\": \"1\", \"ok\": false}"),
			 2);
	assert_false(got_walked);
	expect(ST_DIFF_JSON_TYPE, "$.id", "1", "\"1\"");
	expect(ST_DIFF_JSON_TYPE, "$.ok", "null", "false");

	/* more differences than kept: read again, reporting as it goes */
	wide_body(p, sizeof(p), 20, 1);
	wide_body(o, sizeof(o), 20, 2);
	assert_int_equal(diff_json(d, 0, p, o), ST_DIFF_REPORTS_MAX);
	assert_false(got_walked);
	expect(ST_DIFF_JSON_VALUE, "$.o0.k0", "1", "2");
	/* 18 prices changed, the last one's type too: one path, two kinds */
	strcpy(p, "{\"items\": [");
	strcpy(o, p);
	for (i = 1; i <= 18; i++) {
		snprintf(p + strlen(p), sizeof(p) - strlen(p),
			 i < 18 ? "{\"price\": %u}, " : "{\"price\": \"%u\"}]}",
			 i);
		strcat(o, i < 18 ? "{\"price\": 0}, " : "{\"price\": 0}]}");
	}
	assert_int_equal(diff_json(d, 0, p, o), 2);
	assert_false(got_walked);
	expect(ST_DIFF_JSON_VALUE, "$.items[*].price", "1", "0");
	expect(ST_DIFF_JSON_TYPE, "$.items[*].price", "\"18\"", "0");

	for (i = 0; i < sizeof(to_walk) / sizeof(to_walk[0]); i++) {
		assert_int_equal(diff_json(d, 0, to_walk[i].p, to_walk[i].o),
				 to_walk[i].reported);
		assert_true(got_walked);
	}
	/* deeper than it reads */
	memset(p, '[', 65);
	memset(o, '[', 65);
	strcpy(p + 65, "1");
	strcpy(o + 65, "2");
	memset(p + 66, ']', 65);
	memset(o + 66, ']', 65);
	p[131] = o[131] = '\0';
	assert_int_equal(diff_json(d, 0, p, o), 1);
	assert_true(got_walked);
	st_differ_free(d);
}

/* --- the lockstep reading against the walk, on random documents ---------- */

#define RANDOM_PAIRS 3000
#define GEN_NODES 1024
#define GEN_KIDS 6
#define GEN_TEXT 65536

/* A document as generated: scalars and keys are JSON texts, written as
 * they are, so that one value can be written several ways. */
struct node {
	char type;			/* '{', '[', or 's': a scalar */
	unsigned int nb;
	const char *text;		/* a scalar's */
	const char *key[GEN_KIDS];	/* a member's, between its quotes */
	struct node *kid[GEN_KIDS];
};

static struct node nodes[GEN_NODES];
static unsigned int nb_nodes;
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

/* Groups of scalars: most texts of a group are one value to jansson,
 * the others are near it (the edges of int64 and double). */
static const char *const scalar_groups[][5] = {
	{ "0", "-0", "0.0", "-0.0", "0e5" },
	{ "1", "1.0", "1e0", "10E-1", "0.1e1" },
	{ "2.5", "25e-1", "2.50", "0.25E+1", "2.4" },
	{ "12", "12.5", "13", "10.4", "10.6" },
	{ "9007199254740993", "9007199254740992", "9007199254740992.0",
	  "123456789012345678", "1234567890123456789" },
	{ "9223372036854775807", "-9223372036854775808", "9.2e18",
	  "9223372036854775806", "-9223372036854775807" },
	{ "1e308", "1.7976931348623157e308", "-1e308", "1e-400", "0e999" },
	{ "true", "false", "null", "true", "null" },
	{ "\"a\"", "\"\\u0061\"", "\"A\"", "\"\\u0041\"", "\"\"" },
	{ "\"caf\xc3\xa9\"", "\"caf\\u00e9\"", "\"caf\\u00E9\"",
	  "\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"" },
	{ "\"a/b\"", "\"a\\/b\"", "\"x\\ny\"", "\"x\\u000ay\"",
	  "\"\\\"q\\\"\"" },
	{ "\"\\u0000\"", "\"a\\u0000b\"", "\"a\\u0000c\"", "\"\x7f\"",
	  "\"\\t\"" },
	{ "\"4111 1111 1111 1111\"", "\"4111111111111111\"",
	  "\"jane@example.com\"", "\"j@x.io\"", "\"12\"" },
	{ "\"req-ab12\"", "\"req-99\"", "\"req-xyz\"", "\"13.5\"", "12.5" },
};
/* Texts jansson refuses, now and then in a document. */
static const char *const bad_scalars[] = {
	"\"\\ud83d\"", "\"\xff\"", "\"\\x\"", "01", "1.", "tru", "\"a\tb\"",
	"-", "\"\xed\xa0\x80\"", "1e", ".5", "\"\\u12\"", "1e309",
	"9223372036854775808", "-9223372036854775809",
};
/* Keys, some masked; now and then one with an escape (the walk decides
 * those). */
static const char *const gen_keys[] = {
	"a", "b", "id", "ts", "n", "price", "items", "meta", "password",
	"token", "x y", "", "jane@example.com", "caf\xc3\xa9", "1st",
};
static const char *const escaped_keys[] = { "k\\u0061", "q\\\"" };

#define DIM(a) (sizeof(a) / sizeof((a)[0]))

static unsigned int
below(unsigned int n)
{
	rng_state ^= rng_state >> 12;	/* xorshift64* */
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned int)((rng_state * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static const char *
random_scalar(void)
{
	if (below(200) == 0)
		return bad_scalars[below(DIM(bad_scalars))];
	return scalar_groups[below(DIM(scalar_groups))][below(5)];
}

/* @p text written another way, most often the same value. */
static const char *
respell(const char *text)
{
	unsigned int g, i;

	for (g = 0; g < DIM(scalar_groups); g++)
		for (i = 0; i < 5; i++)
			if (scalar_groups[g][i] == text)
				return scalar_groups[g][below(5)];
	return random_scalar();
}

static struct node *
new_node(char type)
{
	struct node *n;

	assert_true(nb_nodes < GEN_NODES);
	n = &nodes[nb_nodes++];
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

/* A key for member @p i of @p n: another than its others', but now and
 * then. */
static const char *
new_key(const struct node *n, unsigned int i)
{
	const char *key;
	unsigned int j;

again:
	if (below(100) == 0)
		return escaped_keys[below(DIM(escaped_keys))];
	key = gen_keys[below(DIM(gen_keys))];
	for (j = 0; j < i; j++)
		if (n->key[j] == key && below(20) != 0)
			goto again;
	return key;
}

static struct node *
random_tree(unsigned int depth)
{
	unsigned int r = below(8), i;
	struct node *n;

	/* now and then a bare scalar as the whole document */
	if (depth == 0 ? below(20) == 0 : depth >= 4 || r < 3) {
		n = new_node('s');
		n->text = random_scalar();
		return n;
	}
	n = new_node(r < 6 ? '{' : '[');
	n->nb = below(GEN_KIDS);
	for (i = 0; i < n->nb; i++) {
		if (n->type == '{')
			n->key[i] = new_key(n, i);
		n->kid[i] = random_tree(depth + 1);
	}
	return n;
}

static struct node *
clone(const struct node *n)
{
	struct node *c = new_node(n->type);
	unsigned int i;

	*c = *n;
	for (i = 0; i < n->nb; i++)
		c->kid[i] = clone(n->kid[i]);
	return c;
}

/* The nodes of @p n's tree of @p type ('s', or 'c': containers). */
static unsigned int
nodes_of(struct node *n, char type, struct node **out, unsigned int nb)
{
	unsigned int i;

	if ((n->type == 's') == (type == 's'))
		out[nb++] = n;
	for (i = 0; i < n->nb; i++)
		nb = nodes_of(n->kid[i], type, out, nb);
	return nb;
}

static void
mutate(struct node *root)
{
	struct node *all[GEN_NODES], *n, *kid;
	const unsigned int what = below(16);
	unsigned int nb, i, j;
	const char *key;

	nb = nodes_of(root, what < 9 ? 's' : 'c', all, 0);
	if (nb == 0)
		return;
	n = all[below(nb)];
	switch (what) {
	case 0 ... 4:	/* another value, of any type */
		n->text = random_scalar();
		break;
	case 5 ... 7:	/* the same value written otherwise, mostly */
		n->text = respell(n->text);
		break;
	case 8:	/* many values changed */
		for (i = 0; i < nb; i++)
			if (below(2))
				all[i]->text = below(2) ?
					respell(all[i]->text) : random_scalar();
		break;
	case 9:	/* another key */
		if (n->type == '{' && n->nb > 0)
			n->key[below(n->nb)] = new_key(n, n->nb);
		break;
	case 10:	/* members or elements in another order */
		if (n->nb < 2)
			break;
		i = below(n->nb);
		j = below(n->nb);
		kid = n->kid[i];
		key = n->key[i];
		n->kid[i] = n->kid[j];
		n->key[i] = n->key[j];
		n->kid[j] = kid;
		n->key[j] = key;
		break;
	case 11:	/* one more */
		if (n->nb == GEN_KIDS)
			break;
		i = below(n->nb + 1);
		memmove(&n->kid[i + 1], &n->kid[i],
			(n->nb - i) * sizeof(n->kid[0]));
		memmove(&n->key[i + 1], &n->key[i],
			(n->nb - i) * sizeof(n->key[0]));
		n->nb++;
		n->key[i] = n->type == '{' ? new_key(n, n->nb) : NULL;
		n->kid[i] = random_tree(3);
		break;
	case 12:	/* one less */
		if (n->nb == 0)
			break;
		i = below(n->nb);
		n->nb--;
		memmove(&n->kid[i], &n->kid[i + 1],
			(n->nb - i) * sizeof(n->kid[0]));
		memmove(&n->key[i], &n->key[i + 1],
			(n->nb - i) * sizeof(n->key[0]));
		break;
	case 13:	/* a member's key repeated */
		if (n->type == '{' && n->nb > 1)
			n->key[below(n->nb)] = n->key[below(n->nb)];
		break;
	default: /* a new value in a member's or element's place */
		if (n->nb > 0)
			n->kid[below(n->nb)] = random_tree(below(2) ? 1 : 4);
		break;
	}
}

struct text {
	size_t len;
	char p[GEN_TEXT];
};

static void
put(struct text *t, const char *s)
{
	size_t n = strlen(s);

	assert_true(t->len + n < sizeof(t->p));
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

/* Space between tokens: none, one, or any of JSON's. */
static void
space(struct text *t, int style)
{
	static const char *const spaces[] = { "", " ", "\n  ", "\t", "\r\n" };

	if (style == 1)
		put(t, " ");
	else if (style == 2)
		put(t, spaces[below(DIM(spaces))]);
}

static void
serialize(const struct node *n, struct text *t, int style)
{
	unsigned int i;

	if (n->type == 's') {
		put(t, n->text);
		return;
	}
	put(t, n->type == '{' ? "{" : "[");
	for (i = 0; i < n->nb; i++) {
		if (i > 0)
			put(t, ",");
		space(t, style);
		if (n->type == '{') {
			put(t, "\"");
			put(t, n->key[i]);
			put(t, "\":");
			space(t, style);
		}
		serialize(n->kid[i], t, style);
	}
	space(t, style);
	put(t, n->type == '{' ? "}" : "]");
}

/* Serialize @p n, inside @p wrap arrays, now and then broken. */
static void
document(const struct node *n, struct text *t, unsigned int wrap)
{
	const int style = (int)below(3);
	unsigned int i;

	t->len = 0;
	space(t, style);
	for (i = 0; i < wrap; i++)
		put(t, "[");
	serialize(n, t, style);
	for (i = 0; i < wrap; i++)
		put(t, "]");
	space(t, style);
	switch (below(40)) {
	case 0:
		t->len = below((unsigned int)t->len + 1);
		break;
	case 1:
		put(t, below(2) ? "x" : " 1");
		break;
	case 2:
		t->p[below((unsigned int)t->len)] = '\0';
		break;
	default:
		break;
	}
}

/* Random documents and mutations of them, compared both ways, without and
 * with noise rules; mostly read in lockstep, often left to the walk. */
static void
test_lockstep_random(void **state)
{
	static struct text pt, ot;
	struct st_replay_noise_rule r[7];
	struct st_differ *plain, *noisy, *d;
	unsigned int pair, k, wrap, decided = 0, reported = 0, walked = 0;
	struct node *p, *o;
	struct answer a, b;

	(void)state;
	r[0] = rule(-1, false, "$.ts", ST_NOISE_IGNORE);
	r[1] = rule(-1, false, "$.id", ST_NOISE_PRESENCE);
	r[2] = rule(-1, false, "$.n", ST_NOISE_TOLERANCE);
	r[2].tolerance = 0.5;
	r[3] = rule(-1, false, "$.a", ST_NOISE_PATTERN);
	strcpy(r[3].pattern, "^req-");
	r[4] = rule(-1, false, "$.items", ST_NOISE_PRESENCE);
	r[5] = rule(0, false, "$.b[*].price", ST_NOISE_TOLERANCE);
	r[5].tolerance = 1;
	r[6] = rule(-1, false, "$.meta", ST_NOISE_PATTERN);
	strcpy(r[6].pattern, "^[0-9]+(\\.5)?$");
	plain = make(NULL, 0);
	noisy = make(r, DIM(r));
	for (pair = 0; pair < RANDOM_PAIRS; pair++) {
		nb_nodes = 0;
		p = random_tree(0);
		o = clone(p);
		for (k = below(4); k > 0; k--)
			mutate(below(8) == 0 ? p : o);
		/* now and then deeper than the lockstep reads */
		wrap = below(30) == 0 ? 60 + below(10) : 0;
		document(p, &pt, wrap);
		document(o, &ot, wrap);
		d = pair % 2 ? noisy : plain;
		answer_bytes(&a, 200, JSON, pt.p, pt.len);
		answer_bytes(&b, 200, JSON, ot.p, ot.len);
		diff_both(d, (int)below(2), &a, &b);
		answer_free(&a);
		answer_free(&b);
		decided += !got_walked;
		reported += !got_walked && got.rc > 0;
		walked += got_walked;
	}
	print_message("lockstep: %u decided (%u with differences), %u "
		      "walked, of %u\n", decided, reported, walked,
		      RANDOM_PAIRS);
	/* both paths taken, the lockstep one also with differences */
	assert_true(decided > RANDOM_PAIRS / 4);
	assert_true(reported > RANDOM_PAIRS / 10);
	assert_true(walked > RANDOM_PAIRS / 10);
	st_differ_free(plain);
	st_differ_free(noisy);
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
		cmocka_unit_test(test_real_samples),
		cmocka_unit_test(test_want_samples),
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
		cmocka_unit_test(test_lockstep),
		cmocka_unit_test(test_lockstep_random),
		cmocka_unit_test(test_create),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
