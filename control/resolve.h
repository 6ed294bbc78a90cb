/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_RESOLVE_H
#define ST_RESOLVE_H

/*
 * The appliance's half of loading a config: its port references turned
 * into the DPDK ports that EAL probed. Loading (config/) needs no EAL, so
 * that shadowtap-replay can read the same files without DPDK.
 */

#include <stddef.h>

#include "config.h"

/**
 * Resolve every port reference to a probed DPDK port and check that no
 * port is used twice. Needs rte_eal_init() to have run.
 *
 * @return 0, or -ENODEV / -EINVAL with @p err naming the line
 */
int st_config_resolve(struct st_config *cfg, char *err, size_t errlen);

#endif
