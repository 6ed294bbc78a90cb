/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Route classifier: one Hyperscan database, one scan per request head.
 *
 * A request head is rewritten into a scan buffer where each field the
 * routes look at is a pair of lines, a tag line and the value line:
 *
 *   "\x01P\r\n/api/x?q=1\n\x01H\r\napi.example.com\n"
 *   "\x01h:x-rollout\r\nshadow\n"
 *
 * Each condition is one expression "TAG\r\n[^\n]*?(?:REGEX)" (see
 * bind_to_value() for anchors), reported at most once, whose id indexes
 * the route and the bit it stands for. The match callback ORs the bit into
 * its route's mask; a route matches once its mask is complete. Methods are
 * checked in C, before the scan, to know which routes can still win.
 *
 * The head's lines come from the reader of http.h, so that the dataplane
 * reads a head once for its route, its end and its body length: the
 * buffer is written as lines are read (st_classifier_read()), and scanned
 * once the caller knows the head is worth deciding (st_classifier_route()).
 *
 * Conditions that are plain literals ("^/api/", "^/healthz$", "beta",
 * "^api\\.example\\.com$" for a host, an empty one for a header's
 * presence) never reach Hyperscan: each is compared with its field's value
 * as the value is read, and sets its route's bit in the mask of the
 * routes whose condition of that number holds. hs_scan()
 * costs some 900 instructions on a request even when its fields are few
 * and short; a compare costs a few dozen. The scan runs only for the
 * routes that can still win and have a condition left to it. A regex
 * counts as a literal only when it plainly is one (parse_literal());
 * anything else stays with Hyperscan.
 *
 * Why not Hyperscan's logical combinations ("a & b" per route, quiet
 * conditions): with 64 routes they cost about 0.5 us more per request
 * whatever the input (Hyperscan 5.4, one core: 1290 vs 500 ns for a
 * 264-byte head, 650 vs 145 ns for an 88-byte head that matches nothing),
 * and they refuse conditions that end in an assertion ("$", "foo\b").
 */
#define _GNU_SOURCE	/* memmem */
#include "classifier.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>

#include "st_compiler.h"

/* Tag lines end in CR and no value holds a CR (one ends a value), so a
 * value line can never pass for a tag line, whatever bytes it has; and as
 * a tag's only \x01 is its first byte and names are tokens, "TAG\r\n"
 * occurs nowhere but as that tag's whole line: patterns need no "^" (which
 * would cost a multi-line mode). The letters differ between path, host
 * and headers even case-insensitively ("\x01H\r" vs "\x01h:"), since host
 * conditions are compiled caseless. */
#define TAG_PATH "\x01P\r\n"
#define TAG_HOST "\x01H\r\n"
#define TAG_HEADER "\x01h:"	/* then the lower-case name and "\r\n" */
#define TAG_HEADER_BYTES (sizeof(TAG_HEADER) - 1 + ST_HEADER_NAME_MAX + 1)

enum field_kind {
	FIELD_PATH,
	FIELD_HOST,
	FIELD_HEADER,
	FIELD_HEADERS,	/* the list of header conditions */
};

/* Header names some route looks at; open addressing, at most half
 * full. */
#define HEADER_NAMES_MAX (ST_MAX_ROUTES * ST_MAX_ROUTE_HEADERS)
#define HEADER_SLOTS 512
_Static_assert(HEADER_SLOTS >= 2 * HEADER_NAMES_MAX, "header hash too full");
_Static_assert((HEADER_SLOTS & (HEADER_SLOTS - 1)) == 0, "not a power of 2");
_Static_assert(ST_MAX_ROUTES <= 64, "routes are bits of a uint64_t");
_Static_assert(ST_HEADER_NAME_MAX <= 64, "name lengths are bits of a uint64_t");

/* Conditions: a path, a host and headers per route, a bit each. */
#define CONDS_PER_ROUTE (2 + ST_MAX_ROUTE_HEADERS)
#define CONDS_MAX (ST_MAX_ROUTES * CONDS_PER_ROUTE)
_Static_assert(CONDS_PER_ROUTE <= 8, "conditions are bits of a uint8_t");

/* A literal condition: its bytes at the value's start, at its end, both
 * (the whole value) or anywhere. */
#define LITERAL_START 1u
#define LITERAL_END 2u

struct literal {
	uint16_t next;		/* next literal on its field + 1; 0: none */
	uint8_t route;
	uint8_t cond;		/* the route's condition: bit 1 << cond */
	uint8_t anchors;	/* LITERAL_START | LITERAL_END */
	bool caseless;		/* then text is lower-case */
	/* A case-sensitive prefix of at most 8 bytes: the masked compare of
	 * head with the value's first 8 bytes (NUL-padded) alone decides. */
	bool word_prefix;
	uint16_t len;
	/* Its first 8 bytes as a word, and the mask of those it has: one
	 * compare tells most values apart without a memcmp() call. */
	uint64_t head;
	uint64_t head_mask;
	uint8_t text[ST_REGEX_MAX];
};

/*
 * A word prefix (literal.word_prefix) as put_field() reads it: a field's
 * are in one run, apart from its other literals, so that a value is
 * compared with all of them in a loop of a few instructions each, with no
 * list to follow and nothing but these 32 bytes read.
 */
struct prefix {
	uint64_t head;
	uint64_t mask;
	uint64_t route;		/* the route's bit */
	uint8_t cond;
};

/* A field routes look at: its tag line in the scan buffer, whether
 * Hyperscan looks at it, and its literal conditions. */
struct field {
	uint8_t name_len;	/* header fields only */
	uint8_t tag_len;
	bool scanned;		/* a condition on it is left to Hyperscan */
	uint16_t literals;	/* first literal + 1; 0: none */
	uint16_t prefixes;	/* its word prefixes: c->prefixes[prefixes] */
	uint16_t nb_prefixes;	/* on, this many */
	char tag[TAG_HEADER_BYTES];	/* "\x01h:name\r\n" for a header */
};

struct st_classifier {
	hs_database_t *db;	/* NULL when no route has a regex */
	unsigned int nb_routes;
	uint32_t max_head_bytes;
	size_t buf_bytes;	/* scan buffer a scratch needs */
	uint64_t routes_of_method[ST_HTTP_METHODS];
	uint64_t hs_routes;	/* routes with a condition for Hyperscan */
	uint64_t literal_routes;	/* routes with a literal condition */
	uint8_t route_needs[ST_MAX_ROUTES];	/* bits of all its conditions */
	uint8_t literal_needs[ST_MAX_ROUTES];	/* bits of its literals */
	/* Bit r of literal_conds[k]: route r has a literal condition k. */
	uint64_t literal_conds[CONDS_PER_ROUTE];
	unsigned int nb_literal_conds;	/* 1 + the highest such k */
	uint8_t cond_route[CONDS_MAX];	/* Hyperscan id -> route */
	uint8_t cond_bit[CONDS_MAX];	/* Hyperscan id -> its bit */
	bool need_path;
	bool need_host;
	struct field path;
	struct field host;
	unsigned int nb_header_names;
	uint64_t header_name_lengths;	/* bit n: a name of n bytes */
	uint16_t header_slots[HEADER_SLOTS];	/* name index + 1; 0: free */
	struct field header_names[HEADER_NAMES_MAX];
	unsigned int nb_literals;
	struct literal literals[CONDS_MAX];
	unsigned int nb_prefixes;
	struct prefix prefixes[CONDS_MAX];
};

struct st_classifier_scratch {
	hs_scratch_t *hs;
	uint8_t *buf;
	size_t buf_bytes;
	/* The head last read, for st_classifier_route(). */
	size_t len;		/* bytes of buf its fields fill */
	uint64_t wanted;	/* routes with conditions that can still win */
	uint64_t direct;	/* routes its method alone selects */
	/* Bit r of met[k]: route r's literal condition k holds. Kept as
	 * routes' bits, so that the routes it rules out are a few masks. */
	uint64_t met[CONDS_PER_ROUTE];
	uint8_t seen[ST_MAX_ROUTES];	/* Hyperscan's conditions met */
};

/* Scan buffer bytes for a head: a header line "a:\n" (3 bytes) becomes
 * "\x01h:a\r\n\n" (7 bytes), a Host line may be written twice (as host and
 * as a header), and an absolute-form target gives both path and host; 3
 * bytes per head byte covers all of them. The builder checks bounds
 * anyway. */
static size_t
scan_buffer_bytes(uint32_t max_head_bytes)
{
	return (size_t)max_head_bytes * 3 + 64;
}

static inline uint8_t
ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static inline bool
is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* FNV-1a of a lower-case name. */
static inline uint32_t
name_hash(const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ name[i]) * 16777619u;
	return h;
}

/* Index of lower-case @p name among the header names looked at, or -1. */
static int
header_lookup(const struct st_classifier *c, const uint8_t *name,
	      size_t len)
{
	uint32_t slot = name_hash(name, len) & (HEADER_SLOTS - 1);
	unsigned int probes;

	for (probes = 0; probes < HEADER_SLOTS; probes++) {
		unsigned int v = c->header_slots[slot];
		const struct field *h;

		if (v == 0)
			return -1;
		h = &c->header_names[v - 1];
		if (h->name_len == len &&
		    memcmp(h->tag + sizeof(TAG_HEADER) - 1, name, len) == 0)
			return v - 1;
		slot = (slot + 1) & (HEADER_SLOTS - 1);
	}
	return -1;
}

/* ---------------------------------------------------------------------
 * Compilation
 */

/* TAG, the name as \xHH escapes, and the regex twice, with each byte as
 * at most 4 in the first copy and 8 in the second ("^" as "(?:\r\r)"; see
 * bind_to_value() and rewrite_regex()). */
#define PATTERN_MAX (64 + 4 * ST_HEADER_NAME_MAX + 12 * ST_REGEX_MAX)

struct origin {
	uint8_t route;
	uint8_t field;	/* enum field_kind */
	uint8_t header;	/* index in route->headers for FIELD_HEADER */
};

/* Expressions for hs_compile_multi() (their ids are their indexes) and
 * where each comes from. */
struct compile_set {
	unsigned int n;
	const char *exprs[CONDS_MAX];
	unsigned int flags[CONDS_MAX];
	unsigned int ids[CONDS_MAX];
	struct origin origin[CONDS_MAX];
	char text[CONDS_MAX][PATTERN_MAX];
};

struct create_ctx {
	const struct st_config *cfg;
	struct st_classifier *c;
	struct compile_set *set;
	char *err;
	size_t errlen;
};

/* "path", "host" or "header 'x-foo'". */
static void
field_label(const struct st_route_conf *r, const struct origin *o,
	    char *buf, size_t len)
{
	switch (o->field) {
	case FIELD_PATH:
		snprintf(buf, len, "path");
		break;
	case FIELD_HOST:
		snprintf(buf, len, "host");
		break;
	case FIELD_HEADER:
		snprintf(buf, len, "header '%.*s'", ST_HEADER_NAME_MAX - 1,
			 r->headers[o->header].name);
		break;
	default:
		snprintf(buf, len, "header");
		break;
	}
}

/* The configuration pattern a condition comes from. */
static const struct st_regex_conf *
origin_regex(const struct st_route_conf *r, const struct origin *o)
{
	switch (o->field) {
	case FIELD_PATH:
		return &r->path;
	case FIELD_HOST:
		return &r->host;
	case FIELD_HEADER:
		return &r->headers[o->header].value;
	default:
		return NULL;
	}
}

/* Fill err with "PATH:LINE: route 'NAME': FIELD: message". */
static int
route_error(struct create_ctx *x, const struct origin *o, int ret,
	    const char *message)
{
	const struct st_route_conf *r = &x->cfg->routes[o->route];
	const struct st_regex_conf *re = origin_regex(r, o);
	int line = re != NULL && re->line > 0 ? re->line : r->line;
	char label[ST_HEADER_NAME_MAX + 16];

	field_label(r, o, label, sizeof(label));
	snprintf(x->err, x->errlen, "%s:%d: route '%.*s': %s: %s",
		 x->cfg->path, line, ST_NAME_MAX - 1, r->name, label,
		 message);
	return ret;
}

static bool
is_tchar(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Record a header name some route looks at (once) and build its tag.
 * Returns its index in header_names[], or a negative errno. */
static int
add_header_name(struct create_ctx *x, const struct origin *o)
{
	struct st_classifier *c = x->c;
	const char *name = x->cfg->routes[o->route].headers[o->header].name;
	size_t len = strnlen(name, ST_HEADER_NAME_MAX);
	uint8_t lower[ST_HEADER_NAME_MAX];
	struct field *h;
	uint32_t slot;
	size_t i;
	int known;

	if (len == 0 || len == ST_HEADER_NAME_MAX)
		return route_error(x, o, -EINVAL,
				   "a header name has 1 to 63 bytes");
	for (i = 0; i < len; i++) {
		if (!is_tchar((uint8_t)name[i]))
			return route_error(x, o, -EINVAL,
					   "not a valid header name");
		lower[i] = ascii_lower((uint8_t)name[i]);
	}
	known = header_lookup(c, lower, len);
	if (known >= 0)
		return known;
	h = &c->header_names[c->nb_header_names];
	memcpy(h->tag, TAG_HEADER, sizeof(TAG_HEADER) - 1);
	memcpy(h->tag + sizeof(TAG_HEADER) - 1, lower, len);
	memcpy(h->tag + sizeof(TAG_HEADER) - 1 + len, "\r\n", 2);
	h->name_len = len;
	h->tag_len = sizeof(TAG_HEADER) - 1 + len + 2;
	c->header_name_lengths |= UINT64_C(1) << len;
	slot = name_hash(lower, len) & (HEADER_SLOTS - 1);
	while (c->header_slots[slot] != 0)
		slot = (slot + 1) & (HEADER_SLOTS - 1);
	c->header_slots[slot] = c->nb_header_names + 1;
	return c->nb_header_names++;
}

/* A pattern being written into a compile_set slot. */
struct text {
	char *p;
	size_t len;
	size_t cap;	/* with the NUL */
};

/* A text without a buffer only counts (see bind_to_value()). */
static void
text_put(struct text *t, const char *s, size_t n)
{
	if (t->p == NULL)
		return;
	/* PATTERN_MAX covers the longest pattern; clamp all the same. */
	if (n > t->cap - 1 - t->len)
		n = t->cap - 1 - t->len;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* Escapes that match a line feed, and the same without it. */
static const char *const lf_escapes[][2] = {
	{ "\\W", "[^\\w\\n]" },
	{ "\\D", "[^\\d\\n]" },
	{ "\\s", "[^\\S\\n]" },
	{ "\\H", "[^\\h\\n]" },
	{ "\\v", "[^\\V\\n]" },
};

/*
 * Copy @p re to @p t for the scan buffer:
 * - start anchors ("^", "\A") as @p start_as, and end anchors ("$", "\z",
 *   "\Z") as "\n", which ends every value line: Hyperscan refuses a
 *   start anchor anywhere but at the start of a pattern, and ours start
 *   with the tag; and outside multi-line mode "$" is the buffer's end;
 * - negated classes ("[^/]") and the escapes of lf_escapes[] without the
 *   line feed, which no value holds, so that they cannot run on into the
 *   next field.
 * A lexical pass is enough: escapes, \Q...\E, character classes
 * (including [:name:]) and (?#...) comments are told apart, so nothing
 * else changes. Returns the number of start anchors.
 */
static unsigned int
rewrite_regex(struct text *t, const char *re, const char *start_as)
{
	size_t n = strlen(re), i = 0;
	unsigned int starts = 0, k;
	bool in_class = false, negated = false;

	while (i < n) {
		size_t from = i;
		const char *as = NULL;
		const char *stop;

		if (re[i] == '\\' && i + 1 < n) {
			char e = re[i + 1];

			if (e == 'Q') {
				stop = strstr(re + i + 2, "\\E");
				i = stop != NULL ? (size_t)(stop - re) + 2 : n;
			} else if (e == 'c') {
				i = i + 3 < n ? i + 3 : n;	/* \c^ */
			} else if (strchr("pPxoNgk", e) != NULL && i + 2 < n &&
				   re[i + 2] == '{') {
				stop = strchr(re + i + 3, '}');	/* \p{^L} */
				i = stop != NULL ? (size_t)(stop - re) + 1 : n;
			} else if (!in_class && e == 'A') {
				as = start_as;
				starts++;
				i += 2;
			} else if (!in_class && (e == 'z' || e == 'Z')) {
				as = "\\n";
				i += 2;
			} else {
				for (k = 0;
				     !in_class && k < ST_DIM(lf_escapes); k++)
					if (lf_escapes[k][0][1] == e)
						as = lf_escapes[k][1];
				i += 2;
			}
		} else if (in_class) {
			if (re[i] == '[' && re[i + 1] == ':') {
				stop = strstr(re + i + 2, ":]");
				i = stop != NULL ? (size_t)(stop - re) + 2 : n;
			} else {
				in_class = re[i] != ']';
				if (!in_class && negated)
					as = "\\n]";
				i++;
			}
		} else if (re[i] == '[') {
			in_class = true;
			i++;
			negated = i < n && re[i] == '^';
			if (negated)
				i++;
			if (i < n && re[i] == ']')
				i++;	/* a literal ] first */
		} else if (strncmp(re + i, "(?#", 3) == 0) {
			stop = strchr(re + i, ')');
			i = stop != NULL ? (size_t)(stop - re) + 1 : n;
		} else if (re[i] == '^') {
			as = start_as;
			starts++;
			i++;
		} else if (re[i] == '$') {
			as = "\\n";
			i++;
		} else {
			i++;
		}
		if (as != NULL)
			text_str(t, as);
		else
			text_put(t, re + from, i - from);
	}
	return starts;
}

/*
 * The part of a condition after its tag line: the user's regex R bound to
 * the value line. "[^\n]*?(?:R)" lets R match anywhere in the value, and
 * R's "$" as "\n" falls on the value's end. R's "^" cannot stay (an
 * embedded anchor): a regex with one is written "(?:(?:R1)|[^\n]*?(?:R2))",
 * R1 tried at the value start with "^" as empty, R2 anywhere with "^" as
 * "\r\r", which never occurs in the scan buffer (only tag lines hold a
 * CR). A regex Hyperscan accepts alone has its "^" only where nothing can
 * be consumed before it, so "^" as empty in R1 is exact. See
 * rewrite_regex() for the rest.
 */
static void
bind_to_value(struct text *t, const char *re)
{
	struct text count = { 0 };
	unsigned int starts = rewrite_regex(&count, re, "");

	if (starts == 0) {
		text_str(t, "[^\\n]*?(?:");
		rewrite_regex(t, re, "");
		text_str(t, ")");
	} else if (starts == 1 && re[0] == '^' && strchr(re, '|') == NULL) {
		/* Common and cheaper: anchored, no alternation. */
		text_str(t, "(?:");
		rewrite_regex(t, re + 1, "");
		text_str(t, ")");
	} else {
		text_str(t, "(?:(?:");
		rewrite_regex(t, re, "(?:)");
		text_str(t, ")|[^\\n]*?(?:");
		rewrite_regex(t, re, "(?:\\r\\r)");
		text_str(t, "))");
	}
}

/*
 * Whether @p re is a plain literal, with its anchors: an optional "^" (or
 * "\A"), bytes that stand for themselves or are escaped punctuation ("\."),
 * an optional final "$" (or "\z", "\Z"). Anything else, even a literal in
 * disguise ("(?:a)", "\x41", "a{1}"), is left to Hyperscan. So is a
 * caseless literal that may lie anywhere in its value: that search takes
 * time in the product of both lengths, Hyperscan's does not.
 */
static bool
parse_literal(const char *re, bool caseless, struct literal *l)
{
	uint8_t bytes[8];
	size_t i = 0, n;

	l->anchors = 0;
	l->len = 0;
	l->caseless = caseless;
	if (re[0] == '^' || strncmp(re, "\\A", 2) == 0) {
		l->anchors |= LITERAL_START;
		i = re[0] == '^' ? 1 : 2;
	}
	while (re[i] != '\0') {
		uint8_t ch = (uint8_t)re[i];

		if ((ch == '$' && re[i + 1] == '\0') ||
		    ((strncmp(re + i, "\\z", 2) == 0 ||
		      strncmp(re + i, "\\Z", 2) == 0) && re[i + 2] == '\0')) {
			l->anchors |= LITERAL_END;
			break;
		}
		if (ch == '\\') {
			ch = (uint8_t)re[i + 1];
			/* An escaped punctuation mark is that mark; an escaped
			 * letter or digit is a class, an anchor or a code. */
			if (ch < 0x20 || ch >= 0x7f ||
			    (ch >= '0' && ch <= '9') ||
			    (ascii_lower(ch) >= 'a' && ascii_lower(ch) <= 'z'))
				return false;
			i += 2;
		} else {
			if (ch < 0x20 || ch == 0x7f ||
			    strchr("^$.[]|()?*+{}", ch) != NULL)
				return false;
			i++;
		}
		l->text[l->len++] = caseless ? ascii_lower(ch) : ch;
	}
	n = l->len < sizeof(bytes) ? l->len : sizeof(bytes);
	memset(bytes, 0, sizeof(bytes));
	memcpy(bytes, l->text, n);
	memcpy(&l->head, bytes, sizeof(bytes));
	memset(bytes, 0xff, n);
	memcpy(&l->head_mask, bytes, sizeof(bytes));
	l->word_prefix = l->anchors == LITERAL_START && !caseless &&
			 l->len <= sizeof(bytes);
	return !(caseless && l->anchors == 0 && l->len > 0);
}

/* Add a literal condition to its field's list. */
static void
add_literal(struct st_classifier *c, struct field *f, const struct literal *l)
{
	struct literal *to = &c->literals[c->nb_literals];

	*to = *l;
	to->next = f->literals;
	f->literals = ++c->nb_literals;
	c->literal_routes |= UINT64_C(1) << l->route;
	c->literal_needs[l->route] |= 1u << l->cond;
	c->literal_conds[l->cond] |= UINT64_C(1) << l->route;
	if (l->cond >= c->nb_literal_conds)
		c->nb_literal_conds = l->cond + 1u;
}

/* Move field @p f's word prefixes from its list of literals to a run of
 * c->prefixes of its own. */
static void
gather_prefixes(struct st_classifier *c, struct field *f)
{
	uint16_t *link = &f->literals;

	f->prefixes = (uint16_t)c->nb_prefixes;
	while (*link != 0) {
		struct literal *l = &c->literals[*link - 1];
		struct prefix *p;

		if (!l->word_prefix) {
			link = &l->next;
			continue;
		}
		p = &c->prefixes[c->nb_prefixes++];
		p->head = l->head;
		p->mask = l->head_mask;
		p->route = UINT64_C(1) << l->route;
		p->cond = l->cond;
		*link = l->next;
	}
	f->nb_prefixes = (uint16_t)(c->nb_prefixes - f->prefixes);
}

/*
 * Check one condition's regex alone, so that Hyperscan's message is about
 * what the user wrote. Then add it to field @p f's literals when it is
 * one; else add "TAG\r\n" and the regex bound to the value line to the
 * set. Either way, as the route's condition @p bit.
 */
static int
add_condition(struct create_ctx *x, const struct origin *o, struct field *f,
	      uint8_t bit)
{
	const struct st_route_conf *r = &x->cfg->routes[o->route];
	const char *regex = origin_regex(r, o)->pattern;
	struct compile_set *set = x->set;
	unsigned int flags = HS_FLAG_SINGLEMATCH;
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;
	struct text t = { .p = set->text[set->n], .cap = PATTERN_MAX };
	struct literal lit;

	if (strnlen(regex, ST_REGEX_MAX) == ST_REGEX_MAX)
		return route_error(x, o, -EINVAL, "regex too long");
	if (strpbrk(regex, "\r\n") != NULL)
		return route_error(x, o, -EINVAL,
				   "a line break cannot occur in a value");
	if (o->field == FIELD_HOST)
		flags |= HS_FLAG_CASELESS;
	if (regex[0] != '\0' &&
	    hs_expression_info(regex, flags | HS_FLAG_ALLOWEMPTY |
				       HS_FLAG_MULTILINE,
			       &info, &cerr) != HS_SUCCESS) {
		int ret = route_error(x, o, -EINVAL, cerr->message);

		hs_free_compile_error(cerr);
		return ret;
	}
	free(info);	/* hs's default misc allocator is malloc */

	x->c->route_needs[o->route] |= bit;
	lit.route = o->route;
	lit.cond = (uint8_t)__builtin_ctz(bit);
	if (parse_literal(regex, flags & HS_FLAG_CASELESS, &lit)) {
		add_literal(x->c, f, &lit);
		return 0;
	}
	f->scanned = true;
	x->c->hs_routes |= UINT64_C(1) << o->route;
	switch (o->field) {
	case FIELD_PATH:
		text_str(&t, "\\x01P\\r\\n");
		break;
	case FIELD_HOST:
		text_str(&t, "\\x01H\\r\\n");
		break;
	default: {
		const char *name = r->headers[o->header].name;
		char esc[8];
		size_t i;

		text_str(&t, "\\x01h:");
		/* Names may hold regex metacharacters ("." "*" "|"). */
		for (i = 0; name[i] != '\0'; i++) {
			uint8_t ch = ascii_lower((uint8_t)name[i]);

			snprintf(esc, sizeof(esc),
				 (ch >= 'a' && ch <= 'z') ||
				 (ch >= '0' && ch <= '9') ? "%c" : "\\x%02x",
				 ch);
			text_str(&t, esc);
		}
		text_str(&t, "\\r\\n");
		break;
	}
	}
	bind_to_value(&t, regex);
	set->exprs[set->n] = t.p;
	set->flags[set->n] = flags;
	set->ids[set->n] = set->n;
	set->origin[set->n] = *o;
	x->c->cond_route[set->n] = o->route;
	x->c->cond_bit[set->n] = bit;
	set->n++;
	return 0;
}

/* Add a route's methods and conditions. */
static int
add_route(struct create_ctx *x, unsigned int ri)
{
	const struct st_route_conf *r = &x->cfg->routes[ri];
	struct origin o = { .route = ri };
	unsigned int nb_conds = 0, i, m;
	int ret;

	for (m = 0; m < ST_HTTP_METHODS; m++)
		if (r->methods & (1u << m))
			x->c->routes_of_method[m] |= UINT64_C(1) << ri;
	if (r->nb_headers > ST_MAX_ROUTE_HEADERS) {
		o.field = FIELD_HEADERS;
		return route_error(x, &o, -EINVAL,
				   "more than " ST_STR(ST_MAX_ROUTE_HEADERS)
				   " conditions");
	}
	if (r->path.pattern[0] != '\0') {
		o.field = FIELD_PATH;
		ret = add_condition(x, &o, &x->c->path, 1u << nb_conds++);
		if (ret < 0)
			return ret;
		x->c->need_path = true;
	}
	if (r->host.pattern[0] != '\0') {
		o.field = FIELD_HOST;
		ret = add_condition(x, &o, &x->c->host, 1u << nb_conds++);
		if (ret < 0)
			return ret;
		x->c->need_host = true;
	}
	for (i = 0; i < r->nb_headers; i++) {
		o.field = FIELD_HEADER;
		o.header = i;
		ret = add_header_name(x, &o);
		if (ret < 0)
			return ret;
		ret = add_condition(x, &o, &x->c->header_names[ret],
				    1u << nb_conds++);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int
compile_set(struct create_ctx *x)
{
	struct compile_set *set = x->set;
	hs_compile_error_t *cerr = NULL;
	int ret;

	if (hs_compile_multi(set->exprs, set->flags, set->ids, set->n,
			     HS_MODE_BLOCK, NULL, &x->c->db,
			     &cerr) == HS_SUCCESS)
		return 0;
	x->c->db = NULL;
	if (cerr->expression >= 0 && (unsigned int)cerr->expression < set->n)
		ret = route_error(x, &set->origin[cerr->expression], -EINVAL,
				  cerr->message);
	else {
		/* Not about one expression: memory, or the set as a whole. */
		ret = strstr(cerr->message, "memory") != NULL ? -ENOMEM
							       : -EINVAL;
		snprintf(x->err, x->errlen, "%s: routes: %s", x->cfg->path,
			 cerr->message);
	}
	hs_free_compile_error(cerr);
	return ret;
}

int
st_classifier_create(const struct st_config *cfg,
		     struct st_classifier **out, char *err, size_t errlen)
{
	struct create_ctx x = { .cfg = cfg, .err = err, .errlen = errlen };
	unsigned int i;
	int ret = 0;

	*out = NULL;
	if (cfg->nb_routes > ST_MAX_ROUTES) {
		snprintf(err, errlen, "%s: %u routes, at most %d", cfg->path,
			 cfg->nb_routes, ST_MAX_ROUTES);
		return -EINVAL;
	}
	if (hs_valid_platform() != HS_SUCCESS) {
		snprintf(err, errlen, "%s: routes need a CPU with SSSE3",
			 cfg->path);
		return -EINVAL;
	}
	x.c = calloc(1, sizeof(*x.c));
	x.set = calloc(1, sizeof(*x.set));
	if (x.c == NULL || x.set == NULL) {
		snprintf(err, errlen, "%s: out of memory", cfg->path);
		ret = -ENOMEM;
		goto out;
	}
	x.c->nb_routes = cfg->nb_routes;
	x.c->max_head_bytes = cfg->http.max_head_bytes != 0 ?
		cfg->http.max_head_bytes : ST_CLASSIFIER_DEFAULT_HEAD_BYTES;
	x.c->buf_bytes = scan_buffer_bytes(x.c->max_head_bytes);
	x.c->path.tag_len = sizeof(TAG_PATH) - 1;
	memcpy(x.c->path.tag, TAG_PATH, x.c->path.tag_len);
	x.c->host.tag_len = sizeof(TAG_HOST) - 1;
	memcpy(x.c->host.tag, TAG_HOST, x.c->host.tag_len);
	for (i = 0; i < cfg->nb_routes && ret == 0; i++)
		ret = add_route(&x, i);
	if (ret < 0)
		goto out;
	gather_prefixes(x.c, &x.c->path);
	gather_prefixes(x.c, &x.c->host);
	for (i = 0; i < x.c->nb_header_names; i++)
		gather_prefixes(x.c, &x.c->header_names[i]);
	if (x.set->n > 0)
		ret = compile_set(&x);
out:
	free(x.set);
	if (ret < 0)
		st_classifier_free(x.c);
	else
		*out = x.c;
	return ret;
}

void
st_classifier_free(struct st_classifier *c)
{
	if (c == NULL)
		return;
	hs_free_database(c->db);
	free(c);
}

unsigned int
st_classifier_route_count(const struct st_classifier *c)
{
	return c->nb_routes;
}

/* ---------------------------------------------------------------------
 * Scratch
 */

static int
hs_errno(hs_error_t rc)
{
	return rc == HS_NOMEM ? -ENOMEM : -EINVAL;
}

int
st_classifier_scratch_grow(const struct st_classifier *c,
			   struct st_classifier_scratch **s)
{
	struct st_classifier_scratch *scratch = *s;
	hs_scratch_t *hs = NULL;
	uint8_t *buf = NULL;
	hs_error_t rc;
	int ret;

	if (scratch == NULL) {
		scratch = calloc(1, sizeof(*scratch));
		if (scratch == NULL)
			return -ENOMEM;
	}
	/* hs_alloc_scratch() frees the scratch it is given when it has to
	 * grow it and then fails: grow a copy so that the old one keeps
	 * working if anything fails. */
	if (c->db != NULL) {
		if (scratch->hs != NULL) {
			rc = hs_clone_scratch(scratch->hs, &hs);
			if (rc != HS_SUCCESS) {
				ret = hs_errno(rc);
				goto fail;
			}
		}
		rc = hs_alloc_scratch(c->db, &hs);
		if (rc != HS_SUCCESS) {
			ret = hs_errno(rc);
			goto fail;
		}
	}
	if (c->buf_bytes > scratch->buf_bytes) {
		buf = malloc(c->buf_bytes);
		if (buf == NULL) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	if (hs != NULL) {
		hs_free_scratch(scratch->hs);
		scratch->hs = hs;
	}
	if (buf != NULL) {
		free(scratch->buf);
		scratch->buf = buf;
		scratch->buf_bytes = c->buf_bytes;
	}
	*s = scratch;
	return 0;
fail:
	hs_free_scratch(hs);
	if (scratch != *s)
		free(scratch);
	return ret;
}

int
st_classifier_scratch_alloc(const struct st_classifier *c,
			    struct st_classifier_scratch **out)
{
	*out = NULL;
	return st_classifier_scratch_grow(c, out);
}

void
st_classifier_scratch_free(struct st_classifier_scratch *s)
{
	if (s == NULL)
		return;
	hs_free_scratch(s->hs);
	free(s->buf);
	free(s);
}

/* ---------------------------------------------------------------------
 * Matching
 */

/* Append "TAG" "PREFIX VALUE\n" to the scan buffer; @p prefix is an
 * optional byte (0: none). Returns where PREFIX VALUE was written, or NULL
 * when it does not fit: the field is left out (only with a scratch not
 * grown for this classifier). */
static inline const uint8_t *
emit(struct st_classifier_scratch *s, const struct field *f, uint8_t prefix,
     const uint8_t *v, size_t v_len)
{
	size_t need = f->tag_len + (prefix != 0) + v_len + 1;
	uint8_t *value;

	if (unlikely(s->buf_bytes - s->len < need))
		return NULL;
	memcpy(s->buf + s->len, f->tag, f->tag_len);
	s->len += f->tag_len;
	value = s->buf + s->len;
	if (prefix != 0)
		s->buf[s->len++] = prefix;
	memcpy(s->buf + s->len, v, v_len);
	s->len += v_len;
	s->buf[s->len++] = '\n';
	return value;
}

/* Whether literal @p l is at @p v, which has @p avail bytes of the value
 * (at least l->len). */
static inline bool
literal_at(const struct literal *l, const uint8_t *v, size_t avail)
{
	uint64_t word;
	uint16_t i;

	if (l->caseless) {
		for (i = 0; i < l->len; i++)
			if (ascii_lower(v[i]) != l->text[i])
				return false;
		return true;
	}
	if (avail < sizeof(word))
		return memcmp(v, l->text, l->len) == 0;
	memcpy(&word, v, sizeof(word));
	if (((word ^ l->head) & l->head_mask) != 0)
		return false;
	return l->len <= sizeof(word) ||
	       memcmp(v + sizeof(word), l->text + sizeof(word),
		      l->len - sizeof(word)) == 0;
}

/* Whether literal @p l holds on the value [v, v + len). */
static inline bool
literal_holds(const struct literal *l, const uint8_t *v, size_t len)
{
	if (len < l->len)
		return false;
	switch (l->anchors) {
	case LITERAL_START | LITERAL_END:
		return len == l->len && literal_at(l, v, len);
	case LITERAL_START:
		return literal_at(l, v, len);
	case LITERAL_END:
		return literal_at(l, v + len - l->len, l->len);
	default:	/* case-sensitive (parse_literal()) */
		return l->len == 0 || memmem(v, len, l->text, l->len) != NULL;
	}
}

/* A value of field @p f: to the scan buffer when Hyperscan looks at the
 * field, and to its literals, which say which routes' conditions hold. */
static void
put_field(const struct st_classifier *c, struct st_classifier_scratch *s,
	  const struct field *f, uint8_t prefix, const uint8_t *v,
	  size_t v_len)
{
	const struct prefix *p = &c->prefixes[f->prefixes];
	const struct literal *l;
	uint64_t word = 0;
	unsigned int i;

	if (f->scanned || unlikely(prefix != 0)) {
		const uint8_t *copy = emit(s, f, prefix, v, v_len);

		if (prefix != 0) {
			/* The literals see the value with its prefix. */
			if (copy == NULL)
				return;
			v = copy;
			v_len++;
		}
	}
	/* A shorter value is padded with NULs, which no literal has
	 * (parse_literal()): a prefix longer than the value fails. */
	if (likely(v_len >= sizeof(word)))
		memcpy(&word, v, sizeof(word));
	else
		memcpy(&word, v, v_len);
	/* Which routes' paths hold is the traffic's: set the bits without
	 * a branch on them, which would mispredict. Routes not wanted may
	 * get bits too; st_classifier_route() ignores them. */
	for (i = 0; i < f->nb_prefixes; i++)
		s->met[p[i].cond] |=
			p[i].route &
			-(uint64_t)(((word ^ p[i].head) & p[i].mask) == 0);
	for (i = f->literals; i != 0; i = l->next) {
		l = &c->literals[i - 1];
		s->met[l->cond] |= (uint64_t)(((s->wanted >> l->route) & 1) &&
					      literal_holds(l, v, v_len))
				   << l->route;
	}
}

/* End of a value that starts at @p p on a line ending at @p end: its
 * first CR, or @p end. */
static inline const uint8_t *
value_end(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *cr = memchr(p, '\r', end - p);

	return cr != NULL ? cr : end;
}

/* @p p, or the end of the bytes classified when it lies past them. */
static inline const uint8_t *
cut(const struct st_classifier *c, const uint8_t *start, const uint8_t *p)
{
	return (size_t)(p - start) > c->max_head_bytes ?
		start + c->max_head_bytes : p;
}

/* Length of a host without its ":port" (an IPv6 literal keeps its
 * colons). */
static inline size_t
host_length(const uint8_t *h, size_t len)
{
	const uint8_t *stop;

	if (len > 0 && h[0] == '[') {
		stop = memchr(h, ']', len);
		return stop != NULL ? (size_t)(stop - h) + 1 : len;
	}
	stop = memchr(h, ':', len);
	return stop != NULL ? (size_t)(stop - h) : len;
}

/* Length of an absolute-form target's "scheme://", or 0 when @p t is not
 * one (RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )). */
static inline size_t
scheme_length(const uint8_t *t, size_t len)
{
	size_t i;

	if (len == 0 || (ascii_lower(t[0]) < 'a' || ascii_lower(t[0]) > 'z'))
		return 0;
	for (i = 1; i < len; i++) {
		uint8_t ch = ascii_lower(t[i]);

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '+' || ch == '-' || ch == '.')
			continue;
		if (ch == ':' && len - i >= 3 && t[i + 1] == '/' &&
		    t[i + 2] == '/')
			return i + 3;
		return 0;
	}
	return 0;
}

/* Put the path (and the host an absolute-form or CONNECT target gives)
 * of the request line [p, end). Returns whether Host fields still count,
 * and sets *authority to a CONNECT host to use when there is no Host
 * field. */
static bool
put_request_line(const struct st_classifier *c,
		  struct st_classifier_scratch *s,
		  const uint8_t *p, const uint8_t *end,
		  enum st_http_method method, const uint8_t **authority,
		  size_t *authority_len)
{
	const uint8_t *t, *t_end, *a, *a_end, *at;
	size_t scheme;

	*authority = NULL;
	*authority_len = 0;
	t = memchr(p, ' ', end - p);
	if (t == NULL)
		return true;	/* cut inside the method: no target */
	while (t < end && *t == ' ')
		t++;
	if (t == end)
		return true;	/* cut before the target */
	t_end = memchr(t, ' ', end - t);
	if (t_end == NULL)
		t_end = end;	/* cut inside the target: partial value */

	scheme = t < t_end && *t != '/' ? scheme_length(t, t_end - t) : 0;
	if (scheme == 0) {
		if (c->need_path)
			put_field(c, s, &c->path, 0, t, t_end - t);
		if (method == ST_HTTP_CONNECT) {
			*authority = t;
			*authority_len = host_length(t, t_end - t);
		}
		return true;
	}
	a = t + scheme;
	for (a_end = a; a_end < t_end; a_end++)
		if (*a_end == '/' || *a_end == '?' || *a_end == '#')
			break;
	if (c->need_path)
		put_field(c, s, &c->path,
			  a_end < t_end && *a_end == '/' ? 0 : '/', a_end,
			  t_end - a_end);
	if (c->need_host) {
		/* Skip "user:password@". */
		for (at = a_end; at > a; at--)
			if (at[-1] == '@') {
				a = at;
				break;
			}
		put_field(c, s, &c->host, 0, a, host_length(a, a_end - a));
	}
	return false;
}

struct scan_ctx {
	const struct st_classifier *c;
	uint64_t wanted;	/* routes that can still win */
	uint64_t matched;
	uint8_t *seen;		/* conditions met, per route */
};

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to,
	 unsigned int flags, void *context)
{
	struct scan_ctx *ctx = context;
	const struct st_classifier *c = ctx->c;
	unsigned int route;
	uint64_t bit;

	(void)from;
	(void)to;
	(void)flags;
	if (unlikely(id >= CONDS_MAX))
		return 0;
	route = c->cond_route[id];
	bit = UINT64_C(1) << route;
	if (!(ctx->wanted & bit))
		return 0;	/* wrong method, or a better route matched */
	ctx->seen[route] |= c->cond_bit[id];
	/* Its literals held, or it would not be wanted. */
	if ((ctx->seen[route] | c->literal_needs[route]) !=
	    c->route_needs[route])
		return 0;
	ctx->matched |= bit;
	/* Routes after it cannot win any more; when none before it can
	 * either, it has won: stop scanning. */
	ctx->wanted &= bit - 1;
	return ctx->wanted == 0;
}

/*
 * Put the fields routes look at (put_field()), from the lines @p head hands
 * out: the request line, then header lines up to the empty line (or one
 * starting with a CR, which ends a value before it starts), within
 * max_head_bytes. Stops reading @p head once nothing more is looked at.
 */
static void
put_fields(const struct st_classifier *c, struct st_classifier_scratch *s,
	   struct st_http_head *head, enum st_http_method method)
{
	const uint8_t *start, *le, *authority;
	struct st_http_line line;
	size_t authority_len;
	bool host_fields, host_seen = false;

	if (!st_http_head_next(head, &line))
		return;
	start = line.start;
	le = cut(c, start, line.end);
	host_fields = put_request_line(c, s, start, value_end(start, le),
					method, &authority, &authority_len);
	host_fields = host_fields && c->need_host;
	if (!host_fields && c->nb_header_names == 0)
		return;
	while (st_http_head_next(head, &line)) {
		uint8_t name[ST_HEADER_NAME_MAX];
		const uint8_t *colon, *v, *v_end;
		size_t name_len, i;
		bool host, header;
		int h = -1;

		if ((size_t)(line.start - start) >= c->max_head_bytes ||
		    line.start[0] == '\r')
			break;
		if (is_ows(line.start[0]))
			continue;	/* folded continuation: not joined */
		le = cut(c, start, line.end);
		/* A colon past the longest name there can be: no field. */
		colon = memchr(line.start, ':',
			       le - line.start < ST_HEADER_NAME_MAX ?
				       (size_t)(le - line.start) :
				       ST_HEADER_NAME_MAX);
		if (colon == NULL)
			continue;
		name_len = colon - line.start;
		/* Most fields are not looked at: tell them by their length. */
		host = host_fields && name_len == 4;
		header = (c->header_name_lengths >> name_len) & 1;
		if (!host && !header)
			continue;
		/* A CR before the colon ends the value there: no field. So
		 * does any other byte no token has, as no name matches. */
		for (i = 0; i < name_len; i++)
			name[i] = ascii_lower(line.start[i]);
		host = host && memcmp(name, "host", 4) == 0;
		if (header)
			h = header_lookup(c, name, name_len);
		if (!host && h < 0)
			continue;
		v = colon + 1;
		v_end = value_end(v, le);
		while (v < v_end && is_ows(*v))
			v++;
		while (v_end > v && is_ows(v_end[-1]))
			v_end--;
		if (host) {
			put_field(c, s, &c->host, 0, v,
				  host_length(v, v_end - v));
			host_seen = true;
		}
		if (h >= 0)
			put_field(c, s, &c->header_names[h], 0, v,
				  v_end - v);
	}
	if (host_fields && !host_seen && authority != NULL)
		put_field(c, s, &c->host, 0, authority, authority_len);
}

void
st_classifier_read(const struct st_classifier *c,
		   struct st_classifier_scratch *s, struct st_http_head *head,
		   enum st_http_method method)
{
	/* Routes without conditions: their methods decide. */
	uint64_t conditioned = c->literal_routes | c->hs_routes;
	uint64_t allowed = 0;

	if (likely((unsigned int)method < ST_HTTP_METHODS))
		allowed = c->routes_of_method[method];
	s->direct = allowed & ~conditioned;
	s->wanted = allowed & conditioned;
	/* Routes with conditions after the first method-only one cannot
	 * win. */
	if (s->direct != 0)
		s->wanted &= (s->direct & -s->direct) - 1;
	s->len = 0;
	if (s->wanted != 0) {
		memset(s->met, 0, sizeof(s->met));
		put_fields(c, s, head, method);
	}
}

int
st_classifier_route(const struct st_classifier *c,
		    struct st_classifier_scratch *s)
{
	struct scan_ctx ctx = { .c = c, .wanted = s->wanted, .seen = s->seen };
	uint64_t done, got;
	unsigned int k;
	hs_error_t rc;

	/* A route with a literal that did not hold cannot win. */
	for (k = 0; k < c->nb_literal_conds; k++)
		ctx.wanted &= s->met[k] | ~c->literal_conds[k];
	/* The first of those left with nothing for Hyperscan has won over
	 * the routes after it; those before it are all Hyperscan's. */
	done = ctx.wanted & ~c->hs_routes;
	ctx.matched = done & -done;
	if (done != 0)
		ctx.wanted &= ctx.matched - 1;
	if (ctx.wanted != 0) {
		memset(s->seen, 0, c->nb_routes);
		rc = hs_scan(c->db, (const char *)s->buf, s->len, 0, s->hs,
			     on_match, &ctx);
		if (unlikely(rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED))
			return ST_ROUTE_ERROR;
	}
	got = ctx.matched | s->direct;
	return got != 0 ? __builtin_ctzll(got) : ST_ROUTE_NONE;
}

int
st_classifier_match(const struct st_classifier *c,
		    struct st_classifier_scratch *s, const uint8_t *head,
		    uint32_t len, enum st_http_method method)
{
	struct st_http_head h;

	/* Bytes past max_head_bytes are not looked at, not even for the
	 * end of a line. */
	st_http_head_begin(&h, head,
			   len < c->max_head_bytes ? len : c->max_head_bytes);
	st_classifier_read(c, s, &h, method);
	return st_classifier_route(c, s);
}
