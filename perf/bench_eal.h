/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_BENCH_EAL_H
#define ST_BENCH_EAL_H

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

/*
 * EAL's cleanup, then its runtime directory (/var/run/dpdk/PREFIX as
 * root). With --no-shconf and --no-telemetry (whose socket would go only
 * at exit) EAL leaves it empty, but leaves it: one for every prefix a
 * benchmark ran with.
 */
static inline void
st_bench_eal_cleanup(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(dir);
}

#endif
