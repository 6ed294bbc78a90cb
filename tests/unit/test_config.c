/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the configuration loader: st_config_load() on YAML written
 * to temporary files, and st_config_resolve() against three net_null ports
 * of a minimal EAL.
 */

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "eal_fixture.h"

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ethdev.h>

#include "config.h"

/* One load of a YAML text. */
struct load {
	int ret;
	char path[64];
	char err[512];
	struct st_config cfg;
};

/* Write @p yaml to a fresh temporary file named in @p path (64 bytes). */
static void
write_temp(char *path, const char *yaml)
{
	size_t len = strlen(yaml);
	int fd;

	snprintf(path, 64, "/tmp/st_config_XXXXXX.yaml");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, len), len);
	assert_int_equal(close(fd), 0);
}

static void
load_yaml(struct load *l, const char *yaml)
{
	write_temp(l->path, yaml);
	memset(l->err, 0, sizeof(l->err));
	l->ret = st_config_load(l->path, &l->cfg, l->err, sizeof(l->err));
	assert_int_equal(unlink(l->path), 0);
}

static void
expect_contains(const char *text, const char *word)
{
	if (strstr(text, word) == NULL)
		fail_msg("'%s' is not in \"%s\"", word, text);
}

/* The load or resolve in @p l failed with @p ret, and its message reads
 * "PATH:LINE: ..." with each of the (up to 3, NULL-terminated) @p words. */
static void
expect_failure(const struct load *l, int got, int ret, int line,
	       const char *const words[3])
{
	char prefix[96];
	unsigned int i;

	print_message("%s\n", l->err);
	assert_int_equal(got, ret);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", l->path, line);
	if (strncmp(l->err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", l->err, prefix);
	for (i = 0; i < 3 && words[i] != NULL; i++)
		expect_contains(l->err, words[i]);
}

static void
expect_loaded(const struct load *l)
{
	if (l->ret != 0)
		fail_msg("load failed (%d): %s", l->ret, l->err);
}

/* --- files that load ---------------------------------------------------- */

static const char minimal_yaml[] =
	"# shadowtap: one port pair, two mirrors\n"	/* 1 */
	"ports:\n"					/* 2 */
	"  client: 0\n"					/* 3 */
	"  server: net_null1\n"				/* 4 */
	"mirrors:\n"					/* 5 */
	"  - name: shadow-a\n"				/* 6 */
	"    port: 2\n"					/* 7 */
	"    percent: 12.5\n"				/* 8 */
	"  - name: v2.canary_1\n"			/* 9 */
	"    port: 0000:3b:00.0\n";			/* 10 */

static void
test_load_minimal(void **state)
{
	static struct load l;
	const struct st_config *cfg = &l.cfg;

	(void)state;
	load_yaml(&l, minimal_yaml);
	expect_loaded(&l);
	assert_string_equal(cfg->path, l.path);

	/* A number is a port id, anything else a device name. */
	assert_string_equal(cfg->client.devname, "");
	assert_int_equal(cfg->client.port_id, 0);
	assert_int_equal(cfg->client.line, 3);
	assert_string_equal(cfg->server.devname, "net_null1");
	assert_int_equal(cfg->server.line, 4);

	assert_int_equal(cfg->nb_mirrors, 2);
	assert_string_equal(cfg->mirrors[0].name, "shadow-a");
	assert_string_equal(cfg->mirrors[0].port.devname, "");
	assert_int_equal(cfg->mirrors[0].port.port_id, 2);
	assert_int_equal(cfg->mirrors[0].port.line, 7);
	assert_true(cfg->mirrors[0].percent == 12.5);
	assert_int_equal(cfg->mirrors[0].line, 6);
	assert_string_equal(cfg->mirrors[1].name, "v2.canary_1");
	assert_string_equal(cfg->mirrors[1].port.devname, "0000:3b:00.0");
	assert_true(cfg->mirrors[1].percent == 100.0);
	assert_int_equal(cfg->mirrors[1].line, 9);

	assert_int_equal(cfg->flow_table.size, 65536);
	assert_int_equal(cfg->flow_table.idle_timeout_s, 120);
}

static void
test_load_flow_table_and_limits(void **state)
{
	static struct load l;
	const struct st_config *cfg = &l.cfg;
	char yaml[256];

	(void)state;
	load_yaml(&l,
		  "ports: {client: \"3\", server: 4}\n"
		  "flow_table:\n"
		  "  size: 64\n"
		  "  idle_timeout_s: 86400\n"
		  "mirrors:\n"
		  "  - name: abcdefghijklmnopqrstuvwxyz01234\n"	/* 31 */
		  "    port: 2\n"
		  "    percent: 0\n"
		  "  - name: b\n"
		  "    port: 5\n"
		  "    percent: 100\n"
		  "  - name: c\n"
		  "    port: 6\n"
		  "    percent: 0.001\n");
	expect_loaded(&l);
	assert_int_equal(cfg->client.port_id, 3);
	assert_int_equal(cfg->server.port_id, 4);
	assert_int_equal(cfg->flow_table.size, 64);
	assert_int_equal(cfg->flow_table.idle_timeout_s, 86400);
	assert_int_equal(cfg->nb_mirrors, 3);
	assert_string_equal(cfg->mirrors[0].name,
			    "abcdefghijklmnopqrstuvwxyz01234");
	assert_true(cfg->mirrors[0].percent == 0.0);
	assert_true(cfg->mirrors[1].percent == 100.0);
	assert_true(cfg->mirrors[2].percent == 0.001);

	/* The other ends of the ranges. */
	snprintf(yaml, sizeof(yaml),
		 "ports:\n"
		 "  client: %u\n"
		 "  server: 0\n"
		 "flow_table:\n"
		 "  size: 16777216\n"
		 "  idle_timeout_s: 1\n", RTE_MAX_ETHPORTS - 1);
	load_yaml(&l, yaml);
	expect_loaded(&l);
	assert_int_equal(cfg->client.port_id, RTE_MAX_ETHPORTS - 1);
	assert_int_equal(cfg->flow_table.size, 1u << 24);
	assert_int_equal(cfg->flow_table.idle_timeout_s, 1);
	assert_int_equal(cfg->nb_mirrors, 0);
}

/* Eight mirrors are allowed, a ninth is not (see bad_configs). */
#define MIRROR(n) "  - name: m" #n "\n    port: " #n "\n"
#define EIGHT_MIRRORS \
	MIRROR(2) MIRROR(3) MIRROR(4) MIRROR(5) \
	MIRROR(6) MIRROR(7) MIRROR(8) MIRROR(9)
#define PORTS "ports:\n  client: 0\n  server: 1\n"	/* lines 1-3 */

static void
test_load_eight_mirrors(void **state)
{
	static struct load l;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n" EIGHT_MIRRORS);
	expect_loaded(&l);
	assert_int_equal(l.cfg.nb_mirrors, ST_MAX_MIRRORS);
	assert_string_equal(l.cfg.mirrors[7].name, "m9");
	assert_int_equal(l.cfg.mirrors[7].port.port_id, 9);
	assert_int_equal(l.cfg.mirrors[7].line, 19);
}

/* --- files that do not -------------------------------------------------- */

#define MIRROR_A "mirrors:\n  - name: a\n    port: 2\n"	/* lines 4-6 */

static const struct bad_config {
	const char *yaml;
	int line;
	const char *words[3];
} bad_configs[] = {
	/* Unknown keys: a typo must not be silently ignored. */
	{ PORTS "mirror:\n  - name: a\n", 4,
	  { "top level", "unknown key 'mirror'" } },
	{ "ports:\n  client: 0\n  server: 1\n  sever: 2\n", 4,
	  { "ports", "unknown key 'sever'" } },
	{ PORTS MIRROR_A "    precent: 10\n", 7,
	  { "mirrors[0]", "unknown key 'precent'" } },
	{ PORTS "flow_table:\n  size: 1024\n  idle_timeout: 5\n", 6,
	  { "flow_table", "unknown key 'idle_timeout'" } },
	{ PORTS "? [a, b]\n: 1\n", 4, { "keys must be plain" } },

	/* Keys given twice. */
	{ "ports:\n  client: 0\n  server: 1\n  client: 2\n", 4,
	  { "ports", "'client'", "twice" } },
	{ PORTS "ports:\n  client: 2\n  server: 3\n", 4,
	  { "'ports'", "twice" } },
	{ PORTS MIRROR_A "    name: b\n", 7, { "'name'", "twice" } },

	/* Missing or misshapen sections. */
	{ "mirrors:\n  - name: a\n    port: 2\n", 1,
	  { "'ports'", "required" } },
	{ "ports:\n  server: 1\n", 2, { "'client'", "required" } },
	{ "ports:\n  client: 0\n", 2, { "'server'", "required" } },
	{ "ports: 0\n", 1, { "ports", "mapping" } },
	{ "- ports\n", 1, { "top level", "mapping" } },
	{ "ports:\n  client: [0]\n  server: 1\n", 2,
	  { "ports.client", "value" } },
	{ "ports:\n  client: 0\n  server:\n", 3, { "ports.server", "value" } },
	{ PORTS "mirrors:\n  name: a\n  port: 2\n", 5, { "mirrors", "list" } },
	{ PORTS "mirrors: a\n", 4, { "mirrors", "list" } },
	{ PORTS "mirrors:\n  - a\n", 5, { "mirrors[0]", "mapping" } },
	{ PORTS "flow_table: 1024\n", 4, { "flow_table", "mapping" } },

	/* Ports. */
	{ "ports:\n  client: " RTE_STR(RTE_MAX_ETHPORTS) "\n  server: 1\n", 2,
	  { "ports.client", "out of range" } },
	{ PORTS "mirrors:\n  - name: a\n    port: 99999999999999999999999\n",
	  6, { "mirror 'a'", "out of range" } },
	{ "ports:\n  client: 0\n  server: "
	  "d123456789012345678901234567890123456789012345678901234567890123\n",
	  3, { "ports.server", "too long" } },

	/* Percentages. */
	{ PORTS MIRROR_A "    percent: 150\n", 7,
	  { "mirror 'a'", "150", "out of range" } },
	{ PORTS MIRROR_A "    percent: -1\n", 7, { "-1", "out of range" } },
	{ PORTS MIRROR_A "    percent: 100.001\n", 7, { "out of range" } },
	{ PORTS MIRROR_A "    percent: abc\n", 7,
	  { "mirror 'a'", "'abc'", "not a number" } },
	{ PORTS MIRROR_A "    percent: 12.5%\n", 7, { "not a number" } },
	{ PORTS MIRROR_A "    percent: nan\n", 7, { "not a number" } },
	{ PORTS MIRROR_A "    percent: inf\n", 7, { "not a number" } },
	{ PORTS MIRROR_A "    percent: \"\"\n", 7, { "value" } },

	/* Mirror names. */
	{ PORTS "mirrors:\n  - port: 2\n    percent: 10\n", 5,
	  { "mirrors[0]", "'name' is required" } },
	{ PORTS "mirrors:\n  - name: a\n    percent: 10\n", 5,
	  { "mirror 'a'", "'port' is required" } },
	{ PORTS MIRROR_A "  - name: a\n    port: 3\n", 7,
	  { "'a'", "twice", "line 5" } },
	{ PORTS "mirrors:\n  - name: a b\n    port: 2\n", 5,
	  { "'a b'", "only letters" } },
	{ PORTS "mirrors:\n  - name: shadow/a\n    port: 2\n", 5,
	  { "'shadow/a'", "only letters" } },
	{ PORTS "mirrors:\n  - name: \"a\\u00e9\"\n    port: 2\n", 5,
	  { "only letters" } },
	{ PORTS "mirrors:\n  - name: abcdefghijklmnopqrstuvwxyz012345\n"
	  "    port: 2\n", 5, { "longer than 31" } },
	{ PORTS "mirrors:\n" EIGHT_MIRRORS MIRROR(10), 21,
	  { "at most 8 mirrors" } },

	/* Flow table. */
	{ PORTS "flow_table:\n  size: 63\n", 5,
	  { "flow_table.size", "out of range" } },
	{ PORTS "flow_table:\n  size: 16777217\n", 5,
	  { "flow_table.size", "out of range" } },
	{ PORTS "flow_table:\n  size: 1024.5\n", 5,
	  { "flow_table.size", "whole number" } },
	{ PORTS "flow_table:\n  size: big\n", 5,
	  { "flow_table.size", "not a number" } },
	{ PORTS "flow_table:\n  idle_timeout_s: 0\n", 5,
	  { "flow_table.idle_timeout_s", "out of range" } },
	{ PORTS "flow_table:\n  idle_timeout_s: 86401\n", 5,
	  { "flow_table.idle_timeout_s", "out of range" } },

	/* Routes (MIRROR_A is lines 4-6, "routes:" line 7, the route 8-). */
	{ PORTS MIRROR_A "routes:\n  - name: w\n    match: { methods: [GET, "
	  "POST, DELETE] }\n    mirror: a\n", 8,
	  { "route 'w' would mirror POST, DELETE", "allow_writes: true" } },
	{ PORTS MIRROR_A "routes:\n  - name: w\n    match: { methods: [put] }"
	  "\n    mirror: [a]\n    allow_writes: false\n", 8,
	  { "would mirror PUT" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: b\n", 9,
	  { "route 'r'", "no mirror named 'b'" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: [a, c]\n", 9,
	  { "no mirror named 'c'" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: []\n", 9,
	  { "route 'r'", "a list of names, or none" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "  - name: r\n    mirror: none\n", 10,
	  { "route 'r' is defined twice", "line 8" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n", 8,
	  { "route 'r'", "'mirror' is required" } },
	{ PORTS MIRROR_A "routes:\n  - mirror: a\n", 8,
	  { "routes[0]", "'name' is required" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    match: { methods: [FETCH] }\n", 10,
	  { "route 'r'", "unknown method 'FETCH'" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    match: { methods: [] }\n", 10, { "methods must be a list" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    match: { verb: GET }\n", 10, { "unknown key 'verb'" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    match: { header: { \"x y\": a } }\n", 10,
	  { "'x y' is not a header name" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    match: { header: { X-A: a, x-a: b } }\n", 10,
	  { "header 'x-a' given twice" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    allow_writes: yes\n", 10, { "'yes' is not true or false" } },
	{ PORTS MIRROR_A "routes:\n  - name: r\n    mirror: a\n"
	  "    percent: 101\n", 10, { "route 'r'", "out of range" } },
	{ PORTS MIRROR_A "routes:\n  name: r\n", 8, { "list of routes" } },
	{ PORTS "http:\n  max_head_bytes: 63\n", 5,
	  { "http.max_head_bytes", "out of range" } },

	/* Not YAML, or nothing at all. */
	{ "ports:\n  client: 0\n\tserver: 1\n", 3, { "YAML" } },
	{ PORTS "mirrors: [a\n", 5, { "YAML" } },
	{ "", 1, { "empty" } },
	{ "# nothing here\n\n", 1, { "empty" } },
};

static void
test_load_errors(void **state)
{
	static struct load l;
	unsigned int i;

	(void)state;
	for (i = 0; i < RTE_DIM(bad_configs); i++) {
		load_yaml(&l, bad_configs[i].yaml);
		expect_failure(&l, l.ret, -EINVAL, bad_configs[i].line,
			       bad_configs[i].words);
	}
}

/* Routes: the model, the safe defaults for methods and percents. */
static void
test_load_routes(void **state)
{
	static struct load l;
	const struct st_route_conf *r = l.cfg.routes;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n  - name: a\n    port: 2\n"
		  "  - name: b\n    port: 3\n    percent: 5\n"
		  "routes:\n"
		  "  - name: health\n    match: { path: \"^/healthz\" }\n"
		  "    mirror: none\n"
		  "  - name: reads\n"
		  "    match: { host: h, header: { X-Rollout: \"^s$\" } }\n"
		  "    mirror: a\n"
		  "  - name: both\n    match: { methods: [get, HEAD] }\n"
		  "    mirror: [a, b]\n    percent: 12.5\n"
		  "  - name: orders\n    match: { methods: [POST] }\n"
		  "    mirror: b\n    allow_writes: true\n"
		  "  - name: any\n    mirror: a\n    allow_writes: true\n");
	expect_loaded(&l);
	assert_int_equal(l.cfg.nb_routes, 5);
	/* Once routes exist, a mirror's unsaid percent is 0. */
	assert_true(l.cfg.mirrors[0].percent == 0.0);
	assert_true(l.cfg.mirrors[1].percent == 5.0);
	assert_int_equal(l.cfg.http.max_head_bytes, 4096);

	assert_int_equal(r[0].mirrors, 0);
	assert_int_equal(r[0].methods, ST_HTTP_ALL_METHODS);
	assert_string_equal(r[0].path.pattern, "^/healthz");
	assert_int_equal(r[0].path.line, 12);
	assert_true(r[0].percent == 100.0);

	/* A mirroring route that names no method takes only reads. */
	assert_int_equal(r[1].methods,
			 ST_HTTP_ALL_METHODS & ~ST_HTTP_WRITE_METHODS);
	assert_string_equal(r[1].host.pattern, "h");
	assert_int_equal(r[1].nb_headers, 1);
	assert_string_equal(r[1].headers[0].name, "x-rollout");
	assert_string_equal(r[1].headers[0].value.pattern, "^s$");

	assert_int_equal(r[2].methods,
			 (1u << ST_HTTP_GET) | (1u << ST_HTTP_HEAD));
	assert_int_equal(r[2].mirrors, 3);
	assert_true(r[2].percent == 12.5);

	assert_int_equal(r[3].methods, 1u << ST_HTTP_POST);
	assert_true(r[3].allow_writes);
	assert_int_equal(r[4].methods, ST_HTTP_ALL_METHODS);
	assert_string_equal(st_http_method_name(ST_HTTP_PATCH), "PATCH");
	assert_null(st_http_method_name(ST_HTTP_METHODS));
}

/* A range in a message is the real one, not a rounded float. */
static void
test_load_range_message(void **state)
{
	static const char *const words[] = { "64..16777216", NULL, NULL };
	static struct load l;

	(void)state;
	load_yaml(&l, PORTS "flow_table:\n  size: 63\n");
	expect_failure(&l, l.ret, -EINVAL, 5, words);
}

static void
test_load_missing_file(void **state)
{
	static struct st_config cfg;
	const char *path = "/nonexistent/shadowtap.yaml";
	char err[256] = "";

	(void)state;
	assert_int_equal(st_config_load(path, &cfg, err, sizeof(err)),
			 -ENOENT);
	expect_contains(err, path);
}

/* A short error buffer gets a truncated, terminated message. */
static void
test_load_short_error_buffer(void **state)
{
	static struct st_config cfg;
	char path[64], err[8];

	(void)state;
	write_temp(path, "ports: 0\n");
	memset(err, 'x', sizeof(err));
	assert_int_equal(st_config_load(path, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(strnlen(err, sizeof(err)), sizeof(err) - 1);
	assert_memory_equal(err, path, sizeof(err) - 1);

	memset(err, 'x', sizeof(err));
	assert_int_equal(st_config_load("/nonexistent/x.yaml", &cfg, err,
					sizeof(err)), -ENOENT);
	assert_int_equal(strnlen(err, sizeof(err)), sizeof(err) - 1);
}

/* --- resolving ports ---------------------------------------------------- */

static int
eal_setup(void **state)
{
	static const char *const vdevs[] = { "net_null0", "net_null1",
					     "net_null2", NULL };

	(void)state;
	if (st_test_eal_init("config", vdevs) != 0)
		return -1;
	if (rte_eth_dev_count_avail() != 3) {
		print_error("expected 3 net_null ports, found %u\n",
			    rte_eth_dev_count_avail());
		return -1;
	}
	return 0;
}

static int
eal_teardown(void **state)
{
	(void)state;
	return st_test_eal_cleanup();
}

static uint16_t
port_named(const char *name)
{
	uint16_t id = UINT16_MAX;

	assert_int_equal(rte_eth_dev_get_port_by_name(name, &id), 0);
	return id;
}

/* Load (which must succeed) then resolve. */
static int
load_and_resolve(struct load *l, const char *yaml)
{
	load_yaml(l, yaml);
	expect_loaded(l);
	memset(l->err, 0, sizeof(l->err));
	return st_config_resolve(&l->cfg, l->err, sizeof(l->err));
}

static void
test_resolve_by_name_and_id(void **state)
{
	static struct load l;
	const struct st_config *cfg = &l.cfg;

	(void)state;
	assert_int_equal(load_and_resolve(&l,
					  "ports:\n"
					  "  client: net_null2\n"
					  "  server: net_null0\n"
					  "mirrors:\n"
					  "  - name: a\n"
					  "    port: net_null1\n"), 0);
	assert_int_equal(cfg->client.port_id, port_named("net_null2"));
	assert_int_equal(cfg->server.port_id, port_named("net_null0"));
	assert_int_equal(cfg->mirrors[0].port.port_id,
			 port_named("net_null1"));

	assert_int_equal(load_and_resolve(&l,
					  "ports:\n"
					  "  client: 1\n"
					  "  server: 2\n"
					  "mirrors:\n"
					  "  - name: a\n"
					  "    port: 0\n"), 0);
	assert_int_equal(cfg->client.port_id, 1);
	assert_int_equal(cfg->server.port_id, 2);
	assert_int_equal(cfg->mirrors[0].port.port_id, 0);
}

static const struct bad_resolve {
	const char *yaml;
	int ret;
	int line;
	const char *words[3];
} bad_resolves[] = {
	{ "ports:\n  client: net_null0\n  server: net_null9\n", -ENODEV, 3,
	  { "ports.server", "'net_null9'" } },
	{ PORTS "mirrors:\n  - name: a\n    port: 0000:3b:00.0\n", -ENODEV, 6,
	  { "mirror 'a'", "'0000:3b:00.0'" } },
	{ PORTS "mirrors:\n  - name: a\n    port: 7\n", -ENODEV, 6,
	  { "mirror 'a'", "port 7", "does not exist" } },
	/* One port cannot be two things, however it is written. */
	{ PORTS "mirrors:\n  - name: a\n    port: 0\n", -EINVAL, 6,
	  { "mirror 'a'", "ports.client", "line 2" } },
	{ "ports:\n  client: net_null0\n  server: 1\nmirrors:\n"
	  "  - name: a\n    port: 2\n  - name: b\n    port: 0\n", -EINVAL, 8,
	  { "mirror 'b'", "ports.client", "line 2" } },
	{ "ports:\n  client: 1\n  server: net_null1\n", -EINVAL, 3,
	  { "ports.server", "ports.client", "line 2" } },
	{ PORTS "mirrors:\n  - name: a\n    port: 2\n  - name: b\n"
	  "    port: net_null2\n", -EINVAL, 8,
	  { "mirror 'b'", "mirror 'a'", "line 6" } },
};

static void
test_resolve_errors(void **state)
{
	static struct load l;
	unsigned int i;
	int ret;

	(void)state;
	for (i = 0; i < RTE_DIM(bad_resolves); i++) {
		ret = load_and_resolve(&l, bad_resolves[i].yaml);
		expect_failure(&l, ret, bad_resolves[i].ret,
			       bad_resolves[i].line, bad_resolves[i].words);
	}
}

int
main(void)
{
	const struct CMUnitTest loading[] = {
		cmocka_unit_test(test_load_minimal),
		cmocka_unit_test(test_load_flow_table_and_limits),
		cmocka_unit_test(test_load_eight_mirrors),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_routes),
		cmocka_unit_test(test_load_range_message),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_short_error_buffer),
	};
	const struct CMUnitTest resolving[] = {
		cmocka_unit_test(test_resolve_by_name_and_id),
		cmocka_unit_test(test_resolve_errors),
	};
	int failed;

	failed = cmocka_run_group_tests_name("load", loading, NULL, NULL);
	failed += cmocka_run_group_tests_name("resolve", resolving, eal_setup,
					      eal_teardown);
	return failed;
}
