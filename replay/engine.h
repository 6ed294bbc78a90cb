/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_ENGINE_H
#define ST_ENGINE_H

/*
 * The replay's pipeline: a captured frame is decapsulated, its TCP
 * segment reassembled, the streams cut into HTTP exchanges; each complete
 * request is classified (its route), held to the write policy, and
 * replayed to the shadow; once the primary's answer (from the wire) and
 * the shadow's are both in, one struct st_record goes to the sink.
 *
 * Policy, in this order, for each complete request:
 * - a method outside the nine st_http_method ones matches no route and is
 *   not replayed: ST_RECORD_SKIPPED_METHOD;
 * - a route the appliance's file (routes_from) gives "mirror: none" (a
 *   health check, an excluded path) is counted, never replayed:
 *   ST_RECORD_SKIPPED_ROUTE;
 * - only GET, HEAD and OPTIONS are replayed unless the request's route
 *   says allow_writes (a second lock behind the appliance's; a request of
 *   no route never writes): ST_RECORD_SKIPPED_WRITE;
 * - a request whose body was cut at max_body_bytes cannot be replayed:
 *   ST_RECORD_SKIPPED_TRUNCATED;
 * - dry run: ST_RECORD_DRY_RUN;
 * - the shadow full (max_in_flight): live input skips the request
 *   (ST_RECORD_SKIPPED_BUSY); file input waits for room, so a file gives
 *   the same exchanges on every run.
 *
 * With a secondary (conf->has_secondary), a request the shadow took is
 * sent to the secondary too, at once; its record waits for both answers
 * (or their failures). A secondary that is full or fails costs only its
 * side of the record (record.h: secondary_outcome).
 *
 * Time is capture time: reassembly's idle timeout runs on the packets'
 * timestamps; st_engine_expire() also lets a live capture expire on the
 * wall clock while no packet comes.
 *
 * Not thread-safe: one thread runs an engine and its sink.
 */

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "record.h"
#include "sanitize.h"

struct st_engine_opts {
	bool dry_run;		/* replay nothing; no shadow is created */
	bool wait_for_room;	/* file input: never skip for a full shadow */
};

struct st_engine;

/**
 * Build the pipeline of a configuration: classifier, sanitizer,
 * reassembly, HTTP parser and (unless dry run) the shadow client.
 *
 * @param conf  the configuration; conf->has_shadow is required unless
 *              dry run; nothing of it is kept
 * @param sink  receives each complete record
 * @param err   receives "FILE:LINE: what is wrong" for the configuration,
 *              else what failed
 * @return 0, -EINVAL or -ENOMEM
 */
int st_engine_create(const struct st_replay_conf *conf,
		     const struct st_engine_opts *opts, st_record_sink sink,
		     void *sink_arg, struct st_engine **out, char *err,
		     size_t errlen);

/**
 * Free an engine (NULL is fine). Records not complete yet are dropped
 * without reaching the sink: call st_engine_finish() first.
 */
void st_engine_free(struct st_engine *e);

/**
 * One captured frame. Records may reach the sink from this call.
 *
 * @param ts_ns  capture time, ns since the epoch
 */
void st_engine_packet(struct st_engine *e, const uint8_t *frame,
		      uint32_t caplen, uint32_t wirelen, uint64_t ts_ns);

/** End connections idle as of @p now_ns (capture clock). */
void st_engine_expire(struct st_engine *e, uint64_t now_ns);

/**
 * Wait up to @p timeout_ms for the shadow's connections or the caller's
 * @p extra fds, and complete what the shadow answered (records may reach
 * the sink). Without a shadow, a plain poll() of @p extra.
 *
 * @return the number of @p extra fds with events, or a negative errno
 */
int st_engine_poll(struct st_engine *e, struct pollfd *extra,
		   unsigned int nb_extra, int timeout_ms);

/**
 * End of input: end every connection as of @p now_ns, then wait up to
 * the shadow's timeout for what is in flight. Requests still unanswered
 * then get ST_RECORD_TIMEOUT. Every request has had its record when this
 * returns; after it, only st_engine_stats_json() and st_engine_free().
 */
void st_engine_finish(struct st_engine *e, uint64_t now_ns);

/** The masks the engine applies (sanitize section), for sinks that store
 * or show what records hold; valid as long as the engine. */
const struct st_sanitizer *st_engine_sanitizer(const struct st_engine *e);

/**
 * The counters as a JSON object: decap (frames by result), reasm,
 * exchanges, shadow (null when dry run), secondary (null when none),
 * records (by outcome), routes
 * (by name) and unrouted.
 *
 * @return a new object, or NULL when out of memory
 */
json_t *st_engine_stats_json(const struct st_engine *e);

#endif
