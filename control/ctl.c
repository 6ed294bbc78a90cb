/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>
#include <jansson.h>

#include <rte_common.h>
#include <rte_version.h>

#include "ctlsock.h"
#include "resolve.h"
#include "stats.h"

#define MAX_CLIENTS 64	/* docs/control.md says so */

struct st_ctl {
	struct st_ctlsock *sock;
	struct st_view *view;	/* this thread is the only one changing it */
	st_ctl_apply_fn apply;
	void *apply_arg;
	uint32_t max_head_bytes;	/* what the dataplane was sized for */
};

static int
find_mirror(const struct st_config *cfg, const char *name, char *err,
	    size_t errlen)
{
	unsigned int i;

	for (i = 0; i < cfg->nb_mirrors; i++)
		if (strcmp(cfg->mirrors[i].name, name) == 0)
			return (int)i;
	snprintf(err, errlen, "no mirror named '%s'", name);
	return -1;
}

static int
find_route(const struct st_config *cfg, const char *name, char *err,
	   size_t errlen)
{
	unsigned int i;

	for (i = 0; i < cfg->nb_routes; i++)
		if (strcmp(cfg->routes[i].name, name) == 0)
			return (int)i;
	snprintf(err, errlen, "no route named '%s'", name);
	return -1;
}

/* A private copy of the running config, to change and hand to apply. */
static struct st_config *
copy_config(const struct st_ctl *ctl, char *err, size_t errlen)
{
	struct st_config *cfg = malloc(sizeof(*cfg));

	if (cfg == NULL)
		snprintf(err, errlen, "out of memory");
	else
		*cfg = *ctl->view->cfg;
	return cfg;
}

static int
apply(struct st_ctl *ctl, struct st_config *cfg, uint32_t mirrors_enabled,
      bool recompile, char *err, size_t errlen)
{
	return ctl->apply(ctl->apply_arg, cfg, mirrors_enabled, recompile, err,
			  errlen) == 0 ? 0 : -1;
}

/* --- commands ------------------------------------------------------------ */

static int
cmd_version(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)arg, (void)req, (void)err, (void)errlen;
	json_object_set_new(reply, "version", json_string(ST_VERSION));
	json_object_set_new(reply, "dpdk", json_string(rte_version()));
	json_object_set_new(reply, "hyperscan", json_string(hs_version()));
	return 0;
}

static int
cmd_stats(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	const struct st_view *v = ((const struct st_ctl *)arg)->view;
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0;
	json_t *stats;
	FILE *f;

	(void)req;
	f = open_memstream(&text, &len);
	if (f == NULL || st_stats_write_json(f, v) != 0 || fclose(f) != 0) {
		free(text);
		snprintf(err, errlen, "cannot render the counters");
		return -1;
	}
	stats = json_loadb(text, len, 0, &jerr);
	free(text);
	if (stats == NULL) {
		snprintf(err, errlen, "counters: %s", jerr.text);
		return -1;
	}
	json_object_set_new(reply, "stats", stats);
	return 0;
}

static json_t *
mirror_names(const struct st_config *cfg, uint32_t mirrors)
{
	json_t *names = json_array();
	unsigned int i;

	for (i = 0; i < cfg->nb_mirrors; i++)
		if (mirrors & (1u << i))
			json_array_append_new(
			    names, json_string(cfg->mirrors[i].name));
	return names;
}

static void
set_mac(json_t *obj, const char *key, const uint8_t mac[6])
{
	char text[sizeof("xx:xx:xx:xx:xx:xx")];

	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	json_object_set_new(obj, key, json_string(text));
}

static void
set_ipv4(json_t *obj, const char *key, uint32_t addr)
{
	char text[INET_ADDRSTRLEN];

	json_object_set_new(obj, key,
			    json_string(inet_ntop(AF_INET, &addr, text,
						  sizeof(text))));
}

/* An encapsulation as the config file writes it: its type and the keys
 * that apply to it. */
static json_t *
encap_json(const struct st_encap_conf *e)
{
	json_t *obj = json_pack("{s:s}", "type", st_encap_name(e->type));

	switch (e->type) {
	case ST_ENCAP_VLAN:
		json_object_set_new(obj, "vlan_id", json_integer(e->vlan_id));
		json_object_set_new(obj, "pcp", json_integer(e->pcp));
		return obj;
	case ST_ENCAP_VXLAN:
		json_object_set_new(obj, "vni", json_integer(e->vni));
		json_object_set_new(obj, "dst_port", json_integer(e->dst_port));
		json_object_set_new(obj, "src_port",
				    e->src_port == 0 ?
					    json_string("flow") :
					    json_integer(e->src_port));
		json_object_set_new(obj, "udp_checksum",
				    json_boolean(e->udp_checksum));
		break;
	case ST_ENCAP_GRE:
		if (e->has_key)
			json_object_set_new(obj, "key", json_integer(e->key));
		break;
	case ST_ENCAP_ERSPAN:
		json_object_set_new(obj, "session_id",
				    json_integer(e->session_id));
		break;
	default:	/* none: nothing to say */
		return obj;
	}
	/* The outer Ethernet and IPv4 headers of the IPv4 tunnels; without
	 * src_mac, copies leave with the shadow port's own. */
	set_mac(obj, "dst_mac", e->dst_mac);
	if (e->has_src_mac)
		set_mac(obj, "src_mac", e->src_mac);
	set_ipv4(obj, "src_ip", e->src_ip);
	set_ipv4(obj, "dst_ip", e->dst_ip);
	json_object_set_new(obj, "ttl", json_integer(e->ttl));
	json_object_set_new(obj, "dscp", json_integer(e->dscp));
	return obj;
}

static int
cmd_show(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	const struct st_ctl *ctl = arg;
	const struct st_config *cfg = ctl->view->cfg;
	json_t *mirrors = json_array(), *routes = json_array();
	unsigned int i;

	(void)req, (void)err, (void)errlen;
	for (i = 0; i < cfg->nb_mirrors; i++) {
		const struct st_mirror_conf *m = &cfg->mirrors[i];

		json_array_append_new(mirrors, json_pack(
			"{s:s, s:i, s:f, s:b, s:i, s:o}", "name", m->name,
			"port_id", m->port.port_id, "percent", m->percent,
			"enabled", (ctl->view->mirrors_enabled >> i) & 1,
			"truncate", (int)m->truncate, "encap",
			encap_json(&m->encap)));
	}
	for (i = 0; i < cfg->nb_routes; i++)
		json_array_append_new(routes, json_pack(
			"{s:s, s:f, s:o}", "name", cfg->routes[i].name,
			"percent", cfg->routes[i].percent, "mirrors",
			mirror_names(cfg, cfg->routes[i].mirrors)));
	json_object_set_new(reply, "config", json_string(cfg->path));
	json_object_set_new(reply, "generation",
			    json_integer((json_int_t)ctl->view->generation));
	json_object_set_new(reply, "mirrors", mirrors);
	json_object_set_new(reply, "routes", routes);
	return 0;
}

/* set_route_percent and set_mirror_percent: @p key names the kind. */
static int
set_percent(struct st_ctl *ctl, json_t *req, json_t *reply, const char *key,
	    char *err, size_t errlen)
{
	bool route = strcmp(key, "route") == 0;
	struct st_config *cfg;
	const char *name;
	double percent;
	int idx;

	if (st_ctlsock_arg_string(req, key, &name, err, errlen) != 0 ||
	    st_ctlsock_arg_percent(req, &percent, err, errlen) != 0)
		return -1;
	idx = route ? find_route(ctl->view->cfg, name, err, errlen) :
		      find_mirror(ctl->view->cfg, name, err, errlen);
	if (idx < 0 || (cfg = copy_config(ctl, err, errlen)) == NULL)
		return -1;
	if (route)
		cfg->routes[idx].percent = percent;
	else
		cfg->mirrors[idx].percent = percent;
	if (apply(ctl, cfg, ctl->view->mirrors_enabled, false, err, errlen))
		return -1;
	json_object_set_new(reply, key, json_string(name));
	json_object_set_new(reply, "percent", json_real(percent));
	return 0;
}

static int
cmd_set_route_percent(void *arg, json_t *req, json_t *reply, char *err,
		      size_t errlen)
{
	return set_percent(arg, req, reply, "route", err, errlen);
}

static int
cmd_set_mirror_percent(void *arg, json_t *req, json_t *reply, char *err,
		       size_t errlen)
{
	return set_percent(arg, req, reply, "mirror", err, errlen);
}

static int
cmd_mirror(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	struct st_ctl *ctl = arg;
	json_t *enabled = json_object_get(req, "enabled");
	uint32_t mirrors = ctl->view->mirrors_enabled;
	struct st_config *cfg;
	const char *name;
	int idx;

	if (st_ctlsock_arg_string(req, "mirror", &name, err, errlen) != 0)
		return -1;
	if (!json_is_boolean(enabled)) {
		snprintf(err, errlen, "'enabled' must be true or false");
		return -1;
	}
	if ((idx = find_mirror(ctl->view->cfg, name, err, errlen)) < 0 ||
	    (cfg = copy_config(ctl, err, errlen)) == NULL)
		return -1;
	mirrors = json_is_true(enabled) ? mirrors | (1u << idx) :
					  mirrors & ~(1u << idx);
	if (apply(ctl, cfg, mirrors, false, err, errlen))
		return -1;
	json_object_set_new(reply, "mirror", json_string(name));
	json_object_set_new(reply, "enabled",
			    json_boolean(json_is_true(enabled)));
	return 0;
}

/* Whether @p a and @p b wrap copies alike; field by field, as where they
 * were written does not count. */
static bool
same_encap(const struct st_encap_conf *a, const struct st_encap_conf *b)
{
	return a->type == b->type && a->vlan_id == b->vlan_id &&
	       a->pcp == b->pcp && a->has_src_mac == b->has_src_mac &&
	       memcmp(a->src_mac, b->src_mac, sizeof(a->src_mac)) == 0 &&
	       memcmp(a->dst_mac, b->dst_mac, sizeof(a->dst_mac)) == 0 &&
	       a->src_ip == b->src_ip && a->dst_ip == b->dst_ip &&
	       a->ttl == b->ttl && a->dscp == b->dscp && a->vni == b->vni &&
	       a->dst_port == b->dst_port && a->src_port == b->src_port &&
	       a->udp_checksum == b->udp_checksum &&
	       a->has_key == b->has_key && a->key == b->key &&
	       a->session_id == b->session_id;
}

/* What a refused reload says last. */
static const char restart[] = "restart shadowtap to change it";

/* Refuse a reload that changes mirror @p m: "FILE:LINE: mirror 'NAME':
 * WHAT: restart ...". Returns -1. */
static int __rte_format_printf(6, 7)
refuse_mirror_change(char *err, size_t errlen, const char *path,
		     const struct st_mirror_conf *m, int line,
		     const char *fmt, ...)
{
	va_list ap;
	size_t len;

	snprintf(err, errlen, "%s:%d: mirror '%s': ", path, line, m->name);
	len = strlen(err);
	va_start(ap, fmt);
	vsnprintf(err + len, errlen - len, fmt, ap);
	va_end(ap);
	len = strlen(err);
	snprintf(err + len, errlen - len, ": %s", restart);
	return -1;
}

/* What a reload may not change, item by item, naming where the file
 * changes it: ports, memory and the shape of the copies are set up at
 * start. */
static int
check_reloadable(const struct st_ctl *ctl, const struct st_config *next,
		 char *err, size_t errlen)
{
	const struct st_config *cur = ctl->view->cfg;
	unsigned int i;

	if (next->client.port_id != cur->client.port_id ||
	    next->server.port_id != cur->server.port_id) {
		bool client = next->client.port_id != cur->client.port_id;

		snprintf(err, errlen,
			 "%s:%d: ports.%s: port %u, running %u: %s", next->path,
			 client ? next->client.line : next->server.line,
			 client ? "client" : "server",
			 client ? next->client.port_id : next->server.port_id,
			 client ? cur->client.port_id : cur->server.port_id,
			 restart);
		return -1;
	}
	for (i = 0; i < RTE_MAX(next->nb_mirrors, cur->nb_mirrors); i++) {
		const struct st_mirror_conf *n = &next->mirrors[i];
		const struct st_mirror_conf *c = &cur->mirrors[i];

		if (i >= next->nb_mirrors || i >= cur->nb_mirrors ||
		    strcmp(n->name, c->name) != 0) {
			snprintf(err, errlen,
				 "%s:%d: mirrors: %s, running %u mirrors "
				 "(%s first): %s", next->path,
				 i < next->nb_mirrors ? n->line : 1,
				 i < next->nb_mirrors ?
					 "a mirror added or renamed" :
					 "a mirror removed",
				 cur->nb_mirrors,
				 cur->nb_mirrors ? cur->mirrors[0].name :
						   "none",
				 restart);
			return -1;
		}
		if (n->port.port_id != c->port.port_id)
			return refuse_mirror_change(err, errlen, next->path, n,
						    n->port.line,
						    "port %u, running %u",
						    n->port.port_id,
						    c->port.port_id);
		if (n->truncate != c->truncate)
			return refuse_mirror_change(err, errlen, next->path, n,
						    n->line,
						    "truncate %u, running %u",
						    n->truncate, c->truncate);
		if (!same_encap(&n->encap, &c->encap))
			return refuse_mirror_change(
			    err, errlen, next->path, n,
			    n->encap.line ? n->encap.line : n->line,
			    "encap changed (%s, running %s)",
			    st_encap_name(n->encap.type),
			    st_encap_name(c->encap.type));
	}
	if (next->flow_table.size != cur->flow_table.size ||
	    next->flow_table.idle_timeout_s != cur->flow_table.idle_timeout_s) {
		snprintf(err, errlen,
			 "%s:%d: flow_table: size %u and idle_timeout_s %u, "
			 "running %u and %u: %s", next->path,
			 next->flow_table.line ? next->flow_table.line : 1,
			 next->flow_table.size, next->flow_table.idle_timeout_s,
			 cur->flow_table.size, cur->flow_table.idle_timeout_s,
			 restart);
		return -1;
	}
	if (next->http.max_head_bytes > ctl->max_head_bytes) {
		snprintf(err, errlen,
			 "%s:%d: http.max_head_bytes: %u is more than the %u "
			 "shadowtap started with: %s", next->path,
			 next->http.line ? next->http.line : 1,
			 next->http.max_head_bytes, ctl->max_head_bytes,
			 restart);
		return -1;
	}
	/* The NIC's prefilter rules were made from the ports at start. */
	if (next->http.nb_ports != cur->http.nb_ports ||
	    memcmp(next->http.ports, cur->http.ports,
		   sizeof(next->http.ports[0]) * next->http.nb_ports) != 0) {
		snprintf(err, errlen, "%s:%d: http.ports changed: %s",
			 next->path, next->http.line ? next->http.line : 1,
			 restart);
		return -1;
	}
	return 0;
}

/*
 * reload, or with "dry_run": true the same question without the change:
 * the file loaded, resolved, held against what needs a restart and its
 * routes compiled, as a reload does before it swaps the policy in.
 */
static int
cmd_reload(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	struct st_ctl *ctl = arg;
	json_t *dry_run = json_object_get(req, "dry_run");
	struct st_config *cfg;
	unsigned int nb_routes;
	int ret;

	if (dry_run != NULL && !json_is_boolean(dry_run)) {
		snprintf(err, errlen, "'dry_run' must be true or false");
		return -1;
	}
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (st_config_load(ctl->view->cfg->path, cfg, err, errlen) != 0 ||
	    st_config_resolve(cfg, err, errlen) != 0 ||
	    check_reloadable(ctl, cfg, err, errlen) != 0) {
		free(cfg);
		return -1;
	}
	nb_routes = cfg->nb_routes;
	if (json_is_true(dry_run)) {
		ret = st_config_check(cfg, err, errlen);
		free(cfg);
		if (ret != 0)
			return -1;
		json_object_set_new(reply, "dry_run", json_true());
	} else {
		/* The file says it all: run-time switches are reset too. */
		if (apply(ctl, cfg, (1u << cfg->nb_mirrors) - 1, true, err,
			  errlen))
			return -1;
	}
	json_object_set_new(reply, "routes", json_integer(nb_routes));
	return 0;
}

static const struct st_ctlsock_command commands[] = {
	{ "version", { NULL }, cmd_version },
	{ "stats", { NULL }, cmd_stats },
	{ "show", { NULL }, cmd_show },
	{ "set_route_percent", { "route", "percent", NULL },
	  cmd_set_route_percent },
	{ "set_mirror_percent", { "mirror", "percent", NULL },
	  cmd_set_mirror_percent },
	{ "mirror", { "mirror", "enabled", NULL }, cmd_mirror },
	{ "reload", { "dry_run", NULL }, cmd_reload },
};

/* --- the socket ---------------------------------------------------------- */

void
st_ctl_poll(struct st_ctl *ctl, int timeout_ms)
{
	st_ctlsock_poll(ctl->sock, timeout_ms);
}

int
st_ctl_start(const char *path, struct st_view *view, st_ctl_apply_fn apply_fn,
	     void *apply_arg, struct st_ctl **out, char *err, size_t errlen)
{
	struct st_ctl *ctl = calloc(1, sizeof(*ctl));
	int ret;

	if (ctl == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ctl->view = view;
	ctl->apply = apply_fn;
	ctl->apply_arg = apply_arg;
	ctl->max_head_bytes = view->cfg->http.max_head_bytes;
	ret = st_ctlsock_start(path, MAX_CLIENTS, commands, RTE_DIM(commands),
			       ctl, &ctl->sock, err, errlen);
	if (ret != 0) {
		free(ctl);
		return ret;
	}
	*out = ctl;
	return 0;
}

void
st_ctl_stop(struct st_ctl *ctl)
{
	if (ctl == NULL)
		return;
	st_ctlsock_stop(ctl->sock);
	free(ctl);
}
