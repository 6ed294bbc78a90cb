/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a copy costs DPDK alone, without shadowtap's code and without a
 * PMD: the floor under perf/run's "cycles per copied packet". A burst of
 * 32 originals is allocated and freed as a worker's RX and TX would;
 * "clone" also makes a copy of each as tx_shadow does (an indirect mbuf
 * from a pool of its own, attached) and frees it after the original, as
 * a shadow PMD would; "share" sends the original itself twice instead,
 * its reference count raised, which is what a copy costs without a clone.
 *
 * usage: st_bench_copy [SECONDS]   (default 1 per case)
 * prints one JSON object: TSC cycles per packet of each case, and per copy
 * beyond "none".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "bench_eal.h"

#define BURST 32
#define FRAME 64

enum copy { NONE, CLONE, SHARE, NB_COPIES };

static const char *const copy_name[NB_COPIES] = { "none", "clone", "share" };

static struct rte_mempool *data_pool, *clone_pool;

/* One burst's life: received, copied as @p how says, then sent (freed
 * as a PMD frees: the originals in bulk, the copies one by one). */
static int
one_burst(enum copy how)
{
	struct rte_mbuf *pkts[BURST], *copies[BURST];
	unsigned int i;

	if (rte_pktmbuf_alloc_bulk(data_pool, pkts, BURST) != 0)
		return -ENOMEM;
	for (i = 0; i < BURST; i++) {
		rte_pktmbuf_append(pkts[i], FRAME);
		if (how == CLONE) {
			copies[i] = rte_pktmbuf_clone(pkts[i], clone_pool);
			if (copies[i] == NULL)
				return -ENOMEM;
		} else if (how == SHARE) {
			rte_mbuf_refcnt_update(pkts[i], 1);
			copies[i] = pkts[i];
		}
	}
	rte_pktmbuf_free_bulk(pkts, BURST);
	if (how != NONE)
		for (i = 0; i < BURST; i++)
			rte_pktmbuf_free(copies[i]);
	return 0;
}

/* TSC cycles per packet of bursts of @p how, over about @p seconds. */
static int
time_case(enum copy how, double seconds, double *cycles)
{
	uint64_t hz = rte_get_tsc_hz(), start, end, bursts = 0;
	int ret;

	start = rte_rdtsc();
	end = start + (uint64_t)(seconds * (double)hz);
	do {
		ret = one_burst(how);
		if (ret != 0)
			return ret;
		bursts++;
	} while (rte_rdtsc() < end);
	*cycles = (double)(rte_rdtsc() - start) / (double)(bursts * BURST);
	return 0;
}

int
main(int argc, char **argv)
{
	char *eal_args[] = { argv[0], "--no-huge", "--no-pci", "-m", "64",
			     "--file-prefix", "st_bench_copy", "-l", "0",
			     "--log-level", "*:error",
			     /* No 13 MB of runtime files left behind, nor
			      * their directory (bench_eal.h). */
			     "--no-shconf", "--no-telemetry", NULL };
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	double cycles[NB_COPIES];
	unsigned int c;

	if (argc > 2 || seconds <= 0) {
		fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
		return 2;
	}
	if (rte_eal_init((int)RTE_DIM(eal_args) - 1, eal_args) < 0) {
		fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	data_pool = rte_pktmbuf_pool_create("bench_data", 4 * BURST, BURST, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE,
					    SOCKET_ID_ANY);
	clone_pool = rte_pktmbuf_pool_create("bench_clone", 4 * BURST, BURST,
					     0, 0, SOCKET_ID_ANY);
	if (data_pool == NULL || clone_pool == NULL) {
		fprintf(stderr, "mempools: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	for (c = 0; c < NB_COPIES; c++)
		if (time_case((enum copy)c, seconds, &cycles[c]) != 0) {
			fprintf(stderr, "%s: out of mbufs\n", copy_name[c]);
			return 1;
		}
	printf("{\"tsc_hz\": %" PRIu64 ", \"cycles_per_packet\": {",
	       rte_get_tsc_hz());
	for (c = 0; c < NB_COPIES; c++)
		printf("%s\"%s\": %.1f", c ? ", " : "", copy_name[c],
		       cycles[c]);
	printf("}, \"cycles_per_copy\": {\"clone\": %.1f, \"share\": %.1f}}\n",
	       cycles[CLONE] - cycles[NONE], cycles[SHARE] - cycles[NONE]);
	rte_mempool_free(clone_pool);
	rte_mempool_free(data_pool);
	st_bench_eal_cleanup();
	return 0;
}
