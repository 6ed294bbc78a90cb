/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Two answers compared (diff.h). It runs for every exchange, twice with a
 * secondary, so the common case, equal answers, is kept cheap: identical
 * bodies (after decoding) are never parsed; JSON paths are written, noise
 * rules looked at and samples masked only for a difference (the walk
 * keeps a chain of frames on the stack, not a path string); members are
 * looked up by key, never by scanning. What a call has reported lives in
 * a small hash set made on its first JSON difference.
 */
#include "diff.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZLIB_CONST	/* next_in points to const bytes */
#include <zlib.h>

/* The body excerpt of a sample: bytes shown before the first difference,
 * and bytes masked beyond each edge, then dropped (see diff.h). */
#define EXCERPT_BEFORE 32
#define EXCERPT_MARGIN 128

/* A masked path: a match of at least one byte becomes "***". */
#define MASKED_PATH_MAX (3 * ST_DIFF_PATH_MAX)

/* Reported (kind, masked path) keys, plus as many raw paths that led to
 * them: the table is at most half full. */
#define SEEN_SLOTS (4 * ST_DIFF_REPORTS_MAX)

#define CUT_MARK "..."
#define CUT_MARK_LEN (sizeof(CUT_MARK) - 1)

struct noise_rule {
	int route;			/* -1: every route */
	bool header;
	size_t path_len;
	char path[ST_REPLAY_PATH_MAX];
	enum st_replay_noise_action action;
	double tolerance;
	bool compiled;			/* re holds the PATTERN */
	regex_t re;
};

struct st_differ {
	const struct st_sanitizer *san;
	unsigned int nb_headers;
	size_t header_len[ST_REPLAY_MAX_COMPARE_HEADERS];
	char headers[ST_REPLAY_MAX_COMPARE_HEADERS][ST_HEADER_NAME_MAX];
	unsigned int nb_rules;
	struct noise_rule rules[ST_REPLAY_MAX_NOISE];
};

/* A growable NUL-terminated text. */
struct strbuf {
	char *p;
	size_t len, cap;
};

/* The (kind, path) keys a call has seen: open addressing on a 64-bit
 * hash, keys (a kind byte, the path, NUL) one after another in keys. */
struct seen {
	uint64_t hash[SEEN_SLOTS];
	uint32_t off[SEEN_SLOTS];	/* of the key in keys; 0: free */
	unsigned int nb_raw;		/* raw paths kept, at most
					 * ST_DIFF_REPORTS_MAX */
	struct strbuf keys;
};

/* One call of st_diff_answers(). */
struct diff_call {
	const struct st_differ *d;
	int route;
	st_diff_fn fn;
	void *arg;
	int reported;
	int err;			/* -ENOMEM once memory ran out */
	bool stop;			/* err, or the last report made */
	struct seen *seen;		/* made on the first JSON one */
	struct strbuf primary_buf;	/* a header's values on each side */
	struct strbuf other_buf;
	size_t path_len;
	bool path_cut;
	char path[ST_DIFF_PATH_MAX];	/* the difference at hand's, raw */
};

/* A step of the JSON walk; its path is written only for a difference. */
struct frame {
	const struct frame *up;		/* NULL at "$" */
	const char *key;		/* the member's; NULL: an element */
	size_t key_len;
};

/* One side's value as noise rules see it: a JSON value, or a header's
 * text; absent when both are NULL. */
struct side {
	json_t *json;
	const char *text;		/* NUL-terminated */
	size_t text_len;
};

/* A body as compared: decoded, or as it came. */
struct body {
	const uint8_t *data;
	size_t len;
	bool cut;
	uint8_t *owned;			/* decoded bytes, freed after */
};

static const char *const kind_names[ST_DIFF_KINDS] = {
	[ST_DIFF_STATUS] = "status",
	[ST_DIFF_HEADER] = "header",
	[ST_DIFF_BODY] = "body",
	[ST_DIFF_JSON_VALUE] = "json_value",
	[ST_DIFF_JSON_TYPE] = "json_type",
	[ST_DIFF_JSON_MISSING] = "json_missing",
	[ST_DIFF_JSON_EXTRA] = "json_extra",
};

const char *
st_diff_kind_name(enum st_diff_kind k)
{
	if ((unsigned int)k >= ST_DIFF_KINDS)
		return NULL;
	return kind_names[k];
}

int
st_differ_create(const struct st_replay_compare_conf *c,
		 const struct st_sanitizer *san, struct st_differ **out,
		 char *err, size_t errlen)
{
	struct st_differ *d;
	unsigned int i;

	if (c->nb_headers > ST_REPLAY_MAX_COMPARE_HEADERS ||
	    c->nb_noise > ST_REPLAY_MAX_NOISE) {
		snprintf(err, errlen, "compare: more than %d headers or %d "
			 "noise rules", ST_REPLAY_MAX_COMPARE_HEADERS,
			 ST_REPLAY_MAX_NOISE);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "compare: out of memory");
		return -ENOMEM;
	}
	d->san = san;
	d->nb_headers = c->nb_headers;
	for (i = 0; i < c->nb_headers; i++) {
		memcpy(d->headers[i], c->headers[i], sizeof(d->headers[i]));
		d->headers[i][sizeof(d->headers[i]) - 1] = '\0';
		d->header_len[i] = strlen(d->headers[i]);
	}
	for (i = 0; i < c->nb_noise; i++) {
		const struct st_replay_noise_rule *n = &c->noise[i];
		struct noise_rule *r = &d->rules[i];
		char why[128];
		int rc;

		r->route = n->route;
		r->header = n->header;
		memcpy(r->path, n->path, sizeof(r->path));
		r->path[sizeof(r->path) - 1] = '\0';
		r->path_len = strlen(r->path);
		r->action = n->action;
		r->tolerance = n->tolerance;
		d->nb_rules++;
		if (n->action != ST_NOISE_PATTERN)
			continue;
		rc = regcomp(&r->re, n->pattern, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			regerror(rc, &r->re, why, sizeof(why));
			snprintf(err, errlen, "compare.noise[%u]: '%s': %s", i,
				 n->pattern, why);
			st_differ_free(d);
			return rc == REG_ESPACE ? -ENOMEM : -EINVAL;
		}
		r->compiled = true;
	}
	*out = d;
	return 0;
}

void
st_differ_free(struct st_differ *d)
{
	unsigned int i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nb_rules; i++)
		if (d->rules[i].compiled)
			regfree(&d->rules[i].re);
	free(d);
}

static void
fail(struct diff_call *c, int err)
{
	c->err = err;
	c->stop = true;
}

static void
emit(struct diff_call *c, enum st_diff_kind kind, const char *path,
     const char *primary, const char *other)
{
	const struct st_diff diff = { kind, path, primary, other };

	c->fn(c->arg, &diff);
	if (++c->reported == ST_DIFF_REPORTS_MAX)
		c->stop = true;
}

/* --- text ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates) at @p s, or 0. */
static size_t
utf8_len(const uint8_t *s, size_t n)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Write @p ch as an escape; @return its length. */
static size_t
escape_byte(char esc[5], uint8_t ch)
{
	if (ch == '\t' || ch == '\n' || ch == '\r') {
		esc[0] = '\\';
		esc[1] = ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r';
		return 2;
	}
	snprintf(esc, 5, "\\x%02x", ch);
	return 4;
}

/*
 * Append @p len bytes of @p in to @p out (which holds *w bytes) as
 * printable UTF-8, for the JSON documents samples end up in: control
 * characters and bytes of no valid sequence become \xHH (\t, \n, \r).
 * Cut on a character boundary to fit @p outlen - 1; NUL-terminated.
 * @return whether all of it fit.
 */
static bool
put_text(char *out, size_t outlen, size_t *w, const char *in, size_t len)
{
	const uint8_t *s = (const uint8_t *)in;
	bool all = true;
	size_t i = 0;
	char esc[5];

	while (i < len) {
		size_t take = utf8_len(s + i, len - i), put = take;
		const char *unit = in + i;

		if (take == 0 || (take == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			put = escape_byte(esc, s[i]);
			unit = esc;
			take = 1;
		}
		if (*w + put > outlen - 1) {
			all = false;
			break;
		}
		memcpy(out + *w, unit, put);
		*w += put;
		i += take;
	}
	out[*w] = '\0';
	return all;
}

/* Mask a text and write it as a sample. */
static void
text_sample(const struct st_differ *d, const char *in, size_t len,
	    char out[ST_DIFF_SAMPLE_MAX])
{
	char masked[ST_DIFF_SAMPLE_MAX];
	size_t n, w = 0;

	n = st_sanitize_text(d->san, in, len, masked, sizeof(masked));
	put_text(out, ST_DIFF_SAMPLE_MAX, &w, masked, n);
}

static int
sb_reserve(struct strbuf *b, size_t more)
{
	size_t cap = b->cap > 0 ? b->cap : 256;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return 0;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void
sb_append(struct strbuf *b, const char *s, size_t len)
{
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static bool
is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * The values of @p m's fields named @p name, trimmed and joined with
 * ", ", into @p b. @return 1 when there was one, 0 when not, -ENOMEM.
 */
static int
join_fields(const struct st_record_message *m, const char *name,
	    size_t name_len, struct strbuf *b)
{
	bool present = false;
	unsigned int i;

	b->len = 0;
	if (sb_reserve(b, 0) != 0)
		return -ENOMEM;
	b->p[0] = '\0';
	for (i = 0; i < m->nb_fields; i++) {
		const struct st_http_field *f = &m->fields[i];
		const char *v = f->value;
		size_t vlen = f->value_len;

		if (f->name_len != name_len ||
		    strncasecmp(f->name, name, name_len) != 0)
			continue;
		while (vlen > 0 && is_ows(v[0])) {
			v++;
			vlen--;
		}
		while (vlen > 0 && is_ows(v[vlen - 1]))
			vlen--;
		if (sb_reserve(b, vlen + 2) != 0)
			return -ENOMEM;
		if (present)
			sb_append(b, ", ", 2);
		sb_append(b, v, vlen);
		present = true;
	}
	return present;
}

/* --- noise --------------------------------------------------------------- */

static bool
side_present(const struct side *s)
{
	return s->json != NULL || s->text != NULL;
}

static bool
side_number(const struct side *s, double *v)
{
	char *end;

	if (s->json != NULL) {
		*v = json_number_value(s->json);
		return json_is_number(s->json);
	}
	if (s->text == NULL || s->text_len == 0)
		return false;
	*v = strtod(s->text, &end);
	return end == s->text + s->text_len && isfinite(*v);
}

/* The text a PATTERN sees, NUL-terminated; NULL for other values. */
static const char *
side_text(const struct side *s, char *buf, size_t buflen, size_t *len)
{
	double v;
	int prec;

	if (s->json == NULL) {
		*len = s->text_len;
		return s->text;
	}
	switch (json_typeof(s->json)) {
	case JSON_STRING:
		*len = json_string_length(s->json);
		return json_string_value(s->json);
	case JSON_INTEGER:
		*len = (size_t)snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT,
					json_integer_value(s->json));
		return buf;
	case JSON_REAL:
		/* The shortest form that reads back as the same number,
		 * as the number was most likely written. */
		v = json_real_value(s->json);
		for (prec = 15; prec <= 17; prec++) {
			*len = (size_t)snprintf(buf, buflen, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		return buf;
	default:
		return NULL;
	}
}

static bool
side_matches(const struct noise_rule *r, const struct side *s)
{
	char buf[32];
	regmatch_t m;
	size_t len;
	const char *t = side_text(s, buf, sizeof(buf), &len);

	if (t == NULL)
		return false;
	/* REG_STARTEND: a JSON string may hold NUL bytes. */
	m.rm_so = 0;
	m.rm_eo = (regoff_t)len;
	return regexec(&r->re, t, 1, &m, REG_STARTEND) == 0;
}

/* Whether rule @p r makes the two values equal. */
static bool
rule_equates(const struct noise_rule *r, const struct side *p,
	     const struct side *o)
{
	double a, b;

	switch (r->action) {
	case ST_NOISE_IGNORE:
		return true;
	case ST_NOISE_PRESENCE:
		return side_present(p) && side_present(o);
	case ST_NOISE_TOLERANCE:
		return side_number(p, &a) && side_number(o, &b) &&
		       fabs(a - b) <= r->tolerance;
	case ST_NOISE_PATTERN:
		return side_matches(r, p) && side_matches(r, o);
	}
	return false;
}

static bool
rule_for_route(const struct noise_rule *r, int route)
{
	return r->route < 0 || r->route == route;
}

static bool
header_is_noise(const struct diff_call *c, const char *name,
		const struct side *p, const struct side *o)
{
	unsigned int i;

	for (i = 0; i < c->d->nb_rules; i++) {
		const struct noise_rule *r = &c->d->rules[i];

		if (r->header && rule_for_route(r, c->route) &&
		    strcasecmp(r->path, name) == 0 && rule_equates(r, p, o))
			return true;
	}
	return false;
}

/* The difference at hand (c->path) with these values. */
static bool
json_is_noise(const struct diff_call *c, json_t *pv, json_t *ov)
{
	const struct side p = { pv, NULL, 0 }, o = { ov, NULL, 0 };
	unsigned int i;

	for (i = 0; i < c->d->nb_rules; i++) {
		const struct noise_rule *r = &c->d->rules[i];
		size_t n = r->path_len;

		if (r->header || !rule_for_route(r, c->route) ||
		    n > c->path_len || memcmp(r->path, c->path, n) != 0)
			continue;
		/* Below the rule's path (on a component boundary), the
		 * rule's node is present on both sides. */
		if (n < c->path_len) {
			if (c->path[n] != '.' && c->path[n] != '[')
				continue;
			if (r->action == ST_NOISE_PRESENCE)
				return true;
		}
		if (rule_equates(r, &p, &o))
			return true;
	}
	return false;
}

/* --- status and headers -------------------------------------------------- */

static void
compare_status(struct diff_call *c, const struct st_record_message *p,
	       const struct st_record_message *o)
{
	char ps[16], os[16];

	if (p->status == o->status)
		return;
	snprintf(ps, sizeof(ps), "%d", p->status);
	snprintf(os, sizeof(os), "%d", o->status);
	emit(c, ST_DIFF_STATUS, "status", ps, os);
}

static void
compare_headers(struct diff_call *c, const struct st_record_message *p,
		const struct st_record_message *o)
{
	struct strbuf *pb = &c->primary_buf, *ob = &c->other_buf;
	char ps[ST_DIFF_SAMPLE_MAX], os[ST_DIFF_SAMPLE_MAX];
	unsigned int i;

	for (i = 0; i < c->d->nb_headers && !c->stop; i++) {
		const char *name = c->d->headers[i];
		int p_has = join_fields(p, name, c->d->header_len[i], pb);
		int o_has = join_fields(o, name, c->d->header_len[i], ob);
		struct side ps_side = { NULL, p_has > 0 ? pb->p : NULL,
					pb->len };
		struct side os_side = { NULL, o_has > 0 ? ob->p : NULL,
					ob->len };

		if (p_has < 0 || o_has < 0) {
			fail(c, -ENOMEM);
			return;
		}
		if (p_has == o_has && pb->len == ob->len &&
		    memcmp(pb->p, ob->p, pb->len) == 0)
			continue;
		if (header_is_noise(c, name, &ps_side, &os_side))
			continue;
		text_sample(c->d, pb->p, pb->len, ps);
		text_sample(c->d, ob->p, ob->len, os);
		emit(c, ST_DIFF_HEADER, name, ps, os);
	}
}

/* --- bodies -------------------------------------------------------------- */

/*
 * Inflate @p in with zlib's @p window_bits into @p b, at most
 * ST_DIFF_DECODED_MAX bytes. @return 0 (b->cut when the stream broke or
 * decodes to more), -EBADMSG when nothing could be decoded because the
 * stream is not of this format (b untouched), -ENOMEM.
 */
static int
inflate_body(const uint8_t *in, size_t in_len, int window_bits,
	     struct body *b)
{
	size_t cap = in_len < ST_DIFF_DECODED_MAX / 4 ? 4 * in_len :
						       ST_DIFF_DECODED_MAX;
	size_t len = 0;
	bool cut = false;
	uint8_t *out, *grown;
	z_stream zs;
	int zrc;

	if (cap < 4096)
		cap = 4096;
	out = malloc(cap);
	if (out == NULL)
		return -ENOMEM;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, window_bits) != Z_OK) {
		free(out);
		return -ENOMEM;
	}
	zs.next_in = in;
	zs.avail_in = (uInt)in_len;
	for (;;) {
		if (len == cap) {
			if (cap == ST_DIFF_DECODED_MAX) {
				cut = true;
				break;
			}
			cap = cap < ST_DIFF_DECODED_MAX / 2 ?
				      2 * cap : ST_DIFF_DECODED_MAX;
			grown = realloc(out, cap);
			if (grown == NULL) {
				zrc = Z_MEM_ERROR;
				break;
			}
			out = grown;
		}
		zs.next_out = out + len;
		zs.avail_out = (uInt)(cap - len);
		zrc = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
		if (zrc == Z_STREAM_END)
			break;
		if (zrc == Z_OK)
			continue;
		/* Out of input (Z_BUF_ERROR) is a cut stream; an error
		 * after some output, a corrupt one. */
		if (zrc != Z_MEM_ERROR && (zrc == Z_BUF_ERROR || len > 0))
			cut = true;
		break;
	}
	inflateEnd(&zs);
	if (zrc == Z_MEM_ERROR || (!cut && zrc != Z_STREAM_END)) {
		free(out);
		return zrc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	}
	b->owned = out;
	b->data = out;
	b->len = len;
	b->cut = cut;
	return 0;
}

/* @p m's body decoded by its Content-Encoding, or as it came. */
static int
decode_body(const struct st_record_message *m, struct strbuf *buf,
	    struct body *b)
{
	static const char name[] = "content-encoding";
	int window_bits, rc;

	b->data = m->body != NULL ? m->body : (const uint8_t *)"";
	b->len = m->body_len;
	b->cut = m->body_truncated;
	b->owned = NULL;
	rc = join_fields(m, name, sizeof(name) - 1, buf);
	if (rc <= 0)
		return rc;
	if (strcasecmp(buf->p, "gzip") == 0 ||
	    strcasecmp(buf->p, "x-gzip") == 0)
		window_bits = 15 + 32;	/* gzip, or zlib: detected */
	else if (strcasecmp(buf->p, "deflate") == 0)
		window_bits = 15;	/* zlib, as RFC 9110 says */
	else
		return 0;
	rc = inflate_body(b->data, b->len, window_bits, b);
	/* Many servers send "deflate" as raw deflate. */
	if (rc == -EBADMSG && window_bits == 15)
		rc = inflate_body(b->data, b->len, -15, b);
	if (rc == -EBADMSG)
		return 0;
	b->cut |= m->body_truncated;
	return rc;
}

/* Whether @p m's Content-Type is JSON: application/json or any "+json"
 * type, parameters ignored. @return 1, 0 or -ENOMEM. */
static int
is_json(const struct st_record_message *m, struct strbuf *buf)
{
	static const char name[] = "content-type";
	static const char suffix[] = "+json";
	const size_t suffix_len = sizeof(suffix) - 1;
	const char *slash;
	size_t len;
	int rc;

	rc = join_fields(m, name, sizeof(name) - 1, buf);
	if (rc <= 0)
		return rc;
	len = strcspn(buf->p, ";,");
	while (len > 0 && is_ows(buf->p[len - 1]))
		len--;
	buf->p[len] = '\0';
	if (strcasecmp(buf->p, "application/json") == 0)
		return 1;
	slash = strchr(buf->p, '/');
	return slash != NULL &&
	       (size_t)(buf->p + len - slash) > suffix_len + 1 &&
	       strcasecmp(buf->p + len - suffix_len, suffix) == 0;
}

/*
 * A sample of a body differing at @p off (see diff.h). The excerpt is
 * masked with a margin on each side, dropped after masking: a value cut
 * by the window's edge may escape its pattern, and it sits in the
 * margin.
 */
static void
body_sample(const struct st_differ *d, const struct body *b, size_t off,
	    char out[ST_DIFF_SAMPLE_MAX])
{
	char masked[3 * (EXCERPT_BEFORE + ST_DIFF_SAMPLE_MAX +
			 2 * EXCERPT_MARGIN) + 1];
	const size_t before = EXCERPT_BEFORE + EXCERPT_MARGIN;
	size_t from = 0, to = 0, n = 0, w;
	bool all;
	size_t start = off > before ? off - before : 0;
	size_t end = b->len - off > ST_DIFF_SAMPLE_MAX + EXCERPT_MARGIN ?
			     off + ST_DIFF_SAMPLE_MAX + EXCERPT_MARGIN :
			     b->len;

	if (end > start) {
		n = st_sanitize_text(d->san, (const char *)b->data + start,
				     end - start, masked, sizeof(masked));
		from = n < EXCERPT_MARGIN ? n : EXCERPT_MARGIN;
		if (start == 0)
			from = 0;
		to = n;
		if (end < b->len)
			to = n > from + EXCERPT_MARGIN ? n - EXCERPT_MARGIN :
							 from;
	}
	w = (size_t)snprintf(out, ST_DIFF_SAMPLE_MAX, "@%zu/%zu%s: %s", off,
			     b->len, b->cut ? "+" : "",
			     start > 0 ? CUT_MARK : "");
	all = put_text(out, ST_DIFF_SAMPLE_MAX - CUT_MARK_LEN, &w,
		       masked + from, to - from);
	if (!all || end < b->len)
		memcpy(out + w, CUT_MARK, sizeof(CUT_MARK));
}

/* --- JSON ---------------------------------------------------------------- */

/* Write @p s as the inside of a JSON string at @p out. @return bytes
 * written, or SIZE_MAX when they would be more than @p room. */
static size_t
put_escaped(char *out, size_t room, const char *s, size_t len)
{
	static const char short_escapes[] = "\b\f\n\r\t";
	static const char short_letters[] = "bfnrt";
	size_t w = 0, i, n;
	char esc[8];

	for (i = 0; i < len; i++) {
		const uint8_t ch = (uint8_t)s[i];

		const char *short_esc = strchr(short_escapes, ch);

		esc[0] = '\\';
		if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			n = 2;
		} else if (ch != 0 && short_esc != NULL) {
			esc[1] = short_letters[short_esc - short_escapes];
			n = 2;
		} else if (ch < 0x20) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", ch);
		} else {
			n = 1;
		}
		if (w + n > room)
			return SIZE_MAX;
		memcpy(out + w, n == 1 ? s + i : esc, n);
		w += n;
	}
	return w;
}

static bool
is_identifier(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* Write @p f's own path component at @p at. @return its length, or 0
 * when it is longer than @p room. */
static size_t
put_component(char *at, size_t room, const struct frame *f)
{
	size_t n;

	if (f->key == NULL) {
		if (room < 3)
			return 0;
		memcpy(at, "[*]", 3);
		return 3;
	}
	if (is_identifier(f->key, f->key_len)) {
		if (1 + f->key_len > room)
			return 0;
		at[0] = '.';
		memcpy(at + 1, f->key, f->key_len);
		return 1 + f->key_len;
	}
	if (room < 4)
		return 0;
	n = put_escaped(at + 2, room - 4, f->key, f->key_len);
	if (n == SIZE_MAX)
		return 0;
	memcpy(at, "[\"", 2);
	memcpy(at + 2 + n, "\"]", 2);
	return n + 4;
}

/* Write @p f's path into c->path: "$" and the components that fit, room
 * being kept for the cut mark. */
static void
path_put(struct diff_call *c, const struct frame *f)
{
	const size_t room = sizeof(c->path) - 1 - CUT_MARK_LEN;
	size_t n;

	if (f->up == NULL) {
		c->path[0] = '$';
		c->path_len = 1;
		c->path_cut = false;
	} else {
		path_put(c, f->up);
		if (c->path_cut)
			return;
		n = put_component(c->path + c->path_len, room - c->path_len,
				  f);
		if (n == 0) {
			memcpy(c->path + c->path_len, CUT_MARK, CUT_MARK_LEN);
			n = CUT_MARK_LEN;
			c->path_cut = true;
		}
		c->path_len += n;
	}
	c->path[c->path_len] = '\0';
}

static uint64_t
key_hash(enum st_diff_kind kind, const char *path, size_t len)
{
	uint64_t h = 14695981039346656037ull;	/* FNV-1a */
	size_t i;

	h = (h ^ (uint64_t)kind) * 1099511628211ull;
	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)path[i]) * 1099511628211ull;
	return h;
}

/* The slot of (kind, path), or the free one where it would go. Paths
 * hold no NUL (keys are escaped, masks and samples write none). */
static size_t
seen_slot(const struct seen *s, uint64_t h, enum st_diff_kind kind,
	  const char *path, size_t len)
{
	size_t i = h & (SEEN_SLOTS - 1);

	while (s->off[i] != 0) {
		const char *key = s->keys.p + s->off[i];

		if (s->hash[i] == h && key[0] == (char)kind &&
		    strncmp(key + 1, path, len) == 0 && key[1 + len] == '\0')
			return i;
		i = (i + 1) & (SEEN_SLOTS - 1);
	}
	return i;
}

static bool
seen_has(const struct diff_call *c, enum st_diff_kind kind, const char *path,
	 size_t len)
{
	const struct seen *s = c->seen;

	return s != NULL &&
	       s->off[seen_slot(s, key_hash(kind, path, len), kind, path,
				len)] != 0;
}

/* Add (kind, path), known to be absent. @return 0 or -ENOMEM. */
static int
seen_add(struct diff_call *c, enum st_diff_kind kind, const char *path,
	 size_t len)
{
	const char kind_byte = (char)kind;
	uint64_t h = key_hash(kind, path, len);
	struct seen *s = c->seen;
	size_t i;

	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		c->seen = s;
	}
	if (s->keys.len == 0)
		s->keys.len = 1;	/* offset 0 marks a free slot */
	if (sb_reserve(&s->keys, 1 + len + 1) != 0)
		return -ENOMEM;
	i = seen_slot(s, h, kind, path, len);
	s->hash[i] = h;
	s->off[i] = (uint32_t)s->keys.len;
	sb_append(&s->keys, &kind_byte, 1);
	sb_append(&s->keys, path, len);
	s->keys.len++;			/* past the key's NUL */
	return 0;
}

/* Keep the raw path of a difference already reported under its masked
 * path, so that the next one there is skipped before masking. */
static int
seen_add_raw(struct diff_call *c, enum st_diff_kind kind)
{
	if (c->seen != NULL && c->seen->nb_raw == ST_DIFF_REPORTS_MAX)
		return 0;
	if (seen_add(c, kind, c->path, c->path_len) != 0)
		return -ENOMEM;
	c->seen->nb_raw++;
	return 0;
}

/* Collects a compact JSON text, at most a sample's bytes and a UTF-8
 * sequence more, so that put_text() cuts it on a character boundary. */
struct dump_buf {
	size_t len;
	char text[ST_DIFF_SAMPLE_MAX + 4];
};

static int
dump_put(const char *buf, size_t size, void *arg)
{
	struct dump_buf *db = arg;
	size_t n = sizeof(db->text) - db->len;

	if (n > size)
		n = size;
	memcpy(db->text + db->len, buf, n);
	db->len += n;
	return n < size ? -1 : 0;
}

/* @p doc as the member @p key of a new object; NULL when memory ran out
 * (@p doc is freed then). */
static json_t *
wrap_under(json_t *doc, const char *key, size_t key_len)
{
	json_t *wrap = json_object();

	if (wrap == NULL) {
		json_decref(doc);
		return NULL;
	}
	if (json_object_setn_new(wrap, key, key_len, doc) != 0) {
		json_decref(wrap);
		return NULL;
	}
	return wrap;
}

/*
 * A JSON value's sample: a copy wrapped under the keys of its path
 * ({"a": {"b": v}} for $.a[*].b; arrays do not change what is masked),
 * masked by st_sanitize_json() as the whole document would be, then
 * unwrapped: a member of "password" is "***" however deep it sits.
 */
static void
json_sample(const struct st_differ *d, const struct frame *f, json_t *v,
	    char out[ST_DIFF_SAMPLE_MAX])
{
	struct dump_buf db;
	size_t depth = 0, w = 0;
	json_t *doc;

	out[0] = '\0';
	if (v == NULL)
		return;
	doc = json_deep_copy(v);
	for (; doc != NULL && f->up != NULL; f = f->up) {
		if (f->key == NULL)
			continue;
		doc = wrap_under(doc, f->key, f->key_len);
		depth++;
	}
	/* In an object, a string that cannot be masked becomes null; a
	 * bare one would be left as it is. */
	if (doc != NULL && depth == 0) {
		doc = wrap_under(doc, "", 0);
		depth++;
	}
	if (doc == NULL) {
		/* Fail closed: nothing unmasked gets out. */
		snprintf(out, ST_DIFF_SAMPLE_MAX, "%s", ST_SANITIZE_MASK);
		return;
	}
	st_sanitize_json(d->san, doc);
	/* A wrapper stops being an object where a key masked it. */
	for (v = doc; depth > 0 && json_is_object(v); depth--)
		v = json_object_iter_value(json_object_iter(v));
	db.len = 0;
	json_dump_callback(v, dump_put, &db, JSON_COMPACT | JSON_ENCODE_ANY);
	put_text(out, ST_DIFF_SAMPLE_MAX, &w, db.text, db.len);
	json_decref(doc);
}

/* A difference in the JSON walk: reported unless already, or noise. */
static void
json_diff(struct diff_call *c, enum st_diff_kind kind, const struct frame *f,
	  json_t *pv, json_t *ov)
{
	char masked[MASKED_PATH_MAX], path[MASKED_PATH_MAX];
	char ps[ST_DIFF_SAMPLE_MAX], os[ST_DIFF_SAMPLE_MAX];
	size_t n, w = 0;
	int rc;

	if (c->stop)
		return;
	path_put(c, f);
	if (seen_has(c, kind, c->path, c->path_len) ||
	    json_is_noise(c, pv, ov))
		return;
	n = st_sanitize_text(c->d->san, c->path, c->path_len, masked,
			     sizeof(masked));
	put_text(path, sizeof(path), &w, masked, n);
	if (w == c->path_len && memcmp(path, c->path, w) == 0) {
		rc = seen_add(c, kind, path, w);
	} else {
		rc = seen_add_raw(c, kind);
		if (rc == 0 && seen_has(c, kind, path, w))
			return;
		if (rc == 0)
			rc = seen_add(c, kind, path, w);
	}
	if (rc != 0) {
		fail(c, rc);
		return;
	}
	json_sample(c->d, f, pv, ps);
	json_sample(c->d, f, ov, os);
	emit(c, kind, path, ps, os);
}

/* Types as compared: true and false are one (booleans), and so are
 * integers and reals (numbers). */
static json_type
type_class(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_TRUE:
		return JSON_FALSE;
	case JSON_REAL:
		return JSON_INTEGER;
	default:
		return json_typeof(v);
	}
}

static bool
scalars_equal(const json_t *p, const json_t *o)
{
	switch (json_typeof(p)) {
	case JSON_STRING:
		return json_string_length(p) == json_string_length(o) &&
		       memcmp(json_string_value(p), json_string_value(o),
			      json_string_length(p)) == 0;
	case JSON_INTEGER:
	case JSON_REAL:
		/* Two integers exactly: a double holds 53 bits. */
		if (json_is_integer(p) && json_is_integer(o))
			return json_integer_value(p) == json_integer_value(o);
		return json_number_value(p) == json_number_value(o);
	case JSON_TRUE:
	case JSON_FALSE:
		return json_typeof(p) == json_typeof(o);
	default:
		return true;
	}
}

static void compare_json(struct diff_call *c, const struct frame *f,
			 json_t *p, json_t *o);

/* Members by key: a lookup in the other object for each, so the work is
 * linear whatever the order. */
static void
compare_objects(struct diff_call *c, const struct frame *up, json_t *p,
		json_t *o)
{
	size_t found = 0;
	void *it;

	for (it = json_object_iter(p); it != NULL && !c->stop;
	     it = json_object_iter_next(p, it)) {
		const struct frame f = { up, json_object_iter_key(it),
					 json_object_iter_key_len(it) };
		json_t *ov = json_object_getn(o, f.key, f.key_len);

		if (ov == NULL) {
			json_diff(c, ST_DIFF_JSON_MISSING, &f,
				  json_object_iter_value(it), NULL);
			continue;
		}
		found++;
		compare_json(c, &f, json_object_iter_value(it), ov);
	}
	/* Keys are unique: when each of o's was found, none is extra. */
	if (found == json_object_size(o))
		return;
	for (it = json_object_iter(o); it != NULL && !c->stop;
	     it = json_object_iter_next(o, it)) {
		const struct frame f = { up, json_object_iter_key(it),
					 json_object_iter_key_len(it) };

		if (json_object_getn(p, f.key, f.key_len) == NULL)
			json_diff(c, ST_DIFF_JSON_EXTRA, &f, NULL,
				  json_object_iter_value(it));
	}
}

static void
compare_arrays(struct diff_call *c, const struct frame *up, json_t *p,
	       json_t *o)
{
	const struct frame f = { up, NULL, 0 };
	size_t np = json_array_size(p), no = json_array_size(o);
	size_t n = np < no ? np : no, i;

	for (i = 0; i < n && !c->stop; i++)
		compare_json(c, &f, json_array_get(p, i), json_array_get(o, i));
	/* Every element has the path PATH[*]: the first one is enough. */
	if (np > n)
		json_diff(c, ST_DIFF_JSON_MISSING, &f, json_array_get(p, n),
			  NULL);
	else if (no > n)
		json_diff(c, ST_DIFF_JSON_EXTRA, &f, NULL,
			  json_array_get(o, n));
}

static void
compare_json(struct diff_call *c, const struct frame *f, json_t *p,
	     json_t *o)
{
	if (c->stop)
		return;
	if (type_class(p) != type_class(o))
		json_diff(c, ST_DIFF_JSON_TYPE, f, p, o);
	else if (json_is_object(p))
		compare_objects(c, f, p, o);
	else if (json_is_array(p))
		compare_arrays(c, f, p, o);
	else if (!scalars_equal(p, o))
		json_diff(c, ST_DIFF_JSON_VALUE, f, p, o);
}

static json_t *
parse(const struct body *b, bool *oom)
{
	json_error_t error;
	json_t *doc;

	doc = json_loadb((const char *)b->data, b->len,
			 JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
	if (doc == NULL && json_error_code(&error) == json_error_out_of_memory)
		*oom = true;
	return doc;
}

/* Compare two complete bodies by JSON path when both parse. @return
 * whether they did (or memory ran out): nothing left to compare. */
static bool
compare_json_bodies(struct diff_call *c, const struct body *pb,
		    const struct body *ob)
{
	const struct frame root = { NULL, NULL, 0 };
	bool oom = false;
	json_t *p, *o = NULL;

	p = parse(pb, &oom);
	if (p != NULL)
		o = parse(ob, &oom);
	if (oom)
		fail(c, -ENOMEM);
	else if (o != NULL)
		compare_json(c, &root, p, o);
	json_decref(p);
	json_decref(o);
	return oom || o != NULL;
}

static void
compare_bodies(struct diff_call *c, const struct st_record_message *p,
	       const struct st_record_message *o)
{
	struct body pb = { NULL, 0, false, NULL }, ob = pb;
	char ps[ST_DIFF_SAMPLE_MAX], os[ST_DIFF_SAMPLE_MAX];
	size_t n, off = 0;
	bool cut;
	int rc, json;

	rc = decode_body(p, &c->primary_buf, &pb);
	if (rc == 0)
		rc = decode_body(o, &c->other_buf, &ob);
	if (rc < 0)
		goto out;
	n = pb.len < ob.len ? pb.len : ob.len;
	cut = pb.cut || ob.cut;
	if (memcmp(pb.data, ob.data, n) != 0)
		while (pb.data[off] == ob.data[off])
			off++;
	else
		off = n;
	/* Equal bytes are equal JSON too: the common case is not parsed. */
	if (off == n && (cut || pb.len == ob.len))
		goto out;
	if (!cut) {
		json = is_json(p, &c->primary_buf);
		if (json > 0)
			json = is_json(o, &c->other_buf);
		if (json < 0) {
			rc = json;
			goto out;
		}
		if (json > 0 && compare_json_bodies(c, &pb, &ob))
			goto out;
	}
	body_sample(c->d, &pb, off, ps);
	body_sample(c->d, &ob, off, os);
	emit(c, ST_DIFF_BODY, "body", ps, os);
out:
	if (rc < 0)
		fail(c, rc);
	free(pb.owned);
	free(ob.owned);
}

int
st_diff_answers(const struct st_differ *d, int route,
		const struct st_record_message *primary,
		const struct st_record_message *other, st_diff_fn fn,
		void *arg)
{
	struct diff_call c = { .d = d, .route = route, .fn = fn, .arg = arg };

	compare_status(&c, primary, other);
	compare_headers(&c, primary, other);
	if (!c.stop)
		compare_bodies(&c, primary, other);
	free(c.primary_buf.p);
	free(c.other_buf.p);
	if (c.seen != NULL)
		free(c.seen->keys.p);
	free(c.seen);
	return c.err != 0 ? c.err : c.reported;
}
