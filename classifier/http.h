/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_HTTP_H
#define ST_HTTP_H

/*
 * Just enough HTTP/1.x request framing for a per-packet decision: does a
 * TCP payload start a request, where does its head end, how long is its
 * body. Functions over bytes: no allocation, no syscall; thread-safe (a
 * head reader is used by one thread at a time).
 *
 * A head is read once: a reader (st_http_head_begin()) hands out its lines
 * one by one, to the route classifier for instance, and finds the head's
 * end and its body length on the way; st_http_head_length() and
 * st_http_body_length() are that reader run alone.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

/* st_http_request_method() results besides an enum st_http_method. */
#define ST_HTTP_NOT_REQUEST (-1)	/* not the start of a request */
#define ST_HTTP_PREFIX (-2)	/* could be, more bytes will tell */

/* A word of bytes in memory order, at any alignment. */
static inline uint64_t
st_http_load64(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/**
 * Whether bytes start an HTTP/1.x request, and with which method.
 *
 * @param p    first payload byte (may be NULL when @p len is 0)
 * @param len  bytes at @p p
 * @return an enum st_http_method when @p p starts with one of the nine
 *         method tokens (case-sensitive) followed by a space;
 *         ST_HTTP_PREFIX when all @p len bytes are a strict prefix of
 *         such a "TOKEN " (a head split into tiny segments);
 *         ST_HTTP_NOT_REQUEST otherwise, including when @p len is 0
 *
 * Inline: every data segment of an HTTP flow asks, and most are no request
 * start (answers, bodies); out of line, the call cost as much as the test.
 */
static inline int
st_http_request_method(const uint8_t *p, uint32_t len)
{
#define M4 "\xff\xff\xff\xff"
	/* Method tokens with their space, grouped by first byte (see below),
	 * each in 8 bytes with a mask of its own bytes: with 8 payload bytes
	 * or more (nearly always), a token is one masked compare of two
	 * words, where a memcmp() call of a variable length cost some 60
	 * instructions. */
	static const struct {
		char token[8];
		char mask[8];
		uint8_t len;
		uint8_t method;
	} tokens[] = {
		{ "GET ", M4, 4, ST_HTTP_GET },			/* 0 */
		{ "HEAD ", M4 "\xff", 5, ST_HTTP_HEAD },		/* 1 */
		{ "POST ", M4 "\xff", 5, ST_HTTP_POST },		/* 2 */
		{ "PUT ", M4, 4, ST_HTTP_PUT },			/* 3 */
		{ "PATCH ", M4 "\xff\xff", 6, ST_HTTP_PATCH },	/* 4 */
		{ "DELETE ", M4 "\xff\xff\xff", 7, ST_HTTP_DELETE },	/* 5 */
		{ "OPTIONS ", M4 M4, 8, ST_HTTP_OPTIONS },	/* 6 */
		{ "CONNECT ", M4 M4, 8, ST_HTTP_CONNECT },	/* 7 */
		{ "TRACE ", M4 "\xff\xff", 6, ST_HTTP_TRACE },	/* 8 */
	};
#undef M4
	/* The tokens a first byte can start: first index | count << 4.
	 * Most payloads are not request starts and one load rejects them;
	 * a switch here was a jump table, its indirect jump mispredicted
	 * on the traffic's bytes. */
	static const uint8_t by_first[256] = {
		['G'] = 0 | 1 << 4, ['H'] = 1 | 1 << 4, ['P'] = 2 | 3 << 4,
		['D'] = 5 | 1 << 4, ['O'] = 6 | 1 << 4, ['C'] = 7 | 1 << 4,
		['T'] = 8 | 1 << 4,
	};
	unsigned int first, last, i;
	int ret = ST_HTTP_NOT_REQUEST;

	if (len == 0 || by_first[p[0]] == 0)
		return ST_HTTP_NOT_REQUEST;
	first = by_first[p[0]] & 0x0f;
	last = first + (by_first[p[0]] >> 4);
	if (len >= 8) {
		uint64_t word = st_http_load64(p);

		for (i = first; i < last; i++)
			if (((word ^ st_http_load64(tokens[i].token)) &
			     st_http_load64(tokens[i].mask)) == 0)
				return tokens[i].method;
		return ST_HTTP_NOT_REQUEST;
	}
	for (i = first; i < last; i++) {
		uint32_t n = len < tokens[i].len ? len : tokens[i].len;

		if (memcmp(p, tokens[i].token, n) != 0)
			continue;
		if (n == tokens[i].len)
			return tokens[i].method;
		/* "P" is a prefix of three tokens: keep looking for a full
		 * match rather than answering at the first prefix. */
		ret = ST_HTTP_PREFIX;
	}
	return ret;
}

/* Four bytes as a number, the first in the lowest 8 bits: the same
 * number on any CPU, whether the bytes are constants or read one by one. */
#define ST_HTTP_WORD4(a, b, c, d)                                        \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |       \
	 (uint32_t)(d) << 24)

/**
 * Whether a request may start at @p p: true for every payload that
 * st_http_request_method() does not call ST_HTTP_NOT_REQUEST, and for a
 * few others (1 to 3 bytes; a method's first 4 bytes with anything after
 * them), never for no bytes. Decided without a branch on the bytes:
 * whether a segment starts a request is the traffic's choice, which a
 * branch mispredicts.
 */
static inline bool
st_http_may_start_request(const uint8_t *p, uint32_t len)
{
	/* A method's first 4 bytes, by its first byte; P has three. Any
	 * other entry's first byte differs from its index, so that only a
	 * method's start matches: 0's is not 0, or zero padding would. */
	static const uint32_t first4[256] = {
		[0] = ST_HTTP_WORD4(1, 0, 0, 0),
		['G'] = ST_HTTP_WORD4('G', 'E', 'T', ' '),
		['H'] = ST_HTTP_WORD4('H', 'E', 'A', 'D'),
		['P'] = ST_HTTP_WORD4('P', 'O', 'S', 'T'),
		['D'] = ST_HTTP_WORD4('D', 'E', 'L', 'E'),
		['O'] = ST_HTTP_WORD4('O', 'P', 'T', 'I'),
		['C'] = ST_HTTP_WORD4('C', 'O', 'N', 'N'),
		['T'] = ST_HTTP_WORD4('T', 'R', 'A', 'C'),
	};
	static const uint8_t short_bytes[4];	/* fewer than 4: no match */
	const uint8_t *q = len >= 4 ? p : short_bytes;
	uint32_t w = ST_HTTP_WORD4(q[0], q[1], q[2], q[3]);

	return (len - 1 < 3) | (w == first4[q[0]]) |
	       (w == ST_HTTP_WORD4('P', 'U', 'T', ' ')) |
	       (w == ST_HTTP_WORD4('P', 'A', 'T', 'C'));
}

/**
 * Length of a request head: the request line and header lines up to and
 * including the empty line that ends them ("\r\n\r\n"; "\n\n" and
 * "\n\r\n" are tolerated).
 *
 * @param p    first byte of the request line
 * @param len  bytes at @p p; bytes after the head are ignored
 * @return the head length in bytes, or 0 when its end is not within
 *         @p len bytes
 */
uint32_t st_http_head_length(const uint8_t *p, uint32_t len);

/**
 * Length of the body that follows a request head, so that the next
 * pipelined request can be found.
 *
 * Content-Length (name case-insensitive, value trimmed of spaces and tabs)
 * must be digits only; repeated fields or a comma-separated list are
 * accepted when every value is the same. A header line split over several
 * lines (obsolete folding) counts as unparsable when it continues
 * Content-Length or Transfer-Encoding; so does such a name followed by
 * whitespace before the colon. A final line without its LF is ignored:
 * pass a complete head (st_http_head_length()).
 *
 * @param head      first byte of the request line
 * @param head_len  bytes of the head
 * @return the body length in bytes; 0 when there is neither
 *         Content-Length nor Transfer-Encoding; -1 when there is a
 *         Transfer-Encoding (chunked or any other coding), when
 *         Content-Length values conflict, or when one is not a number
 *         below 10^18: the body's end is then unknown
 */
int64_t st_http_body_length(const uint8_t *head, uint32_t head_len);

/*
 * A request head being read, line by line:
 *
 *	st_http_head_begin(&h, p, len);
 *	while (st_http_head_next(&h, &line))
 *		look at the line, or stop looking;
 *	st_http_head_finish(&h);
 *
 * after which h.len and h.body_len hold what st_http_head_length(p, len)
 * and, when h.len > 0, st_http_body_length(p, h.len) return. When the
 * head's end is not within the bytes, h.body_len is what
 * st_http_body_length(p, len) returns. The fields after body_len are the
 * reader's own.
 */
struct st_http_head {
	uint32_t len;		/* head length once its end was read, else 0 */
	int64_t body_len;	/* body length from the header lines read */
	const uint8_t *start;
	const uint8_t *next;	/* the next line; end when there is none */
	const uint8_t *end;
	bool has_length;	/* a Content-Length was read */
	bool after_length;	/* and it is the last field read */
};

/* A line handed out by st_http_head_next(). */
struct st_http_line {
	const uint8_t *start;
	const uint8_t *end;	/* its LF, or the end of the bytes */
};

/**
 * Start reading a request head.
 *
 * @param h    the reader
 * @param p    first byte of the request line (may be NULL when @p len is 0)
 * @param len  bytes at @p p, which must stay unchanged while @p h reads
 *             them; bytes after the head are not read
 */
void st_http_head_begin(struct st_http_head *h, const uint8_t *p,
			uint32_t len);

/**
 * The next line of a head: the request line first, then each header line
 * up to (not including) the empty line that ends the head. A final line
 * cut by the end of the bytes, without its LF, is handed out too; as for
 * st_http_body_length(), it frames nothing.
 *
 * @return true with @p line set; false once the head's end was read or the
 *         bytes are exhausted
 */
bool st_http_head_next(struct st_http_head *h, struct st_http_line *line);

/** Read the lines of a head not read yet, for its length and body length. */
void st_http_head_finish(struct st_http_head *h);

#endif
