/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_REPLAY_CONF_H
#define ST_REPLAY_CONF_H

/*
 * shadowtap-replay's configuration (replay.yaml), validated. Errors name
 * the file, line and key, as the appliance's do.
 *
 * routes: the appliance's syntax, compiled with classifier/ so a route has
 * the same name everywhere. Here a route needs only `name` and `match`
 * (and `allow_writes`); `mirror` and `percent` belong to the appliance and
 * are accepted and ignored. As for a route that mirrors, a route's unsaid
 * methods are the reads, and writes need `allow_writes: true`.
 * `routes_from: PATH` (relative to this file's directory) takes the routes
 * and `http` (ports, max_head_bytes) of an appliance config instead, so
 * that the replay names requests as the appliance does; giving `routes`
 * or `http` beside `routes_from` is an error. Of those routes, the ones
 * that mirror nothing ("mirror: none", such as a health check) are not
 * replayed (see `replayed`).
 *
 * The example examples/replay.yaml documents every key and its range.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decap.h"

#define ST_REPLAY_URL_MAX 1024
#define ST_REPLAY_HOST_MAX 256
#define ST_REPLAY_MAX_SANITIZE 32	/* entries per sanitize list */

/* What happens to the Host header of a replayed request. */
enum st_replay_host_mode {
	ST_REPLAY_HOST_KEEP,	/* as captured (default) */
	ST_REPLAY_HOST_SET,	/* replaced by shadow.host */
	ST_REPLAY_HOST_SUFFIX,	/* captured host + shadow.host_suffix, as
				 * Envoy's "-shadow" */
};

struct st_replay_shadow_conf {
	char url[ST_REPLAY_URL_MAX];	/* "http://127.0.0.1:8080": scheme,
					 * authority, optional path prefix */
	enum st_replay_host_mode host_mode;
	char host[ST_REPLAY_HOST_MAX];	/* SET: the value; SUFFIX: the suffix */
	uint32_t timeout_ms;		/* default 5000 */
	uint32_t connections;		/* keep-alive pool size, default 8 */
	uint32_t max_in_flight;		/* default 256 */
	/* Added to every replayed request so the shadow (and its logs) can
	 * tell a copy; default "x-shadowtap-replay: 1". */
	char mark_header[ST_HEADER_NAME_MAX];
	char mark_value[ST_REPLAY_HOST_MAX];
	int line;
};

/* A header replaced rather than dropped. */
struct st_replay_header_sub {
	char name[ST_HEADER_NAME_MAX];	/* lower case */
	char value[ST_REPLAY_HOST_MAX];
};

/*
 * PII: headers dropped or replaced before a request reaches the shadow,
 * and the same masks applied to everything stored or shown (logs, the
 * comparison's samples). Defaults: drop authorization, cookie; mask JSON
 * fields password, token; value patterns for card numbers and e-mail
 * addresses. A key given in the file replaces that list's default.
 */
struct st_replay_sanitize_conf {
	unsigned int nb_drop_headers;
	char drop_headers[ST_REPLAY_MAX_SANITIZE][ST_HEADER_NAME_MAX];
	unsigned int nb_replace_headers;
	struct st_replay_header_sub replace_headers[ST_REPLAY_MAX_SANITIZE];
	unsigned int nb_json_fields;	/* masked by name, at any depth */
	char json_fields[ST_REPLAY_MAX_SANITIZE][ST_NAME_MAX];
	unsigned int nb_patterns;	/* POSIX extended regexes on values */
	char patterns[ST_REPLAY_MAX_SANITIZE][ST_REGEX_MAX];
	int line;
};

struct st_replay_capture_conf {
	enum st_decap_mode decap;	/* default auto */
	uint32_t snaplen;		/* default 262144 */
	uint32_t buffer_mb;		/* kernel ring, default 64 */
	char bpf[ST_REGEX_MAX];		/* ANDed with the generated filter */
	int line;
};

/* Memory bounds: reassembly and exchanges (st_reasm_limits,
 * st_exchange_limits are filled from these). */
struct st_replay_limits_conf {
	uint32_t max_connections;	/* default 100000 */
	uint32_t max_stream_bytes;	/* default 1 MiB */
	uint64_t max_total_bytes;	/* default 256 MiB */
	uint32_t idle_timeout_ms;	/* default 60000 */
	uint32_t hole_timeout_ms;	/* default 500 */
	uint32_t max_head_bytes;	/* default 65536 */
	uint32_t max_body_bytes;	/* default 1 MiB */
	uint32_t max_pending;		/* default 64 */
	int line;
};

/*
 * A noise rule of the comparison: a difference it covers is not one. On
 * a JSON path ("$.items[*].price": keys after ".", or ["key"] when they
 * are not identifiers; every array index is [*]) a rule also covers what
 * is below it; on a header, that header (lower case). A path is stored
 * as diff.h writes paths, so the two compare as strings: a quoted key
 * that needs no quotes ($["id"]) is stored as .key ($.id).
 */
enum st_replay_noise_action {
	ST_NOISE_IGNORE,	/* never a difference */
	ST_NOISE_PRESENCE,	/* equal when present on both sides */
	ST_NOISE_TOLERANCE,	/* numbers equal within +-tolerance */
	ST_NOISE_PATTERN,	/* values equal when both match pattern */
};

#define ST_REPLAY_MAX_NOISE 64
#define ST_REPLAY_MAX_COMPARE_HEADERS 32
#define ST_REPLAY_PATH_MAX 256	/* a rule's JSON path, with the NUL */

struct st_replay_noise_rule {
	int route;			/* index in routes.routes; -1: all */
	bool header;			/* path is a header name */
	char path[ST_REPLAY_PATH_MAX];	/* JSON path, or header name */
	enum st_replay_noise_action action;
	double tolerance;		/* TOLERANCE: >= 0 */
	char pattern[ST_REGEX_MAX];	/* PATTERN: POSIX extended */
	int line;
};

/* When a route fails the gate (compare.gate). */
struct st_replay_gate_conf {
	uint32_t min_exchanges;		/* judged below this: insufficient;
					 * default 100 */
	double max_p99_ratio;		/* shadow p99 / primary p99, 1.5 */
	double min_p99_drift_ms;	/* and shadow - primary p99 over
					 * this, default 1 ms */
	double max_error_rate_delta;	/* shadow - primary error rate, a
					 * fraction: default 0.01 */
	double max_mismatch_rate;	/* exchanges with a difference that
					 * is not noise, default 0.01 */
	int line;
};

/* How answers are compared (compare). */
struct st_replay_compare_conf {
	/* header allow-list, lower case; default content-type, location,
	 * cache-control, content-language, content-disposition, vary,
	 * access-control-allow-origin, www-authenticate, allow */
	unsigned int nb_headers;
	char headers[ST_REPLAY_MAX_COMPARE_HEADERS][ST_HEADER_NAME_MAX];
	unsigned int nb_noise;
	struct st_replay_noise_rule noise[ST_REPLAY_MAX_NOISE];
	uint32_t max_samples;		/* masked samples per difference,
					 * 0..16, default 3 */
	uint32_t max_differences;	/* distinct (kind, path) kept per
					 * route, 1..1024, default 64 */
	struct st_replay_gate_conf gate;
	int line;
};

struct st_replay_conf {
	char path[4096];
	/* routes and http (ports, max_head_bytes) as the classifier reads
	 * them; nothing else of it is used */
	struct st_config routes;
	/* Bit i: requests of routes.routes[i] are replayed. Every route of
	 * the replay file; of routes_from, those that mirror something. */
	uint64_t replayed;
	bool has_shadow;		/* required unless --dry-run */
	struct st_replay_shadow_conf shadow;
	/* Optional: a second instance of the primary's version, asked the
	 * same requests; where its answers differ from the primary's is
	 * noise. Same keys as shadow; its url is not shadow.url. */
	bool has_secondary;
	struct st_replay_shadow_conf secondary;
	struct st_replay_compare_conf compare;
	struct st_replay_sanitize_conf sanitize;
	struct st_replay_capture_conf capture;
	struct st_replay_limits_conf limits;
};

/**
 * Load and validate a replay config: every key is checked here (a URL
 * libcurl refuses, a BPF filter libpcap cannot compile, a pattern regcomp
 * refuses are errors with their line), so the modules it feeds need not
 * report a file's mistakes. Keys left out get the defaults above.
 * Thread-safe (it touches only @p conf).
 *
 * @param path    replay.yaml
 * @param conf    filled on success; left in an unspecified state on error
 * @param err     receives "FILE:LINE: KEY: what is wrong" (an error in the
 *                file of routes_from reads "FILE:LINE: routes_from: " and
 *                that file's own message)
 * @param errlen  size of @p err
 * @return 0, or a negative errno (-ENOENT, -EINVAL, -ENAMETOOLONG,
 *         -ENOMEM)
 */
int st_replay_conf_load(const char *path, struct st_replay_conf *conf,
			char *err, size_t errlen);

#endif
