/* SPDX-License-Identifier: BSD-3-Clause */
#include "judge.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/*
 * A document is read once into the structs below (every key checked,
 * every histogram parsed), then written to: so a document that is not
 * one is refused before anything of it changes.
 */

/* The counters of compare.h, by their names: read, checked and summed
 * through these tables. */
enum { R_RECORDS, R_EXCHANGES, R_SKIPPED, R_COMPARED, R_MISMATCHES,
       R_DROPPED, R_COUNTERS };
static const char *const route_counters[R_COUNTERS] = {
	"records", "exchanges", "skipped", "compared", "mismatches",
	"differences_dropped",
};

/* Every one but "answered" is an exchange the side did not answer. */
enum { S_ANSWERED, S_TIMEOUTS, S_REFUSED, S_RESETS, S_ERRORS, S_COUNTERS };
static const char *const side_counters[S_COUNTERS] = {
	"answered", "timeouts", "refused", "resets", "errors",
};

enum { C_1XX, C_2XX, C_3XX, C_4XX, C_5XX, NB_CLASSES };
static const char *const class_names[NB_CLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx",
};

enum { PRIMARY, SHADOW, SECONDARY, NB_SIDES };
static const char *const side_names[NB_SIDES] = {
	"primary", "shadow", "secondary",
};

enum { DIFFERENCES, NOISE, NB_LISTS };
static const char *const list_names[NB_LISTS] = { "differences", "noise" };

/* A difference whose (kind, path) is noise is counted here, on the noise
 * entry, once judged. */
#define SHADOW_COUNT "shadow_count"

/* The histograms' resolution (judge.h: p99_ratio) */
#define MIN_P99_MS 0.001

struct side {
	json_t *obj; /* NULL: no such side (secondary only) */
	uint64_t n[S_COUNTERS];
	uint64_t codes[NB_CLASSES];
	struct st_hist *hist;
};

struct route {
	json_t *obj;
	const char *name;
	uint64_t n[R_COUNTERS];
	struct side sides[NB_SIDES];
	json_t *lists[NB_LISTS];
};

struct thresholds {
	uint64_t min_exchanges;
	double max_p99_ratio;
	double min_p99_drift_ms;
	double max_error_rate_delta;
	double max_mismatch_rate;
};

struct doc {
	json_t *obj;
	json_t *routes;
	bool secondary;
	struct thresholds limits;
	size_t nb_routes;
	struct route *route;
	/* where a refusal is said, after prefix ("into: ") */
	char *err;
	size_t errlen;
	const char *prefix;
};

enum verdict { INSUFFICIENT, PASS, FAIL }; /* a document's is its worst */
static const char *const verdict_names[] = {
	[INSUFFICIENT] = "insufficient",
	[PASS] = "pass",
	[FAIL] = "fail",
};

/* Reading */

static int __attribute__((format(printf, 2, 3)))
invalid(struct doc *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(d->err, d->errlen, "%s", d->prefix);
	if (n >= 0 && (size_t)n < d->errlen) {
		va_start(ap, fmt);
		vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* @p at "" is the top of the document. */
static int
bad_key(struct doc *d, const char *at, const char *key, const char *what)
{
	return invalid(d, "%s%s%s: %s", at, *at != '\0' ? "." : "", key,
		       what);
}

static int
get_count(struct doc *d, const json_t *obj, const char *at, const char *key,
	  bool required, uint64_t *v)
{
	json_t *x = json_object_get(obj, key);

	*v = 0;
	if (x == NULL)
		return required ? bad_key(d, at, key, "missing") : 0;
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return bad_key(d, at, key, "not a count");
	*v = (uint64_t)json_integer_value(x);
	return 0;
}

static int
get_number(struct doc *d, const json_t *obj, const char *at, const char *key,
	   double *v)
{
	json_t *x = json_object_get(obj, key);

	if (x == NULL)
		return bad_key(d, at, key, "missing");
	*v = json_number_value(x);
	if (!json_is_number(x) || !(*v >= 0))
		return bad_key(d, at, key, "not a number >= 0");
	return 0;
}

static int
get_typed(struct doc *d, const json_t *obj, const char *at, const char *key,
	  json_type type, json_t **v)
{
	static const char *const what[] = {
		[JSON_OBJECT] = "not an object",
		[JSON_ARRAY] = "not an array",
		[JSON_STRING] = "not a string",
	};

	*v = json_object_get(obj, key);
	if (*v == NULL)
		return bad_key(d, at, key, "missing");
	if (json_typeof(*v) != type)
		return bad_key(d, at, key, what[type]);
	return 0;
}

static int
parse_thresholds(struct doc *d)
{
	struct thresholds *t = &d->limits;
	const char *at = "thresholds";
	json_t *obj;

	if (get_typed(d, d->obj, "", at, JSON_OBJECT, &obj) ||
	    get_count(d, obj, at, "min_exchanges", true, &t->min_exchanges) ||
	    get_number(d, obj, at, "max_p99_ratio", &t->max_p99_ratio) ||
	    get_number(d, obj, at, "min_p99_drift_ms",
		       &t->min_p99_drift_ms) ||
	    get_number(d, obj, at, "max_error_rate_delta",
		       &t->max_error_rate_delta) ||
	    get_number(d, obj, at, "max_mismatch_rate",
		       &t->max_mismatch_rate))
		return -EINVAL;
	return 0;
}

static int
no_memory(struct doc *d)
{
	snprintf(d->err, d->errlen, "out of memory");
	return -ENOMEM;
}

static int
parse_side(struct doc *d, struct side *s, const char *at)
{
	char here[160];
	const char *key;
	json_t *codes, *x;
	unsigned int i;
	int rc;

	for (i = 0; i < S_COUNTERS; i++)
		if (get_count(d, s->obj, at, side_counters[i], true, &s->n[i]))
			return -EINVAL;
	if (get_typed(d, s->obj, at, "codes", JSON_OBJECT, &codes))
		return -EINVAL;
	snprintf(here, sizeof(here), "%s.codes", at);
	/* a class nothing answered in may be left out */
	json_object_foreach(codes, key, x) {
		for (i = 0; i < NB_CLASSES; i++)
			if (strcmp(key, class_names[i]) == 0)
				break;
		if (i == NB_CLASSES)
			return bad_key(d, here, key, "not a status class");
		if (get_count(d, codes, here, key, true, &s->codes[i]))
			return -EINVAL;
	}
	x = json_object_get(s->obj, "histogram");
	if (x == NULL)
		return bad_key(d, at, "histogram", "missing");
	rc = st_hist_from_json(x, &s->hist);
	if (rc == -ENOMEM)
		return no_memory(d);
	if (rc < 0)
		return bad_key(d, at, "histogram", "not a histogram (hist.h)");
	return 0;
}

static int
parse_list(struct doc *d, json_t *list, const char *at)
{
	json_t *e, *samples, *x;
	char here[160];
	uint64_t n;
	size_t i, j;

	json_array_foreach(list, i, e) {
		snprintf(here, sizeof(here), "%s[%zu]", at, i);
		if (!json_is_object(e))
			return invalid(d, "%s: not an object", here);
		if (get_typed(d, e, here, "kind", JSON_STRING, &x) ||
		    get_typed(d, e, here, "path", JSON_STRING, &x) ||
		    get_count(d, e, here, "count", true, &n) ||
		    get_count(d, e, here, SHADOW_COUNT, false, &n) ||
		    get_typed(d, e, here, "samples", JSON_ARRAY, &samples))
			return -EINVAL;
		json_array_foreach(samples, j, x)
			if (!json_is_object(x))
				return invalid(d, "%s.samples[%zu]: not an "
					       "object", here, j);
	}
	return 0;
}

static int
parse_route(struct doc *d, struct route *r, size_t index)
{
	char at[32], here[64];
	unsigned int i;
	json_t *x;
	size_t k;
	int rc;

	snprintf(at, sizeof(at), "routes[%zu]", index);
	if (!json_is_object(r->obj))
		return invalid(d, "%s: not an object", at);
	if (get_typed(d, r->obj, at, "name", JSON_STRING, &x))
		return -EINVAL;
	r->name = json_string_value(x);
	/* routes merge by name */
	for (k = 0; k < index; k++)
		if (strcmp(d->route[k].name, r->name) == 0)
			return invalid(d, "%s.name: \"%s\" is routes[%zu]'s "
				       "too", at, r->name, k);
	for (i = 0; i < R_COUNTERS; i++)
		if (get_count(d, r->obj, at, route_counters[i], true,
			      &r->n[i]))
			return -EINVAL;
	for (i = 0; i < NB_SIDES; i++) {
		struct side *s = &r->sides[i];

		if (i == SECONDARY &&
		    json_object_get(r->obj, side_names[i]) == NULL)
			continue;
		if (get_typed(d, r->obj, at, side_names[i], JSON_OBJECT,
			      &s->obj))
			return -EINVAL;
		snprintf(here, sizeof(here), "%s.%s", at, side_names[i]);
		rc = parse_side(d, s, here);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < NB_LISTS; i++) {
		if (get_typed(d, r->obj, at, list_names[i], JSON_ARRAY,
			      &r->lists[i]))
			return -EINVAL;
		snprintf(here, sizeof(here), "%s.%s", at, list_names[i]);
		if (parse_list(d, r->lists[i], here))
			return -EINVAL;
	}
	return 0;
}

static void
doc_free(struct doc *d)
{
	unsigned int s;
	size_t i;

	for (i = 0; i < d->nb_routes; i++)
		for (s = 0; s < NB_SIDES; s++)
			st_hist_free(d->route[i].sides[s].hist);
	free(d->route);
}

/* Read @p obj (only read: a merge's from is const) into @p d, which
 * holds nothing to free on failure. */
static int
doc_parse(struct doc *d, json_t *obj, const char *prefix, char *err,
	  size_t errlen)
{
	json_t *secondary;
	size_t n, i;
	int rc;

	memset(d, 0, sizeof(*d));
	d->obj = obj;
	d->err = err;
	d->errlen = errlen;
	d->prefix = prefix;
	if (!json_is_object(obj))
		return invalid(d, "not an object");
	if (parse_thresholds(d))
		return -EINVAL;
	secondary = json_object_get(obj, "secondary");
	if (!json_is_boolean(secondary))
		return bad_key(d, "", "secondary",
			       secondary == NULL ? "missing"
						 : "not true or false");
	d->secondary = json_is_true(secondary);
	if (get_typed(d, obj, "", "routes", JSON_ARRAY, &d->routes))
		return -EINVAL;
	n = json_array_size(d->routes);
	d->route = calloc(n > 0 ? n : 1, sizeof(*d->route));
	if (d->route == NULL)
		return no_memory(d);
	for (i = 0; i < n; i++) {
		d->route[i].obj = json_array_get(d->routes, i);
		/* counted before it is read: a half-read route is freed */
		d->nb_routes++;
		rc = parse_route(d, &d->route[i], i);
		if (rc < 0) {
			doc_free(d);
			return rc;
		}
	}
	return 0;
}

/* Judging */

static int
set(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

/* JSON has neither NaN nor infinity: a figure without a value is null. */
static json_t *
figure(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

/* NaN when @p n is 0 */
static double
fraction(uint64_t x, uint64_t n)
{
	return n > 0 ? (double)x / (double)n : NAN;
}

static uint64_t
count_of(const json_t *entry, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(entry, key));
}

/* A side's figures the route's are made of; NaN for null. */
struct figures {
	double p50_ms;
	double p99_ms;
	double error_rate;
};

static int
judge_side(const struct side *s, uint64_t exchanges, struct figures *f)
{
	uint64_t errors = s->codes[C_5XX];
	unsigned int i;

	for (i = S_TIMEOUTS; i < S_COUNTERS; i++)
		errors += s->n[i];
	/* NaN when nothing was timed */
	f->p50_ms = st_hist_quantile(s->hist, 0.5);
	f->p99_ms = st_hist_quantile(s->hist, 0.99);
	f->error_rate = fraction(errors, exchanges);
	if (set(s->obj, "p50_ms", figure(f->p50_ms)) ||
	    set(s->obj, "p90_ms", figure(st_hist_quantile(s->hist, 0.9))) ||
	    set(s->obj, "p99_ms", figure(f->p99_ms)) ||
	    set(s->obj, "max_ms",
		st_hist_count(s->hist) > 0 ? json_real(st_hist_max(s->hist))
					   : json_null()) ||
	    set(s->obj, "error_rate", figure(f->error_rate)) ||
	    set(s->obj, "rate_5xx",
		figure(fraction(s->codes[C_5XX], exchanges))) ||
	    set(s->obj, "rate_4xx",
		figure(fraction(s->codes[C_4XX], exchanges))))
		return -ENOMEM;
	return 0;
}

static bool
same_place(const json_t *a, const json_t *b)
{
	return strcmp(json_string_value(json_object_get(a, "kind")),
		      json_string_value(json_object_get(b, "kind"))) == 0 &&
	       strcmp(json_string_value(json_object_get(a, "path")),
		      json_string_value(json_object_get(b, "path"))) == 0;
}

static json_t *
find_entry(const json_t *list, const json_t *like)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (same_place(e, like))
			return e;
	return NULL;
}

/* A difference at a (kind, path) that is noise is noise: read back or
 * merged, the secondary may have found it noisy after the fact. */
static int
move_noise(struct route *r)
{
	json_t *diffs = r->lists[DIFFERENCES], *e, *noise;
	size_t i = json_array_size(diffs);

	while (i-- > 0) {
		e = json_array_get(diffs, i);
		noise = find_entry(r->lists[NOISE], e);
		if (noise == NULL)
			continue;
		if (set(noise, SHADOW_COUNT,
			json_integer((json_int_t)(count_of(noise,
							   SHADOW_COUNT) +
						  count_of(e, "count")))))
			return -ENOMEM;
		json_array_remove(diffs, i);
	}
	return 0;
}

/* Largest count first; then by kind and path, so that a judged
 * document is the same whatever order its entries came in. */
static int
by_count(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	uint64_t na = count_of(a, "count"), nb = count_of(b, "count");
	int c;

	if (na != nb)
		return na > nb ? -1 : 1;
	c = strcmp(json_string_value(json_object_get(a, "kind")),
		   json_string_value(json_object_get(b, "kind")));
	if (c != 0)
		return c;
	return strcmp(json_string_value(json_object_get(a, "path")),
		      json_string_value(json_object_get(b, "path")));
}

/* Sort route @p r's list @p l (in a new array) and rate its entries. */
static int
judge_list(struct route *r, unsigned int l)
{
	size_t n = json_array_size(r->lists[l]), i;
	json_t **items, *sorted;
	int rc = -ENOMEM;

	items = malloc((n > 0 ? n : 1) * sizeof(*items));
	sorted = json_array();
	if (items == NULL || sorted == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		items[i] = json_array_get(r->lists[l], i);
		if (set(items[i], "rate",
			figure(fraction(count_of(items[i], "count"),
					r->n[R_COMPARED]))))
			goto out;
	}
	qsort(items, n, sizeof(*items), by_count);
	for (i = 0; i < n; i++)
		if (json_array_append(sorted, items[i]) < 0)
			goto out;
	r->lists[l] = sorted;
	rc = set(r->obj, list_names[l], sorted);
	sorted = NULL;
out:
	json_decref(sorted);
	free(items);
	return rc;
}

/* @p x with one decimal, or as many as it takes: a limit reads as set. */
static const char *
limit_text(char *buf, size_t len, double x)
{
	snprintf(buf, len, "%.1f", x);
	if (strtod(buf, NULL) != x)
		snprintf(buf, len, "%g", x);
	return buf;
}

static int __attribute__((format(printf, 5, 6)))
add_reason(json_t *reasons, const char *threshold, json_t *value,
	   json_t *limit, const char *fmt, ...)
{
	char text[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_array_append_new(reasons,
				     json_pack("{s:s, s:o, s:o, s:s}",
					       "threshold", threshold, "value",
					       value, "limit", limit, "text",
					       text)) < 0
		       ? -ENOMEM
		       : 0;
}

/* The thresholds route @p r crosses, as reasons. */
static int
crossed(const struct thresholds *t, double p99_ratio, double p99_drift_ms,
	double error_rate_delta, double mismatch_rate, json_t *reasons)
{
	char limit[32];

	if (p99_ratio > t->max_p99_ratio &&
	    p99_drift_ms > t->min_p99_drift_ms &&
	    add_reason(reasons, "max_p99_ratio", json_real(p99_ratio),
		       json_real(t->max_p99_ratio),
		       "p99 %.1fx the primary's (limit %sx, %+.1f ms)",
		       p99_ratio,
		       limit_text(limit, sizeof(limit), t->max_p99_ratio),
		       p99_drift_ms))
		return -ENOMEM;
	if (error_rate_delta > t->max_error_rate_delta &&
	    add_reason(reasons, "max_error_rate_delta",
		       json_real(error_rate_delta),
		       json_real(t->max_error_rate_delta),
		       "error rate %+.1f points (limit %s)",
		       error_rate_delta * 100,
		       limit_text(limit, sizeof(limit),
				  t->max_error_rate_delta * 100)))
		return -ENOMEM;
	if (mismatch_rate > t->max_mismatch_rate &&
	    add_reason(reasons, "max_mismatch_rate", json_real(mismatch_rate),
		       json_real(t->max_mismatch_rate),
		       "%.1f%% of answers differ (limit %s%%)",
		       mismatch_rate * 100,
		       limit_text(limit, sizeof(limit),
				  t->max_mismatch_rate * 100)))
		return -ENOMEM;
	return 0;
}

static int
judge_route(const struct doc *d, struct route *r, enum verdict *verdict)
{
	const struct thresholds *t = &d->limits;
	uint64_t exchanges = r->n[R_EXCHANGES];
	struct figures f[NB_SIDES];
	const struct figures *p = &f[PRIMARY], *s = &f[SHADOW];
	double p99_ratio, error_rate_delta, mismatch_rate;
	unsigned int i;
	json_t *reasons;
	int rc;

	for (i = 0; i < NB_SIDES; i++)
		if (r->sides[i].obj != NULL &&
		    judge_side(&r->sides[i], exchanges, &f[i]))
			return -ENOMEM;
	/* under the histograms' resolution a p99 is no divisor */
	p99_ratio = isnan(p->p99_ms) ? NAN
				     : s->p99_ms / fmax(p->p99_ms, MIN_P99_MS);
	error_rate_delta = s->error_rate - p->error_rate;
	mismatch_rate = fraction(r->n[R_MISMATCHES], r->n[R_COMPARED]);
	if (set(r->obj, "p99_ratio", figure(p99_ratio)) ||
	    set(r->obj, "p99_drift_ms", figure(s->p99_ms - p->p99_ms)) ||
	    set(r->obj, "p50_drift_ms", figure(s->p50_ms - p->p50_ms)) ||
	    set(r->obj, "error_rate_delta", figure(error_rate_delta)) ||
	    set(r->obj, "mismatch_rate", figure(mismatch_rate)))
		return -ENOMEM;
	if (move_noise(r) || judge_list(r, DIFFERENCES) || judge_list(r, NOISE))
		return -ENOMEM;

	reasons = json_array();
	if (reasons == NULL)
		return -ENOMEM;
	if (exchanges < t->min_exchanges) {
		*verdict = INSUFFICIENT;
		rc = add_reason(reasons, "min_exchanges",
				json_integer((json_int_t)exchanges),
				json_integer((json_int_t)t->min_exchanges),
				"%" PRIu64 " exchanges, at least %" PRIu64
				" needed",
				exchanges, t->min_exchanges);
	} else {
		rc = crossed(t, p99_ratio, s->p99_ms - p->p99_ms,
			     error_rate_delta, mismatch_rate, reasons);
		*verdict = json_array_size(reasons) > 0 ? FAIL : PASS;
	}
	if (rc < 0) {
		json_decref(reasons);
		return rc;
	}
	if (set(r->obj, "reasons", reasons) ||
	    set(r->obj, "verdict", json_string(verdict_names[*verdict])))
		return -ENOMEM;
	return 0;
}

static int
judge_doc(const struct doc *d)
{
	enum verdict worst = INSUFFICIENT, v;
	json_t *failed = json_array();
	uint64_t exchanges = 0;
	size_t i;

	if (failed == NULL)
		return -ENOMEM;
	for (i = 0; i < d->nb_routes; i++) {
		struct route *r = &d->route[i];

		if (judge_route(d, r, &v) ||
		    (v == FAIL && json_array_append_new(failed,
							json_string(r->name))))
			goto nomem;
		exchanges += r->n[R_EXCHANGES];
		if (v > worst)
			worst = v;
	}
	if (set(d->obj, "failed", failed))
		return -ENOMEM;
	if (set(d->obj, "verdict", json_string(verdict_names[worst])) ||
	    set(d->obj, "exchanges", json_integer((json_int_t)exchanges)))
		return -ENOMEM;
	return 0;
nomem:
	json_decref(failed);
	return -ENOMEM;
}

int
st_compare_judge(json_t *doc, char *err, size_t errlen)
{
	struct doc d;
	int rc;

	rc = doc_parse(&d, doc, "", err, errlen);
	if (rc < 0)
		return rc;
	rc = judge_doc(&d);
	if (rc < 0)
		no_memory(&d);
	doc_free(&d);
	return rc;
}

/* Merging */

static int
set_count(json_t *obj, const char *key, uint64_t n)
{
	return set(obj, key, json_integer((json_int_t)n));
}

static int
merge_side(struct side *into, const struct side *from)
{
	json_t *codes = json_object_get(into->obj, "codes");
	unsigned int i;

	for (i = 0; i < S_COUNTERS; i++)
		if (set_count(into->obj, side_counters[i],
			      into->n[i] + from->n[i]))
			return -ENOMEM;
	for (i = 0; i < NB_CLASSES; i++)
		if (set_count(codes, class_names[i],
			      into->codes[i] + from->codes[i]))
			return -ENOMEM;
	/* bucket by bucket: exact */
	st_hist_merge(into->hist, from->hist);
	return set(into->obj, "histogram", st_hist_json(into->hist));
}

/* Entries by (kind, path): counts summed, samples kept up to the larger
 * number either list had for the entry. */
static int
merge_list(json_t *into, const json_t *from)
{
	json_t *e, *like, *samples, *more, *sample;
	size_t i, j, keep;

	json_array_foreach(from, i, e) {
		like = find_entry(into, e);
		if (like == NULL) {
			if (json_array_append_new(into, json_deep_copy(e)))
				return -ENOMEM;
			continue;
		}
		if (set_count(like, "count",
			      count_of(like, "count") + count_of(e, "count")))
			return -ENOMEM;
		if ((json_object_get(like, SHADOW_COUNT) != NULL ||
		     json_object_get(e, SHADOW_COUNT) != NULL) &&
		    set_count(like, SHADOW_COUNT,
			      count_of(like, SHADOW_COUNT) +
				      count_of(e, SHADOW_COUNT)))
			return -ENOMEM;
		samples = json_object_get(like, "samples");
		more = json_object_get(e, "samples");
		keep = json_array_size(samples);
		if (json_array_size(more) > keep)
			keep = json_array_size(more);
		json_array_foreach(more, j, sample) {
			if (json_array_size(samples) >= keep)
				break;
			if (json_array_append_new(samples,
						  json_deep_copy(sample)))
				return -ENOMEM;
		}
	}
	return 0;
}

static int
merge_route(struct route *into, const struct route *from)
{
	unsigned int i;

	for (i = 0; i < R_COUNTERS; i++)
		if (set_count(into->obj, route_counters[i],
			      into->n[i] + from->n[i]))
			return -ENOMEM;
	for (i = 0; i < NB_SIDES; i++) {
		if (from->sides[i].obj == NULL)
			continue;
		if (into->sides[i].obj == NULL) {
			if (set(into->obj, side_names[i],
				json_deep_copy(from->sides[i].obj)))
				return -ENOMEM;
		} else if (merge_side(&into->sides[i], &from->sides[i])) {
			return -ENOMEM;
		}
	}
	for (i = 0; i < NB_LISTS; i++)
		if (merge_list(into->lists[i], from->lists[i]))
			return -ENOMEM;
	return 0;
}

/* A route @p into does not have: "unrouted" stays last. */
static int
add_route(struct doc *into, const struct route *from)
{
	size_t at = json_array_size(into->routes);
	const json_t *last = json_array_get(into->routes, at - 1);

	if (last != NULL && strcmp(from->name, "unrouted") != 0 &&
	    strcmp(json_string_value(json_object_get(last, "name")),
		   "unrouted") == 0)
		at--;
	return json_array_insert_new(into->routes, at,
				     json_deep_copy(from->obj))
		       ? -ENOMEM
		       : 0;
}

static int
merge_doc(struct doc *into, const struct doc *from)
{
	size_t i, j;
	int rc;

	for (i = 0; i < from->nb_routes; i++) {
		for (j = 0; j < into->nb_routes; j++)
			if (strcmp(into->route[j].name,
				   from->route[i].name) == 0)
				break;
		if (j < into->nb_routes)
			rc = merge_route(&into->route[j], &from->route[i]);
		else
			rc = add_route(into, &from->route[i]);
		if (rc < 0)
			return rc;
	}
	return set(into->obj, "secondary",
		   json_boolean(into->secondary || from->secondary));
}

int
st_compare_merge(json_t *into, const json_t *from, char *err,
		 size_t errlen)
{
	struct doc a, b;
	int rc;

	rc = doc_parse(&a, into, "into: ", err, errlen);
	if (rc < 0)
		return rc;
	/* a caller merging files in turn names the file of @p from */
	rc = doc_parse(&b, (json_t *)from, "", err, errlen);
	if (rc < 0) {
		doc_free(&a);
		return rc;
	}
	rc = merge_doc(&a, &b);
	if (rc < 0)
		no_memory(&a);
	doc_free(&a);
	doc_free(&b);
	return rc < 0 ? rc : st_compare_judge(into, err, errlen);
}
