/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_SHADOW_INT_H
#define ST_SHADOW_INT_H

/*
 * Inside the shadow client (shadow.h), for its own files only.
 *
 * shadow.c holds the API and what does not depend on how bytes travel:
 * the lanes (a conn_id's requests in order), the connection slots, the
 * request as the shadow is to get it, and the report of an answer. A
 * transport sends a request once it has a slot and reads the answer:
 * shadow_http.c (our own client, http://) or shadow_curl.c (libcurl,
 * https://). shadow.c's top says why there are two.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shadow.h"

/* Response head bytes kept per request (the final response's fields). */
#define SHADOW_HEAD_MAX_BYTES 65536
/* Room for an error message (libcurl's CURL_ERROR_SIZE). */
#define SHADOW_ERROR_SIZE 256

struct shadow_buf {
	char *data;
	size_t len, cap;
};

/*
 * One taken request, from submit to done(). A transport's own request
 * struct starts with it. A lane head is the oldest request of its conn_id
 * (ready for a slot, or in the transport); the others wait behind it on
 * lane_next.
 */
struct shadow_xfer {
	void *user;
	uint64_t conn_id;
	uint32_t max_body_bytes;
	struct shadow_xfer *next;	/* free list, ready queue, or the
					 * transport's once it has a slot */
	struct shadow_xfer *lane_next;	/* next request of this conn_id */
	struct shadow_xfer *lane_tail;	/* last of the lane (lane head only) */
	struct shadow_xfer *bucket_next;	/* next lane head in the bucket */
	bool body_truncated;
	/* the final response's field lines, "Name: value\r\n" each */
	struct shadow_buf head;
	struct shadow_buf body;
	struct st_http_field *fields;
	unsigned int fields_cap;
	char error[SHADOW_ERROR_SIZE];	/* why it failed, if it did */
};

/* A request as the shadow is to get it, built by shadow.c for
 * prepare(); valid during that call only. */
struct shadow_msg {
	const char *method;
	const char *target;	/* url path prefix and captured target */
	bool head;		/* HEAD: the answer has no body */
	bool with_body;		/* send body with a Content-Length */
	const uint8_t *body;	/* NULL when body_len is 0 */
	uint32_t body_len;
	/* "Name: value\r\n" lines ("Name:\r\n" for an empty value): Host
	 * first, the mark header last, no Content-Length */
	const char *fields;
	size_t fields_len;
};

/* How a transport is driven by shadow.c. Every call is from the thread
 * that owns the client. */
struct shadow_transport {
	/* Set up s->be to reach @p host (as in the url, brackets kept for
	 * IPv6) on @p port (the url's, or the scheme's default). @return 0
	 * or a negative errno, with "shadow...: what" in @p err */
	int (*init)(struct st_shadow *s, const char *host, const char *port,
		    char *err, size_t errlen);
	/* Free s->be (NULL is fine), after every request is freed. */
	void (*fini)(struct st_shadow *s);
	/* A zeroed request of the transport's size, or NULL. */
	struct shadow_xfer *(*xfer_new)(void);
	/* Copy what @p m holds into @p x. @return 0, -EINVAL, -ENOMEM */
	int (*prepare)(struct st_shadow *s, struct shadow_xfer *x,
		       const struct shadow_msg *m);
	/* @p x got a slot: send it. It ends with shadow_finish(), never
	 * from this call. */
	void (*start)(struct st_shadow *s, struct shadow_xfer *x);
	/* @p x is done (or was never started): forget the request, keep
	 * what can serve the next one. */
	void (*xfer_reset)(struct shadow_xfer *x);
	/* Free @p x whatever its state (st_shadow_free()). */
	void (*xfer_free)(struct st_shadow *s, struct shadow_xfer *x);
	/* st_shadow_poll(), as shadow.h says. */
	int (*poll)(struct st_shadow *s, struct pollfd *extra,
		    unsigned int nb_extra, int timeout_ms);
};

extern const struct shadow_transport shadow_http;
extern const struct shadow_transport shadow_curl;

struct st_shadow {
	struct st_replay_shadow_conf conf;
	const struct st_sanitizer *san;
	uint32_t max_body_bytes;
	st_shadow_done_fn done;
	void *arg;
	const struct shadow_transport *tp;
	void *be;			/* the transport's state */
	char prefix[ST_REPLAY_URL_MAX];	/* path of the url, no final '/' */
	char authority[ST_REPLAY_URL_MAX];	/* host[:port] of the url */
	struct shadow_xfer **buckets;	/* lane heads by conn_id */
	size_t bucket_mask;
	struct shadow_xfer *free_list;
	struct shadow_xfer *ready_head, *ready_tail;	/* waiting for a slot */
	unsigned int in_flight;
	unsigned int active;		/* requests holding a slot */
	struct shadow_buf target;	/* scratch: the request being built */
	struct shadow_buf fields;
	struct st_shadow_stats stats;
};

/* Append @p n bytes to @p b, growing geometrically up to @p limit bytes
 * (which the caller checked). @return 0 or -1 when memory runs out. */
int shadow_buf_add(struct shadow_buf *b, const void *p, size_t n,
		   size_t limit);

/* Empty @p b; a large one gives its memory back. */
void shadow_buf_recycle(struct shadow_buf *b);

/* Keep @p len bytes of @p x's response body, up to max_body_bytes (the
 * rest is counted as truncated). @return 0 or -1 when memory runs out. */
int shadow_keep_body(struct shadow_xfer *x, const char *p, size_t len);

/**
 * @p x is over: release its slot, start what is ready, call done() with
 * @p r and recycle @p x. The transport has let go of @p x before.
 *
 * @param r         outcome, status, ttfb_ms, total_ms filled; error NULL
 *                  for x->error; fields and body are filled here from
 *                  x->head and x->body when ANSWERED
 * @param sent      request bytes written, for the counters
 * @param received  response bytes read, for the counters
 */
void shadow_finish(struct st_shadow *s, struct shadow_xfer *x,
		   struct st_shadow_response *r, uint64_t sent,
		   uint64_t received);

#endif
