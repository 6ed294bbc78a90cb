/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_COMPARE_H
#define ST_COMPARE_H

/*
 * The comparison of primary and shadow, per route: a record sink
 * (record.h) that keeps counters, latency histograms and differences,
 * never the records themselves.
 *
 * What is counted, per route (and "unrouted" for requests of no route)
 * ---------------------------------------------------------------------
 * - records: every record of the route.
 * - exchanges (judged): the primary answered on the wire, and the copy
 *   was replayed (answered, or timeout / refused / reset / error at the
 *   shadow). Skipped and dry-run records, and requests the primary did
 *   not answer, are counted in "skipped" only.
 * - Latency: the primary's time to first byte (wire) for every judged
 *   exchange; the shadow's for those it answered. Histograms (hist.h).
 * - Errors: a 5xx answer is an error on either side; for the shadow
 *   (and the secondary) so is no answer (timeout, refused, reset,
 *   error). error_rate = errors / exchanges.
 * - Answers: when both answered (compared), st_diff_answers(); the
 *   exchange is a mismatch when one difference is not noise.
 * - Noise, with a secondary: the secondary's answer is compared with the
 *   primary's too; what differs there is noise for the route. A shadow
 *   difference is noise when the secondary differed at the same (kind,
 *   path) in the same exchange, or, when the secondary did not answer
 *   it, in any earlier exchange of the route. Noise is listed apart
 *   ("noise"), never counted as a mismatch.
 * - Differences: at most compare.max_differences distinct (kind, path)
 *   per route (more are counted in differences_dropped), each with its
 *   count and up to compare.max_samples masked samples (diff.h).
 *
 * The document (st_compare_json) -- also the stats file's "compare", and
 * the control socket's compare reply; judge.h derives the figures
 * ----------------------------------------------------------------------
 * {"thresholds": {min_exchanges, max_p99_ratio, min_p99_drift_ms,
 *                 max_error_rate_delta, max_mismatch_rate},
 *  "secondary": true|false,
 *  "routes": [ROUTE, ...]}          routes in configuration order, then
 *                                   "unrouted"; routes with no record
 *                                   are left out
 * ROUTE: {"name": S, "records": N, "exchanges": N, "skipped": N,
 *         "compared": N, "mismatches": N, "differences_dropped": N,
 *         "primary": SIDE, "shadow": SIDE, "secondary": SIDE (when
 *         configured),
 *         "differences": [DIFF, ...], "noise": [DIFF, ...]}
 * SIDE:  {"answered": N, "codes": {"1xx".."5xx": N},
 *         "timeouts": N, "refused": N, "resets": N, "errors": N
 *         (always 0 for the primary), "histogram": HIST (hist.h)}
 * DIFF:  {"kind": S, "path": S, "count": N,
 *         "samples": [{"id": N, "target": S, "primary": S, "other": S}]}
 *
 * st_compare_json() returns it judged (judge.h adds the figures and the
 * verdicts). Everything in it is masked.
 *
 * Not thread-safe: one thread records and reads.
 */

#include <stddef.h>

#include <jansson.h>

#include "conf.h"
#include "record.h"
#include "sanitize.h"

struct st_compare;

/**
 * @param conf  routes (names), compare (allow-list, noise, gate, bounds)
 *              and has_secondary; nothing of it is kept
 * @param san   masks; must outlive the comparison
 * @param err   "FILE:LINE: compare...: what is wrong" for a noise pattern
 * @return 0, -EINVAL or -ENOMEM
 */
int st_compare_create(const struct st_replay_conf *conf,
		      const struct st_sanitizer *san, struct st_compare **out,
		      char *err, size_t errlen);

/** Free a comparison (NULL is fine). */
void st_compare_free(struct st_compare *c);

/**
 * Count one record. A record sink: @p arg is the struct st_compare.
 * Memory that runs out costs that record's differences (counted in
 * differences_dropped), nothing else.
 */
void st_compare_record(void *arg, const struct st_record *r);

/** Start over: every counter, histogram and difference back to none (a
 * fixed shadow is judged on its own answers). */
void st_compare_reset(struct st_compare *c);

/**
 * The document above, judged.
 *
 * @return a new object, or NULL when out of memory
 */
json_t *st_compare_json(const struct st_compare *c);

#endif
