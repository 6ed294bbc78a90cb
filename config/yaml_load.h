/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_YAML_LOAD_H
#define ST_YAML_LOAD_H

/*
 * config/'s internals, shared by the loaders of shadowtap's files: the
 * appliance's (config.c) and shadowtap-replay's (replay/conf.c). One YAML
 * walker, so that both refuse the same mistakes with the same words, and
 * one route loader, so that a route means the same in both. Not a public
 * contract: nothing but a config loader includes it.
 *
 * Errors read "FILE:LINE: WHERE: what is wrong", WHERE naming the key
 * ("http.ports", "route 'api'"). Every getter takes the node and WHERE,
 * fills its output and returns 0, or fills the loader's error buffer and
 * returns -EINVAL. A loader serves one load on one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config.h"

/* One load: the parsed document plus where errors go. */
struct st_yaml {
	yaml_document_t doc;
	const char *path;
	char *err;
	size_t errlen;
};

/**
 * Parse a file into @p y.
 *
 * @param root  receives the top node (a file with no document is an
 *              error, "the file is empty")
 * @return 0, then st_yaml_close() must follow; or a negative errno with
 *         @p err filled ("FILE: No such file...", "FILE:LINE: YAML
 *         syntax: ...")
 */
int st_yaml_open(struct st_yaml *y, const char *path, char *err, size_t errlen,
		 yaml_node_t **root);

/** Free what st_yaml_open() parsed. */
void st_yaml_close(struct st_yaml *y);

/** Write "FILE:LINE: " and the message to the error buffer; -EINVAL. */
int st_yaml_fail(struct st_yaml *y, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Line of a node in its file, from 1. */
int st_yaml_line(const yaml_node_t *node);

/** Text of a scalar node. */
const char *st_yaml_scalar(const yaml_node_t *node);

/** Node of an index held by a mapping pair or a sequence item. */
yaml_node_t *st_yaml_node(struct st_yaml *y, int index);

/** Append @p item to the comma-separated @p list (@p size bytes). */
void st_yaml_list_append(char *list, size_t size, const char *item);

/**
 * Check that @p map is a mapping whose keys are all in @p allowed
 * (NULL-terminated) and none repeats, so that a typo is an error rather
 * than a silently ignored setting.
 */
int st_yaml_check_mapping(struct st_yaml *y, yaml_node_t *map,
			  const char *where, const char *const *allowed);

/** Value of @p key in a mapping st_yaml_check_mapping() passed, or NULL. */
yaml_node_t *st_yaml_lookup(struct st_yaml *y, yaml_node_t *map,
			    const char *key);

/** A non-empty scalar. */
int st_yaml_get_scalar(struct st_yaml *y, yaml_node_t *node, const char *where,
		       const char **out);

/** A scalar copied into @p out (@p size bytes with the NUL). */
int st_yaml_get_string(struct st_yaml *y, yaml_node_t *node, const char *where,
		       char *out, size_t size);

/** A finite number in @p min..@p max. */
int st_yaml_get_number(struct st_yaml *y, yaml_node_t *node, const char *where,
		       double min, double max, double *out);

/** A whole number in @p min..@p max. */
int st_yaml_get_uint(struct st_yaml *y, yaml_node_t *node, const char *where,
		     uint32_t min, uint32_t max, uint32_t *out);

/** A whole number in @p min..@p max, which must not pass 2^53. */
int st_yaml_get_u64(struct st_yaml *y, yaml_node_t *node, const char *where,
		    uint64_t min, uint64_t max, uint64_t *out);

/** true or false. */
int st_yaml_get_bool(struct st_yaml *y, yaml_node_t *node, const char *where,
		     bool *out);

/** An HTTP header name (an RFC 9110 token), stored in lower case. */
int st_yaml_get_header_name(struct st_yaml *y, yaml_node_t *node,
			    const char *where, char out[ST_HEADER_NAME_MAX]);

/**
 * A list of at most @p max items, each loaded by @p load_item with its
 * index (*@p count, which grows by one per item) and @p arg.
 */
int st_yaml_load_list(struct st_yaml *y, yaml_node_t *node, const char *what,
		      unsigned int max, unsigned int *count,
		      int (*load_item)(struct st_yaml *, yaml_node_t *,
				       unsigned int, void *),
		      void *arg);

/* The parts of the appliance's model other files are made of (config.c). */

/**
 * Empty @p cfg, give it its defaults and @p path.
 * @return 0, or -ENAMETOOLONG with @p err filled
 */
int st_config_init(struct st_config *cfg, const char *path, char *err,
		   size_t errlen);

/* Who reads a routes: list. */
enum st_config_routes_for {
	/* The appliance: "mirror" is required and names cfg->mirrors
	 * (loaded before). */
	ST_CONFIG_ROUTES_MIRROR,
	/* The replay: every route's requests are replayed, so "match" is
	 * required; "mirror" and "percent" are accepted and ignored (left
	 * 0 and 100). Writes need allow_writes, as for a route that
	 * mirrors. */
	ST_CONFIG_ROUTES_REPLAY,
};

/** The routes: list into cfg->routes, cfg->nb_routes. */
int st_config_load_routes(struct st_yaml *y, yaml_node_t *node,
			  struct st_config *cfg,
			  enum st_config_routes_for reader);

/** The http: mapping into cfg->http. */
int st_config_load_http(struct st_yaml *y, yaml_node_t *node,
			struct st_config *cfg);

#endif
