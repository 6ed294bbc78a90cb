/* SPDX-License-Identifier: BSD-3-Clause */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>

struct st_runtime {
	struct st_policy *policy;	/* read by the workers */
	struct rte_rcu_qsbr *qsbr;
	unsigned int nb_workers;
	struct st_worker_stats *workers;	/* route slots are zeroed here */
	struct st_view view;
};

int
st_runtime_create(struct st_config *cfg, unsigned int nb_workers,
		  struct st_worker_stats *workers,
		  const unsigned int *lcores, struct st_runtime **out,
		  char *err, size_t errlen)
{
	uint32_t all_mirrors = (1u << cfg->nb_mirrors) - 1;
	struct st_runtime *rt = calloc(1, sizeof(*rt));
	size_t qsbr_size = rte_rcu_qsbr_get_memsize(nb_workers);
	int ret;

	if (rt == NULL) {
		free(cfg);
		snprintf(err, errlen, "out of memory for the runtime");
		return -ENOMEM;
	}
	rt->nb_workers = nb_workers;
	rt->workers = workers;
	rt->qsbr = rte_zmalloc("st_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE);
	if (rt->qsbr == NULL || rte_rcu_qsbr_init(rt->qsbr, nb_workers) != 0) {
		free(cfg);
		st_runtime_free(rt);
		snprintf(err, errlen, "cannot set up RCU for %u workers",
			 nb_workers);
		return -ENOMEM;
	}
	ret = st_policy_create(cfg, all_mirrors, nb_workers, NULL, true,
			       &rt->policy, err, errlen);
	if (ret != 0) {
		free(cfg);
		st_runtime_free(rt);
		return ret;
	}
	pthread_mutex_init(&rt->view.lock, NULL);
	rt->view.cfg = cfg;
	rt->view.mirrors_enabled = all_mirrors;
	rt->view.workers = workers;
	rt->view.lcores = lcores;
	rt->view.nb_workers = nb_workers;
	rt->view.tsc_hz = rte_get_tsc_hz();
	*out = rt;
	return 0;
}

void
st_runtime_free(struct st_runtime *rt)
{
	if (rt == NULL)
		return;
	st_policy_free(rt->policy);
	rte_free(rt->qsbr);
	if (rt->view.cfg != NULL)
		pthread_mutex_destroy(&rt->view.lock);
	free(rt->view.cfg);
	free(rt);
}

struct st_policy *const *
st_runtime_policy_slot(const struct st_runtime *rt)
{
	return &rt->policy;
}

struct rte_rcu_qsbr *
st_runtime_qsbr(const struct st_runtime *rt)
{
	return rt->qsbr;
}

struct st_view *
st_runtime_view(struct st_runtime *rt)
{
	return &rt->view;
}

/*
 * Route counters stay with a route's name across changes: a route keeps
 * its slot; a new one takes a slot that neither the running table nor the
 * new one uses, zeroed first (no worker writes it: the workers run the
 * running table, and older ones are gone).
 */
static void
keep_route_slots(struct st_runtime *rt, struct st_config *next)
{
	const struct st_config *cur = rt->view.cfg;
	bool used[ST_ROUTE_STATS_SLOTS] = { false };
	unsigned int i, j, slot = 0, w;

	for (i = 0; i < cur->nb_routes; i++)
		used[cur->routes[i].stats_slot] = true;
	for (i = 0; i < next->nb_routes; i++) {
		struct st_route_conf *r = &next->routes[i];

		for (j = 0; j < cur->nb_routes; j++)
			if (strcmp(r->name, cur->routes[j].name) == 0)
				break;
		if (j < cur->nb_routes) {
			r->stats_slot = cur->routes[j].stats_slot;
			continue;
		}
		/* At most ST_MAX_ROUTES used: a free one always exists. */
		while (used[slot])
			slot++;
		used[slot] = true;
		r->stats_slot = (uint8_t)slot;
		for (w = 0; w < rt->nb_workers; w++)
			memset(&rt->workers[w].route[slot], 0,
			       sizeof(rt->workers[w].route[slot]));
	}
}

int
st_runtime_apply(struct st_runtime *rt, struct st_config *cfg,
		 uint32_t mirrors_enabled, bool recompile, char *err,
		 size_t errlen)
{
	struct st_policy *next, *prev = rt->policy;
	struct st_config *prev_cfg;
	int ret;

	keep_route_slots(rt, cfg);
	ret = st_policy_create(cfg, mirrors_enabled, rt->nb_workers, prev,
			       recompile, &next, err, errlen);
	if (ret != 0) {
		free(cfg);
		return ret;
	}
	__atomic_store_n(&rt->policy, next, __ATOMIC_RELEASE);
	/* Every worker has finished the iteration that might have read the
	 * previous policy once it reports quiescent again. */
	rte_rcu_qsbr_synchronize(rt->qsbr, RTE_QSBR_THRID_INVALID);
	st_policy_free(prev);

	pthread_mutex_lock(&rt->view.lock);
	prev_cfg = rt->view.cfg;
	rt->view.cfg = cfg;
	rt->view.mirrors_enabled = mirrors_enabled;
	rt->view.generation++;
	pthread_mutex_unlock(&rt->view.lock);
	free(prev_cfg);
	return 0;
}
