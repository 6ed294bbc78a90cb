/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_RCTL_H
#define ST_RCTL_H

/*
 * shadowtap-replay's control socket and Prometheus endpoint.
 *
 * The socket is the appliance's (mgmt/ctlsock.h, docs/control.md): a
 * unix stream socket, mode 0660, one JSON request per line, one JSON reply
 * per line, {"ok":false,"error":...} for what it cannot do, an "id" given
 * in a request echoed in its reply, 16 clients at once. Commands: version,
 * stats ({"stats": ...}), compare ({"compare": the judged comparison,
 * compare.h}), compare_reset (the comparison starts over). It is served from the replay's own loop: st_rctl_fds() gives
 * what to poll, st_rctl_handle() serves what the poll found.
 *
 * The metrics (GET /metrics, text format 0.0.4) are served by
 * libmicrohttpd's thread (mgmt/metricsd.h) from the last text published
 * with st_rmetrics_publish(): that thread never touches the engine.
 */

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

/* What the commands serve; each gets st_rctl_start()'s arg. */
struct st_rctl_ops {
	/* stats: the counters document (a new reference; NULL: failed) */
	json_t *(*stats)(void *arg);
	/* compare: the judged comparison (compare.h; likewise) */
	json_t *(*compare)(void *arg);
	/* compare_reset: the comparison starts over */
	void (*compare_reset)(void *arg);
};

struct st_rctl;

/* Most fds st_rctl_fds() gives: the listener and its clients. */
#define ST_RCTL_MAX_FDS 17

/**
 * Create the socket at @p path (mode 0660; its directory too) and listen.
 * Fails with -EADDRINUSE when another process serves that path (another
 * replay, or the appliance); a leftover socket file is replaced.
 *
 * @param ops  what the commands serve; copied
 * @return 0, or a negative errno with @p err saying why
 */
int st_rctl_start(const char *path, const struct st_rctl_ops *ops, void *arg,
		  struct st_rctl **out, char *err, size_t errlen);

/** Close every connection and remove the socket (NULL is fine). */
void st_rctl_stop(struct st_rctl *c);

/**
 * The fds to poll, with their events, at most ST_RCTL_MAX_FDS.
 * @return how many were written to @p fds
 */
unsigned int st_rctl_fds(const struct st_rctl *c, struct pollfd *fds);

/**
 * Serve what a poll found on the fds st_rctl_fds() gave (in the same
 * order, revents set; POLLIN is enough to notice a hang-up).
 */
void st_rctl_handle(struct st_rctl *c, const struct pollfd *fds,
		    unsigned int nb_fds);

struct st_rmetrics;

/**
 * Serve GET /metrics on @p addr ("IPV4:PORT" or "[IPV6]:PORT") from a
 * thread of libmicrohttpd's, with an empty text until the first publish.
 *
 * @return 0; -EINVAL for a malformed address; the bind() error; -ENOMEM
 *         or -EIO when the server does not start
 */
int st_rmetrics_start(const char *addr, struct st_rmetrics **out, char *err,
		      size_t errlen);

/** Stop serving and wait for the server's thread (NULL is fine). */
void st_rmetrics_stop(struct st_rmetrics *m);

/**
 * Render a stats document (st_engine_stats_json() with the capture's
 * counters) as Prometheus text and make it what scrapes get from now on.
 * Thread-safe against the server's thread.
 *
 * @return 0 or -ENOMEM (the previous text stays)
 */
int st_rmetrics_publish(struct st_rmetrics *m, const json_t *stats);

#endif
