/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_METRICS_H
#define ST_METRICS_H

/*
 * The counters for monitoring systems: a Prometheus endpoint (text format
 * 0.0.4 at GET /metrics, served by libmicrohttpd from a thread of its own)
 * and DPDK telemetry commands (/shadowtap/stats, /shadowtap/routes,
 * /shadowtap/mirrors, read with dpdk-telemetry.py). Both only read the
 * view, under its lock; neither ever runs on a worker lcore.
 */

#include <stddef.h>
#include <stdint.h>

#include "view.h"

/* The port scripts/prometheus.yml scrapes. */
#define ST_METRICS_DEFAULT_PORT 9417

struct st_metrics;

/**
 * Serve the metrics of @p view over HTTP on @p addr, bound to that
 * address only, until st_metrics_stop().
 *
 * @param view    read under view->lock at every scrape; must outlive the
 *                server
 * @param addr    "ADDR:PORT": an IPv4 address ("127.0.0.1:9417",
 *                "0.0.0.0:9417") or an IPv6 one in brackets ("[::1]:9417");
 *                port 1..65535
 * @param out     the running server on success
 * @param err     on error, what is wrong with @p addr or why the server
 *                did not start
 * @return 0; -EINVAL for a malformed @p addr; the bind() error
 *         (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES, ...); -ENOMEM or -EIO
 *         when the server could not start
 */
int st_metrics_start(struct st_view *view, const char *addr,
		     struct st_metrics **out, char *err, size_t errlen);

/**
 * Stop serving: waits for the server thread to end and closes the
 * socket. NULL is fine.
 */
void st_metrics_stop(struct st_metrics *m);

/**
 * The metrics of @p view in the Prometheus text format 0.0.4, taking
 * view->lock while reading it. Needs neither EAL nor the server. Any
 * thread but a worker.
 *
 * @param len  receives the length of the text (without the NUL)
 * @return the text, NUL-terminated, to free(); NULL when out of memory
 */
char *st_metrics_render(struct st_view *view, size_t *len);

/**
 * Register the DPDK telemetry commands /shadowtap/stats (totals and per
 * port), /shadowtap/routes (per route, with the unrouted traffic under
 * "unrouted"; a route name as parameter gives that route only) and
 * /shadowtap/mirrors (per mirror, with its percent and switch). Call after
 * rte_eal_init(); each command takes view->lock. Keys are the names of
 * --stats-file; mirrors and routes are keyed by name with '.' and '-'
 * made '_' (telemetry allows no others) and carry their "name"; percents
 * are strings, telemetry in DPDK 22.11 having no floating-point values.
 *
 * @return 0 (also when called again with the same view); -EALREADY while
 *         another view is registered; the error of
 *         rte_telemetry_register_cmd()
 */
int st_telemetry_register(struct st_view *view);

/**
 * Stop the commands from reading the view (they answer nothing from then
 * on): once this returns, the view may be freed. DPDK keeps the commands;
 * st_telemetry_register() may give them a view again.
 */
void st_telemetry_unregister(void);

#endif
