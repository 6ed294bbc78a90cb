/* SPDX-License-Identifier: BSD-3-Clause */
#include "rctl.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "metricsd.h"

#define PREFIX "shadowtap_replay_"
/* The port an address error gives as example: next to the appliance's
 * 9417, so that both can run on one host. */
#define EXAMPLE_PORT 9418

struct st_rmetrics {
	struct st_metricsd *http;
	pthread_mutex_t lock;	/* guards text */
	char *text;
	size_t len;
};

/* --- rendering ----------------------------------------------------------- */

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name,
		help, name, type);
}

/* A label value as the text format wants it: \, " and newline escaped. */
static void
label_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* One sample of member @p key of @p obj ("a.b": b of a), if a number. */
static void
sample(FILE *f, const char *name, const char *labels, const json_t *obj,
       const char *key)
{
	char first[64];
	const char *dot = strchr(key, '.');
	const json_t *v;

	if (dot != NULL && (size_t)(dot - key) < sizeof(first)) {
		memcpy(first, key, (size_t)(dot - key));
		first[dot - key] = '\0';
		v = json_object_get(json_object_get(obj, first), dot + 1);
	} else {
		v = json_object_get(obj, key);
	}
	if (!json_is_integer(v))
		return;
	fprintf(f, PREFIX "%s%s %" JSON_INTEGER_FORMAT "\n", name, labels,
		json_integer_value(v));
}

/* A family with one sample per integer member of @p obj, labelled
 * @p label="member name". */
static void
by_member(FILE *f, const char *name, const char *help, const char *label,
	  const json_t *obj)
{
	const char *key;
	json_t *v;

	family(f, name, "counter", help);
	json_object_foreach((json_t *)obj, key, v) {
		if (!json_is_integer(v))
			continue;
		fprintf(f, PREFIX "%s{%s=\"", name, label);
		label_value(f, key);
		fprintf(f, "\"} %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(v));
	}
}

/* Records of one route (or of none, route=""), by outcome. */
static void
route_records(FILE *f, const char *route, const json_t *counters)
{
	const char *outcome;
	json_t *v;

	json_object_foreach(json_object_get(counters, "outcomes"), outcome,
			    v) {
		fputs(PREFIX "records_total{route=\"", f);
		label_value(f, route);
		fprintf(f, "\",outcome=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			outcome, json_integer_value(v));
	}
}

/* Bounds of the latency histograms' buckets, in seconds: Istio's range,
 * so dashboards written for it read these too. */
static const double latency_le_s[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
				       0.025,  0.05,  0.1,    0.25,  0.5,
				       1,      2.5,   5,      10,    30 };

/* {route="R",version="V" and what @p more adds ("" or ",k=\"v\"") */
static void
labels(FILE *f, const char *route, const char *version, const char *more)
{
	fputs("{route=\"", f);
	label_value(f, route);
	fprintf(f, "\",version=\"%s\"%s}", version, more);
}

static void
side_requests(FILE *f, const char *route, const char *version,
	      const json_t *side)
{
	static const char *const failures[] = { "timeouts", "refused",
						"resets", "errors" };
	json_int_t none = 0;
	const char *code_class;
	json_t *v;
	size_t i;

	json_object_foreach(json_object_get(side, "codes"), code_class, v) {
		char more[32];

		snprintf(more, sizeof(more), ",code_class=\"%s\"",
			 code_class);
		fputs(PREFIX "requests_total", f);
		labels(f, route, version, more);
		fprintf(f, " %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(v));
	}
	for (i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
		none += json_integer_value(json_object_get(side, failures[i]));
	fputs(PREFIX "requests_total", f);
	labels(f, route, version, ",code_class=\"none\"");
	fprintf(f, " %" JSON_INTEGER_FORMAT "\n", none);
}

static void
side_latency(FILE *f, const char *route, const char *version,
	     const json_t *side)
{
	struct st_hist *h;
	size_t i;

	if (st_hist_from_json(json_object_get(side, "histogram"), &h) != 0)
		return;
	for (i = 0; i < sizeof(latency_le_s) / sizeof(latency_le_s[0]); i++) {
		char more[32];

		snprintf(more, sizeof(more), ",le=\"%g\"", latency_le_s[i]);
		fputs(PREFIX "latency_seconds_bucket", f);
		labels(f, route, version, more);
		fprintf(f, " %" PRIu64 "\n",
			st_hist_count_le(h, latency_le_s[i] * 1000));
	}
	fputs(PREFIX "latency_seconds_bucket", f);
	labels(f, route, version, ",le=\"+Inf\"");
	fprintf(f, " %" PRIu64 "\n" PREFIX "latency_seconds_sum", st_hist_count(h));
	labels(f, route, version, "");
	fprintf(f, " %.9g\n" PREFIX "latency_seconds_count",
		st_hist_sum(h) / 1000);
	labels(f, route, version, "");
	fprintf(f, " %" PRIu64 "\n", st_hist_count(h));
	st_hist_free(h);
}

/* Differences (or noise) of a route, summed by kind. */
static void
route_differences(FILE *f, const char *name, const char *route,
		  const json_t *list)
{
	json_t *by_kind = json_object(), *d, *v;
	const char *kind;
	size_t i;

	json_array_foreach(list, i, d) {
		kind = json_string_value(json_object_get(d, "kind"));
		if (kind == NULL)
			continue;
		v = json_object_get(by_kind, kind);
		json_object_set_new(
			by_kind, kind,
			json_integer(json_integer_value(v) +
				     json_integer_value(
					     json_object_get(d, "count"))));
	}
	json_object_foreach(by_kind, kind, v) {
		fprintf(f, PREFIX "%s{route=\"", name);
		label_value(f, route);
		fprintf(f, "\",kind=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			kind, json_integer_value(v));
	}
	json_decref(by_kind);
}

static void
route_counter(FILE *f, const char *name, const char *route,
	      const json_t *r, const char *key)
{
	fprintf(f, PREFIX "%s{route=\"", name);
	label_value(f, route);
	fprintf(f, "\"} %" JSON_INTEGER_FORMAT "\n",
		json_integer_value(json_object_get(r, key)));
}

typedef void (*side_fn)(FILE *f, const char *route, const char *version,
			const json_t *side);

/* @p fn for every side of every route that has it. */
static void
each_side(FILE *f, const json_t *routes, side_fn fn)
{
	static const char *const versions[] = { "primary", "shadow",
						"secondary" };
	const json_t *r;
	size_t i, v;

	json_array_foreach(routes, i, r)
		for (v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
			if (json_object_get(r, versions[v]) != NULL)
				fn(f, json_string_value(json_object_get(r,
									"name")),
				   versions[v], json_object_get(r, versions[v]));
}

/*
 * The comparison: counters and histograms only, never a quantile or a
 * rate, so that replays across a fleet add up exactly in Prometheus
 * (histogram_quantile(0.99, sum by (le, version) (rate(..._bucket[5m])))).
 */
static void
render_compare(FILE *f, const json_t *compare)
{
	/* A counter of each route, and differences of each route by kind. */
	static const struct {
		const char *name, *key, *help;
	} counters[] = {
		{ "compared_total", "compared",
		  "Exchanges both the primary and the shadow answered" },
		{ "mismatches_total", "mismatches",
		  "Compared exchanges with a difference that is not noise" },
	}, by_kind[] = {
		{ "differences_total", "differences",
		  "Differences between the primary's and the shadow's "
		  "answers, by route and kind" },
		{ "noise_total", "noise",
		  "Differences between the primary's and the secondary's "
		  "answers (noise), by route and kind" },
	};
	const json_t *routes = json_object_get(compare, "routes");
	const json_t *r;
	size_t i, k;

	family(f, "requests_total", "counter",
	       "Judged exchanges' answers, by route, version and status "
	       "class (none: no answer)");
	each_side(f, routes, side_requests);
	family(f, "latency_seconds", "histogram",
	       "Time to first byte, by route and version: the primary's on "
	       "the wire, the others' replayed");
	each_side(f, routes, side_latency);
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(f, counters[k].name, "counter", counters[k].help);
		json_array_foreach(routes, i, r)
			route_counter(f, counters[k].name,
				      json_string_value(json_object_get(r,
									"name")),
				      r, counters[k].key);
	}
	for (k = 0; k < sizeof(by_kind) / sizeof(by_kind[0]); k++) {
		family(f, by_kind[k].name, "counter", by_kind[k].help);
		json_array_foreach(routes, i, r)
			route_differences(
				f, by_kind[k].name,
				json_string_value(json_object_get(r, "name")),
				json_object_get(r, by_kind[k].key));
	}
}

static void
render(FILE *f, const json_t *doc)
{
	const json_t *capture = json_object_get(doc, "capture");
	const json_t *reasm = json_object_get(doc, "reasm");
	const json_t *shadow = json_object_get(doc, "shadow");
	const char *name;
	json_t *route;

	family(f, "packets_total", "counter", "Frames captured");
	sample(f, "packets_total", "", capture, "packets");
	by_member(f, "decap_packets_total",
		  "Frames by decapsulation result", "result",
		  json_object_get(doc, "decap"));
	family(f, "dropped_packets_total", "counter",
	       "Frames lost before the replay saw them, by cause");
	sample(f, "dropped_packets_total", "{cause=\"kernel\"}", capture,
	       "kernel_dropped");
	sample(f, "dropped_packets_total", "{cause=\"interface\"}", capture,
	       "interface_dropped");
	family(f, "streams_total", "counter", "TCP connections reassembled");
	sample(f, "streams_total", "", reasm, "connections");
	family(f, "streams_active", "gauge", "TCP connections tracked now");
	sample(f, "streams_active", "", reasm, "connections_active");
	by_member(f, "streams_ended_total", "TCP connections ended, by why",
		  "why", json_object_get(reasm, "ended"));
	family(f, "dropped_bytes_total", "counter",
	       "Stream bytes lost in reassembly, by cause");
	sample(f, "dropped_bytes_total", "{cause=\"gap\"}", reasm,
	       "gap_bytes");
	sample(f, "dropped_bytes_total", "{cause=\"stream_bound\"}", reasm,
	       "dropped.stream_bound");
	sample(f, "dropped_bytes_total", "{cause=\"total_bound\"}", reasm,
	       "dropped.total_bound");
	by_member(f, "exchanges_total",
		  "HTTP exchanges, by how the primary's side ended", "end",
		  json_object_get(json_object_get(doc, "exchanges"), "ended"));
	if (json_is_object(shadow)) {
		by_member(f, "shadow_requests_total",
			  "Requests the shadow finished, by outcome",
			  "outcome", json_object_get(shadow, "outcomes"));
		family(f, "shadow_in_flight", "gauge",
		       "Requests taken by the shadow client, not done");
		sample(f, "shadow_in_flight", "", shadow, "in_flight");
	}
	family(f, "records_total", "counter",
	       "Requests replayed or not, by route and outcome");
	json_object_foreach(json_object_get(doc, "routes"), name, route)
		route_records(f, name, route);
	route_records(f, "", json_object_get(doc, "unrouted"));
	if (json_is_object(json_object_get(doc, "compare")))
		render_compare(f, json_object_get(doc, "compare"));
}

int
st_rmetrics_publish(struct st_rmetrics *m, const json_t *stats)
{
	char *text = NULL, *old;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return -ENOMEM;
	render(f, stats);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	old = m->text;
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	free(old);
	return 0;
}

/* --- the HTTP server ----------------------------------------------------- */

/* A copy: the main loop may publish a new text during the send. */
static char *
published_text(void *arg, size_t *len)
{
	struct st_rmetrics *m = arg;
	char *copy;

	pthread_mutex_lock(&m->lock);
	*len = m->len;
	copy = malloc(m->len + 1);
	if (copy != NULL && m->len > 0)
		memcpy(copy, m->text, m->len);
	pthread_mutex_unlock(&m->lock);
	return copy;
}

int
st_rmetrics_start(const char *addr, struct st_rmetrics **out, char *err,
		  size_t errlen)
{
	struct st_rmetrics *m = calloc(1, sizeof(*m));
	const struct st_metricsd_conf conf = {
		.addr = addr,
		.example_port = EXAMPLE_PORT,
		.text = published_text,
		.arg = m,
	};
	int rc;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	rc = st_metricsd_start(&conf, &m->http, err, errlen);
	if (rc != 0) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void
st_rmetrics_stop(struct st_rmetrics *m)
{
	if (m == NULL)
		return;
	st_metricsd_stop(m->http);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}
