/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_HIST_H
#define ST_HIST_H

/*
 * A latency histogram with log buckets: bucket i holds values in
 * [1.02^i, 1.02^(i+1)) microseconds (values under 1 us in bucket 0, over
 * 1000 s in the last), so a quantile reported as its bucket's geometric
 * middle is within 1% of the true sample (clamped to the smallest and
 * largest values seen, which are exact). In the first bucket, [0, 1.02)
 * us, the error is under 1.02 us; over 1000 s a quantile is only bounded
 * by the largest value. Fixed size (about 8 KiB), never a list of
 * samples: a day of traffic costs what a second does.
 *
 * Mergeable: the buckets are the same everywhere, so two histograms add
 * bucket by bucket, and the JSON form (sparse buckets) carries a
 * histogram between processes exactly: histograms of two replays merged
 * equal the histogram of one replay of both inputs.
 *
 * Quantiles are nearest-rank: q's value is the smallest sample v with at
 * least ceil(q * count) samples <= v (q = 0: the smallest).
 *
 * Not thread-safe; a histogram belongs to one thread.
 */

#include <stdint.h>

#include <jansson.h>

struct st_hist;

/** @return a new empty histogram, or NULL when out of memory */
struct st_hist *st_hist_create(void);

/** Free a histogram (NULL is fine). */
void st_hist_free(struct st_hist *h);

/**
 * Count one value, in milliseconds (negative and NaN count as 0, more
 * than 1e15 as 1e15: sums stay finite).
 */
void st_hist_add(struct st_hist *h, double ms);

/** Add every value of @p from to @p into. */
void st_hist_merge(struct st_hist *into, const struct st_hist *from);

/** Values counted. */
uint64_t st_hist_count(const struct st_hist *h);

/** The largest value (ms), exact; 0 when empty. */
double st_hist_max(const struct st_hist *h);

/** The sum of the values (ms). */
double st_hist_sum(const struct st_hist *h);

/**
 * The nearest-rank quantile @p q (0..1) in ms, within 1% of the exact
 * one; NAN when empty.
 */
double st_hist_quantile(const struct st_hist *h, double q);

/**
 * How many values are at most @p ms, as a Prometheus bucket counts them:
 * a bucket counts in full when its geometric middle is <= @p ms (so a
 * value within 1% of the bound may fall on either side of it, the same
 * way in every process).
 */
uint64_t st_hist_count_le(const struct st_hist *h, double ms);

/* One non-empty bucket: values in [lo_ms, hi_ms), clamped to the
 * smallest and largest seen. */
typedef void (*st_hist_bucket_fn)(void *arg, double lo_ms, double hi_ms,
				  uint64_t count);

/** Call @p fn for each non-empty bucket, smallest values first. */
void st_hist_foreach(const struct st_hist *h, st_hist_bucket_fn fn,
		     void *arg);

/**
 * The histogram as JSON:
 * {"count":N, "sum_ms":X, "min_ms":X, "max_ms":X, "ratio":1.02,
 *  "buckets":[[INDEX, COUNT], ...]} (non-empty buckets, by index).
 *
 * @return a new object, or NULL when out of memory
 */
json_t *st_hist_json(const struct st_hist *h);

/**
 * Read what st_hist_json() wrote.
 *
 * @return 0; -EINVAL when @p j is not such an object (another ratio, an
 *         index out of range, counts that do not add up to count);
 *         -ENOMEM
 */
int st_hist_from_json(const json_t *j, struct st_hist **out);

#endif
