/* SPDX-License-Identifier: BSD-3-Clause */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* Differing paths listed per route, largest counts first. */
#define TOP_PATHS 20

/* A figure's text: "%.3f" of the largest double is 314 bytes. */
#define FIGURE_MAX 320

/* The CDF plot, in SVG user units. */
#define CDF_W 640
#define CDF_H 300
#define CDF_LEFT 48
#define CDF_RIGHT 40
#define CDF_TOP 12
#define CDF_BOTTOM 44
#define CDF_PLOT_W (CDF_W - CDF_LEFT - CDF_RIGHT)
#define CDF_PLOT_H (CDF_H - CDF_TOP - CDF_BOTTOM)
/* 1 us, bucket 0's top: a histogram tells no smaller time apart. */
#define CDF_MIN_MS 0.001

/* The error bars, in SVG user units. */
#define BAR_LABEL_W 80
#define BAR_W 420
#define BAR_H 12
#define BAR_GAP 3
#define BAR_GROUP_GAP 10
#define BAR_SVG_W (BAR_LABEL_W + BAR_W + 70)	/* room for "100.00%" */

/* A side's colour is its CSS class (primary, shadow, secondary). */
static const char *const sides[] = { "primary", "shadow", "secondary" };
#define NB_SIDES (sizeof(sides) / sizeof(sides[0]))

/* The shadow and the secondary count these as errors (compare.h). */
static const char *const no_answers[] = { "timeouts", "refused", "resets",
					  "errors" };

static const char style[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;"
	"max-width:1100px;padding:0 1em;color:#1f2328}\n"
	"h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid "
	"#d0d7de;padding-bottom:.2em}h3{margin-bottom:.3em}\n"
	"table{border-collapse:collapse;margin:.5em 0}\n"
	"th,td{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top;"
	"text-align:left}\n"
	"th{background:#f6f8fa}\n"
	"td.num{text-align:right;font-variant-numeric:tabular-nums;"
	"white-space:nowrap}\n"
	"code{font:12px ui-monospace,monospace;word-break:break-all;"
	"background:#f6f8fa;padding:0 3px}\n"
	".badge{display:inline-block;padding:1px 8px;border-radius:4px;"
	"color:#fff;background:#6e7781;font-weight:600}\n"
	".badge.big{font-size:2em;padding:4px 16px}\n"
	".pass{background:#1a7f37}.fail{background:#cf222e}"
	".insufficient{background:#9a6700}\n"
	".legend span{display:inline-block;width:24px;height:3px;"
	"margin:0 6px 4px 14px;vertical-align:middle}\n"
	".legend .primary{background:#0969da}.legend .shadow{"
	"background:#d1242f}.legend .secondary{background:#6e7781}\n"
	"svg{display:block;max-width:100%;height:auto}\n"
	"svg text{font:11px system-ui,sans-serif;fill:#57606a}\n"
	"svg .grid{stroke:#d0d7de;stroke-width:1}\n"
	"svg .minor{stroke:#eef1f4;stroke-width:1}\n"
	"svg .guide{stroke:#8c959f;stroke-dasharray:4 3}\n"
	"svg polyline{fill:none;stroke-width:2}\n"
	"svg polyline.primary{stroke:#0969da}svg polyline.shadow{"
	"stroke:#d1242f}svg polyline.secondary{stroke:#6e7781;"
	"stroke-dasharray:6 3}\n"
	"svg rect.primary{fill:#0969da}svg rect.shadow{fill:#d1242f}"
	"svg rect.secondary{fill:#6e7781}\n"
	".sample{margin:2px 0}.empty{color:#57606a}\n"
	".cols{display:flex;flex-wrap:wrap;gap:0 2em;align-items:flex-start}"
	"\n";

struct report {
	FILE *out;
	const char *route;	/* data-route of the figures; NULL: the top */
};

/* A column of a table of figures: member key of the row's object, or of
 * its member sub when not NULL. */
struct column {
	const char *head;
	const char *sub;
	const char *key;
};

static const struct column latency_columns[] = {
	{ "p50", NULL, "p50_ms" },   { "p90", NULL, "p90_ms" },
	{ "p99", NULL, "p99_ms" },   { "max", NULL, "max_ms" },
};

static const struct column answer_columns[] = {
	{ "answered", NULL, "answered" },
	{ "1xx", "codes", "1xx" },
	{ "2xx", "codes", "2xx" },
	{ "3xx", "codes", "3xx" },
	{ "4xx", "codes", "4xx" },
	{ "5xx", "codes", "5xx" },
	{ "timeouts", NULL, "timeouts" },
	{ "refused", NULL, "refused" },
	{ "resets", NULL, "resets" },
	{ "errors", NULL, "errors" },
	{ "error rate (%)", NULL, "error_rate" },
	{ "5xx rate (%)", NULL, "rate_5xx" },
	{ "4xx rate (%)", NULL, "rate_4xx" },
};

static const struct column route_rows[] = {
	{ "exchanges", NULL, "exchanges" },
	{ "records", NULL, "records" },
	{ "skipped", NULL, "skipped" },
	{ "compared (both answered)", NULL, "compared" },
	{ "mismatches", NULL, "mismatches" },
	{ "mismatch rate (%)", NULL, "mismatch_rate" },
	{ "p99 ratio (shadow / primary)", NULL, "p99_ratio" },
	{ "p99 drift (ms)", NULL, "p99_drift_ms" },
	{ "p50 drift (ms)", NULL, "p50_drift_ms" },
	{ "error rate delta (points)", NULL, "error_rate_delta" },
	{ "differences not kept", NULL, "differences_dropped" },
};

static const struct column threshold_rows[] = {
	{ "min exchanges", NULL, "min_exchanges" },
	{ "max p99 ratio", NULL, "max_p99_ratio" },
	{ "min p99 drift (ms)", NULL, "min_p99_drift_ms" },
	{ "max error rate delta (points)", NULL, "max_error_rate_delta" },
	{ "max mismatch rate (%)", NULL, "max_mismatch_rate" },
};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

/*
 * @p s as HTML text or attribute value. Control characters other than
 * tab and newlines are parse errors in HTML: shown as U+FFFD.
 */
static void
put_text(FILE *out, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '&')
			fputs("&amp;", out);
		else if (*p == '<')
			fputs("&lt;", out);
		else if (*p == '>')
			fputs("&gt;", out);
		else if (*p == '"')
			fputs("&quot;", out);
		else if (*p == '\'')
			fputs("&#39;", out);
		else if ((*p < 0x20 && *p != '\t' && *p != '\n' &&
			  *p != '\r') || *p == 0x7f)
			fputs("\xef\xbf\xbd", out);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls, U+0080..U+009F in UTF-8 */
			fputs("\xef\xbf\xbd", out);
			p++;
		} else
			putc(*p, out);
	}
}

static bool
ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

/* The text of figure @p v named @p key, by report.h's rule. */
static const char *
figure_text(const char *key, const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_number(v))
		return "n/a";
	if (ends_with(key, "_ms"))
		snprintf(buf, len, "%.3f", json_number_value(v));
	else if (strstr(key, "rate") != NULL)
		snprintf(buf, len, "%.2f", json_number_value(v) * 100);
	else if (ends_with(key, "_ratio"))
		snprintf(buf, len, "%.2f", json_number_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	else
		snprintf(buf, len, "%g", json_real_value(v));
	return buf;
}

/*
 * <TAG class data-route data-figure="PREFIX.KEY">TEXT</TAG> for figure
 * @p v (NULL: n/a) named @p key. @p cls NULL: "num" for a number or a
 * figure missing, none for a text.
 */
static void
put_value(const struct report *r, const char *tag, const char *cls,
	  const char *prefix, const char *key, const json_t *v)
{
	char buf[FIGURE_MAX];

	if (cls == NULL && !json_is_string(v))
		cls = "num";
	fprintf(r->out, "<%s", tag);
	if (cls != NULL) {
		fputs(" class=\"", r->out);
		put_text(r->out, cls);
		putc('"', r->out);
	}
	if (r->route != NULL) {
		fputs(" data-route=\"", r->out);
		put_text(r->out, r->route);
		putc('"', r->out);
	}
	fputs(" data-figure=\"", r->out);
	if (prefix != NULL) {
		put_text(r->out, prefix);
		putc('.', r->out);
	}
	put_text(r->out, key);
	fputs("\">", r->out);
	put_text(r->out, figure_text(key, v, buf, sizeof(buf)));
	fprintf(r->out, "</%s>", tag);
}

/* put_value() of member @p key of @p obj (NULL: n/a). */
static void
put_figure(const struct report *r, const char *tag, const char *cls,
	   const char *prefix, const json_t *obj, const char *key)
{
	put_value(r, tag, cls, prefix, key, json_object_get(obj, key));
}

/* A verdict as a coloured badge: its class is the verdict itself. */
static void
put_verdict(const struct report *r, const json_t *obj, bool big)
{
	const char *verdict = json_string_value(json_object_get(obj,
								"verdict"));
	char cls[64];

	snprintf(cls, sizeof(cls), "badge%s %s", big ? " big" : "", verdict);
	put_figure(r, "span", cls, NULL, obj, "verdict");
}

/* A row per side of route @p obj, a column per figure of @p cols. */
static void
put_table(const struct report *r, const json_t *obj,
	  const struct column *cols, size_t nb_cols)
{
	const json_t *row;
	size_t s, c;

	fputs("<table><thead><tr><th></th>", r->out);
	for (c = 0; c < nb_cols; c++)
		fprintf(r->out, "<th>%s</th>", cols[c].head);
	fputs("</tr></thead><tbody>\n", r->out);
	for (s = 0; s < NB_SIDES; s++) {
		row = json_object_get(obj, sides[s]);
		if (row == NULL)
			continue;
		fprintf(r->out, "<tr><th>%s</th>", sides[s]);
		for (c = 0; c < nb_cols; c++) {
			char prefix[64];

			if (cols[c].sub == NULL) {
				put_figure(r, "td", NULL, sides[s], row,
					   cols[c].key);
				continue;
			}
			snprintf(prefix, sizeof(prefix), "%s.%s", sides[s],
				 cols[c].sub);
			put_figure(r, "td", NULL, prefix,
				   json_object_get(row, cols[c].sub),
				   cols[c].key);
		}
		fputs("</tr>\n", r->out);
	}
	fputs("</tbody></table>\n", r->out);
}

/* A row per figure of @p obj: label, value. */
static void
put_rows(const struct report *r, const char *prefix, const json_t *obj,
	 const struct column *rows, size_t nb_rows)
{
	size_t i;

	fputs("<table><tbody>\n", r->out);
	for (i = 0; i < nb_rows; i++) {
		fprintf(r->out, "<tr><th>%s</th>", rows[i].head);
		put_figure(r, "td", NULL, prefix, obj, rows[i].key);
		fputs("</tr>\n", r->out);
	}
	fputs("</tbody></table>\n", r->out);
}

/* The reasons' texts, one a line. */
static void
put_reasons(const struct report *r, const json_t *route)
{
	const json_t *reason;
	char prefix[32];
	size_t i;

	json_array_foreach(json_object_get(route, "reasons"), i, reason) {
		if (i > 0)
			fputs("<br>", r->out);
		snprintf(prefix, sizeof(prefix), "reasons.%zu", i);
		put_figure(r, "span", NULL, prefix, reason, "text");
	}
}

static void
put_summary(struct report *r, const json_t *routes)
{
	const json_t *route, *primary, *shadow;
	size_t i;

	fputs("<table class=\"summary\"><thead><tr>"
	      "<th rowspan=\"2\">route</th><th rowspan=\"2\">exchanges</th>"
	      "<th colspan=\"2\">primary (ms)</th>"
	      "<th colspan=\"2\">shadow (ms)</th>"
	      "<th colspan=\"2\">error rate (%)</th>"
	      "<th rowspan=\"2\">mismatch rate (%)</th>"
	      "<th rowspan=\"2\">verdict</th><th rowspan=\"2\">reasons</th>"
	      "</tr>\n<tr><th>p50</th><th>p99</th><th>p50</th><th>p99</th>"
	      "<th>primary</th><th>shadow</th></tr></thead><tbody>\n",
	      r->out);
	json_array_foreach(routes, i, route) {
		r->route = json_string_value(json_object_get(route, "name"));
		primary = json_object_get(route, "primary");
		shadow = json_object_get(route, "shadow");
		fprintf(r->out, "<tr><th><a href=\"#route-%zu\">", i);
		put_text(r->out, r->route);
		fputs("</a></th>", r->out);
		put_figure(r, "td", NULL, NULL, route, "exchanges");
		put_figure(r, "td", NULL, "primary", primary, "p50_ms");
		put_figure(r, "td", NULL, "primary", primary, "p99_ms");
		put_figure(r, "td", NULL, "shadow", shadow, "p50_ms");
		put_figure(r, "td", NULL, "shadow", shadow, "p99_ms");
		put_figure(r, "td", NULL, "primary", primary, "error_rate");
		put_figure(r, "td", NULL, "shadow", shadow, "error_rate");
		put_figure(r, "td", NULL, NULL, route, "mismatch_rate");
		fputs("<td>", r->out);
		put_verdict(r, route, false);
		fputs("</td><td>", r->out);
		put_reasons(r, route);
		fputs("</td></tr>\n", r->out);
	}
	r->route = NULL;
	fputs("</tbody></table>\n", r->out);
}

/* A side's non-empty buckets, smallest values first. */
struct curve {
	struct bucket {
		double lo_ms, hi_ms;
		uint64_t count;
	} *b;
	size_t nb, cap;
	uint64_t total;
	bool nomem;
};

static void
collect(void *arg, double lo_ms, double hi_ms, uint64_t count)
{
	struct curve *c = arg;
	struct bucket *b;

	if (c->nomem)
		return;
	if (c->nb == c->cap) {
		b = realloc(c->b, (c->cap * 2 + 64) * sizeof(*b));
		if (b == NULL) {
			c->nomem = true;
			return;
		}
		c->b = b;
		c->cap = c->cap * 2 + 64;
	}
	c->b[c->nb++] = (struct bucket){ lo_ms, hi_ms, count };
	c->total += count;
}

/* The buckets of @p side's histogram (none when it has none). */
static int
read_curve(const json_t *side, struct curve *c)
{
	const json_t *j = json_object_get(side, "histogram");
	struct st_hist *h;
	int rc;

	if (j == NULL || json_is_null(j))
		return 0;
	rc = st_hist_from_json(j, &h);
	if (rc != 0)
		return rc;
	st_hist_foreach(h, collect, c);
	st_hist_free(h);
	return c->nomem ? -ENOMEM : 0;
}

/* The log time axis: decades 10^lx0 .. 10^lx1 ms. */
struct axis {
	double lx0, lx1;
};

static double
x_of(const struct axis *a, double ms)
{
	if (ms < CDF_MIN_MS)
		ms = CDF_MIN_MS;
	return CDF_LEFT + (log10(ms) - a->lx0) / (a->lx1 - a->lx0) * CDF_PLOT_W;
}

static double
y_of(double fraction)
{
	return CDF_TOP + (1 - fraction) * CDF_PLOT_H;
}

static void
put_time_label(FILE *out, double x, double ms)
{
	fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x,
		CDF_H - CDF_BOTTOM + 16);
	if (ms < 1000)
		fprintf(out, "%g ms</text>", ms);
	else
		fprintf(out, "%g s</text>", ms / 1000);
}

/* Grid, ticks and labels: decades (minor lines at 2..9), quarters, and
 * the p50 and p99 lines the eye compares the curves on. */
static void
put_cdf_axes(FILE *out, const struct axis *a)
{
	static const struct {
		double fraction;
		const char *label;
	} guides[] = { { 0.5, "p50" }, { 0.99, "p99" } };
	int k, m, q;
	double x, y;
	size_t g;

	for (k = (int)a->lx0; k < (int)a->lx1; k++) {
		for (m = 2; m < 10; m++) {
			x = x_of(a, m * pow(10, k));
			fprintf(out, "<line class=\"minor\" x1=\"%.1f\" "
				"y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x,
				CDF_TOP, x, CDF_H - CDF_BOTTOM);
		}
	}
	for (k = (int)a->lx0; k <= (int)a->lx1; k++) {
		x = x_of(a, pow(10, k));
		fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" "
			"x2=\"%.1f\" y2=\"%d\"/>\n", x, CDF_TOP, x,
			CDF_H - CDF_BOTTOM);
		put_time_label(out, x, pow(10, k));
	}
	for (q = 0; q <= 4; q++) {
		y = y_of(q / 4.0);
		fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" "
			"x2=\"%d\" y2=\"%.1f\"/><text x=\"%d\" y=\"%.1f\" "
			"text-anchor=\"end\">%d%%</text>\n", CDF_LEFT, y,
			CDF_W - CDF_RIGHT, y, CDF_LEFT - 6, y + 4, q * 25);
	}
	for (g = 0; g < NB(guides); g++) {
		y = y_of(guides[g].fraction);
		fprintf(out, "<line class=\"guide\" x1=\"%d\" y1=\"%.1f\" "
			"x2=\"%d\" y2=\"%.1f\"/><text x=\"%d\" y=\"%.1f\">%s"
			"</text>\n", CDF_LEFT, y, CDF_W - CDF_RIGHT, y,
			CDF_W - CDF_RIGHT + 4, y + 4, guides[g].label);
	}
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time to "
		"first byte (log scale)</text>\n", CDF_LEFT + CDF_PLOT_W / 2,
		CDF_H - 8);
}

/*
 * A bucket's values spread evenly over it on the log axis: the share
 * rises from its start to its end. At 2% per bucket, that is as close
 * as the histogram knows.
 */
static void
put_cdf_line(FILE *out, const struct axis *a, const char *side,
	     const struct curve *c)
{
	double x, y, last_x = -1, last_y = -1;
	uint64_t below = 0;
	size_t i, end;

	fprintf(out, "<polyline class=\"%s\" data-side=\"%s\" points=\"%d,%.1f",
		side, side, CDF_LEFT, y_of(0));
	for (i = 0; i < c->nb; i++) {
		for (end = 0; end < 2; end++) {
			x = x_of(a, end ? c->b[i].hi_ms : c->b[i].lo_ms);
			if (end)
				below += c->b[i].count;
			y = y_of((double)below / c->total);
			if (x == last_x && y == last_y)
				continue;
			fprintf(out, " %.1f,%.1f", x, y);
			last_x = x;
			last_y = y;
		}
	}
	fprintf(out, " %d,%.1f\"><title>%s</title></polyline>\n",
		CDF_W - CDF_RIGHT, y_of(1), side);
}

static int
put_cdf(const struct report *r, const json_t *route)
{
	struct curve curves[NB_SIDES];
	double lo_ms = INFINITY, hi_ms = 0;
	bool timed = false;
	struct axis a;
	size_t s;
	int rc = 0;

	memset(curves, 0, sizeof(curves));
	for (s = 0; s < NB_SIDES && rc == 0; s++)
		rc = read_curve(json_object_get(route, sides[s]), &curves[s]);
	for (s = 0; s < NB_SIDES && rc == 0; s++) {
		if (curves[s].total == 0)
			continue;
		lo_ms = fmin(lo_ms, fmax(curves[s].b[0].lo_ms, CDF_MIN_MS));
		hi_ms = fmax(hi_ms, curves[s].b[curves[s].nb - 1].hi_ms);
		timed = true;
	}
	if (rc != 0)
		goto out;
	fputs("<h3>Latency: share of answers within a time</h3>\n", r->out);
	if (!timed) {
		fputs("<p class=\"empty\">No answer was timed.</p>\n", r->out);
		goto out;
	}
	a.lx0 = floor(log10(lo_ms));
	a.lx1 = fmax(ceil(log10(fmax(hi_ms, CDF_MIN_MS))), a.lx0 + 1);
	fprintf(r->out, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"class=\"cdf\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		"height=\"%d\" role=\"img\" aria-label=\"latency CDF\">\n",
		CDF_W, CDF_H, CDF_W, CDF_H);
	put_cdf_axes(r->out, &a);
	for (s = 0; s < NB_SIDES; s++) {
		if (curves[s].total > 0)
			put_cdf_line(r->out, &a, sides[s], &curves[s]);
	}
	fputs("</svg>\n<p class=\"legend\">", r->out);
	for (s = 0; s < NB_SIDES; s++) {
		if (curves[s].total > 0)
			fprintf(r->out, "<span class=\"%s\"></span>%s",
				sides[s], sides[s]);
	}
	fputs("</p>\n", r->out);
out:
	for (s = 0; s < NB_SIDES; s++)
		free(curves[s].b);
	return rc;
}

/* The smallest of 1, 2, 5 x 10^k at least @p v (a bar's full scale). */
static double
nice_ceiling(double v)
{
	double p = pow(10, floor(log10(v)));

	if (v <= p)
		return p;
	if (v <= 2 * p)
		return 2 * p;
	if (v <= 5 * p)
		return 5 * p;
	return 10 * p;
}

/* The share of @p route's exchanges @p side did not answer; NAN when
 * there was no exchange. */
static double
no_answer_rate(const json_t *route, const json_t *side)
{
	json_int_t exchanges = json_integer_value(json_object_get(route,
							       "exchanges"));
	json_int_t n = 0;
	size_t i;

	if (exchanges <= 0)
		return NAN;
	for (i = 0; i < NB(no_answers); i++)
		n += json_integer_value(json_object_get(side, no_answers[i]));
	return (double)n / exchanges;
}

/* 5xx, 4xx and no answer, a bar per side, on one scale (at least 1%, so
 * that a few errors do not fill the width). */
static void
put_error_bars(const struct report *r, const json_t *route)
{
	static const char *const groups[] = { "5xx", "4xx", "no answer" };
	double rate[NB(groups)][NB_SIDES], scale = 0.01, y = 18;
	const json_t *side, *v;
	size_t g, s, nb_sides = 0, height;

	for (s = 0; s < NB_SIDES; s++) {
		side = json_object_get(route, sides[s]);
		if (side != NULL)
			nb_sides++;
		v = json_object_get(side, "rate_5xx");
		rate[0][s] = json_is_number(v) ? json_number_value(v) : NAN;
		v = json_object_get(side, "rate_4xx");
		rate[1][s] = json_is_number(v) ? json_number_value(v) : NAN;
		rate[2][s] = side != NULL ? no_answer_rate(route, side) : NAN;
		for (g = 0; g < NB(groups); g++) {
			if (rate[g][s] > scale)
				scale = fmin(nice_ceiling(rate[g][s]), 1);
		}
	}
	height = 18 + NB(groups) * (nb_sides * (BAR_H + BAR_GAP) +
				    BAR_GROUP_GAP);
	fprintf(r->out, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"class=\"errors\" viewBox=\"0 0 %d %zu\" width=\"%d\" "
		"height=\"%zu\" role=\"img\" aria-label=\"error rates\">\n"
		"<text x=\"%d\" y=\"12\">0%%</text><text x=\"%d\" y=\"12\" "
		"text-anchor=\"end\">%g%%</text>\n", BAR_SVG_W, height,
		BAR_SVG_W, height, BAR_LABEL_W, BAR_LABEL_W + BAR_W,
		scale * 100);
	for (g = 0; g < NB(groups); g++) {
		fprintf(r->out, "<text x=\"0\" y=\"%.0f\">%s</text>\n",
			y + BAR_H - 2, groups[g]);
		for (s = 0; s < NB_SIDES; s++) {
			if (json_object_get(route, sides[s]) == NULL)
				continue;
			if (isnan(rate[g][s])) {
				fprintf(r->out, "<text x=\"%d\" y=\"%.0f\">"
					"%s: n/a</text>\n", BAR_LABEL_W,
					y + BAR_H - 2, sides[s]);
			} else {
				fprintf(r->out, "<rect class=\"%s\" x=\"%d\" "
					"y=\"%.0f\" width=\"%.1f\" "
					"height=\"%d\"><title>%s</title></rect>"
					"<text x=\"%.1f\" y=\"%.0f\">%.2f%%"
					"</text>\n", sides[s], BAR_LABEL_W, y,
					rate[g][s] / scale * BAR_W, BAR_H,
					sides[s],
					BAR_LABEL_W + rate[g][s] / scale *
					BAR_W + 4, y + BAR_H - 2,
					rate[g][s] * 100);
			}
			y += BAR_H + BAR_GAP;
		}
		y += BAR_GROUP_GAP;
	}
	fprintf(r->out, "<line class=\"grid\" x1=\"%d\" y1=\"16\" x2=\"%d\" "
		"y2=\"%.0f\"/></svg>\n", BAR_LABEL_W, BAR_LABEL_W, y);
}

/* A difference's samples: request target, both sides' masked values. */
static void
put_samples(const struct report *r, const char *prefix, const json_t *diff,
	    const char *other)
{
	const json_t *sample;
	char at[96];
	size_t i;

	json_array_foreach(json_object_get(diff, "samples"), i, sample) {
		snprintf(at, sizeof(at), "%s.samples.%zu", prefix, i);
		fputs("<div class=\"sample\">", r->out);
		put_figure(r, "code", NULL, at, sample, "target");
		fputs(" primary ", r->out);
		put_figure(r, "code", NULL, at, sample, "primary");
		fprintf(r->out, " %s ", other);
		put_figure(r, "code", NULL, at, sample, "other");
		fputs("</div>", r->out);
	}
}

/* The route's @p member ("differences" or "noise"), top counts first. */
static void
put_paths(const struct report *r, const json_t *route, const char *member)
{
	const json_t *paths = json_object_get(route, member), *diff;
	bool noise = strcmp(member, "noise") == 0;
	char prefix[64];
	size_t i;

	if (noise)
		fputs("<h3>Noise (the secondary differs too, or a rule): "
		      "not counted</h3>\n", r->out);
	else
		fputs("<h3>Top differing paths</h3>\n", r->out);
	if (json_array_size(paths) == 0) {
		fputs("<p class=\"empty\">None.</p>\n", r->out);
		return;
	}
	fprintf(r->out, "<table><thead><tr><th>kind</th><th>path</th>"
		"<th>count</th>%s<th>rate (%%)</th><th>samples: target, "
		"primary, %s</th></tr></thead><tbody>\n",
		noise ? "<th>shadow count</th>" : "",
		noise ? "other" : "shadow");
	json_array_foreach(paths, i, diff) {
		if (i == TOP_PATHS)
			break;
		snprintf(prefix, sizeof(prefix), "%s.%zu", member, i);
		fputs("<tr>", r->out);
		put_figure(r, "td", NULL, prefix, diff, "kind");
		fputs("<td>", r->out);
		put_figure(r, "code", NULL, prefix, diff, "path");
		fputs("</td>", r->out);
		put_figure(r, "td", NULL, prefix, diff, "count");
		if (noise)
			put_figure(r, "td", NULL, prefix, diff,
				   "shadow_count");
		put_figure(r, "td", NULL, prefix, diff, "rate");
		fputs("<td>", r->out);
		put_samples(r, prefix, diff, noise ? "other" : "shadow");
		fputs("</td></tr>\n", r->out);
	}
	fputs("</tbody></table>\n", r->out);
	if (json_array_size(paths) > TOP_PATHS)
		fprintf(r->out, "<p class=\"empty\">%zu more not shown.</p>\n",
			json_array_size(paths) - TOP_PATHS);
}

static int
put_route(struct report *r, const json_t *route, size_t idx)
{
	int rc;

	r->route = json_string_value(json_object_get(route, "name"));
	fprintf(r->out, "<section id=\"route-%zu\">\n<h2>", idx);
	put_text(r->out, r->route);
	fputs(" ", r->out);
	put_verdict(r, route, false);
	fputs("</h2>\n<p>", r->out);
	put_reasons(r, route);
	fputs("</p>\n<div class=\"cols\"><div>", r->out);
	put_rows(r, NULL, route, route_rows, NB(route_rows));
	fputs("</div><div>\n<h3>Latency (ms)</h3>\n", r->out);
	put_table(r, route, latency_columns, NB(latency_columns));
	rc = put_cdf(r, route);
	if (rc != 0)
		return rc;
	fputs("</div></div>\n", r->out);
	fputs("<h3>Answers and errors</h3>\n", r->out);
	put_table(r, route, answer_columns, NB(answer_columns));
	put_error_bars(r, route);
	put_paths(r, route, "differences");
	put_paths(r, route, "noise");
	fputs("</section>\n", r->out);
	r->route = NULL;
	return 0;
}

static void
put_header(struct report *r, const json_t *doc, const char *title)
{
	const json_t *routes = json_object_get(doc, "routes"), *name;
	const json_t *failed = json_object_get(doc, "failed");
	size_t i, nb_routes = json_array_size(routes);
	char index[24];

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8"
	      "\">\n<meta name=\"viewport\" content=\"width=device-width\">\n"
	      "<title>", r->out);
	put_text(r->out, title);
	/* An empty icon: the browser asks for none over the network. */
	fprintf(r->out, "</title>\n<link rel=\"icon\" href=\"data:,\">\n"
		"<style>\n%s</style>\n</head><body>\n<h1>", style);
	put_text(r->out, title);
	fputs("</h1>\n<p>", r->out);
	put_verdict(r, doc, true);
	fputs("</p>\n<p>", r->out);
	put_figure(r, "span", NULL, NULL, doc, "exchanges");
	fprintf(r->out, " exchanges judged over %zu route%s%s.", nb_routes,
		nb_routes == 1 ? "" : "s",
		json_is_true(json_object_get(doc, "secondary")) ?
			", noise learned from a secondary" : "");
	if (json_array_size(failed) > 0) {
		fputs(" Failing: ", r->out);
		json_array_foreach(failed, i, name) {
			if (i > 0)
				fputs(", ", r->out);
			snprintf(index, sizeof(index), "%zu", i);
			put_value(r, "span", NULL, "failed", index, name);
		}
		putc('.', r->out);
	}
	fputs("</p>\n<h2>Summary</h2>\n", r->out);
	put_summary(r, routes);
	fputs("<h3>Thresholds</h3>\n", r->out);
	put_rows(r, "thresholds", json_object_get(doc, "thresholds"),
		 threshold_rows, NB(threshold_rows));
}

/* A SIDE: an object, whose histogram, when it has one, hist.h reads. */
static int
check_side(const json_t *side)
{
	const json_t *j = json_object_get(side, "histogram");
	struct st_hist *h = NULL;
	int rc;

	if (!json_is_object(side))
		return -EINVAL;
	if (j == NULL || json_is_null(j))
		return 0;
	rc = st_hist_from_json(j, &h);
	st_hist_free(h);
	return rc;
}

/* Differences or noise: absent, or DIFFs with their kind and path. */
static bool
paths_ok(const json_t *paths)
{
	const json_t *diff, *samples, *sample;
	size_t i, j;

	if (paths == NULL)
		return true;
	if (!json_is_array(paths))
		return false;
	json_array_foreach(paths, i, diff) {
		samples = json_object_get(diff, "samples");
		if (!json_is_string(json_object_get(diff, "kind")) ||
		    !json_is_string(json_object_get(diff, "path")) ||
		    (samples != NULL && !json_is_array(samples)))
			return false;
		json_array_foreach(samples, j, sample) {
			if (!json_is_object(sample))
				return false;
		}
	}
	return true;
}

static int
check_route(const json_t *route)
{
	const json_t *reasons = json_object_get(route, "reasons"), *reason;
	const json_t *secondary = json_object_get(route, "secondary");
	size_t i;
	int rc;

	if (!json_is_string(json_object_get(route, "name")) ||
	    !json_is_string(json_object_get(route, "verdict")) ||
	    !json_is_array(reasons) ||
	    !paths_ok(json_object_get(route, "differences")) ||
	    !paths_ok(json_object_get(route, "noise")))
		return -EINVAL;
	json_array_foreach(reasons, i, reason) {
		if (!json_is_object(reason))
			return -EINVAL;
	}
	rc = check_side(json_object_get(route, "primary"));
	if (rc == 0)
		rc = check_side(json_object_get(route, "shadow"));
	if (rc == 0 && secondary != NULL)
		rc = check_side(secondary);
	return rc;
}

/* The whole document, before a byte is written. */
static int
check_doc(const json_t *doc)
{
	const json_t *routes = json_object_get(doc, "routes"), *route;
	size_t i;
	int rc;

	if (!json_is_string(json_object_get(doc, "verdict")) ||
	    !json_is_array(routes))
		return -EINVAL;
	json_array_foreach(routes, i, route) {
		rc = check_route(route);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
st_report_write(const json_t *doc, const char *title, FILE *out)
{
	struct report r = { out, NULL };
	const json_t *route;
	size_t i;
	int rc = check_doc(doc);

	if (rc != 0)
		return rc;
	put_header(&r, doc, title);
	json_array_foreach(json_object_get(doc, "routes"), i, route) {
		rc = put_route(&r, route, i);
		if (rc != 0)
			return rc;
	}
	fputs("<footer><p class=\"empty\">The figures of <code>shadowtapctl "
	      "compare --json</code>; samples are masked.</p></footer>\n"
	      "</body></html>\n", out);
	/* stdio keeps a failed write in the stream's error flag: one look
	 * at the end covers every write. */
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
