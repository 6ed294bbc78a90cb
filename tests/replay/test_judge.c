/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/judge.h: comparison documents (compare.h) built by
 * hand from known exchanges, judged (figures, verdicts, reasons, noise),
 * judged twice, merged, and refused when they are not documents.
 *
 * Latencies are multiples of 1/8 ms, so that sums of them are exact and
 * a merged document can be compared with json_equal().
 */

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "judge.h"

/* What one side saw: @answered answers, the k-th after base_ms + (k %
 * 100) * step_ms; n_4xx and n_5xx of them in those classes, the rest
 * 2xx; @timeouts exchanges it did not answer. */
struct side_in {
	unsigned int answered;
	double base_ms;
	double step_ms;
	unsigned int n_4xx;
	unsigned int n_5xx;
	unsigned int timeouts;
};

/* One run's counts for a route: every exchange answered by the primary;
 * compared when the shadow answered too. */
struct route_in {
	unsigned int exchanges;
	unsigned int mismatches;
	unsigned int dropped;
	struct side_in primary;
	struct side_in shadow;
};

static void
add_to(json_t *obj, const char *key, json_int_t n)
{
	json_int_t was = json_integer_value(json_object_get(obj, key));

	assert_int_equal(json_object_set_new(obj, key, json_integer(was + n)),
			 0);
}

static json_t *
empty_side(void)
{
	struct st_hist *h = st_hist_create();
	json_t *side;

	assert_non_null(h);
	side = json_pack("{s:i, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:i, s:i, "
			 "s:i, s:o}",
			 "answered", 0, "codes", "1xx", 0, "2xx", 0, "3xx", 0,
			 "4xx", 0, "5xx", 0, "timeouts", 0, "refused", 0,
			 "resets", 0, "errors", 0, "histogram",
			 st_hist_json(h));
	assert_non_null(side);
	st_hist_free(h);
	return side;
}

/* Count @p in in @p side, its histogram included. */
static void
side_add(json_t *side, const struct side_in *in)
{
	json_t *codes = json_object_get(side, "codes");
	struct st_hist *h = NULL;
	unsigned int k;

	add_to(side, "answered", in->answered);
	add_to(side, "timeouts", in->timeouts);
	add_to(codes, "2xx", in->answered - in->n_4xx - in->n_5xx);
	add_to(codes, "4xx", in->n_4xx);
	add_to(codes, "5xx", in->n_5xx);
	assert_int_equal(st_hist_from_json(json_object_get(side, "histogram"),
					   &h),
			 0);
	for (k = 0; k < in->answered; k++)
		st_hist_add(h, in->base_ms + (k % 100) * in->step_ms);
	json_object_set_new(side, "histogram", st_hist_json(h));
	st_hist_free(h);
}

static json_t *
new_route(const char *name)
{
	json_t *r = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, "
			      "s:[], s:[]}",
			      "name", name, "records", 0, "exchanges", 0,
			      "skipped", 0, "compared", 0, "mismatches", 0,
			      "differences_dropped", 0, "primary", empty_side(),
			      "shadow", empty_side(), "differences", "noise");

	assert_non_null(r);
	return r;
}

static void
route_add(json_t *route, const struct route_in *in)
{
	add_to(route, "records", in->exchanges + 3);
	add_to(route, "skipped", 3);
	add_to(route, "exchanges", in->exchanges);
	add_to(route, "compared", in->shadow.answered);
	add_to(route, "mismatches", in->mismatches);
	add_to(route, "differences_dropped", in->dropped);
	side_add(json_object_get(route, "primary"), &in->primary);
	side_add(json_object_get(route, "shadow"), &in->shadow);
}

static json_t *
new_doc(void)
{
	json_t *d = json_pack("{s:{s:i, s:f, s:f, s:f, s:f}, s:b, s:[]}",
			      "thresholds", "min_exchanges", 100,
			      "max_p99_ratio", 1.5, "min_p99_drift_ms", 1.0,
			      "max_error_rate_delta", 0.01,
			      "max_mismatch_rate", 0.01, "secondary", 0,
			      "routes");

	assert_non_null(d);
	return d;
}

static json_t *
doc_route(json_t *doc, const char *name, const struct route_in *in)
{
	json_t *r = new_route(name);

	route_add(r, in);
	json_array_append_new(json_object_get(doc, "routes"), r);
	return r;
}

static void
judge(json_t *doc)
{
	char err[256] = "";

	if (st_compare_judge(doc, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static json_t *
route_of(const json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "routes"), i);
}

static const char *
str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	assert_non_null(s);
	return s;
}

static double
num(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	assert_true(json_is_number(v));
	return json_number_value(v);
}

static void
assert_near(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want)))
		fail_msg("%.9g, expected %.9g within %g", got, want, rel);
}

/* The route's reasons are exactly @p nb thresholds; the first is @p first
 * with text @p text. */
static void
assert_reasons(const json_t *route, size_t nb, const char *first,
	       const char *text)
{
	json_t *reasons = json_object_get(route, "reasons");

	assert_int_equal(json_array_size(reasons), nb);
	if (nb == 0)
		return;
	assert_string_equal(str(json_array_get(reasons, 0), "threshold"),
			    first);
	if (text != NULL)
		assert_string_equal(str(json_array_get(reasons, 0), "text"),
				    text);
}

/* A healthy route: both sides alike, 200 exchanges. */
static const struct route_in healthy = {
	.exchanges = 200,
	.primary = { .answered = 200, .base_ms = 10, .step_ms = 0.125 },
	.shadow = { .answered = 200, .base_ms = 10, .step_ms = 0.125 },
};

static void
test_p99_ratio(void **state)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r, *p, *s;

	(void)state;
	in.shadow.base_ms = 100;
	in.shadow.step_ms = 1.25;
	r = doc_route(doc, "slow", &in);
	doc_route(doc, "fine", &healthy);
	judge(doc);

	p = json_object_get(r, "primary");
	s = json_object_get(r, "shadow");
	/* samples 10 + k/8 ms, twice each k < 100: p50 is k = 49 */
	assert_near(num(p, "p50_ms"), 10 + 49 * 0.125, 0.01);
	assert_near(num(p, "p90_ms"), 10 + 89 * 0.125, 0.01);
	assert_near(num(p, "p99_ms"), 10 + 98 * 0.125, 0.01);
	assert_true(num(p, "max_ms") == 10 + 99 * 0.125);
	assert_near(num(s, "p99_ms"), 100 + 98 * 1.25, 0.01);
	assert_true(num(s, "error_rate") == 0);
	assert_true(num(p, "rate_5xx") == 0);
	assert_near(num(r, "p99_ratio"), 10, 0.021);
	assert_near(num(r, "p99_drift_ms"), 90 + 98 * 1.125, 0.02);
	assert_near(num(r, "p50_drift_ms"), 90 + 49 * 1.125, 0.02);
	assert_true(num(r, "error_rate_delta") == 0);
	assert_true(num(r, "mismatch_rate") == 0);
	assert_string_equal(str(r, "verdict"), "fail");
	assert_reasons(r, 1, "max_p99_ratio", NULL);
	assert_non_null(strstr(str(json_array_get(json_object_get(r, "reasons"),
						  0),
				   "text"),
			       "the primary's (limit 1.5x, +"));

	assert_string_equal(str(route_of(doc, 1), "verdict"), "pass");
	assert_reasons(route_of(doc, 1), 0, NULL, NULL);
	assert_string_equal(str(doc, "verdict"), "fail");
	assert_int_equal(json_integer_value(json_object_get(doc, "exchanges")),
			 400);
	assert_int_equal(json_array_size(json_object_get(doc, "failed")), 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(doc, "failed"), 0)),
			    "slow");
	json_decref(doc);
}

/* A sub-millisecond service three times slower by microseconds passes;
 * with a smaller drift allowed, it fails. */
static void
test_sub_ms(void **state)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r;

	(void)state;
	in.primary.base_ms = 0.1;
	in.primary.step_ms = 0.001;
	in.shadow.base_ms = 0.3;
	in.shadow.step_ms = 0.003;
	r = doc_route(doc, "fast", &in);
	judge(doc);
	assert_near(num(r, "p99_ratio"), 3, 0.021);
	assert_true(num(r, "p99_drift_ms") < 1);
	assert_string_equal(str(r, "verdict"), "pass");
	assert_string_equal(str(doc, "verdict"), "pass");

	json_object_set_new(json_object_get(doc, "thresholds"),
			    "min_p99_drift_ms", json_real(0.1));
	judge(doc);
	assert_string_equal(str(r, "verdict"), "fail");
	assert_reasons(r, 1, "max_p99_ratio", NULL);
	json_decref(doc);
}

static void
test_errors(void **state)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r, *t, *p, *s;

	(void)state;
	/* the shadow answers 500 to 20% of the exchanges */
	in.shadow.n_5xx = 40;
	in.primary.n_4xx = 10;
	r = doc_route(doc, "500s", &in);
	/* 5% of the exchanges time out at the shadow, and the primary
	 * has 1% 5xx of its own */
	in = healthy;
	in.shadow.answered = 190;
	in.shadow.timeouts = 10;
	in.primary.n_5xx = 2;
	in.shadow.n_5xx = 2;
	t = doc_route(doc, "timeouts", &in);
	judge(doc);

	p = json_object_get(r, "primary");
	s = json_object_get(r, "shadow");
	assert_true(num(s, "error_rate") == 0.2);
	assert_true(num(s, "rate_5xx") == 0.2);
	assert_true(num(p, "error_rate") == 0);
	assert_true(num(p, "rate_4xx") == 0.05);
	assert_true(num(r, "error_rate_delta") == 0.2);
	assert_string_equal(str(r, "verdict"), "fail");
	assert_reasons(r, 1, "max_error_rate_delta",
		       "error rate +20.0 points (limit 1.0)");

	assert_near(num(json_object_get(t, "shadow"), "error_rate"), 0.06,
		    1e-12);
	assert_near(num(json_object_get(t, "primary"), "error_rate"), 0.01,
		    1e-12);
	assert_near(num(t, "error_rate_delta"), 0.05, 1e-12);
	assert_reasons(t, 1, "max_error_rate_delta",
		       "error rate +5.0 points (limit 1.0)");
	assert_int_equal(json_array_size(json_object_get(doc, "failed")), 2);
	json_decref(doc);
}

static void
test_mismatches(void **state)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r, *reason;

	(void)state;
	in.mismatches = 60;
	r = doc_route(doc, "changed", &in);
	judge(doc);
	assert_true(num(r, "mismatch_rate") == 0.3);
	assert_string_equal(str(r, "verdict"), "fail");
	assert_reasons(r, 1, "max_mismatch_rate",
		       "30.0% of answers differ (limit 1.0%)");
	reason = json_array_get(json_object_get(r, "reasons"), 0);
	assert_true(num(reason, "value") == 0.3);
	assert_true(num(reason, "limit") == 0.01);

	/* every threshold at once, in the documented order */
	in.shadow.n_5xx = 100;
	in.shadow.base_ms = 50;
	json_array_clear(json_object_get(doc, "routes"));
	r = doc_route(doc, "broken", &in);
	judge(doc);
	assert_reasons(r, 3, "max_p99_ratio", NULL);
	assert_string_equal(str(json_array_get(json_object_get(r, "reasons"),
					       1),
				"threshold"),
			    "max_error_rate_delta");
	assert_string_equal(str(json_array_get(json_object_get(r, "reasons"),
					       2),
				"threshold"),
			    "max_mismatch_rate");
	json_decref(doc);
}

static void
test_insufficient(void **state)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r, *reason;

	(void)state;
	in.exchanges = 50;
	in.primary.answered = 50;
	in.shadow.answered = 50;
	/* even failing everything: not judged */
	in.shadow.n_5xx = 50;
	r = doc_route(doc, "rare", &in);
	judge(doc);
	assert_string_equal(str(r, "verdict"), "insufficient");
	assert_reasons(r, 1, "min_exchanges",
		       "50 exchanges, at least 100 needed");
	reason = json_array_get(json_object_get(r, "reasons"), 0);
	assert_true(json_is_integer(json_object_get(reason, "value")));
	assert_int_equal(json_integer_value(json_object_get(reason, "value")),
			 50);
	assert_int_equal(json_integer_value(json_object_get(reason, "limit")),
			 100);
	assert_string_equal(str(doc, "verdict"), "insufficient");
	assert_int_equal(json_array_size(json_object_get(doc, "failed")), 0);

	/* one route passing is a pass */
	doc_route(doc, "fine", &healthy);
	judge(doc);
	assert_string_equal(str(doc, "verdict"), "pass");
	json_decref(doc);
}

/* Nothing timed, nothing compared, no exchange: nulls, never NaN. */
static void
test_empty_and_zero(void **state)
{
	struct route_in none = { 0 }, zero = healthy;
	json_t *doc = new_doc(), *r, *z;

	(void)state;
	r = doc_route(doc, "idle", &none);
	/* a primary answering in 0 ms has no p99 to divide by */
	zero.primary.base_ms = 0;
	zero.primary.step_ms = 0;
	z = doc_route(doc, "zero", &zero);
	json_object_set_new(json_object_get(doc, "thresholds"),
			    "min_exchanges", json_integer(0));
	judge(doc);
	assert_true(json_is_null(json_object_get(r, "p99_ratio")));
	assert_true(json_is_null(json_object_get(r, "p50_drift_ms")));
	assert_true(json_is_null(json_object_get(r, "error_rate_delta")));
	assert_true(json_is_null(json_object_get(r, "mismatch_rate")));
	assert_true(json_is_null(
		json_object_get(json_object_get(r, "shadow"), "p99_ms")));
	assert_true(json_is_null(
		json_object_get(json_object_get(r, "shadow"), "max_ms")));
	assert_true(json_is_null(
		json_object_get(json_object_get(r, "primary"), "error_rate")));
	assert_string_equal(str(r, "verdict"), "pass");

	assert_true(num(json_object_get(z, "primary"), "p99_ms") == 0);
	assert_near(num(z, "p99_ratio"), (10 + 98 * 0.125) / 0.001, 0.01);
	assert_string_equal(str(z, "verdict"), "fail");
	json_decref(doc);
}

static json_t *
diff(const char *kind, const char *path, int count, int nb_samples)
{
	json_t *d = json_pack("{s:s, s:s, s:i, s:[]}", "kind", kind, "path",
			      path, "count", count, "samples");
	int i;

	assert_non_null(d);
	for (i = 0; i < nb_samples; i++)
		json_array_append_new(json_object_get(d, "samples"),
				      json_pack("{s:i, s:s, s:s, s:s}", "id",
						count * 100 + i, "target",
						"/x", "primary", path, "other",
						kind));
	return d;
}

static void
test_noise(void **state)
{
	json_t *doc = new_doc(), *r, *diffs, *noise, *e;

	(void)state;
	r = doc_route(doc, "api", &healthy);
	diffs = json_object_get(r, "differences");
	noise = json_object_get(r, "noise");
	json_array_append_new(diffs, diff("body", "$.price", 3, 1));
	json_array_append_new(diffs, diff("body", "$.ts", 30, 2));
	json_array_append_new(diffs, diff("header", "content-type", 7, 1));
	json_array_append_new(diffs, diff("body", "$.name", 7, 1));
	json_array_append_new(noise, diff("body", "$.id", 12, 1));
	json_array_append_new(noise, diff("body", "$.ts", 40, 1));
	/* the same path in another kind is another difference */
	json_array_append_new(noise, diff("header", "$.price", 50, 1));
	judge(doc);

	diffs = json_object_get(r, "differences");
	noise = json_object_get(r, "noise");
	assert_int_equal(json_array_size(diffs), 3);
	/* by count, then kind and path */
	assert_string_equal(str(json_array_get(diffs, 0), "path"), "$.name");
	assert_string_equal(str(json_array_get(diffs, 1), "path"),
			    "content-type");
	assert_string_equal(str(json_array_get(diffs, 2), "path"), "$.price");
	assert_true(num(json_array_get(diffs, 2), "rate") == 3.0 / 200);
	assert_null(json_object_get(json_array_get(diffs, 0), "shadow_count"));

	assert_int_equal(json_array_size(noise), 3);
	assert_string_equal(str(json_array_get(noise, 0), "kind"), "header");
	e = json_array_get(noise, 1);
	assert_string_equal(str(e, "path"), "$.ts");
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 40);
	assert_int_equal(
		json_integer_value(json_object_get(e, "shadow_count")), 30);
	assert_true(num(e, "rate") == 40.0 / 200);
	assert_string_equal(str(json_array_get(noise, 2), "path"), "$.id");
	json_decref(doc);
}

/* A document with a bit of everything, raw. */
static json_t *
busy_doc(void)
{
	struct route_in in = healthy;
	json_t *doc = new_doc(), *r;

	in.shadow.base_ms = 40;
	in.mismatches = 9;
	r = doc_route(doc, "a", &in);
	json_array_append_new(json_object_get(r, "differences"),
			      diff("body", "$.a", 5, 2));
	json_array_append_new(json_object_get(r, "differences"),
			      diff("body", "$.b", 9, 2));
	json_array_append_new(json_object_get(r, "noise"),
			      diff("body", "$.b", 4, 1));
	in.exchanges = 20;
	in.primary.answered = 20;
	in.shadow.answered = 20;
	doc_route(doc, "unrouted", &in);
	return doc;
}

static void
test_idempotent(void **state)
{
	json_t *doc = busy_doc(), *once, *back;
	json_error_t jerr;
	char *text;

	(void)state;
	judge(doc);
	once = json_deep_copy(doc);
	judge(doc);
	assert_true(json_equal(doc, once));
	/* read back from a stats file: the same figures */
	text = json_dumps(once, 0);
	assert_non_null(text);
	back = json_loads(text, 0, &jerr);
	assert_non_null(back);
	judge(back);
	assert_true(json_equal(back, once));
	free(text);
	json_decref(back);
	json_decref(once);
	json_decref(doc);
}

static json_t *
diffs_of(json_t *doc, size_t route, const char *list)
{
	return json_object_get(route_of(doc, route), list);
}

/* Append to @p list the entry @p a and @p b make, with @p nb_samples. */
static void
append_sum(json_t *list, json_t *a, json_t *b, size_t nb_samples)
{
	json_t *samples = json_object_get(a, "samples");

	json_object_set_new(a, "count",
			    json_integer(json_integer_value(json_object_get(
						 a, "count")) +
					 json_integer_value(json_object_get(
						 b, "count"))));
	json_array_extend(samples, json_object_get(b, "samples"));
	while (json_array_size(samples) > nb_samples)
		json_array_remove(samples, json_array_size(samples) - 1);
	json_array_append_new(list, a);
	json_decref(b);
}

static void
test_merge(void **state)
{
	struct route_in a1 = healthy, a2 = healthy, b1 = healthy;
	struct route_in c2 = healthy, u1 = healthy;
	json_t *one = new_doc(), *two = new_doc(), *sum = new_doc(), *r;
	char err[256] = "";

	(void)state;
	a1.mismatches = 4;
	a1.dropped = 1;
	a2.shadow.base_ms = 20;
	a2.shadow.step_ms = 0.5;
	a2.shadow.n_5xx = 3;
	a2.dropped = 2;
	b1.exchanges = 120;
	b1.primary.answered = 120;
	b1.shadow.answered = 110;
	b1.shadow.timeouts = 10;
	c2.primary.base_ms = 0.5;
	u1.exchanges = 5;
	u1.primary.answered = 5;
	u1.shadow.answered = 5;

	/* one replay: a, b, unrouted */
	doc_route(one, "a", &a1);
	doc_route(one, "b", &b1);
	doc_route(one, "unrouted", &u1);
	json_array_append_new(diffs_of(one, 0, "differences"),
			      diff("body", "$.x", 3, 2));
	json_array_append_new(diffs_of(one, 0, "differences"),
			      diff("body", "$.y", 1, 1));
	json_array_append_new(diffs_of(one, 0, "noise"),
			      diff("body", "$.ts", 10, 1));
	/* another: a (with a secondary) and c, other thresholds */
	r = doc_route(two, "a", &a2);
	json_object_set_new(r, "secondary", empty_side());
	side_add(json_object_get(r, "secondary"), &a2.primary);
	doc_route(two, "c", &c2);
	json_object_set_new(two, "secondary", json_true());
	json_object_set_new(json_object_get(two, "thresholds"),
			    "min_exchanges", json_integer(5));
	json_array_append_new(diffs_of(two, 0, "differences"),
			      diff("body", "$.x", 4, 1));
	json_array_append_new(diffs_of(two, 0, "differences"),
			      diff("body", "$.y", 2, 3));
	json_array_append_new(diffs_of(two, 0, "differences"),
			      diff("header", "etag", 1, 1));
	json_array_append_new(diffs_of(two, 0, "noise"),
			      diff("body", "$.ts", 5, 1));

	/* what one replay of both would have counted */
	r = doc_route(sum, "a", &a1);
	route_add(r, &a2);
	json_object_set_new(r, "secondary", empty_side());
	side_add(json_object_get(r, "secondary"), &a2.primary);
	doc_route(sum, "b", &b1);
	doc_route(sum, "c", &c2);
	doc_route(sum, "unrouted", &u1);
	json_object_set_new(sum, "secondary", json_true());
	/* counts summed, samples those of one then two, up to the larger
	 * number either had */
	append_sum(diffs_of(sum, 0, "differences"), diff("body", "$.x", 3, 2),
		   diff("body", "$.x", 4, 1), 2);
	append_sum(diffs_of(sum, 0, "differences"), diff("body", "$.y", 1, 1),
		   diff("body", "$.y", 2, 3), 3);
	json_array_append_new(diffs_of(sum, 0, "differences"),
			      diff("header", "etag", 1, 1));
	append_sum(diffs_of(sum, 0, "noise"), diff("body", "$.ts", 10, 1),
		   diff("body", "$.ts", 5, 1), 1);
	judge(sum);

	assert_int_equal(st_compare_merge(one, two, err, sizeof(err)), 0);
	if (!json_equal(one, sum)) {
		char *got = json_dumps(one, JSON_INDENT(1) | JSON_SORT_KEYS);
		char *want = json_dumps(sum, JSON_INDENT(1) | JSON_SORT_KEYS);

		fail_msg("merged:\n%s\nexpected:\n%s", got, want);
	}
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(one, "thresholds"),
				 "min_exchanges")),
			 100);
	json_decref(one);
	json_decref(two);
	json_decref(sum);
}

/* Merging into a judged document is merging into the raw one. */
static void
test_merge_judged(void **state)
{
	json_t *raw = busy_doc(), *judged = busy_doc(), *more = busy_doc();
	char err[256] = "";

	(void)state;
	judge(judged);
	assert_int_equal(st_compare_merge(raw, more, err, sizeof(err)), 0);
	assert_int_equal(st_compare_merge(judged, more, err, sizeof(err)), 0);
	assert_true(json_equal(raw, judged));
	/* twice the counts, the same route list */
	assert_int_equal(json_array_size(json_object_get(raw, "routes")), 2);
	assert_int_equal(json_integer_value(json_object_get(raw, "exchanges")),
			 440);
	json_decref(raw);
	json_decref(judged);
	json_decref(more);
}

/* Break the busy document one way; @return what err must say. */
static const char *
spoil(json_t *doc, unsigned int how)
{
	json_t *r0 = route_of(doc, 0), *r1 = route_of(doc, 1);
	json_t *shadow = json_object_get(r1, "shadow");

	switch (how) {
	case 0:
		json_object_del(shadow, "histogram");
		return "routes[1].shadow.histogram: missing";
	case 1:
		json_object_set_new(json_object_get(shadow, "histogram"),
				    "ratio", json_real(1.05));
		return "routes[1].shadow.histogram: not a histogram";
	case 2:
		json_object_set_new(r0, "exchanges", json_string("12"));
		return "routes[0].exchanges: not a count";
	case 3:
		json_object_set_new(json_object_get(r0, "primary"), "timeouts",
				    json_integer(-1));
		return "routes[0].primary.timeouts: not a count";
	case 4:
		json_object_del(doc, "thresholds");
		return "thresholds: missing";
	case 5:
		json_object_set_new(json_object_get(doc, "thresholds"),
				    "max_p99_ratio", json_string("x"));
		return "thresholds.max_p99_ratio: not a number";
	case 6:
		json_object_set_new(doc, "secondary", json_integer(1));
		return "secondary: not true or false";
	case 7:
		json_object_set_new(doc, "routes", json_object());
		return "routes: not an array";
	case 8:
		json_object_del(json_array_get(json_object_get(r0,
							       "differences"),
					       1),
				"path");
		return "routes[0].differences[1].path: missing";
	case 9:
		json_object_set_new(json_object_get(json_object_get(r0,
								    "primary"),
						    "codes"),
				    "6xx", json_integer(1));
		return "routes[0].primary.codes.6xx: not a status class";
	case 10:
		json_object_set_new(r1, "name", json_string("a"));
		return "routes[1].name: \"a\"";
	case 11:
		json_array_set_new(json_object_get(json_array_get(
				json_object_get(r0, "noise"), 0), "samples"),
				0, json_string("x"));
		return "routes[0].noise[0].samples[0]: not an object";
	case 12:
		json_object_set_new(r1, "secondary", json_array());
		return "routes[1].secondary: not an object";
	case 13:
		json_array_append_new(json_object_get(doc, "routes"),
				      json_integer(3));
		return "routes[2]: not an object";
	default:
		json_object_del(r0, "noise");
		return "routes[0].noise: missing";
	}
}

static void
test_refused(void **state)
{
	json_t *doc, *copy, *good = busy_doc();
	const char *want;
	char err[256];
	unsigned int how;

	(void)state;
	for (how = 0; how <= 14; how++) {
		doc = busy_doc();
		want = spoil(doc, how);
		copy = json_deep_copy(doc);
		err[0] = '\0';
		assert_int_equal(st_compare_judge(doc, err, sizeof(err)),
				 -EINVAL);
		if (strstr(err, want) != err)
			fail_msg("case %u: \"%s\", expected \"%s\"", how, err,
				 want);
		/* refused before anything changed */
		assert_true(json_equal(doc, copy));

		/* and as either side of a merge, into named */
		assert_int_equal(st_compare_merge(good, doc, err, sizeof(err)),
				 -EINVAL);
		assert_true(strstr(err, want) == err);
		assert_int_equal(st_compare_merge(doc, good, err, sizeof(err)),
				 -EINVAL);
		assert_true(strncmp(err, "into: ", 6) == 0);
		assert_true(strstr(err, want) == err + 6);
		assert_true(json_equal(doc, copy));
		json_decref(copy);
		json_decref(doc);
	}
	/* the untouched document was never merged into */
	doc = busy_doc();
	assert_true(json_equal(good, doc));
	json_decref(doc);

	doc = json_array();
	assert_int_equal(st_compare_judge(doc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not an object");
	/* a short buffer is cut, not overrun */
	assert_int_equal(st_compare_judge(doc, err, 4), -EINVAL);
	assert_string_equal(err, "not");
	json_decref(doc);
	json_decref(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p99_ratio),
		cmocka_unit_test(test_sub_ms),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_mismatches),
		cmocka_unit_test(test_insufficient),
		cmocka_unit_test(test_empty_and_zero),
		cmocka_unit_test(test_noise),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_judged),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
