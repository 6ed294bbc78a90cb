/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_RESOLVE_H
#define ST_RESOLVE_H

/*
 * The appliance's half of loading a config: its port references turned
 * into the DPDK ports that EAL probed, and what can be checked of them
 * before. Loading (config/) needs no EAL, so that shadowtap-replay can
 * read the same files without DPDK.
 */

#include <stddef.h>

#include "config.h"

/**
 * Check the ports as written, without devices: a device name must be one
 * EAL could give a port (a PCI address in full and in lower case, as in
 * "0000:3b:00.0", with whatever a PMD adds after it; no ',' and its device
 * arguments, which belong to -a or --vdev; no control character), and no
 * port may be written twice, by the same id or the same name. Whether the
 * devices exist is st_config_resolve()'s question. No EAL needed;
 * thread-safe.
 *
 * @return 0, or -EINVAL with @p err naming the line
 */
int st_config_check_ports(const struct st_config *cfg, char *err,
			  size_t errlen);

/**
 * Everything a start checks in a loaded config before it needs a device:
 * st_config_check_ports(), and the routes compiled as the dataplane will
 * (Hyperscan), with the messages a start gives. No EAL needed; slow
 * (milliseconds per route): not for the dataplane.
 *
 * @return 0, or a negative errno with @p err naming the line
 */
int st_config_check(const struct st_config *cfg, char *err, size_t errlen);

/**
 * Check the ports (st_config_check_ports()), then resolve every port
 * reference to a probed DPDK port and check that no port is used twice.
 * Needs rte_eal_init() to have run.
 *
 * @return 0, or -ENODEV / -EINVAL with @p err naming the line
 */
int st_config_resolve(struct st_config *cfg, char *err, size_t errlen);

#endif
