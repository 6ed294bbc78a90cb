/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shadowtap: an inline appliance between a client-side and a server-side
 * port. Every original is forwarded untouched; a deterministic, per-flow
 * sample is copied, zero-copy, to shadow ports.
 *
 *   shadowtap [EAL options] -- --config FILE [--socket PATH]
 *             [--metrics ADDR:PORT] [--idle-exit MS] [--stats-file FILE]
 *             [--extra-mbufs N]
 *   shadowtap --check-config FILE
 *   shadowtap --help | --version
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numa.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>

#include "config.h"
#include "ctl.h"
#include "metrics.h"
#include "encap.h"
#include "link.h"
#include "mirror.h"
#include "offload.h"
#include "port.h"
#include "resolve.h"
#include "runtime.h"
#include "stats.h"
#include "txbuf.h"
#include "worker.h"

#define MEMPOOL_CACHE 256
#define MAX_EXTRA_MBUFS (1u << 24)
#define CONTROL_PERIOD_MS 10
#define LINK_POLL_PERIOD_MS 100
#define DEFAULT_SOCKET "/run/shadowtap/ctl.sock"

struct options {
	const char *config_path;
	const char *socket_path;
	const char *metrics_addr;
	const char *stats_path;
	uint64_t idle_exit_ms;	/* 0: run until a signal */
	uint64_t extra_mbufs;	/* data mbufs beyond what queues need */
};

struct app {
	/* The config as started: ports, mirrors and sizes never change
	 * while running; routes and percents do, in the runtime's view. */
	struct st_config *cfg;
	unsigned int nb_workers;
	unsigned int lcores[RTE_MAX_LCORE];
	struct st_worker *workers[RTE_MAX_LCORE];
	struct st_worker_stats *stats;	/* one per worker, contiguous */
	struct rte_mempool *data_pool[RTE_MAX_NUMA_NODES];
	struct rte_mempool *clone_pool[RTE_MAX_NUMA_NODES];
	struct rte_mempool *hdr_pool[RTE_MAX_NUMA_NODES];	/* or NULL */
	struct st_mirror_set *mirrors;
	struct st_runtime *runtime;
	struct st_ctl *ctl;
	struct st_metrics *metrics;
	struct st_link_watch *links;
};

static volatile sig_atomic_t signalled;

static void
on_signal(int sig)
{
	signalled = sig;
}

/* The synopsis: on stdout when asked for (--help), else on stderr. */
static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [EAL options] -- --config FILE [--socket PATH] "
		"[--metrics ADDR:PORT] [--idle-exit MS] [--stats-file FILE] "
		"[--extra-mbufs N]\n"
		"  --config FILE      YAML configuration (shadowtap.yaml(5))\n"
		"  --socket PATH      control socket (default "
		DEFAULT_SOCKET ")\n"
		"  --metrics ADDR:PORT  serve Prometheus metrics there "
		"(e.g. 127.0.0.1:9417)\n"
		"  --idle-exit MS     stop once every RX queue has been empty "
		"for MS ms\n"
		"  --stats-file FILE  write the final counters there as JSON\n"
		"  --extra-mbufs N    data mbufs per socket beyond what queues "
		"and copies need\n"
		"                     (net_pcap's infinite_rx holds a whole "
		"capture in mbufs)\n"
		"   or: %s --check-config FILE\n"
		"  check FILE as a start would, without EAL or devices (exit "
		"status 0 or 1)\n"
		"   or: %s --help | --version\n"
		"  this text, or the version\n",
		prog, prog, prog);
}

static void
print_version(void)
{
	printf("shadowtap %s\n", ST_VERSION);
}

static int
parse_positive(const char *name, const char *arg, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 10);
	if (errno != 0 || *end != '\0' || arg[0] == '-' || *out == 0 ||
	    *out > max) {
		fprintf(stderr, "%s: '%s' is not a whole number in 1..%" PRIu64
			"\n", name, arg, max);
		return -EINVAL;
	}
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "idle-exit", required_argument, NULL, 'i' },
		{ "stats-file", required_argument, NULL, 's' },
		{ "extra-mbufs", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->socket_path = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config_path = optarg;
			break;
		case 'S':
			opt->socket_path = optarg;
			break;
		case 'M':
			opt->metrics_addr = optarg;
			break;
		case 'i':
			if (parse_positive("--idle-exit", optarg, UINT64_MAX,
					   &opt->idle_exit_ms) != 0)
				return -EINVAL;
			break;
		case 'x':
			if (parse_positive("--extra-mbufs", optarg,
					   MAX_EXTRA_MBUFS,
					   &opt->extra_mbufs) != 0)
				return -EINVAL;
			break;
		case 's':
			opt->stats_path = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(EXIT_SUCCESS);
		case 'V':
			print_version();
			exit(EXIT_SUCCESS);
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	if (opt->config_path == NULL) {
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	return 0;
}

/* A pool of @p n mbufs of @p data_room bytes on @p socket, or exit. */
static struct rte_mempool *
create_pool(const char *kind, int socket, unsigned int n, uint16_t data_room)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;

	snprintf(name, sizeof(name), "st_%s_%d", kind, socket);
	mp = rte_pktmbuf_pool_create(name, n, MEMPOOL_CACHE, 0, data_room,
				     socket);
	if (mp == NULL)
		rte_exit(EXIT_FAILURE,
			 "cannot create the %s mempool of %u mbufs on socket "
			 "%d: %s (give EAL more memory, -m)\n", kind, n,
			 socket, rte_strerror(rte_errno));
	return mp;
}

/*
 * Free data mbufs that copies leave to RX (struct st_mirror_pools): what
 * the lcores' caches may hold, which only their own lcore can take, and a
 * burst from each side for every worker.
 */
static unsigned int
data_reserve(unsigned int nb_workers)
{
	return (nb_workers + 1) * MEMPOOL_CACHE * 3 / 2 +
	       nb_workers * ST_BURST * ST_SIDE_COUNT;
}

/*
 * Mempools per NUMA socket in use. Data mbufs cover every RX and TX
 * descriptor, the TX buffers, per-lcore caches, every copy that can be in
 * flight (each pins one data mbuf: a shadow's TX queue and buffer hold at
 * most ST_TX_DESC + ST_BURST of them, held heads are clones) and the
 * reserve, so that RX never runs dry because of a shadow.
 * Each worker also keeps a burst of clone mbufs in stock.
 * An encapsulated copy also takes a header mbuf, from a pool of its own.
 */
static void
create_pools(struct app *app, unsigned int nb_ports, unsigned int extra)
{
	const unsigned int nb_mirrors = app->cfg->nb_mirrors;
	const unsigned int w = app->nb_workers;
	unsigned int clones = w * nb_mirrors * (ST_TX_DESC + ST_BURST) +
			      w * ST_BURST + (w + 1) * MEMPOOL_CACHE;
	unsigned int data = nb_ports * w * (ST_RX_DESC + ST_TX_DESC) +
			    w * ST_BURST * ST_SIDE_COUNT +
			    (w + 1) * MEMPOOL_CACHE + clones + data_reserve(w) +
			    extra;
	unsigned int i;
	int socket;

	for (i = 0; i < w; i++) {
		socket = (int)rte_lcore_to_socket_id(app->lcores[i]);
		if (app->data_pool[socket] != NULL)
			continue;
		app->data_pool[socket] = create_pool(
			"data", socket, data, RTE_MBUF_DEFAULT_BUF_SIZE);
		/* Clones carry no data of their own. */
		app->clone_pool[socket] = create_pool("clone", socket, clones,
						      0);
		if (st_mirror_set_has_headers(app->mirrors))
			app->hdr_pool[socket] = create_pool(
				"header", socket, clones,
				RTE_PKTMBUF_HEADROOM + ST_ENCAP_MAX_HEADER);
	}
}

/* The pools, for the counters: their in-use figures show leaks. */
static void
show_pools(struct app *app)
{
	struct rte_mempool *const *kinds[] = { app->data_pool,
					       app->clone_pool,
					       app->hdr_pool };
	struct st_view *view = st_runtime_view(app->runtime);
	unsigned int k;
	int s;

	for (s = 0; s < RTE_MAX_NUMA_NODES; s++)
		for (k = 0; k < RTE_DIM(kinds); k++)
			if (kinds[k][s] != NULL)
				view->pools[view->nb_pools++] = kinds[k][s];
}

/* The pool for RX on a port: its own socket's, else any that exists. */
static struct rte_mempool *
pool_near(struct app *app, uint16_t port_id)
{
	int socket = st_port_socket(port_id), s;

	if (app->data_pool[socket] != NULL)
		return app->data_pool[socket];
	for (s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (app->data_pool[s] != NULL) {
			RTE_LOG(WARNING, USER1, "port %u is on socket %d but "
				"no worker is: its packets cross sockets\n",
				port_id, socket);
			return app->data_pool[s];
		}
	return NULL;
}

static void
setup_ports(struct app *app, uint16_t nb_rxq[ST_SIDE_COUNT])
{
	const struct st_config *cfg = app->cfg;
	const uint16_t wire[ST_SIDE_COUNT] = { cfg->client.port_id,
					       cfg->server.port_id };
	const char *const role[ST_SIDE_COUNT] = { "client", "server" };
	char err[256];
	unsigned int i;
	int side;

	for (side = 0; side < ST_SIDE_COUNT; side++) {
		nb_rxq[side] = st_port_rx_queues(wire[side], app->nb_workers);
		if (st_port_configure(wire[side], role[side], nb_rxq[side],
				      app->nb_workers,
				      pool_near(app, wire[side]), true, err,
				      sizeof(err)) != 0)
			rte_exit(EXIT_FAILURE, "%s\n", err);
	}
	for (i = 0; i < cfg->nb_mirrors; i++) {
		const struct st_mirror_conf *m = &cfg->mirrors[i];

		if (st_port_configure(m->port.port_id, m->name, 0,
				      app->nb_workers,
				      pool_near(app, m->port.port_id), false,
				      err, sizeof(err)) != 0)
			rte_exit(EXIT_FAILURE, "%s\n", err);
		/* Encapsulated copies are a header mbuf chained to a clone. */
		if (m->encap.type != ST_ENCAP_NONE &&
		    !st_port_tx_chains(m->port.port_id))
			RTE_LOG(WARNING, USER1, "mirror '%s': port %u does not "
				"report multi-segment TX; its %s copies are "
				"chains of mbufs\n", m->name, m->port.port_id,
				st_encap_name(m->encap.type));
	}
}

static void
start_port(uint16_t port_id)
{
	int ret = rte_eth_dev_start(port_id);

	if (ret != 0)
		rte_exit(EXIT_FAILURE, "cannot start port %u: %s\n", port_id,
			 strerror(-ret));
}

/*
 * Without EAL hugepages a flow table asks the kernel for transparent ones
 * (flow.c says why): say at start whether it got them, as a table on
 * 4 KiB pages costs lookups a TLB miss each. Every worker's is alike.
 */
static void
report_flow_memory(const struct st_worker *w)
{
	size_t bytes, thp;
	int ret;

	if (rte_eal_has_hugepages())
		return;
	ret = st_flow_table_memory(st_worker_flow_table(w), &bytes, &thp);
	if (ret != 0) {
		RTE_LOG(NOTICE, USER1, "flow tables: cannot read smaps: %s\n",
			strerror(-ret));
	} else if (thp == 0) {
		RTE_LOG(WARNING, USER1,
			"flow tables on 4 KiB pages (%zu KiB each): no EAL "
			"hugepages (scripts/setup-hugepages), nor transparent "
			"ones (/sys/kernel/mm/transparent_hugepage/enabled): "
			"lookups will miss the TLB\n", bytes >> 10);
	} else {
		RTE_LOG(INFO, USER1,
			"flow tables: %zu KiB each, %zu KiB of it on "
			"transparent hugepages\n", bytes >> 10, thp >> 10);
	}
}

/*
 * Worker i polls RX queue i of each wire port that has one, so with
 * symmetric RSS both directions of a flow meet on the same worker.
 */
static void
create_workers(struct app *app, const uint16_t nb_rxq[ST_SIDE_COUNT])
{
	struct st_worker_params p;
	char err[256];
	unsigned int i;
	int side;

	for (i = 0; i < app->nb_workers; i++) {
		int socket = (int)rte_lcore_to_socket_id(app->lcores[i]);

		memset(&p, 0, sizeof(p));
		p.lcore_id = app->lcores[i];
		p.index = i;
		p.tx_queue = (uint16_t)i;
		p.port[ST_SIDE_CLIENT] = app->cfg->client.port_id;
		p.port[ST_SIDE_SERVER] = app->cfg->server.port_id;
		for (side = 0; side < ST_SIDE_COUNT; side++) {
			p.polls[side] = i < nb_rxq[side];
			p.rx_queue[side] = (uint16_t)i;
		}
		p.mirrors = app->mirrors;
		p.policy = st_runtime_policy_slot(app->runtime);
		p.qsbr = st_runtime_qsbr(app->runtime);
		p.max_head_bytes = app->cfg->http.max_head_bytes;
		p.pools = (struct st_mirror_pools){
			.data = app->data_pool[socket],
			.data_reserve = data_reserve(app->nb_workers),
			.data_sharers = app->nb_workers,
			.clone = app->clone_pool[socket],
			.hdr = app->hdr_pool[socket],
		};
		p.stats = &app->stats[i];
		p.flow_table = &app->cfg->flow_table;
		app->workers[i] = st_worker_create(&p, err, sizeof(err));
		if (app->workers[i] == NULL)
			rte_exit(EXIT_FAILURE, "%s\n", err);
	}
	report_flow_memory(app->workers[0]);
}

/*
 * A worker on another socket than a port it polls pays a trip over the
 * interconnect for every packet: say so at start, with how far (libnuma).
 * Ports of unknown socket (virtual devices) are not judged.
 */
static void
warn_remote_ports(const struct app *app, const uint16_t nb_rxq[ST_SIDE_COUNT])
{
	const uint16_t wire[ST_SIDE_COUNT] = { app->cfg->client.port_id,
					       app->cfg->server.port_id };
	const bool numa = numa_available() >= 0;
	unsigned int i;
	int side;

	for (side = 0; side < ST_SIDE_COUNT; side++) {
		int port_socket = rte_eth_dev_socket_id(wire[side]);

		if (port_socket < 0)
			continue;
		for (i = 0; i < nb_rxq[side]; i++) {
			unsigned int lcore = app->lcores[i];
			int socket = (int)rte_lcore_to_socket_id(lcore);

			if (socket == port_socket)
				continue;
			RTE_LOG(WARNING, USER1,
				"%s port %u is on socket %d and its worker "
				"lcore %u on socket %d (NUMA distance %d, "
				"local %d): give -l lcores of socket %d\n",
				st_stats_side_name(side), wire[side],
				port_socket, lcore, socket,
				numa ? numa_distance(port_socket, socket) : -1,
				numa ? numa_distance(port_socket, port_socket)
				     : -1,
				port_socket);
		}
	}
}

/*
 * The wire ports' flow engines (rte_flow): symmetric RSS, and marks on
 * what no route can select, where the NIC offers them; software does the
 * rest, and says which at start and in the counters. The prefilter is
 * asked for when routes exist and no mirror takes unrouted flows, as
 * started; workers check the running policy before trusting a mark.
 * Hardware SAMPLE is not asked for: see docs/deploy.md.
 */
static void
setup_offloads(struct app *app, const uint16_t nb_rxq[ST_SIDE_COUNT])
{
	const struct st_config *cfg = app->cfg;
	const uint16_t wire[ST_SIDE_COUNT] = { cfg->client.port_id,
					       cfg->server.port_id };
	struct st_view *view = st_runtime_view(app->runtime);
	struct st_offload_conf conf = {
		.prefilter = cfg->nb_routes > 0,
		.http_ports = cfg->http.ports,
		.nb_http_ports = cfg->http.nb_ports,
		.sample_port = ST_OFFLOAD_NO_SAMPLE,
	};
	struct st_offload_status status;
	char err[256];
	unsigned int i;
	int side;

	_Static_assert(ST_MAX_HTTP_PORTS <= ST_OFFLOAD_MAX_HTTP_PORTS,
		       "every configured HTTP port fits the prefilter");
	for (i = 0; i < cfg->nb_mirrors; i++)
		if (cfg->mirrors[i].percent > 0)
			conf.prefilter = false;
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		conf.nb_queues = nb_rxq[side];
		if (st_offload_setup(wire[side], &conf, &status, err,
				     sizeof(err)) != 0)
			rte_exit(EXIT_FAILURE, "%s port %u: rte_flow: %s\n",
				 st_stats_side_name(side), wire[side], err);
		RTE_LOG(INFO, USER1, "%s port %u: %s\n",
			st_stats_side_name(side), wire[side], status.detail);
		view->offload[side].rss = status.rss;
		view->offload[side].prefilter = status.prefilter;
	}
}

/* Links are watched once the ports are started; see link.h. */
static void
watch_links(struct app *app)
{
	const uint16_t wire[ST_SIDE_COUNT] = { app->cfg->client.port_id,
					       app->cfg->server.port_id };

	app->links = st_link_watch_create(st_runtime_view(app->runtime), wire,
					  app->mirrors);
	if (app->links == NULL)
		rte_exit(EXIT_FAILURE, "out of memory for the link watch\n");
}

static bool
all_idle(const struct app *app, uint64_t now_tsc, uint64_t idle_tsc)
{
	unsigned int i;

	for (i = 0; i < app->nb_workers; i++) {
		uint64_t last_tsc = st_worker_last_rx_tsc(app->workers[i]);

		/* 0: the worker has not started, so it has not read yet.
		 * A worker may stamp a TSC later than now_tsc, read before
		 * its store: that is activity, not an unsigned wrap to
		 * "idle for ages". */
		if (last_tsc == 0 || last_tsc >= now_tsc ||
		    now_tsc - last_tsc < idle_tsc)
			return false;
	}
	return true;
}

/* The main lcore is the control thread: the control socket, signals,
 * idleness, links (and their propagation between the wire ports). */
static void
control_loop(struct app *app, const struct options *opt)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t idle_tsc = opt->idle_exit_ms * hz / 1000;
	uint64_t next_link_tsc = 0;

	while (!signalled) {
		uint64_t now_tsc = rte_rdtsc();

		if (now_tsc >= next_link_tsc) {
			st_link_watch_poll(app->links);
			next_link_tsc =
			    now_tsc + LINK_POLL_PERIOD_MS * hz / 1000;
		}
		if (opt->idle_exit_ms != 0 && all_idle(app, now_tsc, idle_tsc))
			break;
		st_ctl_poll(app->ctl, CONTROL_PERIOD_MS);
	}
}

static int
apply_config(void *arg, struct st_config *cfg, uint32_t mirrors_enabled,
	     bool recompile, char *err, size_t errlen)
{
	return st_runtime_apply(arg, cfg, mirrors_enabled, recompile, err,
				errlen);
}

/* Without routes shadowtap does not read HTTP: a mirror's percent then
 * copies writes too. Say so, since a shadow sharing state repeats them. */
static void
warn_unrouted_writes(const struct st_config *cfg)
{
	unsigned int i;

	if (cfg->nb_routes > 0)
		return;
	for (i = 0; i < cfg->nb_mirrors; i++)
		if (cfg->mirrors[i].percent > 0)
			RTE_LOG(WARNING, USER1,
				"mirror '%s' copies %g%% of all flows, HTTP "
				"writes included (no routes): add routes to "
				"mirror reads only\n", cfg->mirrors[i].name,
				cfg->mirrors[i].percent);
}

/* The counters, named by the configuration running last. */
static int
write_stats_file(struct app *app, const char *path)
{
	const struct st_view *v = st_runtime_view(app->runtime);
	FILE *f = fopen(path, "w");
	int ret;

	if (f == NULL) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		return -errno;
	}
	ret = st_stats_write_json(f, v);
	if (fclose(f) != 0 && ret == 0)
		ret = -EIO;
	if (ret != 0)
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(-ret));
	return ret;
}

static void
stop_port(uint16_t port_id)
{
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
}

/*
 * Capture points for DPDK's secondary-process tools (dpdk-dumpcap,
 * dpdk-pdump; docs/deploy.md). rte_pdump_init() reserves pdump's counters
 * (4 MB) and answers the tools on EAL's multi-process channel; a capture
 * adds lib/pdump's callbacks to a port's queues
 * (rte_eth_add_first_rx_callback, rte_eth_add_tx_callback) for as long as
 * it lasts, copying into the tool's own ring and mempool. Until then
 * nothing is registered: a burst pays only ethdev's test of an empty
 * callback list, made with or without pdump. Without the channel
 * (--in-memory) or the memory, only captures are lost: say so, go on.
 */
static bool
start_capture_points(void)
{
	if (rte_pdump_init() == 0)
		return true;
	RTE_LOG(NOTICE, USER1, "no capture points for dpdk-dumpcap: %s\n",
		rte_strerror(rte_errno));
	return false;
}

/* Load and check the config; the runtime will own it. */
static struct st_config *
load_config(const char *path)
{
	struct st_config *cfg = malloc(sizeof(*cfg));
	char err[512];

	if (cfg == NULL)
		rte_exit(EXIT_FAILURE, "out of memory for the config\n");
	if (st_config_load(path, cfg, err, sizeof(err)) != 0 ||
	    st_config_resolve(cfg, err, sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);
	return cfg;
}

/*
 * shadowtap --check-config FILE: what a start checks before it needs a
 * device, with its messages and warnings, but without EAL (no hugepages,
 * no devices, no EAL files), so that it runs before a restart and beside
 * a running appliance. Device names are checked for form only.
 */
static int
check_config(const char *path)
{
	struct st_config *cfg = malloc(sizeof(*cfg));
	char err[512];
	int ret;

	if (cfg == NULL) {
		fprintf(stderr, "out of memory for the config\n");
		return EXIT_FAILURE;
	}
	ret = st_config_load(path, cfg, err, sizeof(err));
	if (ret == 0)
		ret = st_config_check(cfg, err, sizeof(err));
	if (ret == 0) {
		warn_unrouted_writes(cfg);
		printf("%s: ok: %u mirror(s), %u route(s); devices are looked "
		       "up at start\n", path, cfg->nb_mirrors, cfg->nb_routes);
	} else {
		fprintf(stderr, "%s\n", err);
	}
	free(cfg);
	return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* EAL's runtime directory of this process (/var/run/dpdk/PREFIX as
 * root), removed at exit. */
static char runtime_dir[PATH_MAX];

/*
 * Its files (config, memory maps: some 13 MB with --no-huge) serve
 * secondary processes while this one runs and nothing once it is gone,
 * yet EAL leaves them. Where /var/run is a disk, not tmpfs, runs with
 * prefixes of their own (every test's) filled it. Registered with atexit()
 * once EAL has started, so that rte_exit() removes them too; never before,
 * as a run refused for a prefix in use must not remove the running one's.
 */
static void
remove_runtime_dir(void)
{
	struct dirent *e;
	DIR *d = opendir(runtime_dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(runtime_dir);
}

/*
 * What shadowtap answers alone on its command line, without EAL (no
 * hugepages, devices or EAL files, nor root): --check-config FILE, --help
 * and --version. @return the exit status, or -1 for a command line of EAL
 * options first.
 */
static int
answer_without_eal(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--check-config") == 0) {
		if (argc == 3)
			return check_config(argv[2]);
		usage(stderr, argv[0]);
		return EXIT_FAILURE;
	}
	if (argc != 2)
		return -1;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout, argv[0]);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "--version") == 0) {
		print_version();
		return EXIT_SUCCESS;
	}
	return -1;
}

/* EAL's --help among EAL options: its own options, then ours. */
static void
usage_after_eal(const char *prog)
{
	usage(stdout, prog);
}

int
main(int argc, char **argv)
{
	static struct app app;
	struct options opt;
	uint16_t nb_rxq[ST_SIDE_COUNT];
	struct st_config *cfg;
	unsigned int lcore, i;
	char err[512];
	bool pdump;
	int ret;

	ret = answer_without_eal(argc, argv);
	if (ret >= 0)
		return ret;
	rte_set_application_usage_hook(usage_after_eal);
	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "EAL initialisation failed: %s\n",
			 rte_strerror(rte_errno));
	argc -= ret;
	argv += ret;
	if (snprintf(runtime_dir, sizeof(runtime_dir), "%s",
		     rte_eal_get_runtime_dir()) < (int)sizeof(runtime_dir))
		atexit(remove_runtime_dir);
	if (parse_options(argc, argv, &opt) != 0)
		rte_exit(EXIT_FAILURE, "bad arguments\n");
	pdump = start_capture_points();

	cfg = load_config(opt.config_path);
	warn_unrouted_writes(cfg);
	RTE_LCORE_FOREACH_WORKER(lcore)
		app.lcores[app.nb_workers++] = lcore;
	if (app.nb_workers == 0)
		rte_exit(EXIT_FAILURE, "no worker lcore: the main lcore only "
			 "controls; give at least two lcores (-l 0,1)\n");
	app.stats = rte_zmalloc("st_stats",
				sizeof(*app.stats) * app.nb_workers,
				RTE_CACHE_LINE_SIZE);
	if (app.stats == NULL)
		rte_exit(EXIT_FAILURE, "out of memory for counters\n");
	/* A copy stays here: the runtime's changes as it runs, this one
	 * does not, and ports and mirrors are set up from it. */
	app.cfg = malloc(sizeof(*app.cfg));
	if (app.cfg == NULL)
		rte_exit(EXIT_FAILURE, "out of memory for the config\n");
	*app.cfg = *cfg;
	if (st_runtime_create(cfg, app.nb_workers, app.stats, app.lcores,
			      &app.runtime, err, sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);

	app.mirrors = st_mirror_set_create(
		app.cfg, (int)rte_lcore_to_socket_id(app.lcores[0]));
	if (app.mirrors == NULL)
		rte_exit(EXIT_FAILURE, "out of memory for mirror sessions\n");
	create_pools(&app, 2 + app.cfg->nb_mirrors,
		     (unsigned int)opt.extra_mbufs);
	show_pools(&app);
	setup_ports(&app, nb_rxq);
	create_workers(&app, nb_rxq);
	warn_remote_ports(&app, nb_rxq);
	if (st_ctl_start(opt.socket_path, st_runtime_view(app.runtime),
			 apply_config, app.runtime, &app.ctl, err,
			 sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);
	if (opt.metrics_addr != NULL &&
	    st_metrics_start(st_runtime_view(app.runtime), opt.metrics_addr,
			     &app.metrics, err, sizeof(err)) != 0)
		rte_exit(EXIT_FAILURE, "%s\n", err);
	ret = st_telemetry_register(st_runtime_view(app.runtime));
	if (ret != 0)
		rte_exit(EXIT_FAILURE, "telemetry: %s\n", strerror(-ret));

	start_port(app.cfg->client.port_id);
	start_port(app.cfg->server.port_id);
	setup_offloads(&app, nb_rxq);
	for (i = 0; i < app.cfg->nb_mirrors; i++)
		start_port(app.cfg->mirrors[i].port.port_id);
	watch_links(&app);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("shadowtap: forwarding between ports %u and %u with %u "
	       "worker(s), %u mirror(s), control socket %s\n",
	       app.cfg->client.port_id, app.cfg->server.port_id,
	       app.nb_workers, app.cfg->nb_mirrors, opt.socket_path);
	fflush(stdout);
	for (i = 0; i < app.nb_workers; i++)
		rte_eal_remote_launch(st_worker_main, app.workers[i],
				      app.lcores[i]);

	control_loop(&app, &opt);

	for (i = 0; i < app.nb_workers; i++)
		st_worker_stop(app.workers[i]);
	rte_eal_mp_wait_lcore();
	/* Its callbacks count into memory this frees: no burst may follow. */
	if (pdump)
		rte_pdump_uninit();
	st_ctl_stop(app.ctl);
	st_metrics_stop(app.metrics);
	st_telemetry_unregister();

	ret = 0;
	st_stats_print_summary(stdout, st_runtime_view(app.runtime)->cfg,
			       app.stats, app.nb_workers);
	if (opt.stats_path != NULL &&
	    write_stats_file(&app, opt.stats_path) != 0)
		ret = EXIT_FAILURE;

	st_offload_teardown(app.cfg->client.port_id);
	st_offload_teardown(app.cfg->server.port_id);
	stop_port(app.cfg->client.port_id);
	stop_port(app.cfg->server.port_id);
	for (i = 0; i < app.cfg->nb_mirrors; i++)
		stop_port(app.cfg->mirrors[i].port.port_id);
	for (i = 0; i < app.nb_workers; i++)
		st_worker_free(app.workers[i]);
	st_link_watch_free(app.links);
	st_mirror_set_free(app.mirrors);
	st_runtime_free(app.runtime);
	free(app.cfg);
	rte_free(app.stats);
	rte_eal_cleanup();
	return ret;
}
