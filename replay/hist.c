/* SPDX-License-Identifier: BSD-3-Clause */
#include "hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define RATIO 1.02
/* 1.02^1047 us is just over 1000 s: buckets 0..1046 */
#define NB_BUCKETS 1047
/* Larger values count as this, so that sums stay finite (JSON has no
 * infinity) */
#define MAX_MS 1e15

struct st_hist {
	uint64_t count;
	double sum_ms;
	double min_ms; /* exact; 0 when empty */
	double max_ms;
	uint64_t buckets[NB_BUCKETS];
};

struct st_hist *
st_hist_create(void)
{
	return calloc(1, sizeof(struct st_hist));
}

void
st_hist_free(struct st_hist *h)
{
	free(h);
}

/*
 * The bucket of @p us. The logarithm gives it up to rounding; the bounds
 * (bucket_lo) decide, so that a value always lies inside the bounds
 * st_hist_foreach() reports for its bucket.
 */
static unsigned int
bucket_of(double us)
{
	double i;

	if (!(us >= RATIO))
		return 0;
	i = floor(log(us) / log(RATIO));
	if (i >= NB_BUCKETS - 1)
		i = NB_BUCKETS - 1;
	if (us < pow(RATIO, i))
		i--;
	else if (i < NB_BUCKETS - 1 && us >= pow(RATIO, i + 1))
		i++;
	return (unsigned int)i;
}

/* Bucket @p i's values, [lo, hi) in ms, clamped to the smallest and the
 * largest seen: the bounds only narrow what the samples can be. */
static void
bucket_range(const struct st_hist *h, unsigned int i, double *lo,
	     double *hi)
{
	*lo = i > 0 ? pow(RATIO, i) / 1000 : 0;
	*hi = i < NB_BUCKETS - 1 ? pow(RATIO, i + 1) / 1000 : INFINITY;
	*lo = fmax(*lo, h->min_ms);
	*hi = fmin(*hi, h->max_ms);
}

/* Bucket @p i's geometric middle in ms, unclamped: the same in every
 * process whatever it saw, which Prometheus buckets need. */
static double
bucket_mid(unsigned int i)
{
	return pow(RATIO, i + 0.5) / 1000;
}

void
st_hist_add(struct st_hist *h, double ms)
{
	if (!(ms > 0))
		ms = 0;
	else if (ms > MAX_MS)
		ms = MAX_MS;
	if (h->count == 0) {
		h->min_ms = ms;
		h->max_ms = ms;
	} else {
		h->min_ms = fmin(h->min_ms, ms);
		h->max_ms = fmax(h->max_ms, ms);
	}
	h->count++;
	h->sum_ms += ms;
	h->buckets[bucket_of(ms * 1000)]++;
}

void
st_hist_merge(struct st_hist *into, const struct st_hist *from)
{
	unsigned int i;

	if (from->count == 0)
		return;
	if (into->count == 0) {
		into->min_ms = from->min_ms;
		into->max_ms = from->max_ms;
	} else {
		into->min_ms = fmin(into->min_ms, from->min_ms);
		into->max_ms = fmax(into->max_ms, from->max_ms);
	}
	into->count += from->count;
	into->sum_ms += from->sum_ms;
	for (i = 0; i < NB_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

uint64_t
st_hist_count(const struct st_hist *h)
{
	return h->count;
}

double
st_hist_max(const struct st_hist *h)
{
	return h->max_ms;
}

double
st_hist_sum(const struct st_hist *h)
{
	return h->sum_ms;
}

/* ceil(q * count), where a product a rounding error above an integer is
 * that integer: 0.07 * 100 is 7.000000000000001 in binary. */
static uint64_t
nearest_rank(double q, uint64_t count)
{
	double r = q * (double)count, k = nearbyint(r);

	if (fabs(r - k) <= r * 1e-12)
		return (uint64_t)k;
	return (uint64_t)ceil(r);
}

double
st_hist_quantile(const struct st_hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned int i;
	double lo, hi;

	if (h->count == 0)
		return NAN;
	if (!(q > 0))
		return h->min_ms;
	if (q >= 1)
		return h->max_ms;
	rank = nearest_rank(q, h->count);
	/* the ends are known exactly */
	if (rank <= 1)
		return h->min_ms;
	if (rank >= h->count)
		return h->max_ms;
	for (i = 0; i < NB_BUCKETS - 1; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	bucket_range(h, i, &lo, &hi);
	return sqrt(lo * hi);
}

uint64_t
st_hist_count_le(const struct st_hist *h, double ms)
{
	uint64_t n = 0;
	unsigned int j;
	double i;

	if (!(ms >= bucket_mid(0)))
		return 0;
	if (ms >= bucket_mid(NB_BUCKETS - 1))
		return h->count;
	/* the last bucket whose middle is <= ms: estimated, then settled on
	 * the middles themselves */
	i = floor(log(ms * 1000) / log(RATIO) - 0.5);
	i = fmin(fmax(i, 0), NB_BUCKETS - 2);
	while (i > 0 && bucket_mid((unsigned int)i) > ms)
		i--;
	while (bucket_mid((unsigned int)i + 1) <= ms)
		i++;
	for (j = 0; j <= (unsigned int)i; j++)
		n += h->buckets[j];
	return n;
}

void
st_hist_foreach(const struct st_hist *h, st_hist_bucket_fn fn, void *arg)
{
	unsigned int i;
	double lo, hi;

	for (i = 0; i < NB_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		bucket_range(h, i, &lo, &hi);
		fn(arg, lo, hi, h->buckets[i]);
	}
}

json_t *
st_hist_json(const struct st_hist *h)
{
	json_t *buckets = json_array();
	unsigned int i;

	if (buckets == NULL)
		return NULL;
	for (i = 0; i < NB_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		if (json_array_append_new(buckets,
					  json_pack("[II]", (json_int_t)i,
						    (json_int_t)h->buckets[i]))
		    < 0) {
			json_decref(buckets);
			return NULL;
		}
	}
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:o}", "count",
			 (json_int_t)h->count, "sum_ms", h->sum_ms, "min_ms",
			 h->min_ms, "max_ms", h->max_ms, "ratio", RATIO,
			 "buckets", buckets);
}

/* Add the "buckets" of a JSON histogram to @p h; -EINVAL when one is not
 * [INDEX, COUNT] with indexes rising and counts adding up to @p count. */
static int
buckets_from_json(json_t *buckets, uint64_t count, struct st_hist *h)
{
	json_int_t index, n, last = -1;
	uint64_t total = 0;
	size_t k;
	json_t *b;

	if (!json_is_array(buckets))
		return -EINVAL;
	json_array_foreach(buckets, k, b) {
		if (json_unpack(b, "[II!]", &index, &n) < 0 || index <= last ||
		    index >= NB_BUCKETS || n <= 0 ||
		    (uint64_t)n > count - total)
			return -EINVAL;
		h->buckets[index] = (uint64_t)n;
		total += (uint64_t)n;
		last = index;
	}
	return total == count ? 0 : -EINVAL;
}

int
st_hist_from_json(const json_t *j, struct st_hist **out)
{
	double sum_ms, min_ms, max_ms, ratio;
	struct st_hist *h;
	json_t *buckets;
	json_int_t count;
	int rc;

	if (json_unpack((json_t *)j, "{s:I, s:F, s:F, s:F, s:F, s:o}", "count",
			&count, "sum_ms", &sum_ms, "min_ms", &min_ms, "max_ms",
			&max_ms, "ratio", &ratio, "buckets", &buckets) < 0)
		return -EINVAL;
	/* another ratio is another set of buckets: nothing to add up */
	if (fabs(ratio - RATIO) > 1e-12 || count < 0)
		return -EINVAL;
	if (!(min_ms >= 0 && min_ms <= max_ms && max_ms <= MAX_MS &&
	      sum_ms >= 0 && sum_ms <= (double)count * MAX_MS))
		return -EINVAL;
	if (count == 0 && max_ms != 0)
		return -EINVAL;
	h = st_hist_create();
	if (h == NULL)
		return -ENOMEM;
	rc = buckets_from_json(buckets, (uint64_t)count, h);
	if (rc < 0) {
		st_hist_free(h);
		return rc;
	}
	h->count = (uint64_t)count;
	h->sum_ms = sum_ms;
	h->min_ms = min_ms;
	h->max_ms = max_ms;
	*out = h;
	return 0;
}
