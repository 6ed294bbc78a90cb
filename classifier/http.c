/* SPDX-License-Identifier: BSD-3-Clause */
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "st_compiler.h"

/* Method tokens with their space, grouped by first byte (see below). */
static const struct {
	const char *token;
	uint8_t len;
	uint8_t method;
} method_tokens[] = {
	{ "GET ", 4, ST_HTTP_GET },		/* 0 */
	{ "HEAD ", 5, ST_HTTP_HEAD },		/* 1 */
	{ "POST ", 5, ST_HTTP_POST },		/* 2 */
	{ "PUT ", 4, ST_HTTP_PUT },		/* 3 */
	{ "PATCH ", 6, ST_HTTP_PATCH },		/* 4 */
	{ "DELETE ", 7, ST_HTTP_DELETE },	/* 5 */
	{ "OPTIONS ", 8, ST_HTTP_OPTIONS },	/* 6 */
	{ "CONNECT ", 8, ST_HTTP_CONNECT },	/* 7 */
	{ "TRACE ", 6, ST_HTTP_TRACE },		/* 8 */
};

int
st_http_request_method(const uint8_t *p, uint32_t len)
{
	unsigned int first, last, i;
	int ret = ST_HTTP_NOT_REQUEST;

	if (unlikely(len == 0))
		return ST_HTTP_NOT_REQUEST;
	/* Most payloads are not request starts: one switch rejects them. */
	switch (p[0]) {
	case 'G': first = 0; last = 1; break;
	case 'H': first = 1; last = 2; break;
	case 'P': first = 2; last = 5; break;
	case 'D': first = 5; last = 6; break;
	case 'O': first = 6; last = 7; break;
	case 'C': first = 7; last = 8; break;
	case 'T': first = 8; last = 9; break;
	default: return ST_HTTP_NOT_REQUEST;
	}
	for (i = first; i < last; i++) {
		uint32_t n = len < method_tokens[i].len ?
			len : method_tokens[i].len;

		if (memcmp(p, method_tokens[i].token, n) != 0)
			continue;
		if (n == method_tokens[i].len)
			return method_tokens[i].method;
		/* "P" is a prefix of three tokens: keep looking for a full
		 * match rather than answering at the first prefix. */
		ret = ST_HTTP_PREFIX;
	}
	return ret;
}

uint32_t
st_http_head_length(const uint8_t *p, uint32_t len)
{
	const uint8_t *end, *lf = p;

	if (unlikely(len == 0))
		return 0;	/* before p + len: p may be NULL */
	end = p + len;
	while ((lf = memchr(lf, '\n', end - lf)) != NULL) {
		size_t rest = end - lf - 1;

		if (rest >= 1 && lf[1] == '\n')
			return lf - p + 2;
		if (rest >= 2 && lf[1] == '\r' && lf[2] == '\n')
			return lf - p + 3;
		lf++;
	}
	return 0;
}

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

/* Whether @p n bytes at @p p are @p lower (a lower-case literal) in any
 * case. */
static bool
name_is(const uint8_t *p, size_t n, const char *lower, size_t lower_len)
{
	size_t i;

	if (n != lower_len)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(p[i]) != (uint8_t)lower[i])
			return false;
	return true;
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

int64_t
st_http_body_length(const uint8_t *head, uint32_t head_len)
{
	static const char cl_name[] = "content-length";
	static const char te_name[] = "transfer-encoding";
	const uint8_t *end, *line, *lf;
	bool prev_framing = false;
	int64_t length = -1;

	if (unlikely(head_len == 0))
		return 0;	/* before head + head_len: head may be NULL */
	end = head + head_len;
	lf = memchr(head, '\n', head_len);
	if (lf == NULL)
		return 0;
	/* Header lines, after the request line. */
	for (line = lf + 1; line < end; line = lf + 1) {
		const uint8_t *colon, *name_end;
		size_t n;
		bool name_ows;

		lf = memchr(line, '\n', end - line);
		if (lf == NULL)
			break;
		n = lf - line;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (is_ows(line[0])) {
			/* A folded continuation could hide a second value. */
			if (prev_framing)
				return -1;
			continue;
		}
		prev_framing = false;
		colon = memchr(line, ':', n);
		if (colon == NULL)
			continue;
		name_end = colon;
		while (name_end > line && is_ows(name_end[-1]))
			name_end--;
		name_ows = name_end != colon;
		if (name_is(line, name_end - line, te_name,
			    sizeof(te_name) - 1))
			return -1;
		if (name_is(line, name_end - line, cl_name,
			    sizeof(cl_name) - 1)) {
			int64_t v;

			/* "Content-Length :" is invalid; servers differ in
			 * whether they honour it, so the end is unknown. */
			if (name_ows)
				return -1;
			v = parse_content_length(colon + 1, line + n);
			if (v < 0 || (length >= 0 && v != length))
				return -1;
			length = v;
			prev_framing = true;
		}
	}
	return length < 0 ? 0 : length;
}
