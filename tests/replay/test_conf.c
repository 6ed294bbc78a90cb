/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay.yaml's loader (replay/conf.h): defaults, a file
 * with every key, the secondary and the comparison, routes_from, and errors
 * that name the file, line and key.
 * Files are written to a fresh directory, so that routes_from's relative
 * paths are resolved against it, not against the test's directory.
 */

#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

/* One load of a replay file. */
struct load {
	int ret;
	char dir[64];
	char path[128];
	char err[1024];
	struct st_replay_conf conf;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
make_dir(struct load *l)
{
	snprintf(l->dir, sizeof(l->dir), "/tmp/st_replay_conf_XXXXXX");
	assert_non_null(mkdtemp(l->dir));
}

/* Remove the files a test wrote and their directory. */
static void
remove_dir(struct load *l, const char *const *names)
{
	char path[128];

	for (; *names != NULL; names++) {
		snprintf(path, sizeof(path), "%s/%s", l->dir, *names);
		unlink(path);
	}
	assert_int_equal(rmdir(l->dir), 0);
}

/* Load @p yaml written as replay.yaml into a directory already holding
 * what the test put there. */
static void
load_file(struct load *l, const char *yaml)
{
	write_file(l->dir, "replay.yaml", yaml);
	snprintf(l->path, sizeof(l->path), "%s/replay.yaml", l->dir);
	memset(l->err, 0, sizeof(l->err));
	l->ret = st_replay_conf_load(l->path, &l->conf, l->err,
				     sizeof(l->err));
}

/* Load @p yaml alone, in a directory of its own. */
static void
load_yaml(struct load *l, const char *yaml)
{
	static const char *const names[] = { "replay.yaml", NULL };

	make_dir(l);
	load_file(l, yaml);
	remove_dir(l, names);
}

static void
expect_loaded(const struct load *l)
{
	if (l->ret != 0)
		fail_msg("load failed (%d): %s", l->ret, l->err);
}

static void
expect_contains(const char *text, const char *word)
{
	if (strstr(text, word) == NULL)
		fail_msg("'%s' is not in \"%s\"", word, text);
}

/* The load failed with -EINVAL, and its message reads "PATH:LINE: ..."
 * with each of the (up to 3, NULL-terminated) @p words. */
static void
expect_failure(const struct load *l, int line, const char *const words[3])
{
	char prefix[160];
	unsigned int i;

	print_message("%s\n", l->err);
	assert_int_equal(l->ret, -EINVAL);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", l->path, line);
	if (strncmp(l->err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", l->err, prefix);
	for (i = 0; i < 3 && words[i] != NULL; i++)
		expect_contains(l->err, words[i]);
}

static bool
pattern_matches(const char *pattern, const char *text)
{
	regex_t re;
	int rc;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	return rc == 0;
}

/* Whether one of the loaded patterns matches @p text. */
static bool
masked(const struct st_replay_sanitize_conf *s, const char *text)
{
	unsigned int i;

	for (i = 0; i < s->nb_patterns; i++)
		if (pattern_matches(s->patterns[i], text))
			return true;
	return false;
}

static void
expect_compare_defaults(const struct st_replay_compare_conf *c)
{
	static const char *const headers[] = {
		"content-type",	       "location",
		"cache-control",       "content-language",
		"content-disposition", "vary",
		"access-control-allow-origin", "www-authenticate",
		"allow",
	};
	unsigned int i;

	assert_int_equal(c->nb_headers, sizeof(headers) / sizeof(headers[0]));
	for (i = 0; i < c->nb_headers; i++)
		assert_string_equal(c->headers[i], headers[i]);
	assert_int_equal(c->nb_noise, 0);
	assert_int_equal(c->max_samples, 3);
	assert_int_equal(c->max_differences, 64);
	assert_int_equal(c->gate.min_exchanges, 100);
	assert_true(c->gate.max_p99_ratio == 1.5);
	assert_true(c->gate.min_p99_drift_ms == 1.0);
	assert_true(c->gate.max_error_rate_delta == 0.01);
	assert_true(c->gate.max_mismatch_rate == 0.01);
	assert_int_equal(c->line, 0);
	assert_int_equal(c->gate.line, 0);
}

static void
test_defaults(void **state)
{
	static struct load l;
	const struct st_replay_conf *c = &l.conf;

	(void)state;
	load_yaml(&l, "# nothing but defaults\n{}\n");
	expect_loaded(&l);
	assert_string_equal(c->path, l.path);
	assert_string_equal(c->routes.path, l.path);
	assert_int_equal(c->routes.nb_routes, 0);
	assert_int_equal(c->routes.http.nb_ports, 0);
	assert_int_equal(c->routes.http.max_head_bytes, 4096);
	assert_int_equal(c->replayed, 0);

	assert_false(c->has_shadow);
	assert_int_equal(c->shadow.host_mode, ST_REPLAY_HOST_KEEP);
	assert_int_equal(c->shadow.timeout_ms, 5000);
	assert_int_equal(c->shadow.connections, 8);
	assert_int_equal(c->shadow.max_in_flight, 256);
	assert_string_equal(c->shadow.mark_header, "x-shadowtap-replay");
	assert_string_equal(c->shadow.mark_value, "1");
	/* The secondary is a service like the shadow, with its defaults. */
	assert_false(c->has_secondary);
	assert_int_equal(c->secondary.timeout_ms, 5000);
	assert_int_equal(c->secondary.connections, 8);
	assert_int_equal(c->secondary.max_in_flight, 256);
	assert_string_equal(c->secondary.mark_header, "x-shadowtap-replay");

	expect_compare_defaults(&c->compare);

	assert_int_equal(c->sanitize.nb_drop_headers, 2);
	assert_string_equal(c->sanitize.drop_headers[0], "authorization");
	assert_string_equal(c->sanitize.drop_headers[1], "cookie");
	assert_int_equal(c->sanitize.nb_replace_headers, 0);
	assert_int_equal(c->sanitize.nb_json_fields, 2);
	assert_string_equal(c->sanitize.json_fields[0], "password");
	assert_string_equal(c->sanitize.json_fields[1], "token");
	/* Card numbers as people write them, e-mail addresses; not any
	 * short number. */
	assert_int_equal(c->sanitize.nb_patterns, 2);
	assert_true(masked(&c->sanitize, "card=4111111111111111"));
	assert_true(masked(&c->sanitize, "4111 1111 1111 1111"));
	assert_true(masked(&c->sanitize, "4111-1111-1111-1111"));
	assert_true(masked(&c->sanitize, "mail: jane.doe+x@mail.example.com"));
	assert_false(masked(&c->sanitize, "order 123456789012, qty 3"));
	assert_false(masked(&c->sanitize, "4111  1111 1111 1111"));
	assert_false(masked(&c->sanitize, "user@localhost"));

	assert_int_equal(c->capture.decap, ST_DECAP_AUTO);
	assert_int_equal(c->capture.snaplen, 262144);
	assert_int_equal(c->capture.buffer_mb, 64);
	assert_string_equal(c->capture.bpf, "");

	assert_int_equal(c->limits.max_connections, 100000);
	assert_int_equal(c->limits.max_stream_bytes, 1 << 20);
	assert_int_equal(c->limits.max_total_bytes, 256 << 20);
	assert_int_equal(c->limits.idle_timeout_ms, 60000);
	assert_int_equal(c->limits.hole_timeout_ms, 500);
	assert_int_equal(c->limits.max_head_bytes, 65536);
	assert_int_equal(c->limits.max_body_bytes, 1 << 20);
	assert_int_equal(c->limits.max_pending, 64);
}

static const char full_yaml[] =
	"routes:\n"					/* 1 */
	"  - name: api\n"				/* 2 */
	"    match: {path: ^/api/, methods: [GET, POST]}\n"
	"    allow_writes: true\n"			/* 4 */
	"  - name: rest\n"				/* 5 */
	"    match: {}\n"				/* 6 */
	"http:\n"					/* 7 */
	"  ports: [80, 8080]\n"				/* 8 */
	"  max_head_bytes: 8192\n"			/* 9 */
	"shadow:\n"					/* 10 */
	"  url: https://shadow.example:8443/v2\n"	/* 11 */
	"  host_suffix: -shadow\n"			/* 12 */
	"  timeout_ms: 250\n"				/* 13 */
	"  connections: 4\n"				/* 14 */
	"  max_in_flight: 1000\n"			/* 15 */
	"  mark_header: X-Replay\n"			/* 16 */
	"  mark_value: from shadowtap\n"		/* 17 */
	"sanitize:\n"					/* 18 */
	"  drop_headers: [Cookie, X-Api-Key]\n"		/* 19 */
	"  replace_headers: {Authorization: Bearer test}\n"
	"  json_fields: []\n"				/* 21 */
	"  patterns: ['[0-9]{3}-[0-9]{2}-[0-9]{4}']\n"	/* 22 */
	"capture:\n"					/* 23 */
	"  decap: vxlan\n"				/* 24 */
	"  snaplen: 9000\n"				/* 25 */
	"  buffer_mb: 256\n"				/* 26 */
	"  bpf: not host 10.0.0.1\n"			/* 27 */
	"limits:\n"					/* 28 */
	"  max_connections: 5000\n"			/* 29 */
	"  max_stream_bytes: 65536\n"			/* 30 */
	"  max_total_bytes: 4294967296\n"		/* 31 */
	"  idle_timeout_ms: 30000\n"			/* 32 */
	"  max_head_bytes: 16384\n"			/* 33 */
	"  max_body_bytes: 0\n"				/* 34 */
	"  max_pending: 8\n"				/* 35 */
	"  hole_timeout_ms: 250\n";			/* 36 */

static void
test_full(void **state)
{
	static struct load l;
	const struct st_replay_conf *c = &l.conf;
	const struct st_route_conf *r = c->routes.routes;

	(void)state;
	load_yaml(&l, full_yaml);
	expect_loaded(&l);
	assert_int_equal(c->routes.nb_routes, 2);
	assert_string_equal(r[0].name, "api");
	assert_int_equal(r[0].line, 2);
	assert_string_equal(r[0].path.pattern, "^/api/");
	assert_int_equal(r[0].methods,
			 (1u << ST_HTTP_GET) | (1u << ST_HTTP_POST));
	/* No methods said: the reads, as for a route that mirrors. */
	assert_int_equal(r[1].methods,
			 ST_HTTP_ALL_METHODS & ~ST_HTTP_WRITE_METHODS);
	assert_int_equal(c->replayed, 3);
	assert_int_equal(c->routes.http.nb_ports, 2);
	assert_int_equal(c->routes.http.ports[1], 8080);
	assert_int_equal(c->routes.http.max_head_bytes, 8192);

	assert_true(c->has_shadow);
	/* A block mapping starts at its first key. */
	assert_int_equal(c->shadow.line, 11);
	assert_string_equal(c->shadow.url, "https://shadow.example:8443/v2");
	assert_int_equal(c->shadow.host_mode, ST_REPLAY_HOST_SUFFIX);
	assert_string_equal(c->shadow.host, "-shadow");
	assert_int_equal(c->shadow.timeout_ms, 250);
	assert_int_equal(c->shadow.connections, 4);
	assert_int_equal(c->shadow.max_in_flight, 1000);
	assert_string_equal(c->shadow.mark_header, "x-replay");
	assert_string_equal(c->shadow.mark_value, "from shadowtap");

	/* A list given replaces its default, even with nothing. */
	assert_int_equal(c->sanitize.nb_drop_headers, 2);
	assert_string_equal(c->sanitize.drop_headers[0], "cookie");
	assert_string_equal(c->sanitize.drop_headers[1], "x-api-key");
	assert_int_equal(c->sanitize.nb_replace_headers, 1);
	assert_string_equal(c->sanitize.replace_headers[0].name,
			    "authorization");
	assert_string_equal(c->sanitize.replace_headers[0].value,
			    "Bearer test");
	assert_int_equal(c->sanitize.nb_json_fields, 0);
	assert_int_equal(c->sanitize.nb_patterns, 1);
	assert_true(masked(&c->sanitize, "ssn 078-05-1120"));
	assert_false(masked(&c->sanitize, "jane@example.com"));

	assert_int_equal(c->capture.decap, ST_DECAP_VXLAN);
	assert_int_equal(c->capture.snaplen, 9000);
	assert_int_equal(c->capture.buffer_mb, 256);
	assert_string_equal(c->capture.bpf, "not host 10.0.0.1");

	assert_int_equal(c->limits.max_connections, 5000);
	assert_int_equal(c->limits.max_stream_bytes, 65536);
	assert_true(c->limits.max_total_bytes == 4294967296ull);
	assert_int_equal(c->limits.idle_timeout_ms, 30000);
	assert_int_equal(c->limits.hole_timeout_ms, 250);
	assert_int_equal(c->limits.max_head_bytes, 16384);
	assert_int_equal(c->limits.max_body_bytes, 0);
	assert_int_equal(c->limits.max_pending, 8);
}

/* The appliance's keys of a route are taken and left alone. */
static void
test_mirror_and_percent_ignored(void **state)
{
	static struct load l;
	const struct st_route_conf *r = l.conf.routes.routes;

	(void)state;
	load_yaml(&l, "routes:\n"
		      "  - name: a\n"
		      "    match: {host: ^api\\.}\n"
		      "    mirror: [no-such-mirror]\n"
		      "    percent: 5\n"
		      "  - name: b\n"
		      "    match: {methods: [PUT]}\n"
		      "    mirror: none\n"
		      "    allow_writes: true\n"
		      "shadow:\n"
		      "  url: http://127.0.0.1:8080\n"
		      "  host: shadow.internal\n");
	expect_loaded(&l);
	assert_int_equal(l.conf.routes.nb_routes, 2);
	assert_int_equal(r[0].mirrors, 0);
	assert_true(r[0].percent == 100.0);
	assert_int_equal(r[1].methods, 1u << ST_HTTP_PUT);
	assert_true(r[1].allow_writes);
	/* "mirror: none" does not stop a route of the replay's own. */
	assert_int_equal(l.conf.replayed, 3);
	assert_int_equal(l.conf.shadow.host_mode, ST_REPLAY_HOST_SET);
	assert_string_equal(l.conf.shadow.host, "shadow.internal");
}

static const char compare_yaml[] =
	"compare:\n"						/* 1 */
	"  headers: [Content-Type, location, X-Version]\n"	/* 2 */
	"  max_samples: 0\n"					/* 3 */
	"  max_differences: 1024\n"				/* 4 */
	"  noise:\n"						/* 5 */
	"    - path: $.request_id\n"				/* 6 */
	"      ignore: true\n"					/* 7 */
	"    - header: ETag\n"					/* 8 */
	"      presence: true\n"				/* 9 */
	"    - path: $.items[*].price\n"			/* 10 */
	"      tolerance: 0.01\n"				/* 11 */
	"      route: pages\n"					/* 12 */
	"    - path: '$[\"updated_at\"]'\n"			/* 13 */
	"      pattern: '^[0-9]{4}-'\n"				/* 14 */
	"    - path: '$[\"a b\"][*][\"x\\\"y\"]._z9[\"\"]'\n"	/* 15 */
	"      route: api\n"					/* 16 */
	"      pattern: '.*'\n"					/* 17 */
	"    - {path: $, tolerance: 0}\n"			/* 18 */
	"    - {path: $.request_id, route: api, ignore: true}\n"	/* 19 */
	"  gate:\n"						/* 20 */
	"    min_exchanges: 1000000000\n"			/* 21 */
	"    max_p99_ratio: 1\n"				/* 22 */
	"    min_p99_drift_ms: 0.5\n"				/* 23 */
	"    max_error_rate_delta: 0\n"				/* 24 */
	"    max_mismatch_rate: 1\n"				/* 25 */
	/* After compare: routes are resolved whatever the order. */
	"routes:\n"						/* 26 */
	"  - {name: api, match: {path: ^/api/}}\n"		/* 27 */
	"  - {name: pages, match: {}}\n"			/* 28 */
	"shadow: {url: 'http://127.0.0.1:8081'}\n"		/* 29 */
	"secondary:\n"						/* 30 */
	"  url: http://127.0.0.2:80\n"				/* 31 */
	"  host: primary.internal\n"				/* 32 */
	"  timeout_ms: 100\n";					/* 33 */

static void
test_compare(void **state)
{
	static struct load l;
	const struct st_replay_compare_conf *c = &l.conf.compare;
	const struct st_replay_noise_rule *n = c->noise;

	(void)state;
	load_yaml(&l, compare_yaml);
	expect_loaded(&l);
	assert_int_equal(c->line, 2);
	assert_int_equal(c->nb_headers, 3);
	assert_string_equal(c->headers[0], "content-type");
	assert_string_equal(c->headers[1], "location");
	assert_string_equal(c->headers[2], "x-version");
	assert_int_equal(c->max_samples, 0);
	assert_int_equal(c->max_differences, 1024);

	assert_int_equal(c->nb_noise, 7);
	assert_false(n[0].header);
	assert_string_equal(n[0].path, "$.request_id");
	assert_int_equal(n[0].action, ST_NOISE_IGNORE);
	assert_int_equal(n[0].route, -1);
	assert_int_equal(n[0].line, 6);
	assert_true(n[1].header);
	assert_string_equal(n[1].path, "etag");
	assert_int_equal(n[1].action, ST_NOISE_PRESENCE);
	assert_int_equal(n[1].line, 8);
	assert_string_equal(n[2].path, "$.items[*].price");
	assert_int_equal(n[2].action, ST_NOISE_TOLERANCE);
	assert_true(n[2].tolerance == 0.01);
	assert_int_equal(n[2].route, 1);
	/* Stored as the differ writes paths: no quotes an identifier
	 * does not need, the others kept as written. */
	assert_string_equal(n[3].path, "$.updated_at");
	assert_int_equal(n[3].action, ST_NOISE_PATTERN);
	assert_string_equal(n[3].pattern, "^[0-9]{4}-");
	assert_string_equal(n[4].path, "$[\"a b\"][*][\"x\\\"y\"]._z9[\"\"]");
	assert_int_equal(n[4].route, 0);
	assert_int_equal(n[4].line, 15);
	/* A pattern compares values: one matching "" is allowed here. */
	assert_string_equal(n[4].pattern, ".*");
	assert_string_equal(n[5].path, "$");
	assert_int_equal(n[5].action, ST_NOISE_TOLERANCE);
	assert_true(n[5].tolerance == 0.0);
	assert_int_equal(n[5].line, 18);
	/* The same path again, for one route only. */
	assert_string_equal(n[6].path, "$.request_id");
	assert_int_equal(n[6].route, 0);

	assert_int_equal(c->gate.line, 21);
	assert_int_equal(c->gate.min_exchanges, 1000000000);
	assert_true(c->gate.max_p99_ratio == 1.0);
	assert_true(c->gate.min_p99_drift_ms == 0.5);
	assert_true(c->gate.max_error_rate_delta == 0.0);
	assert_true(c->gate.max_mismatch_rate == 1.0);

	assert_true(l.conf.has_shadow);
	assert_true(l.conf.has_secondary);
	assert_int_equal(l.conf.secondary.line, 31);
	assert_string_equal(l.conf.secondary.url, "http://127.0.0.2:80");
	assert_int_equal(l.conf.secondary.host_mode, ST_REPLAY_HOST_SET);
	assert_string_equal(l.conf.secondary.host, "primary.internal");
	assert_int_equal(l.conf.secondary.timeout_ms, 100);
	/* Keys left out take the defaults, not the shadow's values. */
	assert_int_equal(l.conf.secondary.connections, 8);
	assert_string_equal(l.conf.shadow.url, "http://127.0.0.1:8081");
	assert_int_equal(l.conf.shadow.host_mode, ST_REPLAY_HOST_KEEP);
	assert_int_equal(l.conf.shadow.timeout_ms, 5000);
}

/* Sections given partly: what is left out keeps its default. */
static void
test_compare_partial(void **state)
{
	static struct load l;
	const struct st_replay_compare_conf *c = &l.conf.compare;

	(void)state;
	load_yaml(&l, "compare:\n"
		      "  headers: []\n"
		      "  gate:\n"
		      "    max_mismatch_rate: 0.05\n");
	expect_loaded(&l);
	assert_int_equal(c->nb_headers, 0);
	assert_int_equal(c->max_samples, 3);
	assert_int_equal(c->gate.line, 4);
	assert_true(c->gate.max_mismatch_rate == 0.05);
	assert_int_equal(c->gate.min_exchanges, 100);
	assert_true(c->gate.max_p99_ratio == 1.5);
	assert_false(l.conf.has_secondary);

	load_yaml(&l, "compare: {max_samples: 16}\n");
	expect_loaded(&l);
	assert_int_equal(c->max_samples, 16);
	assert_int_equal(c->nb_headers, 9);
}

/* Write @p nb items "PREFIX<i>SUFFIX" after @p head into @p buf. */
static void
make_list(char *buf, size_t size, const char *head, const char *prefix,
	  const char *suffix, unsigned int nb)
{
	size_t len = (size_t)snprintf(buf, size, "%s", head);
	unsigned int i;

	for (i = 0; i < nb; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s%u%s",
					prefix, i, suffix);
		assert_true(len < size);
	}
}

/* The bounds of the lists: the last item allowed, one more refused. */
static void
test_compare_bounds(void **state)
{
	static struct load l;
	static char yaml[8192];

	(void)state;
	make_list(yaml, sizeof(yaml), "compare:\n  headers:\n", "    - x-h",
		  "\n", ST_REPLAY_MAX_COMPARE_HEADERS);
	load_yaml(&l, yaml);
	expect_loaded(&l);
	assert_int_equal(l.conf.compare.nb_headers,
			 ST_REPLAY_MAX_COMPARE_HEADERS);
	make_list(yaml, sizeof(yaml), "compare:\n  headers:\n", "    - x-h",
		  "\n", ST_REPLAY_MAX_COMPARE_HEADERS + 1);
	load_yaml(&l, yaml);
	expect_failure(&l, ST_REPLAY_MAX_COMPARE_HEADERS + 3,
		       (const char *const[3]){ "at most 32 compare.headers" });

	make_list(yaml, sizeof(yaml), "compare:\n  noise:\n",
		  "    - {ignore: true, path: $.f", "}\n", ST_REPLAY_MAX_NOISE);
	load_yaml(&l, yaml);
	expect_loaded(&l);
	assert_int_equal(l.conf.compare.nb_noise, ST_REPLAY_MAX_NOISE);
	assert_string_equal(l.conf.compare.noise[63].path, "$.f63");
	make_list(yaml, sizeof(yaml), "compare:\n  noise:\n",
		  "    - {ignore: true, path: $.f", "}\n",
		  ST_REPLAY_MAX_NOISE + 1);
	load_yaml(&l, yaml);
	expect_failure(&l, ST_REPLAY_MAX_NOISE + 3,
		       (const char *const[3]){ "at most 64 compare.noise" });

	/* A path of ST_REPLAY_PATH_MAX - 1 characters, then one more. */
	memset(yaml, 0, sizeof(yaml));
	strcpy(yaml, "compare: {noise: [{ignore: true, path: $.");
	memset(yaml + strlen(yaml), 'a', ST_REPLAY_PATH_MAX - 3);
	strcat(yaml, "}]}\n");
	load_yaml(&l, yaml);
	expect_loaded(&l);
	assert_int_equal(strlen(l.conf.compare.noise[0].path),
			 ST_REPLAY_PATH_MAX - 1);
	memset(yaml, 0, sizeof(yaml));
	strcpy(yaml, "compare: {noise: [{ignore: true, path: $.");
	memset(yaml + strlen(yaml), 'a', ST_REPLAY_PATH_MAX - 2);
	strcat(yaml, "}]}\n");
	load_yaml(&l, yaml);
	expect_failure(&l, 1,
		       (const char *const[3]){ "compare.noise[0].path",
					       "longer than 255 characters" });
}

static const char appliance_yaml[] =
	"ports: {client: 0, server: 1}\n"
	"mirrors:\n"
	"  - {name: shadow, port: 2}\n"
	"routes:\n"
	"  - name: health\n"
	"    match: {path: ^/healthz$}\n"
	"    mirror: none\n"
	"  - name: api\n"
	"    match: {path: ^/api/}\n"
	"    mirror: shadow\n"
	"http:\n"
	"  ports: [8080, 80]\n"
	"  max_head_bytes: 2048\n";

static void
test_routes_from(void **state)
{
	static const char *const names[] = { "replay.yaml", "appliance.yaml",
					     NULL };
	static struct load l;
	const struct st_config *routes = &l.conf.routes;
	char appliance[128];

	(void)state;
	make_dir(&l);
	write_file(l.dir, "appliance.yaml", appliance_yaml);
	/* Relative to the replay file's directory, whatever the working
	 * directory is. */
	load_file(&l, "routes_from: appliance.yaml\n"
		      "shadow: {url: 'http://[::1]:9000'}\n"
		      "compare:\n"
		      "  noise: [{path: $.x, route: api, ignore: true}]\n");
	expect_loaded(&l);
	/* Noise rules name the routes of that file. */
	assert_int_equal(l.conf.compare.noise[0].route, 1);
	snprintf(appliance, sizeof(appliance), "%s/appliance.yaml", l.dir);
	assert_string_equal(routes->path, appliance);
	assert_int_equal(routes->nb_routes, 2);
	assert_string_equal(routes->routes[0].name, "health");
	assert_string_equal(routes->routes[1].name, "api");
	assert_int_equal(routes->http.nb_ports, 2);
	assert_int_equal(routes->http.ports[0], 8080);
	assert_int_equal(routes->http.ports[1], 80);
	assert_int_equal(routes->http.max_head_bytes, 2048);
	/* The health check mirrors nothing: it is not replayed either. */
	assert_int_equal(l.conf.replayed, 2);

	/* A mistake in that file: both files are named. */
	write_file(l.dir, "appliance.yaml", "ports: {client: 0, server: 1}\n"
					    "flow_table: {size: 1}\n");
	load_file(&l,
		  "shadow: {url: 'http://h'}\nroutes_from: appliance.yaml\n");
	expect_failure(&l, 2,
		       (const char *const[3]){ "routes_from: ", appliance,
					       ":2: flow_table.size" });

	/* A file that is not there. */
	load_file(&l, "routes_from: ../nowhere.yaml\n");
	assert_int_equal(l.ret, -ENOENT);
	expect_contains(l.err, "routes_from: ");
	expect_contains(l.err, "/../nowhere.yaml: No such file");
	remove_dir(&l, names);
}

/* Each error names the file, the line and the key. */
static const struct {
	const char *yaml;
	int line;
	const char *words[3];
} bad_files[] = {
    {"shadow: {url: 'http://h'}\nshadows: {}\n",
     2,
     {"the top level", "unknown key 'shadows'"}},
    {"shadow:\n  url: http://h\n  timeout: 5\n",
     3,
     {"shadow: unknown key 'timeout'"}},
    {"limits:\n  max_pending: 1\n  max_pending: 2\n",
     3,
     {"limits: key 'max_pending' given twice"}},
    {"capture:\n  decap: mpls\n",
     2,
     {"capture.decap", "'mpls'", "auto, none, vlan, vxlan, gre, erspan"}},
    {"capture: {bpf: 'tcp port'}\n", 1, {"capture.bpf", "'tcp port'"}},
    {"capture: {snaplen: 20}\n",
     1,
     {"capture.snaplen", "out of range 68..262144"}},
    {"limits:\n  max_total_bytes: 1048576.5\n",
     2,
     {"limits.max_total_bytes", "not a whole number"}},
    {"limits:\n  idle_timeout_ms: -1\n",
     2,
     {"limits.idle_timeout_ms", "out of range"}},
    {"limits:\n  hole_timeout_ms: 0\n",
     2,
     {"limits.hole_timeout_ms", "out of range 1..60000"}},

    /* shadow */
    {"shadow:\n  connections: 2\n", 2, {"shadow: 'url' is required"}},
    {"shadow:\n  url: ftp://h/x\n",
     2,
     {"shadow.url", "'ftp://h/x'", "http:// or https://"}},
    {"shadow:\n  url: localhost:8080\n", 2, {"shadow.url"}},
    {"shadow:\n  url: 'http://'\n", 2, {"shadow.url", "'http://'"}},
    {"shadow:\n  url: http://h/p?q=1\n",
     2,
     {"shadow.url", "no query or fragment"}},
    {"shadow:\n  url: http://h:99999\n", 2, {"shadow.url"}},
    {"shadow:\n  url: http://h\n  host: a\n  host_suffix: -b\n",
     4,
     {"shadow: give host (line 3) or host_suffix, not both"}},
    {"shadow:\n  url: http://h\n  host: a b\n",
     3,
     {"shadow.host", "'a b'", "spaces"}},
    {"shadow:\n  url: http://h\n  mark_value: \"a\\r\\nb: c\"\n",
     3,
     {"shadow.mark_value", "control characters"}},
    {"shadow:\n  url: http://h\n  mark_header: 'x replay'\n",
     3,
     {"shadow.mark_header", "not a header name"}},
    {"shadow:\n  url: http://h\n  connections: 0\n",
     3,
     {"shadow.connections", "out of range 1..1024"}},

    /* secondary: the checks of shadow, under its own name */
    {"secondary:\n  connections: 2\n", 2, {"secondary: 'url' is required"}},
    {"secondary:\n  url: http://h\n  timeout: 5\n",
     3,
     {"secondary: unknown key 'timeout'"}},
    {"secondary:\n  url: ftp://h/x\n",
     2,
     {"secondary.url", "'ftp://h/x'", "http:// or https://"}},
    {"secondary:\n  url: http://h\n  host: a\n  host_suffix: -b\n",
     4,
     {"secondary: give host (line 3) or host_suffix, not both"}},
    {"secondary:\n  url: http://h\n  host_suffix: a b\n",
     3,
     {"secondary.host_suffix", "spaces"}},
    {"secondary:\n  url: http://h\n  mark_header: 'x replay'\n",
     3,
     {"secondary.mark_header", "not a header name"}},
    {"secondary:\n  url: http://h\n  max_in_flight: 0\n",
     3,
     {"secondary.max_in_flight", "out of range 1..1000000"}},
    {"shadow: {url: 'http://h:1'}\nsecondary:\n  url: http://h:1\n",
     3,
     {"secondary.url", "'http://h:1' is shadow.url too"}},

    /* compare */
    {"compare:\n  max_sample: 3\n",
     2,
     {"compare: unknown key 'max_sample'"}},
    {"compare:\n  max_samples: 17\n",
     2,
     {"compare.max_samples", "out of range 0..16"}},
    {"compare:\n  max_differences: 0\n",
     2,
     {"compare.max_differences", "out of range 1..1024"}},
    {"compare:\n  headers: [content-type, Content-Type]\n",
     2,
     {"compare.headers", "'content-type' is listed twice"}},
    {"compare:\n  headers: ['a:b']\n",
     2,
     {"compare.headers", "'a:b' is not a header name"}},
    {"compare:\n  noise: {path: $.a}\n",
     2,
     {"compare.noise must be a list"}},
    {"compare:\n  gate: 5\n", 2, {"compare.gate must be a mapping"}},

    /* compare.gate */
    {"compare:\n  gate:\n    max_p99: 2\n",
     3,
     {"compare.gate: unknown key 'max_p99'"}},
    {"compare:\n  gate:\n    min_exchanges: 0\n",
     3,
     {"compare.gate.min_exchanges", "out of range 1..1000000000"}},
    {"compare:\n  gate:\n    min_exchanges: 1.5\n",
     3,
     {"compare.gate.min_exchanges", "not a whole number"}},
    {"compare:\n  gate:\n    max_p99_ratio: 0.9\n",
     3,
     {"compare.gate.max_p99_ratio", "out of range 1..1000"}},
    {"compare:\n  gate:\n    min_p99_drift_ms: -1\n",
     3,
     {"compare.gate.min_p99_drift_ms", "out of range 0..3600000"}},
    {"compare:\n  gate:\n    max_error_rate_delta: 5\n",
     3,
     {"compare.gate.max_error_rate_delta", "out of range 0..1",
      "(a fraction: 0.01 is 1%)"}},
    {"compare:\n  gate:\n    max_mismatch_rate: 1%\n",
     3,
     {"compare.gate.max_mismatch_rate", "'1%' is not a number",
      "(a fraction: 0.01 is 1%)"}},

    /* compare.noise */
    {"compare:\n  noise:\n    - path: $.a\n      ignore: true\n"
     "      when: always\n",
     5,
     {"compare.noise[0]: unknown key 'when'"}},
    {"compare:\n  noise:\n    - {path: $.a, ignore: true}\n"
     "    - path: $.b\n      ignore: true\n      tolerance: 1\n",
     4,
     {"compare.noise[1]: one action per rule", "ignore, tolerance"}},
    {"compare:\n  noise:\n    - {path: $.a}\n",
     3,
     {"compare.noise[0]: no action", "ignore, presence, tolerance or "
				     "pattern"}},
    {"compare:\n  noise:\n    - path: $.a\n      ignore: false\n",
     4,
     {"compare.noise[0].ignore: must be true"}},
    {"compare:\n  noise:\n    - path: $.a\n      presence: yes\n",
     4,
     {"compare.noise[0].presence", "'yes' is not true or false"}},
    {"compare:\n  noise:\n    - path: $.a\n      tolerance: -0.5\n",
     4,
     {"compare.noise[0].tolerance", "-0.5 is out of range 0.."}},
    {"compare:\n  noise:\n    - path: $.a\n      pattern: '(x'\n",
     4,
     {"compare.noise[0].pattern", "'(x'"}},
    {"compare:\n  noise:\n    - path: $.a\n      header: etag\n"
     "      ignore: true\n",
     4,
     {"compare.noise[0]: give path (line 3) or header, not both"}},
    {"compare:\n  noise:\n    - ignore: true\n",
     3,
     {"compare.noise[0]: 'path' or 'header' is required"}},
    {"compare:\n  noise:\n    - header: 'a b'\n      ignore: true\n",
     3,
     {"compare.noise[0].header", "'a b' is not a header name"}},
    {"compare:\n  noise:\n    - path: $.items[3].price\n"
     "      ignore: true\n",
     3,
     {"compare.noise[0].path", "'$.items[3].price'",
      "every array index is written [*]"}},
    {"compare:\n  noise:\n    - path: $.items[-1]\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "every array index is written [*]"}},
    {"compare:\n  noise:\n    - path: items.price\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "'items.price' does not start with '$'"}},
    {"compare:\n  noise:\n    - path: $.a..b\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "'$.a..b'", "expected after '$.a'"}},
    {"compare:\n  noise:\n    - path: $.content-type\n"
     "      ignore: true\n",
     3,
     {"compare.noise[0].path", "expected after '$.content'"}},
    {"compare:\n  noise:\n    - path: $items\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "expected after '$'"}},
    {"compare:\n  noise:\n    - path: '$.a[\"b]'\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "expected after '$.a'"}},
    {"compare:\n  noise:\n    - path: '$[\"a\\qb\"]'\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "expected after '$'"}},
    {"compare:\n  noise:\n    - path: $.a[*\n      ignore: true\n",
     3,
     {"compare.noise[0].path", "expected after '$.a'"}},
    {"routes:\n  - {name: api, match: {}}\ncompare:\n  noise:\n"
     "    - path: $.a\n      route: apy\n      ignore: true\n",
     6,
     {"compare.noise[0].route: no route named 'apy'"}},
    {"compare:\n  noise:\n    - {path: $.a, route: api, ignore: true}\n",
     3,
     {"compare.noise[0].route: no route named 'api'"}},
    {"compare:\n  noise:\n    - {path: $.a, ignore: true}\n"
     "    - {path: '$[\"a\"]', presence: true}\n",
     4,
     {"compare.noise[1]: '$.a' has a rule already (line 3)"}},
    {"compare:\n  noise:\n    - {header: ETag, ignore: true}\n"
     "    - {header: etag, ignore: true}\n",
     4,
     {"compare.noise[1]: 'etag' has a rule already (line 3)"}},

    /* sanitize */
    {"sanitize:\n  patterns:\n    - 'ok[0-9]+'\n    - '(unclosed'\n",
     4,
     {"sanitize.patterns", "'(unclosed'"}},
    {"sanitize:\n  patterns: ['a*']\n",
     2,
     {"sanitize.patterns", "'a*' matches the empty string"}},
    {"sanitize:\n  drop_headers: [cookie, Cookie]\n",
     2,
     {"sanitize.drop_headers", "'cookie' is listed twice"}},
    {"sanitize:\n  drop_headers: 'cookie'\n",
     2,
     {"sanitize.drop_headers must be a list"}},
    {"sanitize:\n  replace_headers:\n    'a:b': x\n",
     3,
     {"sanitize.replace_headers", "'a:b' is not a header name"}},
    {"sanitize:\n  replace_headers: [a]\n",
     2,
     {"sanitize.replace_headers must map header names to values"}},

    /* routes */
    {"routes:\n  - name: r\n    allow_writes: true\n",
     2,
     {"route 'r': 'match' is required"}},
    {"routes:\n  - name: r\n    match: {methods: [GET, POST]}\n",
     2,
     {"route 'r' would replay POST", "'allow_writes: true'"}},
    {"routes:\n  - name: r\n    match: {path: /a}\n    mirrors: x\n",
     4,
     {"routes[0]", "unknown key 'mirrors'"}},
    {"routes:\n  - {name: r, match: {}}\n  - {name: r, match: {}}\n",
     3,
     {"route 'r' is defined twice (first at line 2)"}},
    {"routes:\n  - {name: r, match: {}}\nroutes_from: a.yaml\n",
     3,
     {"routes_from", "remove 'routes' (line 2)"}},
    {"http: {ports: [80]}\nroutes_from: a.yaml\n",
     2,
     {"routes_from", "remove 'http' (line 1)"}},
    {"http: {ports: [80, 80]}\n", 1, {"http.ports: 80 is listed twice"}},

    /* YAML itself */
    {"shadow: [\n", 2, {"YAML syntax"}},
    {"# only a comment\n", 1, {"the file is empty"}},
    {"- a\n", 1, {"the top level must be a mapping"}},
};

static void
test_errors(void **state)
{
	static struct load l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		print_message("--- bad file %zu\n", i);
		load_yaml(&l, bad_files[i].yaml);
		expect_failure(&l, bad_files[i].line, bad_files[i].words);
	}
}

/* examples/replay.yaml, which documents every key, loads as it is. */
static void
test_example(void **state)
{
	static struct load l;
	char why[1024] = "";

	(void)state;
	l.ret = st_replay_conf_load(ST_EXAMPLE_REPLAY, &l.conf, why,
				    sizeof(why));
	if (l.ret != 0)
		fail_msg("%s: %s", ST_EXAMPLE_REPLAY, why);
	assert_true(l.conf.has_shadow);
	assert_true(l.conf.routes.nb_routes > 0);
	assert_true(l.conf.replayed != 0);
	/* It shows noise rules, one of them for a route. */
	assert_true(l.conf.compare.nb_noise > 0);
	assert_true(l.conf.compare.line > 0);
	assert_true(l.conf.compare.gate.line > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_mirror_and_percent_ignored),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_compare_partial),
		cmocka_unit_test(test_compare_bounds),
		cmocka_unit_test(test_routes_from),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
