/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_DIFF_H
#define ST_DIFF_H

/*
 * Two answers to the same request, compared: the primary's (from the
 * wire) and another's (the shadow's, or the secondary's).
 *
 * Semantics a user relies on
 * --------------------------
 * - Status: the codes differ (kind status, path "status").
 * - Headers: only the allow-list's (compare.headers), by name, case
 *   insensitive; several fields of a name are joined with ", ". A header
 *   on one side only, or with other values, is kind header, path its
 *   lower-case name. Values are compared byte for byte after trimming
 *   spaces and tabs.
 * - Bodies are decoded first, each side by its own Content-Encoding
 *   (gzip, x-gzip, deflate as zlib or raw deflate, with zlib; identity),
 *   at most ST_DIFF_DECODED_MAX bytes each. A body in an encoding not
 *   decoded (br, a list of codings, ...), or whose very start is not of
 *   its encoding, is compared as it came. A stream that breaks later
 *   (cut, corrupt) or decodes to more than ST_DIFF_DECODED_MAX is decoded
 *   up to there and counts as cut.
 * - When both Content-Types are JSON (application/json, or a type ending
 *   in "+json"; parameters ignored) and both bodies parse (jansson), they
 *   are compared by path: object members by key, whatever their order;
 *   arrays element by element, every index written [*]; numbers by value
 *   (1 equals 1.0). Kinds: json_value (same type, other value),
 *   json_type, json_missing (in the primary's answer only), json_extra
 *   (in the other only); an array's missing or extra elements are one
 *   json_missing or json_extra at "PATH[*]".
 *   Paths: "$", then ".key" for keys of [A-Za-z_][A-Za-z0-9_]*, else
 *   ["key"] (JSON-escaped), and [*] for array elements:
 *   "$.items[*].price". A path longer than ST_DIFF_PATH_MAX - 1 bytes
 *   ends after its last component that fits, with "...".
 * - Otherwise the bodies are compared byte for byte (kind body, path
 *   "body"). When either body was cut (the record's body_truncated), only
 *   the bytes both have are compared: JSON cannot be read from a part.
 * - One call reports each (kind, path) at most once, with the first
 *   values found there, and at most ST_DIFF_REPORTS_MAX differences: it
 *   stops comparing there.
 * - Noise rules (compare.noise) for the answer's route, or for every
 *   route, are applied first: what a rule covers is not reported. A JSON
 *   rule covers its path and what is below it; a header rule, its
 *   header. IGNORE: nothing there is a difference. PRESENCE: equal when
 *   present on both sides, so only a json_missing or json_extra at the
 *   rule's own path (or a header on one side only) is reported.
 *   TOLERANCE: two numbers (JSON numbers, header values that are
 *   numbers) within +-tolerance are equal. PATTERN: two values (JSON
 *   strings, JSON numbers as text, header values) that both match the
 *   pattern (anywhere, unless anchored) are equal.
 * - Samples are masked before they leave this module: a JSON value as
 *   st_sanitize_json() masks it in its place (a member named in
 *   json_fields is "***", and so is anything below one), any other text
 *   with st_sanitize_text(); JSON values as compact JSON text (a bare
 *   real with the fewest digits that read back as it, 15 in a
 *   container), cut to ST_DIFF_SAMPLE_MAX bytes. Samples are made only
 *   when the caller's want says so. Paths are masked with st_sanitize_text()
 *   too (a key may be an address). A body's sample reads "@OFF/LEN:
 *   EXCERPT": the offset of the first differing byte, the decoded length
 *   ("+" after it when the body was cut) and the bytes from about 32
 *   before that offset, "..." where the excerpt cuts the body. The
 *   excerpt is masked with 128 more bytes on each side, dropped after
 *   masking, so that a value the excerpt's edge cuts is still masked
 *   unless it is longer than that. Samples and paths are valid UTF-8:
 *   other bytes and control characters are written \xHH (\t, \n, \r).
 *
 * A differ is immutable after creation; st_diff_answers() is thread-safe.
 */

#include <stddef.h>

#include "conf.h"
#include "record.h"
#include "sanitize.h"

#define ST_DIFF_DECODED_MAX (8u << 20)	/* decoded body bytes compared */
#define ST_DIFF_SAMPLE_MAX 256		/* bytes of a sample, with NUL */
#define ST_DIFF_PATH_MAX 512		/* bytes of a JSON path, with NUL,
					 * before masking */
#define ST_DIFF_REPORTS_MAX 256		/* differences a call reports */

enum st_diff_kind {
	ST_DIFF_STATUS,
	ST_DIFF_HEADER,
	ST_DIFF_BODY,
	ST_DIFF_JSON_VALUE,
	ST_DIFF_JSON_TYPE,
	ST_DIFF_JSON_MISSING,
	ST_DIFF_JSON_EXTRA,
	ST_DIFF_KINDS
};

/* One difference; valid during the callback only. */
struct st_diff {
	enum st_diff_kind kind;
	const char *path;	/* "status", "body", a header name, a JSON
				 * path; masked */
	const char *primary;	/* masked value on the primary's side; ""
				 * when absent; NULL when not wanted */
	const char *other;	/* masked value on the other side; likewise */
};

typedef void (*st_diff_fn)(void *arg, const struct st_diff *d);

/*
 * Whether the caller keeps the samples of a difference of @p kind at
 * (masked) @p path, asked before they are made: masking a sample costs
 * more than finding the difference, and a caller that keeps a few
 * samples per path needs none of the rest.
 */
typedef bool (*st_diff_want_fn)(void *arg, enum st_diff_kind kind,
				const char *path);

struct st_differ;

/** Name of a kind ("json_value"); NULL if out of range. */
const char *st_diff_kind_name(enum st_diff_kind k);

/**
 * Compile the allow-list and noise rules of @p c.
 *
 * @param c    the compare configuration; nothing of it is kept
 * @param san  masks for samples and paths; must outlive the differ
 * @param err  on error, "compare.noise[I]: 'PATTERN': what is wrong"
 * @return 0, -EINVAL (a pattern regcomp refuses) or -ENOMEM
 */
int st_differ_create(const struct st_replay_compare_conf *c,
		     const struct st_sanitizer *san, struct st_differ **out,
		     char *err, size_t errlen);

/** Free a differ (NULL is fine). */
void st_differ_free(struct st_differ *d);

/**
 * Compare two answers of a request of route @p route (-1: no route).
 * Both messages must have an answer (status != 0).
 *
 * @param want  asked for each difference before its samples are made;
 *              NULL: every difference has them
 *
 * @return how many differences were reported, or -ENOMEM (those
 *         reported before stay reported)
 */
int st_diff_answers(const struct st_differ *d, int route,
		    const struct st_record_message *primary,
		    const struct st_record_message *other, st_diff_want_fn want,
		    st_diff_fn fn, void *arg);

#endif
