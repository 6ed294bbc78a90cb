/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <rte_ethdev.h>

#define DEFAULT_MIRROR_PERCENT 100.0
#define DEFAULT_FLOW_TABLE_SIZE 65536
#define DEFAULT_IDLE_TIMEOUT_S 120
#define MIN_FLOW_TABLE_SIZE 64
#define MAX_FLOW_TABLE_SIZE (1u << 24)

/* One load: the parsed document plus where errors go. */
struct loader {
	yaml_document_t doc;
	const char *path;
	char *err;
	size_t errlen;
};

static int
fail_at(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);

	if (n >= 0 && (size_t)n < ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
line_of(const yaml_node_t *node)
{
	return (int)node->start_mark.line + 1;
}

static const char *
scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static yaml_node_t *
node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

/*
 * Check that @p map is a mapping whose keys are all in @p allowed and none
 * repeats, so a typo is an error rather than a silently ignored setting.
 */
static int
check_mapping(struct loader *ld, yaml_node_t *map, const char *where,
	      const char *const *allowed)
{
	yaml_node_pair_t *p, *q;

	if (map->type != YAML_MAPPING_NODE)
		return fail_at(ld, line_of(map), "%s must be a mapping", where);
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = node_at(ld, p->key);
		const char *const *a;

		if (key->type != YAML_SCALAR_NODE)
			return fail_at(ld, line_of(key),
				       "%s: keys must be plain words", where);
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, scalar(key)) == 0)
				break;
		if (*a == NULL)
			return fail_at(ld, line_of(key),
				       "%s: unknown key '%s'", where,
				       scalar(key));
		for (q = map->data.mapping.pairs.start; q < p; q++)
			if (strcmp(scalar(node_at(ld, q->key)),
				   scalar(key)) == 0)
				return fail_at(ld, line_of(key),
					       "%s: key '%s' given twice",
					       where, scalar(key));
	}
	return 0;
}

/* The value of @p key in a mapping already checked, or NULL. */
static yaml_node_t *
lookup(struct loader *ld, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++)
		if (strcmp(scalar(node_at(ld, p->key)), key) == 0)
			return node_at(ld, p->value);
	return NULL;
}

static int
get_scalar(struct loader *ld, yaml_node_t *node, const char *where,
	   const char **out)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0)
		return fail_at(ld, line_of(node), "%s must be a value", where);
	*out = scalar(node);
	return 0;
}

static int
get_number(struct loader *ld, yaml_node_t *node, const char *where,
	   double min, double max, double *out)
{
	const char *s;
	char *end;
	double v;
	int ret = get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return fail_at(ld, line_of(node), "%s: '%s' is not a number",
			       where, s);
	if (v < min || v > max)
		return fail_at(ld, line_of(node),
			       "%s: %s is out of range %.15g..%.15g", where, s,
			       min, max);
	*out = v;
	return 0;
}

static int
get_uint(struct loader *ld, yaml_node_t *node, const char *where,
	 uint32_t min, uint32_t max, uint32_t *out)
{
	double v;
	int ret = get_number(ld, node, where, min, max, &v);

	if (ret < 0)
		return ret;
	if (v != floor(v))
		return fail_at(ld, line_of(node),
			       "%s: '%s' is not a whole number", where,
			       scalar(node));
	*out = (uint32_t)v;
	return 0;
}

/* A port: a number is a DPDK port id, anything else a device name. */
static int
get_port(struct loader *ld, yaml_node_t *node, const char *where,
	 struct st_port_ref *ref)
{
	const char *s;
	int ret = get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	memset(ref, 0, sizeof(*ref));
	ref->line = line_of(node);
	if (isdigit((unsigned char)s[0])) {
		char *end;
		unsigned long id = strtoul(s, &end, 10);

		/* "0000:3b:00.0" starts with digits too: only a whole
		 * number is an id. */
		if (*end == '\0') {
			if (id >= RTE_MAX_ETHPORTS)
				return fail_at(ld, ref->line,
					       "%s: port id %s is out of range",
					       where, s);
			ref->port_id = (uint16_t)id;
			return 0;
		}
	}
	if (strlen(s) >= sizeof(ref->devname))
		return fail_at(ld, ref->line, "%s: device name too long",
			       where);
	strcpy(ref->devname, s);
	return 0;
}

static int
get_name(struct loader *ld, yaml_node_t *node, const char *where, char *out)
{
	const char *s, *c;
	int ret = get_scalar(ld, node, where, &s);

	if (ret < 0)
		return ret;
	if (strlen(s) >= ST_NAME_MAX)
		return fail_at(ld, line_of(node),
			       "%s: '%s' is longer than %d characters", where,
			       s, ST_NAME_MAX - 1);
	/* Names appear in metrics labels and control commands. */
	for (c = s; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' &&
		    *c != '.')
			return fail_at(ld, line_of(node),
				       "%s: '%s' may hold only letters, digits, "
				       "'-', '_' and '.'", where, s);
	strcpy(out, s);
	return 0;
}

static int
load_ports(struct loader *ld, yaml_node_t *node, struct st_config *cfg)
{
	static const char *const keys[] = { "client", "server", NULL };
	yaml_node_t *client, *server;
	int ret = check_mapping(ld, node, "ports", keys);

	if (ret < 0)
		return ret;
	client = lookup(ld, node, "client");
	server = lookup(ld, node, "server");
	if (client == NULL || server == NULL)
		return fail_at(ld, line_of(node), "ports: '%s' is required",
			       client == NULL ? "client" : "server");
	ret = get_port(ld, client, "ports.client", &cfg->client);
	if (ret == 0)
		ret = get_port(ld, server, "ports.server", &cfg->server);
	return ret;
}

static int
load_mirror(struct loader *ld, yaml_node_t *node, unsigned int idx,
	    struct st_config *cfg)
{
	static const char *const keys[] = { "name", "port", "percent", NULL };
	struct st_mirror_conf *m = &cfg->mirrors[idx];
	yaml_node_t *v;
	char where[64];
	unsigned int i;
	int ret;

	snprintf(where, sizeof(where), "mirrors[%u]", idx);
	ret = check_mapping(ld, node, where, keys);
	if (ret < 0)
		return ret;
	m->line = line_of(node);
	v = lookup(ld, node, "name");
	if (v == NULL)
		return fail_at(ld, m->line, "%s: 'name' is required", where);
	ret = get_name(ld, v, where, m->name);
	if (ret < 0)
		return ret;
	for (i = 0; i < idx; i++)
		if (strcmp(cfg->mirrors[i].name, m->name) == 0)
			return fail_at(ld, line_of(v),
				       "mirror '%s' is defined twice (first at "
				       "line %d)", m->name,
				       cfg->mirrors[i].line);
	snprintf(where, sizeof(where), "mirror '%s'", m->name);
	v = lookup(ld, node, "port");
	if (v == NULL)
		return fail_at(ld, m->line, "%s: 'port' is required", where);
	ret = get_port(ld, v, where, &m->port);
	if (ret < 0)
		return ret;
	m->percent = DEFAULT_MIRROR_PERCENT;
	v = lookup(ld, node, "percent");
	if (v != NULL)
		ret = get_number(ld, v, where, 0, 100, &m->percent);
	return ret;
}

static int
load_mirrors(struct loader *ld, yaml_node_t *node, struct st_config *cfg)
{
	yaml_node_item_t *it;
	int ret;

	if (node->type != YAML_SEQUENCE_NODE)
		return fail_at(ld, line_of(node),
			       "mirrors must be a list of mirrors");
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		if (cfg->nb_mirrors == ST_MAX_MIRRORS)
			return fail_at(ld, line_of(node_at(ld, *it)),
				       "at most %d mirrors are supported",
				       ST_MAX_MIRRORS);
		ret = load_mirror(ld, node_at(ld, *it), cfg->nb_mirrors, cfg);
		if (ret < 0)
			return ret;
		cfg->nb_mirrors++;
	}
	return 0;
}

static int
load_flow_table(struct loader *ld, yaml_node_t *node, struct st_config *cfg)
{
	static const char *const keys[] = { "size", "idle_timeout_s", NULL };
	yaml_node_t *v;
	int ret = check_mapping(ld, node, "flow_table", keys);

	if (ret < 0)
		return ret;
	v = lookup(ld, node, "size");
	if (v != NULL) {
		ret = get_uint(ld, v, "flow_table.size", MIN_FLOW_TABLE_SIZE,
			       MAX_FLOW_TABLE_SIZE, &cfg->flow_table.size);
		if (ret < 0)
			return ret;
	}
	v = lookup(ld, node, "idle_timeout_s");
	if (v != NULL)
		ret = get_uint(ld, v, "flow_table.idle_timeout_s", 1, 86400,
			       &cfg->flow_table.idle_timeout_s);
	return ret;
}

static int
load_root(struct loader *ld, struct st_config *cfg)
{
	static const char *const keys[] = { "ports", "mirrors", "flow_table",
					     NULL };
	yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
	yaml_node_t *v;
	int ret;

	if (root == NULL)
		return fail_at(ld, 1, "the file is empty");
	ret = check_mapping(ld, root, "the top level", keys);
	if (ret < 0)
		return ret;
	v = lookup(ld, root, "ports");
	if (v == NULL)
		return fail_at(ld, line_of(root), "'ports' is required");
	ret = load_ports(ld, v, cfg);
	if (ret == 0 && (v = lookup(ld, root, "mirrors")) != NULL)
		ret = load_mirrors(ld, v, cfg);
	if (ret == 0 && (v = lookup(ld, root, "flow_table")) != NULL)
		ret = load_flow_table(ld, v, cfg);
	return ret;
}

int
st_config_load(const char *path, struct st_config *cfg, char *err,
	       size_t errlen)
{
	struct loader ld = { .path = path, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	cfg->flow_table.size = DEFAULT_FLOW_TABLE_SIZE;
	cfg->flow_table.idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;

	f = fopen(path, "r");
	if (f == NULL) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &ld.doc)) {
		ret = fail_at(&ld, (int)parser.problem_mark.line + 1,
			      "YAML syntax: %s",
			      parser.problem ? parser.problem : "unreadable");
	} else {
		ret = load_root(&ld, cfg);
		yaml_document_delete(&ld.doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

/* Resolve refs[idx] and refuse a port already taken by refs[0..idx). */
static int
resolve_one(const struct st_config *cfg, struct st_port_ref *const *refs,
	    const char (*what)[ST_NAME_MAX + 16], unsigned int idx, char *err,
	    size_t errlen)
{
	struct st_port_ref *ref = refs[idx];
	unsigned int i;

	if (ref->devname[0] != '\0' &&
	    rte_eth_dev_get_port_by_name(ref->devname, &ref->port_id) != 0) {
		snprintf(err, errlen,
			 "%s:%d: %s: no DPDK port named '%s' (give it with "
			 "-a or --vdev)", cfg->path, ref->line, what[idx],
			 ref->devname);
		return -ENODEV;
	}
	if (!rte_eth_dev_is_valid_port(ref->port_id)) {
		snprintf(err, errlen,
			 "%s:%d: %s: port %u does not exist (%u ports found)",
			 cfg->path, ref->line, what[idx], ref->port_id,
			 rte_eth_dev_count_avail());
		return -ENODEV;
	}
	for (i = 0; i < idx; i++)
		if (refs[i]->port_id == ref->port_id) {
			snprintf(err, errlen,
				 "%s:%d: %s: port %u is already used by %s "
				 "(line %d)", cfg->path, ref->line, what[idx],
				 ref->port_id, what[i], refs[i]->line);
			return -EINVAL;
		}
	return 0;
}

int
st_config_resolve(struct st_config *cfg, char *err, size_t errlen)
{
	struct st_port_ref *refs[2 + ST_MAX_MIRRORS];
	char what[2 + ST_MAX_MIRRORS][ST_NAME_MAX + 16];
	unsigned int i, n = 0;
	int ret;

	refs[n] = &cfg->client;
	snprintf(what[n++], sizeof(what[0]), "ports.client");
	refs[n] = &cfg->server;
	snprintf(what[n++], sizeof(what[0]), "ports.server");
	for (i = 0; i < cfg->nb_mirrors; i++) {
		refs[n] = &cfg->mirrors[i].port;
		snprintf(what[n++], sizeof(what[0]), "mirror '%s'",
			 cfg->mirrors[i].name);
	}
	for (i = 0; i < n; i++) {
		ret = resolve_one(cfg, refs, (const char (*)[ST_NAME_MAX + 16])what,
				  i, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}
