/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_METRICSD_H
#define ST_METRICSD_H

/*
 * The HTTP listener of both programs' Prometheus endpoints, without the
 * metrics: each program supplies the text.
 *
 * GET (or HEAD) /metrics, with or without a query, answers 200 with the
 * supplier's text as "text/plain; version=0.0.4; charset=utf-8"; 500 when
 * the supplier has none (out of memory); 404 for any other path; 405 with
 * "Allow: GET, HEAD" for any other method. libmicrohttpd serves from a
 * thread of its own, at most 16 connections, each cut after 10 s idle.
 */

#include <stddef.h>
#include <stdint.h>

/*
 * The metrics text now, malloc'd (the server frees it), its length in
 * @p len; NULL when out of memory. Called on the server's thread, once
 * per scrape.
 */
typedef char *(*st_metricsd_text_fn)(void *arg, size_t *len);

/* A message of libmicrohttpd's, for the program's log. */
typedef void (*st_metricsd_log_fn)(const char *msg);

/* What to serve, and where. */
struct st_metricsd_conf {
	/* "ADDR:PORT": an IPv4 address ("127.0.0.1:9417", "0.0.0.0:9417")
	 * or an IPv6 one in brackets ("[::1]:9417"), numeric only; port
	 * 1..65535. Bound to that address only. */
	const char *addr;
	/* The program's usual port, for the examples of the errors. */
	uint16_t example_port;
	st_metricsd_text_fn text;
	void *arg;		/* given to text; must outlive the server */
	st_metricsd_log_fn log;	/* NULL: libmicrohttpd writes to stderr */
};

struct st_metricsd;

/**
 * Parse conf->addr, bind it and start serving.
 *
 * @param out  the running server on success
 * @param err  on error, "metrics address 'ADDR': why" (or, when it is
 *             empty, what to give)
 * @return 0; -EINVAL for a malformed address; the socket() or bind()
 *         error (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES, ...); -ENOMEM or
 *         -EIO when the server could not start
 */
int st_metricsd_start(const struct st_metricsd_conf *conf,
		      struct st_metricsd **out, char *err, size_t errlen);

/**
 * Stop serving: waits for the server's thread to end (no text is asked
 * for from then on) and closes the socket. NULL is fine.
 */
void st_metricsd_stop(struct st_metricsd *d);

#endif
