/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the latency histograms in replay/hist.h: quantiles against
 * the exact nearest-rank ones of the same samples, merges, the JSON form
 * and what it refuses, Prometheus counts.
 *
 * Samples come from a fixed-seed generator: a failure reproduces.
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

#define NB_SAMPLES 20000
#define NB_BUCKETS 1047 /* 1 us .. 1000 s at 1.02 */

/* splitmix64: the same sequence on every machine */
static uint64_t
next_u64(uint64_t *seed)
{
	uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* In (0, 1). */
static double
uniform(uint64_t *seed)
{
	return ((double)(next_u64(seed) >> 11) + 0.5) / 9007199254740992.0;
}

typedef double (*gen_fn)(uint64_t *seed, size_t k);

static double
gen_uniform(uint64_t *seed, size_t k)
{
	(void)k;
	return 0.1 + uniform(seed) * 99.9;
}

/* Latencies as services have them: a body near 5 ms, a long tail. */
static double
gen_lognormal(uint64_t *seed, size_t k)
{
	double z = sqrt(-2 * log(uniform(seed))) *
		   cos(2 * M_PI * uniform(seed));

	(void)k;
	return exp(log(5) + 1.2 * z);
}

static double
gen_constant(uint64_t *seed, size_t k)
{
	(void)seed;
	(void)k;
	return 3.7;
}

static double
gen_few(uint64_t *seed, size_t k)
{
	static const double values[] = { 1, 2, 2, 2, 50 };

	(void)k;
	return values[next_u64(seed) % 5];
}

/* Zeros, sub-microsecond values, up to 900 s, and one over 1000 s (the
 * largest: above 1000 s only the largest value is exact). */
static double
gen_extremes(uint64_t *seed, size_t k)
{
	if (k == 0)
		return 5e7;
	switch (next_u64(seed) % 5) {
	case 0:
		return 0;
	case 1:
		return 0.0004;
	case 2:
		return uniform(seed) * 9e5;
	default:
		return uniform(seed) * 3;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct st_hist *
fill(gen_fn gen, uint64_t seed, double *samples, size_t n)
{
	struct st_hist *h = st_hist_create();
	size_t k;

	assert_non_null(h);
	for (k = 0; k < n; k++) {
		samples[k] = gen(&seed, k);
		st_hist_add(h, samples[k]);
	}
	qsort(samples, n, sizeof(*samples), cmp_double);
	return h;
}

/* Quantile p/1000 for every p against sorted[ceil(p * n / 1000) - 1],
 * computed in integers. */
static void
check_quantiles(gen_fn gen, uint64_t seed, size_t n)
{
	double *samples = malloc(n * sizeof(*samples));
	struct st_hist *h;
	size_t rank;
	unsigned int p;

	assert_non_null(samples);
	h = fill(gen, seed, samples, n);
	assert_int_equal(st_hist_count(h), n);
	for (p = 0; p <= 1000; p++) {
		double got = st_hist_quantile(h, p / 1000.0), exact;

		rank = (p * n + 999) / 1000;
		exact = samples[rank > 0 ? rank - 1 : 0];
		if (exact < 0.00102)
			assert_true(fabs(got - exact) <= 0.00102);
		else if (fabs(got - exact) > 0.01 * exact)
			fail_msg("p%.1f: %.9g, exact %.9g", p / 10.0, got,
				 exact);
	}
	assert_true(st_hist_quantile(h, 0) == samples[0]);
	assert_true(st_hist_quantile(h, 1) == samples[n - 1]);
	assert_true(st_hist_max(h) == samples[n - 1]);
	st_hist_free(h);
	free(samples);
}

static void
test_quantiles(void **state)
{
	(void)state;
	check_quantiles(gen_uniform, 1, NB_SAMPLES);
	check_quantiles(gen_lognormal, 2, NB_SAMPLES);
	check_quantiles(gen_constant, 3, 1000);
	check_quantiles(gen_few, 4, 997);
	check_quantiles(gen_extremes, 5, NB_SAMPLES);
	/* few samples: every rank is an end or next to one */
	check_quantiles(gen_lognormal, 6, 1);
	check_quantiles(gen_lognormal, 7, 2);
	check_quantiles(gen_lognormal, 8, 3);
}

static void
test_edges(void **state)
{
	struct st_hist *h = st_hist_create();

	(void)state;
	assert_non_null(h);
	assert_true(isnan(st_hist_quantile(h, 0.5)));
	assert_true(st_hist_max(h) == 0);
	assert_int_equal(st_hist_count_le(h, 1e9), 0);
	st_hist_add(h, NAN);
	st_hist_add(h, -3);
	st_hist_add(h, 2);
	assert_int_equal(st_hist_count(h), 3);
	assert_true(st_hist_quantile(h, 0) == 0);
	assert_true(st_hist_quantile(h, 0.5) == 0);
	assert_true(st_hist_sum(h) == 2);
	/* infinity would have no JSON form */
	st_hist_add(h, INFINITY);
	assert_true(st_hist_max(h) == 1e15);
	assert_true(st_hist_quantile(h, 1) == 1e15);
	/* q out of range is its end */
	assert_true(st_hist_quantile(h, -1) == 0);
	assert_true(st_hist_quantile(h, 7) == 1e15);
	st_hist_free(h);
}

/* The "buckets" and "count" of two histograms' JSON are equal. */
static void
assert_same_buckets(const struct st_hist *a, const struct st_hist *b)
{
	json_t *ja = st_hist_json(a), *jb = st_hist_json(b);

	assert_non_null(ja);
	assert_non_null(jb);
	assert_true(json_equal(json_object_get(ja, "buckets"),
			       json_object_get(jb, "buckets")));
	assert_true(json_equal(json_object_get(ja, "count"),
			       json_object_get(jb, "count")));
	assert_true(json_equal(json_object_get(ja, "min_ms"),
			       json_object_get(jb, "min_ms")));
	assert_true(json_equal(json_object_get(ja, "max_ms"),
			       json_object_get(jb, "max_ms")));
	json_decref(ja);
	json_decref(jb);
}

static void
test_merge(void **state)
{
	struct st_hist *a, *b, *both = st_hist_create(), *empty;
	double *sa = malloc(NB_SAMPLES * sizeof(*sa));
	double *sb = malloc(NB_SAMPLES * sizeof(*sb));
	size_t k;

	(void)state;
	assert_non_null(both);
	assert_non_null(sa);
	assert_non_null(sb);
	a = fill(gen_lognormal, 10, sa, NB_SAMPLES);
	b = fill(gen_extremes, 11, sb, NB_SAMPLES / 2);
	for (k = 0; k < NB_SAMPLES; k++)
		st_hist_add(both, sa[k]);
	for (k = 0; k < NB_SAMPLES / 2; k++)
		st_hist_add(both, sb[k]);
	st_hist_merge(a, b);
	assert_same_buckets(a, both);
	assert_int_equal(st_hist_count(a), NB_SAMPLES + NB_SAMPLES / 2);
	assert_true(fabs(st_hist_sum(a) - st_hist_sum(both)) <=
		    1e-9 * st_hist_sum(both));
	assert_true(st_hist_quantile(a, 0.99) ==
		    st_hist_quantile(both, 0.99));

	/* an empty histogram changes nothing either way */
	empty = st_hist_create();
	assert_non_null(empty);
	st_hist_merge(a, empty);
	assert_same_buckets(a, both);
	st_hist_merge(empty, both);
	assert_same_buckets(empty, both);
	assert_true(st_hist_quantile(empty, 0) == st_hist_quantile(both, 0));

	st_hist_free(a);
	st_hist_free(b);
	st_hist_free(both);
	st_hist_free(empty);
	free(sa);
	free(sb);
}

static void
test_json_round_trip(void **state)
{
	double *samples = malloc(NB_SAMPLES * sizeof(*samples));
	struct st_hist *h, *back = NULL, *empty = st_hist_create();
	json_t *j, *read, *again;
	json_error_t jerr;
	char *text;

	(void)state;
	assert_non_null(samples);
	assert_non_null(empty);
	h = fill(gen_extremes, 20, samples, NB_SAMPLES);
	j = st_hist_json(h);
	assert_non_null(j);
	assert_true(json_real_value(json_object_get(j, "ratio")) == 1.02);
	assert_true(json_real_value(json_object_get(j, "min_ms")) == 0);
	assert_true(json_real_value(json_object_get(j, "max_ms")) == 5e7);
	/* through text, as between processes */
	text = json_dumps(j, 0);
	assert_non_null(text);
	read = json_loads(text, 0, &jerr);
	assert_non_null(read);
	assert_int_equal(st_hist_from_json(read, &back), 0);
	again = st_hist_json(back);
	assert_true(json_equal(j, again));
	assert_true(st_hist_quantile(back, 0.5) == st_hist_quantile(h, 0.5));
	assert_int_equal(st_hist_count_le(back, 10), st_hist_count_le(h, 10));
	json_decref(j);
	json_decref(read);
	json_decref(again);
	free(text);
	st_hist_free(back);

	/* empty */
	j = st_hist_json(empty);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "buckets")), 0);
	back = NULL;
	assert_int_equal(st_hist_from_json(j, &back), 0);
	assert_int_equal(st_hist_count(back), 0);
	assert_true(isnan(st_hist_quantile(back, 0.5)));
	json_decref(j);
	st_hist_free(back);
	st_hist_free(empty);
	st_hist_free(h);
	free(samples);
}

static void
test_json_refused(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"buckets\":[[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.05,\"buckets\":[[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[1047,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[-1,1]]}",
		"{\"count\":3,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1],[349,1]]}",
		"{\"count\":2,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[349,1],[348,1]]}",
		"{\"count\":2,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1],[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1,0]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,0],[349,1]]}",
		"{\"count\":\"1\",\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[\"348\",1]]}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":{}}",
		"{\"count\":1,\"sum_ms\":1,\"min_ms\":2,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1]]}",
		"{\"count\":-1,\"sum_ms\":0,\"min_ms\":0,\"max_ms\":0,"
		"\"ratio\":1.02,\"buckets\":[]}",
		"{\"count\":0,\"sum_ms\":0,\"min_ms\":0,\"max_ms\":5,"
		"\"ratio\":1.02,\"buckets\":[]}",
		"{\"count\":1,\"sum_ms\":-1,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1]]}",
		"{\"count\":1,\"sum_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1]]}",
	};
	static const char good[] =
		"{\"count\":2,\"sum_ms\":2,\"min_ms\":1,\"max_ms\":1,"
		"\"ratio\":1.02,\"buckets\":[[348,1],[349,1]]}";
	struct st_hist *h = NULL;
	json_error_t jerr;
	unsigned int i;
	json_t *j;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], 0, &jerr);
		assert_non_null(j);
		if (st_hist_from_json(j, &h) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_null(h);
		json_decref(j);
	}
	/* the same shape, right, is read: the refusals above are theirs */
	j = json_loads(good, 0, &jerr);
	assert_non_null(j);
	assert_int_equal(st_hist_from_json(j, &h), 0);
	assert_int_equal(st_hist_count(h), 2);
	json_decref(j);
	st_hist_free(h);
}

static double
mid_ms(unsigned int i)
{
	return pow(1.02, i + 0.5) / 1000;
}

static void
test_count_le(void **state)
{
	double *samples = malloc(NB_SAMPLES * sizeof(*samples));
	struct st_hist *h, *mids = st_hist_create();
	uint64_t prev = 0, n, exact;
	unsigned int i;
	double b;
	size_t k;

	(void)state;
	assert_non_null(samples);
	assert_non_null(mids);
	h = fill(gen_lognormal, 30, samples, NB_SAMPLES);
	/* monotonic, from nothing to everything */
	assert_int_equal(st_hist_count_le(h, -1), 0);
	assert_int_equal(st_hist_count_le(h, NAN), 0);
	for (b = 1e-4; b < 1e7; b *= 1.013) {
		n = st_hist_count_le(h, b);
		assert_true(n >= prev);
		prev = n;
		/* exact for a bound no sample is within 2% of */
		for (k = 0, exact = 0; k < NB_SAMPLES && samples[k] <= b; k++)
			exact++;
		if ((k == 0 || samples[k - 1] < b / 1.02) &&
		    (k == NB_SAMPLES || samples[k] > b * 1.02))
			assert_int_equal(n, exact);
	}
	assert_int_equal(prev, NB_SAMPLES);
	assert_int_equal(st_hist_count_le(h, INFINITY), NB_SAMPLES);

	/* a bucket counts from its geometric middle on, not before: one
	 * value in each of the 1047 buckets */
	for (i = 0; i < NB_BUCKETS; i++)
		st_hist_add(mids, mid_ms(i));
	for (i = 0; i < NB_BUCKETS; i++) {
		b = mid_ms(i);
		assert_int_equal(st_hist_count_le(mids, b), i + 1);
		assert_int_equal(st_hist_count_le(mids, nextafter(b, 0)), i);
	}
	st_hist_free(h);
	st_hist_free(mids);
	free(samples);
}

struct walk {
	double prev_hi;
	double min, max;
	uint64_t total;
};

static void
walk_bucket(void *arg, double lo_ms, double hi_ms, uint64_t count)
{
	struct walk *w = arg;

	assert_true(lo_ms >= w->prev_hi);
	assert_true(lo_ms <= hi_ms);
	assert_true(lo_ms >= w->min);
	assert_true(hi_ms <= w->max);
	/* a bucket spans at most the ratio (the first from 0) */
	if (lo_ms > 0 && hi_ms < 1e6)
		assert_true(hi_ms <= lo_ms * 1.0200001);
	assert_true(count > 0);
	w->prev_hi = hi_ms;
	w->total += count;
}

static void
check_foreach(gen_fn gen, uint64_t seed)
{
	double *samples = malloc(NB_SAMPLES * sizeof(*samples));
	struct walk w = { 0 };
	struct st_hist *h;

	assert_non_null(samples);
	h = fill(gen, seed, samples, NB_SAMPLES);
	w.min = samples[0];
	w.max = samples[NB_SAMPLES - 1];
	st_hist_foreach(h, walk_bucket, &w);
	assert_int_equal(w.total, NB_SAMPLES);
	assert_true(w.prev_hi == w.max);
	st_hist_free(h);
	free(samples);
}

static void
test_foreach(void **state)
{
	(void)state;
	check_foreach(gen_extremes, 40);
	check_foreach(gen_lognormal, 41);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_count_le),
		cmocka_unit_test(test_foreach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
