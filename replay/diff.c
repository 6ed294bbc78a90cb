/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Two answers compared (diff.h). It runs for every exchange, twice with a
 * secondary, so the common cases are kept cheap: identical bodies (after
 * decoding) are never parsed; two JSON bodies of one structure (a request
 * id or a timestamp apart) are read in lockstep without a tree, and only
 * others are parsed with jansson and walked; JSON paths are written,
 * noise rules looked at and samples masked only for a difference (the
 * walk keeps a chain of frames on the stack, not a path string); members
 * are looked up by key, never by scanning. What a call has reported lives
 * in a small hash set made on its first JSON difference.
 */
#include "diff.h"
#include "diff_int.h"

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

/* How JSON texts are loaded, whole bodies or single tokens. */
#define JSON_LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Bounds of the lockstep reading (see there); past them, the walk. */
#define LOCKSTEP_DEPTH_MAX 64		/* containers open */
#define LOCKSTEP_KEYS_MAX 256		/* keys of the objects open */
#define LOCKSTEP_PENDING_MAX 16		/* differences kept to the end */
#define LOCKSTEP_FRAMES_MAX 256		/* their frames */

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
	st_diff_want_fn want;
	st_diff_fn fn;
	void *arg;
	struct st_diff_how *how;
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

/* Whether the caller keeps this difference's samples. */
static bool
wanted(const struct diff_call *c, enum st_diff_kind kind, const char *path)
{
	return c->want == NULL || c->want(c->arg, kind, path);
}

/* Report a difference; @p primary and @p other NULL when not wanted. */
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
	if (wanted(c, ST_DIFF_STATUS, "status"))
		emit(c, ST_DIFF_STATUS, "status", ps, os);
	else
		emit(c, ST_DIFF_STATUS, "status", NULL, NULL);
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
		if (!wanted(c, ST_DIFF_HEADER, name)) {
			emit(c, ST_DIFF_HEADER, name, NULL, NULL);
			continue;
		}
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
 * Significant digits to show the reals of a sample with: a bare real gets
 * the fewest that read back as the same number (9.99, not jansson's
 * 9.9900000000000002); in a container, 15, which every double survives
 * as text (two reals that differ past that show alike there, and are
 * still counted apart).
 */
static int
real_digits(const json_t *v)
{
	char text[32];
	int digits;

	if (!json_is_real(v))
		return 15;
	for (digits = 1; digits < 17; digits++) {
		snprintf(text, sizeof(text), "%.*g", digits, json_real_value(v));
		if (strtod(text, NULL) == json_real_value(v))
			break;
	}
	return digits;
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
	json_dump_callback(v, dump_put, &db,
			   JSON_COMPACT | JSON_ENCODE_ANY |
				   JSON_REAL_PRECISION(real_digits(v)));
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
	if (!wanted(c, kind, path)) {
		emit(c, kind, path, NULL, NULL);
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

/* --- JSON in lockstep ---------------------------------------------------- */

/*
 * The fast path for two JSON bodies, hand-written for speed: parsing both
 * with jansson, a json_t allocated per value and a hash table per object,
 * is most of a comparison's time, while answers of one serializer nearly
 * always share their structure and member order, a request id or a
 * timestamp apart.
 *
 * Both texts are read together, token by token, with no tree. The same
 * scalar text is the same value; only two scalar texts that differ are
 * loaded with jansson (which allocates), each alone, and compared as the
 * walk compares (1 equals 1.0, "\u0041" equals "A"). A difference is kept
 * with a copy of its frames and both values until both texts have been
 * read to their end and are known to be JSON that jansson reads; only
 * then is it reported, by json_diff() as the walk reports, so that the
 * reports are the walk's, in the walk's order. Past LOCKSTEP_PENDING_MAX
 * differences, a second reading reports each as it comes.
 *
 * It hands both bodies to jansson's parse and walk, having reported
 * nothing, where it cannot decide alone: members of other keys or in
 * another order, arrays of other lengths, a container against another
 * kind of value (what is reported then depends on whole subtrees), a text
 * it does not read as JSON (jansson says whether it is; this reader is
 * stricter, never looser), a key with an escape (paths hold decoded keys)
 * or one that repeats in its object (jansson keeps the last value, at the
 * first one's place), more than LOCKSTEP_DEPTH_MAX containers or
 * LOCKSTEP_KEYS_MAX keys open.
 */

/* Bytes of a JSON string that stand for themselves: not a control
 * character, the quote, a backslash or a part of a UTF-8 sequence. */
static const bool plain_byte[256] = {
	[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7f] = true,
};

/* One side's text as the lockstep reads it. */
struct cursor {
	const uint8_t *at, *end;
};

/* A key of an object open, to find one that repeats. */
struct open_key {
	const uint8_t *key;
	uint32_t len;
	uint32_t sketch;		/* key_sketch() */
};

/* A difference found, reported once both texts are known good. */
struct pending {
	enum st_diff_kind kind;
	const struct frame *f;		/* in lockstep's frames */
	json_t *pv, *ov;
};

struct lockstep {
	struct diff_call *c;
	struct cursor p, o;
	bool undecided;			/* the walk is to decide */
	bool overflow;			/* more differences than kept */
	bool direct;			/* report at once: texts known good */
	unsigned int nb_keys, nb_pending, nb_frames;
	struct open_key keys[LOCKSTEP_KEYS_MAX];
	struct pending pending[LOCKSTEP_PENDING_MAX];
	struct frame frames[LOCKSTEP_FRAMES_MAX];
};

static bool
is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

static inline void
skip_ws(struct cursor *c)
{
	static const bool space[256] = {
		[' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true,
	};

	while (c->at < c->end && space[*c->at])
		c->at++;
}

/* The byte at the cursor, -1 at the end. */
static int
peek(const struct cursor *c)
{
	return c->at < c->end ? *c->at : -1;
}

/* The code unit of the \uXXXX at @p s, or -1. */
static long
unicode_escape(const uint8_t *s, const uint8_t *end)
{
	long v = 0;
	int i;

	if (end - s < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (i = 2; i < 6; i++) {
		if (is_digit(s[i]))
			v = v * 16 + (s[i] - '0');
		else if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')
			v = v * 16 + ((s[i] | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* Length of the escape at @p s (a surrogate pair is one), or 0 where
 * jansson refuses it. \u0000 is read: JSON_ALLOW_NUL. */
static size_t
escape_len(const uint8_t *s, const uint8_t *end)
{
	long hi, lo;

	if (end - s < 2)
		return 0;
	if (s[1] != 'u')
		return s[1] != '\0' && strchr("\"\\/bfnrt", s[1]) != NULL ? 2 :
									    0;
	hi = unicode_escape(s, end);
	if (hi < 0xd800 || hi > 0xdfff)
		return hi < 0 ? 0 : 6;
	lo = unicode_escape(s + 6, end);
	return hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? 12 : 0;
}

/* Read the string at the cursor (its quote). @return false where jansson
 * would refuse it; *escaped: it holds an escape. */
static bool
scan_string(struct cursor *c, bool *escaped)
{
	const uint8_t *s = c->at + 1, *end = c->end;
	size_t n;

	*escaped = false;
	for (;;) {
		while (s < end && plain_byte[*s])
			s++;
		if (s == end || *s < 0x20)
			return false;
		if (*s == '"')
			break;
		if (*s == '\\') {
			*escaped = true;
			n = escape_len(s, end);
		} else {
			n = utf8_len(s, (size_t)(end - s));
		}
		if (n == 0)
			return false;
		s += n;
	}
	c->at = s + 1;
	return true;
}

/*
 * Read the number at the cursor, by JSON's grammar as jansson's. @return
 * false where it is none; *sure: jansson reads it without overflow (an
 * integer of 18 digits at most, a real below 1e301), else only jansson
 * can tell. What follows is the caller's to check ("01" is 0, then 1).
 */
static bool
scan_number(struct cursor *c, bool *sure)
{
	const uint8_t *s = c->at, *end = c->end, *digits;
	long long magnitude;
	long exp = 0;
	bool real = false, neg_exp = false;

	if (s < end && *s == '-')
		s++;
	digits = s;
	if (s < end && *s == '0')
		s++;
	else
		while (s < end && is_digit(*s))
			s++;
	if (s == digits)
		return false;
	magnitude = s - digits;
	if (s < end && *s == '.') {
		real = true;
		if (++s == end || !is_digit(*s))
			return false;
		while (s < end && is_digit(*s))
			s++;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		real = true;
		if (++s < end && (*s == '+' || *s == '-'))
			neg_exp = *s++ == '-';
		if (s == end || !is_digit(*s))
			return false;
		for (; s < end && is_digit(*s); s++)
			if (exp < 100000)
				exp = exp * 10 + (*s - '0');
	}
	c->at = s;
	if (!real) {
		*sure = magnitude <= 18;
	} else {
		magnitude += neg_exp ? -exp : exp;
		*sure = magnitude <= 300;
	}
	return true;
}

static bool
scan_literal(struct cursor *c)
{
	static const char *const literals[] = { "true", "false", "null" };
	size_t i, n;

	for (i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		n = strlen(literals[i]);
		if ((size_t)(c->end - c->at) >= n &&
		    memcmp(c->at, literals[i], n) == 0) {
			c->at += n;
			return true;
		}
	}
	return false;
}

/* Read a scalar. @return false where it is none; *sure: jansson surely
 * reads it (see scan_number()). */
static bool
scan_scalar(struct cursor *c, bool *sure)
{
	bool escaped;

	*sure = true;
	switch (peek(c)) {
	case '"':
		return scan_string(c, &escaped);
	case 't':
	case 'f':
	case 'n':
		return scan_literal(c);
	default:
		return scan_number(c, sure);
	}
}

/* Whether both sides go on with @p ch; if so, past it. */
static bool
both_at(struct lockstep *ls, char ch)
{
	skip_ws(&ls->p);
	skip_ws(&ls->o);
	if (peek(&ls->p) != ch || peek(&ls->o) != ch)
		return false;
	ls->p.at++;
	ls->o.at++;
	return true;
}

/*
 * Read the strings at both cursors at once as long as they are the same
 * bytes, each standing for itself: the common case, read once. @return
 * whether they are one such string, read; if not, nothing was.
 */
static bool
same_plain_string(struct lockstep *ls)
{
	const uint8_t *p = ls->p.at, *o = ls->o.at;
	size_t n = (size_t)(ls->p.end - p), i = 1;

	if ((size_t)(ls->o.end - o) < n)
		n = (size_t)(ls->o.end - o);
	if (n < 2 || *p != '"' || *o != '"')
		return false;
	while (i < n && p[i] == o[i] && plain_byte[p[i]])
		i++;
	if (i == n || p[i] != '"' || o[i] != '"')
		return false;
	ls->p.at += i + 1;
	ls->o.at += i + 1;
	return true;
}

/* Whether the other side has the primary's string just read, from @p s
 * (its quote) to p.at; if so, past it. The same bytes read the same. */
static bool
same_string(struct lockstep *ls, const uint8_t *s)
{
	const size_t len = (size_t)(ls->p.at - s);

	if ((size_t)(ls->o.end - ls->o.at) < len ||
	    memcmp(ls->o.at, s, len) != 0)
		return false;
	ls->o.at += len;
	return true;
}

static json_t *
load_token(const uint8_t *s, size_t len)
{
	return json_loadb((const char *)s, len, JSON_LOAD_FLAGS, NULL);
}

/* A difference: reported at once on a second reading, else kept with a
 * copy of its frames (these are on the reader's stack). Takes @p pv and
 * @p ov. */
static void
lockstep_diff(struct lockstep *ls, enum st_diff_kind kind,
	      const struct frame *f, json_t *pv, json_t *ov)
{
	struct frame *copy = &ls->frames[ls->nb_frames];
	const struct frame *up;
	unsigned int depth = 0, i;

	if (ls->direct) {
		json_diff(ls->c, kind, f, pv, ov);
	} else {
		for (up = f; up != NULL; up = up->up)
			depth++;
		if (ls->nb_pending == LOCKSTEP_PENDING_MAX ||
		    depth > LOCKSTEP_FRAMES_MAX - ls->nb_frames) {
			ls->overflow = true;
		} else {
			for (i = depth, up = f; i-- > 0; up = up->up)
				copy[i] = (struct frame){
					i > 0 ? &copy[i - 1] : NULL, up->key,
					up->key_len };
			ls->nb_frames += depth;
			ls->pending[ls->nb_pending++] = (struct pending){
				kind, &copy[depth - 1], pv, ov };
			return;
		}
	}
	json_decref(pv);
	json_decref(ov);
}

/* Two scalars, compared as compare_json() compares them. */
static void
lockstep_scalars(struct lockstep *ls, const struct frame *f)
{
	const uint8_t *ps = ls->p.at, *os = ls->o.at;
	bool sure, o_sure;
	size_t pn, on;
	json_t *pv, *ov;

	if (same_plain_string(ls))
		return;
	if (!scan_scalar(&ls->p, &sure)) {
		ls->undecided = true;
		return;
	}
	if (*ps == '"' && same_string(ls, ps))
		return;
	if (!scan_scalar(&ls->o, &o_sure)) {
		ls->undecided = true;
		return;
	}
	pn = (size_t)(ls->p.at - ps);
	on = (size_t)(ls->o.at - os);
	if (pn == on && memcmp(ps, os, pn) == 0) {
		/* The same text is the same value, if jansson reads it. */
		if (!sure && !ls->direct) {
			pv = load_token(ps, pn);
			ls->undecided = pv == NULL;
			json_decref(pv);
		}
		return;
	}
	pv = load_token(ps, pn);
	ov = load_token(os, on);
	if (pv == NULL || ov == NULL) {
		/* Read once already on a second reading: memory ran out. */
		if (ls->direct)
			fail(ls->c, -ENOMEM);
		ls->undecided = true;
		json_decref(pv);
		json_decref(ov);
	} else if (type_class(pv) != type_class(ov)) {
		lockstep_diff(ls, ST_DIFF_JSON_TYPE, f, pv, ov);
	} else if (!scalars_equal(pv, ov)) {
		lockstep_diff(ls, ST_DIFF_JSON_VALUE, f, pv, ov);
	} else {
		json_decref(pv);
		json_decref(ov);
	}
}

/* What tells most keys of an object apart, in no time: their length,
 * first and last bytes. */
static uint32_t
key_sketch(const uint8_t *key, size_t len)
{
	return len == 0 ? 0 :
			  (uint32_t)len << 16 ^ (uint32_t)key[0] << 8 ^
				  key[len - 1];
}

/* Add @p key to its object's, those from keys[@p first]. @return false
 * when it is there already, or there is no room. */
static bool
open_key_add(struct lockstep *ls, unsigned int first, const uint8_t *key,
	     size_t len)
{
	const uint32_t sketch = key_sketch(key, len);
	unsigned int i;

	if (ls->nb_keys == LOCKSTEP_KEYS_MAX)
		return false;
	for (i = first; i < ls->nb_keys; i++)
		if (ls->keys[i].sketch == sketch && ls->keys[i].len == len &&
		    memcmp(ls->keys[i].key, key, len) == 0)
			return false;
	ls->keys[ls->nb_keys++] = (struct open_key){ key, (uint32_t)len,
						     sketch };
	return true;
}

/* Read a member's key on each side. @return whether both are the same,
 * without an escape, and new to their object (from keys[@p first]). */
static bool
lockstep_key(struct lockstep *ls, unsigned int first, struct frame *f)
{
	const uint8_t *key = ls->p.at;
	bool escaped;

	if (!same_plain_string(ls) &&
	    (peek(&ls->p) != '"' || !scan_string(&ls->p, &escaped) ||
	     escaped || !same_string(ls, key)))
		return false;
	f->key = (const char *)key + 1;
	f->key_len = (size_t)(ls->p.at - key) - 2;
	return open_key_add(ls, first, key + 1, f->key_len);
}

static void lockstep_value(struct lockstep *ls, const struct frame *f,
			   unsigned int depth);

/* Two objects, their members of the same keys in the same order. */
static void
lockstep_object(struct lockstep *ls, const struct frame *up,
		unsigned int depth)
{
	const unsigned int first_key = ls->nb_keys;
	struct frame f = { up, NULL, 0 };

	ls->p.at++;
	ls->o.at++;
	if (both_at(ls, '}'))
		return;
	do {
		skip_ws(&ls->p);
		skip_ws(&ls->o);
		if (!lockstep_key(ls, first_key, &f) || !both_at(ls, ':')) {
			ls->undecided = true;
			return;
		}
		lockstep_value(ls, &f, depth);
		if (ls->undecided)
			return;
	} while (both_at(ls, ','));
	ls->undecided = !both_at(ls, '}');
	ls->nb_keys = first_key;
}

/* Two arrays of the same length. */
static void
lockstep_array(struct lockstep *ls, const struct frame *up,
	       unsigned int depth)
{
	const struct frame f = { up, NULL, 0 };

	ls->p.at++;
	ls->o.at++;
	if (both_at(ls, ']'))
		return;
	do {
		lockstep_value(ls, &f, depth);
		if (ls->undecided)
			return;
	} while (both_at(ls, ','));
	ls->undecided = !both_at(ls, ']');
}

static void
lockstep_value(struct lockstep *ls, const struct frame *f, unsigned int depth)
{
	int pc, oc;

	skip_ws(&ls->p);
	skip_ws(&ls->o);
	pc = peek(&ls->p);
	oc = peek(&ls->o);
	if (pc != '{' && pc != '[' && oc != '{' && oc != '[')
		lockstep_scalars(ls, f);
	else if (pc != oc || depth == LOCKSTEP_DEPTH_MAX)
		ls->undecided = true;
	else if (pc == '{')
		lockstep_object(ls, f, depth + 1);
	else
		lockstep_array(ls, f, depth + 1);
}

/* Read both bodies from their start; @p direct: reporting at once. */
static void
lockstep_read(struct lockstep *ls, const struct body *pb,
	      const struct body *ob, bool direct)
{
	const struct frame root = { NULL, NULL, 0 };

	ls->p = (struct cursor){ pb->data, pb->data + pb->len };
	ls->o = (struct cursor){ ob->data, ob->data + ob->len };
	ls->undecided = false;
	ls->overflow = false;
	ls->direct = direct;
	ls->nb_keys = 0;
	ls->nb_pending = 0;
	ls->nb_frames = 0;
	lockstep_value(ls, &root, 0);
	skip_ws(&ls->p);
	skip_ws(&ls->o);
	if (ls->p.at != ls->p.end || ls->o.at != ls->o.end)
		ls->undecided = true;
}

/* Compare two complete JSON bodies in lockstep. @return whether it
 * decided; if not, it reported nothing and the walk is to decide. */
static bool
compare_json_lockstep(struct diff_call *c, const struct body *pb,
		      const struct body *ob)
{
	struct lockstep ls;
	unsigned int i;

	ls.c = c;
	lockstep_read(&ls, pb, ob, false);
	for (i = 0; i < ls.nb_pending; i++) {
		const struct pending *d = &ls.pending[i];

		if (!ls.undecided && !ls.overflow)
			json_diff(c, d->kind, d->f, d->pv, d->ov);
		json_decref(d->pv);
		json_decref(d->ov);
	}
	/* More than could be kept: a second reading reports each as it
	 * comes, the texts being known good. */
	if (!ls.undecided && ls.overflow)
		lockstep_read(&ls, pb, ob, true);
	return !ls.undecided || c->err != 0;
}

/* --- JSON parsed and walked ---------------------------------------------- */

static json_t *
parse(const struct body *b, bool *oom)
{
	json_error_t error;
	json_t *doc;

	doc = json_loadb((const char *)b->data, b->len, JSON_LOAD_FLAGS,
			 &error);
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

	if (c->how->lockstep && compare_json_lockstep(c, pb, ob))
		return true;
	c->how->walked = true;
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
	if (wanted(c, ST_DIFF_BODY, "body")) {
		body_sample(c->d, &pb, off, ps);
		body_sample(c->d, &ob, off, os);
		emit(c, ST_DIFF_BODY, "body", ps, os);
	} else {
		emit(c, ST_DIFF_BODY, "body", NULL, NULL);
	}
out:
	if (rc < 0)
		fail(c, rc);
	free(pb.owned);
	free(ob.owned);
}

int
st_diff_answers_how(const struct st_differ *d, int route,
		    const struct st_record_message *primary,
		    const struct st_record_message *other,
		    st_diff_want_fn want, st_diff_fn fn, void *arg,
		    struct st_diff_how *how)
{
	struct diff_call c = { .d = d, .route = route, .want = want,
			       .fn = fn, .arg = arg, .how = how };

	how->walked = false;
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

int
st_diff_answers(const struct st_differ *d, int route,
		const struct st_record_message *primary,
		const struct st_record_message *other, st_diff_want_fn want,
		st_diff_fn fn, void *arg)
{
	struct st_diff_how how = { .lockstep = true };

	return st_diff_answers_how(d, route, primary, other, want, fn, arg,
				   &how);
}
