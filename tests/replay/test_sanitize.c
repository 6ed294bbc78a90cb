/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the PII masks in replay/sanitize.h: header fates, text
 * masking with POSIX patterns, JSON masking, refused patterns.
 *
 * Texts are passed as heap copies of exactly their length, without a NUL,
 * so that reading past them shows up under AddressSanitizer.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sanitize.h"

/* Cards as 13 to 19 digits with optional single spaces or dashes, and
 * e-mail addresses, as a configuration would give them. */
#define CARD_RE "[0-9]([ -]?[0-9]){12,18}"
#define EMAIL_RE "[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9.-]+\\.[A-Za-z]{2,}"

static struct st_sanitizer *
make(const char *const *patterns, unsigned int nb)
{
	struct st_replay_sanitize_conf c;
	struct st_sanitizer *s = NULL;
	char err[256] = "";
	unsigned int i;

	memset(&c, 0, sizeof(c));
	c.nb_drop_headers = 2;
	strcpy(c.drop_headers[0], "authorization");
	strcpy(c.drop_headers[1], "cookie");
	c.nb_replace_headers = 1;
	strcpy(c.replace_headers[0].name, "x-api-key");
	strcpy(c.replace_headers[0].value, "REDACTED");
	c.nb_json_fields = 2;
	strcpy(c.json_fields[0], "password");
	strcpy(c.json_fields[1], "token");
	c.nb_patterns = nb;
	for (i = 0; i < nb; i++)
		strcpy(c.patterns[i], patterns[i]);
	assert_int_equal(st_sanitizer_create(&c, &s, err, sizeof(err)), 0);
	assert_non_null(s);
	return s;
}

static struct st_sanitizer *
make_default(void)
{
	static const char *const patterns[] = { CARD_RE, EMAIL_RE };

	return make(patterns, 2);
}

/* Mask @p in (passed without its NUL) into @p out. */
static size_t
mask(const struct st_sanitizer *s, const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in), n;
	char *copy = malloc(len > 0 ? len : 1);

	assert_non_null(copy);
	memcpy(copy, in, len);
	n = st_sanitize_text(s, copy, len, out, outlen);
	free(copy);
	assert_int_equal(n, strlen(out));
	return n;
}

static void
test_headers(void **state)
{
	struct st_sanitizer *s = make_default();
	const char *repl = NULL;

	(void)state;
	assert_int_equal(st_sanitize_header(s, "Authorization", 13, &repl),
			 ST_SANITIZE_DROP);
	assert_int_equal(st_sanitize_header(s, "COOKIE", 6, &repl),
			 ST_SANITIZE_DROP);
	/* a prefix or a longer name is another header */
	assert_int_equal(st_sanitize_header(s, "Cookie2", 7, &repl),
			 ST_SANITIZE_KEEP);
	assert_int_equal(st_sanitize_header(s, "Cookie2", 6, &repl),
			 ST_SANITIZE_DROP);
	assert_int_equal(st_sanitize_header(s, "Cook", 4, &repl),
			 ST_SANITIZE_KEEP);
	assert_null(repl);
	assert_int_equal(st_sanitize_header(s, "X-Api-Key", 9, &repl),
			 ST_SANITIZE_REPLACE);
	assert_string_equal(repl, "REDACTED");
	assert_int_equal(st_sanitize_header(s, "Accept", 6, &repl),
			 ST_SANITIZE_KEEP);
	st_sanitizer_free(s);
}

static void
test_text(void **state)
{
	struct st_sanitizer *s = make_default();
	char out[256];

	(void)state;
	assert_int_equal(mask(s, "/pay?card=4111 1111 1111 1111&x=1", out,
			      sizeof(out)),
			 strlen("/pay?card=***&x=1"));
	assert_string_equal(out, "/pay?card=***&x=1");
	mask(s, "/u?mail=jane.doe%40example.com&n=2", out, sizeof(out));
	assert_string_equal(out, "/u?mail=***&n=2");
	/* several matches of both patterns, left to right */
	mask(s, "a@b.io 4111-1111-1111-1111 c@d.org 5500000000000004 end", out,
	     sizeof(out));
	assert_string_equal(out, "*** *** *** *** end");
	/* too short for a card, no domain for a mail */
	mask(s, "id=123456 to=jane@local", out, sizeof(out));
	assert_string_equal(out, "id=123456 to=jane@local");
	mask(s, "", out, sizeof(out));
	assert_string_equal(out, "");
	st_sanitizer_free(s);
}

static void
test_text_cut(void **state)
{
	struct st_sanitizer *s = make_default();
	char out[64];

	(void)state;
	/* cut inside the plain text */
	assert_int_equal(mask(s, "abcdefgh", out, 5), 4);
	assert_string_equal(out, "abcd");
	/* cut inside the mask: nothing of the card gets through */
	assert_int_equal(mask(s, "ab4111111111111111", out, 4), 3);
	assert_string_equal(out, "ab*");
	assert_int_equal(mask(s, "x", out, 1), 0);
	assert_string_equal(out, "");
	out[0] = 'z';
	assert_int_equal(st_sanitize_text(s, "x", 1, out, 0), 0);
	assert_int_equal(out[0], 'z');
	st_sanitizer_free(s);
}

static void
test_text_overlap(void **state)
{
	/* "b+c" starts later than "ab" but is longer; leftmost wins, and a
	 * match is never looked for inside a masked span. */
	static const char *const patterns[] = { "ab", "b+c", "^x" };
	struct st_sanitizer *s = make(patterns, 3);
	char out[64];

	(void)state;
	mask(s, "abc", out, sizeof(out));
	assert_string_equal(out, "***c");
	/* after a masked span the search goes on: "bc" is a match of its
	 * own; "^" holds only at the start of the text */
	mask(s, "abbc bbc xab", out, sizeof(out));
	assert_string_equal(out, "****** *** x***");
	mask(s, "xab", out, sizeof(out));
	assert_string_equal(out, "******");
	st_sanitizer_free(s);
}

static void
test_json(void **state)
{
	struct st_sanitizer *s = make_default();
	const char *in =
		"{\"user\": {\"Password\": \"hunter2\", \"name\": \"jane\","
		" \"cards\": [{\"n\": \"4111111111111111\", \"token\": 7},"
		" [\"mail me at a@b.io\", 3, null, {\"token\": {\"x\": 1}}]]},"
		" \"password\": [1, 2], \"n\": 4111111111111111}";
	const char *want =
		"{\"user\": {\"Password\": \"***\", \"name\": \"jane\","
		" \"cards\": [{\"n\": \"***\", \"token\": \"***\"},"
		" [\"mail me at ***\", 3, null, {\"token\": \"***\"}]]},"
		" \"password\": \"***\", \"n\": 4111111111111111}";
	json_t *doc = json_loads(in, 0, NULL), *exp = json_loads(want, 0, NULL);

	(void)state;
	assert_non_null(doc);
	assert_non_null(exp);
	st_sanitize_json(s, doc);
	assert_true(json_equal(doc, exp));
	json_decref(doc);
	json_decref(exp);

	doc = json_string("card 4111111111111111");
	st_sanitize_json(s, doc);
	assert_string_equal(json_string_value(doc), "card ***");
	json_decref(doc);
	st_sanitize_json(s, NULL);
	st_sanitizer_free(s);
}

static void
test_bad_patterns(void **state)
{
	struct st_replay_sanitize_conf c;
	struct st_sanitizer *s = NULL;
	char err[256] = "";

	(void)state;
	memset(&c, 0, sizeof(c));
	c.nb_patterns = 2;
	strcpy(c.patterns[0], CARD_RE);
	strcpy(c.patterns[1], "a(b");
	assert_int_equal(st_sanitizer_create(&c, &s, err, sizeof(err)),
			 -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "sanitize.patterns[1]: 'a(b'"));

	strcpy(c.patterns[1], "x*");
	assert_int_equal(st_sanitizer_create(&c, &s, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "matches the empty string"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_text_overlap),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_bad_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
