/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_POLICY_H
#define ST_POLICY_H

/*
 * The compiled policy: what each flow gets, from the config. Immutable once
 * built and shared read-only by every worker, so that a new one can be
 * swapped in by pointer while they run (see runtime.h).
 *
 * A flow's verdict depends on what its last request start said (its
 * "route" in struct st_flow) and on its hash. It is kept in the flow with
 * the policy's generation, and decided again when either changed: a new
 * percent applies at once to flows already open, and the packets between
 * two of a flow's requests (most packets) read their flow only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classifier.h"
#include "config.h"
#include "flow.h"

struct st_policy_route {
	uint32_t mirrors;	/* bit i: mirror i; 0 for "mirror: none" */
	uint32_t stats_slot;	/* its counters: cfg's stats_slot */
	uint32_t salt;
	uint64_t threshold;
};

/* The compiled routes and one classifier scratch per worker: shared by
 * the policies that differ only in percents and switches. */
struct st_policy_compiled;

struct st_policy {
	/* Requests are classified only when routes exist; without routes
	 * shadowtap samples flows without looking at HTTP. */
	bool http;
	uint8_t routes_generation;	/* changes when the route table does */
	uint16_t generation;	/* changes with every policy; never 0 */
	uint32_t max_head_bytes;
	uint32_t mirrors_enabled;	/* bit i: mirror i is on */
	unsigned int nb_routes;
	struct st_policy_compiled *compiled;
	struct st_sample_policy defaults;	/* mirrors' own percents */
	/* TCP ports requests come on; none: any (http.ports). */
	uint16_t http_ports[ST_MAX_HTTP_PORTS];
	unsigned int nb_http_ports;
	/* Traffic other than TCP on the HTTP ports needs no flow: no route
	 * can select it and no mirror takes unrouted flows. */
	bool bypass;
	struct st_policy_route route[ST_MAX_ROUTES];
};

/** Whether a TCP segment (parsed into @p info) may carry requests. */
static inline bool
st_policy_http_port(const struct st_policy *p,
		    const struct st_pkt_info *info)
{
	unsigned int i;

	if (p->nb_http_ports == 0)
		return true;
	for (i = 0; i < p->nb_http_ports; i++)
		if (info->src_port == p->http_ports[i] ||
		    info->dst_port == p->http_ports[i])
			return true;
	return false;
}

/**
 * Build a policy from a loaded, resolved config: compiles the routes, and
 * a classifier scratch for each of @p nb_workers workers. Slow: control
 * thread only.
 *
 * @param previous  the policy running now, or NULL. With @p recompile
 *                  false its compiled routes are shared (the route table
 *                  must be the same; only percents and switches change);
 *                  otherwise the routes get a new generation.
 * @return 0, or a negative errno with @p err naming the file, line and
 *         route of a bad regular expression
 */
int st_policy_create(const struct st_config *cfg, uint32_t mirrors_enabled,
		     unsigned int nb_workers, const struct st_policy *previous,
		     bool recompile, struct st_policy **out, char *err,
		     size_t errlen);

/** Free a policy no worker uses any more (NULL is fine). */
void st_policy_free(struct st_policy *p);

/** Classifier and worker @p worker's scratch for it. */
const struct st_classifier *st_policy_classifier(const struct st_policy *p);
struct st_classifier_scratch *st_policy_scratch(const struct st_policy *p,
						unsigned int worker);

/**
 * Decide the mirrors a packet of @p flow goes to now, and keep them in the
 * flow as its verdict: after what decides it changed (its route, or
 * whether it writes).
 *
 * @param flow_hash  st_flow_hash() of the flow
 */
static inline uint32_t
st_policy_decide(const struct st_policy *p, struct st_flow *flow,
		 uint32_t flow_hash)
{
	const struct st_policy_route *r;
	uint32_t mirrors;

	/* A route index from an older route table means nothing now: the
	 * flow follows the defaults until its next request. */
	if (flow->route == ST_FLOW_ROUTE_UNSET ||
	    flow->routes_generation != p->routes_generation)
		mirrors = st_sample_mask(&p->defaults, flow_hash);
	else if (flow->route == ST_FLOW_ROUTE_DEFAULT)
		mirrors = flow->write ? 0 :
					st_sample_mask(&p->defaults, flow_hash);
	else if (r = &p->route[flow->route],
		 st_sample(flow_hash, r->salt, r->threshold))
		mirrors = r->mirrors;
	else
		mirrors = 0;
	mirrors &= p->mirrors_enabled;
	flow->verdict = (uint8_t)mirrors;
	flow->verdict_generation = p->generation;
	return mirrors;
}

/**
 * The mirrors a packet of @p flow goes to now: its verdict, decided again
 * when the policy is not the one that decided it.
 */
static inline uint32_t
st_policy_mirrors(const struct st_policy *p, struct st_flow *flow,
		  uint32_t flow_hash)
{
	if (likely(flow->verdict_generation == p->generation))
		return flow->verdict;
	return st_policy_decide(p, flow, flow_hash);
}

#endif
