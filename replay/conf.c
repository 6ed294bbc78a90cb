/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay.yaml: config/'s YAML walker and route loader (yaml_load.h), so a
 * mistake reads as in the appliance's file and a route means the same.
 */
#include "conf.h"

#include <errno.h>
#include <libgen.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <pcap/pcap.h>

#include "st_compiler.h"
#include "yaml_load.h"

_Static_assert(ST_MAX_ROUTES <= 64, "st_replay_conf.replayed has 64 bits");

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECTIONS 8
#define DEFAULT_MAX_IN_FLIGHT 256
#define DEFAULT_MARK_HEADER "x-shadowtap-replay"
#define DEFAULT_MARK_VALUE "1"
#define DEFAULT_SNAPLEN 262144	/* what tcpdump takes: any frame */
#define DEFAULT_BUFFER_MB 64
#define MIB (1u << 20)

static const char *const default_drop_headers[] = { "authorization",
						     "cookie" };
static const char *const default_json_fields[] = { "password", "token" };
/* POSIX EREs (sanitize.patterns): a card number, 13 to 19 digits with
 * single spaces or dashes between them as people write them, and an
 * e-mail address. */
static const char *const default_patterns[] = {
	"[0-9]([ -]?[0-9]){12,18}",
	"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}",
};

/* A whole-number key of a section, and the field its value goes to. */
struct number_key {
	const char *name;
	uint64_t min, max;
	size_t offset, size;	/* of a uint32_t or uint64_t field */
};

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)NULL)->f)
#define SHADOW(f) FIELD(struct st_replay_shadow_conf, f)
#define CAPTURE(f) FIELD(struct st_replay_capture_conf, f)
#define LIMITS(f) FIELD(struct st_replay_limits_conf, f)

static const struct number_key shadow_numbers[] = {
	{ "timeout_ms", 1, 3600000, SHADOW(timeout_ms) },
	{ "connections", 1, 1024, SHADOW(connections) },
	{ "max_in_flight", 1, 1000000, SHADOW(max_in_flight) },
};

static const struct number_key capture_numbers[] = {
	/* An Ethernet, IPv4 and TCP header at least; pcap's maximum. */
	{ "snaplen", 68, 262144, CAPTURE(snaplen) },
	{ "buffer_mb", 1, 4096, CAPTURE(buffer_mb) },
};

static const struct number_key limits_numbers[] = {
	{ "max_connections", 1, 10000000, LIMITS(max_connections) },
	{ "max_stream_bytes", 1024, 1024 * MIB, LIMITS(max_stream_bytes) },
	{ "max_total_bytes", MIB, 1ull << 40, LIMITS(max_total_bytes) },
	{ "idle_timeout_ms", 100, 86400000, LIMITS(idle_timeout_ms) },
	{ "hole_timeout_ms", 1, 60000, LIMITS(hole_timeout_ms) },
	{ "max_head_bytes", 64, MIB, LIMITS(max_head_bytes) },
	/* 0: bodies are counted, not kept. */
	{ "max_body_bytes", 0, 1024 * MIB, LIMITS(max_body_bytes) },
	{ "max_pending", 1, 4096, LIMITS(max_pending) },
};

/* One list of strings of the sanitize section. */
struct text_list {
	const char *where;	/* "sanitize.patterns" */
	char *items;		/* ST_REPLAY_MAX_SANITIZE of item_size */
	size_t item_size;
	/* Reads and checks one item into a buffer of item_size. */
	int (*get)(struct st_yaml *y, yaml_node_t *node, const char *where,
		   char *out, size_t size);
};

static void
copy_list(char *items, size_t item_size, unsigned int *count,
	  const char *const *defaults, unsigned int nb_defaults)
{
	unsigned int i;

	for (i = 0; i < nb_defaults; i++)
		snprintf(items + i * item_size, item_size, "%s", defaults[i]);
	*count = nb_defaults;
}

static void
set_defaults(struct st_replay_conf *conf)
{
	struct st_replay_sanitize_conf *san = &conf->sanitize;

	conf->shadow = (struct st_replay_shadow_conf){
		.host_mode = ST_REPLAY_HOST_KEEP,
		.timeout_ms = DEFAULT_TIMEOUT_MS,
		.connections = DEFAULT_CONNECTIONS,
		.max_in_flight = DEFAULT_MAX_IN_FLIGHT,
		.mark_header = DEFAULT_MARK_HEADER,
		.mark_value = DEFAULT_MARK_VALUE,
	};
	copy_list(&san->drop_headers[0][0], sizeof(san->drop_headers[0]),
		  &san->nb_drop_headers, default_drop_headers,
		  ST_DIM(default_drop_headers));
	copy_list(&san->json_fields[0][0], sizeof(san->json_fields[0]),
		  &san->nb_json_fields, default_json_fields,
		  ST_DIM(default_json_fields));
	copy_list(&san->patterns[0][0], sizeof(san->patterns[0]),
		  &san->nb_patterns, default_patterns,
		  ST_DIM(default_patterns));
	conf->capture = (struct st_replay_capture_conf){
		.decap = ST_DECAP_AUTO,
		.snaplen = DEFAULT_SNAPLEN,
		.buffer_mb = DEFAULT_BUFFER_MB,
	};
	conf->limits = (struct st_replay_limits_conf){
		.max_connections = 100000,
		.max_stream_bytes = MIB,
		.max_total_bytes = 256 * MIB,
		.idle_timeout_ms = 60000,
		.hole_timeout_ms = 500,
		.max_head_bytes = 65536,
		.max_body_bytes = MIB,
		.max_pending = 64,
	};
}

/*
 * The keys of @p node (checked against @p keys) of @p numbers into the
 * struct at @p base. @p section prefixes the messages ("limits").
 */
static int
load_numbers(struct st_yaml *y, yaml_node_t *node, const char *section,
	     const struct number_key *numbers, size_t nb, void *base)
{
	char where[64];
	yaml_node_t *v;
	uint64_t value;
	size_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < nb; i++) {
		const struct number_key *k = &numbers[i];
		void *field = (char *)base + k->offset;

		v = st_yaml_lookup(y, node, k->name);
		if (v == NULL)
			continue;
		snprintf(where, sizeof(where), "%s.%s", section, k->name);
		ret = st_yaml_get_u64(y, v, where, k->min, k->max, &value);
		if (ret == 0 && k->size == sizeof(uint64_t))
			*(uint64_t *)field = value;
		else if (ret == 0)
			*(uint32_t *)field = (uint32_t)value;
	}
	return ret;
}

/* The keys of a section: its numbers' and @p others (NULL-terminated). */
static int
check_section(struct st_yaml *y, yaml_node_t *node, const char *section,
	      const struct number_key *numbers, size_t nb,
	      const char *const *others)
{
	const char *keys[16];	/* more than any section has */
	size_t n = 0;

	while (n < nb) {
		keys[n] = numbers[n].name;
		n++;
	}
	while (*others != NULL)
		keys[n++] = *others++;
	keys[n] = NULL;
	return st_yaml_check_mapping(y, node, section, keys);
}

/*
 * A value that goes into a header field as it is: no control bytes, which
 * would end the field (CR, LF) or be refused by the shadow; with
 * @p no_space, no spaces either (a host name).
 */
static int
get_field_value(struct st_yaml *y, yaml_node_t *node, const char *where,
		char *out, size_t size, bool no_space)
{
	const unsigned char *c;
	int ret = st_yaml_get_string(y, node, where, out, size);

	for (c = (const unsigned char *)out; ret == 0 && *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f || (no_space && *c == ' '))
			ret = st_yaml_fail(y, st_yaml_line(node),
					   "%s: '%s' may not hold control "
					   "characters%s",
					   where, out, no_space ? " or spaces"
								: "");
	return ret;
}

/* The base of every replayed request: http:// or https://, a host, and
 * at most a path prefix, as libcurl (which sends them) reads it. */
static int
get_url(struct st_yaml *y, yaml_node_t *node, char *url, size_t size)
{
	static const char *const where = "shadow.url";
	char *scheme = NULL, *host = NULL, *query = NULL, *fragment = NULL;
	CURLU *u;
	CURLUcode rc;
	int ret = st_yaml_get_string(y, node, where, url, size);

	if (ret < 0)
		return ret;
	u = curl_url();
	if (u == NULL) {
		st_yaml_fail(y, st_yaml_line(node), "%s: out of memory", where);
		return -ENOMEM;
	}
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
		ret = st_yaml_fail(y, st_yaml_line(node), "%s: '%s': %s", where,
				   url, curl_url_strerror(rc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		ret = st_yaml_fail(y, st_yaml_line(node),
				   "%s: '%s' is not an http:// or https:// "
				   "URL",
				   where, url);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
		 host[0] == '\0')
		ret = st_yaml_fail(y, st_yaml_line(node),
				   "%s: '%s' names no host", where, url);
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
		 curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) ==
			 CURLUE_OK)
		/* Each request's own target follows the URL's path. */
		ret = st_yaml_fail(y, st_yaml_line(node),
				   "%s: '%s': give a path prefix at most, no "
				   "query or fragment",
				   where, url);
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(fragment);
	curl_url_cleanup(u);
	return ret;
}

static int
load_shadow(struct st_yaml *y, yaml_node_t *node, struct st_replay_conf *conf)
{
	static const char *const others[] = { "url", "host", "host_suffix",
					      "mark_header", "mark_value",
					      NULL };
	struct st_replay_shadow_conf *s = &conf->shadow;
	yaml_node_t *v, *host, *suffix;
	int ret = check_section(y, node, "shadow", shadow_numbers,
				ST_DIM(shadow_numbers), others);

	if (ret < 0)
		return ret;
	conf->has_shadow = true;
	s->line = st_yaml_line(node);
	v = st_yaml_lookup(y, node, "url");
	if (v == NULL)
		return st_yaml_fail(y, s->line, "shadow: 'url' is required");
	ret = get_url(y, v, s->url, sizeof(s->url));
	host = st_yaml_lookup(y, node, "host");
	suffix = st_yaml_lookup(y, node, "host_suffix");
	if (ret == 0 && host != NULL && suffix != NULL)
		return st_yaml_fail(y, st_yaml_line(suffix),
				    "shadow: give host (line %d) or "
				    "host_suffix, not both",
				    st_yaml_line(host));
	if (ret == 0 && host != NULL) {
		s->host_mode = ST_REPLAY_HOST_SET;
		ret = get_field_value(y, host, "shadow.host", s->host,
				      sizeof(s->host), true);
	} else if (ret == 0 && suffix != NULL) {
		s->host_mode = ST_REPLAY_HOST_SUFFIX;
		ret = get_field_value(y, suffix, "shadow.host_suffix",
				      s->host, sizeof(s->host), true);
	}
	if (ret == 0 && (v = st_yaml_lookup(y, node, "mark_header")) != NULL)
		ret = st_yaml_get_header_name(y, v, "shadow.mark_header",
					      s->mark_header);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "mark_value")) != NULL)
		ret = get_field_value(y, v, "shadow.mark_value", s->mark_value,
				      sizeof(s->mark_value), false);
	if (ret == 0)
		ret = load_numbers(y, node, "shadow", shadow_numbers,
				   ST_DIM(shadow_numbers), s);
	return ret;
}

static int
get_header_item(struct st_yaml *y, yaml_node_t *node, const char *where,
		char *out, size_t size)
{
	(void)size; /* ST_HEADER_NAME_MAX, as the list is declared */
	return st_yaml_get_header_name(y, node, where, out);
}

/* A POSIX ERE the sanitizer can use: it compiles, and it cannot match
 * nothing (it would mask between every two bytes). */
static int
get_pattern(struct st_yaml *y, yaml_node_t *node, const char *where,
	    char *out, size_t size)
{
	char why[128];
	regex_t re;
	int rc, ret = st_yaml_get_string(y, node, where, out, size);

	if (ret < 0)
		return ret;
	rc = regcomp(&re, out, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &re, why, sizeof(why));
		return st_yaml_fail(y, st_yaml_line(node), "%s: '%s': %s",
				    where, out, why);
	}
	rc = regexec(&re, "", 0, NULL, 0);
	regfree(&re);
	if (rc == 0)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' matches the empty string", where,
				    out);
	return 0;
}

static int
load_text_item(struct st_yaml *y, yaml_node_t *node, unsigned int idx,
	       void *arg)
{
	const struct text_list *l = arg;
	char *item = l->items + idx * l->item_size;
	unsigned int i;
	int ret = l->get(y, node, l->where, item, l->item_size);

	for (i = 0; ret == 0 && i < idx; i++)
		if (strcmp(l->items + i * l->item_size, item) == 0)
			ret = st_yaml_fail(y, st_yaml_line(node),
					   "%s: '%s' is listed twice",
					   l->where, item);
	return ret;
}

/* A list key given replaces its default, so the count starts at 0. */
static int
load_text_list(struct st_yaml *y, yaml_node_t *node, const char *key,
	       struct text_list *l, unsigned int *count)
{
	yaml_node_t *v = st_yaml_lookup(y, node, key);

	if (v == NULL)
		return 0;
	*count = 0;
	return st_yaml_load_list(y, v, l->where, ST_REPLAY_MAX_SANITIZE, count,
				 load_text_item, l);
}

static int
load_replace_headers(struct st_yaml *y, yaml_node_t *node,
		     struct st_replay_sanitize_conf *san)
{
	static const char *const where = "sanitize.replace_headers";
	yaml_node_pair_t *p;
	unsigned int i;
	int ret = 0;

	if (node->type != YAML_MAPPING_NODE)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s must map header names to values",
				    where);
	san->nb_replace_headers = 0;
	for (p = node->data.mapping.pairs.start;
	     ret == 0 && p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *key = st_yaml_node(y, p->key);
		struct st_replay_header_sub *h =
			&san->replace_headers[san->nb_replace_headers];

		if (san->nb_replace_headers == ST_REPLAY_MAX_SANITIZE)
			return st_yaml_fail(y, st_yaml_line(key),
					    "%s: at most %d headers", where,
					    ST_REPLAY_MAX_SANITIZE);
		ret = st_yaml_get_header_name(y, key, where, h->name);
		for (i = 0; ret == 0 && i < san->nb_replace_headers; i++)
			if (strcmp(san->replace_headers[i].name, h->name) == 0)
				ret = st_yaml_fail(y, st_yaml_line(key),
						   "%s: '%s' is given twice",
						   where, h->name);
		if (ret == 0)
			ret = get_field_value(y, st_yaml_node(y, p->value),
					      where, h->value,
					      sizeof(h->value), false);
		if (ret == 0)
			san->nb_replace_headers++;
	}
	return ret;
}

static int
load_sanitize(struct st_yaml *y, yaml_node_t *node,
	      struct st_replay_sanitize_conf *san)
{
	static const char *const keys[] = { "drop_headers", "replace_headers",
					    "json_fields", "patterns", NULL };
	struct text_list drop = {
		"sanitize.drop_headers", &san->drop_headers[0][0],
		sizeof(san->drop_headers[0]), get_header_item,
	};
	struct text_list json = {
		"sanitize.json_fields", &san->json_fields[0][0],
		sizeof(san->json_fields[0]), st_yaml_get_string,
	};
	struct text_list patterns = {
		"sanitize.patterns", &san->patterns[0][0],
		sizeof(san->patterns[0]), get_pattern,
	};
	yaml_node_t *v;
	int ret = st_yaml_check_mapping(y, node, "sanitize", keys);

	san->line = st_yaml_line(node);
	if (ret == 0)
		ret = load_text_list(y, node, "drop_headers", &drop,
				     &san->nb_drop_headers);
	if (ret == 0 &&
	    (v = st_yaml_lookup(y, node, "replace_headers")) != NULL)
		ret = load_replace_headers(y, v, san);
	if (ret == 0)
		ret = load_text_list(y, node, "json_fields", &json,
				     &san->nb_json_fields);
	if (ret == 0)
		ret = load_text_list(y, node, "patterns", &patterns,
				     &san->nb_patterns);
	return ret;
}

static int
get_decap(struct st_yaml *y, yaml_node_t *node, enum st_decap_mode *mode)
{
	char list[64] = "";
	const char *s;
	int m, ret = st_yaml_get_scalar(y, node, "capture.decap", &s);

	if (ret < 0)
		return ret;
	for (m = 0; m < ST_DECAP_MODES; m++) {
		const char *name = st_decap_mode_name((enum st_decap_mode)m);

		if (strcmp(s, name) == 0) {
			*mode = (enum st_decap_mode)m;
			return 0;
		}
		st_yaml_list_append(list, sizeof(list), name);
	}
	return st_yaml_fail(y, st_yaml_line(node),
			    "capture.decap: unknown mode '%s' (%s)", s, list);
}

/* A filter libpcap compiles for Ethernet frames, as the capture will. */
static int
get_bpf(struct st_yaml *y, yaml_node_t *node, uint32_t snaplen, char *bpf,
	size_t size)
{
	struct bpf_program prog;
	pcap_t *p;
	int ret = st_yaml_get_string(y, node, "capture.bpf", bpf, size);

	if (ret < 0)
		return ret;
	p = pcap_open_dead(DLT_EN10MB, (int)snaplen);
	if (p == NULL) {
		st_yaml_fail(y, st_yaml_line(node),
			     "capture.bpf: out of memory");
		return -ENOMEM;
	}
	if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0)
		ret = st_yaml_fail(y, st_yaml_line(node),
				   "capture.bpf: '%s': %s", bpf,
				   pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	return ret;
}

static int
load_capture(struct st_yaml *y, yaml_node_t *node,
	     struct st_replay_capture_conf *c)
{
	static const char *const others[] = { "decap", "bpf", NULL };
	yaml_node_t *v;
	int ret = check_section(y, node, "capture", capture_numbers,
				ST_DIM(capture_numbers), others);

	c->line = st_yaml_line(node);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "decap")) != NULL)
		ret = get_decap(y, v, &c->decap);
	if (ret == 0)
		ret = load_numbers(y, node, "capture", capture_numbers,
				   ST_DIM(capture_numbers), c);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "bpf")) != NULL)
		ret = get_bpf(y, v, c->snaplen, c->bpf, sizeof(c->bpf));
	return ret;
}

static int
load_limits(struct st_yaml *y, yaml_node_t *node,
	    struct st_replay_limits_conf *l)
{
	static const char *const others[] = { NULL };
	int ret = check_section(y, node, "limits", limits_numbers,
				ST_DIM(limits_numbers), others);

	l->line = st_yaml_line(node);
	if (ret == 0)
		ret = load_numbers(y, node, "limits", limits_numbers,
				   ST_DIM(limits_numbers), l);
	return ret;
}

/* routes_from: an appliance config, relative to this file's directory. */
static int
load_routes_from(struct st_yaml *y, yaml_node_t *node,
		 struct st_replay_conf *conf)
{
	char dir[sizeof(conf->path)], path[sizeof(conf->path)], why[1024];
	const char *s;
	int n, ret = st_yaml_get_scalar(y, node, "routes_from", &s);

	if (ret < 0)
		return ret;
	strcpy(dir, conf->path);
	n = s[0] == '/'
		? snprintf(path, sizeof(path), "%s", s)
		: snprintf(path, sizeof(path), "%s/%s", dirname(dir), s);
	if (n < 0 || (size_t)n >= sizeof(path))
		return st_yaml_fail(y, st_yaml_line(node),
				    "routes_from: path too long");
	ret = st_config_load(path, &conf->routes, why, sizeof(why));
	if (ret < 0)
		st_yaml_fail(y, st_yaml_line(node), "routes_from: %s", why);
	return ret;
}

/* conf->replayed: every route (@p all), or those that mirror something. */
static void
mark_replayed(struct st_replay_conf *conf, bool all)
{
	unsigned int i;

	for (i = 0; i < conf->routes.nb_routes; i++)
		if (all || conf->routes.routes[i].mirrors != 0)
			conf->replayed |= 1ull << i;
}

static int
load_root(struct st_yaml *y, yaml_node_t *root, struct st_replay_conf *conf)
{
	static const char *const keys[] = { "routes",  "routes_from",
					    "http",    "shadow",
					    "sanitize", "capture",
					    "limits",  NULL };
	/* What routes_from takes from the appliance's file. */
	static const char *const from_gives[] = { "routes", "http" };
	yaml_node_t *v, *from;
	size_t i;
	int ret = st_yaml_check_mapping(y, root, "the top level", keys);

	if (ret < 0)
		return ret;
	from = st_yaml_lookup(y, root, "routes_from");
	for (i = 0; from != NULL && i < ST_DIM(from_gives); i++)
		if ((v = st_yaml_lookup(y, root, from_gives[i])) != NULL)
			return st_yaml_fail(y, st_yaml_line(from),
					    "routes_from: the routes and http "
					    "come from that file: remove '%s' "
					    "(line %d)",
					    from_gives[i], st_yaml_line(v));
	if (from != NULL && (ret = load_routes_from(y, from, conf)) == 0)
		mark_replayed(conf, false);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "routes")) != NULL) {
		ret = st_config_load_routes(y, v, &conf->routes,
					    ST_CONFIG_ROUTES_REPLAY);
		mark_replayed(conf, true);
	}
	if (ret == 0 && (v = st_yaml_lookup(y, root, "http")) != NULL)
		ret = st_config_load_http(y, v, &conf->routes);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "shadow")) != NULL)
		ret = load_shadow(y, v, conf);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "sanitize")) != NULL)
		ret = load_sanitize(y, v, &conf->sanitize);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "capture")) != NULL)
		ret = load_capture(y, v, &conf->capture);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "limits")) != NULL)
		ret = load_limits(y, v, &conf->limits);
	return ret;
}

int
st_replay_conf_load(const char *path, struct st_replay_conf *conf,
		    char *err, size_t errlen)
{
	struct st_yaml y;
	yaml_node_t *root;
	int ret;

	memset(conf, 0, sizeof(*conf));
	/* Routes written here are this file's: errors the classifier finds
	 * in them name it. */
	ret = st_config_init(&conf->routes, path, err, errlen);
	if (ret < 0)
		return ret;
	strcpy(conf->path, path);
	set_defaults(conf);
	ret = st_yaml_open(&y, path, err, errlen, &root);
	if (ret < 0)
		return ret;
	ret = load_root(&y, root, conf);
	st_yaml_close(&y);
	return ret;
}
