/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_SANITIZE_H
#define ST_SANITIZE_H

/*
 * PII masks, built from the sanitize section of replay.yaml
 * (struct st_replay_sanitize_conf): which request headers never reach the
 * shadow, and what is masked in everything stored or shown (logs, the
 * comparison's samples).
 *
 * Semantics a user relies on
 * --------------------------
 * - Header names are compared case-insensitively. A name that is both in
 *   drop_headers and in replace_headers is dropped.
 * - Patterns are POSIX extended regular expressions (regcomp with
 *   REG_EXTENDED), case-sensitive unless written otherwise ("[Cc]ard").
 *   In a text, the leftmost match of any pattern is replaced by "***"
 *   (the longest one when several start there), then the search goes on
 *   after it; so every match is replaced, left to right, and a match
 *   never overlaps an earlier one. A pattern that matches the empty string
 *   is refused: it would mask nothing but insert "***" everywhere. "^"
 *   and "$" anchor at the start and end of the text given.
 * - A text is masked as given: pass whole values (a card number cut in
 *   two by the caller may no longer match).
 * - JSON: the value of an object member whose key is in json_fields
 *   (compared case-insensitively, at any depth, inside arrays too) becomes
 *   the string "***" whatever its type; every other string value is
 *   masked with the patterns. Object keys are left as they are.
 *
 * A sanitizer is immutable after creation: it may be shared by threads
 * (regexec is thread-safe on a compiled pattern).
 */

#include <stddef.h>

#include <jansson.h>

#include "conf.h"

/* What replaces a masked value or match. */
#define ST_SANITIZE_MASK "***"

/* Compiled masks. */
struct st_sanitizer;

/* What happens to a request header on its way to the shadow. */
enum st_sanitize_header {
	ST_SANITIZE_KEEP,	/* sent as captured */
	ST_SANITIZE_DROP,	/* not sent */
	ST_SANITIZE_REPLACE,	/* sent with the configured value */
};

/**
 * Compile the masks of a sanitize configuration.
 *
 * @param c       the configuration; nothing of it is kept
 * @param out     receives the sanitizer on success
 * @param err     on error, receives "sanitize.patterns[I]: 'PATTERN':
 *                what is wrong" (the caller prefixes the file and line)
 * @param errlen  size of @p err
 * @return 0; -EINVAL for a pattern regcomp refuses or one that matches
 *         the empty string; -ENOMEM
 */
int st_sanitizer_create(const struct st_replay_sanitize_conf *c,
			struct st_sanitizer **out, char *err, size_t errlen);

/** Free a sanitizer (NULL is fine). */
void st_sanitizer_free(struct st_sanitizer *s);

/**
 * Decide a request header's fate. Thread-safe.
 *
 * @param s            sanitizer
 * @param name         header name as sent (any case, not NUL-terminated)
 * @param name_len     bytes at @p name
 * @param replacement  for ST_SANITIZE_REPLACE, receives the value to send
 *                     (NUL-terminated, valid as long as @p s); untouched
 *                     otherwise
 * @return ST_SANITIZE_KEEP, ST_SANITIZE_DROP or ST_SANITIZE_REPLACE
 */
enum st_sanitize_header st_sanitize_header(const struct st_sanitizer *s,
					   const char *name, size_t name_len,
					   const char **replacement);

/**
 * Copy a text with every pattern match replaced by "***": for URLs,
 * header values and anything logged. Thread-safe.
 *
 * @param s       sanitizer
 * @param in      the text: any bytes, not necessarily NUL-terminated
 * @param len     bytes at @p in
 * @param out     receives the masked text, NUL-terminated, cut to
 *                @p outlen - 1 bytes (a cut never lets masked bytes
 *                through: what is cut is the end of the copy); just
 *                "***" if memory runs out for a text of 1 KiB or more
 * @param outlen  size of @p out; 0 writes nothing
 * @return bytes written to @p out, without the NUL
 */
size_t st_sanitize_text(const struct st_sanitizer *s, const char *in,
			size_t len, char *out, size_t outlen);

/**
 * Mask a JSON document in place: members named in json_fields become
 * "***", other strings are masked with the patterns. A member or element
 * that cannot be masked (memory ran out, or a match cut a UTF-8 sequence
 * so that jansson refuses the result) becomes null rather than stay
 * unmasked; a document that is a bare string is then left as it is.
 * Recursive: the depth is bounded by jansson's parser (2048 levels).
 * Thread-safe with distinct documents.
 *
 * @param s    sanitizer
 * @param doc  the document (NULL is fine)
 */
void st_sanitize_json(const struct st_sanitizer *s, json_t *doc);

#endif
