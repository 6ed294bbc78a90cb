/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_COMPARE_VIEW_H
#define ST_COMPARE_VIEW_H

/*
 * shadowtapctl compare's text: a judged comparison document
 * (replay/compare.h, replay/judge.h) as a table a person reads at a
 * glance, and one route's differences.
 */

#include <stdio.h>

#include <jansson.h>

/**
 * A row per route: exchanges, primary and shadow p50/p99 (ms), error
 * rates, mismatch rate, verdict and why; then the overall verdict.
 */
void st_compare_view_table(const json_t *doc, FILE *out);

/**
 * Route @p name's row, then its differences (kind, path, count, rate, a
 * sample) and its noise.
 *
 * @return 0, or -ENOENT when the document has no such route
 */
int st_compare_view_route(const json_t *doc, const char *name, FILE *out);

#endif
