/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The comparison alone: replayed exchanges that st_compare_record() counts
 * and compares per second on one core, with JSON answers of about 1 KiB on
 * every side. perf/replay sets the figure against the replay's own rate in
 * the same run: the comparison has to keep up with what the replay yields.
 *
 * Each exchange carries what a real one does: the primary's and the
 * shadow's answer and, with a secondary, the secondary's (nested objects,
 * an array of priced items, escaped strings); a few headers; latencies. Every
 * answer has a request_id of its own (body and X-Request-Id) and its own
 * Cache-Control max-age, both covered by noise rules, so no two answers
 * compared are ever byte for byte equal. A share of the shadow's answers
 * (--changed) has one price changed.
 *
 * usage: st_bench_compare [--secondary] [--seconds S] [--warmup S]
 *                         [--changed PERCENT] [--body-bytes B]
 *                         [--config replay.yaml]
 *
 * Without --config it loads a replay.yaml of its own (three routes, the
 * noise rules above, a secondary with --secondary). A config given must
 * cover $.request_id and cache-control as that one does, and decides
 * whether there is a secondary.
 *
 * Prints one JSON object: exchanges, seconds, per_second, cpu_seconds
 * (the CPU time it had: less than seconds on a busy machine), body_bytes
 * (mean body of an answer), secondary. Exits 1 when the comparison's own
 * document does not count exactly what was planted (every changed price
 * one mismatch at $.items[*].price, nothing else), so that a broken
 * comparison never passes for a fast one.
 */
#define _GNU_SOURCE	/* sched_getcpu, sched_setaffinity */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "compare.h"
#include "conf.h"
#include "record.h"
#include "sanitize.h"

#define PROG "st_bench_compare"
/* Distinct exchanges, looped over: a multiple of 100 so that --changed
 * is an exact share. About 1 MiB of answers, more than a core's L2. */
#define POOL 400
#define ID_DIGITS 16	/* a request_id: hex digits */
#define NB_FIELDS 7
#define BATCH 64	/* records between two looks at the clock */
#define PLANTED_PATH "$.items[*].price"

enum side { PRIMARY, SHADOW, SECONDARY, SIDES };

static const char config_text[] =
	"routes:\n"
	"  - name: items\n"
	"    match: { path: \"^/api/items\" }\n"
	"  - name: orders\n"
	"    match: { path: \"^/api/orders\" }\n"
	"  - name: other\n"
	"    match: {}\n"
	"shadow:\n"
	"  url: http://127.0.0.1:8081\n"
	"compare:\n"
	"  noise:\n"
	"    - path: $.request_id\n"
	"      ignore: true\n"
	"    - header: cache-control\n"
	"      pattern: '^public, max-age=[0-9]+$'\n";
static const char secondary_text[] =
	"secondary:\n"
	"  url: http://127.0.0.1:8082\n";

struct answer {
	char *body;
	uint32_t body_len;
	uint32_t id_off;		/* the request_id's digits in body */
	char length[12];		/* Content-Length */
	char cache[32];			/* Cache-Control */
	char date[32];
	struct st_http_field fields[NB_FIELDS];
};

struct exchange {
	struct st_record rec;
	struct answer side[SIDES];
	char target[48];
	bool changed;			/* the shadow's price differs */
};

struct opts {
	const char *config;
	bool secondary;
	double seconds;
	double warmup;
	unsigned int changed_percent;
	uint32_t body_bytes;
};

/* --- answers -------------------------------------------------------------- */

/* A growing string; the first error sticks, so that a body is built in
 * one go and checked once. */
struct text {
	char *p;
	size_t len, cap;
	int err;
};

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *grown;
	int n;

	while (t->err == 0) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
		} else if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		} else if ((grown = realloc(t->p, 2 * t->cap + (size_t)n))) {
			t->p = grown;
			t->cap = 2 * t->cap + (size_t)n;
		} else {
			t->err = -ENOMEM;
		}
	}
}

static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

static const char *const products[] = {
	"Espresso beans, 1 kg", "Ceramic pour-over dripper",
	"Burr grinder \\\"Pro 64\\\"", "Milk jug 600 ml", "Paper filters x100",
	"Gooseneck kettle", "Cold brew bottle", "Tamper 58 mm",
};
static const char *const tags[] = { "coffee", "brewing", "gift", "sale",
				    "new", "bestseller" };
static const char *const cities[] = { "Lyon", "Porto", "Gdansk",
				      "Utrecht", "Leipzig" };
static const char *const tiers[] = { "bronze", "silver", "gold" };

#define PICK(a, r) ((a)[(r) % (sizeof(a) / sizeof((a)[0]))])

/*
 * The JSON body of exchange @p i, about @p target bytes: the same for
 * every side given the same @p i, but that with @p bump the first item's
 * price is a unit higher (the totals stay: the planted change is one
 * difference). The request_id is zeros, written before each use.
 */
static int
build_body(unsigned int i, uint32_t target, bool bump, struct answer *a)
{
	struct text t = { .cap = target + 512 };
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (i + 1);
	double subtotal = 0;
	unsigned int item;

	t.p = malloc(t.cap);
	if (t.p == NULL)
		return -ENOMEM;
	text_printf(&t, "{\"request_id\":\"");
	a->id_off = (uint32_t)t.len;
	text_printf(&t,
		"%0*u\",\"customer\":{\"id\":%u,\"name\":\"Customer %u\","
		"\"tier\":\"%s\",\"address\":{\"city\":\"%s\","
		"\"country\":\"EU\"},\"newsletter\":%s},\"currency\":\"EUR\","
		"\"items\":[", ID_DIGITS, 0, 10000 + i, i,
		PICK(tiers, next_random(&rnd)), PICK(cities, next_random(&rnd)),
		next_random(&rnd) & 1 ? "true" : "false");
	/* Items until the body, once closed (115 bytes or so), is about
	 * @p target. */
	for (item = 0; t.err == 0 && (item == 0 || t.len + 200 <= target);
	     item++) {
		uint64_t r = next_random(&rnd);
		double price = (double)(r % 9000 + 100) / 100;
		unsigned int quantity = (unsigned int)(r >> 32) % 4 + 1;

		subtotal += price * quantity;
		text_printf(&t,
			"%s{\"sku\":\"SKU-%05u\",\"name\":\"%s\","
			"\"price\":%.2f,\"quantity\":%u,\"in_stock\":%s,"
			"\"tags\":[\"%s\",\"%s\"]}", item ? "," : "",
			(unsigned int)(r >> 16) % 100000,
			PICK(products, r >> 8),
			price + (bump && item == 0 ? 1.0 : 0.0), quantity,
			r & 1 ? "true" : "false", PICK(tags, r >> 20),
			PICK(tags, r >> 24));
	}
	text_printf(&t,
		"],\"totals\":{\"subtotal\":%.2f,\"tax\":%.2f,\"total\":%.2f},"
		"\"page\":{\"number\":%u,\"size\":%u,\"next\":"
		"\"/api/items?page=%u&size=%u\"}}", subtotal, subtotal * 0.2,
		subtotal * 1.2, i % 7 + 1, item, i % 7 + 2, item);
	if (t.err != 0) {
		free(t.p);
		return t.err;
	}
	a->body = t.p;
	a->body_len = (uint32_t)t.len;
	return 0;
}

static void
set_field(struct st_http_field *f, const char *name, const char *value,
	  uint32_t value_len)
{
	f->name = name;
	f->name_len = (uint32_t)strlen(name);
	f->value = value;
	f->value_len = value_len;
}

/* The header fields of an answer, pointing into it: its X-Request-Id is
 * its body's request_id. */
static void
set_fields(struct answer *a, unsigned int i, enum side s)
{
	struct st_http_field *f = a->fields;

	snprintf(a->length, sizeof(a->length), "%u", a->body_len);
	snprintf(a->cache, sizeof(a->cache), "public, max-age=%u",
		 60 - (i + s) % 60);
	snprintf(a->date, sizeof(a->date), "Wed, 02 Dec 2026 13:%02u:%02u GMT",
		 i / 60 % 60, (i + s) % 60);
	set_field(f++, "Server", "nginx/1.22.1", 12);
	set_field(f++, "Date", a->date, (uint32_t)strlen(a->date));
	set_field(f++, "Content-Type", "application/json; charset=utf-8", 31);
	set_field(f++, "Content-Length", a->length,
		  (uint32_t)strlen(a->length));
	set_field(f++, "Cache-Control", a->cache, (uint32_t)strlen(a->cache));
	set_field(f++, "Vary", "Accept-Encoding", 15);
	set_field(f++, "X-Request-Id", a->body + a->id_off, ID_DIGITS);
}

static void
set_message(struct st_record_message *m, const struct answer *a,
	    double ttfb_ms)
{
	*m = (struct st_record_message){
		.status = 200,
		.ttfb_ms = ttfb_ms,
		.fields = a->fields,
		.nb_fields = NB_FIELDS,
		.body = (const uint8_t *)a->body,
		.body_len = a->body_len,
	};
}

/* Exchange @p i of the pool: routes in turn (our config's, whose paths
 * these are), the price of one item in the shadow's answer changed for
 * @p changed_percent of them, spread. */
static int
build_exchange(struct exchange *e, unsigned int i,
	       const struct st_replay_conf *conf,
	       const struct opts *o)
{
	static const char *const paths[] = { "/api/items", "/api/orders",
					     "/account/orders" };
	struct st_record *r = &e->rec;
	unsigned int nb_routes = conf->routes.nb_routes;
	int s, rc = 0;

	e->changed = (i + 1) * o->changed_percent / 100 >
		     i * o->changed_percent / 100;
	for (s = 0; s < SIDES && rc == 0; s++) {
		rc = build_body(i, o->body_bytes, s == SHADOW && e->changed,
				&e->side[s]);
		if (rc == 0)
			set_fields(&e->side[s], i, (enum side)s);
	}
	if (rc != 0)
		return rc;
	snprintf(e->target, sizeof(e->target), "%s/%u?expand=items",
		 PICK(paths, i), 1000 + i);
	*r = (struct st_record){
		.route = nb_routes ? (int)(i % nb_routes) : -1,
		.route_name = nb_routes ?
			conf->routes.routes[i % nb_routes].name : NULL,
		.method = "GET",
		.target = e->target,
		.host = "shop.example.com",
		.primary_end = ST_EXCHANGE_ANSWERED,
		.outcome = ST_RECORD_REPLAYED,
		.has_secondary = conf->has_secondary,
		.secondary_outcome = ST_RECORD_REPLAYED,
	};
	set_message(&r->primary, &e->side[PRIMARY], 2.0 + i % 17 * 0.37);
	set_message(&r->shadow, &e->side[SHADOW], 2.2 + i % 13 * 0.41);
	set_message(&r->secondary, &e->side[SECONDARY], 2.1 + i % 11 * 0.39);
	return 0;
}

/* Every answer of record @p n gets a request_id of its own. */
static void
stamp(struct exchange *e, uint64_t n)
{
	static const char digits[] = "0123456789abcdef";
	int s, d;

	for (s = 0; s < SIDES; s++) {
		uint64_t v = n * SIDES + (uint64_t)s;
		char *at = e->side[s].body + e->side[s].id_off;

		for (d = ID_DIGITS - 1; d >= 0; d--, v >>= 4)
			at[d] = digits[v & 15];
	}
	e->rec.id = n;
	e->rec.conn_id = n / 8;
	e->rec.ts_ns = 1796218444000000000ull + n * 25000;
}

/* --- the run -------------------------------------------------------------- */

static double
now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct tally {
	uint64_t exchanges;
	uint64_t changed;
	double seconds;
	double cpu_seconds;	/* below seconds: others had the CPU too */
};

/* Records through the comparison for @p seconds; the pool in order, from
 * where the last run stopped. */
static void
run(struct st_compare *c, struct exchange *pool, double seconds,
    uint64_t *next, struct tally *t)
{
	double start = now_s(CLOCK_MONOTONIC), elapsed;
	double cpu_start = now_s(CLOCK_THREAD_CPUTIME_ID);
	unsigned int b;

	*t = (struct tally){ 0 };
	do {
		for (b = 0; b < BATCH; b++) {
			struct exchange *e = &pool[*next % POOL];

			stamp(e, *next);
			st_compare_record(c, &e->rec);
			t->changed += e->changed;
			(*next)++;
		}
		t->exchanges += BATCH;
		elapsed = now_s(CLOCK_MONOTONIC) - start;
	} while (elapsed < seconds);
	t->seconds = elapsed;
	t->cpu_seconds = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
}

/* --- the check ------------------------------------------------------------ */

static json_int_t
count_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/*
 * The comparison's document against what was planted: every exchange
 * compared (and answered by the secondary when there is one), one
 * mismatch per changed price, found at PLANTED_PATH and nowhere else, no
 * noise, nothing dropped.
 *
 * @return 0, or -EINVAL with @p why filled
 */
static int
check(const struct st_compare *c, const struct tally *t, bool secondary,
      char *why, size_t len)
{
	json_t *doc = st_compare_json(c), *route, *d;
	json_int_t compared = 0, mismatches = 0, found = 0, answered = 0;
	size_t i, j;
	int rc = -EINVAL;

	if (doc == NULL) {
		snprintf(why, len, "st_compare_json: out of memory");
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(doc, "routes"), i, route) {
		compared += count_of(route, "compared");
		mismatches += count_of(route, "mismatches");
		answered += count_of(json_object_get(route, "secondary"),
				     "answered");
		if (count_of(route, "differences_dropped") != 0 ||
		    json_array_size(json_object_get(route, "noise")) != 0) {
			snprintf(why, len, "route %s: noise or dropped "
				 "differences where none were planted",
				 json_string_value(json_object_get(route,
								   "name")));
			goto out;
		}
		json_array_foreach(json_object_get(route, "differences"), j,
				   d) {
			const char *kind = json_string_value(
				json_object_get(d, "kind"));
			const char *path = json_string_value(
				json_object_get(d, "path"));

			if (kind == NULL || path == NULL ||
			    strcmp(kind, "json_value") != 0 ||
			    strcmp(path, PLANTED_PATH) != 0) {
				snprintf(why, len, "a difference not planted: "
					 "%s at %s", kind ? kind : "?",
					 path ? path : "?");
				goto out;
			}
			found += count_of(d, "count");
		}
	}
	if ((uint64_t)compared != t->exchanges ||
	    (uint64_t)mismatches != t->changed ||
	    (uint64_t)found != t->changed ||
	    (uint64_t)answered != (secondary ? t->exchanges : 0)) {
		snprintf(why, len, "%llu exchanges, %llu prices changed; the "
			 "comparison says %lld compared, %lld mismatches, "
			 "%lld at " PLANTED_PATH ", %lld answered by the "
			 "secondary", (unsigned long long)t->exchanges,
			 (unsigned long long)t->changed, (long long)compared,
			 (long long)mismatches, (long long)found,
			 (long long)answered);
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

/* --- set-up --------------------------------------------------------------- */

/* Stay on the CPU we start on (perf/replay picks it with taskset): a
 * migration in the middle of a run would be charged to the comparison. */
static int
pin_here(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (cpu < 0)
		return -errno;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* Our own replay.yaml, loaded from a file of the moment. */
static int
load_own_config(bool secondary, struct st_replay_conf *conf, char *err,
		size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/st-bench-compare-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	fputs(config_text, f);
	if (secondary)
		fputs(secondary_text, f);
	rc = fclose(f) ? -errno : 0;
	if (rc == 0)
		rc = st_replay_conf_load(path, conf, err, errlen);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	unlink(path);
	return rc;
}

static void
usage(FILE *out)
{
	fputs("usage: " PROG " [--secondary] [--seconds S] [--warmup S]\n"
	      "       [--changed PERCENT] [--body-bytes B] "
	      "[--config replay.yaml]\n"
	      "  --secondary     a secondary answers too (own config only)\n"
	      "  --seconds S     measured run, default 3\n"
	      "  --warmup S      run first and not counted, default 0.5\n"
	      "  --changed P     % of shadow answers with a price changed, "
	      "default 10\n"
	      "  --body-bytes B  about this many bytes a body, default 1024\n"
	      "  --config FILE   this replay.yaml rather than our own\n",
	      out);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "secondary", no_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "changed", required_argument, NULL, 'p' },
		{ "body-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .seconds = 3, .warmup = 0.5,
			    .changed_percent = 10, .body_bytes = 1024 };
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		unsigned long v = 0;
		char *end = NULL;
		double d = 0;
		bool bad = false;

		errno = 0;
		if (ch == 's' || ch == 'w')
			d = strtod(optarg, &end);
		else if (ch == 'p' || ch == 'b')
			v = strtoul(optarg, &end, 10);
		if (end != NULL)
			bad = errno || end == optarg || *end;
		switch (ch) {
		case 'c':
			o->config = optarg;
			continue;
		case 'S':
			o->secondary = true;
			continue;
		case 's':
		case 'w':
			if (bad || !(d >= 0 && d <= 3600) ||
			    (ch == 's' && d == 0))
				break;
			*(ch == 's' ? &o->seconds : &o->warmup) = d;
			continue;
		case 'p':
			if (bad || v > 100)
				break;
			o->changed_percent = (unsigned int)v;
			continue;
		case 'b':
			if (bad || v < 256 || v > 65536)
				break;
			o->body_bytes = (uint32_t)v;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		}
		if (ch != '?')
			fprintf(stderr, PROG ": '%s': not a valid value\n",
				optarg);
		usage(stderr);
		return -EINVAL;
	}
	if (optind < argc || (o->config != NULL && o->secondary)) {
		fprintf(stderr, PROG ": %s\n", optind < argc ?
			"unexpected argument" :
			"--secondary is for our own config; a config given "
			"says whether there is one");
		return -EINVAL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct st_replay_conf conf;
	static struct exchange pool[POOL];
	struct st_sanitizer *san = NULL;
	struct st_compare *c = NULL;
	struct tally warm, t;
	uint64_t next = 0, body_bytes = 0;
	struct opts o;
	char err[1024];
	unsigned int i;
	int rc, s;

	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	rc = o.config ? st_replay_conf_load(o.config, &conf, err, sizeof(err)) :
			load_own_config(o.secondary, &conf, err, sizeof(err));
	if (rc == 0 && (rc = st_sanitizer_create(&conf.sanitize, &san, err,
						 sizeof(err))) == 0)
		rc = st_compare_create(&conf, san, &c, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	for (i = 0; i < POOL && rc == 0; i++) {
		rc = build_exchange(&pool[i], i, &conf, &o);
		for (s = 0; rc == 0 && s < SIDES; s++)
			if (s != SECONDARY || conf.has_secondary)
				body_bytes += pool[i].side[s].body_len;
	}
	if (rc == 0)
		rc = pin_here();
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n", strerror(-rc));
		return 1;
	}
	if (o.warmup > 0)
		run(c, pool, o.warmup, &next, &warm);
	st_compare_reset(c);
	run(c, pool, o.seconds, &next, &t);
	rc = check(c, &t, conf.has_secondary, err, sizeof(err));
	if (rc == 0 && o.changed_percent > 0 && t.changed == 0) {
		snprintf(err, sizeof(err), "no price changed in %llu exchanges",
			 (unsigned long long)t.exchanges);
		rc = -EINVAL;
	}
	if (rc != 0) {
		fprintf(stderr, PROG ": the comparison is wrong: %s\n", err);
		return 1;
	}
	printf("{\"exchanges\": %llu, \"seconds\": %.3f, \"per_second\": %.1f, "
	       "\"cpu_seconds\": %.3f, \"body_bytes\": %llu, "
	       "\"secondary\": %s, \"changed_percent\": %u, "
	       "\"mismatches\": %llu}\n",
	       (unsigned long long)t.exchanges, t.seconds,
	       (double)t.exchanges / t.seconds, t.cpu_seconds,
	       (unsigned long long)(body_bytes /
				    (POOL * (conf.has_secondary ? 3u : 2u))),
	       conf.has_secondary ? "true" : "false", o.changed_percent,
	       (unsigned long long)t.changed);
	st_compare_free(c);
	st_sanitizer_free(san);
	for (i = 0; i < POOL; i++)
		for (s = 0; s < SIDES; s++)
			free(pool[i].side[s].body);
	return 0;
}
