/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the metrics: st_metrics_render() on a view built by hand
 * (exact lines, the histogram, label escaping, the format itself, empty
 * and full views, the lock), the HTTP server on a loopback port, and,
 * under a minimal EAL, device names from DPDK and telemetry registration.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "eal_fixture.h"

#include <jansson.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_version.h>

#include "metrics.h"

#define NB_WORKERS 2

/* A view of 2 mirrors, 3 routes and 2 workers with known counters. */
struct fixture {
	struct st_view view;
	struct st_config *cfg;
	struct st_worker_stats *workers;
	unsigned int lcores[RTE_MAX_LCORE];
	char *text;
};

static struct st_worker_stats *
alloc_workers(unsigned int n)
{
	size_t size = sizeof(struct st_worker_stats) * n;
	struct st_worker_stats *w = aligned_alloc(RTE_CACHE_LINE_SIZE, size);

	assert_non_null(w);
	memset(w, 0, size);
	return w;
}

static void
add_mirror(struct st_config *cfg, const char *name, uint16_t port,
	   double percent)
{
	struct st_mirror_conf *m = &cfg->mirrors[cfg->nb_mirrors++];

	snprintf(m->name, sizeof(m->name), "%s", name);
	m->port.port_id = port;
	m->percent = percent;
}

static void
add_route(struct st_config *cfg, const char *name, double percent)
{
	struct st_route_conf *r = &cfg->routes[cfg->nb_routes];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->percent = percent;
	r->stats_slot = (uint8_t)cfg->nb_routes++;	/* as loaded */
}

static int
setup_view(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct st_worker_stats *w0, *w1;

	assert_non_null(fx);
	fx->cfg = calloc(1, sizeof(*fx->cfg));
	assert_non_null(fx->cfg);
	snprintf(fx->cfg->client.devname, ST_DEVNAME_MAX, "net_pcap0");
	fx->cfg->client.port_id = 0;
	/* Not a name the config allows, but what escaping is for. */
	snprintf(fx->cfg->server.devname, ST_DEVNAME_MAX, "odd\"dev\\1\n");
	fx->cfg->server.port_id = 1;
	add_mirror(fx->cfg, "v2", 2, 10);
	add_mirror(fx->cfg, "v3.canary", 3, 37.5);
	add_route(fx->cfg, "health", 0);
	add_route(fx->cfg, "api", 50);
	add_route(fx->cfg, "static-files", 12.5);

	fx->workers = alloc_workers(NB_WORKERS);
	w0 = &fx->workers[0];
	w1 = &fx->workers[1];
	w0->side[ST_SIDE_CLIENT].rx_packets = 100;
	w0->side[ST_SIDE_CLIENT].rx_bytes = 6400;
	w0->side[ST_SIDE_CLIENT].forwarded_packets = 98;
	w0->side[ST_SIDE_CLIENT].dropped_packets = 2;
	w0->side[ST_SIDE_SERVER].rx_packets = 50;
	w1->side[ST_SIDE_CLIENT].rx_packets = 11;
	w1->side[ST_SIDE_SERVER].rx_packets = 7;
	w0->mirror[0].packets = 40;
	w0->mirror[0].bytes = 4000;
	w0->mirror[0].flows = 4;
	w0->mirror[0].dropped[ST_DROP_RING_FULL] = 3;
	w0->mirror[0].dropped[ST_DROP_NO_MBUF] = 1;
	w1->mirror[0].packets = 2;
	w1->mirror[0].dropped[ST_DROP_LINK_DOWN] = 5;
	w0->route[1].requests = 20;
	w0->route[1].flows = 6;
	w0->route[1].packets = 30;
	w0->route[1].bytes = 3000;
	w1->route[1].requests = 2;
	w0->route[ST_ROUTE_STATS_DEFAULT].requests = 9;
	w0->route[ST_ROUTE_STATS_DEFAULT].packets = 12;
	w0->malformed_packets = 1;
	w1->malformed_packets = 2;
	w0->flows_created = 10;
	w1->flows_created = 20;
	w0->iter_count[0] = 1;
	w0->iter_count[1] = 2;
	w0->iter_count[2] = 3;
	w0->iter_count[ST_ITER_BUCKETS - 1] = 4;
	w0->iter_tsc_sum = 2500000000;

	pthread_mutex_init(&fx->view.lock, NULL);
	fx->view.cfg = fx->cfg;
	fx->view.mirrors_enabled = 1;	/* v3.canary is off */
	fx->view.generation = 7;
	fx->view.workers = fx->workers;
	fx->lcores[0] = 3;
	fx->lcores[1] = 5;
	fx->view.lcores = fx->lcores;
	fx->view.nb_workers = NB_WORKERS;
	fx->view.tsc_hz = 2000000000;
	*state = fx;
	return 0;
}

static int
teardown_view(void **state)
{
	struct fixture *fx = *state;

	pthread_mutex_destroy(&fx->view.lock);
	free(fx->text);
	free(fx->workers);
	free(fx->cfg);
	free(fx);
	return 0;
}

static const char *
render(struct fixture *fx)
{
	size_t len = 0;

	free(fx->text);
	fx->text = st_metrics_render(&fx->view, &len);
	assert_non_null(fx->text);
	assert_int_equal(len, strlen(fx->text));
	assert_true(len > 0 && fx->text[len - 1] == '\n');
	return fx->text;
}

/* Whether @p text has the whole line @p line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define assert_line(text, line)                                           \
	do {                                                              \
		if (!has_line(text, line))                                \
			fail_msg("missing line: %s", line);               \
	} while (0)

static size_t
count(const char *text, const char *s)
{
	size_t n = 0;
	const char *p;

	for (p = text; (p = strstr(p, s)) != NULL; p += strlen(s))
		n++;
	return n;
}

static void
test_counters(void **state)
{
	const char *t = render(*state);

	assert_line(t, "shadowtap_port_rx_packets_total{side=\"client\","
		       "port=\"0\",device=\"net_pcap0\"} 111");
	assert_line(t, "shadowtap_port_rx_bytes_total{side=\"client\","
		       "port=\"0\",device=\"net_pcap0\"} 6400");
	assert_line(t, "shadowtap_port_forwarded_packets_total{side="
		       "\"client\",port=\"0\",device=\"net_pcap0\"} 98");
	assert_line(t, "shadowtap_port_dropped_packets_total{side="
		       "\"client\",port=\"0\",device=\"net_pcap0\"} 2");
	assert_line(t, "shadowtap_malformed_packets_total 3");
	assert_line(t, "shadowtap_flows_created_total 30");
	assert_line(t, "shadowtap_flows_expired_total 0");
	assert_line(t, "shadowtap_config_generation 7");
	assert_line(t, "# TYPE shadowtap_port_rx_packets_total counter");
	assert_line(t, "# TYPE shadowtap_config_generation gauge");
	/* Each family once. */
	assert_int_equal(count(t, "# TYPE shadowtap_port_rx_packets_total "),
			 1);
	assert_int_equal(count(t, "# HELP shadowtap_port_rx_packets_total "),
			 1);
}

static void
test_build_info(void **state)
{
	const char *t = render(*state);
	char dpdk[96];
	const char *line = strstr(t, "\nshadowtap_build_info{version=\"");

	assert_non_null(line);
	snprintf(dpdk, sizeof(dpdk), ",dpdk=\"%s\"} 1\n", rte_version());
	assert_non_null(strstr(line, dpdk));
	assert_true(strstr(line, dpdk) < strchr(line + 1, '\n'));
}

static void
test_mirrors(void **state)
{
	const char *t = render(*state);

	assert_line(t, "shadowtap_mirror_packets_total{mirror=\"v2\"} 42");
	assert_line(t, "shadowtap_mirror_bytes_total{mirror=\"v2\"} 4000");
	assert_line(t, "shadowtap_mirror_flows_total{mirror=\"v2\"} 4");
	assert_line(t, "shadowtap_mirror_packets_total{mirror=\"v3.canary\"} "
		       "0");
	assert_line(t, "shadowtap_mirror_dropped_packets_total{mirror=\"v2\","
		       "cause=\"ring_full\"} 3");
	assert_line(t, "shadowtap_mirror_dropped_packets_total{mirror=\"v2\","
		       "cause=\"no_mbuf\"} 1");
	assert_line(t, "shadowtap_mirror_dropped_packets_total{mirror=\"v2\","
		       "cause=\"link_down\"} 5");
	assert_line(t, "shadowtap_mirror_percent{mirror=\"v2\"} 10");
	assert_line(t, "shadowtap_mirror_percent{mirror=\"v3.canary\"} 37.5");
	assert_line(t, "shadowtap_mirror_enabled{mirror=\"v2\"} 1");
	assert_line(t, "shadowtap_mirror_enabled{mirror=\"v3.canary\"} 0");
	assert_line(t, "# TYPE shadowtap_mirror_percent gauge");
}

#define SERVER_LABELS "side=\"server\",port=\"1\",device=\"odd\\\"dev\\\\1\\n\""

/* Links as the link watch left them: a client port without link, the
 * server port held down for it, one shadow port down. */
static void
set_links(struct st_view *v)
{
	v->wire_link[ST_SIDE_CLIENT] = (struct st_link_view){
		.up = false, .down_events = 2 };
	v->wire_link[ST_SIDE_SERVER] = (struct st_link_view){
		.up = false, .held_down = true, .propagated_downs = 3,
		.propagation_failures = 1 };
	v->mirror_link[0] = (struct st_link_view){ .up = true,
						   .down_events = 4 };
	v->mirror_link[1] = (struct st_link_view){ .up = false };
}

static void
test_links(void **state)
{
	struct fixture *fx = *state;
	const char *t;

	set_links(&fx->view);
	t = render(fx);
	assert_line(t, "shadowtap_port_link_up{side=\"client\",port=\"0\","
		       "device=\"net_pcap0\"} 0");
	assert_line(t, "shadowtap_port_link_held_down{side=\"client\","
		       "port=\"0\",device=\"net_pcap0\"} 0");
	assert_line(t, "shadowtap_port_link_down_events_total{side="
		       "\"client\",port=\"0\",device=\"net_pcap0\"} 2");
	assert_line(t, "shadowtap_port_link_held_down{" SERVER_LABELS "} 1");
	assert_line(t, "shadowtap_port_propagated_downs_total{" SERVER_LABELS
		       "} 3");
	assert_line(t, "shadowtap_port_propagation_failures_total{"
		       SERVER_LABELS "} 1");
	assert_line(t, "shadowtap_mirror_link_up{mirror=\"v2\"} 1");
	assert_line(t, "shadowtap_mirror_link_up{mirror=\"v3.canary\"} 0");
	assert_line(t, "shadowtap_mirror_link_down_events_total{mirror="
		       "\"v2\"} 4");
	assert_line(t, "# TYPE shadowtap_port_link_up gauge");
	assert_line(t, "# TYPE shadowtap_port_propagated_downs_total counter");
	/* No pools in this view: the families, without samples. */
	assert_line(t, "# TYPE shadowtap_mempool_in_use_mbufs gauge");
	assert_null(strstr(t, "shadowtap_mempool_in_use_mbufs{"));
}

static void
test_routes(void **state)
{
	const char *t = render(*state);

	assert_line(t, "shadowtap_route_requests_total{route=\"api\"} 22");
	assert_line(t, "shadowtap_route_flows_selected_total{route=\"api\"} "
		       "6");
	assert_line(t, "shadowtap_route_mirrored_packets_total{route=\"api\"} "
		       "30");
	assert_line(t, "shadowtap_route_mirrored_bytes_total{route=\"api\"} "
		       "3000");
	assert_line(t, "shadowtap_route_requests_total{route=\"health\"} 0");
	assert_line(t, "shadowtap_route_requests_total{route="
		       "\"(unrouted)\"} 9");
	assert_line(t, "shadowtap_route_mirrored_packets_total{route="
		       "\"(unrouted)\"} 12");
	assert_line(t, "shadowtap_route_percent{route=\"static-files\"} 12.5");
	assert_line(t, "shadowtap_route_percent{route=\"health\"} 0");
	/* The unrouted traffic follows the mirrors' percents. */
	assert_null(strstr(t, "shadowtap_route_percent{route=\"(unrouted)\""));
}

static void
test_histogram(void **state)
{
	static const char *const le[ST_ITER_BUCKETS] = {
		"2.5e-07", "5e-07", "1e-06", "2e-06", "4e-06", "8e-06",
		"1.6e-05", "3.2e-05", "6.4e-05", "0.000128", "0.000256", "0.001",
		"0.004", "0.016", "0.064", "+Inf"
	};
	static const unsigned int cumulative[ST_ITER_BUCKETS] = {
		1, 3, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 10
	};
	const char *t = render(*state);
	char line[160];
	int b;

	assert_line(t, "# TYPE shadowtap_worker_iteration_seconds histogram");
	for (b = 0; b < ST_ITER_BUCKETS; b++) {
		snprintf(line, sizeof(line),
			 "shadowtap_worker_iteration_seconds_bucket{lcore="
			 "\"3\",le=\"%s\"} %u", le[b], cumulative[b]);
		assert_line(t, line);
		snprintf(line, sizeof(line),
			 "shadowtap_worker_iteration_seconds_bucket{lcore="
			 "\"5\",le=\"%s\"} 0", le[b]);
		assert_line(t, line);
	}
	assert_line(t, "shadowtap_worker_iteration_seconds_count{lcore=\"3\"} "
		       "10");
	assert_line(t, "shadowtap_worker_iteration_seconds_sum{lcore=\"3\"} "
		       "1.25");
	assert_line(t, "shadowtap_worker_iteration_seconds_count{lcore=\"5\"} "
		       "0");
	assert_line(t, "shadowtap_worker_iteration_seconds_sum{lcore=\"5\"} "
		       "0");
	assert_line(t, "shadowtap_worker_rx_packets_total{lcore=\"3\"} 150");
	assert_line(t, "shadowtap_worker_rx_packets_total{lcore=\"5\"} 18");
}

static void
test_escaping(void **state)
{
	const char *t = render(*state);

	/* Backslash, quote and newline escaped, nothing else. */
	assert_line(t, "shadowtap_port_rx_packets_total{side=\"server\","
		       "port=\"1\",device=\"odd\\\"dev\\\\1\\n\"} 57");
}

/* Is @p name[0..len) one of @p families, or a histogram's series? */
static bool
declared(char families[][96], const char types[][16], size_t nb,
	 const char *name, size_t len)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t i, j, flen;

	for (i = 0; i < nb; i++) {
		flen = strlen(families[i]);
		if (flen == len && memcmp(families[i], name, len) == 0)
			return strcmp(types[i], "histogram") != 0;
		if (strcmp(types[i], "histogram") != 0 || len <= flen ||
		    memcmp(families[i], name, flen) != 0)
			continue;
		for (j = 0; j < RTE_DIM(suffixes); j++)
			if (len - flen == strlen(suffixes[j]) &&
			    memcmp(name + flen, suffixes[j], len - flen) == 0)
				return true;
	}
	return false;
}

/*
 * The text format itself: every line is a HELP, a TYPE (after its HELP),
 * or a sample NAME{LABELS} VALUE of a declared family, and counters end
 * in _total.
 */
static void
check_format(const char *t)
{
	static char families[256][96];
	static char types[256][16];
	char help_name[96] = "", name[96], type[16];
	size_t nb = 0, len;
	const char *line, *end, *p;

	for (line = t; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		assert_non_null(end);
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line, "# HELP %95s", help_name),
					 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line, "# TYPE %95s %15s", name,
						type), 2);
			assert_string_equal(name, help_name);
			assert_true(strcmp(type, "counter") == 0 ||
				    strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			if (strcmp(type, "counter") == 0)
				assert_non_null(strstr(name, "_total"));
			assert_false(declared(families, types, nb, name,
					      strlen(name)));
			assert_true(nb < RTE_DIM(families));
			snprintf(families[nb], sizeof(families[nb]), "%s",
				 name);
			snprintf(types[nb++], sizeof(types[0]), "%s", type);
			continue;
		}
		len = strspn(line, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
		assert_true(len > 0);
		if (!declared(families, types, nb, line, len))
			fail_msg("undeclared sample: %.*s", (int)(end - line),
				 line);
		p = line + len;
		if (*p == '{') {
			/* name="value" pairs, values escaped */
			p++;
			while (*p != '}') {
				p += strspn(p, "abcdefghijklmnopqrstuvwxyz_");
				assert_true(p[0] == '=' && p[1] == '"');
				for (p += 2; *p != '"'; p++) {
					assert_true(p < end);
					if (*p == '\\') {
						p++;
						assert_non_null(
							strchr("\\\"n", *p));
					}
				}
				p++;
				if (*p == ',')
					p++;
			}
			p++;
		}
		assert_true(*p == ' ');
		p++;
		assert_true(p < end);
		assert_int_equal(strspn(p, "0123456789.e+-Inf"),
				 (size_t)(end - p));
	}
}

static void
test_format(void **state)
{
	check_format(render(*state));
}

/* A view with nothing in it yet: no config, no workers. */
static void
test_empty_view(void **state)
{
	struct st_view view;
	size_t len;
	char *t;

	RTE_SET_USED(state);
	memset(&view, 0, sizeof(view));
	pthread_mutex_init(&view.lock, NULL);
	t = st_metrics_render(&view, &len);
	assert_non_null(t);
	check_format(t);
	assert_line(t, "shadowtap_config_generation 0");
	assert_line(t, "shadowtap_route_requests_total{route="
		       "\"(unrouted)\"} 0");
	assert_line(t, "shadowtap_malformed_packets_total 0");
	assert_line(t, "# TYPE shadowtap_worker_iteration_seconds histogram");
	assert_null(strstr(t, "lcore="));
	assert_null(strstr(t, "mirror="));
	free(t);
	pthread_mutex_destroy(&view.lock);
}

/* Every lcore a worker: sums over all of them, one series each. */
static void
test_max_workers(void **state)
{
	struct fixture *fx = *state;
	char line[128];
	unsigned int i;
	const char *t;

	free(fx->workers);
	fx->workers = alloc_workers(RTE_MAX_LCORE);
	for (i = 0; i < RTE_MAX_LCORE; i++) {
		fx->workers[i].side[ST_SIDE_SERVER].rx_packets = i + 1;
		fx->workers[i].iter_count[ST_ITER_BUCKETS - 1] = 1;
		fx->lcores[i] = i;
	}
	fx->view.workers = fx->workers;
	fx->view.nb_workers = RTE_MAX_LCORE;
	t = render(fx);
	check_format(t);
	snprintf(line, sizeof(line),
		 "shadowtap_port_rx_packets_total{side=\"server\",port=\"1\","
		 "device=\"odd\\\"dev\\\\1\\n\"} %u",
		 RTE_MAX_LCORE * (RTE_MAX_LCORE + 1) / 2);
	assert_line(t, line);
	assert_int_equal(count(t, "shadowtap_worker_iteration_seconds_count{"),
			 RTE_MAX_LCORE);
	snprintf(line, sizeof(line),
		 "shadowtap_worker_iteration_seconds_bucket{lcore=\"%u\","
		 "le=\"+Inf\"} 1", RTE_MAX_LCORE - 1);
	assert_line(t, line);
}

static int rendered;

static void *
render_thread(void *arg)
{
	struct fixture *fx = arg;
	size_t len;
	char *text = st_metrics_render(&fx->view, &len);

	__atomic_store_n(&rendered, 1, __ATOMIC_RELEASE);
	return text;
}

/* A scrape waits for the lock, and gives it back. */
static void
test_lock(void **state)
{
	struct fixture *fx = *state;
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	pthread_t thread;
	void *text;

	pthread_mutex_lock(&fx->view.lock);
	__atomic_store_n(&rendered, 0, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&thread, NULL, render_thread, fx), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(__atomic_load_n(&rendered, __ATOMIC_ACQUIRE), 0);
	pthread_mutex_unlock(&fx->view.lock);
	assert_int_equal(pthread_join(thread, &text), 0);
	assert_non_null(text);
	free(text);
	assert_int_equal(pthread_mutex_trylock(&fx->view.lock), 0);
	pthread_mutex_unlock(&fx->view.lock);
}

static bool
nonlocal_bind(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_nonlocal_bind", "r");
	int on = 0;

	if (f != NULL) {
		if (fscanf(f, "%d", &on) != 1)
			on = 0;
		fclose(f);
	}
	return on != 0;
}

static void
test_bad_addresses(void **state)
{
	static const struct {
		const char *addr;
		const char *says;
	} bad[] = {
		{ "", "empty" },
		{ "127.0.0.1", "no port" },
		{ "127.0.0.1:", "port '' is not a number" },
		{ "127.0.0.1:http", "not a number" },
		{ "127.0.0.1:0", "out of range 1..65535" },
		{ "127.0.0.1:65536", "out of range 1..65535" },
		{ "127.0.0.1:123456", "not a number" },
		{ "127.0.0.1:-1", "not a number" },
		{ "localhost:9417", "'localhost' is not an IPv4 address" },
		{ "1.2.3:9417", "not an IPv4 address" },
		{ "::1:9417", "in brackets" },
		{ "[::1:9417", "no ']'" },
		{ "[::1]9417", "no port after ']'" },
		{ "[::1]:", "not a number" },
		{ "[127.0.0.1]:9417", "'127.0.0.1' is not an IPv6 address" },
		{ "[]:9417", "is not an IPv6 address" },
	};
	struct fixture *fx = *state;
	struct st_metrics *m = NULL;
	char err[256];
	size_t i;

	for (i = 0; i < RTE_DIM(bad); i++) {
		err[0] = '\0';
		assert_int_equal(st_metrics_start(&fx->view, bad[i].addr, &m,
						  err, sizeof(err)),
				 -EINVAL);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("'%s': '%s' does not say '%s'", bad[i].addr,
				 err, bad[i].says);
		assert_null(m);
	}
	assert_int_equal(st_metrics_start(&fx->view, NULL, &m, err,
					  sizeof(err)), -EINVAL);
	/* Not an address of this machine (unless non-local binds are on). */
	if (!nonlocal_bind()) {
		assert_int_equal(st_metrics_start(&fx->view, "192.0.2.1:9417",
						  &m, err, sizeof(err)),
				 -EADDRNOTAVAIL);
		assert_non_null(strstr(err, "192.0.2.1:9417"));
	}
	st_metrics_stop(NULL);
}

/* A port nobody listens on now. */
static uint16_t
free_port(int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(family, SOCK_STREAM, 0);
	uint16_t port;

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	assert_int_equal(bind(fd, (struct sockaddr *)&ss,
			      family == AF_INET ? sizeof(struct sockaddr_in) :
						  sizeof(struct sockaddr_in6)),
			 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(family == AF_INET ?
			     ((struct sockaddr_in *)&ss)->sin_port :
			     ((struct sockaddr_in6 *)&ss)->sin6_port);
	close(fd);
	return port;
}

/* Send @p request to the port, return the whole reply (to free). */
static char *
http(int family, uint16_t port, const char *request)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	size_t size = 1 << 16, used = 0;
	char *reply = malloc(size);
	int fd = socket(family, SOCK_STREAM, 0);
	ssize_t n;

	assert_non_null(reply);
	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(ss)), 0);
	assert_int_equal(write(fd, request, strlen(request)),
			 (ssize_t)strlen(request));
	while ((n = read(fd, reply + used, size - used - 1)) > 0) {
		used += (size_t)n;
		if (used + 1 == size) {
			size *= 2;
			reply = realloc(reply, size);
			assert_non_null(reply);
		}
	}
	assert_int_equal(n, 0);
	reply[used] = '\0';
	close(fd);
	return reply;
}

/* The status code of an HTTP reply. */
static int
status(const char *reply)
{
	int code = 0;

	assert_int_equal(sscanf(reply, "HTTP/1.%*d %d ", &code), 1);
	return code;
}

static void
check_server(struct fixture *fx, int family, const char *host)
{
	uint16_t port = free_port(family);
	struct st_metrics *m = NULL, *again = NULL;
	char addr[64], err[256];
	char *reply, *body;

	snprintf(addr, sizeof(addr), "%s:%u", host, port);
	assert_int_equal(st_metrics_start(&fx->view, addr, &m, err,
					  sizeof(err)), 0);
	assert_non_null(m);

	reply = http(family, port, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(status(reply), 200);
	assert_non_null(strstr(reply, "Content-Type: text/plain; "
				      "version=0.0.4; charset=utf-8\r\n"));
	body = strstr(reply, "\r\n\r\n");
	assert_non_null(body);
	check_format(body + 4);
	assert_line(body + 4, "shadowtap_route_requests_total{route=\"api\"} "
			      "22");
	free(reply);

	reply = http(family, port, "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n"
				   "Connection: close\r\n\r\n");
	assert_int_equal(status(reply), 200);
	free(reply);
	reply = http(family, port, "GET /other HTTP/1.0\r\n\r\n");
	assert_int_equal(status(reply), 404);
	free(reply);
	reply = http(family, port, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(status(reply), 404);
	free(reply);
	reply = http(family, port, "POST /metrics HTTP/1.0\r\n"
				   "Content-Length: 0\r\n\r\n");
	assert_int_equal(status(reply), 405);
	assert_non_null(strstr(reply, "Allow: GET, HEAD\r\n"));
	free(reply);
	reply = http(family, port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(status(reply), 200);
	assert_null(strstr(reply, "shadowtap_"));
	free(reply);

	/* The port is taken now. */
	assert_int_equal(st_metrics_start(&fx->view, addr, &again, err,
					  sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, addr));
	assert_null(again);
	st_metrics_stop(m);
	/* And free again once stopped. */
	assert_int_equal(st_metrics_start(&fx->view, addr, &m, err,
					  sizeof(err)), 0);
	st_metrics_stop(m);
}

static void
test_server_ipv4(void **state)
{
	check_server(*state, AF_INET, "127.0.0.1");
}

static void
test_server_ipv6(void **state)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool have_ipv6 = fd >= 0 &&
			 bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;

	if (fd >= 0)
		close(fd);
	if (!have_ipv6)
		skip();
	check_server(*state, AF_INET6, "[::1]");
}

/* Under EAL: a port given by id is named by DPDK. */
static void
test_dpdk_device_names(void **state)
{
	struct fixture *fx = *state;
	const char *t;

	fx->cfg->client.devname[0] = '\0';
	fx->cfg->server.devname[0] = '\0';
	t = render(fx);
	assert_line(t, "shadowtap_port_rx_packets_total{side=\"client\","
		       "port=\"0\",device=\"net_null0\"} 111");
	assert_line(t, "shadowtap_port_rx_packets_total{side=\"server\","
		       "port=\"1\",device=\"net_null1\"} 57");
}

/* Under EAL: a pool's in-use count, in Prometheus and in the counters'
 * JSON, with the links. */
static void
test_pools_and_links_in_stats(void **state)
{
	struct fixture *fx = *state;
	struct rte_mempool *mp = rte_pktmbuf_pool_create("st_test_pool", 63, 0,
							 0, 256, SOCKET_ID_ANY);
	struct rte_mbuf *m[5];
	json_t *doc, *server;
	json_error_t jerr;
	char *json = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(mp);
	assert_int_equal(rte_pktmbuf_alloc_bulk(mp, m, RTE_DIM(m)), 0);
	fx->view.pools[0] = mp;
	fx->view.nb_pools = 1;
	set_links(&fx->view);
	assert_line(render(fx),
		    "shadowtap_mempool_in_use_mbufs{pool=\"st_test_pool\"} 5");
	assert_line(fx->text,
		    "shadowtap_mempool_mbufs{pool=\"st_test_pool\"} 63");

	f = open_memstream(&json, &len);
	assert_non_null(f);
	assert_int_equal(st_stats_write_json(f, &fx->view), 0);
	assert_int_equal(fclose(f), 0);
	doc = json_loadb(json, len, 0, &jerr);
	if (doc == NULL)
		fail_msg("%s: %s", jerr.text, json);
	free(json);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
				 json_object_get(doc, "mempools"),
				 "st_test_pool"), "in_use")), 5);
	server = json_object_get(json_object_get(doc, "ports"), "server");
	assert_true(json_is_false(json_object_get(server, "link_up")));
	assert_true(json_is_true(json_object_get(server, "link_held_down")));
	assert_int_equal(json_integer_value(json_object_get(
				 server, "propagated_downs")), 3);
	assert_int_equal(json_integer_value(json_object_get(
				 server, "propagation_failures")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
				 json_object_get(doc, "mirrors"), "v2"),
				 "link_down_events")), 4);
	json_decref(doc);

	rte_pktmbuf_free_bulk(m, RTE_DIM(m));
	assert_line(render(fx),
		    "shadowtap_mempool_in_use_mbufs{pool=\"st_test_pool\"} 0");
	rte_mempool_free(mp);
}

static void
test_telemetry_register(void **state)
{
	struct fixture *fx = *state;
	struct st_view other;

	assert_int_equal(st_telemetry_register(&fx->view), 0);
	assert_int_equal(st_telemetry_register(&fx->view), 0);
	assert_int_equal(st_telemetry_register(&other), -EALREADY);
	/* Once unregistered, the commands may get another view. */
	st_telemetry_unregister();
	assert_int_equal(st_telemetry_register(&other), 0);
	st_telemetry_unregister();
}

static int
setup_eal(void **state)
{
	static const char *const vdevs[] = { "net_null0", "net_null1", NULL };

	RTE_SET_USED(state);
	return st_test_eal_init("metrics", vdevs);
}

static int
teardown_eal(void **state)
{
	RTE_SET_USED(state);
	return st_test_eal_cleanup();
}

#define VIEW_TEST(f) cmocka_unit_test_setup_teardown(f, setup_view,       \
						     teardown_view)

int
main(void)
{
	const struct CMUnitTest without_eal[] = {
		VIEW_TEST(test_counters),
		VIEW_TEST(test_build_info),
		VIEW_TEST(test_mirrors),
		VIEW_TEST(test_routes),
		VIEW_TEST(test_links),
		VIEW_TEST(test_histogram),
		VIEW_TEST(test_escaping),
		VIEW_TEST(test_format),
		cmocka_unit_test(test_empty_view),
		VIEW_TEST(test_max_workers),
		VIEW_TEST(test_lock),
		VIEW_TEST(test_bad_addresses),
		VIEW_TEST(test_server_ipv4),
		VIEW_TEST(test_server_ipv6),
	};
	const struct CMUnitTest with_eal[] = {
		VIEW_TEST(test_dpdk_device_names),
		VIEW_TEST(test_pools_and_links_in_stats),
		VIEW_TEST(test_telemetry_register),
	};
	int failed;

	failed = cmocka_run_group_tests_name("metrics", without_eal, NULL,
					     NULL);
	failed += cmocka_run_group_tests_name("metrics_eal", with_eal,
					      setup_eal, teardown_eal);
	return failed;
}
