/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_JUDGE_H
#define ST_JUDGE_H

/*
 * The figures and the verdicts of a comparison document (compare.h),
 * derived from its counters and histograms only: so a document read
 * back from a stats file, or several merged (replays across a fleet),
 * are judged exactly as a live one.
 *
 * What st_compare_judge() adds
 * ----------------------------
 * To each SIDE: p50_ms, p90_ms, p99_ms, max_ms (null when nothing was
 * timed), error_rate, rate_5xx, rate_4xx (fractions of exchanges; null
 * when no exchange). A status class left out of "codes" counts 0.
 * To each ROUTE:
 *   "p99_ratio": shadow p99 / primary p99 (a primary p99 under 0.001 ms,
 *   the histograms' resolution, counts as 0.001), "p99_drift_ms": shadow
 *   p99 - primary p99, "p50_drift_ms", likewise (null when either is
 *   null);
 *   "error_rate_delta": shadow error_rate - primary's (null when no
 *   exchange);
 *   "mismatch_rate": mismatches / compared (null when none compared);
 *   "differences" and "noise" sorted by count, largest first, each with
 *   "rate" (count / compared); a difference whose (kind, path) is also
 *   in "noise" moves there (its count added to "shadow_count" on the
 *   noise entry, which merges sum like "count");
 *   "verdict": "insufficient" when exchanges < min_exchanges, else
 *   "fail" when a threshold is crossed, else "pass";
 *   "reasons": [{"threshold": NAME, "value": X, "limit": X, "text": S}]
 *   for each crossed threshold, where NAME is one of
 *     max_p99_ratio       p99_ratio > limit and p99_drift_ms >
 *                         min_p99_drift_ms (a sub-millisecond service
 *                         is not failed for microseconds);
 *     max_error_rate_delta  error_rate_delta > limit;
 *     max_mismatch_rate     mismatch_rate > limit;
 *   an insufficient route's one reason is min_exchanges (value:
 *   exchanges): too few exchanges are not held against the thresholds.
 * At the top: "verdict" (fail if a route fails; else pass if a route
 * passes; else insufficient), "exchanges" (all routes), "failed" (names
 * of the failing routes).
 */

#include <stddef.h>

#include <jansson.h>

/**
 * Add (or recompute) the figures and verdicts of @p doc in place.
 *
 * @return 0, -EINVAL for a document that is not one (err says where:
 *         "routes[2].shadow.histogram: not a histogram (hist.h)"; the
 *         document is left as it was), -ENOMEM
 */
int st_compare_judge(json_t *doc, char *err, size_t errlen);

/**
 * Add the counters, histograms and differences of @p from to @p into
 * (routes by name; differences by kind and path, samples kept up to the
 * larger number either had; a route new to @p into goes before its
 * "unrouted"), then judge @p into. The thresholds of @p into are kept.
 *
 * @return 0, -EINVAL (err says where, as st_compare_judge() does, with
 *         "into: " before a place in @p into; @p into is left as it
 *         was), -ENOMEM (@p into may be half merged)
 */
int st_compare_merge(json_t *into, const json_t *from, char *err,
		     size_t errlen);

#endif
