/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the appliance's YAML config on the path a reload
 * takes (control/ctl.c, cmd_reload): st_config_load(), the ports checked
 * as written (st_config_check_ports(), where resolving starts), then the
 * policy the dataplane would swap in (st_policy_create(): the routes
 * compiled into a classifier, a scratch for a worker), and a few requests
 * classified by it. Left out, as they need a running appliance: port
 * names resolved against EAL, and the comparison with the running config.
 *
 * Input: the file. Checked: a failed load or compile returns a negative
 * errno and names the file; a loaded config keeps config.h's promises
 * (routes: conf_checks.h; mirrors: names, percents, truncation,
 * encapsulation ranges; routes name only mirrors that exist; the ports,
 * http and flow_table within their ranges); each classified request gets
 * a route whose methods hold its own.
 *
 * Seeds: tests/fuzz/config_seeds.py (examples/, the tests' configs).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_checks.h"
#include "config.h"
#include "policy.h"
#include "resolve.h"

static void
check_port(const struct st_port_ref *ref)
{
	if (strnlen(ref->devname, ST_DEVNAME_MAX) == ST_DEVNAME_MAX ||
	    (ref->devname[0] == '\0' && ref->port_id >= ST_MAX_PORT_IDS))
		abort();
}

static void
check_encap(const struct st_encap_conf *e)
{
	switch (e->type) {
	case ST_ENCAP_NONE:
		return;
	case ST_ENCAP_VLAN:
		if (e->vlan_id < 1 || e->vlan_id > 4094 || e->pcp > 7)
			abort();
		return;
	case ST_ENCAP_VXLAN:
		if (e->vni >= 1u << 24 || e->dst_port == 0)
			abort();
		break;
	case ST_ENCAP_ERSPAN:
		if (e->session_id > 1023)
			abort();
		break;
	case ST_ENCAP_GRE:
		break;
	default:
		abort();
	}
	/* The outer headers of the IPv4 tunnels. */
	if (e->ttl == 0 || e->dscp > 63 ||
	    (e->has_src_mac && (e->src_mac[0] & 1) != 0))
		abort();
}

static void
check_config(const struct st_config *cfg)
{
	uint64_t copied = 0;
	unsigned int i, j;

	check_port(&cfg->client);
	check_port(&cfg->server);
	if (cfg->nb_mirrors > ST_MAX_MIRRORS)
		abort();
	for (i = 0; i < cfg->nb_mirrors; i++) {
		const struct st_mirror_conf *m = &cfg->mirrors[i];

		st_fuzz_check_name(m->name);
		for (j = 0; j < i; j++)
			if (strcmp(cfg->mirrors[j].name, m->name) == 0)
				abort();
		check_port(&m->port);
		/* NaN, the loader's "not said", must be resolved by now. */
		if (!(m->percent >= 0 && m->percent <= 100))
			abort();
		if (m->truncate != 0 && (m->truncate < 14 || m->truncate > 65535))
			abort();
		check_encap(&m->encap);
	}
	for (i = 0; i < cfg->nb_routes && i < ST_MAX_ROUTES; i++) {
		if (cfg->routes[i].mirrors >> cfg->nb_mirrors != 0)
			abort();	/* a mirror that does not exist */
		if (cfg->routes[i].mirrors != 0)
			copied |= 1ull << i;
	}
	st_fuzz_check_routes(cfg, copied);
	if (cfg->http.max_head_bytes < 64 ||
	    cfg->http.max_head_bytes > 65535 ||
	    cfg->flow_table.size < 64 || cfg->flow_table.size > 1u << 24 ||
	    cfg->flow_table.idle_timeout_s < 1 ||
	    cfg->flow_table.idle_timeout_s > 86400)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct st_config cfg;	/* 130 KiB: not on the stack */
	const char *path = st_fuzz_file("shadowtap.yaml", data, size);
	struct st_policy *policy;
	char err[1024];
	int ret;

	ret = st_config_load(path, &cfg, err, sizeof(err));
	if (ret != 0) {
		st_fuzz_check_failure(path, ret, err);
		return 0;
	}
	check_config(&cfg);
	ret = st_config_check_ports(&cfg, err, sizeof(err));
	if (ret != 0) {
		st_fuzz_check_failure(path, ret, err);
		return 0;
	}
	/* Every mirror on, as after a reload; one worker. */
	ret = st_policy_create(&cfg, (1u << cfg.nb_mirrors) - 1, 1, NULL, true,
			       &policy, err, sizeof(err));
	if (ret != 0) {
		st_fuzz_check_failure(path, ret, err);
		return 0;
	}
	if (policy->nb_routes != cfg.nb_routes)
		abort();
	st_fuzz_classify(&cfg, st_policy_classifier(policy),
			 st_policy_scratch(policy, 0));
	st_policy_free(policy);
	return 0;
}
