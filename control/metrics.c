/* SPDX-License-Identifier: BSD-3-Clause */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "metricsd.h"

/* Route names are [A-Za-z0-9._-]: this label value cannot be one. */
#define UNROUTED_LABEL "(unrouted)"
#define LABELS_MAX 320		/* escaped labels of one series */

static const uint64_t iter_bounds_ns[ST_ITER_BUCKETS - 1] = ST_ITER_BOUNDS_NS;

/*
 * A counter: its key (as in --stats-file and the telemetry replies), its
 * Prometheus family and where it sits in its struct. One table per struct
 * serves both outputs.
 */
struct counter {
	const char *key;
	const char *metric;
	const char *help;
	size_t offset;
};

#define SIDE(key, help)                                                   \
	{ #key, "shadowtap_port_" #key "_total", help,                     \
	  offsetof(struct st_side_stats, key) }
static const struct counter side_counters[] = {
	SIDE(rx_packets, "Packets received on the port."),
	SIDE(rx_bytes, "Bytes received on the port."),
	SIDE(forwarded_packets,
	     "Packets received on the port and sent out of the other one."),
	SIDE(forwarded_bytes,
	     "Bytes received on the port and sent out of the other one."),
	SIDE(dropped_packets, "Packets received on the port that the other "
			      "port did not take."),
	SIDE(dropped_bytes, "Bytes received on the port that the other "
			    "port did not take."),
};

#define MIRROR(key, metric, member, help)                                 \
	{ key, "shadowtap_mirror_" metric "_total", help,                  \
	  offsetof(struct st_mirror_stats, member) }
static const struct counter mirror_counters[] = {
	MIRROR("mirrored_packets", "packets", packets,
	       "Copies sent to the mirror."),
	MIRROR("mirrored_bytes", "bytes", bytes,
	       "Bytes of the copies sent to the mirror."),
	MIRROR("mirrored_flows", "flows", flows,
	       "Flows that sent at least one copy to the mirror."),
	MIRROR("truncated_packets", "truncated_packets", truncated,
	       "Copies cut to the mirror's truncate length."),
	MIRROR("mirror_dropped_bytes", "dropped_bytes", dropped_bytes,
	       "Bytes of the copies for the mirror that were given up."),
};

#define ROUTE(key, member, help)                                          \
	{ key, "shadowtap_route_" key "_total", help,                      \
	  offsetof(struct st_route_stats, member) }
static const struct counter route_counters[] = {
	ROUTE("requests", requests, "HTTP request heads the route matched."),
	ROUTE("flows_selected", flows,
	      "Times a request of the route selected its flow for mirroring."),
	ROUTE("mirrored_packets", packets,
	      "Packets copied for the route, once whatever the mirrors."),
	ROUTE("mirrored_bytes", bytes,
	      "Bytes copied for the route, once whatever the mirrors."),
};

#define TOTAL(key, help)                                                  \
	{ #key, "shadowtap_" #key "_total", help,                          \
	  offsetof(struct st_worker_stats, key) }
#define EVICTED(class, i, help)                                           \
	{ "flows_evicted_" class, "shadowtap_flows_evicted_" class "_total", \
	  help, offsetof(struct st_worker_stats, flows_evicted[i]) }
static const struct counter total_counters[] = {
	TOTAL(malformed_packets,
	      "Packets whose IP headers failed validation (forwarded)."),
	TOTAL(bypassed_packets, "Packets forwarded without a flow: off the "
				"HTTP ports while no mirror takes unrouted "
				"flows."),
	TOTAL(flows_created, "Flows entered in the flow tables."),
	TOTAL(flows_expired, "Flows removed from the flow tables: idle, or "
			      "closed (FIN both ways, RST) for 2 s."),
	TOTAL(flow_table_full, "Packets whose new flow got no entry, not "
			       "even by eviction (not mirrored)."),
	EVICTED("closed", 0, "Flows evicted from a full flow table for new "
			     "ones: closed (RST, or FIN both ways)."),
	EVICTED("half_open", 1, "Flows evicted from a full flow table for "
				"new ones: half-open (a SYN, no exchange)."),
	EVICTED("lru", 2, "Flows evicted from a full flow table for new ones: "
			  "least recently seen, the sample holding no closed "
			  "or half-open one."),
	TOTAL(http_heads_split, "HTTP request heads gathered over segments."),
	TOTAL(http_heads_partial,
	      "HTTP request heads decided on part of the head."),
	TOTAL(http_hold_failed, "Segments of a split head that could not be "
				"held for the shadow."),
};

/* The events of a port's link (struct st_link_view); shadow ports have
 * only the first. */
#define LINK(key, metric, member, help)                                   \
	{ key, "shadowtap_" metric "_total", help,                         \
	  offsetof(struct st_link_view, member) }
static const struct counter link_counters[] = {
	LINK("link_down_events", "port_link_down_events", down_events,
	     "Times the port lost its link, shadowtap's own taking down "
	     "excluded."),
	LINK("propagated_downs", "port_propagated_downs", propagated_downs,
	     "Times shadowtap took the port down because the other wire port "
	     "had no link."),
	LINK("propagation_failures", "port_propagation_failures",
	     propagation_failures,
	     "Times shadowtap could not take the port down (a driver without "
	     "link control: ENOTSUP)."),
};
#define MIRROR_LINK_COUNTERS 1	/* a shadow port's: the first */

static uint64_t
counter_value(const void *stats, const struct counter *c)
{
	return *(const uint64_t *)((const char *)stats + c->offset);
}

/* Shortest decimal that reads back as @p v. */
static void
format_double(char *buf, size_t len, double v)
{
	int precision;

	for (precision = 15; precision < 17; precision++) {
		snprintf(buf, len, "%.*g", precision, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, len, "%.17g", v);
}

/* A config with nothing in it, for a view that has none yet. */
static const struct st_config no_config;

static const struct st_config *
view_config(const struct st_view *view)
{
	return view->cfg != NULL ? view->cfg : &no_config;
}

/* The device name of a wire port: as configured, else DPDK's. */
static void
port_device(const struct st_port_ref *ref, bool configured, char *name,
	    size_t len)
{
	char dpdk_name[RTE_ETH_NAME_MAX_LEN];

	if (ref->devname[0] != '\0')
		snprintf(name, len, "%s", ref->devname);
	else if (configured && rte_eth_dev_is_valid_port(ref->port_id) &&
		 rte_eth_dev_get_name_by_port(ref->port_id, dpdk_name) == 0)
		snprintf(name, len, "%s", dpdk_name);
	else
		name[0] = '\0';
}

/* ---------------------------------------------------------------------
 * Prometheus text format 0.0.4
 */

/* Append name="value" to the labels in @p buf, escaping the value. */
static void
add_label(char *buf, size_t len, const char *name, const char *value)
{
	size_t n = strlen(buf);

	n += snprintf(buf + n, n < len ? len - n : 0, "%s%s=\"",
		      n > 0 ? "," : "", name);
	for (; *value != '\0' && n + 3 < len; value++) {
		if (*value == '\\' || *value == '"') {
			buf[n++] = '\\';
			buf[n++] = *value;
		} else if (*value == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *value;
		}
	}
	if (n + 1 < len) {
		buf[n++] = '"';
		buf[n] = '\0';
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(FILE *f, const char *name, const char *labels, const char *value)
{
	if (labels[0] != '\0')
		fprintf(f, "%s{%s} %s\n", name, labels, value);
	else
		fprintf(f, "%s %s\n", name, value);
}

static void
sample_u64(FILE *f, const char *name, const char *labels, uint64_t v)
{
	char value[24];

	snprintf(value, sizeof(value), "%" PRIu64, v);
	sample(f, name, labels, value);
}

static void
sample_double(FILE *f, const char *name, const char *labels, double v)
{
	char value[32];

	format_double(value, sizeof(value), v);
	sample(f, name, labels, value);
}

/* What a worker's series show. */
struct worker_snapshot {
	uint64_t rx_packets;
	uint64_t iter_count[ST_ITER_BUCKETS];
	uint64_t iter_tsc_sum;
};

/* What one scrape reads, taken under the view's lock. */
struct scrape {
	const struct st_view *view;
	const struct st_config *cfg;
	struct st_worker_stats total;
	struct st_worker_stats one;	/* a worker's, as read */
	struct worker_snapshot workers[RTE_MAX_LCORE];
	unsigned int nb_workers;
	char side_labels[ST_SIDE_COUNT][LABELS_MAX];
	char mirror_labels[ST_MAX_MIRRORS][LABELS_MAX];
	char route_labels[ST_MAX_ROUTES + 1][LABELS_MAX];
	unsigned int nb_route_series;	/* routes, then the unrouted */
};

/*
 * Read each worker's counters once, and make the totals from what was
 * read: the workers' series then add up to the totals exactly, although
 * the workers keep counting.
 */
static void
scrape_counters(struct scrape *s)
{
	const size_t words = sizeof(s->total) / sizeof(uint64_t);
	const struct st_view *v = s->view;
	uint64_t *total = (uint64_t *)&s->total;
	const uint64_t *one = (const uint64_t *)&s->one;
	struct worker_snapshot *snap;
	unsigned int w;
	size_t i;

	memset(&s->total, 0, sizeof(s->total));
	s->nb_workers = RTE_MIN(v->nb_workers, (unsigned int)RTE_MAX_LCORE);
	for (w = 0; w < s->nb_workers; w++) {
		st_stats_sum(&s->one, &v->workers[w], 1);
		for (i = 0; i < words; i++)
			total[i] += one[i];
		snap = &s->workers[w];
		snap->rx_packets = s->one.side[ST_SIDE_CLIENT].rx_packets +
				   s->one.side[ST_SIDE_SERVER].rx_packets;
		memcpy(snap->iter_count, s->one.iter_count,
		       sizeof(snap->iter_count));
		snap->iter_tsc_sum = s->one.iter_tsc_sum;
	}
}

static void
scrape_labels(struct scrape *s)
{
	const struct st_config *cfg = s->cfg;
	const struct st_port_ref *ports[ST_SIDE_COUNT] = { &cfg->client,
							   &cfg->server };
	char device[RTE_ETH_NAME_MAX_LEN + ST_DEVNAME_MAX];
	char port_id[8];
	unsigned int i;

	for (i = 0; i < ST_SIDE_COUNT; i++) {
		port_device(ports[i], cfg != &no_config, device,
			    sizeof(device));
		snprintf(port_id, sizeof(port_id), "%u", ports[i]->port_id);
		add_label(s->side_labels[i], LABELS_MAX, "side",
			  st_stats_side_name(i));
		add_label(s->side_labels[i], LABELS_MAX, "port", port_id);
		add_label(s->side_labels[i], LABELS_MAX, "device", device);
	}
	for (i = 0; i < cfg->nb_mirrors; i++)
		add_label(s->mirror_labels[i], LABELS_MAX, "mirror",
			  cfg->mirrors[i].name);
	for (i = 0; i < cfg->nb_routes; i++)
		add_label(s->route_labels[i], LABELS_MAX, "route",
			  cfg->routes[i].name);
	add_label(s->route_labels[i], LABELS_MAX, "route", UNROUTED_LABEL);
	s->nb_route_series = cfg->nb_routes + 1;
}

/* The stats of route series @p i: a route's, or the unrouted traffic's. */
static const struct st_route_stats *
route_series(const struct scrape *s, unsigned int i)
{
	return st_stats_route(&s->total, s->cfg, i);
}

static void
render_info(FILE *f, const struct scrape *s)
{
	char labels[LABELS_MAX] = "";

	add_label(labels, sizeof(labels), "version", ST_VERSION);
	add_label(labels, sizeof(labels), "dpdk", rte_version());
	family(f, "shadowtap_build_info", "gauge",
	       "Always 1; the labels say what runs.");
	sample(f, "shadowtap_build_info", labels, "1");
	family(f, "shadowtap_config_generation", "gauge",
	       "Changes of the running configuration since the start.");
	sample_u64(f, "shadowtap_config_generation", "",
		   s->view->generation);
}

static void
render_ports(FILE *f, const struct scrape *s)
{
	const struct st_link_view *link = s->view->wire_link;
	size_t i;
	int side;

	for (i = 0; i < RTE_DIM(side_counters); i++) {
		family(f, side_counters[i].metric, "counter",
		       side_counters[i].help);
		for (side = 0; side < ST_SIDE_COUNT; side++)
			sample_u64(f, side_counters[i].metric,
				   s->side_labels[side],
				   counter_value(&s->total.side[side],
						 &side_counters[i]));
	}
	family(f, "shadowtap_port_link_up", "gauge",
	       "1 when the port's link is up, as last polled (every 100 ms).");
	for (side = 0; side < ST_SIDE_COUNT; side++)
		sample_u64(f, "shadowtap_port_link_up", s->side_labels[side],
			   link[side].up);
	family(f, "shadowtap_port_link_held_down", "gauge",
	       "1 while shadowtap holds the port down because the other wire "
	       "port has no link.");
	for (side = 0; side < ST_SIDE_COUNT; side++)
		sample_u64(f, "shadowtap_port_link_held_down",
			   s->side_labels[side], link[side].held_down);
	for (i = 0; i < RTE_DIM(link_counters); i++) {
		family(f, link_counters[i].metric, "counter",
		       link_counters[i].help);
		for (side = 0; side < ST_SIDE_COUNT; side++)
			sample_u64(f, link_counters[i].metric,
				   s->side_labels[side],
				   counter_value(&link[side],
						 &link_counters[i]));
	}
}

static void
render_pools(FILE *f, const struct scrape *s)
{
	char labels[ST_VIEW_MAX_POOLS][LABELS_MAX];
	const struct st_view *v = s->view;
	unsigned int i;

	for (i = 0; i < v->nb_pools; i++) {
		labels[i][0] = '\0';
		add_label(labels[i], LABELS_MAX, "pool", v->pools[i]->name);
	}
	family(f, "shadowtap_mempool_mbufs", "gauge",
	       "Mbufs in the pool: data, clones (copies) or encapsulation "
	       "headers, per NUMA socket.");
	for (i = 0; i < v->nb_pools; i++)
		sample_u64(f, "shadowtap_mempool_mbufs", labels[i],
			   v->pools[i]->size);
	family(f, "shadowtap_mempool_in_use_mbufs", "gauge",
	       "Mbufs of the pool in use (per-lcore caches count as free): "
	       "back to its idle figure when traffic stops, or they leak.");
	for (i = 0; i < v->nb_pools; i++)
		sample_u64(f, "shadowtap_mempool_in_use_mbufs", labels[i],
			   rte_mempool_in_use_count(v->pools[i]));
}

static void
render_totals(FILE *f, const struct scrape *s)
{
	size_t i;

	for (i = 0; i < RTE_DIM(total_counters); i++) {
		family(f, total_counters[i].metric, "counter",
		       total_counters[i].help);
		sample_u64(f, total_counters[i].metric, "",
			   counter_value(&s->total, &total_counters[i]));
	}
}

static void
render_mirrors(FILE *f, const struct scrape *s)
{
	const unsigned int n = s->cfg->nb_mirrors;
	char labels[LABELS_MAX];
	unsigned int m;
	size_t i;
	int c;

	for (i = 0; i < RTE_DIM(mirror_counters); i++) {
		family(f, mirror_counters[i].metric, "counter",
		       mirror_counters[i].help);
		for (m = 0; m < n; m++)
			sample_u64(f, mirror_counters[i].metric,
				   s->mirror_labels[m],
				   counter_value(&s->total.mirror[m],
						 &mirror_counters[i]));
	}
	family(f, "shadowtap_mirror_dropped_packets_total", "counter",
	       "Copies for the mirror given up, by cause: ring_full (its TX "
	       "queue was full), no_mbuf (no clone, or the data pool at its "
	       "reserve), link_down.");
	for (m = 0; m < n; m++)
		for (c = 0; c < ST_DROP_CAUSES; c++) {
			snprintf(labels, sizeof(labels), "%s",
				 s->mirror_labels[m]);
			add_label(labels, sizeof(labels), "cause",
				  st_stats_drop_name(c));
			sample_u64(f, "shadowtap_mirror_dropped_packets_total",
				   labels, s->total.mirror[m].dropped[c]);
		}
	family(f, "shadowtap_mirror_percent", "gauge",
	       "Share of the flows no route claims that the mirror gets.");
	for (m = 0; m < n; m++)
		sample_double(f, "shadowtap_mirror_percent",
			      s->mirror_labels[m], s->cfg->mirrors[m].percent);
	family(f, "shadowtap_mirror_enabled", "gauge",
	       "1 when copies go to the mirror, 0 when it is switched off.");
	for (m = 0; m < n; m++)
		sample_u64(f, "shadowtap_mirror_enabled", s->mirror_labels[m],
			   (s->view->mirrors_enabled >> m) & 1);
	family(f, "shadowtap_mirror_link_up", "gauge",
	       "1 when the shadow port's link is up; while down its copies "
	       "are dropped (cause link_down).");
	for (m = 0; m < n; m++)
		sample_u64(f, "shadowtap_mirror_link_up", s->mirror_labels[m],
			   s->view->mirror_link[m].up);
	family(f, "shadowtap_mirror_link_down_events_total", "counter",
	       "Times the shadow port lost its link.");
	for (m = 0; m < n; m++)
		sample_u64(f, "shadowtap_mirror_link_down_events_total",
			   s->mirror_labels[m],
			   s->view->mirror_link[m].down_events);
}

static void
render_routes(FILE *f, const struct scrape *s)
{
	unsigned int r;
	size_t i;

	for (i = 0; i < RTE_DIM(route_counters); i++) {
		family(f, route_counters[i].metric, "counter",
		       route_counters[i].help);
		for (r = 0; r < s->nb_route_series; r++)
			sample_u64(f, route_counters[i].metric,
				   s->route_labels[r],
				   counter_value(route_series(s, r),
						 &route_counters[i]));
	}
	family(f, "shadowtap_route_percent", "gauge",
	       "Share of the flows the route matches that are mirrored.");
	for (r = 0; r < s->cfg->nb_routes; r++)
		sample_double(f, "shadowtap_route_percent", s->route_labels[r],
			      s->cfg->routes[r].percent);
}

#define ITER_METRIC "shadowtap_worker_iteration_seconds"

static void
lcore_label(char *labels, size_t len, unsigned int lcore_id)
{
	char lcore[12];

	snprintf(lcore, sizeof(lcore), "%u", lcore_id);
	labels[0] = '\0';
	add_label(labels, len, "lcore", lcore);
}

static void
render_workers(FILE *f, const struct scrape *s)
{
	const struct st_view *v = s->view;
	char labels[LABELS_MAX], bucket[LABELS_MAX], le[32];
	const struct worker_snapshot *snap;
	uint64_t cumulative;
	unsigned int w;
	int b;

	family(f, "shadowtap_worker_rx_packets_total", "counter",
	       "Packets a worker received, both ports together.");
	for (w = 0; w < s->nb_workers; w++) {
		lcore_label(labels, sizeof(labels), v->lcores[w]);
		sample_u64(f, "shadowtap_worker_rx_packets_total", labels,
			   s->workers[w].rx_packets);
	}
	family(f, ITER_METRIC, "histogram",
	       "Time of the worker loop iterations that handled packets.");
	for (w = 0; w < s->nb_workers; w++) {
		snap = &s->workers[w];
		lcore_label(labels, sizeof(labels), v->lcores[w]);
		cumulative = 0;
		for (b = 0; b < ST_ITER_BUCKETS; b++) {
			cumulative += snap->iter_count[b];
			if (b < ST_ITER_BUCKETS - 1)
				format_double(le, sizeof(le),
					      (double)iter_bounds_ns[b] / 1e9);
			else
				snprintf(le, sizeof(le), "+Inf");
			snprintf(bucket, sizeof(bucket), "%s", labels);
			add_label(bucket, sizeof(bucket), "le", le);
			sample_u64(f, ITER_METRIC "_bucket", bucket,
				   cumulative);
		}
		sample_double(f, ITER_METRIC "_sum", labels,
			      v->tsc_hz == 0 ? 0.0 :
					       (double)snap->iter_tsc_sum /
						       (double)v->tsc_hz);
		sample_u64(f, ITER_METRIC "_count", labels, cumulative);
	}
}

char *
st_metrics_render(struct st_view *view, size_t *len)
{
	struct scrape *s = calloc(1, sizeof(*s));
	char *text = NULL;
	size_t size = 0;
	bool failed;
	FILE *f;

	if (s == NULL)
		return NULL;
	f = open_memstream(&text, &size);
	if (f == NULL) {
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&view->lock);
	s->view = view;
	s->cfg = view_config(view);
	scrape_counters(s);
	scrape_labels(s);
	render_info(f, s);
	render_ports(f, s);
	render_pools(f, s);
	render_totals(f, s);
	render_mirrors(f, s);
	render_routes(f, s);
	render_workers(f, s);
	pthread_mutex_unlock(&view->lock);
	free(s);
	failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(text);
		return NULL;
	}
	if (len != NULL)
		*len = size;
	return text;
}

/* ---------------------------------------------------------------------
 * The HTTP server
 */

struct st_metrics {
	struct st_metricsd *http;
};

static char *
scrape_text(void *arg, size_t *len)
{
	return st_metrics_render(arg, len);
}

static void
log_http(const char *msg)
{
	RTE_LOG(WARNING, USER1, "metrics HTTP server: %s", msg);
}

int
st_metrics_start(struct st_view *view, const char *addr,
		 struct st_metrics **out, char *err, size_t errlen)
{
	const struct st_metricsd_conf conf = {
		.addr = addr,
		.example_port = ST_METRICS_DEFAULT_PORT,
		.text = scrape_text,
		.arg = view,
		.log = log_http,
	};
	struct st_metrics *m = calloc(1, sizeof(*m));
	int ret;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory for the metrics server");
		return -ENOMEM;
	}
	ret = st_metricsd_start(&conf, &m->http, err, errlen);
	if (ret != 0) {
		free(m);
		return ret;
	}
	*out = m;
	return 0;
}

void
st_metrics_stop(struct st_metrics *m)
{
	if (m == NULL)
		return;
	st_metricsd_stop(m->http);
	free(m);
}

/* ---------------------------------------------------------------------
 * DPDK telemetry
 */

/* The view the commands read; tel_lock is held while one does, so that
 * st_telemetry_unregister() can wait for them. */
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct st_view *tel_view;
static bool tel_registered;

/* Telemetry keys are [A-Za-z0-9_/]: names get '_' for '.' and '-', and
 * a suffix when that makes two of them equal. Each entry keeps its real
 * name under "name". */
#define TEL_KEY_MAX (ST_NAME_MAX + 16)

static bool
key_taken(char (*keys)[TEL_KEY_MAX], unsigned int n, const char *key)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

/* Keys first..n-1 for the names of entries 0..n-first-1. */
static void
tel_keys(char (*keys)[TEL_KEY_MAX], unsigned int first, unsigned int n,
	 const char *(*name_of)(const struct st_config *, unsigned int),
	 const struct st_config *cfg)
{
	unsigned int i;
	size_t len;
	char *k;

	for (i = first; i < n; i++) {
		snprintf(keys[i], TEL_KEY_MAX, "%s", name_of(cfg, i - first));
		for (k = keys[i]; *k != '\0'; k++)
			if (*k == '.' || *k == '-')
				*k = '_';
		while (key_taken(keys, i, keys[i])) {
			len = strlen(keys[i]);
			if (len + 8 > TEL_KEY_MAX)
				break;	/* names are shorter than that */
			snprintf(keys[i] + len, TEL_KEY_MAX - len, "_%u",
				 i - first);
		}
	}
}

static const char *
mirror_name(const struct st_config *cfg, unsigned int i)
{
	return cfg->mirrors[i].name;
}

static const char *
route_name(const struct st_config *cfg, unsigned int i)
{
	return cfg->routes[i].name;
}

static void
tel_add_counters(struct rte_tel_data *d, const void *stats,
		 const struct counter *counters, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		rte_tel_data_add_dict_u64(d, counters[i].key,
					  counter_value(stats, &counters[i]));
}

/* A port's link: the keys of --stats-file. */
static void
tel_add_link(struct rte_tel_data *d, const struct st_link_view *link,
	     bool wire)
{
	rte_tel_data_add_dict_int(d, "link_up", link->up);
	tel_add_counters(d, link, link_counters,
			 wire ? RTE_DIM(link_counters) : MIRROR_LINK_COUNTERS);
	if (wire)
		rte_tel_data_add_dict_int(d, "link_held_down",
					  link->held_down);
}

static void
tel_add_percent(struct rte_tel_data *d, double percent)
{
	char value[32];

	/* No floating-point values in 22.11's telemetry: a string. */
	format_double(value, sizeof(value), percent);
	rte_tel_data_add_dict_string(d, "percent", value);
}

static struct rte_tel_data *
tel_new_dict(void)
{
	struct rte_tel_data *d = rte_tel_data_alloc();

	if (d != NULL)
		rte_tel_data_start_dict(d);
	return d;
}

/* Add @p child (a dict) under @p key, or free it. */
static int
tel_add_child(struct rte_tel_data *d, const char *key,
	      struct rte_tel_data *child)
{
	int ret = rte_tel_data_add_dict_container(d, key, child, 0);

	if (ret != 0)
		rte_tel_data_free(child);
	return ret;
}

/* What a command reads, under both locks. */
struct tel_source {
	const struct st_view *view;
	const struct st_config *cfg;
	const struct st_worker_stats *total;
};

static int
tel_port(struct rte_tel_data *d, const struct tel_source *src, int side)
{
	const struct st_config *cfg = src->cfg;
	const struct st_port_ref *ref = side == ST_SIDE_CLIENT ? &cfg->client :
								 &cfg->server;
	char device[RTE_ETH_NAME_MAX_LEN + ST_DEVNAME_MAX];
	struct rte_tel_data *p = tel_new_dict();

	if (p == NULL)
		return -ENOMEM;
	port_device(ref, cfg != &no_config, device, sizeof(device));
	rte_tel_data_add_dict_u64(p, "port_id", ref->port_id);
	rte_tel_data_add_dict_string(p, "device", device);
	tel_add_counters(p, &src->total->side[side], side_counters,
			 RTE_DIM(side_counters));
	tel_add_link(p, &src->view->wire_link[side], true);
	return tel_add_child(d, st_stats_side_name(side), p);
}

/* The totals of --stats-file, then "client" and "server". */
static int
fill_stats(struct rte_tel_data *d, const struct tel_source *src,
	   const char *params)
{
	const struct st_worker_stats *t = src->total;
	uint64_t mirrored = 0, mirror_drops = 0, mirror_flows = 0;
	uint64_t rx = 0, fwd = 0, drop = 0;
	unsigned int i;
	int ret = 0;

	RTE_SET_USED(params);
	for (i = 0; i < ST_SIDE_COUNT; i++) {
		rx += t->side[i].rx_packets;
		fwd += t->side[i].forwarded_packets;
		drop += t->side[i].dropped_packets;
	}
	for (i = 0; i < src->cfg->nb_mirrors; i++) {
		mirrored += t->mirror[i].packets;
		mirror_drops += st_stats_mirror_dropped(&t->mirror[i]);
		mirror_flows += t->mirror[i].flows;
	}
	rte_tel_data_add_dict_u64(d, "rx_packets", rx);
	rte_tel_data_add_dict_u64(d, "forwarded_packets", fwd);
	rte_tel_data_add_dict_u64(d, "dropped_packets", drop);
	rte_tel_data_add_dict_u64(d, "mirrored_packets", mirrored);
	rte_tel_data_add_dict_u64(d, "mirror_dropped_packets", mirror_drops);
	rte_tel_data_add_dict_u64(d, "mirrored_flows", mirror_flows);
	tel_add_counters(d, t, total_counters, RTE_DIM(total_counters));
	rte_tel_data_add_dict_u64(d, "generation", src->view->generation);
	rte_tel_data_add_dict_u64(d, "nb_workers", src->view->nb_workers);
	/* Turns rates into cycles per packet. */
	rte_tel_data_add_dict_u64(d, "tsc_hz", src->view->tsc_hz);
	for (i = 0; i < ST_SIDE_COUNT && ret == 0; i++)
		ret = tel_port(d, src, (int)i);
	return ret;
}

static int
tel_mirror(struct rte_tel_data *d, const char *key,
	   const struct tel_source *src, unsigned int i)
{
	const struct st_mirror_conf *conf = &src->cfg->mirrors[i];
	const struct st_mirror_stats *stats = &src->total->mirror[i];
	struct rte_tel_data *m = tel_new_dict();
	int c;

	if (m == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_string(m, "name", conf->name);
	rte_tel_data_add_dict_u64(m, "port_id", conf->port.port_id);
	tel_add_percent(m, conf->percent);
	rte_tel_data_add_dict_int(m, "enabled",
				  (int)((src->view->mirrors_enabled >> i) & 1));
	tel_add_counters(m, stats, mirror_counters, RTE_DIM(mirror_counters));
	rte_tel_data_add_dict_u64(m, "mirror_dropped_packets",
				  st_stats_mirror_dropped(stats));
	for (c = 0; c < ST_DROP_CAUSES; c++)
		rte_tel_data_add_dict_u64(m, st_stats_drop_name(c),
					  stats->dropped[c]);
	tel_add_link(m, &src->view->mirror_link[i], false);
	return tel_add_child(d, key, m);
}

static int
fill_mirrors(struct rte_tel_data *d, const struct tel_source *src,
	     const char *params)
{
	char keys[ST_MAX_MIRRORS][TEL_KEY_MAX];
	unsigned int i;
	int ret = 0;

	RTE_SET_USED(params);
	tel_keys(keys, 0, src->cfg->nb_mirrors, mirror_name, src->cfg);
	for (i = 0; i < src->cfg->nb_mirrors && ret == 0; i++)
		ret = tel_mirror(d, keys[i], src, i);
	return ret;
}

static int
tel_route(struct rte_tel_data *d, const char *key, const char *name,
	  const struct st_route_conf *conf, const struct st_route_stats *stats)
{
	struct rte_tel_data *r = tel_new_dict();

	if (r == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_string(r, "name", name);
	if (conf != NULL)
		tel_add_percent(r, conf->percent);
	tel_add_counters(r, stats, route_counters, RTE_DIM(route_counters));
	return tel_add_child(d, key, r);
}

/* Every route, then the unrouted traffic under "unrouted"; with a
 * parameter, only the route of that name (or "(unrouted)"). */
static int
fill_routes(struct rte_tel_data *d, const struct tel_source *src,
	    const char *params)
{
	const struct st_config *cfg = src->cfg;
	const bool one = params != NULL && params[0] != '\0';
	char keys[ST_MAX_ROUTES + 1][TEL_KEY_MAX] = { "unrouted" };
	unsigned int i;
	int ret = 0;

	tel_keys(keys, 1, cfg->nb_routes + 1, route_name, cfg);
	for (i = 0; i < cfg->nb_routes && ret == 0; i++)
		if (!one || strcmp(params, cfg->routes[i].name) == 0)
			ret = tel_route(d, keys[i + 1], cfg->routes[i].name,
					&cfg->routes[i],
					st_stats_route(src->total, cfg, i));
	if (ret == 0 && (!one || strcmp(params, UNROUTED_LABEL) == 0))
		ret = tel_route(d, keys[0], UNROUTED_LABEL, NULL,
				&src->total->route[ST_ROUTE_STATS_DEFAULT]);
	return ret;
}

typedef int (*tel_fill_fn)(struct rte_tel_data *d,
			   const struct tel_source *src, const char *params);

/* Answer a command from the view, holding its lock. */
static int
tel_answer(struct rte_tel_data *d, const char *params, tel_fill_fn fill)
{
	struct st_worker_stats *total = malloc(sizeof(*total));
	struct tel_source src;
	int ret = -ENODEV;	/* shadowtap is stopping */

	if (total == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&tel_lock);
	if (tel_view != NULL) {
		pthread_mutex_lock(&tel_view->lock);
		st_stats_sum(total, tel_view->workers, tel_view->nb_workers);
		src.view = tel_view;
		src.cfg = view_config(tel_view);
		src.total = total;
		ret = fill(d, &src, params);
		pthread_mutex_unlock(&tel_view->lock);
	}
	pthread_mutex_unlock(&tel_lock);
	free(total);
	return ret;
}

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return tel_answer(d, params, fill_stats);
}

static int
tel_mirrors(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return tel_answer(d, params, fill_mirrors);
}

static int
tel_routes(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return tel_answer(d, params, fill_routes);
}

int
st_telemetry_register(struct st_view *view)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} commands[] = {
		{ "/shadowtap/stats", tel_stats,
		  "shadowtap totals and per port counters. No parameters" },
		{ "/shadowtap/routes", tel_routes,
		  "shadowtap per route counters and percent, with the "
		  "unrouted traffic. Parameters: none, or a route name" },
		{ "/shadowtap/mirrors", tel_mirrors,
		  "shadowtap per mirror counters, percent and switch. No "
		  "parameters" },
	};
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&tel_lock);
	if (tel_view != NULL) {
		ret = tel_view == view ? 0 : -EALREADY;
		goto out;
	}
	/* DPDK cannot unregister a command: they stay, and answer from
	 * whatever view is set. */
	for (i = 0; i < RTE_DIM(commands) && !tel_registered; i++) {
		ret = rte_telemetry_register_cmd(commands[i].cmd,
						 commands[i].fn,
						 commands[i].help);
		if (ret != 0)
			goto out;
	}
	tel_registered = true;
	tel_view = view;
out:
	pthread_mutex_unlock(&tel_lock);
	return ret;
}

void
st_telemetry_unregister(void)
{
	pthread_mutex_lock(&tel_lock);
	tel_view = NULL;
	pthread_mutex_unlock(&tel_lock);
}
