/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the HTML report in replay/report.h: every text of the
 * document escaped, the figures with their data attributes and report.h's
 * formats, one CDF line per timed side (rising), documents refused
 * before a byte is written, a failing stream.
 *
 * The documents are judged by hand, with figures chosen to show their
 * format (rounding, percent, null): the report draws what it is given,
 * whatever judge.c would compute.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "report.h"

#define EVIL "<script>&\""
#define EVIL_ESCAPED "&lt;script&gt;&amp;&quot;"

/*
 * A judged SIDE: @p timed answers from @p base_ms to twice that, 10 not
 * answered (1 timeout, 2 refused, 3 resets, 4 errors), and its figures:
 * p50 = base_ms + 0.00056 (rounds up at the third decimal), p99 twice
 * base_ms (null when nothing was timed), 12.5% 4xx.
 */
static json_t *
side(double base_ms, unsigned int timed, double error_rate)
{
	struct st_hist *h = st_hist_create();
	json_t *s;
	unsigned int i;

	assert_non_null(h);
	for (i = 0; i < timed; i++)
		st_hist_add(h, base_ms * (1 + (double)i / timed));
	s = json_pack("{s:i, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:i, s:i, "
		      "s:i, s:o, s:f, s:f, s:f}",
		      "answered", timed, "codes", "1xx", 0, "2xx", timed,
		      "3xx", 0, "4xx", 0, "5xx", 0, "timeouts", 1, "refused",
		      2, "resets", 3, "errors", 4, "histogram",
		      st_hist_json(h), "error_rate", error_rate, "rate_5xx",
		      0.0, "rate_4xx", 0.125);
	assert_non_null(s);
	st_hist_free(h);
	if (timed > 0)
		assert_int_equal(json_object_update_new(s, json_pack(
			"{s:f, s:f, s:f, s:f}", "p50_ms", base_ms + 0.00056,
			"p90_ms", base_ms * 1.8, "p99_ms", base_ms * 2,
			"max_ms", base_ms * 2)), 0);
	else
		assert_int_equal(json_object_update_new(s, json_pack(
			"{s:n, s:n, s:n, s:n}", "p50_ms", "p90_ms", "p99_ms",
			"max_ms")), 0);
	return s;
}

/* A failing route @p name, with a difference whose texts need escaping;
 * a secondary when @p secondary. */
static json_t *
route(const char *name, json_t *shadow, bool secondary)
{
	json_t *r = json_pack(
		"{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:f, s:f, "
		"s:f, s:f, s:f, s:s, s:[{s:s, s:f, s:f, s:s}], "
		"s:[{s:s, s:s, s:i, s:f, s:[{s:i, s:s, s:s, s:s}]}], s:[]}",
		"name", name, "records", 110, "exchanges", 100, "skipped",
		10, "compared", 80, "mismatches", 20, "differences_dropped", 0,
		"primary", side(1.0, 100, 0.0), "shadow", shadow,
		"p99_ratio", 3.14159, "p99_drift_ms", 4.2, "p50_drift_ms",
		-0.5, "error_rate_delta", 0.015, "mismatch_rate", 0.25,
		"verdict", "fail", "reasons", "threshold",
		"max_mismatch_rate", "value", 0.25, "limit", 0.01, "text",
		"mismatch rate 25% > 1% <&>", "differences", "kind",
		"json_value", "path", "$[\"a<b>\"]", "count", 20, "rate",
		0.25, "samples", "id", 7, "target", "/q?a=1&b=<i>",
		"primary", "\"it's\"", "other", "x\001y</td>", "noise");

	assert_non_null(r);
	if (secondary)
		json_object_set_new(r, "secondary", side(1.1, 100, 0.0));
	return r;
}

/* A judged document of @p r1 and @p r2 (NULL: one route). */
static json_t *
doc(json_t *r1, json_t *r2)
{
	json_t *d = json_pack(
		"{s:{s:i, s:f, s:f, s:f, s:f}, s:b, s:[o], s:s, s:i, s:[s]}",
		"thresholds", "min_exchanges", 100, "max_p99_ratio", 1.5,
		"min_p99_drift_ms", 1.0, "max_error_rate_delta", 0.01,
		"max_mismatch_rate", 0.01, "secondary",
		json_object_get(r1, "secondary") != NULL, "routes", r1,
		"verdict", "fail", "exchanges", 100 * (r2 != NULL ? 2 : 1),
		"failed", json_string_value(json_object_get(r1, "name")));

	assert_non_null(d);
	if (r2 != NULL)
		json_array_append_new(json_object_get(d, "routes"), r2);
	return d;
}

/* The page of @p d; @p rc gets st_report_write()'s result. */
static char *
render(const json_t *d, const char *title, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*rc = st_report_write(d, title, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static unsigned int
count(const char *s, const char *what)
{
	unsigned int n = 0;

	for (s = strstr(s, what); s != NULL; s = strstr(s + 1, what))
		n++;
	return n;
}

/* Route @p idx's section of @p html, a copy. */
static char *
section(const char *html, unsigned int idx)
{
	char open[48];
	const char *start, *end;

	snprintf(open, sizeof(open), "<section id=\"route-%u\">", idx);
	start = strstr(html, open);
	assert_non_null(start);
	end = strstr(start, "</section>");
	assert_non_null(end);
	return strndup(start, (size_t)(end - start));
}

static void
test_escaping(void **state)
{
	json_t *d = doc(route(EVIL, side(3.0, 100, 0.05), false), NULL);
	char *html;
	int rc;

	(void)state;
	html = render(d, "a <b> & 'c'", &rc);
	assert_int_equal(rc, 0);
	/* no tag of the document's texts, anywhere */
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<i>"));
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(html, "y</td>"));
	assert_non_null(strstr(html, "<title>a &lt;b&gt; &amp; &#39;c&#39;"
				     "</title>"));
	/* the name as text, in attributes, and the failing list */
	assert_non_null(strstr(html, ">" EVIL_ESCAPED "</a>"));
	assert_non_null(strstr(html, "data-route=\"" EVIL_ESCAPED "\""));
	assert_non_null(strstr(html, "data-figure=\"failed.0\">" EVIL_ESCAPED
				     "</span>"));
	assert_non_null(strstr(html, "$[&quot;a&lt;b&gt;&quot;]"));
	assert_non_null(strstr(html, "/q?a=1&amp;b=&lt;i&gt;"));
	assert_non_null(strstr(html, "&quot;it&#39;s&quot;"));
	assert_non_null(strstr(html,
			       "mismatch rate 25% &gt; 1% &lt;&amp;&gt;"));
	/* a control character is not HTML: U+FFFD */
	assert_non_null(strstr(html, ">x\xef\xbf\xbdy&lt;/td&gt;</code>"));
	free(html);
	json_decref(d);
}

/* The figure cell of route @p r, path @p figure, shows @p text. */
static void
assert_figure(const char *html, const char *r, const char *figure,
	      const char *text)
{
	char want[256];

	if (r != NULL)
		snprintf(want, sizeof(want),
			 "data-route=\"%s\" data-figure=\"%s\">%s</", r,
			 figure, text);
	else
		snprintf(want, sizeof(want), " data-figure=\"%s\">%s</",
			 figure, text);
	if (strstr(html, want) == NULL)
		fail_msg("no %s in the page", want);
}

/* Figures of test_figures()'s document, as the page must show them. */
static const struct {
	const char *route;	/* NULL: the document's top */
	const char *figure;
	const char *text;
} figures[] = {
	/* the summary's columns, each route */
	{ "api", "exchanges", "100" },
	{ "api", "primary.p50_ms", "1.001" },
	{ "api", "primary.p99_ms", "2.000" },
	{ "api", "shadow.p50_ms", "6.151" },
	{ "api", "shadow.p99_ms", "12.300" },
	{ "api", "primary.error_rate", "0.00" },
	{ "api", "shadow.error_rate", "1.50" },
	{ "api", "mismatch_rate", "25.00" },
	{ "api", "verdict", "fail" },
	{ "api", "reasons.0.text", "mismatch rate 25% &gt; 1% &lt;&amp;&gt;" },
	/* nothing timed: n/a, not 0 */
	{ "idle", "shadow.p50_ms", "n/a" },
	{ "idle", "shadow.p99_ms", "n/a" },
	{ "idle", "primary.p99_ms", "2.000" },
	/* the route's sections: ratios, drifts, counts, codes, diffs */
	{ "api", "p99_ratio", "3.14" },
	{ "api", "p50_drift_ms", "-0.500" },
	{ "api", "error_rate_delta", "1.50" },
	{ "api", "shadow.p90_ms", "11.070" },
	{ "api", "shadow.rate_4xx", "12.50" },
	{ "api", "shadow.codes.2xx", "100" },
	{ "api", "shadow.resets", "3" },
	{ "api", "differences.0.kind", "json_value" },
	{ "api", "differences.0.count", "20" },
	{ "api", "differences.0.rate", "25.00" },
	{ "api", "differences.0.samples.0.primary", "&quot;it&#39;s&quot;" },
	/* the top: verdict, totals, thresholds */
	{ NULL, "verdict", "fail" },
	{ NULL, "exchanges", "200" },
	{ NULL, "thresholds.max_p99_ratio", "1.50" },
	{ NULL, "thresholds.min_p99_drift_ms", "1.000" },
	{ NULL, "thresholds.max_mismatch_rate", "1.00" },
	{ NULL, "thresholds.min_exchanges", "100" },
};

static void
test_figures(void **state)
{
	json_t *d = doc(route("api", side(6.15, 100, 0.015), false),
			route("idle", side(1.0, 0, 0.0), false));
	char *html;
	size_t i;
	int rc;

	(void)state;
	html = render(d, "t", &rc);
	assert_int_equal(rc, 0);
	for (i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
		assert_figure(html, figures[i].route, figures[i].figure,
			      figures[i].text);
	/* no figure cell is empty */
	assert_null(strstr(html, "\"></td>"));
	free(html);
	json_decref(d);
}

/* The points of @p line (after "points=\""): x never falls, y (down the
 * page) never rises, and it ends higher than it starts. */
static void
assert_rising(const char *line)
{
	double x, y, last_x = -1, last_y = 1e9, first_y = -1;
	const char *p = strstr(line, "points=\"") + strlen("points=\"");
	int n, nb = 0;

	while (sscanf(p, "%lf,%lf%n", &x, &y, &n) == 2) {
		assert_true(x >= last_x);
		assert_true(y <= last_y);
		if (first_y < 0)
			first_y = y;
		last_x = x;
		last_y = y;
		p += n;
		nb++;
	}
	assert_true(nb >= 3);
	assert_int_equal(*p, '"');
	assert_true(last_y < first_y - 100);
}

static void
test_cdf(void **state)
{
	json_t *d = doc(route("three", side(5.0, 100, 0.0), true),
			route("untimed", side(5.0, 0, 1.0), false));
	char *html, *s, *line;
	int rc;

	(void)state;
	html = render(d, "t", &rc);
	assert_int_equal(rc, 0);
	s = section(html, 0);
	assert_int_equal(count(s, "<polyline"), 3);
	assert_int_equal(count(s, "<polyline class=\"primary\" "
				  "data-side=\"primary\""), 1);
	assert_int_equal(count(s, "data-side=\"shadow\""), 1);
	assert_int_equal(count(s, "data-side=\"secondary\""), 1);
	for (line = strstr(s, "<polyline"); line != NULL;
	     line = strstr(line + 1, "<polyline"))
		assert_rising(line);
	/* 1 ms .. 10 ms: the decades around 1 to 10 ms */
	assert_non_null(strstr(s, ">1 ms</text>"));
	assert_non_null(strstr(s, ">10 ms</text>"));
	assert_null(strstr(s, ">100 ms</text>"));
	free(s);
	/* a shadow that never answered: the primary's line only */
	s = section(html, 1);
	assert_int_equal(count(s, "<polyline"), 1);
	assert_int_equal(count(s, "data-side=\"primary\""), 1);
	/* its no answers: 10 of 100 exchanges */
	assert_non_null(strstr(s, ">10.00%</text>"));
	free(s);
	free(html);
	json_decref(d);

	/* answers faster than a microsecond, on both sides, are timed too */
	d = doc(route("instant", side(0.0, 10, 0.0), false), NULL);
	json_object_set_new(json_array_get(json_object_get(d, "routes"), 0),
			    "primary", side(0.0, 10, 0.0));
	html = render(d, "t", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count(html, "<polyline"), 2);
	assert_rising(strstr(html, "data-side=\"shadow\""));
	free(html);
	json_decref(d);
}

/* @p d is refused with -EINVAL, and nothing is written. */
static void
assert_refused(const json_t *d)
{
	char *html;
	int rc;

	html = render(d, "t", &rc);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(html, "");
	free(html);
}

static void
test_invalid(void **state)
{
	json_t *d = doc(route("api", side(1.0, 10, 0.0), false), NULL);
	json_t *r = json_array_get(json_object_get(d, "routes"), 0);
	json_t *hist = json_object_get(json_object_get(r, "shadow"),
				       "histogram");
	json_t *raw = json_deep_copy(d);

	(void)state;
	assert_refused(json_array_get(json_object_get(d, "routes"), 0));
	/* not judged: the top's verdict, or a route's, is missing */
	json_object_del(raw, "verdict");
	assert_refused(raw);
	json_object_set_new(raw, "verdict", json_string("pass"));
	json_object_del(json_array_get(json_object_get(raw, "routes"), 0),
			"reasons");
	assert_refused(raw);
	json_decref(raw);
	/* a histogram of other buckets */
	json_object_set_new(hist, "ratio", json_real(1.5));
	assert_refused(d);
	json_object_set_new(hist, "ratio", json_real(1.02));
	json_object_set_new(r, "differences", json_pack("[{s:s}]", "kind",
							 "status"));
	assert_refused(d);
	json_object_set_new(r, "differences", json_array());
	json_object_del(r, "primary");
	assert_refused(d);
	json_decref(d);
}

static void
test_write_error(void **state)
{
	json_t *d = doc(route("api", side(1.0, 10, 0.0), false), NULL);
	FILE *f = fopen("/dev/full", "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(setvbuf(f, NULL, _IOFBF, 64), 0);
	assert_int_equal(st_report_write(d, "t", f), -EIO);
	fclose(f);
	json_decref(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_figures),
		cmocka_unit_test(test_cdf),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
