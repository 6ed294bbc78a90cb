/* SPDX-License-Identifier: BSD-3-Clause */
#include "sanitize.h"

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK_LEN (sizeof(ST_SANITIZE_MASK) - 1)

/* Texts shorter than this are copied or masked on the stack. */
#define STACK_BYTES 1024

struct st_sanitizer {
	struct st_replay_sanitize_conf conf;	/* names and values */
	unsigned int nb_patterns;		/* compiled so far */
	regex_t patterns[ST_REPLAY_MAX_SANITIZE];
};

/* Where a pattern matches next in a text; so < 0: nowhere. */
struct next_match {
	regoff_t so, eo;
};

int
st_sanitizer_create(const struct st_replay_sanitize_conf *c,
		    struct st_sanitizer **out, char *err, size_t errlen)
{
	struct st_sanitizer *s;
	unsigned int i;

	if (c->nb_patterns > ST_REPLAY_MAX_SANITIZE ||
	    c->nb_drop_headers > ST_REPLAY_MAX_SANITIZE ||
	    c->nb_replace_headers > ST_REPLAY_MAX_SANITIZE ||
	    c->nb_json_fields > ST_REPLAY_MAX_SANITIZE) {
		snprintf(err, errlen,
			 "sanitize: more than %d entries in a list",
			 ST_REPLAY_MAX_SANITIZE);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "sanitize: out of memory");
		return -ENOMEM;
	}
	s->conf = *c;
	for (i = 0; i < c->nb_patterns; i++) {
		const char *p = c->patterns[i];
		int rc = regcomp(&s->patterns[i], p, REG_EXTENDED);
		char why[128];

		if (rc != 0) {
			regerror(rc, &s->patterns[i], why, sizeof(why));
			snprintf(err, errlen, "sanitize.patterns[%u]: '%s': %s",
				 i, p, why);
			st_sanitizer_free(s);
			return rc == REG_ESPACE ? -ENOMEM : -EINVAL;
		}
		s->nb_patterns++;
		if (regexec(&s->patterns[i], "", 0, NULL, 0) == 0) {
			snprintf(err, errlen,
				 "sanitize.patterns[%u]: '%s': "
				 "matches the empty string",
				 i, p);
			st_sanitizer_free(s);
			return -EINVAL;
		}
	}
	*out = s;
	return 0;
}

void
st_sanitizer_free(struct st_sanitizer *s)
{
	unsigned int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nb_patterns; i++)
		regfree(&s->patterns[i]);
	free(s);
}

static bool
name_is(const char *conf_name, const char *name, size_t name_len)
{
	return strlen(conf_name) == name_len &&
	       strncasecmp(conf_name, name, name_len) == 0;
}

enum st_sanitize_header
st_sanitize_header(const struct st_sanitizer *s, const char *name,
		   size_t name_len, const char **replacement)
{
	unsigned int i;

	for (i = 0; i < s->conf.nb_drop_headers; i++)
		if (name_is(s->conf.drop_headers[i], name, name_len))
			return ST_SANITIZE_DROP;
	for (i = 0; i < s->conf.nb_replace_headers; i++) {
		const struct st_replay_header_sub *sub =
			&s->conf.replace_headers[i];

		if (name_is(sub->name, name, name_len)) {
			*replacement = sub->value;
			return ST_SANITIZE_REPLACE;
		}
	}
	return ST_SANITIZE_KEEP;
}

/*
 * The first non-empty match of @p re in in[from, len). REG_STARTEND (a
 * glibc and BSD extension) lets the text hold NUL bytes and keeps "^" at
 * the start of the whole text. An empty match at some
 * offset means no longer one starts there (leftmost-longest), so the
 * search resumes one byte further.
 */
static struct next_match
find_match(const regex_t *re, const char *in, size_t len, size_t from)
{
	struct next_match m = { -1, -1 };
	regmatch_t pm;

	while (from <= len) {
		pm.rm_so = (regoff_t)from;
		pm.rm_eo = (regoff_t)len;
		if (regexec(re, in, 1, &pm, REG_STARTEND) != 0)
			break;
		if (pm.rm_eo > pm.rm_so) {
			m.so = pm.rm_so;
			m.eo = pm.rm_eo;
			break;
		}
		from = (size_t)pm.rm_so + 1;
	}
	return m;
}

/* Append up to @p n bytes of @p p to @p out, keeping room for the NUL. */
static void
put(char *out, size_t outlen, size_t *w, const char *p, size_t n)
{
	size_t room = outlen - 1 - *w;

	if (n > room)
		n = room;
	memcpy(out + *w, p, n);
	*w += n;
}

/* Mask the NUL-terminated copy @p in of a text of @p len bytes. */
static size_t
mask_text(const struct st_sanitizer *s, const char *in, size_t len,
	  char *out, size_t outlen)
{
	struct next_match next[ST_REPLAY_MAX_SANITIZE];
	size_t pos = 0, w = 0;
	unsigned int i;

	for (i = 0; i < s->nb_patterns; i++)
		next[i] = find_match(&s->patterns[i], in, len, 0);
	while (w < outlen - 1) {
		int best = -1;

		/* Leftmost match of any pattern, the longest at a tie. */
		for (i = 0; i < s->nb_patterns; i++) {
			if (next[i].so < 0)
				continue;
			if (best < 0 || next[i].so < next[best].so ||
			    (next[i].so == next[best].so &&
			     next[i].eo > next[best].eo))
				best = (int)i;
		}
		if (best < 0)
			break;
		put(out, outlen, &w, in + pos, (size_t)next[best].so - pos);
		put(out, outlen, &w, ST_SANITIZE_MASK, MASK_LEN);
		pos = (size_t)next[best].eo;
		/* Matches overlapping the masked span are looked for again
		 * after it; the others still hold. */
		for (i = 0; i < s->nb_patterns; i++)
			if (next[i].so >= 0 && (size_t)next[i].so < pos)
				next[i] = find_match(&s->patterns[i], in, len,
						     pos);
	}
	put(out, outlen, &w, in + pos, len - pos);
	out[w] = '\0';
	return w;
}

size_t
st_sanitize_text(const struct st_sanitizer *s, const char *in, size_t len,
		 char *out, size_t outlen)
{
	char stack_buf[STACK_BYTES];
	char *z = stack_buf;
	size_t w = 0;

	if (outlen == 0)
		return 0;
	/* regexec() reads a NUL-terminated string even with REG_STARTEND
	 * where it is intercepted (AddressSanitizer), so it gets a copy. */
	if (len >= sizeof(stack_buf))
		z = malloc(len + 1);
	if (z == NULL) {
		/* Fail closed: nothing unmasked gets out. */
		put(out, outlen, &w, ST_SANITIZE_MASK, MASK_LEN);
		out[w] = '\0';
		return w;
	}
	memcpy(z, in, len);
	z[len] = '\0';
	w = mask_text(s, z, len, out, outlen);
	if (z != stack_buf)
		free(z);
	return w;
}

static bool
is_json_field(const struct st_sanitizer *s, const char *key)
{
	unsigned int i;

	for (i = 0; i < s->conf.nb_json_fields; i++)
		if (strcasecmp(s->conf.json_fields[i], key) == 0)
			return true;
	return false;
}

/* Mask a string value in place. @return 0, or -1 when memory ran out
 * (the string is then unchanged). */
static int
mask_string(const struct st_sanitizer *s, json_t *str)
{
	const char *in = json_string_value(str);
	size_t len = json_string_length(str), outlen, n;
	char stack_buf[STACK_BYTES];
	char *out = stack_buf;
	int rc = 0;

	if (s->nb_patterns == 0)
		return 0;
	/* A match is at least one byte and becomes MASK_LEN bytes. */
	outlen = len * MASK_LEN + 1;
	if (outlen > sizeof(stack_buf)) {
		out = malloc(outlen);
		if (out == NULL)
			return -1;
	}
	n = st_sanitize_text(s, in, len, out, outlen);
	if (n != len || memcmp(out, in, len) != 0)
		rc = json_string_setn(str, out, n);
	if (out != stack_buf)
		free(out);
	return rc;
}

static void sanitize_value(const struct st_sanitizer *s, json_t *v,
			   json_t *mask);

/*
 * Sanitize a member or element; when a string cannot be masked (memory
 * ran out, or masking cut a UTF-8 sequence jansson refuses), it is
 * replaced by null rather than left unmasked. @return the value to put in
 * its slot instead of @p v, or NULL to keep @p v.
 */
static json_t *
sanitize_child(const struct st_sanitizer *s, json_t *v, json_t *mask)
{
	if (json_is_string(v))
		return mask_string(s, v) == 0 ? NULL : json_null();
	sanitize_value(s, v, mask);
	return NULL;
}

static void
sanitize_value(const struct st_sanitizer *s, json_t *v, json_t *mask)
{
	json_t *repl;
	size_t i;
	void *it;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		for (it = json_object_iter(v); it != NULL;
		     it = json_object_iter_next(v, it)) {
			json_t *member = json_object_iter_value(it);

			if (is_json_field(s, json_object_iter_key(it)))
				repl = json_incref(mask);
			else
				repl = sanitize_child(s, member, mask);
			/* Replacing a value in place allocates nothing. */
			if (repl != NULL)
				json_object_iter_set_new(v, it, repl);
		}
		break;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++) {
			repl = sanitize_child(s, json_array_get(v, i), mask);
			if (repl != NULL)
				json_array_set_new(v, i, repl);
		}
		break;
	case JSON_STRING:
		/* Only the top level: nothing to replace it in. */
		mask_string(s, v);
		break;
	default:
		break;
	}
}

void
st_sanitize_json(const struct st_sanitizer *s, json_t *doc)
{
	json_t *mask;

	if (doc == NULL)
		return;
	/* One shared "***" for every masked member; null (a singleton that
	 * needs no memory) if even that cannot be allocated. */
	mask = json_string(ST_SANITIZE_MASK);
	sanitize_value(s, doc, mask != NULL ? mask : json_null());
	json_decref(mask);
}
