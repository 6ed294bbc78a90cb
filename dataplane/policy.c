/* SPDX-License-Identifier: BSD-3-Clause */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct st_policy_compiled {
	unsigned int refs;	/* policies using it; control thread only */
	uint8_t generation;
	struct st_classifier *classifier;
	unsigned int nb_workers;
	struct st_classifier_scratch *scratch[];
};

static void
compiled_put(struct st_policy_compiled *c)
{
	unsigned int i;

	if (c == NULL || --c->refs > 0)
		return;
	for (i = 0; i < c->nb_workers; i++)
		st_classifier_scratch_free(c->scratch[i]);
	st_classifier_free(c->classifier);
	free(c);
}

static int
compile(const struct st_config *cfg, unsigned int nb_workers,
	uint8_t generation, struct st_policy_compiled **out, char *err,
	size_t errlen)
{
	struct st_policy_compiled *c;
	unsigned int i;
	int ret;

	c = calloc(1, sizeof(*c) + nb_workers * sizeof(c->scratch[0]));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory for the routes");
		return -ENOMEM;
	}
	c->refs = 1;
	c->generation = generation;
	ret = st_classifier_create(cfg, &c->classifier, err, errlen);
	for (i = 0; ret == 0 && i < nb_workers; i++, c->nb_workers++)
		ret = st_classifier_scratch_alloc(c->classifier,
						  &c->scratch[i]);
	if (ret != 0 && c->classifier != NULL)
		snprintf(err, errlen, "out of memory for classifier scratch");
	if (ret != 0) {
		compiled_put(c);
		return ret;
	}
	*out = c;
	return 0;
}

int
st_policy_create(const struct st_config *cfg, uint32_t mirrors_enabled,
		 unsigned int nb_workers, const struct st_policy *previous,
		 bool recompile, struct st_policy **out, char *err,
		 size_t errlen)
{
	struct st_policy *p = calloc(1, sizeof(*p));
	bool takes_unrouted = false;
	unsigned int i;
	int ret;

	if (p == NULL) {
		snprintf(err, errlen, "out of memory for the policy");
		return -ENOMEM;
	}
	if (previous != NULL && !recompile) {
		p->compiled = previous->compiled;
		p->compiled->refs++;
	} else {
		ret = compile(cfg, nb_workers,
			      previous ? previous->routes_generation + 1 : 0,
			      &p->compiled, err, errlen);
		if (ret != 0) {
			free(p);
			return ret;
		}
	}
	p->routes_generation = p->compiled->generation;
	/* Flows keep verdicts with the number of the policy that decided
	 * them: the policy that follows a running one must have another.
	 * After 65535 changes numbers come round again, and only a flow
	 * unseen through exactly that many (within its idle timeout) would
	 * keep its old verdict, until its next request. */
	p->generation = previous != NULL && previous->generation != UINT16_MAX ?
				(uint16_t)(previous->generation + 1) : 1;
	p->http = cfg->nb_routes > 0;
	p->max_head_bytes = cfg->http.max_head_bytes;
	p->mirrors_enabled = mirrors_enabled;
	p->nb_routes = cfg->nb_routes;
	p->defaults.count = cfg->nb_mirrors;
	for (i = 0; i < cfg->nb_mirrors; i++) {
		p->defaults.threshold[i] =
			st_sample_threshold(cfg->mirrors[i].percent);
		p->defaults.salt[i] = st_sample_salt(cfg->mirrors[i].name);
		if (p->defaults.threshold[i] != 0 &&
		    (mirrors_enabled >> i) & 1)
			takes_unrouted = true;
	}
	p->nb_http_ports = cfg->http.nb_ports;
	memcpy(p->http_ports, cfg->http.ports, sizeof(p->http_ports));
	p->bypass = p->http && !takes_unrouted;
	for (i = 0; i < cfg->nb_routes; i++) {
		p->route[i].mirrors = cfg->routes[i].mirrors;
		p->route[i].stats_slot = cfg->routes[i].stats_slot;
		p->route[i].threshold =
			st_sample_threshold(cfg->routes[i].percent);
		p->route[i].salt = st_sample_salt(cfg->routes[i].name);
	}
	*out = p;
	return 0;
}

void
st_policy_free(struct st_policy *p)
{
	if (p == NULL)
		return;
	compiled_put(p->compiled);
	free(p);
}

const struct st_classifier *
st_policy_classifier(const struct st_policy *p)
{
	return p->compiled->classifier;
}

struct st_classifier_scratch *
st_policy_scratch(const struct st_policy *p, unsigned int worker)
{
	return p->compiled->scratch[worker];
}
