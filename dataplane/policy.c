/* SPDX-License-Identifier: BSD-3-Clause */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>

int
st_policy_create(const struct st_config *cfg, struct st_policy **out,
		 char *err, size_t errlen)
{
	struct st_policy *p = calloc(1, sizeof(*p));
	unsigned int i;
	int ret;

	if (p == NULL) {
		snprintf(err, errlen, "out of memory for the policy");
		return -ENOMEM;
	}
	ret = st_classifier_create(cfg, &p->classifier, err, errlen);
	if (ret < 0) {
		free(p);
		return ret;
	}
	p->http = cfg->nb_routes > 0;
	p->max_head_bytes = cfg->http.max_head_bytes;
	p->nb_routes = cfg->nb_routes;
	p->defaults.count = cfg->nb_mirrors;
	for (i = 0; i < cfg->nb_mirrors; i++) {
		p->defaults.threshold[i] =
			st_sample_threshold(cfg->mirrors[i].percent);
		p->defaults.salt[i] = st_sample_salt(cfg->mirrors[i].name);
	}
	for (i = 0; i < cfg->nb_routes; i++) {
		p->route[i].mirrors = cfg->routes[i].mirrors;
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
	st_classifier_free(p->classifier);
	free(p);
}
