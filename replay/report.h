/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_REPORT_H
#define ST_REPORT_H

/*
 * The comparison as a self-contained HTML page: for people who would
 * rather look than read. Inline CSS and SVG only, nothing fetched, no
 * script at all.
 *
 * - A summary: the overall verdict, and a row per route with both sides'
 *   p50/p99, error rates, mismatch rate and verdict with its reasons (the
 *   figures of the judged document, as shadowtapctl compare prints them).
 * - Per route: latency CDFs, primary against shadow (and secondary), on a
 *   log time axis, from the histograms; error rates side by side (bars);
 *   the top differing paths with their counts and masked samples; the
 *   noise apart.
 * - Every text from the document is HTML-escaped; control characters,
 *   which HTML does not allow, are shown as U+FFFD.
 *
 * Figures a program can read back
 * -------------------------------
 * Every element showing a figure of the document carries
 *   data-figure="PATH"  where the figure is, from its route (or from the
 *                       document's top without data-route): member names
 *                       and array indexes joined by dots, as in
 *                       "shadow.p99_ms", "differences.0.samples.1.other",
 *                       "shadow.codes.5xx"
 *   data-route="NAME"   the route's name (escaped as any attribute)
 * and its text is the value formatted by the last member name:
 *   *_ms           milliseconds, printf "%.3f"          12.345
 *   *rate*         a fraction as percent, "%.2f" of x100  1.50
 *                  (error_rate, rate_5xx, mismatch_rate, error_rate_delta)
 *   *_ratio        "%.2f"                                 3.10
 *   other numbers  integers as they are, others "%g"
 *   strings        as they are (verdict, name, kind, path, samples)
 *   null, missing  "n/a"
 * The same figure may show more than once (summary and route section).
 * The CDF's lines are <polyline> elements with data-side="primary",
 * "shadow" or "secondary", one per side with a timed exchange.
 */

#include <stdio.h>

#include <jansson.h>

/**
 * Write the page of a judged document (compare.h, judge.h). The document
 * is checked whole before anything is written.
 *
 * @param doc    the judged document
 * @param title  the page's title (escaped)
 * @param out    where to write; flushed before returning
 * @return 0, -EINVAL for a document that is not judged (no verdict, a
 *         route without name, verdict, reasons, primary or shadow, a
 *         histogram hist.h cannot read), -ENOMEM, -EIO when a write fails
 */
int st_report_write(const json_t *doc, const char *title, FILE *out);

#endif
