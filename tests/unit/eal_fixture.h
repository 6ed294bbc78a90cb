/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_TEST_EAL_FIXTURE_H
#define ST_TEST_EAL_FIXTURE_H

/*
 * EAL for unit tests that need DPDK memory or ports: no hugepages, no PCI,
 * one lcore, a per-process file prefix, and no runtime files left behind.
 */

/**
 * Initialise EAL.
 * @param name   test name, for the file prefix
 * @param vdevs  NULL-terminated list of --vdev arguments (may be NULL)
 * @return 0, or -1 when EAL failed
 */
int st_test_eal_init(const char *name, const char *const *vdevs);

/** Clean EAL up and remove its (empty) runtime directory. */
int st_test_eal_cleanup(void);

#endif
