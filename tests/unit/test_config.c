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

#include <arpa/inet.h>

#include <cmocka.h>

#include "eal_fixture.h"

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ethdev.h>

#include "config.h"
#include "resolve.h"

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
	/* A bump in the wire propagates link faults unless told not to. */
	assert_true(cfg->link_propagation);
}

static void
test_load_flow_table_and_limits(void **state)
{
	static struct load l;
	const struct st_config *cfg = &l.cfg;
	char yaml[256];

	(void)state;
	load_yaml(&l,
		  "ports: {client: \"3\", server: 4, link_propagation: false}\n"
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
	assert_false(cfg->link_propagation);
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
		 "  link_propagation: true\n"
		 "flow_table:\n"
		 "  size: 16777216\n"
		 "  idle_timeout_s: 1\n", RTE_MAX_ETHPORTS - 1);
	load_yaml(&l, yaml);
	expect_loaded(&l);
	assert_int_equal(cfg->client.port_id, RTE_MAX_ETHPORTS - 1);
	assert_true(cfg->link_propagation);
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

/* The keys every IPv4 tunnel needs, as a flow mapping's tail. */
#define TUNNEL "dst_mac: \"02:00:00:00:00:02\", src_ip: 192.0.2.1, " \
	"dst_ip: 192.0.2.2"

/* An address in network byte order, as the model keeps it. */
static uint32_t
ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	return htonl((uint32_t)a << 24 | (uint32_t)b << 16 |
		     (uint32_t)c << 8 | d);
}

/* No encap given, or "none": the same model. */
static void
expect_no_encap(const struct st_mirror_conf *m, int line)
{
	assert_int_equal(m->encap.type, ST_ENCAP_NONE);
	assert_int_equal(m->encap.line, line);
	assert_int_equal(m->encap.ttl, 64);
	assert_int_equal(m->encap.dst_port, 4789);
	assert_true(m->encap.udp_checksum);
	assert_false(m->encap.has_src_mac);
	assert_false(m->encap.has_key);
}

static void
test_load_truncate_and_plain_encaps(void **state)
{
	static struct load l;
	const struct st_mirror_conf *m = l.cfg.mirrors;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n"			/* 4 */
		  "  - name: whole\n    port: 2\n"		/* 5-6 */
		  "  - name: cut\n    port: 3\n"		/* 7-8 */
		  "    truncate: 128\n"				/* 9 */
		  "    encap: none\n"				/* 10 */
		  "  - name: head\n    port: 4\n"		/* 11-12 */
		  "    truncate: 14\n"				/* 13 */
		  "    encap: {type: none}\n"			/* 14 */
		  "  - name: big\n    port: 5\n"		/* 15-16 */
		  "    truncate: 65535\n"			/* 17 */
		  "    encap: {type: vlan, vlan_id: 100, pcp: 3}\n"	/* 18 */
		  "  - name: tag\n    port: 6\n"		/* 19-20 */
		  "    truncate: 0\n"				/* 21 */
		  "    encap:\n"					/* 22 */
		  "      type: vlan\n"				/* 23 */
		  "      vlan_id: 4094\n");			/* 24 */
	expect_loaded(&l);
	assert_int_equal(l.cfg.nb_mirrors, 5);

	assert_int_equal(m[0].truncate, 0);
	expect_no_encap(&m[0], 0);
	assert_int_equal(m[1].truncate, 128);
	expect_no_encap(&m[1], 10);
	assert_int_equal(m[2].truncate, 14);
	expect_no_encap(&m[2], 14);

	assert_int_equal(m[3].truncate, 65535);
	assert_int_equal(m[3].encap.type, ST_ENCAP_VLAN);
	assert_int_equal(m[3].encap.line, 18);
	assert_int_equal(m[3].encap.vlan_id, 100);
	assert_int_equal(m[3].encap.pcp, 3);

	/* A block mapping starts on the line of its first key. */
	assert_int_equal(m[4].truncate, 0);
	assert_int_equal(m[4].encap.type, ST_ENCAP_VLAN);
	assert_int_equal(m[4].encap.line, 23);
	assert_int_equal(m[4].encap.vlan_id, 4094);
	assert_int_equal(m[4].encap.pcp, 0);
}

static void
test_load_vxlan(void **state)
{
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t src_mac[6] = { 0x02, 0xab, 0xcd, 0xef, 0, 0x01 };
	static const uint8_t group_mac[6] = { 0x01, 0, 0x5e, 0, 0, 0x01 };
	static struct load l;
	const struct st_encap_conf *e0 = &l.cfg.mirrors[0].encap;
	const struct st_encap_conf *e1 = &l.cfg.mirrors[1].encap;
	const struct st_encap_conf *e2 = &l.cfg.mirrors[2].encap;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n"			/* 4 */
		  "  - name: vpc\n"				/* 5 */
		  "    port: net_pcap3\n"			/* 6 */
		  "    encap:\n"					/* 7 */
		  "      type: vxlan\n"				/* 8 */
		  "      vni: 16777215\n"
		  "      dst_mac: \"02:00:00:00:00:02\"\n"
		  "      src_mac: 02:AB:cd:ef:00:01\n"
		  "      src_ip: 192.0.2.1\n"
		  "      dst_ip: 198.51.100.254\n"
		  "      ttl: 255\n"
		  "      dscp: 63\n"
		  "      dst_port: 65535\n"
		  "      src_port: 1\n"
		  "      udp_checksum: false\n"
		  "  - name: defaults\n    port: 4\n"		/* 19-20 */
		  "    encap: {type: vxlan, vni: 0, " TUNNEL "}\n"
		  "  - name: flow\n    port: 5\n"		/* 22-23 */
		  "    encap: {type: vxlan, vni: 1, src_port: flow, "
		  "udp_checksum: true, ttl: 1, dst_port: 1,\n"
		  "            dst_mac: \"01:00:5e:00:00:01\", "
		  "src_ip: 0.0.0.1, dst_ip: 255.255.255.255}\n");
	expect_loaded(&l);

	assert_int_equal(e0->type, ST_ENCAP_VXLAN);
	assert_int_equal(e0->line, 8);
	assert_int_equal(e0->vni, (1u << 24) - 1);
	assert_memory_equal(e0->dst_mac, dst_mac, 6);
	assert_true(e0->has_src_mac);
	assert_memory_equal(e0->src_mac, src_mac, 6);
	/* Network byte order: the bytes as written, first to last. */
	assert_int_equal(e0->src_ip, ipv4(192, 0, 2, 1));
	assert_memory_equal(&e0->dst_ip, ((uint8_t[]){ 198, 51, 100, 254 }),
			    4);
	assert_int_equal(e0->ttl, 255);
	assert_int_equal(e0->dscp, 63);
	assert_int_equal(e0->dst_port, 65535);
	assert_int_equal(e0->src_port, 1);
	assert_false(e0->udp_checksum);

	assert_int_equal(e1->type, ST_ENCAP_VXLAN);
	assert_int_equal(e1->vni, 0);
	assert_false(e1->has_src_mac);
	assert_int_equal(e1->dst_ip, ipv4(192, 0, 2, 2));
	assert_int_equal(e1->ttl, 64);
	assert_int_equal(e1->dscp, 0);
	assert_int_equal(e1->dst_port, 4789);
	assert_int_equal(e1->src_port, 0);
	assert_true(e1->udp_checksum);

	/* A flow mapping over two lines; a group dst_mac is allowed. */
	assert_int_equal(e2->line, 24);
	assert_int_equal(e2->src_port, 0);
	assert_true(e2->udp_checksum);
	assert_int_equal(e2->ttl, 1);
	assert_int_equal(e2->dst_port, 1);
	assert_memory_equal(e2->dst_mac, group_mac, 6);
	assert_int_equal(e2->src_ip, ipv4(0, 0, 0, 1));
	assert_int_equal(e2->dst_ip, ipv4(255, 255, 255, 255));
}

static void
test_load_gre_and_erspan(void **state)
{
	static struct load l;
	const struct st_mirror_conf *m = l.cfg.mirrors;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n"
		  "  - name: gre1\n    port: 2\n"
		  "    encap: {type: gre, key: 42, " TUNNEL ", dscp: 46}\n"
		  "  - name: gre2\n    port: 3\n"
		  "    encap: {type: gre, " TUNNEL "}\n"
		  "  - name: gre3\n    port: 4\n"
		  "    encap: {type: gre, key: 4294967295, " TUNNEL "}\n"
		  "  - name: span\n    port: 5\n"
		  "    encap: {type: erspan, session_id: 1023, " TUNNEL
		  ", src_mac: \"02:00:00:00:00:01\"}\n"
		  "  - name: span0\n    port: 6\n"
		  "    encap: {type: erspan, session_id: 0, " TUNNEL "}\n");
	expect_loaded(&l);

	assert_int_equal(m[0].encap.type, ST_ENCAP_GRE);
	assert_true(m[0].encap.has_key);
	assert_int_equal(m[0].encap.key, 42);
	assert_int_equal(m[0].encap.dscp, 46);
	assert_int_equal(m[0].encap.src_ip, ipv4(192, 0, 2, 1));
	assert_false(m[1].encap.has_key);
	assert_int_equal(m[1].encap.key, 0);
	assert_true(m[2].encap.has_key);
	assert_int_equal(m[2].encap.key, UINT32_MAX);

	assert_int_equal(m[3].encap.type, ST_ENCAP_ERSPAN);
	assert_int_equal(m[3].encap.session_id, 1023);
	assert_true(m[3].encap.has_src_mac);
	assert_int_equal(m[3].encap.src_mac[5], 0x01);
	assert_int_equal(m[3].encap.dst_ip, ipv4(192, 0, 2, 2));
	assert_int_equal(m[4].encap.session_id, 0);
	assert_false(m[4].encap.has_src_mac);
}

static void
test_load_http_ports(void **state)
{
	struct load l;

	(void)state;
	load_yaml(&l, PORTS "mirrors:\n  - name: a\n    port: 2\n"
		  "http:\n  max_head_bytes: 2048\n"
		  "  ports: [80, 8080, 443]\n");
	expect_loaded(&l);
	assert_int_equal(l.cfg.http.max_head_bytes, 2048);
	assert_int_equal(l.cfg.http.nb_ports, 3);
	assert_int_equal(l.cfg.http.ports[0], 80);
	assert_int_equal(l.cfg.http.ports[1], 8080);
	assert_int_equal(l.cfg.http.ports[2], 443);
}

static void
test_encap_names(void **state)
{
	static const char *const names[] = { "none", "vlan", "vxlan", "gre",
					     "erspan" };
	int t;

	(void)state;
	for (t = 0; t < ST_ENCAP_TYPES; t++)
		assert_string_equal(st_encap_name((enum st_encap_type)t),
				    names[t]);
	assert_null(st_encap_name(ST_ENCAP_TYPES));
	assert_null(st_encap_name((enum st_encap_type)-1));
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
	{ PORTS "  link_propagation: yes\n", 4,
	  { "ports.link_propagation", "'yes' is not true or false" } },
	{ PORTS "  link_propagation: [true]\n", 4,
	  { "ports.link_propagation" } },
	{ PORTS "  link_propagation: true\n  link_propagation: false\n", 5,
	  { "'link_propagation'", "twice" } },
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
	{ PORTS "http:\n  ports: [80, 0]\n", 5,
	  { "http.ports: 0 is out of range 1..65535" } },
	{ PORTS "http:\n  ports: [80, 8080, 80]\n", 5,
	  { "http.ports: 80 is listed twice" } },
	{ PORTS "http:\n  ports: 80\n", 5, { "http.ports must be a list" } },
	{ PORTS "http:\n  ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, "
	  "14, 15, 16, 17]\n", 5, { "at most 16 http.ports" } },

	/* Truncation (MIRROR_A is lines 4-6, its next key line 7). */
	{ PORTS MIRROR_A "    truncate: 13\n", 7,
	  { "mirror 'a': truncate: 13", "Ethernet header",
	    "0 (the whole frame) or 14..65535" } },
	{ PORTS MIRROR_A "    truncate: 1\n", 7, { "truncate", "14..65535" } },
	{ PORTS MIRROR_A "    truncate: 65536\n", 7,
	  { "mirror 'a': truncate", "out of range" } },
	{ PORTS MIRROR_A "    truncate: -1\n", 7,
	  { "truncate", "out of range" } },
	{ PORTS MIRROR_A "    truncate: 64.5\n", 7,
	  { "truncate", "whole number" } },
	{ PORTS MIRROR_A "    truncate: all\n", 7,
	  { "truncate", "not a number" } },
	{ PORTS MIRROR_A "    trunc: 64\n", 7, { "unknown key 'trunc'" } },

	/* Encapsulation: its type. */
	{ PORTS MIRROR_A "    encap: vxlan\n", 7,
	  { "mirror 'a': encap", "vxlan needs its settings", "{type: vxlan" } },
	{ PORTS MIRROR_A "    encap: gre\n", 7, { "gre needs its settings" } },
	{ PORTS MIRROR_A "    encap: geneve\n", 7,
	  { "mirror 'a': encap", "unknown type 'geneve'",
	    "(none, vlan, vxlan, gre, erspan)" } },
	{ PORTS MIRROR_A "    encap:\n      type: VLAN\n      vlan_id: 1\n",
	  8, { "encap", "unknown type 'VLAN'" } },
	{ PORTS MIRROR_A "    encap: [vlan]\n", 7,
	  { "mirror 'a': encap", "must be a mapping" } },
	{ PORTS MIRROR_A "    encap:\n", 7, { "encap", "must be a value" } },
	{ PORTS MIRROR_A "    encap:\n      vlan_id: 100\n", 8,
	  { "mirror 'a': encap", "'type' is required" } },
	{ PORTS MIRROR_A "    encap: {type: [vlan]}\n", 7,
	  { "encap", "must be a value" } },

	/* Keys unknown, repeated, or of another type. */
	{ PORTS MIRROR_A "    encap:\n      type: vlan\n      vlan_id: 1\n"
	  "      vlanid: 2\n", 10,
	  { "mirror 'a': encap", "unknown key 'vlanid'" } },
	{ PORTS MIRROR_A "    encap:\n      type: vlan\n      vlan_id: 1\n"
	  "      vlan_id: 2\n", 10, { "encap", "'vlan_id'", "twice" } },
	{ PORTS MIRROR_A "    encap:\n      type: vlan\n      vlan_id: 100\n"
	  "      vni: 5\n", 10, { "mirror 'a': encap: 'vni' does not apply "
				   "to vlan" } },
	{ PORTS MIRROR_A "    encap: {type: none, pcp: 1}\n", 7,
	  { "encap: 'pcp' does not apply to none" } },
	{ PORTS MIRROR_A "    encap: {type: vlan, vlan_id: 1, " TUNNEL "}\n",
	  7, { "encap: 'dst_mac' does not apply to vlan" } },
	{ PORTS MIRROR_A "    encap: {type: gre, vni: 1, " TUNNEL "}\n", 7,
	  { "encap: 'vni' does not apply to gre" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_port: 1, " TUNNEL "}\n",
	  7, { "encap: 'dst_port' does not apply to gre" } },
	{ PORTS MIRROR_A "    encap: {type: erspan, session_id: 1, key: 1, "
	  TUNNEL "}\n", 7, { "encap: 'key' does not apply to erspan" } },
	{ PORTS MIRROR_A "    encap: {type: erspan, session_id: 1, "
	  "udp_checksum: false, " TUNNEL "}\n", 7,
	  { "encap: 'udp_checksum' does not apply to erspan" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, session_id: 1, "
	  TUNNEL "}\n", 7, { "encap: 'session_id' does not apply to vxlan" } },

	/* Required keys: named at the start of the mapping. */
	{ PORTS MIRROR_A "    encap: {type: vlan, pcp: 1}\n", 7,
	  { "mirror 'a': encap", "'vlan_id' is required for vlan" } },
	{ PORTS MIRROR_A "    encap:\n      type: vxlan\n"
	  "      dst_mac: \"02:00:00:00:00:02\"\n      src_ip: 192.0.2.1\n"
	  "      dst_ip: 192.0.2.2\n", 8,
	  { "'vni' is required for vxlan" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, src_ip: 192.0.2.1, "
	  "dst_ip: 192.0.2.2}\n", 7, { "'dst_mac' is required for vxlan" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_mac: 02:00:00:00:00:02, "
	  "dst_ip: 192.0.2.2}\n", 7, { "'src_ip' is required for gre" } },
	{ PORTS MIRROR_A "    encap: {type: erspan, session_id: 1, "
	  "dst_mac: 02:00:00:00:00:02, src_ip: 192.0.2.1}\n", 7,
	  { "'dst_ip' is required for erspan" } },
	{ PORTS MIRROR_A "    encap: {type: erspan, " TUNNEL "}\n", 7,
	  { "'session_id' is required for erspan" } },

	/* Numbers out of range, on the line of the value. */
	{ PORTS MIRROR_A "    encap: {type: vlan, vlan_id: 0}\n", 7,
	  { "mirror 'a': encap.vlan_id", "out of range 1..4094" } },
	{ PORTS MIRROR_A "    encap:\n      type: vlan\n      vlan_id: 4095\n",
	  9, { "encap.vlan_id", "4095", "out of range" } },
	{ PORTS MIRROR_A "    encap: {type: vlan, vlan_id: 1, pcp: 8}\n", 7,
	  { "encap.pcp", "out of range 0..7" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 16777216, " TUNNEL
	  "}\n", 7, { "encap.vni", "out of range 0..16777215" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1.5, " TUNNEL "}\n",
	  7, { "encap.vni", "whole number" } },
	{ PORTS MIRROR_A "    encap: {type: gre, ttl: 0, " TUNNEL "}\n", 7,
	  { "encap.ttl", "out of range 1..255" } },
	{ PORTS MIRROR_A "    encap: {type: gre, ttl: 256, " TUNNEL "}\n", 7,
	  { "encap.ttl", "out of range" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dscp: 64, " TUNNEL "}\n", 7,
	  { "encap.dscp", "out of range 0..63" } },
	{ PORTS MIRROR_A "    encap: {type: gre, key: 4294967296, " TUNNEL
	  "}\n", 7, { "encap.key", "out of range 0..4294967295" } },
	{ PORTS MIRROR_A "    encap: {type: gre, key: -1, " TUNNEL "}\n", 7,
	  { "encap.key", "out of range" } },
	{ PORTS MIRROR_A "    encap: {type: erspan, session_id: 1024, "
	  TUNNEL "}\n", 7, { "encap.session_id", "out of range 0..1023" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, dst_port: 0, "
	  TUNNEL "}\n", 7, { "encap.dst_port", "out of range 1..65535" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, dst_port: 65536, "
	  TUNNEL "}\n", 7, { "encap.dst_port", "out of range" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, src_port: 0, "
	  TUNNEL "}\n", 7, { "encap.src_port", "out of range 1..65535" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, src_port: hash, "
	  TUNNEL "}\n", 7, { "encap.src_port", "'hash'" } },
	{ PORTS MIRROR_A "    encap: {type: vxlan, vni: 1, udp_checksum: on, "
	  TUNNEL "}\n", 7, { "encap.udp_checksum", "not true or false" } },

	/* Addresses, on the line of the value. */
	{ PORTS MIRROR_A "    encap:\n      type: gre\n"
	  "      dst_mac: \"02:00:00:00:00:0g\"\n      src_ip: 192.0.2.1\n"
	  "      dst_ip: 192.0.2.2\n", 9,
	  { "mirror 'a': encap.dst_mac", "'02:00:00:00:00:0g'",
	    "not a MAC address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, src_ip: 192.0.2.1, "
	  "dst_ip: 192.0.2.2, dst_mac: \"2:0:0:0:0:2\"}\n", 7,
	  { "encap.dst_mac", "not a MAC address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, src_ip: 192.0.2.1, "
	  "dst_ip: 192.0.2.2, dst_mac: \"00:00:00:00:00:00\"}\n", 7,
	  { "encap.dst_mac", "not a station's address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, " TUNNEL
	  ", src_mac: \"ff:ff:ff:ff:ff:ff\"}\n", 7,
	  { "encap.src_mac", "group address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, " TUNNEL
	  ", src_mac: \"01:00:5e:00:00:01\"}\n", 7,
	  { "encap.src_mac", "group address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, " TUNNEL
	  ", src_mac: \"00:00:00:00:00:00\"}\n", 7,
	  { "encap.src_mac", "not a station's address" } },
	{ PORTS MIRROR_A "    encap:\n      type: vxlan\n      vni: 1\n"
	  "      dst_mac: 02:00:00:00:00:02\n      src_ip: 2001:db8::1\n"
	  "      dst_ip: 192.0.2.2\n", 11,
	  { "encap.src_ip", "outer IPv6 is not supported, give an IPv4 "
			    "address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_mac: 02:00:00:00:00:02, "
	  "src_ip: 192.0.2.1, dst_ip: \"::ffff:192.0.2.2\"}\n", 7,
	  { "encap.dst_ip", "outer IPv6 is not supported" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_mac: 02:00:00:00:00:02, "
	  "src_ip: 192.0.2.1, dst_ip: 192.0.2}\n", 7,
	  { "encap.dst_ip", "'192.0.2' is not an IPv4 address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_mac: 02:00:00:00:00:02, "
	  "src_ip: 192.0.2.256, dst_ip: 192.0.2.2}\n", 7,
	  { "encap.src_ip", "not an IPv4 address" } },
	{ PORTS MIRROR_A "    encap: {type: gre, dst_mac: 02:00:00:00:00:02, "
	  "src_ip: host.example, dst_ip: 192.0.2.2}\n", 7,
	  { "encap.src_ip", "not an IPv4 address" } },

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
	assert_int_equal(l.cfg.http.nb_ports, 0);

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
		cmocka_unit_test(test_load_truncate_and_plain_encaps),
		cmocka_unit_test(test_load_vxlan),
		cmocka_unit_test(test_load_gre_and_erspan),
		cmocka_unit_test(test_load_http_ports),
		cmocka_unit_test(test_encap_names),
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
