/* SPDX-License-Identifier: BSD-3-Clause */
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "st_compiler.h"

/* ST_HTTP_NO_SIMD: the portable path, for its test on x86-64. */
#if defined(__SSE2__) && !defined(ST_HTTP_NO_SIMD)
#define HTTP_SSE2
#include <emmintrin.h>
#endif

static inline bool
is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static inline uint8_t
ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* When the line [p, end) is field @p lower (a lower-case name, in any
 * case) and its colon, perhaps after spaces or tabs: that colon; else
 * NULL. Neither a name nor spaces hold a colon, so it is the line's
 * first. */
static const uint8_t *
field_colon(const uint8_t *p, const uint8_t *end, const char *lower,
	    size_t lower_len)
{
	const uint8_t *q;
	size_t i;

	if ((size_t)(end - p) <= lower_len)
		return NULL;
	for (i = 0; i < lower_len; i++)
		if (ascii_lower(p[i]) != (uint8_t)lower[i])
			return NULL;
	for (q = p + lower_len; q < end && is_ows(*q); q++)
		;
	return q < end && *q == ':' ? q : NULL;
}

/* 18 digits always fit in an int64_t; longer numbers are not plausible
 * bodies and would need overflow checks. */
#define CONTENT_LENGTH_DIGITS_MAX 18

/* The value of a Content-Length field: a number, or a list of equal
 * numbers; -1 when it is anything else. */
static int64_t
parse_content_length(const uint8_t *p, const uint8_t *end)
{
	int64_t value = -1;

	for (;;) {
		const uint8_t *digits;
		int64_t v = 0;

		while (p < end && is_ows(*p))
			p++;
		digits = p;
		while (p < end && *p >= '0' && *p <= '9') {
			if (p - digits >= CONTENT_LENGTH_DIGITS_MAX)
				return -1;
			v = v * 10 + (*p - '0');
			p++;
		}
		if (p == digits)
			return -1;
		while (p < end && is_ows(*p))
			p++;
		if (value >= 0 && v != value)
			return -1;
		value = v;
		if (p == end)
			return value;
		if (*p != ',')
			return -1;
		p++;
	}
}

/* What a header line [p, end), without its CR LF, says of the body's
 * length; st_http_head_next() calls it only for the lines that can say
 * something. Every way to an unknown length is final. */
static void
frame_field(struct st_http_head *h, const uint8_t *p, const uint8_t *end)
{
	static const char cl_name[] = "content-length";
	static const char te_name[] = "transfer-encoding";
	bool after_length = h->after_length;
	const uint8_t *colon;
	int64_t v;

	h->after_length = false;
	if (is_ows(p[0])) {
		/* A folded continuation could hide a second value. */
		if (after_length)
			h->body_len = -1;
		return;
	}
	if (field_colon(p, end, te_name, sizeof(te_name) - 1) != NULL) {
		h->body_len = -1;
		return;
	}
	colon = field_colon(p, end, cl_name, sizeof(cl_name) - 1);
	if (colon == NULL)
		return;
	/* "Content-Length :" is invalid; servers differ in whether they
	 * honour it, so the end is unknown. */
	v = colon == p + sizeof(cl_name) - 1 ?
		parse_content_length(colon + 1, end) : -1;
	if (v < 0 || (h->has_length && v != h->body_len)) {
		h->body_len = -1;
		return;
	}
	h->body_len = v;
	h->has_length = true;
	h->after_length = true;
}

void
st_http_head_begin(struct st_http_head *h, const uint8_t *p, uint32_t len)
{
	h->len = 0;
	h->body_len = 0;
	h->start = p;
	h->next = p;
	h->end = len > 0 ? p + len : p;	/* p may be NULL then */
	h->has_length = false;
	h->after_length = false;
}

/* st_http_head_next(), inlined into st_http_head_finish()'s loop, which
 * reads most lines of most heads. */
static inline bool
read_line(struct st_http_head *h, struct st_http_line *line)
{
	const uint8_t *p = h->next, *lf, *content_end;
	uint8_t first;

	if (p == h->end)
		return false;
	lf = memchr(p, '\n', h->end - p);
	line->start = p;
	if (lf == NULL) {
		line->end = h->end;
		h->next = h->end;
		return true;	/* cut short: frames nothing */
	}
	line->end = lf;
	h->next = lf + 1;
	if (p == h->start)
		return true;	/* the request line */
	/* lf[-1] is this line's, or the LF before it. */
	content_end = lf[-1] == '\r' ? lf - 1 : lf;
	if (content_end == p) {
		h->len = (uint32_t)(lf + 1 - h->start);
		h->next = h->end;
		return false;
	}
	/* Most lines cannot frame: not after a Content-Length, and neither
	 * "content-length" nor "transfer-encoding" (0x20 folds only C and
	 * T onto c and t). */
	first = p[0] | 0x20;
	if (h->body_len >= 0 &&
	    (h->after_length || first == 'c' || first == 't'))
		frame_field(h, p, content_end);
	return true;
}

bool
st_http_head_next(struct st_http_head *h, struct st_http_line *line)
{
	return read_line(h, line);
}

/* Bit i set when p[i] is an LF, for the 64 bytes at p. */
static inline uint64_t
lf_mask64(const uint8_t *p)
{
#if defined(HTTP_SSE2)
	const __m128i lf = _mm_set1_epi8('\n');
#define LF_BITS(i) ((uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8( \
		_mm_loadu_si128((const __m128i *)(p + (i))), lf)) << (i))

	return LF_BITS(0) | LF_BITS(16) | LF_BITS(32) | LF_BITS(48);
#undef LF_BITS
#else
	uint64_t mask = 0;
	unsigned int i;

	for (i = 0; i < 64; i++)
		mask |= (uint64_t)(p[i] == '\n') << i;
	return mask;
#endif
}

/* What the first byte of a line can make of it, for
 * st_http_head_finish(): the empty line, and the names that can frame. */
enum {
	START_END = 1,		/* LF, or a CR that may be CR LF */
	START_FRAMES = 2,	/* C or T, in either case */
};

static const uint8_t line_start_kind[256] = {
	['\n'] = START_END, ['\r'] = START_END,
	['C'] = START_FRAMES, ['c'] = START_FRAMES,
	['T'] = START_FRAMES, ['t'] = START_FRAMES,
};

/*
 * Whether a line starting at @p p, with 8 bytes or more, may be a
 * Content-Length or Transfer-Encoding field: its first 8 bytes, each
 * ORed with 0x20, are "content-" or "transfer". That folds letters as
 * ascii_lower() does and leaves '-' alone, so no such field is missed;
 * what it lets through (Content-Type, or a CR folded onto '-') is read
 * and told apart by frame_field(). Most lines starting with C or T
 * (Cookie, Connection, Cache-Control) then cost two compares, not a
 * memchr() for their end and frame_field()'s own.
 */
static inline bool
may_frame(const uint8_t *p)
{
	uint64_t word = st_http_load64(p) | UINT64_C(0x2020202020202020);

	return word == st_http_load64("content-") ||
	       word == st_http_load64("transfer");
}

/*
 * Reading every line with read_line() costs a memchr() call and a
 * mispredicted exit per line, and the head's end and its framing need
 * only a few lines: the empty one and those starting with C or T. So the
 * lines are found 64 bytes at a time from an LF mask, and only those few
 * are read, C and T ones when their start may frame (may_frame()); the
 * request line and the line after a Content-Length (which a fold could
 * continue) go through read_line().
 */
void
st_http_head_finish(struct st_http_head *h)
{
	struct st_http_line line;
	const uint8_t *p, *end = h->end;
	uint8_t tail[64];

	for (;;) {
		uint64_t starts;
		uint8_t wanted;

		while (h->next == h->start || h->after_length)
			if (!read_line(h, &line))
				return;
		/* h->next starts a line after an LF: p[-1] is that LF. */
		p = h->next;
		if (p == end)
			return;
		wanted = START_END | (h->body_len >= 0 ? START_FRAMES : 0);
		for (;;) {
			/* Bit i: p[i - 1] is an LF, so a line starts at p[i]. */
			if (end - p >= 64) {
				starts = lf_mask64(p - 1);
			} else if (end - h->start > 64) {
				/* Loads must not pass the end: the last 64
				 * bytes, without the lines already read. */
				const uint8_t *last = end - 64;

				starts = lf_mask64(last - 1) &
					 (~UINT64_C(0) << (p - last));
				p = last;
			} else {
				/* A short head, copied: the padding holds no
				 * LF. */
				memset(tail, 0, sizeof(tail));
				memcpy(tail, p - 1, end - p + 1);
				starts = lf_mask64(tail) &
					 ((UINT64_C(1) << (end - p)) - 1);
			}
			for (; starts != 0; starts &= starts - 1) {
				const uint8_t *q = p + __builtin_ctzll(starts);

				if (likely(!(line_start_kind[*q] & wanted)))
					continue;
				if (*q == '\n' ||
				    (*q == '\r' && q + 1 < end && q[1] == '\n')) {
					h->len = (uint32_t)(q + (*q == '\r') + 1 -
							    h->start);
					h->next = end;
					return;
				}
				if (*q == '\r')
					continue;	/* CR then a byte: a line */
				if (end - q >= 8 && !may_frame(q))
					continue;
				h->next = q;
				if (!read_line(h, &line))
					return;
				break;
			}
			if (starts != 0)
				break;	/* a line was read: on after it */
			if (end - p <= 64) {
				h->next = end;
				return;
			}
			p += 64;
		}
	}
}

/* A whole head read at once, for callers that want one answer. */
static struct st_http_head
read_all(const uint8_t *p, uint32_t len)
{
	struct st_http_head h;

	st_http_head_begin(&h, p, len);
	st_http_head_finish(&h);
	return h;
}

uint32_t
st_http_head_length(const uint8_t *p, uint32_t len)
{
	return read_all(p, len).len;
}

int64_t
st_http_body_length(const uint8_t *head, uint32_t head_len)
{
	return read_all(head, head_len).body_len;
}
