/* SPDX-License-Identifier: BSD-3-Clause */
#include "stats.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "view.h"

/* Summing word by word needs the struct to be nothing but counters (and
 * side_seq, read apart). */
_Static_assert(sizeof(struct st_worker_stats) % sizeof(uint64_t) == 0,
	       "st_worker_stats must hold only uint64_t counters");

static const char *const side_names[ST_SIDE_COUNT] = { "client", "server" };
static const char *const drop_names[ST_DROP_CAUSES] = {
	"ring_full", "no_mbuf", "link_down"
};

void
st_stats_sum(struct st_worker_stats *total,
	     const struct st_worker_stats *workers, unsigned int nb_workers)
{
	/* Every word past side[] is an independent uint64_t counter. */
	const size_t first = offsetof(struct st_worker_stats, mirror) /
			     sizeof(uint64_t);
	const size_t words = sizeof(*total) / sizeof(uint64_t);
	const size_t side_words = sizeof(total->side) / (sizeof(uint64_t));
	uint64_t *t = (uint64_t *)total;
	unsigned int w;
	size_t i;

	_Static_assert(offsetof(struct st_worker_stats, mirror) ==
		       offsetof(struct st_worker_stats, side) +
		       sizeof(total->side), "side[] is followed by mirror[]");
	memset(total, 0, sizeof(*total));
	for (w = 0; w < nb_workers; w++) {
		const uint64_t *c = (const uint64_t *)&workers[w];
		const uint64_t *side = (const uint64_t *)workers[w].side;
		uint64_t snap[side_words];
		uint32_t sn;

		do {
			sn = rte_seqcount_read_begin(&workers[w].side_seq);
			for (i = 0; i < side_words; i++)
				snap[i] = __atomic_load_n(&side[i],
							  __ATOMIC_RELAXED);
		} while (rte_seqcount_read_retry(&workers[w].side_seq, sn));
		for (i = 0; i < side_words; i++)
			((uint64_t *)total->side)[i] += snap[i];
		for (i = first; i < words; i++)
			t[i] += __atomic_load_n(&c[i], __ATOMIC_RELAXED);
	}
}

const char *
st_stats_side_name(enum st_side side)
{
	return side_names[side];
}

const char *
st_stats_drop_name(enum st_drop_cause cause)
{
	return drop_names[cause];
}

uint64_t
st_stats_mirror_dropped(const struct st_mirror_stats *m)
{
	uint64_t n = 0;
	int c;

	for (c = 0; c < ST_DROP_CAUSES; c++)
		n += m->dropped[c];
	return n;
}

/* The five headline totals: the same names at the top level and per
 * worker, so a reader can check that the workers add up. */
static void
write_totals(FILE *out, const struct st_worker_stats *s,
	     unsigned int nb_mirrors, const char *indent)
{
	uint64_t rx = 0, fwd = 0, drop = 0, mir = 0, mdrop = 0, mflows = 0;
	unsigned int i;

	for (i = 0; i < ST_SIDE_COUNT; i++) {
		rx += s->side[i].rx_packets;
		fwd += s->side[i].forwarded_packets;
		drop += s->side[i].dropped_packets;
	}
	for (i = 0; i < nb_mirrors; i++) {
		mir += s->mirror[i].packets;
		mdrop += st_stats_mirror_dropped(&s->mirror[i]);
		mflows += s->mirror[i].flows;
	}
	fprintf(out,
		"%s\"rx_packets\": %" PRIu64 ",\n"
		"%s\"forwarded_packets\": %" PRIu64 ",\n"
		"%s\"dropped_packets\": %" PRIu64 ",\n"
		"%s\"mirrored_packets\": %" PRIu64 ",\n"
		"%s\"mirror_dropped_packets\": %" PRIu64 ",\n"
		"%s\"mirrored_flows\": %" PRIu64 ",\n"
		"%s\"malformed_packets\": %" PRIu64 ",\n"
		"%s\"bypassed_packets\": %" PRIu64 ",\n"
		"%s\"flows_created\": %" PRIu64 ",\n"
		"%s\"flows_expired\": %" PRIu64 ",\n"
		"%s\"flow_table_full\": %" PRIu64 ",\n"
		"%s\"flows_evicted_closed\": %" PRIu64 ",\n"
		"%s\"flows_evicted_half_open\": %" PRIu64 ",\n"
		"%s\"flows_evicted_lru\": %" PRIu64 ",\n"
		"%s\"http_heads_split\": %" PRIu64 ",\n"
		"%s\"http_heads_partial\": %" PRIu64 ",\n"
		"%s\"http_hold_failed\": %" PRIu64,
		indent, rx, indent, fwd, indent, drop, indent, mir, indent,
		mdrop, indent, mflows, indent, s->malformed_packets, indent,
		s->bypassed_packets, indent, s->flows_created, indent,
		s->flows_expired, indent, s->flow_table_full, indent,
		s->flows_evicted[0], indent, s->flows_evicted[1], indent,
		s->flows_evicted[2], indent, s->http_heads_split, indent,
		s->http_heads_partial, indent, s->http_hold_failed);
}

static const char *
where(bool hardware)
{
	return hardware ? "hardware" : "software";
}

static const char *
json_bool(bool b)
{
	return b ? "true" : "false";
}

/* A port's link: its state, and the events counted for it. */
static void
write_link(FILE *out, const struct st_link_view *l, bool wire)
{
	fprintf(out, "\"link_up\": %s, \"link_down_events\": %" PRIu64,
		json_bool(l->up), l->down_events);
	if (wire)
		fprintf(out,
			", \"link_held_down\": %s, "
			"\"propagated_downs\": %" PRIu64 ", "
			"\"propagation_failures\": %" PRIu64,
			json_bool(l->held_down), l->propagated_downs,
			l->propagation_failures);
}

static void
write_side(FILE *out, const struct st_config *cfg, enum st_side side,
	   const struct st_port_offload *offload,
	   const struct st_link_view *link, const struct st_side_stats *s)
{
	const struct st_port_ref *ref = side == ST_SIDE_CLIENT ? &cfg->client :
								 &cfg->server;
	char name[RTE_ETH_NAME_MAX_LEN] = "";

	rte_eth_dev_get_name_by_port(ref->port_id, name);
	fprintf(out,
		"    \"%s\": {\"port_id\": %u, \"device\": \"%s\", "
		"\"rx_packets\": %" PRIu64 ", \"rx_bytes\": %" PRIu64 ", "
		"\"forwarded_packets\": %" PRIu64 ", "
		"\"forwarded_bytes\": %" PRIu64 ", "
		"\"dropped_packets\": %" PRIu64 ", "
		"\"dropped_bytes\": %" PRIu64 ", ",
		side_names[side], ref->port_id, name, s->rx_packets,
		s->rx_bytes, s->forwarded_packets, s->forwarded_bytes,
		s->dropped_packets, s->dropped_bytes);
	write_link(out, link, true);
	fprintf(out,
		", \"offload\": {\"rss\": \"%s\", \"prefilter\": \"%s\"}}",
		where(offload->rss), where(offload->prefilter));
}

static void
write_mirror(FILE *out, const struct st_mirror_conf *conf,
	     const struct st_link_view *link, const struct st_mirror_stats *s)
{
	int c;

	fprintf(out,
		"    \"%s\": {\"port_id\": %u, \"percent\": %g, "
		"\"mirrored_packets\": %" PRIu64 ", "
		"\"mirrored_bytes\": %" PRIu64 ", "
		"\"mirrored_flows\": %" PRIu64 ", "
		"\"truncated_packets\": %" PRIu64 ", "
		"\"mirror_dropped_packets\": %" PRIu64 ", "
		"\"mirror_dropped_bytes\": %" PRIu64 ", "
		"\"dropped_by_cause\": {",
		conf->name, conf->port.port_id, conf->percent, s->packets,
		s->bytes, s->flows, s->truncated, st_stats_mirror_dropped(s),
		s->dropped_bytes);
	for (c = 0; c < ST_DROP_CAUSES; c++)
		fprintf(out, "%s\"%s\": %" PRIu64, c ? ", " : "",
			drop_names[c], s->dropped[c]);
	fprintf(out, "}, ");
	write_link(out, link, false);
	fprintf(out, "}");
}

/* Mbufs taken from each pool: back to their idle figure once traffic
 * stops, whatever happened to the copies, or something leaks. */
static void
write_pools(FILE *out, const struct st_view *v)
{
	unsigned int i;

	fprintf(out, "  \"mempools\": {");
	for (i = 0; i < v->nb_pools; i++)
		fprintf(out,
			"%s\n    \"%s\": {\"size\": %u, \"in_use\": %u}",
			i ? "," : "", v->pools[i]->name, v->pools[i]->size,
			rte_mempool_in_use_count(v->pools[i]));
	fprintf(out, "%s}", v->nb_pools ? "\n  " : "");
}

static void
write_route(FILE *out, const char *indent, const char *name,
	    const struct st_route_stats *r)
{
	fprintf(out,
		"%s\"%s\": {\"requests\": %" PRIu64 ", "
		"\"flows_selected\": %" PRIu64 ", "
		"\"mirrored_packets\": %" PRIu64 ", "
		"\"mirrored_bytes\": %" PRIu64 "}",
		indent, name, r->requests, r->flows, r->packets, r->bytes);
}

int
st_stats_write_json(FILE *out, const struct st_view *v)
{
	const struct st_config *cfg = v->cfg;
	struct st_worker_stats total, one;
	unsigned int i;

	st_stats_sum(&total, v->workers, v->nb_workers);
	fprintf(out, "{\n");
	write_totals(out, &total, cfg->nb_mirrors, "  ");
	fprintf(out, ",\n  \"ports\": {\n");
	for (i = 0; i < ST_SIDE_COUNT; i++) {
		write_side(out, cfg, i, &v->offload[i], &v->wire_link[i],
			   &total.side[i]);
		fprintf(out, "%s\n", i + 1 < ST_SIDE_COUNT ? "," : "");
	}
	fprintf(out, "  },\n  \"mirrors\": {\n");
	for (i = 0; i < cfg->nb_mirrors; i++) {
		write_mirror(out, &cfg->mirrors[i], &v->mirror_link[i],
			     &total.mirror[i]);
		fprintf(out, "%s\n", i + 1 < cfg->nb_mirrors ? "," : "");
	}
	fprintf(out, "  },\n  \"routes\": {\n");
	for (i = 0; i < cfg->nb_routes; i++) {
		write_route(out, "    ", cfg->routes[i].name,
			    st_stats_route(&total, cfg, i));
		fprintf(out, "%s\n", i + 1 < cfg->nb_routes ? "," : "");
	}
	fprintf(out, "  },\n");
	/* Apart from the routes: a route may be called anything. */
	write_route(out, "  ", "unrouted",
		    &total.route[ST_ROUTE_STATS_DEFAULT]);
	fprintf(out, ",\n");
	write_pools(out, v);
	fprintf(out, ",\n  \"workers\": [\n");
	for (i = 0; i < v->nb_workers; i++) {
		st_stats_sum(&one, &v->workers[i], 1);
		fprintf(out, "    {\n      \"lcore\": %u,\n", v->lcores[i]);
		write_totals(out, &one, cfg->nb_mirrors, "      ");
		fprintf(out, "\n    }%s\n", i + 1 < v->nb_workers ? "," : "");
	}
	fprintf(out, "  ]\n}\n");
	return ferror(out) ? -EIO : 0;
}

void
st_stats_print_summary(FILE *out, const struct st_config *cfg,
		       const struct st_worker_stats *workers,
		       unsigned int nb_workers)
{
	struct st_worker_stats total;
	unsigned int i;

	st_stats_sum(&total, workers, nb_workers);
	for (i = 0; i < ST_SIDE_COUNT; i++)
		fprintf(out,
			"%-8s rx %" PRIu64 "  forwarded %" PRIu64
			"  dropped %" PRIu64 "\n", side_names[i],
			total.side[i].rx_packets,
			total.side[i].forwarded_packets,
			total.side[i].dropped_packets);
	for (i = 0; i < cfg->nb_mirrors; i++)
		fprintf(out,
			"mirror %-8s (default %g%%)  mirrored %" PRIu64
			" packets in %" PRIu64 " flows  dropped %" PRIu64 "\n",
			cfg->mirrors[i].name, cfg->mirrors[i].percent,
			total.mirror[i].packets, total.mirror[i].flows,
			st_stats_mirror_dropped(&total.mirror[i]));
	for (i = 0; i <= cfg->nb_routes && cfg->nb_routes > 0; i++) {
		const struct st_route_stats *r = st_stats_route(&total, cfg, i);

		fprintf(out,
			"route %-14s %" PRIu64 " requests  %" PRIu64
			" flows selected  %" PRIu64 " packets mirrored\n",
			i < cfg->nb_routes ? cfg->routes[i].name :
					     "(unrouted)",
			r->requests, r->flows, r->packets);
	}
}
