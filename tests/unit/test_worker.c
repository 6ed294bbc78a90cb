/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker loop, one iteration at a time (st_worker_poll()), between
 * net_ring ports whose rings the test fills and reads: an original leaves
 * in the iteration that received it, and so does its copy, however few
 * packets came. The drain period is set far beyond the test's run, so
 * nothing here can be sent by a drain instead; only the test of the
 * flows' expiry runs a worker of its own with drains.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "config.h"
#include "eal_fixture.h"
#include "flow.h"
#include "mirror.h"
#include "port.h"
#include "resolve.h"
#include "runtime.h"
#include "stats.h"
#include "txbuf.h"
#include "worker.h"

#define RING_SIZE 64
#define DATA_POOL 1024
#define CLONE_POOL 256
/* Free data mbufs shared copies leave: the test takes the pool below it. */
#define DATA_RESERVE 64
/* No drain within the test: only the loop itself can send. */
#define NO_DRAIN_US (3600u * 1000 * 1000)

/* SHADOW's copies share their original; CUT's, truncated, are clones. */
enum { CLIENT, SERVER, SHADOW, CUT, NB_PORTS };

static const char config_yaml[] =
	"ports: { client: 0, server: 1 }\n"
	"mirrors:\n"
	"  - { name: shadow, port: 2, percent: 100 }\n"
	"  - { name: cut, port: 3, percent: 100, truncate: 64 }\n";

static struct {
	struct rte_ring *rx[NB_PORTS];	/* what the worker receives */
	struct rte_ring *tx[NB_PORTS];	/* what it sends */
	uint16_t port[NB_PORTS];
	struct rte_mempool *pool;
	struct rte_mempool *clone_pool;
	struct st_runtime *runtime;
	struct st_mirror_set *mirrors;
	struct st_worker_stats *stats;
	struct st_config cfg;
	struct st_worker_params params;
	struct st_worker *worker;
} t;

static int
make_ports(void)
{
	static const char *const names[NB_PORTS] = { "c", "s", "m", "k" };
	char name[RTE_RING_NAMESIZE];
	int i, ret;

	for (i = 0; i < NB_PORTS; i++) {
		snprintf(name, sizeof(name), "t_rx_%s", names[i]);
		t.rx[i] = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
					  RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "t_tx_%s", names[i]);
		t.tx[i] = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
					  RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (t.rx[i] == NULL || t.tx[i] == NULL)
			return -1;
		snprintf(name, sizeof(name), "wire_%s", names[i]);
		ret = rte_eth_from_rings(name, &t.rx[i], 1, &t.tx[i], 1,
					 SOCKET_ID_ANY);
		if (ret < 0)
			return -1;
		t.port[i] = (uint16_t)ret;
	}
	/* The config names ports 0 to 3. */
	return t.port[CLIENT] == 0 && t.port[SERVER] == 1 &&
	       t.port[SHADOW] == 2 && t.port[CUT] == 3 ? 0 : -1;
}

static int
load_config(struct st_config *cfg)
{
	char path[] = "/tmp/st_test_worker_XXXXXX";
	char err[256];
	int fd = mkstemp(path);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, config_yaml, sizeof(config_yaml) - 1) ==
	      (ssize_t)(sizeof(config_yaml) - 1) ? 0 : -1;
	close(fd);
	if (ret == 0)
		ret = st_config_load(path, cfg, err, sizeof(err));
	if (ret == 0)
		ret = st_config_resolve(cfg, err, sizeof(err));
	if (ret != 0)
		fprintf(stderr, "config: %s\n", err);
	unlink(path);
	return ret;
}

static int
setup(void **state)
{
	struct st_worker_params p;
	struct st_config *owned;
	unsigned int lcore = 0;
	char err[256];
	int i;

	(void)state;
	if (st_test_eal_init("worker", NULL) != 0)
		return -1;
	if (make_ports() != 0) {
		fprintf(stderr, "net_ring ports: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	if (load_config(&t.cfg) != 0)
		return -1;
	t.pool = rte_pktmbuf_pool_create("t_pool", DATA_POOL, 0, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	t.clone_pool = rte_pktmbuf_pool_create("t_clone", CLONE_POOL, 0, 0, 0,
					       SOCKET_ID_ANY);
	t.stats = rte_zmalloc("t_stats", sizeof(*t.stats),
			      RTE_CACHE_LINE_SIZE);
	owned = malloc(sizeof(*owned));
	if (t.pool == NULL || t.clone_pool == NULL || t.stats == NULL ||
	    owned == NULL)
		return -1;
	*owned = t.cfg;
	if (st_runtime_create(owned, 1, t.stats, &lcore, &t.runtime, err,
			      sizeof(err)) != 0) {
		fprintf(stderr, "runtime: %s\n", err);
		return -1;
	}
	t.mirrors = st_mirror_set_create(&t.cfg, SOCKET_ID_ANY);
	if (t.mirrors == NULL)
		return -1;
	for (i = 0; i < NB_PORTS; i++) {
		bool wire = i == CLIENT || i == SERVER;

		if (st_port_configure(t.port[i], "test", wire, 1,
				      wire ? t.pool : NULL, wire, err,
				      sizeof(err)) != 0 ||
		    rte_eth_dev_start(t.port[i]) != 0) {
			fprintf(stderr, "port %d: %s\n", i, err);
			return -1;
		}
	}
	memset(&p, 0, sizeof(p));
	p.port[ST_SIDE_CLIENT] = t.port[CLIENT];
	p.port[ST_SIDE_SERVER] = t.port[SERVER];
	p.polls[ST_SIDE_CLIENT] = p.polls[ST_SIDE_SERVER] = 1;
	p.mirrors = t.mirrors;
	p.policy = st_runtime_policy_slot(t.runtime);
	p.qsbr = st_runtime_qsbr(t.runtime);
	p.max_head_bytes = t.cfg.http.max_head_bytes;
	p.pools = (struct st_mirror_pools){ .data = t.pool,
					    .data_reserve = DATA_RESERVE,
					    .data_sharers = 1,
					    .clone = t.clone_pool };
	p.stats = t.stats;
	p.flow_table = &t.cfg.flow_table;
	p.drain_us = NO_DRAIN_US;
	t.params = p;
	t.worker = st_worker_create(&p, err, sizeof(err));
	if (t.worker == NULL) {
		fprintf(stderr, "worker: %s\n", err);
		return -1;
	}
	rte_rcu_qsbr_thread_register(p.qsbr, 0);
	rte_rcu_qsbr_thread_online(p.qsbr, 0);
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	if (t.worker != NULL)
		rte_rcu_qsbr_thread_offline(st_runtime_qsbr(t.runtime), 0);
	st_worker_free(t.worker);
	for (i = 0; i < NB_PORTS; i++)
		rte_eth_dev_stop(t.port[i]);
	st_mirror_set_free(t.mirrors);
	if (t.runtime != NULL)
		st_runtime_free(t.runtime);
	rte_free(t.stats);
	return st_test_eal_cleanup();
}

/* A TCP segment of one connection, from the client (or to it). */
static struct rte_mbuf *
tcp_frame(bool from_client, uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(t.pool);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *tcp;
	uint16_t len = sizeof(*eth) + sizeof(*ip) + sizeof(*tcp);
	uint32_t a = 0xc0000201, b = 0xc0000202;	/* 192.0.2.1, .2 */

	assert_non_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);
	assert_non_null(eth);
	memset(eth, 0, len);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*tcp));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(from_client ? a : b);
	ip->dst_addr = rte_cpu_to_be_32(from_client ? b : a);
	tcp = (struct rte_tcp_hdr *)(ip + 1);
	tcp->src_port = rte_cpu_to_be_16(from_client ? 40000 : 80);
	tcp->dst_port = rte_cpu_to_be_16(from_client ? 80 : 40000);
	tcp->sent_seq = rte_cpu_to_be_32(seq);
	tcp->data_off = (sizeof(*tcp) / 4) << 4;
	tcp->tcp_flags = RTE_TCP_ACK_FLAG;
	return m;
}

/* The TCP header of a frame tcp_frame() made. */
static struct rte_tcp_hdr *
tcp_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *,
				       sizeof(struct rte_ether_hdr) +
					       sizeof(struct rte_ipv4_hdr));
}

/* Take everything a port sent; check it is @want frames with the given
 * sequence numbers, in order. */
static void
expect_sent(int port, unsigned int want, const uint32_t *seqs)
{
	struct rte_mbuf *got[RING_SIZE];
	unsigned int n, i;

	n = rte_ring_dequeue_burst(t.tx[port], (void **)got, RING_SIZE, NULL);
	assert_int_equal(n, want);
	for (i = 0; i < n; i++) {
		const struct rte_tcp_hdr *tcp = tcp_of(got[i]);

		assert_int_equal(rte_be_to_cpu_32(tcp->sent_seq), seqs[i]);
	}
	rte_pktmbuf_free_bulk(got, n);
}

static void
test_lone_packet_leaves_in_its_iteration(void **state)
{
	struct rte_mbuf *m = tcp_frame(true, 1000);
	uint32_t seq = 1000;

	(void)state;
	assert_int_equal(rte_ring_enqueue(t.rx[CLIENT], m), 0);
	assert_int_equal(st_worker_poll(t.worker), 1);
	/* Not one packet more came, and no drain ran: still both left. */
	expect_sent(SERVER, 1, &seq);
	expect_sent(SHADOW, 1, &seq);
	expect_sent(CUT, 1, &seq);
	expect_sent(CLIENT, 0, NULL);
	/* Nothing was held back to leave later. */
	assert_int_equal(st_worker_poll(t.worker), 0);
	expect_sent(SERVER, 0, NULL);
	expect_sent(SHADOW, 0, NULL);
	expect_sent(CUT, 0, NULL);
}

static void
test_both_sides_in_one_iteration(void **state)
{
	struct rte_mbuf *c[3] = { tcp_frame(true, 1), tcp_frame(true, 2),
				  tcp_frame(true, 3) };
	struct rte_mbuf *s = tcp_frame(false, 7);
	const uint32_t client_seqs[] = { 1, 2, 3 }, server_seq = 7;
	const uint32_t shadow_seqs[] = { 1, 2, 3, 7 };

	(void)state;
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[CLIENT], (void **)c, 3,
					       NULL), 3);
	assert_int_equal(rte_ring_enqueue(t.rx[SERVER], s), 0);
	assert_int_equal(st_worker_poll(t.worker), 4);
	expect_sent(SERVER, 3, client_seqs);
	expect_sent(CLIENT, 1, &server_seq);
	/* Both sides' copies, in the order the worker polled them. */
	expect_sent(SHADOW, 4, shadow_seqs);
	expect_sent(CUT, 4, shadow_seqs);
	assert_int_equal(t.stats->side[ST_SIDE_CLIENT].forwarded_packets +
				 t.stats->side[ST_SIDE_SERVER].forwarded_packets,
			 5);
	assert_int_equal(t.stats->mirror[0].packets, 5);
	assert_int_equal(t.stats->mirror[1].packets, 5);
}

/* Take and free everything @p port sent; how many there were. */
static unsigned int
take_sent(int port)
{
	struct rte_mbuf *got[RING_SIZE];
	unsigned int n;

	n = rte_ring_dequeue_burst(t.tx[port], (void **)got, RING_SIZE, NULL);
	rte_pktmbuf_free_bulk(got, n);
	return n;
}

/* @p n frames from the client, received in one iteration; all forwarded. */
static void
client_burst(unsigned int n, uint32_t seq)
{
	struct rte_mbuf *m[ST_BURST];
	unsigned int i;

	for (i = 0; i < n; i++)
		m[i] = tcp_frame(true, seq + i);
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[CLIENT], (void **)m, n,
					       NULL), n);
	assert_int_equal(st_worker_poll(t.worker), n);
	assert_int_equal(take_sent(SERVER), n);
}

/*
 * Run with the mirrors in @p enabled (bit i: mirror i) and CUT taking
 * @p cut_percent of the flows, as a change from shadowtapctl would. The
 * worker is this thread: offline, the change need not wait for it.
 */
static void
reconfigure(uint32_t enabled, double cut_percent)
{
	struct rte_rcu_qsbr *qsbr = st_runtime_qsbr(t.runtime);
	struct st_config *cfg = malloc(sizeof(*cfg));
	char err[256];

	assert_non_null(cfg);
	*cfg = t.cfg;
	cfg->mirrors[1].percent = cut_percent;
	rte_rcu_qsbr_thread_offline(qsbr, 0);
	assert_int_equal(st_runtime_apply(t.runtime, cfg, enabled, false, err,
					  sizeof(err)),
			 0);
	rte_rcu_qsbr_thread_online(qsbr, 0);
}

/*
 * Copies to one plain session go into its buffer a run at a time. The
 * server's run finds the buffer holding the client's: it fills it, sends
 * it, and goes on in an empty one, in order.
 */
static void
test_a_run_of_copies_fills_the_buffer_in_order(void **state)
{
	enum { N = 20, FRAME = 54 };
	const struct st_route_stats *rs =
		&t.stats->route[ST_ROUTE_STATS_DEFAULT];
	uint64_t packets = rs->packets, bytes = rs->bytes;
	uint64_t copies = t.stats->mirror[0].packets;
	uint32_t client_seqs[N], server_seqs[N], shadow_seqs[2 * N];
	struct rte_mbuf *c[N], *s[N];
	unsigned int i;

	(void)state;
	reconfigure(1, 100);	/* SHADOW alone */
	for (i = 0; i < N; i++) {
		client_seqs[i] = shadow_seqs[i] = 100 + i;
		server_seqs[i] = shadow_seqs[N + i] = 500 + i;
		c[i] = tcp_frame(true, client_seqs[i]);
		s[i] = tcp_frame(false, server_seqs[i]);
	}
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[CLIENT], (void **)c, N,
					       NULL), N);
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[SERVER], (void **)s, N,
					       NULL), N);
	assert_int_equal(st_worker_poll(t.worker), 2 * N);
	expect_sent(SERVER, N, client_seqs);
	expect_sent(CLIENT, N, server_seqs);
	expect_sent(SHADOW, 2 * N, shadow_seqs);
	expect_sent(CUT, 0, NULL);
	assert_int_equal(t.stats->mirror[0].packets - copies, 2 * N);
	assert_int_equal(rs->packets - packets, 2 * N);
	assert_int_equal(rs->bytes - bytes, 2 * N * FRAME);
	reconfigure(3, 100);
}

/* Flows 30000 + i (their client ports) of one burst, one frame each; the
 * flows whose frames CUT got, bit i for flow i. */
static uint32_t
flows_cut(unsigned int first, unsigned int n, uint32_t seq)
{
	struct rte_mbuf *m[ST_BURST], *got[RING_SIZE];
	uint32_t cut = 0;
	unsigned int i, k;

	for (i = 0; i < n; i++) {
		m[i] = tcp_frame(true, seq);
		tcp_of(m[i])->src_port = rte_cpu_to_be_16(30000 + first + i);
	}
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[CLIENT], (void **)m, n,
					       NULL), n);
	assert_int_equal(st_worker_poll(t.worker), n);
	assert_int_equal(take_sent(SERVER), n);
	assert_int_equal(take_sent(SHADOW), n);
	k = rte_ring_dequeue_burst(t.tx[CUT], (void **)got, RING_SIZE, NULL);
	for (i = 0; i < k; i++)
		cut |= 1u << (rte_be_to_cpu_16(tcp_of(got[i])->src_port) -
			      30000);
	rte_pktmbuf_free_bulk(got, k);
	return cut;
}

/*
 * Flows of one burst that go to different mirrors: a run of copies to
 * SHADOW alone ends at the first copy that goes to CUT as well, which
 * CUT still gets. Each flow's mirrors are first seen a flow a poll, where
 * no run can take another flow's copy.
 */
static void
test_a_run_of_copies_ends_where_the_mirrors_change(void **state)
{
	enum { FLOWS = 24 };
	uint32_t alone = 0, burst;
	unsigned int i;

	(void)state;
	reconfigure(3, 50);
	for (i = 0; i < FLOWS; i++)
		alone |= flows_cut(i, 1, 900);
	/* Both kinds of flow are there, and so runs to SHADOW alone. */
	assert_int_not_equal(alone, 0);
	assert_int_not_equal(alone, (1u << FLOWS) - 1);
	burst = flows_cut(0, FLOWS, 901);
	assert_int_equal(burst, alone);
	reconfigure(3, 100);
}

/*
 * A mirror that leaves the frame as it is sends the original's own mbuf,
 * referenced once more; one that truncates sends a clone of it.
 */
static void
test_copies_share_the_original(void **state)
{
	unsigned int in_use = rte_mempool_in_use_count(t.pool);
	struct rte_mbuf *fwd, *copy, *cut;

	(void)state;
	assert_int_equal(rte_ring_enqueue(t.rx[CLIENT], tcp_frame(true, 5)),
			 0);
	assert_int_equal(st_worker_poll(t.worker), 1);
	assert_int_equal(rte_ring_dequeue(t.tx[SERVER], (void **)&fwd), 0);
	assert_int_equal(rte_ring_dequeue(t.tx[SHADOW], (void **)&copy), 0);
	assert_int_equal(rte_ring_dequeue(t.tx[CUT], (void **)&cut), 0);
	assert_ptr_equal(copy, fwd);
	assert_true(RTE_MBUF_CLONED(cut));
	assert_ptr_equal(rte_mbuf_from_indirect(cut), fwd);
	/* The original, its shared copy, and the clone's hold on it. */
	assert_int_equal(rte_mbuf_refcnt_read(fwd), 3);
	assert_int_equal(rte_mempool_in_use_count(t.pool), in_use + 1);
	rte_pktmbuf_free(cut);
	rte_pktmbuf_free(copy);
	assert_int_equal(rte_mbuf_refcnt_read(fwd), 1);
	rte_pktmbuf_free(fwd);
	assert_int_equal(rte_mempool_in_use_count(t.pool), in_use);
}

/*
 * A frame in two segments is shared whole: each segment referenced once
 * more, or the shadow's free would return the tail the original still
 * holds.
 */
static void
test_a_chain_is_shared_segment_by_segment(void **state)
{
	unsigned int in_use = rte_mempool_in_use_count(t.pool);
	struct rte_mbuf *m = tcp_frame(true, 5);
	struct rte_mbuf *tail = rte_pktmbuf_alloc(t.pool);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
		m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	struct rte_mbuf *fwd, *copy, *cut;
	char *payload;

	(void)state;
	assert_non_null(tail);
	payload = rte_pktmbuf_append(tail, 10);
	assert_non_null(payload);
	memset(payload, 'x', 10);
	ip->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(ip->total_length) +
					    10);
	assert_int_equal(rte_pktmbuf_chain(m, tail), 0);
	assert_int_equal(rte_ring_enqueue(t.rx[CLIENT], m), 0);
	assert_int_equal(st_worker_poll(t.worker), 1);
	assert_int_equal(rte_ring_dequeue(t.tx[SERVER], (void **)&fwd), 0);
	assert_int_equal(rte_ring_dequeue(t.tx[SHADOW], (void **)&copy), 0);
	assert_int_equal(rte_ring_dequeue(t.tx[CUT], (void **)&cut), 0);
	assert_ptr_equal(copy, fwd);
	rte_pktmbuf_free(cut);
	/* The original and its shared copy, on both segments. */
	assert_int_equal(rte_mbuf_refcnt_read(fwd), 2);
	assert_int_equal(rte_mbuf_refcnt_read(tail), 2);
	rte_pktmbuf_free(copy);
	assert_int_equal(rte_mbuf_refcnt_read(tail), 1);
	assert_int_equal(rte_mempool_in_use_count(t.pool), in_use + 2);
	rte_pktmbuf_free(fwd);
	assert_int_equal(rte_mempool_in_use_count(t.pool), in_use);
}

/* Take data mbufs from the pool, or give back those taken, until it has
 * @p want free. */
static void
set_free_data(void **taken, unsigned int *nb_taken, unsigned int want)
{
	while (rte_mempool_avail_count(t.pool) > want)
		assert_int_equal(rte_mempool_get(t.pool,
						 &taken[(*nb_taken)++]),
				 0);
	while (rte_mempool_avail_count(t.pool) < want)
		rte_mempool_put(t.pool, taken[--*nb_taken]);
}

/*
 * Shared copies pin data mbufs: once the data pool has no more free than
 * the reserve, they fail (no_mbuf) while originals and clones go on; with
 * a few more free than the reserve, that many are shared; and they all
 * resume once it has enough. With CUT on, SHADOW's copies go one by one
 * beside CUT's clones; with SHADOW @p alone, as a run.
 */
static void
shared_copies_stop_at_the_reserve(bool alone)
{
	static void *taken[DATA_POOL];
	const struct st_mirror_stats *shared = &t.stats->mirror[0];
	const struct st_mirror_stats *cloned = &t.stats->mirror[1];
	const uint32_t five[] = { 20000, 20001, 20002, 20003, 20004 };
	uint64_t copies, clones, no_mbuf = shared->dropped[ST_DROP_NO_MBUF];
	unsigned int nb_taken = 0, bursts = 0, cuts = alone ? 0 : 8;
	uint32_t seq = 10000;

	reconfigure(alone ? 1 : 3, 100);
	take_sent(SHADOW);
	take_sent(CUT);
	/* Below the reserve, with room for the test's own frames. */
	set_free_data(taken, &nb_taken, DATA_RESERVE - 16);
	/* What the worker saw at its last look may still be shared. */
	while (shared->dropped[ST_DROP_NO_MBUF] == no_mbuf &&
	       bursts++ < DATA_POOL / 8 + 1) {
		client_burst(8, seq);
		seq += 8;
		take_sent(SHADOW);
		take_sent(CUT);
	}
	assert_true(shared->dropped[ST_DROP_NO_MBUF] > no_mbuf);

	copies = shared->packets;
	clones = cloned->packets;
	no_mbuf = shared->dropped[ST_DROP_NO_MBUF];
	client_burst(8, seq);
	assert_int_equal(shared->packets - copies, 0);
	assert_int_equal(shared->dropped[ST_DROP_NO_MBUF] - no_mbuf, 8);
	assert_int_equal(cloned->packets - clones, cuts);
	assert_int_equal(take_sent(SHADOW), 0);
	assert_int_equal(take_sent(CUT), cuts);

	/* Five more free than the reserve once the burst's 8 frames are
	 * taken: the first five are shared. */
	set_free_data(taken, &nb_taken, DATA_RESERVE + 5 + 8);
	copies = shared->packets;
	no_mbuf = shared->dropped[ST_DROP_NO_MBUF];
	client_burst(8, five[0]);
	assert_int_equal(shared->packets - copies, 5);
	assert_int_equal(shared->dropped[ST_DROP_NO_MBUF] - no_mbuf, 3);
	expect_sent(SHADOW, 5, five);
	assert_int_equal(take_sent(CUT), cuts);

	rte_mempool_put_bulk(t.pool, taken, nb_taken);
	copies = shared->packets;
	client_burst(8, seq + 8);
	assert_int_equal(shared->packets - copies, 8);
	assert_int_equal(take_sent(SHADOW), 8);
	take_sent(CUT);
	reconfigure(3, 100);
}

static void
test_shared_copies_stop_at_the_data_pool_reserve(void **state)
{
	(void)state;
	shared_copies_stop_at_the_reserve(false);
}

static void
test_a_run_of_shared_copies_stops_at_the_reserve(void **state)
{
	(void)state;
	shared_copies_stop_at_the_reserve(true);
}

/*
 * Clones are taken from their pool a burst at a time; a pool with less
 * than a burst left still gives its last ones, so copies fail (no_mbuf)
 * only once it is empty, and never cost an original. Shared copies do
 * not need it.
 */
static void
test_copies_fail_only_once_the_clone_pool_is_empty(void **state)
{
	static void *taken[CLONE_POOL];
	const struct st_mirror_stats *ms = &t.stats->mirror[1];
	const uint64_t *shared_no_mbuf =
		&t.stats->mirror[0].dropped[ST_DROP_NO_MBUF];
	uint64_t copies = ms->packets, no_mbuf = ms->dropped[ST_DROP_NO_MBUF];
	uint64_t shared_failed = *shared_no_mbuf;
	unsigned int nb_taken = 0;

	(void)state;
	take_sent(CUT);
	while (nb_taken < CLONE_POOL &&
	       rte_mempool_get(t.clone_pool, &taken[nb_taken]) == 0)
		nb_taken++;
	/* What the worker holds in stock serves, then copies fail. The
	 * copies sent stay in the shadow's ring, holding their clones. */
	client_burst(ST_BURST, 1);
	client_burst(ST_BURST, 100);
	assert_true(ms->dropped[ST_DROP_NO_MBUF] - no_mbuf >= ST_BURST);
	assert_int_equal(ms->packets - copies +
				 ms->dropped[ST_DROP_NO_MBUF] - no_mbuf,
			 2 * ST_BURST);

	/* Five back, fewer than a burst: five copies. */
	nb_taken -= 5;
	rte_mempool_put_bulk(t.clone_pool, taken + nb_taken, 5);
	copies = ms->packets;
	no_mbuf = ms->dropped[ST_DROP_NO_MBUF];
	client_burst(8, 200);
	assert_int_equal(ms->packets - copies, 5);
	assert_int_equal(ms->dropped[ST_DROP_NO_MBUF] - no_mbuf, 3);
	assert_int_equal(*shared_no_mbuf, shared_failed);

	/* All back: every packet copied again. */
	rte_mempool_put_bulk(t.clone_pool, taken, nb_taken);
	take_sent(CUT);
	copies = ms->packets;
	client_burst(ST_BURST, 300);
	assert_int_equal(ms->packets - copies, ST_BURST);
	assert_int_equal(take_sent(CUT), ST_BURST);
	take_sent(SHADOW);
}

/*
 * Idle flows are forgotten once their timeout has passed, and within a
 * pass of the expiry over the whole table after that: about a second,
 * whatever the table's size. A burst of flows lands in slots all over the
 * table, so that the last one forgotten bounds the whole pass. The bound
 * allows for a pass at a fifth of its speed: on a busy machine the test
 * polls, and so drains, less often (about half as often during CI).
 */
static void
test_idle_flows_expire_within_a_pass(void **state)
{
	const struct st_flow_table_conf conf = { .size = 65536,
						 .idle_timeout_s = 1 };
	struct st_worker_params p = t.params;
	uint64_t hz = rte_get_tsc_hz(), start, elapsed, first = 0;
	uint64_t expired = t.stats->flows_expired;
	struct rte_mbuf *m[ST_BURST];
	struct st_worker *w;
	char err[256];
	unsigned int i;

	(void)state;
	p.flow_table = &conf;
	p.drain_us = 0;		/* the appliance's */
	w = st_worker_create(&p, err, sizeof(err));
	assert_non_null(w);
	for (i = 0; i < ST_BURST; i++) {
		m[i] = tcp_frame(true, 1);
		tcp_of(m[i])->src_port = rte_cpu_to_be_16(20000 + i);
	}
	start = rte_rdtsc();
	assert_int_equal(rte_ring_enqueue_bulk(t.rx[CLIENT], (void **)m,
					       ST_BURST, NULL), ST_BURST);
	assert_int_equal(st_worker_poll(w), ST_BURST);
	assert_int_equal(st_flow_table_count(st_worker_flow_table(w)),
			 ST_BURST);
	do {
		st_worker_poll(w);
		elapsed = rte_rdtsc() - start;
		if (first == 0 && t.stats->flows_expired != expired)
			first = elapsed;
	} while (t.stats->flows_expired - expired < ST_BURST &&
		 elapsed < 12 * hz);
	assert_int_equal(t.stats->flows_expired - expired, ST_BURST);
	assert_int_equal(st_flow_table_count(st_worker_flow_table(w)), 0);
	assert_true(first > conf.idle_timeout_s * hz);
	assert_true(elapsed < (conf.idle_timeout_s + 5) * hz);
	st_worker_free(w);
	assert_int_equal(take_sent(SERVER), ST_BURST);
	take_sent(SHADOW);
	take_sent(CUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lone_packet_leaves_in_its_iteration),
		cmocka_unit_test(test_both_sides_in_one_iteration),
		cmocka_unit_test(test_copies_share_the_original),
		cmocka_unit_test(test_a_chain_is_shared_segment_by_segment),
		cmocka_unit_test(test_a_run_of_copies_fills_the_buffer_in_order),
		cmocka_unit_test(
			test_a_run_of_copies_ends_where_the_mirrors_change),
		cmocka_unit_test(
			test_shared_copies_stop_at_the_data_pool_reserve),
		cmocka_unit_test(
			test_a_run_of_shared_copies_stops_at_the_reserve),
		cmocka_unit_test(
			test_copies_fail_only_once_the_clone_pool_is_empty),
		cmocka_unit_test(test_idle_flows_expire_within_a_pass),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
