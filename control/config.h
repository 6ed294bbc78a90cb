/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

/*
 * The configuration model: what the YAML file says, validated. Loading
 * needs no EAL; port names are resolved to port ids once devices exist.
 */

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_MIRRORS 8
#define ST_NAME_MAX 32		/* mirror names, with the NUL */
#define ST_DEVNAME_MAX 64	/* device names such as 0000:3b:00.0 */

/* A port as written in the config: a DPDK port id or a device name. */
struct st_port_ref {
	char devname[ST_DEVNAME_MAX];	/* empty when given as an id */
	uint16_t port_id;		/* valid after st_config_resolve() */
	int line;			/* where it was written, for errors */
};

struct st_mirror_conf {
	char name[ST_NAME_MAX];
	struct st_port_ref port;
	double percent;
	int line;
};

struct st_flow_table_conf {
	uint32_t size;		/* entries per worker */
	uint32_t idle_timeout_s;
};

struct st_config {
	char path[4096];
	struct st_port_ref client;
	struct st_port_ref server;
	unsigned int nb_mirrors;
	struct st_mirror_conf mirrors[ST_MAX_MIRRORS];
	struct st_flow_table_conf flow_table;
};

/**
 * Load and validate a YAML config file.
 *
 * @param path    file to read
 * @param cfg     filled on success; left in an unspecified state on error
 * @param err     receives "FILE:LINE: what is wrong" on error
 * @param errlen  size of @p err
 * @return 0, or a negative errno (-ENOENT, -EINVAL, ...)
 */
int st_config_load(const char *path, struct st_config *cfg, char *err,
		   size_t errlen);

/**
 * Resolve every port reference to a probed DPDK port and check that no
 * port is used twice. Needs rte_eal_init() to have run.
 *
 * @return 0, or -ENODEV / -EINVAL with @p err naming the line
 */
int st_config_resolve(struct st_config *cfg, char *err, size_t errlen);

#endif
