/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "st_compiler.h"
#include "yaml_load.h"

/* Bytes of a MAC address. */
#define MAC_LEN 6

/* A mirror takes every flow when nothing else is said, but once routes
 * exist, only what they claim. */
#define DEFAULT_MIRROR_PERCENT 100.0
#define DEFAULT_MIRROR_PERCENT_WITH_ROUTES 0.0
#define DEFAULT_ROUTE_PERCENT 100.0
#define DEFAULT_MAX_HEAD_BYTES 4096
#define MIN_MAX_HEAD_BYTES 64
#define MAX_MAX_HEAD_BYTES 65535
#define DEFAULT_FLOW_TABLE_SIZE 65536
#define DEFAULT_IDLE_TIMEOUT_S 120
#define MIN_FLOW_TABLE_SIZE 64
#define MAX_FLOW_TABLE_SIZE (1u << 24)
/* A cut copy keeps at least its Ethernet header, or it is not a frame. */
#define MIN_TRUNCATE_BYTES 14
#define MAX_TRUNCATE_BYTES 65535
#define DEFAULT_ENCAP_TTL 64
#define DEFAULT_VXLAN_PORT 4789	/* IANA */
/* "mirror 'NAME'", what messages about a mirror start with. */
#define MIRROR_WHERE_MAX 64

static const char *const method_names[ST_HTTP_METHODS] = {
	[ST_HTTP_GET] = "GET",		[ST_HTTP_HEAD] = "HEAD",
	[ST_HTTP_POST] = "POST",	[ST_HTTP_PUT] = "PUT",
	[ST_HTTP_DELETE] = "DELETE",	[ST_HTTP_PATCH] = "PATCH",
	[ST_HTTP_OPTIONS] = "OPTIONS",	[ST_HTTP_CONNECT] = "CONNECT",
	[ST_HTTP_TRACE] = "TRACE",
};

const char *
st_http_method_name(enum st_http_method m)
{
	return (unsigned int)m < ST_HTTP_METHODS ? method_names[m] : NULL;
}

static const char *const encap_names[ST_ENCAP_TYPES] = {
	[ST_ENCAP_NONE] = "none",	[ST_ENCAP_VLAN] = "vlan",
	[ST_ENCAP_VXLAN] = "vxlan",	[ST_ENCAP_GRE] = "gre",
	[ST_ENCAP_ERSPAN] = "erspan",
};

const char *
st_encap_name(enum st_encap_type t)
{
	return (unsigned int)t < ST_ENCAP_TYPES ? encap_names[t] : NULL;
}

/*
 * Parse a MAC address the way DPDK's rte_ether_unformat_addr() does, so
 * that what a config may write stayed the same when the loader stopped
 * linking DPDK: six groups of two hex digits or three of four, separated
 * by colons, nothing around them. glibc's ether_aton_r() also takes
 * one-digit groups ("2:0:0:0:0:1") and ignores text after the address.
 */
static bool
parse_mac(const char *s, uint8_t mac[MAC_LEN])
{
	size_t len = strlen(s), i;
	unsigned int group = len == 17 ? 2 : len == 14 ? 4 : 0;
	unsigned int nibble = 0, digit;

	if (group == 0)
		return false;
	memset(mac, 0, MAC_LEN);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((i + 1) % (group + 1) == 0) {
			if (c != ':')
				return false;
			continue;
		}
		if (!isxdigit(c))
			return false;
		digit = isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
		mac[nibble / 2] = (uint8_t)(mac[nibble / 2] << 4 | digit);
		nibble++;
	}
	return true;
}

/*
 * A MAC address, xx:xx:xx:xx:xx:xx. Never all zeros; a source (@p sender)
 * not a group address either: no frame may carry one as its sender.
 */
static int
get_mac(struct st_yaml *ld, yaml_node_t *node, const char *where, bool sender,
	uint8_t mac[MAC_LEN])
{
	static const uint8_t zero[MAC_LEN];
	const char *s;
	int ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	if (!parse_mac(s, mac))
		return st_yaml_fail(ld, st_yaml_line(node),
				    "%s: '%s' is not a MAC address such as "
				    "02:00:00:00:00:01",
				    where, s);
	if (memcmp(mac, zero, MAC_LEN) == 0)
		return st_yaml_fail(ld, st_yaml_line(node),
				    "%s: %s is not a station's address", where,
				    s);
	/* The group bit is the first byte's least significant. */
	if (sender && (mac[0] & 1) != 0)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: %s is a group address, which cannot send", where, s);
	return 0;
}

/* A dotted IPv4 address, kept in network byte order. */
static int
get_ipv4(struct st_yaml *ld, yaml_node_t *node, const char *where,
	 uint32_t *addr)
{
	struct in6_addr v6;
	const char *s;
	int ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	if (inet_pton(AF_INET, s, addr) == 1)
		return 0;
	if (inet_pton(AF_INET6, s, &v6) == 1)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: %s: outer IPv6 is not supported, give an "
		    "IPv4 address",
		    where, s);
	return st_yaml_fail(ld, st_yaml_line(node),
			    "%s: '%s' is not an IPv4 address such as 192.0.2.1",
			    where, s);
}

/* A port: a number is a DPDK port id, anything else a device name. */
static int
get_port(struct st_yaml *ld, yaml_node_t *node, const char *where,
	 struct st_port_ref *ref)
{
	const char *s;
	int ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	memset(ref, 0, sizeof(*ref));
	ref->line = st_yaml_line(node);
	if (isdigit((unsigned char)s[0])) {
		char *end;
		unsigned long id = strtoul(s, &end, 10);

		/* "0000:3b:00.0" starts with digits too: only a whole
		 * number is an id. */
		if (*end == '\0') {
			if (id >= ST_MAX_PORT_IDS)
				return st_yaml_fail(
				    ld, ref->line,
				    "%s: port id %s is out of range", where, s);
			ref->port_id = (uint16_t)id;
			return 0;
		}
	}
	if (strlen(s) >= sizeof(ref->devname))
		return st_yaml_fail(ld, ref->line, "%s: device name too long",
				    where);
	strcpy(ref->devname, s);
	return 0;
}

static int
get_name(struct st_yaml *ld, yaml_node_t *node, const char *where, char *out)
{
	const char *s, *c;
	int ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	if (strlen(s) >= ST_NAME_MAX)
		return st_yaml_fail(ld, st_yaml_line(node),
				    "%s: '%s' is longer than %d characters",
				    where, s, ST_NAME_MAX - 1);
	/* Names appear in metrics labels and control commands. */
	for (c = s; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' &&
		    *c != '.')
			return st_yaml_fail(
			    ld, st_yaml_line(node),
			    "%s: '%s' may hold only letters, digits, "
			    "'-', '_' and '.'",
			    where, s);
	strcpy(out, s);
	return 0;
}

static int
load_ports(struct st_yaml *ld, yaml_node_t *node, struct st_config *cfg)
{
	static const char *const keys[] = { "client", "server",
					     "link_propagation", NULL };
	yaml_node_t *client, *server, *v;
	int ret = st_yaml_check_mapping(ld, node, "ports", keys);

	if (ret < 0)
		return ret;
	client = st_yaml_lookup(ld, node, "client");
	server = st_yaml_lookup(ld, node, "server");
	if (client == NULL || server == NULL)
		return st_yaml_fail(ld, st_yaml_line(node),
				    "ports: '%s' is required",
				    client == NULL ? "client" : "server");
	ret = get_port(ld, client, "ports.client", &cfg->client);
	if (ret == 0)
		ret = get_port(ld, server, "ports.server", &cfg->server);
	if (ret == 0 &&
	    (v = st_yaml_lookup(ld, node, "link_propagation")) != NULL)
		ret = st_yaml_get_bool(ld, v, "ports.link_propagation",
				       &cfg->link_propagation);
	return ret;
}

/*
 * What every mirror and route starts with: a mapping of known keys and a
 * name not used by an earlier item of its list (@p names, @p lines: the
 * earlier items'). Fills @p name and @p line, and @p where with
 * "KIND 'NAME'" for the messages about the rest of the item.
 */
static int
load_item_start(struct st_yaml *ld, yaml_node_t *node, const char *list,
		const char *kind, unsigned int idx, const char *const *keys,
		const char *(*name_at)(const struct st_config *, unsigned int,
				       int *),
		const struct st_config *cfg, char *name, int *line,
		char *where, size_t where_len)
{
	yaml_node_t *v;
	unsigned int i;
	int ret, first_line;

	snprintf(where, where_len, "%s[%u]", list, idx);
	ret = st_yaml_check_mapping(ld, node, where, keys);
	if (ret < 0)
		return ret;
	*line = st_yaml_line(node);
	v = st_yaml_lookup(ld, node, "name");
	if (v == NULL)
		return st_yaml_fail(ld, *line, "%s: 'name' is required", where);
	ret = get_name(ld, v, where, name);
	if (ret < 0)
		return ret;
	for (i = 0; i < idx; i++)
		if (strcmp(name_at(cfg, i, &first_line), name) == 0)
			return st_yaml_fail(
			    ld, st_yaml_line(v),
			    "%s '%s' is defined twice (first at "
			    "line %d)",
			    kind, name, first_line);
	snprintf(where, where_len, "%s '%s'", kind, name);
	return 0;
}

static const char *
mirror_name_at(const struct st_config *cfg, unsigned int i, int *line)
{
	*line = cfg->mirrors[i].line;
	return cfg->mirrors[i].name;
}

static const char *
route_name_at(const struct st_config *cfg, unsigned int i, int *line)
{
	*line = cfg->routes[i].line;
	return cfg->routes[i].name;
}

/* Bytes of the original a copy keeps: 0 (all of them), or a frame. */
static int
get_truncate(struct st_yaml *ld, yaml_node_t *node, const char *mirror,
	     uint32_t *bytes)
{
	char where[MIRROR_WHERE_MAX + sizeof(": truncate")];
	int ret;

	snprintf(where, sizeof(where), "%s: truncate", mirror);
	ret = st_yaml_get_uint(ld, node, where, 0, MAX_TRUNCATE_BYTES, bytes);
	if (ret == 0 && *bytes != 0 && *bytes < MIN_TRUNCATE_BYTES)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: %u would cut into the Ethernet header: "
		    "give 0 (the whole frame) or %u..%u",
		    where, *bytes, MIN_TRUNCATE_BYTES, MAX_TRUNCATE_BYTES);
	return ret;
}

static int
get_encap_type(struct st_yaml *ld, yaml_node_t *node, const char *where,
	       enum st_encap_type *type)
{
	char list[64] = "";
	const char *s;
	int t, ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	for (t = 0; t < ST_ENCAP_TYPES; t++) {
		if (strcmp(s, encap_names[t]) == 0) {
			*type = (enum st_encap_type)t;
			return 0;
		}
		st_yaml_list_append(list, sizeof(list), encap_names[t]);
	}
	return st_yaml_fail(ld, st_yaml_line(node),
			    "%s: unknown type '%s' (%s)", where, s, list);
}

/* What the value of an encap key is. */
enum encap_value {
	ENCAP_WHOLE,		/* a whole number in min..max */
	ENCAP_WHOLE_OR_FLOW,	/* the same, or "flow", kept as 0 */
	ENCAP_BOOL,
	ENCAP_MAC,
	ENCAP_SENDER_MAC,	/* a MAC a frame may be sent from */
	ENCAP_IPV4,
};

#define TYPE_BIT(t) (1u << ST_ENCAP_##t)
#define IPV4_TUNNELS (TYPE_BIT(VXLAN) | TYPE_BIT(GRE) | TYPE_BIT(ERSPAN))
#define ENCAP_FIELD(f)                                                  \
	offsetof(struct st_encap_conf, f),                              \
		sizeof(((struct st_encap_conf *)NULL)->f)

/*
 * The keys of an encap mapping besides "type": the types each applies to,
 * the types that need it, and the field its value goes to. One table, so
 * that a key of another type is refused by name, never silently ignored.
 */
static const struct encap_key {
	const char *name;
	uint32_t types;		/* TYPE_BIT(t): it applies to t */
	uint32_t required;	/* TYPE_BIT(t): t needs it */
	enum encap_value value;
	uint32_t min, max;	/* of a whole number */
	size_t offset, size;	/* of its field in struct st_encap_conf */
} encap_keys[] = {
	{ "vlan_id", TYPE_BIT(VLAN), TYPE_BIT(VLAN), ENCAP_WHOLE, 1, 4094,
	  ENCAP_FIELD(vlan_id) },
	{ "pcp", TYPE_BIT(VLAN), 0, ENCAP_WHOLE, 0, 7, ENCAP_FIELD(pcp) },
	{ "dst_mac", IPV4_TUNNELS, IPV4_TUNNELS, ENCAP_MAC, 0, 0,
	  ENCAP_FIELD(dst_mac) },
	{ "src_mac", IPV4_TUNNELS, 0, ENCAP_SENDER_MAC, 0, 0,
	  ENCAP_FIELD(src_mac) },
	{ "src_ip", IPV4_TUNNELS, IPV4_TUNNELS, ENCAP_IPV4, 0, 0,
	  ENCAP_FIELD(src_ip) },
	{ "dst_ip", IPV4_TUNNELS, IPV4_TUNNELS, ENCAP_IPV4, 0, 0,
	  ENCAP_FIELD(dst_ip) },
	{ "ttl", IPV4_TUNNELS, 0, ENCAP_WHOLE, 1, 255, ENCAP_FIELD(ttl) },
	{ "dscp", IPV4_TUNNELS, 0, ENCAP_WHOLE, 0, 63, ENCAP_FIELD(dscp) },
	{ "vni", TYPE_BIT(VXLAN), TYPE_BIT(VXLAN), ENCAP_WHOLE, 0,
	  (1u << 24) - 1, ENCAP_FIELD(vni) },
	{ "dst_port", TYPE_BIT(VXLAN), 0, ENCAP_WHOLE, 1, 65535,
	  ENCAP_FIELD(dst_port) },
	{ "src_port", TYPE_BIT(VXLAN), 0, ENCAP_WHOLE_OR_FLOW, 1, 65535,
	  ENCAP_FIELD(src_port) },
	{ "udp_checksum", TYPE_BIT(VXLAN), 0, ENCAP_BOOL, 0, 0,
	  ENCAP_FIELD(udp_checksum) },
	{ "key", TYPE_BIT(GRE), 0, ENCAP_WHOLE, 0, UINT32_MAX,
	  ENCAP_FIELD(key) },
	{ "session_id", TYPE_BIT(ERSPAN), TYPE_BIT(ERSPAN), ENCAP_WHOLE, 0,
	  1023, ENCAP_FIELD(session_id) },
};

/* A whole number into its field, whatever the field's width; the key's
 * range makes it fit. */
static void
store_whole(void *field, size_t size, uint32_t v)
{
	if (size == sizeof(uint8_t))
		*(uint8_t *)field = (uint8_t)v;
	else if (size == sizeof(uint16_t))
		*(uint16_t *)field = (uint16_t)v;
	else
		*(uint32_t *)field = v;
}

static int
load_encap_value(struct st_yaml *ld, yaml_node_t *node, const char *where,
		 const struct encap_key *k, struct st_encap_conf *e)
{
	void *field = (char *)e + k->offset;
	uint32_t v;
	int ret;

	switch (k->value) {
	case ENCAP_BOOL:
		return st_yaml_get_bool(ld, node, where, field);
	case ENCAP_MAC:
	case ENCAP_SENDER_MAC:
		return get_mac(ld, node, where, k->value == ENCAP_SENDER_MAC,
			       field);
	case ENCAP_IPV4:
		return get_ipv4(ld, node, where, field);
	case ENCAP_WHOLE_OR_FLOW:
		if (node->type == YAML_SCALAR_NODE &&
		    strcmp(st_yaml_scalar(node), "flow") == 0) {
			store_whole(field, k->size, 0);
			return 0;
		}
		break;
	case ENCAP_WHOLE:
		break;
	}
	ret = st_yaml_get_uint(ld, node, where, k->min, k->max, &v);
	if (ret == 0)
		store_whole(field, k->size, v);
	return ret;
}

/* "encap": none, or a mapping of a type and the keys that type takes. */
static int
load_encap(struct st_yaml *ld, yaml_node_t *node, const char *mirror,
	   struct st_encap_conf *e)
{
	const char *names[1 + ST_DIM(encap_keys) + 1] = { "type" };
	char where[MIRROR_WHERE_MAX + sizeof(": encap")];
	char key_where[sizeof(where) + sizeof(".udp_checksum")];
	const struct encap_key *k;
	yaml_node_t *v;
	unsigned int i;
	int ret;

	e->line = st_yaml_line(node);
	snprintf(where, sizeof(where), "%s: encap", mirror);
	if (node->type == YAML_SCALAR_NODE) {
		ret = get_encap_type(ld, node, where, &e->type);
		if (ret == 0 && e->type != ST_ENCAP_NONE)
			return st_yaml_fail(ld, e->line,
					    "%s: %s needs its settings: give a "
					    "mapping such as {type: %s, ...}",
					    where, st_yaml_scalar(node),
					    st_yaml_scalar(node));
		return ret;
	}
	for (i = 0; i < ST_DIM(encap_keys); i++)
		names[1 + i] = encap_keys[i].name;
	ret = st_yaml_check_mapping(ld, node, where, names);
	if (ret < 0)
		return ret;
	v = st_yaml_lookup(ld, node, "type");
	if (v == NULL)
		return st_yaml_fail(ld, e->line, "%s: 'type' is required",
				    where);
	ret = get_encap_type(ld, v, where, &e->type);
	for (k = encap_keys; ret == 0 && k < encap_keys + ST_DIM(encap_keys);
	     k++) {
		v = st_yaml_lookup(ld, node, k->name);
		if (v != NULL && !(k->types & (1u << e->type))) {
			ret =
			    st_yaml_fail(ld, st_yaml_line(v),
					 "%s: '%s' does not apply to %s", where,
					 k->name, encap_names[e->type]);
		} else if (v != NULL) {
			snprintf(key_where, sizeof(key_where), "%s.%s", where,
				 k->name);
			ret = load_encap_value(ld, v, key_where, k, e);
		} else if (k->required & (1u << e->type)) {
			ret = st_yaml_fail(ld, e->line,
					   "%s: '%s' is required for %s", where,
					   k->name, encap_names[e->type]);
		}
	}
	e->has_src_mac = st_yaml_lookup(ld, node, "src_mac") != NULL;
	e->has_key = st_yaml_lookup(ld, node, "key") != NULL;
	return ret;
}

static int
load_mirror(struct st_yaml *ld, yaml_node_t *node, unsigned int idx,
	    void *arg)
{
	struct st_config *cfg = arg;
	static const char *const keys[] = { "name", "port", "percent",
					     "truncate", "encap", NULL };
	struct st_mirror_conf *m = &cfg->mirrors[idx];
	yaml_node_t *v;
	char where[MIRROR_WHERE_MAX];
	int ret;

	ret = load_item_start(ld, node, "mirrors", "mirror", idx, keys,
			      mirror_name_at, cfg, m->name, &m->line, where,
			      sizeof(where));
	if (ret < 0)
		return ret;
	v = st_yaml_lookup(ld, node, "port");
	if (v == NULL)
		return st_yaml_fail(ld, m->line, "%s: 'port' is required",
				    where);
	ret = get_port(ld, v, where, &m->port);
	if (ret < 0)
		return ret;
	m->percent = NAN;	/* the default depends on routes */
	v = st_yaml_lookup(ld, node, "percent");
	if (v != NULL)
		ret = st_yaml_get_number(ld, v, where, 0, 100, &m->percent);
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "truncate")) != NULL)
		ret = get_truncate(ld, v, where, &m->truncate);
	/* Every mirror starts from the same defaults, so that leaving
	 * encap out and writing "encap: none" are the same config. */
	m->encap = (struct st_encap_conf){
		.type = ST_ENCAP_NONE,
		.ttl = DEFAULT_ENCAP_TTL,
		.dst_port = DEFAULT_VXLAN_PORT,
		.udp_checksum = true,
	};
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "encap")) != NULL)
		ret = load_encap(ld, v, where, &m->encap);
	return ret;
}

static int
load_flow_table(struct st_yaml *ld, yaml_node_t *node, struct st_config *cfg)
{
	static const char *const keys[] = { "size", "idle_timeout_s", NULL };
	yaml_node_t *v;
	int ret = st_yaml_check_mapping(ld, node, "flow_table", keys);

	if (ret < 0)
		return ret;
	cfg->flow_table.line = st_yaml_line(node);
	v = st_yaml_lookup(ld, node, "size");
	if (v != NULL) {
		ret = st_yaml_get_uint(ld, v, "flow_table.size",
				       MIN_FLOW_TABLE_SIZE, MAX_FLOW_TABLE_SIZE,
				       &cfg->flow_table.size);
		if (ret < 0)
			return ret;
	}
	v = st_yaml_lookup(ld, node, "idle_timeout_s");
	if (v != NULL)
		ret = st_yaml_get_uint(ld, v, "flow_table.idle_timeout_s", 1,
				       86400, &cfg->flow_table.idle_timeout_s);
	return ret;
}

static int
get_regex(struct st_yaml *ld, yaml_node_t *node, const char *where,
	  struct st_regex_conf *re)
{
	const char *s;
	int ret = st_yaml_get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	if (strlen(s) >= sizeof(re->pattern))
		return st_yaml_fail(ld, st_yaml_line(node),
				    "%s: regular expression longer than %zu "
				    "characters",
				    where, sizeof(re->pattern) - 1);
	strcpy(re->pattern, s);
	re->line = st_yaml_line(node);
	return 0;
}

static int
get_methods(struct st_yaml *ld, yaml_node_t *node, const char *where,
	    uint32_t *methods)
{
	yaml_node_item_t *it;
	int m;

	if (node->type != YAML_SEQUENCE_NODE ||
	    node->data.sequence.items.start == node->data.sequence.items.top)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: methods must be a list such as [GET, HEAD]", where);
	*methods = 0;
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		yaml_node_t *item = st_yaml_node(ld, *it);
		const char *s;
		int ret = st_yaml_get_scalar(ld, item, where, &s);

		if (ret < 0)
			return ret;
		for (m = 0; m < ST_HTTP_METHODS; m++)
			if (strcasecmp(s, method_names[m]) == 0)
				break;
		if (m == ST_HTTP_METHODS)
			return st_yaml_fail(ld, st_yaml_line(item),
					    "%s: unknown method '%s'", where,
					    s);
		*methods |= 1u << m;
	}
	return 0;
}

static int
load_route_headers(struct st_yaml *ld, yaml_node_t *node, const char *where,
		   struct st_route_conf *r)
{
	yaml_node_pair_t *p;
	int ret;

	if (node->type != YAML_MAPPING_NODE)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: header must map header names to regular "
		    "expressions",
		    where);
	for (p = node->data.mapping.pairs.start;
	     p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *key = st_yaml_node(ld, p->key);
		struct st_route_header_conf *h = &r->headers[r->nb_headers];
		unsigned int i;

		if (r->nb_headers == ST_MAX_ROUTE_HEADERS)
			return st_yaml_fail(ld, st_yaml_line(key),
					    "%s: at most %d header conditions",
					    where, ST_MAX_ROUTE_HEADERS);
		ret = st_yaml_get_header_name(ld, key, where, h->name);
		if (ret < 0)
			return ret;
		for (i = 0; i < r->nb_headers; i++)
			if (strcmp(r->headers[i].name, h->name) == 0)
				return st_yaml_fail(
				    ld, st_yaml_line(key),
				    "%s: header '%s' given twice", where,
				    h->name);
		ret =
		    get_regex(ld, st_yaml_node(ld, p->value), where, &h->value);
		if (ret < 0)
			return ret;
		r->nb_headers++;
	}
	return 0;
}

static int
load_route_match(struct st_yaml *ld, yaml_node_t *node, const char *where,
		 struct st_route_conf *r, bool *methods_given)
{
	static const char *const keys[] = { "methods", "path", "host",
					     "header", NULL };
	yaml_node_t *v;
	int ret = st_yaml_check_mapping(ld, node, where, keys);

	if (ret == 0 && (v = st_yaml_lookup(ld, node, "methods")) != NULL) {
		ret = get_methods(ld, v, where, &r->methods);
		*methods_given = true;
	}
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "path")) != NULL)
		ret = get_regex(ld, v, where, &r->path);
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "host")) != NULL)
		ret = get_regex(ld, v, where, &r->host);
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "header")) != NULL)
		ret = load_route_headers(ld, v, where, r);
	return ret;
}

static int
add_route_mirror(struct st_yaml *ld, yaml_node_t *node, const char *where,
		 const struct st_config *cfg, struct st_route_conf *r)
{
	const char *name;
	unsigned int i;
	int ret = st_yaml_get_scalar(ld, node, where, &name);

	if (ret < 0)
		return ret;
	for (i = 0; i < cfg->nb_mirrors; i++)
		if (strcmp(cfg->mirrors[i].name, name) == 0) {
			r->mirrors |= 1u << i;
			return 0;
		}
	return st_yaml_fail(ld, st_yaml_line(node), "%s: no mirror named '%s'",
			    where, name);
}

/* "mirror": a mirror's name, a list of names, or none. */
static int
load_route_mirrors(struct st_yaml *ld, yaml_node_t *node, const char *where,
		   const struct st_config *cfg, struct st_route_conf *r)
{
	yaml_node_item_t *it;
	int ret = 0;

	if (node->type == YAML_SCALAR_NODE)
		return strcmp(st_yaml_scalar(node), "none") == 0
			   ? 0
			   : add_route_mirror(ld, node, where, cfg, r);
	if (node->type != YAML_SEQUENCE_NODE ||
	    node->data.sequence.items.start == node->data.sequence.items.top)
		return st_yaml_fail(
		    ld, st_yaml_line(node),
		    "%s: mirror must be a mirror's name, a list of "
		    "names, or none",
		    where);
	for (it = node->data.sequence.items.start;
	     ret == 0 && it < node->data.sequence.items.top; it++)
		ret =
		    add_route_mirror(ld, st_yaml_node(ld, *it), where, cfg, r);
	return ret;
}

/* How a route's copies are named in messages, by who reads the route. */
static const char *const copy_verb[][2] = {
	[ST_CONFIG_ROUTES_MIRROR] = { "mirror", "mirrored" },
	[ST_CONFIG_ROUTES_REPLAY] = { "replay", "replayed" },
};

/*
 * Writes are copied only when a route says so (see config.h). @p copies:
 * whether the route's requests are copied to a shadow at all (a route of
 * the replay's always is).
 */
static int
check_writes(struct st_yaml *ld, const char *where, bool methods_given,
	     bool copies, enum st_config_routes_for reader,
	     struct st_route_conf *r)
{
	uint32_t writes = r->methods & ST_HTTP_WRITE_METHODS;
	char list[64] = "";
	int m;

	if (!methods_given) {
		/* Unsaid methods: all of them for a route that copies
		 * nothing (a health check excluded whatever its method),
		 * only reads for one that copies. */
		r->methods = !copies || r->allow_writes
				 ? ST_HTTP_ALL_METHODS
				 : ST_HTTP_ALL_METHODS & ~ST_HTTP_WRITE_METHODS;
		return 0;
	}
	if (writes == 0 || !copies || r->allow_writes)
		return 0;
	for (m = 0; m < ST_HTTP_METHODS; m++)
		if (writes & (1u << m))
			st_yaml_list_append(list, sizeof(list),
					    method_names[m]);
	return st_yaml_fail(ld, r->line,
			    "%s would %s %s: writes are %s only with "
			    "'allow_writes: true', because a shadow that "
			    "shares state with the primary repeats them",
			    where, copy_verb[reader][0], list,
			    copy_verb[reader][1]);
}

/* What st_config_load_routes() passes each route. */
struct routes_arg {
	struct st_config *cfg;
	enum st_config_routes_for reader;
};

static int
load_route(struct st_yaml *ld, yaml_node_t *node, unsigned int idx,
	   void *arg)
{
	static const char *const keys[] = { "name", "match", "mirror",
					     "percent", "allow_writes", NULL };
	const struct routes_arg *ra = arg;
	struct st_config *cfg = ra->cfg;
	struct st_route_conf *r = &cfg->routes[idx];
	bool methods_given = false, copies;
	yaml_node_t *v;
	char where[64];
	int ret;

	r->stats_slot = (uint8_t)idx;
	ret = load_item_start(ld, node, "routes", "route", idx, keys,
			      route_name_at, cfg, r->name, &r->line, where,
			      sizeof(where));
	if (ret < 0)
		return ret;

	r->percent = DEFAULT_ROUTE_PERCENT;
	if (ra->reader == ST_CONFIG_ROUTES_REPLAY) {
		/* A route that asked for no condition would replay all;
		 * say so with "match: {}". */
		if (st_yaml_lookup(ld, node, "match") == NULL)
			return st_yaml_fail(ld, r->line,
					    "%s: 'match' is required", where);
	} else {
		v = st_yaml_lookup(ld, node, "mirror");
		if (v == NULL)
			return st_yaml_fail(ld, r->line,
					    "%s: 'mirror' is required (a "
					    "mirror, a list, or none)",
					    where);
		ret = load_route_mirrors(ld, v, where, cfg, r);
	}
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "match")) != NULL)
		ret = load_route_match(ld, v, where, r, &methods_given);
	if (ret == 0 && ra->reader == ST_CONFIG_ROUTES_MIRROR &&
	    (v = st_yaml_lookup(ld, node, "percent")) != NULL)
		ret = st_yaml_get_number(ld, v, where, 0, 100, &r->percent);
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "allow_writes")) != NULL)
		ret = st_yaml_get_bool(ld, v, where, &r->allow_writes);
	copies = ra->reader == ST_CONFIG_ROUTES_REPLAY || r->mirrors != 0;
	if (ret == 0)
		ret = check_writes(ld, where, methods_given, copies,
				   ra->reader, r);
	return ret;
}

int
st_config_load_routes(struct st_yaml *y, yaml_node_t *node,
		      struct st_config *cfg, enum st_config_routes_for reader)
{
	struct routes_arg arg = { .cfg = cfg, .reader = reader };

	return st_yaml_load_list(y, node, "routes", ST_MAX_ROUTES,
				 &cfg->nb_routes, load_route, &arg);
}

static int
load_http_port(struct st_yaml *ld, yaml_node_t *node, unsigned int idx,
	       void *arg)
{
	struct st_config *cfg = arg;
	uint32_t port;
	unsigned int i;
	int ret =
	    st_yaml_get_uint(ld, node, "http.ports", 1, UINT16_MAX, &port);

	if (ret < 0)
		return ret;
	for (i = 0; i < idx; i++)
		if (cfg->http.ports[i] == port)
			return st_yaml_fail(ld, st_yaml_line(node),
					    "http.ports: %u is listed twice",
					    port);
	cfg->http.ports[idx] = (uint16_t)port;
	return 0;
}

int
st_config_load_http(struct st_yaml *ld, yaml_node_t *node,
		    struct st_config *cfg)
{
	static const char *const keys[] = { "max_head_bytes", "ports", NULL };
	yaml_node_t *v;
	int ret = st_yaml_check_mapping(ld, node, "http", keys);

	cfg->http.line = st_yaml_line(node);
	if (ret == 0 &&
	    (v = st_yaml_lookup(ld, node, "max_head_bytes")) != NULL)
		ret = st_yaml_get_uint(ld, v, "http.max_head_bytes",
				       MIN_MAX_HEAD_BYTES, MAX_MAX_HEAD_BYTES,
				       &cfg->http.max_head_bytes);
	if (ret == 0 && (v = st_yaml_lookup(ld, node, "ports")) != NULL)
		ret =
		    st_yaml_load_list(ld, v, "http.ports", ST_MAX_HTTP_PORTS,
				      &cfg->http.nb_ports, load_http_port, cfg);
	return ret;
}

static int
load_root(struct st_yaml *ld, yaml_node_t *root, struct st_config *cfg)
{
	static const char *const keys[] = { "ports", "mirrors", "routes",
					     "http", "flow_table", NULL };
	yaml_node_t *v;
	unsigned int i;
	int ret;

	ret = st_yaml_check_mapping(ld, root, "the top level", keys);
	if (ret < 0)
		return ret;
	v = st_yaml_lookup(ld, root, "ports");
	if (v == NULL)
		return st_yaml_fail(ld, st_yaml_line(root),
				    "'ports' is required");
	ret = load_ports(ld, v, cfg);
	if (ret == 0 && (v = st_yaml_lookup(ld, root, "mirrors")) != NULL)
		ret = st_yaml_load_list(ld, v, "mirrors", ST_MAX_MIRRORS,
					&cfg->nb_mirrors, load_mirror, cfg);
	/* Routes name mirrors: after them, wherever they are in the file. */
	if (ret == 0 && (v = st_yaml_lookup(ld, root, "routes")) != NULL)
		ret = st_config_load_routes(ld, v, cfg,
					    ST_CONFIG_ROUTES_MIRROR);
	if (ret == 0 && (v = st_yaml_lookup(ld, root, "http")) != NULL)
		ret = st_config_load_http(ld, v, cfg);
	if (ret == 0 && (v = st_yaml_lookup(ld, root, "flow_table")) != NULL)
		ret = load_flow_table(ld, v, cfg);
	for (i = 0; ret == 0 && i < cfg->nb_mirrors; i++)
		if (isnan(cfg->mirrors[i].percent))
			cfg->mirrors[i].percent =
				cfg->nb_routes > 0 ?
					DEFAULT_MIRROR_PERCENT_WITH_ROUTES :
					DEFAULT_MIRROR_PERCENT;
	return ret;
}

int
st_config_init(struct st_config *cfg, const char *path, char *err,
	       size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	cfg->http.max_head_bytes = DEFAULT_MAX_HEAD_BYTES;
	cfg->flow_table.size = DEFAULT_FLOW_TABLE_SIZE;
	cfg->flow_table.idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
	/* A bump in the wire hides a link fault from the side still up. */
	cfg->link_propagation = true;
	return 0;
}

int
st_config_load(const char *path, struct st_config *cfg, char *err,
	       size_t errlen)
{
	struct st_yaml y;
	yaml_node_t *root;
	int ret = st_config_init(cfg, path, err, errlen);

	if (ret == 0)
		ret = st_yaml_open(&y, path, err, errlen, &root);
	if (ret < 0)
		return ret;
	ret = load_root(&y, root, cfg);
	st_yaml_close(&y);
	return ret;
}
