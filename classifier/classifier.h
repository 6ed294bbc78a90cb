/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CLASSIFIER_H
#define ST_CLASSIFIER_H

/*
 * HTTP route classifier: which configured route (cfg->routes[], first
 * match wins) an HTTP/1.x request head belongs to. Conditions that are
 * plain literals ("^/api/", "^/healthz$") are compared as the head is
 * read; all others are compiled into one Hyperscan database, and a request
 * head needs at most one scan of it.
 *
 * Matching semantics
 * ------------------
 * A route matches when every condition it gives holds:
 * - methods: the request's method is in route->methods (checked in C;
 *   a route with no regular expression matches on methods alone);
 * - path: the regex runs on the request target exactly as sent, no
 *   decoding ("/a/b?q=1"). For an absolute-form target
 *   ("http://host:port/a?b") it runs on the part after the authority
 *   ("/a?b"; "/" when that part is empty, "/?q" when it starts with "?").
 *   CONNECT's authority-form target ("host:443") and "*" are used as sent;
 * - host: the regex runs case-insensitively on the host without any
 *   ":port" suffix ("[::1]:80" gives "[::1]"). The host is the authority
 *   of an absolute-form target (then Host header fields are ignored, as
 *   RFC 9112 section 3.2.2 asks and Envoy does), else the authority of a
 *   CONNECT target when there is no Host field, else every Host field;
 * - headers: the request's field names are compared case-insensitively;
 *   the regex runs on the field value with leading and trailing spaces and
 *   tabs removed; when a field occurs several times, any occurrence may
 *   match; an empty pattern asks only that the field be present.
 *   Continuation lines (obsolete folding) are not joined: they are ignored;
 * - in every regex, "^" and "$" (and "\A", "\z", "\Z", which mean the
 *   same here) anchor at the start and end of the value, also inside
 *   groups and alternations ("^/a|/b"); an unanchored regex may match
 *   anywhere in the value. Regexes are Hyperscan's PCRE subset: no
 *   back-references or lookarounds; "^" only where nothing can come
 *   before it, "$" only where nothing can come after it.
 *
 * Values are the bytes sent up to the end of their line; a line ends at
 * LF, and a value also ends at its first CR (so a bare CR cuts it). Other
 * control bytes are kept as sent: the regex sees what the server sees.
 * A head cut short (at max_head_bytes or at a capture gap) is used as it
 * is: its complete lines, and its final partial line as a partial value
 * (so "$" also matches where a value was cut).
 *
 * Limitation: one scan covers all the fields whose conditions are left to
 * Hyperscan (all but plain literals), each on a line of its own. A regex
 * is kept within its value where that is cheap to do (negated classes
 * such as "[^/]", and "\W", "\D", "\s", "\H", "\v" are compiled without
 * the line feed, which no value holds), but one that can still match a
 * line feed can run past the end of its value into the following lines,
 * i.e. into other fields Hyperscan looks at, and match there: a positive
 * class with such a member ("[\s\S]", "[\W_]", "[\x00-\x7f]"), an explicit
 * "\n", or "." under the (?s) flag. "^/a[\s\S]*z" matches a request for
 * "/a?q" whose next field holds a "z" for a regex; "^/a.*z" does not.
 */

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"

/* st_classifier_match() results besides a route index. */
#define ST_ROUTE_NONE (-1)	/* no route matches */
#define ST_ROUTE_ERROR (-2)	/* the scratch is not usable with this
				 * classifier (not grown for it) */

/* Head size used when the configuration leaves http.max_head_bytes 0. */
#define ST_CLASSIFIER_DEFAULT_HEAD_BYTES 8192

/* Compiled routes: immutable after creation, shared by all workers. */
struct st_classifier;

/* What one worker needs to run a classifier (Hyperscan scratch and the
 * scan buffer). */
struct st_classifier_scratch;

/**
 * Compile the routes of a configuration. Slow (milliseconds per route):
 * call it off the dataplane.
 *
 * @param cfg     configuration; cfg->routes, cfg->nb_routes (0 is fine:
 *                nothing matches), cfg->http.max_head_bytes and cfg->path
 *                are read, and nothing is kept
 * @param out     receives the classifier on success
 * @param err     receives "PATH:LINE: route 'NAME': FIELD: what is wrong"
 *                (FIELD is path, host or header 'name') on error
 * @param errlen  size of @p err
 * @return 0; -EINVAL for a regex Hyperscan rejects, a header name that is
 *         not a token, more than ST_MAX_ROUTES routes or a CPU Hyperscan
 *         cannot run on; -ENOMEM when memory runs out
 */
int st_classifier_create(const struct st_config *cfg,
			 struct st_classifier **out, char *err,
			 size_t errlen);

/** Free a classifier (NULL is fine). No scratch may be using it. */
void st_classifier_free(struct st_classifier *c);

/** Number of routes a classifier was compiled from. Thread-safe. */
unsigned int st_classifier_route_count(const struct st_classifier *c);

/**
 * Allocate a scratch for one worker, sized for @p c.
 *
 * @return 0, -ENOMEM, or -EINVAL (Hyperscan refused)
 */
int st_classifier_scratch_alloc(const struct st_classifier *c,
				struct st_classifier_scratch **out);

/**
 * Make a scratch usable with @p c as well as with every classifier it
 * already served (a new configuration swapped in at run time); allocate
 * one when *@p s is NULL. On failure *@p s is unchanged and still works
 * with the classifiers it served. Not thread-safe against a
 * st_classifier_match() on the same scratch: call it from the worker that
 * owns the scratch, or while that worker is quiescent.
 *
 * @return 0, -ENOMEM, or -EINVAL (Hyperscan refused)
 */
int st_classifier_scratch_grow(const struct st_classifier *c,
			       struct st_classifier_scratch **s);

/** Free a scratch (NULL is fine). */
void st_classifier_scratch_free(struct st_classifier_scratch *s);

/**
 * Route of a request: st_classifier_read() then st_classifier_route(), for
 * a caller that does not frame the head. No allocation, no syscall,
 * bounded time. Thread-safe with distinct scratches.
 *
 * @param c       classifier
 * @param s       this worker's scratch, allocated or grown for @p c
 * @param head    request head as seen: complete, or cut short; bytes past
 *                max_head_bytes are not looked at
 * @param len     bytes at @p head
 * @param method  the request's method (st_http_request_method())
 * @return as st_classifier_route()
 */
int st_classifier_match(const struct st_classifier *c,
			struct st_classifier_scratch *s, const uint8_t *head,
			uint32_t len, enum st_http_method method);

/**
 * Read the fields routes look at from a request head, in the pass that
 * frames it: the dataplane reads each head once, for its route, its end
 * and its body length. The fields are kept in @p s for
 * st_classifier_route(). No allocation, no syscall, bounded time.
 * Thread-safe with distinct scratches.
 *
 * @param c       classifier
 * @param s       this worker's scratch, allocated or grown for @p c
 * @param head    a reader just begun (st_http_head_begin()) on the request
 *                head as seen: complete, or cut short. Only its first
 *                max_head_bytes bytes are classified. The lines are taken
 *                from it as far as routes look, which may be short of the
 *                head's end: st_http_head_finish() reads the rest.
 * @param method  the request's method (st_http_request_method()); with
 *                any other value, no route matches
 */
void st_classifier_read(const struct st_classifier *c,
			struct st_classifier_scratch *s,
			struct st_http_head *head, enum st_http_method method);

/**
 * Route of the head last read with @p s (st_classifier_read() with @p c):
 * its literal conditions, then one Hyperscan scan of its fields when a route
 * that can still win has a condition left to it.
 * Thread-safe with distinct scratches.
 *
 * @return index in cfg->routes of the first route whose every condition
 *         holds; ST_ROUTE_NONE; ST_ROUTE_ERROR when the scratch was not
 *         grown for @p c
 */
int st_classifier_route(const struct st_classifier *c,
			struct st_classifier_scratch *s);

#endif
