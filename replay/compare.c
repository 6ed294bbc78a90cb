/* SPDX-License-Identifier: BSD-3-Clause */
#include "compare.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "hist.h"
#include "judge.h"

/* Records of requests that matched no route are counted here. */
#define UNROUTED ST_MAX_ROUTES
#define UNROUTED_NAME "unrouted"
/* (kind, path) pairs the secondary differed at, remembered per exchange;
 * past this many, the route's noise table decides for the rest. */
#define EXCHANGE_NOISE_MAX 64

enum side { PRIMARY, SHADOW, SECONDARY, SIDES };

static const char *const side_names[SIDES] = { "primary", "shadow",
					       "secondary" };

/* An answer that did not come: ST_RECORD_TIMEOUT..ST_RECORD_ERROR. */
#define FAILURES (ST_RECORD_ERROR - ST_RECORD_TIMEOUT + 1)
static const char *const failure_names[FAILURES] = { "timeouts", "refused",
						     "resets", "errors" };

struct side_counts {
	uint64_t answered;
	uint64_t codes[5];		/* 1xx .. 5xx */
	uint64_t failures[FAILURES];
	struct st_hist *hist;		/* NULL until the first time */
};

struct sample {
	uint64_t id;
	char target[ST_DIFF_SAMPLE_MAX];
	char primary[ST_DIFF_SAMPLE_MAX];
	char other[ST_DIFF_SAMPLE_MAX];
};

struct diff_entry {
	enum st_diff_kind kind;
	char *path;
	uint64_t count;
	unsigned int nb_samples;
	struct sample *samples;		/* max_samples of them */
};

/* Differences by (kind, path), in the order they were first seen. */
struct diff_table {
	struct diff_entry *entries;
	unsigned int nb;
	unsigned int cap;
};

struct route_stats {
	uint64_t records;
	uint64_t exchanges;
	uint64_t skipped;
	uint64_t compared;
	uint64_t mismatches;
	uint64_t dropped;		/* differences not kept */
	struct side_counts side[SIDES];
	struct diff_table diffs;	/* shadow against primary */
	struct diff_table noise;	/* secondary against primary */
};

struct noise_key {
	enum st_diff_kind kind;
	char path[ST_DIFF_SAMPLE_MAX];
};

struct st_compare {
	struct st_differ *differ;
	struct st_replay_gate_conf gate;
	uint32_t max_samples;
	uint32_t max_differences;
	bool secondary;
	unsigned int nb_routes;
	char names[ST_MAX_ROUTES][ST_NAME_MAX];
	struct route_stats routes[ST_MAX_ROUTES + 1];
	/* The exchange being counted: what its secondary differed at. */
	const struct st_record *record;
	struct route_stats *route;
	struct diff_table *table;	/* the one being counted into */
	unsigned int nb_exchange_noise;
	struct noise_key exchange_noise[EXCHANGE_NOISE_MAX];
	bool mismatch;
};

/* --- tables -------------------------------------------------------------- */

static struct diff_entry *
table_find(const struct diff_table *t, enum st_diff_kind kind,
	   const char *path)
{
	unsigned int i;

	for (i = 0; i < t->nb; i++)
		if (t->entries[i].kind == kind &&
		    strcmp(t->entries[i].path, path) == 0)
			return &t->entries[i];
	return NULL;
}

/* The entry of (kind, path), made if there is room. @return NULL when the
 * table is full or memory ran out. */
static struct diff_entry *
table_get(struct st_compare *c, struct diff_table *t, enum st_diff_kind kind,
	  const char *path)
{
	struct diff_entry *e = table_find(t, kind, path);

	if (e != NULL)
		return e;
	if (t->nb == c->max_differences)
		return NULL;
	if (t->nb == t->cap) {
		unsigned int cap = t->cap ? 2 * t->cap : 8;
		struct diff_entry *grown =
			realloc(t->entries, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		t->entries = grown;
		t->cap = cap;
	}
	e = &t->entries[t->nb];
	*e = (struct diff_entry){ .kind = kind, .path = strdup(path) };
	if (c->max_samples > 0)
		e->samples = calloc(c->max_samples, sizeof(*e->samples));
	if (e->path == NULL || (c->max_samples > 0 && e->samples == NULL)) {
		free(e->path);
		free(e->samples);
		return NULL;
	}
	t->nb++;
	return e;
}

static void
table_free(struct diff_table *t)
{
	unsigned int i;

	for (i = 0; i < t->nb; i++) {
		free(t->entries[i].path);
		free(t->entries[i].samples);
	}
	free(t->entries);
	*t = (struct diff_table){ 0 };
}

/* Count a difference in @p t, with a sample while there is room. */
static void
table_count(struct st_compare *c, struct diff_table *t,
	    const struct st_diff *d)
{
	struct diff_entry *e = table_get(c, t, d->kind, d->path);
	struct sample *s;

	if (e == NULL) {
		c->route->dropped++;
		return;
	}
	e->count++;
	if (e->nb_samples == c->max_samples || d->primary == NULL)
		return;
	s = &e->samples[e->nb_samples++];
	s->id = c->record->id;
	snprintf(s->target, sizeof(s->target), "%s", c->record->target);
	snprintf(s->primary, sizeof(s->primary), "%s", d->primary);
	snprintf(s->other, sizeof(s->other), "%s", d->other);
}

/* --- one record ---------------------------------------------------------- */

/* Samples are made only while the difference's entry has room for one:
 * masking them is most of what a difference costs. */
static bool
wants_samples(void *arg, enum st_diff_kind kind, const char *path)
{
	const struct st_compare *c = arg;
	const struct diff_entry *e = table_find(c->table, kind, path);

	if (e != NULL)
		return e->nb_samples < c->max_samples;
	return c->max_samples > 0 && c->table->nb < c->max_differences;
}

static bool
in_exchange_noise(const struct st_compare *c, const struct st_diff *d)
{
	unsigned int i;

	for (i = 0; i < c->nb_exchange_noise; i++)
		if (c->exchange_noise[i].kind == d->kind &&
		    strcmp(c->exchange_noise[i].path, d->path) == 0)
			return true;
	return false;
}

static void
on_secondary_diff(void *arg, const struct st_diff *d)
{
	struct st_compare *c = arg;

	table_count(c, &c->route->noise, d);
	if (c->nb_exchange_noise < EXCHANGE_NOISE_MAX) {
		struct noise_key *k =
			&c->exchange_noise[c->nb_exchange_noise++];

		k->kind = d->kind;
		snprintf(k->path, sizeof(k->path), "%s", d->path);
	}
}

static void
on_shadow_diff(void *arg, const struct st_diff *d)
{
	struct st_compare *c = arg;
	bool noise;

	table_count(c, &c->route->diffs, d);
	/* The secondary answered this exchange: it alone says what is
	 * noise here. Otherwise what it ever differed at. */
	if (c->record->has_secondary &&
	    c->record->secondary_outcome == ST_RECORD_REPLAYED)
		noise = in_exchange_noise(c, d) ||
			(c->nb_exchange_noise == EXCHANGE_NOISE_MAX &&
			 table_find(&c->route->noise, d->kind, d->path));
	else
		noise = table_find(&c->route->noise, d->kind, d->path) !=
			NULL;
	c->mismatch |= !noise;
}

static bool
judged(const struct st_record *r)
{
	return r->primary_end == ST_EXCHANGE_ANSWERED &&
	       r->primary.status != 0 && r->outcome >= ST_RECORD_REPLAYED &&
	       r->outcome <= ST_RECORD_ERROR;
}

static void
count_side(struct side_counts *s, enum st_record_outcome outcome,
	   const struct st_record_message *m)
{
	if (outcome != ST_RECORD_REPLAYED) {
		if (outcome >= ST_RECORD_TIMEOUT && outcome <= ST_RECORD_ERROR)
			s->failures[outcome - ST_RECORD_TIMEOUT]++;
		return;
	}
	s->answered++;
	if (m->status >= 100 && m->status <= 599)
		s->codes[m->status / 100 - 1]++;
	if (m->ttfb_ms < 0)
		return;
	if (s->hist == NULL)
		s->hist = st_hist_create();
	if (s->hist != NULL)
		st_hist_add(s->hist, m->ttfb_ms);
}

void
st_compare_record(void *arg, const struct st_record *r)
{
	struct st_compare *c = arg;
	struct route_stats *rs =
		&c->routes[r->route >= 0 && (unsigned int)r->route <
						    c->nb_routes ?
				   (unsigned int)r->route :
				   UNROUTED];

	rs->records++;
	if (!judged(r)) {
		rs->skipped++;
		return;
	}
	rs->exchanges++;
	count_side(&rs->side[PRIMARY], ST_RECORD_REPLAYED, &r->primary);
	count_side(&rs->side[SHADOW], r->outcome, &r->shadow);
	if (c->secondary && r->has_secondary)
		count_side(&rs->side[SECONDARY], r->secondary_outcome,
			   &r->secondary);
	if (r->outcome != ST_RECORD_REPLAYED)
		return;
	rs->compared++;
	c->record = r;
	c->route = rs;
	c->nb_exchange_noise = 0;
	c->mismatch = false;
	c->table = &rs->noise;
	if (r->has_secondary && r->secondary_outcome == ST_RECORD_REPLAYED &&
	    st_diff_answers(c->differ, r->route, &r->primary, &r->secondary,
			    wants_samples, on_secondary_diff, c) < 0)
		rs->dropped++;
	c->table = &rs->diffs;
	if (st_diff_answers(c->differ, r->route, &r->primary, &r->shadow,
			    wants_samples, on_shadow_diff, c) < 0)
		rs->dropped++;
	rs->mismatches += c->mismatch;
}

/* --- the document -------------------------------------------------------- */

static json_t *
side_json(const struct side_counts *s, bool primary)
{
	static const char *const classes[5] = { "1xx", "2xx", "3xx", "4xx",
						"5xx" };
	json_t *codes = json_object(), *o;
	struct st_hist *empty = NULL;
	unsigned int i;

	for (i = 0; i < 5; i++)
		json_object_set_new(codes, classes[i],
				    json_integer((json_int_t)s->codes[i]));
	if (s->hist == NULL && (empty = st_hist_create()) == NULL) {
		json_decref(codes);
		return NULL;
	}
	o = json_pack("{s:I, s:o, s:o*}", "answered",
		      (json_int_t)s->answered, "codes", codes, "histogram",
		      st_hist_json(s->hist != NULL ? s->hist : empty));
	st_hist_free(empty);
	for (i = 0; o != NULL && i < FAILURES; i++)
		json_object_set_new(o, failure_names[i],
				    json_integer(primary ? 0 :
						 (json_int_t)s->failures[i]));
	return o;
}

static json_t *
table_json(const struct diff_table *t)
{
	json_t *list = json_array();
	unsigned int i, j;

	for (i = 0; list != NULL && i < t->nb; i++) {
		const struct diff_entry *e = &t->entries[i];
		json_t *samples = json_array();

		for (j = 0; samples != NULL && j < e->nb_samples; j++)
			json_array_append_new(
				samples,
				json_pack("{s:I, s:s, s:s, s:s}", "id",
					  (json_int_t)e->samples[j].id,
					  "target", e->samples[j].target,
					  "primary", e->samples[j].primary,
					  "other", e->samples[j].other));
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:I, s:o*}", "kind",
					st_diff_kind_name(e->kind), "path",
					e->path, "count", (json_int_t)e->count,
					"samples", samples));
	}
	return list;
}

static json_t *
route_json(const struct st_compare *c, const struct route_stats *rs,
	   const char *name)
{
	json_t *o = json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o*, s:o*, s:o*, s:o*}",
		"name", name, "records", (json_int_t)rs->records, "exchanges",
		(json_int_t)rs->exchanges, "skipped", (json_int_t)rs->skipped,
		"compared", (json_int_t)rs->compared, "mismatches",
		(json_int_t)rs->mismatches, "differences_dropped",
		(json_int_t)rs->dropped, "primary",
		side_json(&rs->side[PRIMARY], true), "shadow",
		side_json(&rs->side[SHADOW], false), "differences",
		table_json(&rs->diffs), "noise", table_json(&rs->noise));

	if (o != NULL && c->secondary &&
	    json_object_set_new(o, side_names[SECONDARY],
				side_json(&rs->side[SECONDARY], false)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
st_compare_json(const struct st_compare *c)
{
	const struct st_replay_gate_conf *g = &c->gate;
	json_t *routes = json_array(), *doc;
	char err[256];
	unsigned int i;

	for (i = 0; routes != NULL && i <= c->nb_routes; i++) {
		const struct route_stats *rs =
			&c->routes[i < c->nb_routes ? i : UNROUTED];

		if (rs->records == 0)
			continue;
		if (json_array_append_new(
			    routes,
			    route_json(c, rs,
				       i < c->nb_routes ? c->names[i] :
							  UNROUTED_NAME)) !=
		    0) {
			json_decref(routes);
			return NULL;
		}
	}
	doc = json_pack("{s:{s:I, s:f, s:f, s:f, s:f}, s:b, s:o*}",
			"thresholds", "min_exchanges",
			(json_int_t)g->min_exchanges, "max_p99_ratio",
			g->max_p99_ratio, "min_p99_drift_ms",
			g->min_p99_drift_ms, "max_error_rate_delta",
			g->max_error_rate_delta, "max_mismatch_rate",
			g->max_mismatch_rate, "secondary", c->secondary,
			"routes", routes);
	if (doc != NULL && st_compare_judge(doc, err, sizeof(err)) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* --- life ---------------------------------------------------------------- */

static void
route_reset(struct route_stats *rs)
{
	int i;

	for (i = 0; i < SIDES; i++)
		st_hist_free(rs->side[i].hist);
	table_free(&rs->diffs);
	table_free(&rs->noise);
	*rs = (struct route_stats){ 0 };
}

void
st_compare_reset(struct st_compare *c)
{
	unsigned int i;

	for (i = 0; i <= ST_MAX_ROUTES; i++)
		route_reset(&c->routes[i]);
}

int
st_compare_create(const struct st_replay_conf *conf,
		  const struct st_sanitizer *san, struct st_compare **out,
		  char *err, size_t errlen)
{
	struct st_compare *c = calloc(1, sizeof(*c));
	char why[512];
	unsigned int i;
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = st_differ_create(&conf->compare, san, &c->differ, why,
			      sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: %s", conf->path,
			 conf->compare.line, why);
		free(c);
		return rc;
	}
	c->gate = conf->compare.gate;
	c->max_samples = conf->compare.max_samples;
	c->max_differences = conf->compare.max_differences;
	c->secondary = conf->has_secondary;
	c->nb_routes = conf->routes.nb_routes;
	for (i = 0; i < c->nb_routes; i++)
		memcpy(c->names[i], conf->routes.routes[i].name, ST_NAME_MAX);
	*out = c;
	return 0;
}

void
st_compare_free(struct st_compare *c)
{
	if (c == NULL)
		return;
	st_compare_reset(c);
	st_differ_free(c->differ);
	free(c);
}
