/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_RUNTIME_H
#define ST_RUNTIME_H

/*
 * The running configuration and its swap. Workers read the policy through
 * one pointer and report a quiescent state at every loop iteration; the
 * control thread publishes a new policy and frees the old one once every
 * worker has passed a quiescent state (rte_rcu_qsbr). Workers never wait.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "config.h"
#include "policy.h"
#include "stats.h"
#include "view.h"

struct st_runtime;

/**
 * Start with @p cfg (malloc'd; the runtime owns it from now on, also on
 * error) and every mirror on.
 *
 * @param workers  the workers' counters, for the view
 * @param lcores   the workers' lcore ids, for the view
 * @return 0, or a negative errno with @p err saying why
 */
int st_runtime_create(struct st_config *cfg, unsigned int nb_workers,
		      struct st_worker_stats *workers,
		      const unsigned int *lcores, struct st_runtime **out,
		      char *err, size_t errlen);

/** Free the runtime; no worker may run any more. */
void st_runtime_free(struct st_runtime *rt);

/** Where workers read the current policy (__atomic_load_n, acquire). */
struct st_policy *const *st_runtime_policy_slot(const struct st_runtime *rt);

/** The QSBR variable workers report to; thread id = worker index. */
struct rte_rcu_qsbr *st_runtime_qsbr(const struct st_runtime *rt);

/** What other threads read, under its lock. */
struct st_view *st_runtime_view(struct st_runtime *rt);

/**
 * Make @p cfg (malloc'd, taken in all cases) and @p mirrors_enabled the
 * running configuration. Control thread only; returns once no worker can
 * see the previous policy any more.
 *
 * @param recompile  the routes changed (a reload); else only percents and
 *                   switches did, and the compiled routes are kept
 * @return 0, or a negative errno with @p err saying why; then nothing
 *         changed
 */
int st_runtime_apply(struct st_runtime *rt, struct st_config *cfg,
		     uint32_t mirrors_enabled, bool recompile, char *err,
		     size_t errlen);

#endif
