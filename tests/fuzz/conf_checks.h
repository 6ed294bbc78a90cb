/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_FUZZ_CONF_CHECKS_H
#define ST_FUZZ_CONF_CHECKS_H

/*
 * What the config targets (fuzz_config.c, fuzz_replay_conf.c) share: the
 * input as a file the loaders open by name, the promises of a failed load
 * and of loaded routes, and requests classified by those routes. A broken
 * promise aborts, for libFuzzer to report with the input.
 */

#include <stddef.h>
#include <stdint.h>

#include "classifier.h"
#include "config.h"

/**
 * Write @p size bytes at @p data to @p name in a directory of the
 * target's own (made at the first call, removed at exit), so that a path
 * relative to the file (routes_from) finds only what the target put
 * there. Aborts when it cannot.
 *
 * @return the file's path, valid until the next call with @p name
 */
const char *st_fuzz_file(const char *name, const void *data, size_t size);

/**
 * A load of @p path failed as loaders promise: a negative errno, and a
 * message naming the file ("PATH: ..." or "PATH:LINE: ...").
 */
void st_fuzz_check_failure(const char *path, int ret, const char *err);

/** A mirror's or a route's name: not empty, letters, digits, "-_.". */
void st_fuzz_check_name(const char *name);

/**
 * The routes of a loaded config keep config.h's promises: counts within
 * bounds, names valid (st_fuzz_check_name()) and unique, percents in
 * 0..100, methods and header names well formed, and no route whose
 * requests are copied (bit i of @p copied) matches writes without
 * allow_writes.
 */
void st_fuzz_check_routes(const struct st_config *cfg, uint64_t copied);

/**
 * Classify a few requests (reads and writes, with and without a Host)
 * with @p c, compiled from @p cfg: each gets ST_ROUTE_NONE or a route
 * whose methods include its own.
 */
void st_fuzz_classify(const struct st_config *cfg,
		      const struct st_classifier *c,
		      struct st_classifier_scratch *s);

#endif
