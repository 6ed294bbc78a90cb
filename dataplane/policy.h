/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_POLICY_H
#define ST_POLICY_H

/*
 * The compiled policy: what each flow gets, from the config. Immutable once
 * built and shared read-only by every worker, so a new one can be swapped
 * in by pointer while they run.
 *
 * A flow's verdict depends on what its last request start said (its
 * "route" in struct st_flow) and on its hash, and is recomputed for every
 * packet: a new percent applies at once to flows already open.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classifier.h"
#include "config.h"
#include "flow.h"

struct st_policy_route {
	uint32_t mirrors;	/* bit i: mirror i; 0 for "mirror: none" */
	uint32_t salt;
	uint64_t threshold;
};

struct st_policy {
	/* Requests are classified only when routes exist; without routes
	 * shadowtap samples flows without looking at HTTP. */
	bool http;
	uint32_t max_head_bytes;
	unsigned int nb_routes;
	struct st_classifier *classifier;
	struct st_sample_policy defaults;	/* mirrors' own percents */
	struct st_policy_route route[ST_MAX_ROUTES];
};

/**
 * Build a policy from a loaded, resolved config: compiles the routes.
 *
 * @return 0, or a negative errno with @p err naming the file, line and
 *         route of a bad regular expression
 */
int st_policy_create(const struct st_config *cfg, struct st_policy **out,
		     char *err, size_t errlen);

/** Free a policy no worker uses any more (NULL is fine). */
void st_policy_free(struct st_policy *p);

/**
 * The mirrors a packet of @p flow goes to now.
 *
 * @param flow_hash  st_flow_hash() of the flow
 */
static inline uint32_t
st_policy_mirrors(const struct st_policy *p, const struct st_flow *flow,
		  uint32_t flow_hash)
{
	const struct st_policy_route *r;

	if (flow->route == ST_FLOW_ROUTE_UNSET)
		return st_sample_mask(&p->defaults, flow_hash);
	if (flow->route == ST_FLOW_ROUTE_DEFAULT)
		return flow->write ? 0 : st_sample_mask(&p->defaults, flow_hash);
	r = &p->route[flow->route];
	return st_sample(flow_hash, r->salt, r->threshold) ? r->mirrors : 0;
}

#endif
