/* SPDX-License-Identifier: BSD-3-Clause */
/* The YAML walker every shadowtap config loader uses (yaml_load.h). */
#include "yaml_load.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
st_yaml_fail(struct st_yaml *y, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(y->err, y->errlen, "%s:%d: ", y->path, line);

	if (n >= 0 && (size_t)n < y->errlen) {
		va_start(ap, fmt);
		vsnprintf(y->err + n, y->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int
st_yaml_line(const yaml_node_t *node)
{
	return (int)node->start_mark.line + 1;
}

const char *
st_yaml_scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

yaml_node_t *
st_yaml_node(struct st_yaml *y, int index)
{
	return yaml_document_get_node(&y->doc, index);
}

void
st_yaml_list_append(char *list, size_t size, const char *item)
{
	size_t len = strlen(list);

	snprintf(list + len, size - len, "%s%s", len ? ", " : "", item);
}

int
st_yaml_check_mapping(struct st_yaml *y, yaml_node_t *map, const char *where,
		      const char *const *allowed)
{
	yaml_node_pair_t *p, *q;

	if (map->type != YAML_MAPPING_NODE)
		return st_yaml_fail(y, st_yaml_line(map),
				    "%s must be a mapping", where);
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = st_yaml_node(y, p->key);
		const char *const *a;

		if (key->type != YAML_SCALAR_NODE)
			return st_yaml_fail(y, st_yaml_line(key),
					    "%s: keys must be plain words",
					    where);
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, st_yaml_scalar(key)) == 0)
				break;
		if (*a == NULL)
			return st_yaml_fail(y, st_yaml_line(key),
					    "%s: unknown key '%s'", where,
					    st_yaml_scalar(key));
		for (q = map->data.mapping.pairs.start; q < p; q++)
			if (strcmp(st_yaml_scalar(st_yaml_node(y, q->key)),
				   st_yaml_scalar(key)) == 0)
				return st_yaml_fail(y, st_yaml_line(key),
						    "%s: key '%s' given twice",
						    where, st_yaml_scalar(key));
	}
	return 0;
}

yaml_node_t *
st_yaml_lookup(struct st_yaml *y, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++)
		if (strcmp(st_yaml_scalar(st_yaml_node(y, p->key)), key) == 0)
			return st_yaml_node(y, p->value);
	return NULL;
}

int
st_yaml_get_scalar(struct st_yaml *y, yaml_node_t *node, const char *where,
		   const char **out)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0)
		return st_yaml_fail(y, st_yaml_line(node), "%s must be a value",
				    where);
	*out = st_yaml_scalar(node);
	return 0;
}

int
st_yaml_get_string(struct st_yaml *y, yaml_node_t *node, const char *where,
		   char *out, size_t size)
{
	const char *s;
	int ret = st_yaml_get_scalar(y, node, where, &s);

	if (ret < 0)
		return ret;
	if (strlen(s) >= size)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' is longer than %zu characters",
				    where, s, size - 1);
	strcpy(out, s);
	return 0;
}

int
st_yaml_get_number(struct st_yaml *y, yaml_node_t *node, const char *where,
		   double min, double max, double *out)
{
	const char *s;
	char *end;
	double v;
	int ret = st_yaml_get_scalar(y, node, where, &s);

	if (ret < 0)
		return ret;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' is not a number", where, s);
	if (v < min || v > max)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: %s is out of range %.15g..%.15g",
				    where, s, min, max);
	*out = v;
	return 0;
}

int
st_yaml_get_u64(struct st_yaml *y, yaml_node_t *node, const char *where,
		uint64_t min, uint64_t max, uint64_t *out)
{
	double v;
	int ret = st_yaml_get_number(y, node, where, min, max, &v);

	if (ret < 0)
		return ret;
	if (v != floor(v))
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: '%s' is not a whole number", where,
				    st_yaml_scalar(node));
	*out = (uint64_t)v;
	return 0;
}

int
st_yaml_get_uint(struct st_yaml *y, yaml_node_t *node, const char *where,
		 uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int ret = st_yaml_get_u64(y, node, where, min, max, &v);

	if (ret == 0)
		*out = (uint32_t)v;
	return ret;
}

int
st_yaml_get_bool(struct st_yaml *y, yaml_node_t *node, const char *where,
		 bool *out)
{
	const char *s;
	int ret = st_yaml_get_scalar(y, node, where, &s);

	if (ret < 0)
		return ret;
	if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
		*out = s[0] == 't';
		return 0;
	}
	return st_yaml_fail(y, st_yaml_line(node),
			    "%s: '%s' is not true or false", where, s);
}

int
st_yaml_get_header_name(struct st_yaml *y, yaml_node_t *node, const char *where,
			char out[ST_HEADER_NAME_MAX])
{
	const char *name, *c;
	unsigned int i;
	int ret = st_yaml_get_scalar(y, node, where, &name);

	if (ret < 0)
		return ret;
	if (strlen(name) >= ST_HEADER_NAME_MAX)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s: header name too long", where);
	/* RFC 9110 token characters; compared in lower case. */
	for (c = name, i = 0; *c != '\0'; c++, i++) {
		if (!isalnum((unsigned char)*c) &&
		    strchr("!#$%&'*+-.^_`|~", *c) == NULL)
			return st_yaml_fail(y, st_yaml_line(node),
					    "%s: '%s' is not a header name",
					    where, name);
		out[i] = (char)tolower((unsigned char)*c);
	}
	out[i] = '\0';
	return 0;
}

int
st_yaml_load_list(struct st_yaml *y, yaml_node_t *node, const char *what,
		  unsigned int max, unsigned int *count,
		  int (*load_item)(struct st_yaml *, yaml_node_t *,
				   unsigned int, void *),
		  void *arg)
{
	yaml_node_item_t *it;
	int ret;

	if (node->type != YAML_SEQUENCE_NODE)
		return st_yaml_fail(y, st_yaml_line(node),
				    "%s must be a list of %s", what, what);
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		if (*count == max)
			return st_yaml_fail(
			    y, st_yaml_line(st_yaml_node(y, *it)),
			    "at most %u %s are supported", max, what);
		ret = load_item(y, st_yaml_node(y, *it), *count, arg);
		if (ret < 0)
			return ret;
		(*count)++;
	}
	return 0;
}

int
st_yaml_open(struct st_yaml *y, const char *path, char *err, size_t errlen,
	     yaml_node_t **root)
{
	yaml_parser_t parser;
	FILE *f;
	int ret = 0;

	*y = (struct st_yaml){.path = path, .err = err, .errlen = errlen};
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
	if (!yaml_parser_load(&parser, &y->doc)) {
		ret = st_yaml_fail(
		    y, (int)parser.problem_mark.line + 1, "YAML syntax: %s",
		    parser.problem ? parser.problem : "unreadable");
	} else {
		*root = yaml_document_get_root_node(&y->doc);
		if (*root == NULL) {
			ret = st_yaml_fail(y, 1, "the file is empty");
			yaml_document_delete(&y->doc);
		}
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

void
st_yaml_close(struct st_yaml *y)
{
	yaml_document_delete(&y->doc);
}
