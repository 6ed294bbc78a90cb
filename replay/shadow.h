/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_SHADOW_H
#define ST_SHADOW_H

/*
 * The shadow client: replays captured requests to the shadow service over
 * a pool of HTTP/1.1 keep-alive connections (our own epoll client for
 * http://, libcurl's multi interface for https://), and
 * reports each answer, or why there is none.
 *
 * Semantics a user relies on
 * --------------------------
 * - Method as captured. HEAD is sent without reading a body; a body is
 *   sent (with its Content-Length) when the captured request had one,
 *   i.e. a non-zero body_len or a Content-Length or Transfer-Encoding
 *   field, except for HEAD.
 * - Target: an origin-form target ("/p?q") is sent byte for byte, after
 *   the path of shadow.url if it has one ("http://h:8080/v2" and "/p?q"
 *   give "/v2/p?q"); no dot-segment removal, no re-encoding. Of an
 *   absolute-form target ("http://a:1/p?q") the part after the authority
 *   is used ("/" when empty, "/?q" when it starts with "?"); "*" (OPTIONS)
 *   is sent as "*". An authority-form target (CONNECT) is not replayable.
 * - Headers: the captured fields in order, minus Host (set below), the
 *   mark header's name, hop-by-hop and framing fields (Connection and the
 *   fields it names, Keep-Alive, Transfer-Encoding, Content-Length,
 *   Expect, TE, Upgrade, Proxy-*), and what the sanitizer drops; a field
 *   the sanitizer replaces is sent with its configured value. Then the mark
 *   header. The client adds only Content-Length (for a body): no Accept, no
 *   Content-Type, no Expect, no Accept-Encoding of its own, so the shadow
 *   compresses as the primary did (the body is reported as received,
 *   content-encoding not decoded; chunked framing is removed).
 * - Host: KEEP sends the captured host (the authority of an absolute-form
 *   target, else the Host field); SET sends shadow.host; SUFFIX inserts
 *   shadow.host (the suffix) after the host name and before any ":port"
 *   ("api:8080" + "-shadow" gives "api-shadow:8080", "[::1]:80" gives
 *   "[::1]-shadow:80"), so the port the client named is kept. With no
 *   captured host, KEEP and SUFFIX send the authority of shadow.url.
 * - No redirect is followed, no proxy is used (whatever http_proxy says),
 *   HTTP/1.1 only, no pipelining. timeout_ms bounds each request from the
 *   moment it gets a connection slot to its last byte.
 * - Order: requests with the same conn_id are sent one after another in
 *   submit order, the next when the previous is done (whatever its
 *   outcome). Different conn_ids run in parallel, at most `connections`
 *   at a time, over at most `connections` TCP connections kept alive;
 *   ready requests get a slot first come, first served.
 * - Bounds: at most max_in_flight requests are taken and not done (those
 *   waiting behind an earlier request of their conn_id or for a slot
 *   count). Beyond that st_shadow_submit() refuses with -EBUSY: a dead
 *   shadow costs counters, not memory. A response keeps at most 64 KiB of
 *   header fields and max_body_bytes of body; the rest of the body is read
 *   and discarded so the connection stays usable.
 * - Outcomes: ANSWERED (a complete response, whatever its status),
 *   TIMEOUT, REFUSED (the connection was refused), RESET (the connection
 *   broke or was closed without an answer or in the middle of one), ERROR
 *   (anything else: name resolution, TLS, protocol...). Interim 1xx
 *   responses and trailers are not reported.
 *
 * Not thread-safe: one instance per thread; done() runs in the thread
 * calling st_shadow_poll().
 */

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "exchange.h"
#include "sanitize.h"

/* Client state (connections, requests). */
struct st_shadow;

/* A captured request to replay. Everything is copied at submit. */
struct st_shadow_request {
	const char *method;	/* token as sent, NUL-terminated */
	const char *target;	/* request target as sent, NUL-terminated */
	const char *host;	/* captured Host value, NUL-terminated; "" or
				 * NULL if none */
	const struct st_http_field *fields;	/* captured header fields */
	unsigned int nb_fields;
	const uint8_t *body;	/* de-chunked */
	uint32_t body_len;
	uint64_t conn_id;	/* requests of a connection keep their order */
	void *user;		/* handed back to done() */
};

/* What became of a replayed request. */
enum st_shadow_outcome {
	ST_SHADOW_ANSWERED,
	ST_SHADOW_TIMEOUT,
	ST_SHADOW_REFUSED,
	ST_SHADOW_RESET,
	ST_SHADOW_ERROR,
	ST_SHADOW_OUTCOMES
};

/* The shadow's answer. Valid only during the done() call: copy what is
 * kept. */
struct st_shadow_response {
	enum st_shadow_outcome outcome;
	int status;			/* 0 unless ANSWERED */
	const struct st_http_field *fields;	/* final response's fields */
	unsigned int nb_fields;
	const uint8_t *body;		/* as received (not decoded) */
	uint32_t body_len;
	bool body_truncated;		/* longer than max_body_bytes */
	/* request fully written -> first response byte (https: libcurl's
	 * CURLINFO_STARTTRANSFER_TIME_T - CURLINFO_PRETRANSFER_TIME_T) */
	double ttfb_ms;
	double total_ms;		/* connection slot -> last byte */
	const char *error;		/* what failed, unless ANSWERED */
};

/* Called once per taken request when it is done, from st_shadow_poll().
 * It may call st_shadow_submit(), not st_shadow_poll() nor
 * st_shadow_free(). */
typedef void (*st_shadow_done_fn)(void *arg, void *user,
				  const struct st_shadow_response *resp);

/* Counters. submitted == sum of outcome[] + st_shadow_in_flight(). */
struct st_shadow_stats {
	uint64_t submitted;		/* requests taken */
	uint64_t busy;			/* refused with -EBUSY */
	uint64_t outcome[ST_SHADOW_OUTCOMES];	/* requests done */
	uint64_t bytes_sent;		/* request heads and bodies */
	uint64_t bytes_received;	/* response heads and bodies */
};

/**
 * Create a shadow client. No connection is opened yet.
 *
 * @param c               the shadow configuration (url, host mode,
 *                        timeout, connections, max_in_flight, mark); copied
 * @param san             header drops and replacements; NULL for none.
 *                        Must outlive the client
 * @param max_body_bytes  response body bytes kept per request
 * @param done            called once per taken request
 * @param arg             first argument of @p done
 * @param out             receives the client on success
 * @param err             on error, receives "shadow.KEY: what is wrong"
 *                        (the caller prefixes the file and line)
 * @param errlen          size of @p err
 * @return 0; -EINVAL for a url that is not http:// or https:// with a
 *         host, SET without a host, SUFFIX without a suffix, or 0
 *         connections or max_in_flight; -ENOMEM; -EIO when libcurl cannot
 *         be initialised
 */
int st_shadow_create(const struct st_replay_shadow_conf *c,
		     const struct st_sanitizer *san, uint32_t max_body_bytes,
		     st_shadow_done_fn done, void *arg, struct st_shadow **out,
		     char *err, size_t errlen);

/** Free a client (NULL is fine). What is in flight is aborted, without
 * calling done(). Not from done(). */
void st_shadow_free(struct st_shadow *s);

/**
 * Take a request for replay. It is sent from st_shadow_poll(), and done()
 * is called there once it is over (never from this call).
 *
 * @param s    client
 * @param req  the request; everything is copied
 * @return 0 when taken; -EBUSY when max_in_flight requests are taken and
 *         not done (counted in stats.busy; poll, then retry or skip);
 *         -EINVAL for a request that cannot be replayed (no method, an
 *         authority-form target, a method or field libcurl cannot send);
 *         -ENOMEM
 */
int st_shadow_submit(struct st_shadow *s, const struct st_shadow_request *req);

/**
 * Run the client: wait up to @p timeout_ms for the shadow's connections or
 * for the caller's @p extra fds, make progress, and call
 * done() for every request that finished. Returns as soon as one of the
 * extra fds is ready, so one thread can wait on its own fds and on the
 * shadow at once.
 *
 * @param s           client
 * @param extra       the caller's fds (events: POLLIN, POLLPRI, POLLOUT);
 *                    their revents are set to what happened among those
 *                    three (a hang-up is reported as POLLIN, an error
 *                    as POLLIN and POLLOUT: POLLHUP and POLLERR are
 *                    not passed on, as libcurl did); NULL if none
 * @param nb_extra    entries at @p extra
 * @param timeout_ms  longest wait (0: do not wait)
 * @return the number of extra fds with events; -ENOMEM; -EIO when
 *         waiting fails (epoll, poll or libcurl)
 */
int st_shadow_poll(struct st_shadow *s, struct pollfd *extra,
		   unsigned int nb_extra, int timeout_ms);

/** Requests taken and not done yet. */
unsigned int st_shadow_in_flight(const struct st_shadow *s);

/** The counters (valid until st_shadow_free()). */
const struct st_shadow_stats *st_shadow_stats(const struct st_shadow *s);

/** "answered", "timeout", "refused", "reset", "error"; "?" if unknown. */
const char *st_shadow_outcome_name(enum st_shadow_outcome o);

#endif
