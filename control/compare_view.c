/* SPDX-License-Identifier: BSD-3-Clause */
#include "compare_view.h"

#include <errno.h>
#include <string.h>

/* Samples are cut to this on a line of the route view: the JSON has
 * them whole. */
#define SAMPLE_COLUMNS 40

static const json_t *
get(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);

	return b != NULL ? json_object_get(v, b) : v;
}

/* A figure, or "-" when the document has none (null: nothing timed). */
static void
figure(char *out, size_t size, const json_t *v, const char *fmt, double mul)
{
	if (json_is_number(v))
		snprintf(out, size, fmt, json_number_value(v) * mul);
	else
		snprintf(out, size, "-");
}

static void
pair(char *out, size_t size, const json_t *a, const json_t *b,
     const char *fmt, double mul)
{
	char x[32], y[32];

	figure(x, sizeof(x), a, fmt, mul);
	figure(y, sizeof(y), b, fmt, mul);
	snprintf(out, size, "%s / %s", x, y);
}

static void
header(FILE *out)
{
	fprintf(out, "%-16s %9s %19s %19s %17s %9s  %s\n", "route",
		"exchanges", "primary p50/p99 ms", "shadow p50/p99 ms",
		"errors p/s", "mismatch", "verdict");
}

static void
row(const json_t *r, FILE *out)
{
	const json_t *p = get(r, "primary", NULL), *s = get(r, "shadow", NULL);
	const json_t *reason;
	char lat_p[48], lat_s[48], errors[48], mismatch[32];
	size_t i;

	pair(lat_p, sizeof(lat_p), get(p, "p50_ms", NULL),
	     get(p, "p99_ms", NULL), "%.2f", 1);
	pair(lat_s, sizeof(lat_s), get(s, "p50_ms", NULL),
	     get(s, "p99_ms", NULL), "%.2f", 1);
	pair(errors, sizeof(errors), get(p, "error_rate", NULL),
	     get(s, "error_rate", NULL), "%.1f%%", 100);
	figure(mismatch, sizeof(mismatch), get(r, "mismatch_rate", NULL),
	       "%.1f%%", 100);
	fprintf(out, "%-16s %9" JSON_INTEGER_FORMAT " %19s %19s %17s %9s  %s",
		json_string_value(get(r, "name", NULL)),
		json_integer_value(get(r, "exchanges", NULL)), lat_p, lat_s,
		errors, mismatch, json_string_value(get(r, "verdict", NULL)));
	json_array_foreach(get(r, "reasons", NULL), i, reason)
		fprintf(out, "%s%s", i == 0 ? ": " : "; ",
			json_string_value(get(reason, "text", NULL)));
	fputc('\n', out);
}

void
st_compare_view_table(const json_t *doc, FILE *out)
{
	const json_t *r, *failed = get(doc, "failed", NULL), *name;
	size_t i;

	header(out);
	json_array_foreach(get(doc, "routes", NULL), i, r)
		row(r, out);
	fprintf(out, "verdict: %s", json_string_value(get(doc, "verdict",
							  NULL)));
	json_array_foreach(failed, i, name)
		fprintf(out, "%s%s", i == 0 ? " (" : ", ",
			json_string_value(name));
	fputs(json_array_size(failed) > 0 ? ")\n" : "\n", out);
}

/* A sample of one side; "" is a value that side does not have. */
static const char *
side_sample(const json_t *v)
{
	const char *text = json_string_value(v);

	return text != NULL && text[0] != '\0' ? text : "(none)";
}

/* "kind path: count (rate%)", then a sample "primary -> other". */
static void
differences(const char *title, const json_t *list, FILE *out)
{
	const json_t *d, *sample;
	size_t i;

	fprintf(out, "%s:%s\n", title, json_array_size(list) ? "" : " none");
	json_array_foreach(list, i, d) {
		char rate[32];

		figure(rate, sizeof(rate), get(d, "rate", NULL), "%.1f%%", 100);
		fprintf(out, "  %-11s %-40s %8" JSON_INTEGER_FORMAT " %8s\n",
			json_string_value(get(d, "kind", NULL)),
			json_string_value(get(d, "path", NULL)),
			json_integer_value(get(d, "count", NULL)), rate);
		sample = json_array_get(get(d, "samples", NULL), 0);
		if (sample != NULL)
			fprintf(out, "    %s: %.*s -> %.*s\n",
				json_string_value(get(sample, "target", NULL)),
				SAMPLE_COLUMNS,
				side_sample(get(sample, "primary", NULL)),
				SAMPLE_COLUMNS,
				side_sample(get(sample, "other", NULL)));
	}
}

int
st_compare_view_route(const json_t *doc, const char *name, FILE *out)
{
	const json_t *r;
	size_t i;

	json_array_foreach(get(doc, "routes", NULL), i, r) {
		if (strcmp(json_string_value(get(r, "name", NULL)), name) != 0)
			continue;
		header(out);
		row(r, out);
		differences("differences", get(r, "differences", NULL), out);
		differences("noise (the secondary differs there too)",
			    get(r, "noise", NULL), out);
		return 0;
	}
	return -ENOENT;
}
