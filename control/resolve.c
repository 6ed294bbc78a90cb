/* SPDX-License-Identifier: BSD-3-Clause */
#include "resolve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

/* The loader refuses port ids from ST_MAX_PORT_IDS on without knowing
 * DPDK; they must be the ids this DPDK can have. */
_Static_assert(ST_MAX_PORT_IDS == RTE_MAX_ETHPORTS,
	       "ST_MAX_PORT_IDS must be DPDK's RTE_MAX_ETHPORTS");

/* Resolve refs[idx] and refuse a port already taken by refs[0..idx). */
static int
resolve_one(const struct st_config *cfg, struct st_port_ref *const *refs,
	    const char (*what)[ST_NAME_MAX + 16], unsigned int idx, char *err,
	    size_t errlen)
{
	struct st_port_ref *ref = refs[idx];
	unsigned int i;

	if (ref->devname[0] != '\0' &&
	    rte_eth_dev_get_port_by_name(ref->devname, &ref->port_id) != 0) {
		snprintf(err, errlen,
			 "%s:%d: %s: no DPDK port named '%s' (give it with "
			 "-a or --vdev)", cfg->path, ref->line, what[idx],
			 ref->devname);
		return -ENODEV;
	}
	if (!rte_eth_dev_is_valid_port(ref->port_id)) {
		snprintf(err, errlen,
			 "%s:%d: %s: port %u does not exist (%u ports found)",
			 cfg->path, ref->line, what[idx], ref->port_id,
			 rte_eth_dev_count_avail());
		return -ENODEV;
	}
	for (i = 0; i < idx; i++)
		if (refs[i]->port_id == ref->port_id) {
			snprintf(err, errlen,
				 "%s:%d: %s: port %u is already used by %s "
				 "(line %d)", cfg->path, ref->line, what[idx],
				 ref->port_id, what[i], refs[i]->line);
			return -EINVAL;
		}
	return 0;
}

int
st_config_resolve(struct st_config *cfg, char *err, size_t errlen)
{
	struct st_port_ref *refs[2 + ST_MAX_MIRRORS];
	char what[2 + ST_MAX_MIRRORS][ST_NAME_MAX + 16];
	unsigned int i, n = 0;
	int ret;

	refs[n] = &cfg->client;
	snprintf(what[n++], sizeof(what[0]), "ports.client");
	refs[n] = &cfg->server;
	snprintf(what[n++], sizeof(what[0]), "ports.server");
	for (i = 0; i < cfg->nb_mirrors; i++) {
		refs[n] = &cfg->mirrors[i].port;
		snprintf(what[n++], sizeof(what[0]), "mirror '%s'",
			 cfg->mirrors[i].name);
	}
	for (i = 0; i < n; i++) {
		ret = resolve_one(cfg, refs,
				  (const char(*)[ST_NAME_MAX + 16]) what, i,
				  err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}
