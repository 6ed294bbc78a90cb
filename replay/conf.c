/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay.yaml: config/'s YAML walker and route loader (yaml_load.h), so a
 * mistake reads as in the appliance's file and a route means the same.
 */
#include "conf.h"

#include <ctype.h>
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
_Static_assert(ST_HEADER_NAME_MAX <= ST_REPLAY_PATH_MAX,
	       "a noise rule's path holds a header name");

#define DEFAULT_SNAPLEN 262144	/* what tcpdump takes: any frame */
#define DEFAULT_BUFFER_MB 64
#define MIB (1u << 20)

/* shadow and secondary */
static const struct st_replay_shadow_conf default_shadow = {
	.host_mode = ST_REPLAY_HOST_KEEP,
	.timeout_ms = 5000,
	.connections = 8,
	.max_in_flight = 256,
	.mark_header = "x-shadowtap-replay",
	.mark_value = "1",
};

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
/* Headers that say what an answer is, not when or by whom it was made
 * (date, server, etag, ... are left out). */
static const char *const default_compare_headers[] = {
	"content-type",
	"location",
	"cache-control",
	"content-language",
	"content-disposition",
	"vary",
	"access-control-allow-origin",
	"www-authenticate",
	"allow",
};

/* A noise rule's actions, as its keys are named. */
static const char *const noise_actions[] = {
	[ST_NOISE_IGNORE] = "ignore",
	[ST_NOISE_PRESENCE] = "presence",
	[ST_NOISE_TOLERANCE] = "tolerance",
	[ST_NOISE_PATTERN] = "pattern",
};

enum number_kind {
	NUMBER_WHOLE,		/* a uint32_t or uint64_t field */
	NUMBER_REAL,		/* a double field */
	NUMBER_FRACTION,	/* a double field, and its messages say that
				 * 0.01 is 1% */
};

/* A number key of a section, and the field its value goes to. */
struct number_key {
	const char *name;
	uint64_t min, max;
	size_t offset, size;
	enum number_kind kind;
};

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)NULL)->f)
#define SHADOW(f) FIELD(struct st_replay_shadow_conf, f), NUMBER_WHOLE
#define CAPTURE(f) FIELD(struct st_replay_capture_conf, f), NUMBER_WHOLE
#define LIMITS(f) FIELD(struct st_replay_limits_conf, f), NUMBER_WHOLE
#define COMPARE(f) FIELD(struct st_replay_compare_conf, f), NUMBER_WHOLE
#define GATE(f, kind) FIELD(struct st_replay_gate_conf, f), kind

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

static const struct number_key compare_numbers[] = {
	{ "max_samples", 0, 16, COMPARE(max_samples) },
	{ "max_differences", 1, 1024, COMPARE(max_differences) },
};

static const struct number_key gate_numbers[] = {
	{ "min_exchanges", 1, 1000000000, GATE(min_exchanges, NUMBER_WHOLE) },
	/* Below 1 a shadow as fast as the primary would fail. */
	{ "max_p99_ratio", 1, 1000, GATE(max_p99_ratio, NUMBER_REAL) },
	{ "min_p99_drift_ms", 0, 3600000,
	  GATE(min_p99_drift_ms, NUMBER_REAL) },
	{ "max_error_rate_delta", 0, 1,
	  GATE(max_error_rate_delta, NUMBER_FRACTION) },
	{ "max_mismatch_rate", 0, 1,
	  GATE(max_mismatch_rate, NUMBER_FRACTION) },
};

/* The largest tolerance: any bound would do, this one reads well in the
 * message of one refused. */
#define MAX_TOLERANCE 1e15

/* One list of strings (sanitize's, compare.headers). */
struct text_list {
	const char *where;	/* "sanitize.patterns" */
	char *items;		/* max of item_size */
	size_t item_size;
	unsigned int max;
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
	struct st_replay_compare_conf *cmp = &conf->compare;

	conf->shadow = default_shadow;
	conf->secondary = default_shadow;
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
	copy_list(&cmp->headers[0][0], sizeof(cmp->headers[0]),
		  &cmp->nb_headers, default_compare_headers,
		  ST_DIM(default_compare_headers));
	cmp->max_samples = 3;
	cmp->max_differences = 64;
	cmp->gate = (struct st_replay_gate_conf){
		.min_exchanges = 100,
		.max_p99_ratio = 1.5,
		.min_p99_drift_ms = 1,
		.max_error_rate_delta = 0.01,
		.max_mismatch_rate = 0.01,
	};
}

/* "SECTION.KEY" into @p buf, for messages. */
static const char *
key_where(char *buf, size_t size, const char *section, const char *key)
{
	snprintf(buf, size, "%s.%s", section, key);
	return buf;
}

/* After a message on a fraction, how to write one. */
static void
hint_fraction(struct st_yaml *y)
{
	size_t len = strlen(y->err);

	snprintf(y->err + len, y->errlen - len,
		 " (a fraction: 0.01 is 1%%)");
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
	double real;
	size_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < nb; i++) {
		const struct number_key *k = &numbers[i];
		void *field = (char *)base + k->offset;

		v = st_yaml_lookup(y, node, k->name);
		if (v == NULL)
			continue;
		key_where(where, sizeof(where), section, k->name);
		if (k->kind != NUMBER_WHOLE) {
			ret = st_yaml_get_number(y, v, where, (double)k->min,
						 (double)k->max, &real);
			if (ret == 0)
				*(double *)field = real;
			else if (k->kind == NUMBER_FRACTION)
				hint_fraction(y);
			continue;
		}
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
get_url(struct st_yaml *y, yaml_node_t *node, const char *where, char *url,
	size_t size)
{
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

/*
 * shadow or secondary (@p section), into @p s: the same keys, since both
 * are services the requests are replayed to.
 */
static int
load_shadow(struct st_yaml *y, yaml_node_t *node, const char *section,
	    struct st_replay_shadow_conf *s)
{
	static const char *const others[] = { "url", "host", "host_suffix",
					      "mark_header", "mark_value",
					      NULL };
	char where[32];
	yaml_node_t *v, *host, *suffix;
	int ret = check_section(y, node, section, shadow_numbers,
				ST_DIM(shadow_numbers), others);

	if (ret < 0)
		return ret;
	s->line = st_yaml_line(node);
	v = st_yaml_lookup(y, node, "url");
	if (v == NULL)
		return st_yaml_fail(y, s->line, "%s: 'url' is required",
				    section);
	ret = get_url(y, v, key_where(where, sizeof(where), section, "url"),
		      s->url, sizeof(s->url));
	host = st_yaml_lookup(y, node, "host");
	suffix = st_yaml_lookup(y, node, "host_suffix");
	if (ret == 0 && host != NULL && suffix != NULL)
		return st_yaml_fail(y, st_yaml_line(suffix),
				    "%s: give host (line %d) or "
				    "host_suffix, not both",
				    section, st_yaml_line(host));
	if (ret == 0 && host != NULL) {
		s->host_mode = ST_REPLAY_HOST_SET;
		ret = get_field_value(y, host,
				      key_where(where, sizeof(where), section,
						"host"),
				      s->host, sizeof(s->host), true);
	} else if (ret == 0 && suffix != NULL) {
		s->host_mode = ST_REPLAY_HOST_SUFFIX;
		ret = get_field_value(y, suffix,
				      key_where(where, sizeof(where), section,
						"host_suffix"),
				      s->host, sizeof(s->host), true);
	}
	if (ret == 0 && (v = st_yaml_lookup(y, node, "mark_header")) != NULL)
		ret = st_yaml_get_header_name(y, v,
					      key_where(where, sizeof(where),
							section, "mark_header"),
					      s->mark_header);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "mark_value")) != NULL)
		ret = get_field_value(y, v,
				      key_where(where, sizeof(where), section,
						"mark_value"),
				      s->mark_value, sizeof(s->mark_value),
				      false);
	if (ret == 0)
		ret = load_numbers(y, node, section, shadow_numbers,
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

/* A POSIX ERE regcomp takes; with @p not_empty, one that cannot match
 * nothing. */
static int
get_regex(struct st_yaml *y, yaml_node_t *node, const char *where, char *out,
	  size_t size, bool not_empty)
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
	if (not_empty && rc == 0)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' matches the empty string", where,
				    out);
	return 0;
}

/* A pattern of the sanitizer: one that matched nothing would mask between
 * every two bytes. */
static int
get_pattern(struct st_yaml *y, yaml_node_t *node, const char *where,
	    char *out, size_t size)
{
	return get_regex(y, node, where, out, size, true);
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
	return st_yaml_load_list(y, v, l->where, l->max, count, load_text_item,
				 l);
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
		sizeof(san->drop_headers[0]), ST_REPLAY_MAX_SANITIZE,
		get_header_item,
	};
	struct text_list json = {
		"sanitize.json_fields", &san->json_fields[0][0],
		sizeof(san->json_fields[0]), ST_REPLAY_MAX_SANITIZE,
		st_yaml_get_string,
	};
	struct text_list patterns = {
		"sanitize.patterns", &san->patterns[0][0],
		sizeof(san->patterns[0]), ST_REPLAY_MAX_SANITIZE, get_pattern,
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

/* A section of numbers only (limits, compare.gate), into @p base. */
static int
load_number_section(struct st_yaml *y, yaml_node_t *node, const char *section,
		    const struct number_key *numbers, size_t nb, void *base,
		    int *line)
{
	static const char *const others[] = { NULL };
	int ret = check_section(y, node, section, numbers, nb, others);

	*line = st_yaml_line(node);
	if (ret == 0)
		ret = load_numbers(y, node, section, numbers, nb, base);
	return ret;
}

/* Length of the key at @p s that diff.h writes after ".", or 0. */
static size_t
ident_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

/*
 * The closing quote of the JSON string whose text starts at @p s, or NULL
 * when it has none or holds what JSON refuses (a control character, an
 * unknown escape). *@p escaped tells whether it has an escape.
 */
static const char *
json_string_end(const char *s, bool *escaped)
{
	unsigned int i;

	for (*escaped = false; *s != '"'; s++) {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s != '\\')
			continue;
		*escaped = true;
		s++;
		if (*s == 'u') {
			for (i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)s[i]))
					return NULL;
			s += 4;
		} else if (*s == '\0' || strchr("\"\\/bfnrt", *s) == NULL) {
			return NULL;
		}
	}
	return s;
}

/*
 * A rule's JSON path, stored as st_diff_answers() writes paths so that
 * the two compare as strings: "$", then .key, ["key"] (JSON-escaped) or
 * [*]; a quoted key that needs no quotes is stored as .key.
 */
static int
get_json_path(struct st_yaml *y, yaml_node_t *node, const char *where,
	      char *out, size_t size)
{
	const char *text = st_yaml_scalar(node), *end;
	char *r, *w;
	bool escaped;
	size_t n;
	int ret = st_yaml_get_string(y, node, where, out, size);

	if (ret < 0)
		return ret;
	if (out[0] != '$')
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' does not start with '$'", where,
				    text);
	/* Rewritten in place: a path only gets shorter, so r runs on text
	 * not yet written over, at the same offset as in text. */
	for (r = w = out + 1; *r != '\0';) {
		if (*r == '.' && (n = ident_len(r + 1)) > 0) {
			memmove(w, r, n + 1);
			w += n + 1;
			r += n + 1;
		} else if (strncmp(r, "[*]", 3) == 0) {
			memmove(w, r, 3);
			w += 3;
			r += 3;
		} else if (strncmp(r, "[\"", 2) == 0 &&
			   (end = json_string_end(r + 2, &escaped)) != NULL &&
			   end[1] == ']') {
			n = (size_t)(end - (r + 2));
			if (!escaped && n > 0 && ident_len(r + 2) == n) {
				*w++ = '.';
				memmove(w, r + 2, n);
				w += n;
			} else {
				memmove(w, r, n + 4);
				w += n + 4;
			}
			r += n + 4;
		} else if (r[0] == '[' &&
			   (isdigit((unsigned char)r[1]) || r[1] == '-')) {
			return st_yaml_fail(y, st_yaml_line(node),
					    "%s: '%s': every array index is "
					    "written [*] (a rule covers every "
					    "element)",
					    where, text);
		} else {
			return st_yaml_fail(y, st_yaml_line(node),
					    "%s: '%s': .key, [\"key\"] or [*] "
					    "expected after '%.*s' (a key of "
					    "more than letters, digits and _ "
					    "is written [\"key\"])",
					    where, text, (int)(r - out), text);
		}
	}
	*w = '\0';
	return 0;
}

/* A route's name: its index in @p routes. */
static int
get_route(struct st_yaml *y, yaml_node_t *node, const char *where,
	  const struct st_config *routes, int *route)
{
	const char *name;
	unsigned int i;
	int ret = st_yaml_get_scalar(y, node, where, &name);

	if (ret < 0)
		return ret;
	for (i = 0; i < routes->nb_routes; i++)
		if (strcmp(routes->routes[i].name, name) == 0) {
			*route = (int)i;
			return 0;
		}
	return st_yaml_fail(y, st_yaml_line(node), "%s: no route named '%s'",
			    where, name);
}

/* What a rule covers: a JSON path or a header, on one route or all. */
static int
load_noise_target(struct st_yaml *y, yaml_node_t *node, const char *where,
		  const struct st_config *routes,
		  struct st_replay_noise_rule *rule)
{
	char key[48];
	yaml_node_t *v, *path = st_yaml_lookup(y, node, "path"),
			*header = st_yaml_lookup(y, node, "header");
	int ret;

	if (path != NULL && header != NULL)
		return st_yaml_fail(y, st_yaml_line(header),
				    "%s: give path (line %d) or header, not "
				    "both",
				    where, st_yaml_line(path));
	if (path == NULL && header == NULL)
		return st_yaml_fail(y, rule->line,
				    "%s: 'path' or 'header' is required",
				    where);
	rule->header = header != NULL;
	if (path != NULL)
		ret = get_json_path(y, path,
				    key_where(key, sizeof(key), where, "path"),
				    rule->path, sizeof(rule->path));
	else
		ret = st_yaml_get_header_name(y, header,
					      key_where(key, sizeof(key), where,
							"header"),
					      rule->path);
	rule->route = -1;
	if (ret == 0 && (v = st_yaml_lookup(y, node, "route")) != NULL)
		ret = get_route(y, v,
				key_where(key, sizeof(key), where, "route"),
				routes, &rule->route);
	return ret;
}

/* The one action of a rule. */
static int
load_noise_action(struct st_yaml *y, yaml_node_t *node, const char *where,
		  struct st_replay_noise_rule *rule)
{
	char given[64] = "", key[48];
	yaml_node_t *v = NULL, *found;
	unsigned int a, nb = 0;
	bool on;
	int ret;

	for (a = 0; a < ST_DIM(noise_actions); a++) {
		found = st_yaml_lookup(y, node, noise_actions[a]);
		if (found == NULL)
			continue;
		st_yaml_list_append(given, sizeof(given), noise_actions[a]);
		rule->action = (enum st_replay_noise_action)a;
		v = found;
		nb++;
	}
	if (nb == 0)
		return st_yaml_fail(y, rule->line,
				    "%s: no action: give ignore, presence, "
				    "tolerance or pattern",
				    where);
	if (nb > 1)
		return st_yaml_fail(y, rule->line,
				    "%s: one action per rule; this one has %s",
				    where, given);
	key_where(key, sizeof(key), where, noise_actions[rule->action]);
	if (rule->action == ST_NOISE_TOLERANCE)
		return st_yaml_get_number(y, v, key, 0, MAX_TOLERANCE,
					  &rule->tolerance);
	/* A pattern compares values: one that matches "" is of use. */
	if (rule->action == ST_NOISE_PATTERN)
		return get_regex(y, v, key, rule->pattern,
				 sizeof(rule->pattern), false);
	ret = st_yaml_get_bool(y, v, key, &on);
	if (ret == 0 && !on)
		ret = st_yaml_fail(y, st_yaml_line(v),
				   "%s: must be true (leave the rule out "
				   "instead)",
				   key);
	return ret;
}

static int
load_noise_rule(struct st_yaml *y, yaml_node_t *node, unsigned int idx,
		void *arg)
{
	static const char *const keys[] = { "path",	"header",
					    "route",	"ignore",
					    "presence", "tolerance",
					    "pattern",	NULL };
	struct st_replay_conf *conf = arg;
	struct st_replay_noise_rule *rule = &conf->compare.noise[idx];
	const struct st_replay_noise_rule *o;
	char where[32];
	unsigned int i;
	int ret;

	snprintf(where, sizeof(where), "compare.noise[%u]", idx);
	ret = st_yaml_check_mapping(y, node, where, keys);
	if (ret < 0)
		return ret;
	rule->line = st_yaml_line(node);
	ret = load_noise_target(y, node, where, &conf->routes, rule);
	if (ret == 0)
		ret = load_noise_action(y, node, where, rule);
	/* Two actions on one thing: which one holds would be a guess. */
	for (i = 0; ret == 0 && i < idx; i++) {
		o = &conf->compare.noise[i];
		if (o->header == rule->header && o->route == rule->route &&
		    strcmp(o->path, rule->path) == 0)
			ret = st_yaml_fail(y, rule->line,
					   "%s: '%s' has a rule already (line "
					   "%d)",
					   where, rule->path, o->line);
	}
	return ret;
}

/* compare; after the routes, which noise rules name. */
static int
load_compare(struct st_yaml *y, yaml_node_t *node, struct st_replay_conf *conf)
{
	static const char *const others[] = { "headers", "noise", "gate",
					      NULL };
	struct st_replay_compare_conf *c = &conf->compare;
	struct text_list headers = {
		"compare.headers", &c->headers[0][0], sizeof(c->headers[0]),
		ST_REPLAY_MAX_COMPARE_HEADERS, get_header_item,
	};
	yaml_node_t *v;
	int ret = check_section(y, node, "compare", compare_numbers,
				ST_DIM(compare_numbers), others);

	c->line = st_yaml_line(node);
	if (ret == 0)
		ret = load_text_list(y, node, "headers", &headers,
				     &c->nb_headers);
	if (ret == 0)
		ret = load_numbers(y, node, "compare", compare_numbers,
				   ST_DIM(compare_numbers), c);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "noise")) != NULL)
		ret = st_yaml_load_list(y, v, "compare.noise",
					ST_REPLAY_MAX_NOISE, &c->nb_noise,
					load_noise_rule, conf);
	if (ret == 0 && (v = st_yaml_lookup(y, node, "gate")) != NULL)
		ret = load_number_section(y, v, "compare.gate", gate_numbers,
					  ST_DIM(gate_numbers), &c->gate,
					  &c->gate.line);
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

/* The secondary runs the primary's version: were it the shadow, every
 * difference of the shadow would pass for noise. */
static int
check_secondary(struct st_yaml *y, yaml_node_t *node,
		const struct st_replay_conf *conf)
{
	if (!conf->has_shadow ||
	    strcmp(conf->shadow.url, conf->secondary.url) != 0)
		return 0;
	return st_yaml_fail(y, st_yaml_line(st_yaml_lookup(y, node, "url")),
			    "secondary.url: '%s' is shadow.url too; the "
			    "secondary runs the primary's version",
			    conf->secondary.url);
}

static int
load_root(struct st_yaml *y, yaml_node_t *root, struct st_replay_conf *conf)
{
	static const char *const keys[] = { "routes",	 "routes_from",
					    "http",	 "shadow",
					    "secondary", "compare",
					    "sanitize",	 "capture",
					    "limits",	 NULL };
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
	if (ret == 0 && (v = st_yaml_lookup(y, root, "shadow")) != NULL) {
		conf->has_shadow = true;
		ret = load_shadow(y, v, "shadow", &conf->shadow);
	}
	if (ret == 0 && (v = st_yaml_lookup(y, root, "secondary")) != NULL) {
		conf->has_secondary = true;
		ret = load_shadow(y, v, "secondary", &conf->secondary);
		if (ret == 0)
			ret = check_secondary(y, v, conf);
	}
	if (ret == 0 && (v = st_yaml_lookup(y, root, "sanitize")) != NULL)
		ret = load_sanitize(y, v, &conf->sanitize);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "capture")) != NULL)
		ret = load_capture(y, v, &conf->capture);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "limits")) != NULL)
		ret = load_number_section(y, v, "limits", limits_numbers,
					  ST_DIM(limits_numbers), &conf->limits,
					  &conf->limits.line);
	if (ret == 0 && (v = st_yaml_lookup(y, root, "compare")) != NULL)
		ret = load_compare(y, v, conf);
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
