/* SPDX-License-Identifier: BSD-3-Clause */
#include "eal_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

#define MAX_VDEVS 8

int
st_test_eal_init(const char *name, const char *const *vdevs)
{
	char prefix[64];
	char *argv[14 + 2 * MAX_VDEVS] = {
		"test", "--no-huge", "--no-pci", "-m", "256",
		"--file-prefix", prefix, "--no-telemetry", "-l", "0",
		"--log-level", "lib.eal:error",
		/* No runtime files left in /var/run/dpdk after the run
		 * (--in-memory does not go with --no-huge). */
		"--no-shconf",
	};
	int argc = 13;

	snprintf(prefix, sizeof(prefix), "ut_%s_%d", name, (int)getpid());
	for (; vdevs != NULL && *vdevs != NULL; vdevs++) {
		if (argc + 2 > (int)(sizeof(argv) / sizeof(argv[0])))
			return -1;
		argv[argc++] = "--vdev";
		argv[argc++] = (char *)*vdevs;
	}
	return rte_eal_init(argc, argv) < 0 ? -1 : 0;
}

int
st_test_eal_cleanup(void)
{
	char runtime_dir[PATH_MAX];
	int ret;

	snprintf(runtime_dir, sizeof(runtime_dir), "%s",
		 rte_eal_get_runtime_dir());
	ret = rte_eal_cleanup();
	rmdir(runtime_dir);	/* empty with --no-shconf */
	return ret;
}
