/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the HTTP route classifier (classifier/classifier.h).
 *
 * Route sets are built directly as struct st_config, compiled, and matched
 * against request heads. Each head is passed as a heap copy of exactly its
 * length, so an over-read shows up under AddressSanitizer.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "classifier.h"
#include "http.h"

#define CFG_PATH "/etc/shadowtap/routes.yaml"
#define ALL ST_HTTP_ALL_METHODS
#define GET_ONLY (1u << ST_HTTP_GET)

/* Large (64 routes): one, reset by each test. */
static struct st_config cfg;

static void
cfg_reset(void)
{
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.path, sizeof(cfg.path), "%s", CFG_PATH);
	cfg.http.max_head_bytes = 4096;
}

/* Line of route i in the pretend YAML file; its path is on the next line,
 * its host on the one after, its headers after that. */
static int
route_line(unsigned int i)
{
	return 10 * (int)(i + 1);
}

/* Append a route; a NULL regex is no condition. */
static struct st_route_conf *
add_route(const char *name, uint32_t methods, const char *path,
	  const char *host)
{
	unsigned int i = cfg.nb_routes++;
	struct st_route_conf *r = &cfg.routes[i];

	assert_true(i < ST_MAX_ROUTES);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->line = route_line(i);
	r->methods = methods;
	if (path != NULL) {
		snprintf(r->path.pattern, sizeof(r->path.pattern), "%s", path);
		r->path.line = r->line + 1;
	}
	if (host != NULL) {
		snprintf(r->host.pattern, sizeof(r->host.pattern), "%s", host);
		r->host.line = r->line + 2;
	}
	r->percent = 100;
	return r;
}

static void
add_header(struct st_route_conf *r, const char *name, const char *regex)
{
	struct st_route_header_conf *h = &r->headers[r->nb_headers];

	assert_true(r->nb_headers < ST_MAX_ROUTE_HEADERS);
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->value.pattern, sizeof(h->value.pattern), "%s", regex);
	h->value.line = r->line + 3 + (int)r->nb_headers;
	r->nb_headers++;
}

struct compiled {
	struct st_classifier *c;
	struct st_classifier_scratch *s;
};

static void
compile(struct compiled *k)
{
	char err[512] = "";
	int ret = st_classifier_create(&cfg, &k->c, err, sizeof(err));

	if (ret != 0)
		fail_msg("st_classifier_create: %d: %s", ret, err);
	assert_int_equal(st_classifier_route_count(k->c), cfg.nb_routes);
	assert_int_equal(st_classifier_scratch_alloc(k->c, &k->s), 0);
}

static void
release(struct compiled *k)
{
	st_classifier_scratch_free(k->s);
	st_classifier_free(k->c);
}

static int
match_bytes(const struct compiled *k, const void *head, size_t len,
	    enum st_http_method method)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int ret;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, head, len);
	ret = st_classifier_match(k->c, k->s, copy, len, method);
	free(copy);
	return ret;
}

/* Route of a head, with its method read from the head (GET if none). */
static int
match(const struct compiled *k, const char *head)
{
	int method = st_http_request_method((const uint8_t *)head,
					    strlen(head));

	return match_bytes(k, head, strlen(head),
			   method >= 0 ? (enum st_http_method)method :
					 ST_HTTP_GET);
}

/* Whether @p path regex matches "GET @p target", checked both as a route's
 * only condition and together with a header condition; both must
 * agree. */
static bool
path_matches(const char *regex, const char *target)
{
	struct compiled k;
	char head[512];
	int alone, combined;

	cfg_reset();
	add_header(add_route("combined", ALL, regex, NULL), "x-combo", "");
	add_route("alone", ALL, regex, NULL);
	compile(&k);
	snprintf(head, sizeof(head),
		 "GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n", target);
	alone = match(&k, head);
	snprintf(head, sizeof(head),
		 "GET %s HTTP/1.1\r\nX-Combo: 1\r\n\r\n", target);
	combined = match(&k, head);
	release(&k);
	assert_true(alone == 1 || alone == ST_ROUTE_NONE);
	assert_true(combined == 0 || combined == ST_ROUTE_NONE);
	assert_int_equal(alone == 1, combined == 0);
	return alone == 1;
}

/* Whether a one-route set with @p host regex matches @p head. */
static bool
host_matches(const char *regex, const char *head)
{
	struct compiled k;
	int ret;

	cfg_reset();
	add_route("r", ALL, NULL, regex);
	compile(&k);
	ret = match(&k, head);
	release(&k);
	return ret == 0;
}

/* Whether a one-route set with one header condition matches @p head. */
static bool
header_matches(const char *name, const char *regex, const char *head)
{
	struct compiled k;
	int ret;

	cfg_reset();
	add_header(add_route("r", ALL, NULL, NULL), name, regex);
	compile(&k);
	ret = match(&k, head);
	release(&k);
	return ret == 0;
}

static void
test_method_only(void **state)
{
	static const uint8_t garbage[] = { 0, 1, 2, '\n', '\n', 0xff };
	struct compiled k;

	(void)state;
	cfg_reset();
	add_route("reads", (1u << ST_HTTP_GET) | (1u << ST_HTTP_HEAD), NULL,
		  NULL);
	add_route("writes", ST_HTTP_WRITE_METHODS, NULL, NULL);
	compile(&k);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(match(&k, "HEAD / HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(match(&k, "POST / HTTP/1.1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "DELETE / HTTP/1.1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "OPTIONS * HTTP/1.1\r\n\r\n"),
			 ST_ROUTE_NONE);
	/* Methods alone do not look at the head at all. */
	assert_int_equal(match_bytes(&k, garbage, sizeof(garbage),
				     ST_HTTP_GET), 0);
	assert_int_equal(match_bytes(&k, "", 0, ST_HTTP_PUT), 1);
	/* A method the classifier does not know. */
	assert_int_equal(match_bytes(&k, "GET / HTTP/1.1\r\n\r\n", 18,
				     (enum st_http_method)ST_HTTP_METHODS),
			 ST_ROUTE_NONE);
	assert_int_equal(match_bytes(&k, "GET / HTTP/1.1\r\n\r\n", 18,
				     (enum st_http_method)-1),
			 ST_ROUTE_NONE);
	release(&k);
}

static void
test_path_anchors(void **state)
{
	(void)state;
	assert_true(path_matches("^/api/v1$", "/api/v1"));
	assert_false(path_matches("^/api/v1$", "/api/v1/x"));
	assert_false(path_matches("^/api/v1$", "/x/api/v1"));
	assert_false(path_matches("^/api/v1$", "/api/v1?q=1"));
	assert_true(path_matches("^/api/", "/api/v1?q=1"));
	assert_false(path_matches("^/api/", "/v2/api/"));
	/* Unanchored: anywhere in the value. */
	assert_true(path_matches("/v1", "/api/v1/users"));
	assert_true(path_matches("users", "/api/v1/users"));
	assert_false(path_matches("/v2", "/api/v1/users"));
	/* "$" at the value's end, also with a query string. */
	assert_true(path_matches("\\.css$", "/static/site.css"));
	assert_false(path_matches("\\.css$", "/static/site.css?v=2"));
	assert_true(path_matches("v=2$", "/static/site.css?v=2"));
	/* Alternation stays inside the value: "^" binds to its branch. */
	assert_true(path_matches("^/a|/b", "/a/x"));
	assert_true(path_matches("^/a|/b", "/x/b"));
	assert_false(path_matches("^/a|/b", "/x/a"));
	assert_true(path_matches("^(/a|/b)$", "/b"));
	assert_false(path_matches("^(/a|/b)$", "/ab"));
	/* The target as sent: no decoding, case kept. */
	assert_true(path_matches("^/a%20b$", "/a%20b"));
	assert_false(path_matches("^/a b$", "/a%20b"));
	assert_false(path_matches("^/API", "/api"));
	assert_true(path_matches("(?i)^/API", "/api"));
	assert_true(path_matches("^\\*$", "*"));
	/* Empty-matching regexes are fine: every value matches. */
	assert_true(path_matches(".*", "/anything"));
	assert_true(path_matches("x?", "/anything"));
	assert_false(path_matches("^$", "/"));
}

/* "^" and "$" are rewritten for Hyperscan (see classifier.c); only real
 * anchors may be, never the same characters in other roles. */
static void
test_anchor_rewriting(void **state)
{
	(void)state;
	/* Anchors inside groups and branches. */
	assert_true(path_matches("(^/a|/b)$", "/a"));
	assert_true(path_matches("(^/a|/b)$", "/x/b"));
	assert_false(path_matches("(^/a|/b)$", "/x/a"));
	assert_false(path_matches("(^/a|/b)$", "/b/x"));
	assert_true(path_matches("(?:^/a|^/b)", "/b/x"));
	assert_false(path_matches("(?:^/a|^/b)", "/x/b"));
	assert_true(path_matches("(?i)^/API|/other", "/api"));
	assert_true(path_matches("(?i)^/API|/other", "/x/OTHER"));
	assert_false(path_matches("(?i)^/API|/other", "/x/api"));
	assert_true(path_matches("^/a$|^/b$", "/b"));
	assert_false(path_matches("^/a$|^/b$", "/bb"));
	/* \A, \z and \Z mean the same as ^ and $. */
	assert_true(path_matches("\\A/a", "/a/b"));
	assert_false(path_matches("\\A/a", "/b/a"));
	assert_true(path_matches("/b\\z", "/a/b"));
	assert_false(path_matches("/b\\Z", "/b/a"));
	/* Not anchors: escaped, in classes, quoted, in comments. */
	assert_true(path_matches("\\^", "/a^b"));
	assert_false(path_matches("\\^", "/ab"));
	assert_true(path_matches("a\\$", "/a$b"));
	assert_true(path_matches("[$^]", "/a$"));
	assert_true(path_matches("[$^]", "/^a"));
	assert_false(path_matches("[$^]", "/a"));
	assert_true(path_matches("^/[^^]+$", "/ab"));
	assert_false(path_matches("^/[^^]+$", "/a^b"));
	assert_true(path_matches("[]^]", "/a^"));
	assert_true(path_matches("^/[[:^digit:]]+$", "/ab"));
	assert_false(path_matches("^/[[:^digit:]]+$", "/a1"));
	assert_true(path_matches("\\Q^/a$\\E", "/x^/a$"));
	assert_false(path_matches("\\Q^/a$\\E", "/a"));
	assert_true(path_matches("(?#^comment$)/a", "/x/a"));
	/* Final assertions other than $. */
	assert_true(path_matches("api\\b", "/api/x"));
	assert_false(path_matches("api\\b", "/apix"));
	assert_true(path_matches("api\\B", "/apix"));
	assert_true(path_matches("^/v\\d+\\b", "/v12/x"));
}

/* A condition binds to its own field: the same text elsewhere in the head
 * (other fields, the request line's version) does not count. */
static void
test_path_binds_to_target(void **state)
{
	struct compiled k;

	(void)state;
	cfg_reset();
	add_header(add_route("r", ALL, "^/secret", NULL), "x-a", "");
	add_route("host-in-path", ALL, "example", NULL);
	add_route("version", ALL, "HTTP", NULL);
	compile(&k);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nX-A: /secret\r\n"
				   "Host: example.com\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /secret HTTP/1.1\r\nX-A: 1\r\n\r\n"),
			 0);
	release(&k);
	/* Classes that would match the line feed ending a value are kept
	 * inside it; the head's next field holds the "z". */
	cfg_reset();
	add_header(add_route("negated", ALL, "^/a[^/]*z", NULL), "x-z", "");
	add_header(add_route("escapes", ALL, "^/a\\W*\\D*\\s*\\H*\\v*z",
			     NULL), "x-z", "");
	add_header(add_route("posix", ALL, "^/a[^[:digit:]]*z", NULL), "x-z",
		   "");
	add_header(add_route("dot", ALL, "^/a.*z", NULL), "x-z", "");
	compile(&k);
	assert_int_equal(match(&k, "GET /a HTTP/1.1\r\nX-Z: z\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /a?q HTTP/1.1\r\nX-Z: z\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /a?z HTTP/1.1\r\nX-Z: z\r\n\r\n"), 0);
	assert_int_equal(match(&k, "GET /a~z HTTP/1.1\r\nX-Z: z\r\n\r\n"), 0);
	assert_int_equal(match(&k, "GET /a/20z HTTP/1.1\r\nX-Z: z\r\n\r\n"),
			 1);
	assert_int_equal(match(&k, "GET /a..z HTTP/1.1\r\nX-Z: z\r\n\r\n"),
			 0);
	release(&k);
	/* The limitation classifier.h documents: a positive class that
	 * holds a line feed still runs on into the next field Hyperscan
	 * looks at (a literal condition's field is not one of them). */
	cfg_reset();
	add_header(add_route("r", ALL, "^/a[\\s\\S]*z", NULL), "x-z", "z+");
	compile(&k);
	assert_int_equal(match(&k, "GET /a?q HTTP/1.1\r\nX-Z: z\r\n\r\n"), 0);
	release(&k);
}

static void
test_host(void **state)
{
	static const char *const api = "^api\\.example\\.com$";

	(void)state;
	assert_true(host_matches(api, "GET / HTTP/1.1\r\n"
				      "Host: api.example.com\r\n\r\n"));
	assert_true(host_matches(api, "GET / HTTP/1.1\r\n"
				      "Host: api.example.com:8080\r\n\r\n"));
	assert_true(host_matches(api, "GET / HTTP/1.1\r\n"
				      "host:API.Example.COM \t\r\n\r\n"));
	assert_true(host_matches(api, "GET / HTTP/1.1\r\n"
				      "HOST: \tapi.example.com:443\r\n\r\n"));
	assert_false(host_matches(api, "GET / HTTP/1.1\r\n"
				       "Host: xapi.example.com\r\n\r\n"));
	assert_false(host_matches(api, "GET / HTTP/1.1\r\n"
				       "Host: api.example.com.evil\r\n\r\n"));
	assert_false(host_matches(api, "GET / HTTP/1.1\r\n\r\n"));
	assert_false(host_matches(api, "GET / HTTP/1.1\r\n"
				       "X-Host: api.example.com\r\n\r\n"));
	/* Unanchored, and the port is never part of the value. */
	assert_true(host_matches("example", "GET / HTTP/1.1\r\n"
					    "Host: www.example.org\r\n\r\n"));
	assert_false(host_matches("8080", "GET / HTTP/1.1\r\n"
					  "Host: a.example:8080\r\n\r\n"));
	assert_true(host_matches("^a\\.example$",
				 "GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n"));
	/* IPv6 literals keep their colons. */
	assert_true(host_matches("^\\[::1\\]$", "GET / HTTP/1.1\r\n"
						"Host: [::1]:8080\r\n\r\n"));
	assert_true(host_matches("^\\[fe80::1\\]$",
				 "GET / HTTP/1.1\r\nHost: [FE80::1]\r\n\r\n"));
	/* Any of several Host fields. */
	assert_true(host_matches(api, "GET / HTTP/1.1\r\nHost: other\r\n"
				      "Host: api.example.com\r\n\r\n"));
	/* LF-only lines. */
	assert_true(host_matches(api, "GET / HTTP/1.1\n"
				      "Host: api.example.com\n\n"));
}

static void
test_absolute_form(void **state)
{
	struct compiled k;

	(void)state;
	cfg_reset();
	add_route("both", ALL, "^/a\\?b$", "^h\\.example$");
	add_route("root", ALL, "^/$", "^h\\.example$");
	add_route("query", ALL, "^/\\?x$", NULL);
	add_route("connect", 1u << ST_HTTP_CONNECT, "^h\\.example:443$",
		  "^h\\.example$");
	compile(&k);
	assert_int_equal(match(&k, "GET http://h.example:8080/a?b HTTP/1.1"
				   "\r\n\r\n"), 0);
	assert_int_equal(match(&k, "GET HTTPS://user:pw@h.example/a?b "
				   "HTTP/1.1\r\n\r\n"), 0);
	/* The target's authority wins over Host (RFC 9112 3.2.2). */
	assert_int_equal(match(&k, "GET http://h.example/a?b HTTP/1.1\r\n"
				   "Host: other.example\r\n\r\n"), 0);
	assert_int_equal(match(&k, "GET http://other.example/a?b HTTP/1.1\r\n"
				   "Host: h.example\r\n\r\n"),
			 ST_ROUTE_NONE);
	/* Empty path: "/"; a query right after the authority: "/?x". */
	assert_int_equal(match(&k, "GET http://h.example HTTP/1.1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "GET http://h.example:80 HTTP/1.1\r\n\r\n"),
			 1);
	assert_int_equal(match(&k, "GET http://o.example?x HTTP/1.1\r\n\r\n"),
			 2);
	/* Not absolute-form: a relative target is used as sent. */
	assert_int_equal(match(&k, "GET h.example/a?b HTTP/1.1\r\n"
				   "Host: h.example\r\n\r\n"),
			 ST_ROUTE_NONE);
	/* CONNECT: the target is the path; its host counts when there is no
	 * Host field. */
	assert_int_equal(match(&k, "CONNECT h.example:443 HTTP/1.1\r\n\r\n"),
			 3);
	assert_int_equal(match(&k, "CONNECT h.example:443 HTTP/1.1\r\n"
				   "Host: h.example:443\r\n\r\n"), 3);
	assert_int_equal(match(&k, "CONNECT h.example:443 HTTP/1.1\r\n"
				   "Host: other\r\n\r\n"), ST_ROUTE_NONE);
	release(&k);
}

static void
test_headers(void **state)
{
	static const char *const base = "GET / HTTP/1.1\r\nHost: a\r\n";
	char head[512];

	(void)state;
#define HEAD(fields) (snprintf(head, sizeof(head), "%s%s\r\n", base, \
			       fields), head)
	assert_true(header_matches("x-rollout", "^shadow$",
				   HEAD("X-Rollout: shadow\r\n")));
	assert_false(header_matches("x-rollout", "^shadow$", HEAD("")));
	assert_true(header_matches("x-rollout", "^shadow$",
				   HEAD("x-ROLLOUT:shadow\r\n")));
	assert_true(header_matches("x-rollout", "^shadow$",
				   HEAD("X-Rollout: \t shadow \t\r\n")));
	assert_false(header_matches("x-rollout", "^shadow$",
				    HEAD("X-Rollout: shadowx\r\n")));
	assert_false(header_matches("x-rollout", "^shadow$",
				    HEAD("X-Rollout2: shadow\r\n")));
	assert_false(header_matches("x-rollout", "^shadow$",
				    HEAD("X-Rollout : shadow\r\n")));
	assert_false(header_matches("x-rollout", "^shadow$",
				    HEAD("X-Other: x-rollout: shadow\r\n")));
	/* Repeated: any occurrence. */
	assert_true(header_matches("x-rollout", "^shadow$",
				   HEAD("X-Rollout: a\r\nX-Rollout: shadow\r\n"
					"X-Rollout: b\r\n")));
	/* A bare CR ends the value; a folded line is not joined. */
	assert_true(header_matches("x-rollout", "^shadow$",
				   HEAD("X-Rollout: shadow\rjunk\r\n")));
	assert_false(header_matches("x-rollout", "^shadow x$",
				    HEAD("X-Rollout: shadow\r\n x\r\n")));
	/* Values are case-sensitive unless asked. */
	assert_false(header_matches("x-rollout", "^shadow$",
				    HEAD("X-Rollout: SHADOW\r\n")));
	assert_true(header_matches("x-rollout", "(?i)^shadow$",
				   HEAD("X-Rollout: SHADOW\r\n")));
	/* Empty pattern: presence, even with an empty value. */
	assert_true(header_matches("x-debug", "", HEAD("X-Debug:\r\n")));
	assert_true(header_matches("x-debug", "", HEAD("X-Debug: 1\r\n")));
	assert_false(header_matches("x-debug", "", HEAD("X-Debugs: 1\r\n")));
	assert_true(header_matches("x-debug", "^$", HEAD("X-Debug:  \r\n")));
	/* Names with regex metacharacters are literal; config case does not
	 * matter either. */
	assert_true(header_matches("x.a", "1", HEAD("X.A: 1\r\n")));
	assert_false(header_matches("x.a", "1", HEAD("x-a: 1\r\n")));
	assert_true(header_matches("X-Upper", "1", HEAD("x-upper: 1\r\n")));
	/* Host as a header condition: the raw value, port included. */
	assert_true(header_matches("host", "^a:80$",
				   "GET / HTTP/1.1\r\nHost: a:80\r\n\r\n"));
	/* Fields after the end of the head are body bytes. */
	assert_false(header_matches("x-rollout", "shadow",
				    HEAD("\r\nX-Rollout: shadow\r\n")));
#undef HEAD
}

static void
test_all_conditions(void **state)
{
	struct compiled k;
	struct st_route_conf *r;

	(void)state;
	cfg_reset();
	r = add_route("all", GET_ONLY, "^/api/", "^api\\.");
	add_header(r, "x-a", "^1$");
	add_header(r, "x-b", "^2$");
	compile(&k);
	assert_int_equal(match(&k, "GET /api/x HTTP/1.1\r\nHost: api.e\r\n"
				   "X-B: 2\r\nX-A: 1\r\n\r\n"), 0);
	/* Each condition missing in turn. */
	assert_int_equal(match(&k, "POST /api/x HTTP/1.1\r\nHost: api.e\r\n"
				   "X-B: 2\r\nX-A: 1\r\n\r\n"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /web/x HTTP/1.1\r\nHost: api.e\r\n"
				   "X-B: 2\r\nX-A: 1\r\n\r\n"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /api/x HTTP/1.1\r\nHost: www.e\r\n"
				   "X-B: 2\r\nX-A: 1\r\n\r\n"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /api/x HTTP/1.1\r\nHost: api.e\r\n"
				   "X-A: 1\r\n\r\n"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /api/x HTTP/1.1\r\nHost: api.e\r\n"
				   "X-B: 2\r\nX-A: 2\r\n\r\n"), ST_ROUTE_NONE);
	release(&k);
}

static void
test_first_match_wins(void **state)
{
	struct compiled k;

	(void)state;
	cfg_reset();
	add_route("api", GET_ONLY, "^/api", NULL);
	add_route("api-v1", ALL, "^/api/v1", NULL);
	add_route("posts", 1u << ST_HTTP_POST, NULL, NULL);
	add_route("static", ALL, "\\.css$", NULL);
	add_route("rest", ALL, NULL, NULL);
	compile(&k);
	assert_int_equal(match(&k, "GET /api/v1 HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(match(&k, "PUT /api/v1 HTTP/1.1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "POST /api/v1 HTTP/1.1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "POST /api/v2 HTTP/1.1\r\n\r\n"), 2);
	/* A method-only route hides regex routes after it... */
	assert_int_equal(match(&k, "POST /a.css HTTP/1.1\r\n\r\n"), 2);
	/* ...not those before it. */
	assert_int_equal(match(&k, "GET /a.css HTTP/1.1\r\n\r\n"), 3);
	assert_int_equal(match(&k, "GET /other HTTP/1.1\r\n\r\n"), 4);
	assert_int_equal(match(&k, "DELETE /api HTTP/1.1\r\n\r\n"), 4);
	release(&k);
	/* The scan meets route 1 first, route 0 later: 0 still wins. */
	cfg_reset();
	add_header(add_route("late", ALL, NULL, NULL), "x-late", "");
	add_route("early", ALL, "^/", NULL);
	add_header(add_route("later", ALL, NULL, NULL), "x-later", "");
	compile(&k);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nX-Later: 1\r\n"
				   "X-Late: 1\r\n\r\n"), 0);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nX-Later: 1\r\n\r\n"),
			 1);
	release(&k);
}

static void
test_no_routes(void **state)
{
	struct compiled k;

	(void)state;
	cfg_reset();
	compile(&k);
	assert_int_equal(st_classifier_route_count(k.c), 0);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\n\r\n"), ST_ROUTE_NONE);
	release(&k);
	/* Routes that match nothing but exist. */
	cfg_reset();
	add_route("never", 0, NULL, NULL);
	add_route("never-regex", 0, "^/", NULL);
	compile(&k);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\n\r\n"), ST_ROUTE_NONE);
	release(&k);
	/* Frees accept NULL. */
	st_classifier_free(NULL);
	st_classifier_scratch_free(NULL);
}

static void
test_64_routes(void **state)
{
	struct compiled k;
	char name[ST_NAME_MAX], regex[32], head[64];
	unsigned int i;

	(void)state;
	cfg_reset();
	for (i = 0; i < ST_MAX_ROUTES; i++) {
		snprintf(name, sizeof(name), "r%u", i);
		snprintf(regex, sizeof(regex), "^/r%u$", i);
		add_route(name, ALL, regex, NULL);
	}
	/* Odd routes also need a header: combinations mixed with single
	 * conditions. */
	for (i = 1; i < ST_MAX_ROUTES; i += 2)
		add_header(&cfg.routes[i], "x-n", "");
	compile(&k);
	for (i = 0; i < ST_MAX_ROUTES; i++) {
		snprintf(head, sizeof(head),
			 "GET /r%u HTTP/1.1\r\nX-N: 1\r\n\r\n", i);
		assert_int_equal(match(&k, head), (int)i);
		snprintf(head, sizeof(head), "GET /r%u HTTP/1.1\r\n\r\n", i);
		assert_int_equal(match(&k, head),
				 i % 2 ? ST_ROUTE_NONE : (int)i);
	}
	assert_int_equal(match(&k, "GET /r64 HTTP/1.1\r\n\r\n"),
			 ST_ROUTE_NONE);
	release(&k);
}

static void
test_truncated_head(void **state)
{
	struct compiled k;
	static const char head[] = "GET /api/v1/users HTTP/1.1\r\n"
				   "Host: api.example.com\r\n"
				   "X-Rollout: shadow\r\n\r\n";
	size_t cut;

	(void)state;
	cfg_reset();
	add_route("host-prefix", ALL, NULL, "^api\\.exa");
	add_route("path-prefix", ALL, "^/api/v", NULL);
	compile(&k);
	/* Cut in the Host line: a partial value. */
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nHost: api.exa"), 0);
	/* Cut in the target. */
	assert_int_equal(match(&k, "GET /api/v"), 1);
	assert_int_equal(match(&k, "GET /api/"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET "), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET"), ST_ROUTE_NONE);
	release(&k);

	/* Every cut of a full head: a route matches once its field is all
	 * there, never before, and nothing reads past the cut. */
	cfg_reset();
	add_header(add_route("rollout", ALL, "^/api/v1/users$",
			     "^api\\.example\\.com$"),
		   "x-rollout", "^shadow$");
	compile(&k);
	for (cut = 0; cut <= sizeof(head) - 1; cut++) {
		int ret = match_bytes(&k, head, cut, ST_HTTP_GET);
		size_t full = strstr(head, "shadow") - head + strlen("shadow");

		assert_int_equal(ret, cut >= full ? 0 : ST_ROUTE_NONE);
	}
	release(&k);

	/* max_head_bytes: bytes past it are not looked at. */
	cfg_reset();
	cfg.http.max_head_bytes = 32;
	add_header(add_route("late", ALL, NULL, NULL), "x-late", "");
	add_header(add_route("early", ALL, NULL, NULL), "x-early", "");
	compile(&k);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nX-Early: 1\r\n"
				   "X-Late: 1\r\n\r\n"), 1);
	assert_int_equal(match(&k, "GET / HTTP/1.1\r\nX-Late: 1\r\n\r\n"), 0);
	release(&k);
}

/* Heads that are not HTTP, or try to forge the scan buffer's tags. */
static void
test_garbage(void **state)
{
	static const uint8_t binary[] = {
		'G', 'E', 'T', ' ', 0, 1, '\n', 1, 'P', '\n', 0xff, 0x80,
		'\r', '\n', '\r', '\n',
	};
	struct compiled k;
	uint8_t buf[300];
	unsigned int seed = 7, i, j;

	(void)state;
	cfg_reset();
	add_header(add_route("admin", ALL, "^/admin$", NULL), "x-a", "");
	add_route("evil-host", ALL, NULL, "^evil$");
	compile(&k);
	assert_int_equal(match_bytes(&k, binary, sizeof(binary), ST_HTTP_GET),
			 ST_ROUTE_NONE);
	/* A tag inside a value cannot start a line of the scan buffer. */
	assert_int_equal(match(&k, "GET /x HTTP/1.1\r\n"
				   "X-A: \x01P\n/admin\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /x HTTP/1.1\r\n"
				   "\x01P\r\n/admin\r\nX-A: 1\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /x HTTP/1.1\r\n"
				   "X-A: 1\r\n\x01H\r\nevil\r\n\r\n"),
			 ST_ROUTE_NONE);
	release(&k);
	/* A value that looks like a tag line, followed by a real tag line
	 * the path regex would match. */
	cfg_reset();
	add_header(add_route("tag-text", ALL, "h:x-a", NULL), "x-a", "");
	compile(&k);
	assert_int_equal(match(&k, "GET /x HTTP/1.1\r\n"
				   "X-A: \x01P\r\nX-A: 1\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /x HTTP/1.1\r\n"
				   "X-A: \x01P\nX-A: 1\r\n\r\n"),
			 ST_ROUTE_NONE);
	assert_int_equal(match(&k, "GET /h:x-a HTTP/1.1\r\n"
				   "X-A: \x01P\r\nX-A: 1\r\n\r\n"), 0);
	release(&k);
	cfg_reset();
	add_header(add_route("admin", ALL, "^/admin$", NULL), "x-a", "");
	add_route("evil-host", ALL, NULL, "^evil$");
	compile(&k);
	assert_int_equal(match(&k, "\r\n\r\n"), ST_ROUTE_NONE);
	assert_int_equal(match(&k, "::::\n\n"), ST_ROUTE_NONE);
	assert_int_equal(match_bytes(&k, NULL, 0, ST_HTTP_GET),
			 ST_ROUTE_NONE);
	/* Random heads: a valid answer, no over-read. */
	for (i = 0; i < 5000; i++) {
		uint32_t len = rand_r(&seed) % sizeof(buf);
		int ret;

		for (j = 0; j < len; j++)
			buf[j] = i % 2 ? (uint8_t)rand_r(&seed) :
				 (uint8_t)"GET /admin\r\n:x-aHost evil\1P"
					 [rand_r(&seed) % 27];
		ret = match_bytes(&k, buf, len,
				  (enum st_http_method)(i % ST_HTTP_METHODS));
		assert_true(ret == ST_ROUTE_NONE || ret == 0 || ret == 1);
	}
	release(&k);
}

/* What the dataplane gets from one pass over a request start of @p s (a
 * segment: the head, maybe more): the route, the head's length and its
 * body length. */
struct pass {
	int route;
	uint32_t len;
	int64_t body_len;
};

static struct pass
one_pass(const struct compiled *k, const char *s, enum st_http_method method)
{
	size_t len = strlen(s);
	uint8_t *copy = malloc(len > 0 ? len : 1);
	struct st_http_head head;
	struct pass r;

	assert_non_null(copy);
	memcpy(copy, s, len);
	st_http_head_begin(&head, copy, len);
	st_classifier_read(k->c, k->s, &head, method);
	st_http_head_finish(&head);
	r.route = st_classifier_route(k->c, k->s);
	r.len = head.len;
	r.body_len = head.body_len;
	free(copy);
	/* The same as the functions that each read the head alone. */
	assert_int_equal(r.len, st_http_head_length((const uint8_t *)s, len));
	assert_int_equal(r.body_len,
			 st_http_body_length((const uint8_t *)s,
					     r.len ? r.len : len));
	assert_int_equal(r.route, match_bytes(k, s, r.len ? r.len : len,
					      method));
	return r;
}

/* Its X-Late field starts past 64 bytes. */
#define LATE_HEAD                                                       \
	"POST / HTTP/1.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aa\r\nX-Late: 1\r\nContent-Length: 4\r\n\r\n"

/* One pass gives the route, the head's end and its body length. */
static void
test_one_pass(void **state)
{
	static const char get[] = "GET /api/x HTTP/1.1\r\nHost: a\r\n"
				  "X-Rollout: shadow\r\n\r\n";
	struct compiled k;
	struct pass r;

	(void)state;
	cfg_reset();
	add_header(add_route("rollout", ALL, NULL, NULL), "x-rollout",
		   "^shadow$");
	add_route("api", ALL, "^/api/", NULL);
	compile(&k);
	r = one_pass(&k, get, ST_HTTP_GET);
	assert_int_equal(r.route, 0);
	assert_int_equal(r.len, sizeof(get) - 1);
	assert_int_equal(r.body_len, 0);
	/* Fields after the head, in its body or the next request, are
	 * neither classified nor framing. */
	r = one_pass(&k, "POST /api/x HTTP/1.1\r\nContent-Length: 30\r\n\r\n"
		     "X-Rollout: shadow\r\nContent-Length: 9\r\n",
		     ST_HTTP_POST);
	assert_int_equal(r.route, 1);
	assert_int_equal(r.body_len, 30);
	/* A head cut short: routed on what is there, its end unknown. */
	r = one_pass(&k, "GET /x HTTP/1.1\r\nContent-Length: 3\r\n"
		     "X-Rollout: shadow", ST_HTTP_GET);
	assert_int_equal(r.route, 0);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.body_len, 3);
	/* Any other method: no route, the head still framed. */
	r = one_pass(&k, get, (enum st_http_method)ST_HTTP_METHODS);
	assert_int_equal(r.route, ST_ROUTE_NONE);
	assert_int_equal(r.len, sizeof(get) - 1);
	/* Transfer-Encoding: the body's end is unknown, not the head's. */
	r = one_pass(&k, "POST /api/ HTTP/1.1\r\nTransfer-Encoding: chunked"
		     "\r\nX-Rollout: shadow\r\n\r\n0\r\n\r\n", ST_HTTP_POST);
	assert_int_equal(r.route, 0);
	assert_int_equal(r.body_len, -1);
	assert_true(r.len > 0);
	release(&k);

	/* Routes that look at the request line only: the rest of the head
	 * is read for its framing alone. */
	cfg_reset();
	add_route("api", ALL, "^/api/", NULL);
	compile(&k);
	r = one_pass(&k, "PUT /api/1 HTTP/1.1\r\nHost: a\r\n"
		     "Content-Length: 12\r\n\r\n", ST_HTTP_PUT);
	assert_int_equal(r.route, 0);
	assert_int_equal(r.body_len, 12);
	release(&k);

	/* Past max_head_bytes, fields are not classified but still frame:
	 * the next request is found where it is. */
	cfg_reset();
	cfg.http.max_head_bytes = 64;
	add_header(add_route("late", ALL, NULL, NULL), "x-late", "");
	add_route("any", ALL, NULL, NULL);
	compile(&k);
	r = one_pass(&k, LATE_HEAD "abcd", ST_HTTP_POST);
	assert_int_equal(r.route, 1);
	assert_int_equal(r.body_len, 4);
	assert_int_equal(r.len, sizeof(LATE_HEAD) - 1);
	release(&k);
}

/* Field names: found by their colon, told apart by length and bytes. */
static void
test_header_names(void **state)
{
	static const char *const base = "GET / HTTP/1.1\r\n";
	/* A NULL name is the host condition. */
	static const struct {
		const char *name;
		const char *regex;
		const char *fields;
		bool match;
	} cases[] = {
		/* Same length, other bytes; other lengths. */
		{ "x-a", "", "x-b: 1\r\n", false },
		{ "x-a", "", "x-aa: 1\r\n", false },
		{ "x-aa", "", "x-a: 1\r\n", false },
		{ "x-aa", "", "x-b: 1\r\nX-AA: 1\r\n", true },
		/* A CR before the colon ends the value: no field. */
		{ "x-a", "", "X-A\r: 1\r\n", false },
		{ "x-a", "", "X\r-A: 1\r\n", false },
		{ NULL, "^a$", "Host\r: a\r\n", false },
		/* A field with an empty name, and a colon only in the
		 * value. */
		{ "x-a", "", ": x-a\r\n", false },
		{ "x-a", "^b:c$", "X-A: b:c\r\n", true },
		/* Host as the host and as a header of the same length. */
		{ NULL, "^a$", "HOST: a:80\r\n", true },
		{ NULL, "^a$", "Hosq: a\r\n", false },
		{ NULL, "^a$", "Hosts: a\r\n", false },
		{ NULL, "^a$", "Hos: a\r\n", false },
		/* A line that starts with a CR ends what is classified. */
		{ "x-a", "", "\rjunk\r\nX-A: 1\r\n", false },
		{ "x-a", "", "junk\r\nX-A: 1\r\n", true },
		{ "hosq", "^a$", "Host: b\r\nHosq: a\r\n", true },
	};
	char name63[64], name64[65], head[512];
	unsigned int i;

	(void)state;
	/* The longest name there can be, and one byte more. */
	memset(name63, 'n', 63);
	name63[63] = '\0';
	memset(name64, 'n', 64);
	name64[64] = '\0';
	snprintf(head, sizeof(head), "%s%s: 1\r\n\r\n", base, name63);
	assert_true(header_matches(name63, "^1$", head));
	snprintf(head, sizeof(head), "%s%s: 1\r\n\r\n", base, name64);
	assert_false(header_matches(name63, "^1$", head));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(head, sizeof(head), "%s%s\r\n", base,
			 cases[i].fields);
		print_message("%s", head);
		assert_true((cases[i].name == NULL ?
			     host_matches(cases[i].regex, head) :
			     header_matches(cases[i].name, cases[i].regex,
					    head)) == cases[i].match);
	}
}

/* Swapping in a new configuration: one scratch serves both. */
static void
test_scratch_grow(void **state)
{
	struct st_classifier *small, *big;
	struct st_classifier_scratch *s = NULL;
	char err[256], regex[64];
	unsigned int i;

	(void)state;
	cfg_reset();
	add_route("one", ALL, "^/one$", NULL);
	assert_int_equal(st_classifier_create(&cfg, &small, err, sizeof(err)),
			 0);
	cfg_reset();
	cfg.http.max_head_bytes = 65536;
	for (i = 0; i < 40; i++) {
		snprintf(regex, sizeof(regex), "^/[a-z]{%u}[0-9]+x.*y$", i + 1);
		add_header(add_route("big", ALL, regex, "(?i)example"),
			   "x-big", "[0-9]{3,9}z$");
	}
	add_route("big-last", ALL, "^/big", NULL);
	assert_int_equal(st_classifier_create(&cfg, &big, err, sizeof(err)),
			 0);

	assert_int_equal(st_classifier_scratch_alloc(small, &s), 0);
	assert_int_equal(st_classifier_match(small, s,
					     (const uint8_t *)"GET /one ", 9,
					     ST_HTTP_GET), 0);
	assert_int_equal(st_classifier_scratch_grow(big, &s), 0);
	assert_int_equal(st_classifier_match(big, s,
					     (const uint8_t *)"GET /big ", 9,
					     ST_HTTP_GET), 40);
	assert_int_equal(st_classifier_match(small, s,
					     (const uint8_t *)"GET /one ", 9,
					     ST_HTTP_GET), 0);
	/* Growing for a classifier it already serves changes nothing. */
	assert_int_equal(st_classifier_scratch_grow(small, &s), 0);
	assert_int_equal(st_classifier_match(big, s,
					     (const uint8_t *)"GET /big ", 9,
					     ST_HTTP_GET), 40);
	st_classifier_scratch_free(s);

	/* Grow with no scratch yet allocates one. */
	s = NULL;
	assert_int_equal(st_classifier_scratch_grow(big, &s), 0);
	assert_non_null(s);
	st_classifier_scratch_free(s);

	/* A scratch of a classifier without a database is grown, not
	 * replaced, when routes with regexes arrive. */
	st_classifier_free(small);
	cfg_reset();
	assert_int_equal(st_classifier_create(&cfg, &small, err, sizeof(err)),
			 0);
	assert_int_equal(st_classifier_scratch_alloc(small, &s), 0);
	assert_int_equal(st_classifier_match(big, s,
					     (const uint8_t *)"GET /big ", 9,
					     ST_HTTP_GET), ST_ROUTE_ERROR);
	assert_int_equal(st_classifier_scratch_grow(big, &s), 0);
	assert_int_equal(st_classifier_match(big, s,
					     (const uint8_t *)"GET /big ", 9,
					     ST_HTTP_GET), 40);
	st_classifier_scratch_free(s);
	st_classifier_free(small);
	st_classifier_free(big);
}

/* st_classifier_create() fails with @p ret and "CFG_PATH:@p line: "
 * followed by @p what, then Hyperscan's message. */
static void
expect_error(int ret, int line, const char *what)
{
	struct st_classifier *c = (struct st_classifier *)&cfg;
	char err[512] = "", prefix[256];
	int got = st_classifier_create(&cfg, &c, err, sizeof(err));

	print_message("%s\n", err);
	assert_int_equal(got, ret);
	assert_null(c);
	snprintf(prefix, sizeof(prefix), "%s:%d: %s", CFG_PATH, line, what);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", err, prefix);
	assert_true(strlen(err) > strlen(prefix) + 2);
}

static void
test_errors(void **state)
{
	struct st_route_conf *r;
	unsigned int i;

	(void)state;
	/* A bad regex names the route, the line and the field; earlier good
	 * routes do not hide it. */
	cfg_reset();
	add_route("good", ALL, "^/ok", "ok");
	add_route("bad-path", ALL, "^/(unclosed", NULL);
	expect_error(-EINVAL, route_line(1) + 1, "route 'bad-path': path: ");

	cfg_reset();
	add_route("bad-host", ALL, "^/", "[a-");
	expect_error(-EINVAL, route_line(0) + 2, "route 'bad-host': host: ");

	cfg_reset();
	r = add_route("bad-header", ALL, NULL, NULL);
	add_header(r, "x-ok", "fine");
	add_header(r, "x-foo", "a{2,1}");
	expect_error(-EINVAL, route_line(0) + 4,
		     "route 'bad-header': header 'x-foo': ");

	/* What Hyperscan cannot run: backreferences, lookarounds. */
	cfg_reset();
	add_route("backref", ALL, "(a)\\1", NULL);
	expect_error(-EINVAL, route_line(0) + 1, "route 'backref': path: ");
	cfg_reset();
	add_route("lookahead", ALL, "^/a(?=b)", NULL);
	expect_error(-EINVAL, route_line(0) + 1, "route 'lookahead': path: ");

	/* A regex that would escape its group. */
	cfg_reset();
	add_route("escape", ALL, "a)|(b", NULL);
	expect_error(-EINVAL, route_line(0) + 1, "route 'escape': path: ");

	/* A line break can never match inside a value. */
	cfg_reset();
	add_route("newline", ALL, "a\nb", NULL);
	expect_error(-EINVAL, route_line(0) + 1, "route 'newline': path: ");

	/* Header names must be tokens. */
	cfg_reset();
	add_header(add_route("name", ALL, NULL, NULL), "x foo", "1");
	expect_error(-EINVAL, route_line(0) + 3,
		     "route 'name': header 'x foo': ");
	cfg_reset();
	add_header(add_route("colon", ALL, NULL, NULL), "x:foo", "1");
	expect_error(-EINVAL, route_line(0) + 3,
		     "route 'colon': header 'x:foo': ");

	/* Without a line of its own, the regex takes the route's. */
	cfg_reset();
	r = add_route("no-line", ALL, "(", NULL);
	r->path.line = 0;
	expect_error(-EINVAL, route_line(0), "route 'no-line': path: ");

	/* Too many routes for a route mask. */
	cfg_reset();
	for (i = 0; i < ST_MAX_ROUTES; i++)
		add_route("r", ALL, NULL, NULL);
	cfg.nb_routes = ST_MAX_ROUTES + 1;
	{
		struct st_classifier *c = NULL;
		char err[256] = "";

		assert_int_equal(st_classifier_create(&cfg, &c, err,
						      sizeof(err)),
				 -EINVAL);
		assert_null(c);
		assert_non_null(strstr(err, CFG_PATH));
	}
}

/* Write @p yaml to a temporary file and load it into cfg. */
static void
load_yaml(const char *yaml, char *path)
{
	char err[512] = "";
	size_t len = strlen(yaml);
	int fd;

	snprintf(path, 64, "/tmp/st_classifier_XXXXXX.yaml");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, len), len);
	assert_int_equal(close(fd), 0);
	memset(&cfg, 0, sizeof(cfg));
	if (st_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("st_config_load: %s", err);
	assert_int_equal(unlink(path), 0);
}

/* Through the configuration loader: errors point at the YAML lines. */
static void
test_config_file(void **state)
{
	static const char yaml[] =
		"ports:\n"				/* 1 */
		"  client: 0\n"			/* 2 */
		"  server: 1\n"			/* 3 */
		"mirrors:\n"				/* 4 */
		"  - name: shadow\n"			/* 5 */
		"    port: 2\n"			/* 6 */
		"routes:\n"				/* 7 */
		"  - name: api\n"			/* 8 */
		"    match:\n"			/* 9 */
		"      methods: [GET]\n"		/* 10 */
		"      path: '^/api/'\n"		/* 11 */
		"    mirror: shadow\n"			/* 12 */
		"  - name: rollout\n"			/* 13 */
		"    match:\n"			/* 14 */
		"      header:\n"			/* 15 */
		"        X-Rollout: '%s'\n"		/* 16 */
		"    mirror: none\n";			/* 17 */
	char text[sizeof(yaml) + 32], path[64], err[512] = "", prefix[128];
	struct compiled k;

	(void)state;
	snprintf(text, sizeof(text), yaml, "^(on|shadow)$");
	load_yaml(text, path);
	compile(&k);
	assert_int_equal(match(&k, "GET /api/x HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(match(&k, "POST /api/x HTTP/1.1\r\n"
				   "x-rollout: shadow\r\n\r\n"), 1);
	assert_int_equal(match(&k, "POST /api/x HTTP/1.1\r\n\r\n"),
			 ST_ROUTE_NONE);
	release(&k);

	snprintf(text, sizeof(text), yaml, "^(on|shadow");
	load_yaml(text, path);
	assert_int_equal(st_classifier_create(&cfg, &k.c, err, sizeof(err)),
			 -EINVAL);
	print_message("%s\n", err);
	snprintf(prefix, sizeof(prefix),
		 "%s:16: route 'rollout': header 'x-rollout': ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", err, prefix);
}

/* @p re with its body in a group, "^/a$" as "^(?:/a)$": no longer a plain
 * literal, so Hyperscan decides it. */
static void
as_regex(struct st_regex_conf *re)
{
	char body[64];	/* the patterns here are short */
	const char *start = re->pattern[0] == '^' ? "^" : "";
	size_t len = strlen(re->pattern) - strlen(start);
	bool end = len > 0 && re->pattern[strlen(re->pattern) - 1] == '$' &&
		   (len < 2 || re->pattern[strlen(re->pattern) - 2] != '\\');

	if (end)
		len--;
	snprintf(body, sizeof(body), "%.*s", (int)len,
		 re->pattern + strlen(start));
	snprintf(re->pattern, sizeof(re->pattern), "%s(?:%s)%s", start, body,
		 end ? "$" : "");
}

static const char *
pick(unsigned int *seed, const char *const *list, size_t n)
{
	return list[rand_r(seed) % n];
}

#define PICK(seed, list) pick(seed, list, sizeof(list) / sizeof(list[0]))

/* Literal conditions are compared in C, not by Hyperscan: random route
 * sets of literals must route random heads exactly as the same routes
 * written as regexes do. */
static void
test_literals_as_regexes(void **state)
{
	static const char *const paths[] = {
		NULL, "^/api/", "^/api/v1$", "/v1", "v1$", "^/", "$", "^$",
		"^/a\\.b", "\\?q=1", "\\A/api", "/x\\z", "^/a\\$b", "^/A",
		/* Past 8 bytes, on a target whose first 8 are the same. */
		"^/api/v1/users",
	};
	static const char *const hosts[] = {
		NULL, "^api\\.example\\.com$", "^API\\.Example", "\\.COM$",
		"^$", "^evil$",
	};
	static const char *const names[] = { "x-rollout", "cookie" };
	static const char *const values[] = {
		"", "^shadow$", "shadow", "^sha", "dow$", "beta=1", "^$",
	};
	static const char *const methods[] = { "GET", "POST", "CONNECT" };
	static const char *const targets[] = {
		"/api/v1", "/api/v1?q=1", "/a.b/x", "/a$b", "/Api/", "",
		"http://API.example.com/api/v1", "http://evil?q=1",
		"https://u:p@api.example.com:8080", "api.example.com:443",
		"/x", "/a/v1", "/api/v1/users/7", "/api/v1/orders",
	};
	static const char *const lines[] = {
		"Host: api.example.com\r\n", "Host: API.EXAMPLE.COM:80\r\n",
		"Host: evil\r\n", "Host:\r\n", "X-Rollout: shadow\r\n",
		"x-rollout:  shadowing \r\n", "X-Rollout: dow\r\n",
		"Cookie: a=1; beta=1\r\n", "X-Rollout:\r\n", " folded\r\n",
		"Host: x.com\r\n",
	};
	struct compiled lit, re;
	unsigned int seed = 11, set, i, j, routed = 0, heads = 0;
	char head[512];

	(void)state;
	for (set = 0; set < 60; set++) {
		cfg_reset();
		for (i = 0; i < 6; i++) {
			struct st_route_conf *r;
			char name[16];

			snprintf(name, sizeof(name), "r%u", i);
			r = add_route(name, rand_r(&seed) % 4 ? ALL : GET_ONLY,
				      PICK(&seed, paths), PICK(&seed, hosts));
			for (j = rand_r(&seed) % 3; j > 0; j--)
				add_header(r, PICK(&seed, names),
					   PICK(&seed, values));
		}
		compile(&lit);
		for (i = 0; i < cfg.nb_routes; i++) {
			struct st_route_conf *r = &cfg.routes[i];

			if (r->path.pattern[0] != '\0')
				as_regex(&r->path);
			if (r->host.pattern[0] != '\0')
				as_regex(&r->host);
			for (j = 0; j < r->nb_headers; j++)
				as_regex(&r->headers[j].value);
		}
		compile(&re);
		for (i = 0; i < 50; i++) {
			const char *method = PICK(&seed, methods);
			enum st_http_method m;
			size_t len;
			int a, b;

			m = method[0] == 'G' ? ST_HTTP_GET :
			    method[0] == 'P' ? ST_HTTP_POST : ST_HTTP_CONNECT;

			len = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n",
				       method, PICK(&seed, targets));
			for (j = rand_r(&seed) % 5; j > 0; j--)
				len += snprintf(head + len, sizeof(head) - len,
						"%s", PICK(&seed, lines));
			len += snprintf(head + len, sizeof(head) - len, "\r\n");
			/* A head cut anywhere, at times. */
			if (rand_r(&seed) % 4 == 0)
				len = rand_r(&seed) % (len + 1);
			a = match_bytes(&lit, head, len, m);
			b = match_bytes(&re, head, len, m);
			if (a != b)
				fail_msg("set %u: literal %d, regex %d: %.*s",
					 set, a, b, (int)len, head);
			heads++;
			routed += a >= 0;
		}
		release(&lit);
		release(&re);
	}
	print_message("%u of %u heads routed\n", routed, heads);
	/* Both outcomes were seen. */
	assert_true(routed > heads / 10);
	assert_true(routed < heads - heads / 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_only),
		cmocka_unit_test(test_path_anchors),
		cmocka_unit_test(test_anchor_rewriting),
		cmocka_unit_test(test_path_binds_to_target),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_all_conditions),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_no_routes),
		cmocka_unit_test(test_64_routes),
		cmocka_unit_test(test_truncated_head),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_one_pass),
		cmocka_unit_test(test_header_names),
		cmocka_unit_test(test_scratch_grow),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_literals_as_regexes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
