/* SPDX-License-Identifier: BSD-3-Clause */
#include "offload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>

/*
 * Rule priorities (a lower number wins). A packet takes the first of:
 * TCP to or from an HTTP port, unmarked; other TCP and UDP, marked; any
 * IPv4 or IPv6, spread. Three levels: some NICs have few more in group 0.
 */
#define PRIO_HTTP 0
#define PRIO_MARK 1
#define PRIO_SPREAD 2
/* The mirroring rule copies everything, above the rest. */
#define PRIO_SAMPLE 0

#define MAX_ITEMS 5	/* eth / ipv6 / tcp / end, with room */
#define MAX_ACTIONS 4	/* mark / rss / end, sample / rss / end */
#define MAX_RULES (2 + 4 * ST_OFFLOAD_MAX_HTTP_PORTS + 4 + 1)
#define RSS_KEY_MAX 64
#define DEFAULT_RSS_KEY_LEN 40
#define WHY_MAX 192

/* A rule this module created, and the port it lives on (the wire port,
 * or its transfer proxy). */
struct installed {
	struct rte_flow *flow;
	uint16_t port_id;
};

struct port_state {
	bool set_up;
	bool marks_refused;	/* rte_eth_rx_metadata_negotiate() said so */
	unsigned int nb_rules;
	struct installed rule[MAX_RULES];
};

static struct port_state ports[RTE_MAX_ETHPORTS];

/* One rule being built. Items and actions point into it: it is filled in
 * place and never copied. A zeroed array is END-terminated. */
struct rule {
	uint16_t port_id;
	unsigned int nb_items;
	unsigned int nb_actions;
	struct rte_flow_attr attr;
	struct rte_flow_item item[MAX_ITEMS];
	struct rte_flow_action action[MAX_ACTIONS];
	struct rte_flow_item_tcp tcp;
	struct rte_flow_item_ethdev from;
	struct rte_flow_action_sample sample;
	struct rte_flow_action copy[2];
	struct rte_flow_action_ethdev copy_to;
	struct rte_flow_action_port_id copy_to_id;
	struct rte_flow_action_ethdev deliver_to;
};

/* Where a packet goes once matched (after any mark). */
struct fate {
	enum rte_flow_action_type type;	/* RSS, QUEUE; END: none found */
	const char *name;
	struct rte_flow_action_rss rss;
	struct rte_flow_action_queue queue;
	uint8_t key[RSS_KEY_MAX];
	uint16_t queues[RTE_MAX_QUEUES_PER_PORT];
};

struct setup {
	uint16_t port_id;
	const struct st_offload_conf *conf;
	struct rte_eth_dev_info info;
	struct port_state *ps;
	struct st_offload_status *status;
	struct fate fate;
};

static const struct rte_flow_item_tcp tcp_src_mask = {
	.hdr.src_port = RTE_BE16(0xffff),
};
static const struct rte_flow_item_tcp tcp_dst_mask = {
	.hdr.dst_port = RTE_BE16(0xffff),
};
static const struct rte_flow_action_mark bypass_mark = {
	.id = ST_OFFLOAD_MARK_BYPASS,
};

/* Append a clause to status->detail, "; "-separated, cut if too long. */
static void __rte_format_printf(2, 3)
note(struct setup *s, const char *fmt, ...)
{
	char *detail = s->status->detail;
	size_t used = strlen(detail);
	va_list ap;

	if (used > 0 && used + 2 < sizeof(s->status->detail)) {
		strcpy(detail + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(detail + used, sizeof(s->status->detail) - used, fmt, ap);
	va_end(ap);
}

/* Why the PMD refused @p what, in its own words when it gave any. */
static void
refusal(const struct setup *s, const char *what, int ret,
	const struct rte_flow_error *error, char *why, size_t whylen)
{
	if (ret == -ENOSYS)
		snprintf(why, whylen, "%s has no flow API",
			 s->info.driver_name);
	else if (error->message != NULL)
		snprintf(why, whylen, "%s refused %s: %s", s->info.driver_name,
			 what, error->message);
	else
		snprintf(why, whylen, "%s refused %s, giving no reason (%s)",
			 s->info.driver_name, what, strerror(ret < 0 ? -ret :
								  ret));
}

static struct rule *
rule_init(struct rule *r, uint16_t port_id, uint32_t priority)
{
	memset(r, 0, sizeof(*r));
	r->port_id = port_id;
	r->attr.ingress = 1;
	r->attr.priority = priority;
	return r;
}

static void
add_item(struct rule *r, enum rte_flow_item_type type, const void *spec,
	 const void *mask)
{
	struct rte_flow_item *item = &r->item[r->nb_items++];

	RTE_VERIFY(r->nb_items < MAX_ITEMS);
	item->type = type;
	item->spec = spec;
	item->mask = mask;
}

static void
add_action(struct rule *r, enum rte_flow_action_type type, const void *conf)
{
	struct rte_flow_action *action = &r->action[r->nb_actions++];

	RTE_VERIFY(r->nb_actions < MAX_ACTIONS);
	action->type = type;
	action->conf = conf;
}

static void
add_fate(struct rule *r, const struct fate *f)
{
	add_action(r, f->type,
		   f->type == RTE_FLOW_ACTION_TYPE_RSS ? (const void *)&f->rss :
							 (const void *)&f->queue);
}

/* eth / ipv4 or ipv6 [/ tcp or udp]: any of them. */
static void
match_l3_l4(struct rule *r, bool ipv6, enum rte_flow_item_type l4)
{
	add_item(r, RTE_FLOW_ITEM_TYPE_ETH, NULL, NULL);
	add_item(r, ipv6 ? RTE_FLOW_ITEM_TYPE_IPV6 : RTE_FLOW_ITEM_TYPE_IPV4,
		 NULL, NULL);
	if (l4 != RTE_FLOW_ITEM_TYPE_END)
		add_item(r, l4, NULL, NULL);
}

/* eth / ipv4 or ipv6 / tcp with this source or destination port. */
static void
match_tcp_port(struct rule *r, bool ipv6, bool dst, uint16_t port)
{
	match_l3_l4(r, ipv6, RTE_FLOW_ITEM_TYPE_END);
	if (dst)
		r->tcp.hdr.dst_port = rte_cpu_to_be_16(port);
	else
		r->tcp.hdr.src_port = rte_cpu_to_be_16(port);
	add_item(r, RTE_FLOW_ITEM_TYPE_TCP, &r->tcp,
		 dst ? &tcp_dst_mask : &tcp_src_mask);
}

/* Destroy the rules of @p ps from index @p first on, newest first. */
static void
remove_from(struct port_state *ps, unsigned int first)
{
	struct rte_flow_error error;

	while (ps->nb_rules > first) {
		struct installed *in = &ps->rule[--ps->nb_rules];

		memset(&error, 0, sizeof(error));
		/* Nothing to do on failure: the PMD keeps what it keeps
		 * until the port is closed. */
		rte_flow_destroy(in->port_id, in->flow, &error);
		in->flow = NULL;
	}
}

/*
 * Validate every rule, then create them all. All or nothing: on a
 * failure, what this call created is destroyed and @p why says what the
 * PMD said. Validation alone is not trusted, since some PMDs check more
 * on creation (TAP checks the RSS function only then).
 */
static int
install(struct setup *s, struct rule *rules, unsigned int n,
	const char *what, char *why, size_t whylen)
{
	struct port_state *ps = s->ps;
	const unsigned int first = ps->nb_rules;
	struct rte_flow_error error;
	unsigned int i;
	int ret;

	RTE_VERIFY(first + n <= MAX_RULES);
	for (i = 0; i < n; i++) {
		memset(&error, 0, sizeof(error));
		ret = rte_flow_validate(rules[i].port_id, &rules[i].attr,
					rules[i].item, rules[i].action, &error);
		if (ret != 0) {
			refusal(s, what, ret, &error, why, whylen);
			return ret;
		}
	}
	for (i = 0; i < n; i++) {
		struct rte_flow *flow;

		memset(&error, 0, sizeof(error));
		rte_errno = 0;
		flow = rte_flow_create(rules[i].port_id, &rules[i].attr,
				       rules[i].item, rules[i].action, &error);
		if (flow == NULL) {
			ret = rte_errno != 0 ? -rte_errno : -EIO;
			refusal(s, what, ret, &error, why, whylen);
			remove_from(ps, first);
			return ret;
		}
		ps->rule[ps->nb_rules].flow = flow;
		ps->rule[ps->nb_rules].port_id = rules[i].port_id;
		ps->nb_rules++;
	}
	return 0;
}

/* The RSS fate over queues 0..nb_queues-1 with hash function @p func and
 * the symmetric 0x6d5a key. */
static void
fate_rss(struct setup *s, enum rte_eth_hash_function func, const char *name)
{
	struct fate *f = &s->fate;
	uint64_t types = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
	unsigned int i;

	/* Hash what the PMD can, as port.c does for the port-level RSS. */
	if ((types & s->info.flow_type_rss_offloads) != 0)
		types &= s->info.flow_type_rss_offloads;
	st_offload_symmetric_key(f->key, RSS_KEY_MAX);
	for (i = 0; i < s->conf->nb_queues; i++)
		f->queues[i] = (uint16_t)i;
	memset(&f->rss, 0, sizeof(f->rss));
	f->rss.func = func;
	f->rss.level = 0;
	f->rss.types = types;
	f->rss.key = f->key;
	f->rss.key_len = s->info.hash_key_size > 0 &&
				 s->info.hash_key_size <= RSS_KEY_MAX ?
			 s->info.hash_key_size : DEFAULT_RSS_KEY_LEN;
	f->rss.queue = f->queues;
	f->rss.queue_num = s->conf->nb_queues;
	f->type = RTE_FLOW_ACTION_TYPE_RSS;
	f->name = name;
}

/*
 * rss: eth / ipv4 and eth / ipv6, spread symmetrically. Also picks the
 * fate the other rules use: this RSS, or queue 0 when there is one queue,
 * or none.
 */
static void
setup_rss(struct setup *s)
{
	static const struct {
		enum rte_eth_hash_function func;
		const char *name;
	} funcs[] = {
		{ RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ,
		  "RSS symmetric_toeplitz" },
		{ RTE_ETH_HASH_FUNCTION_TOEPLITZ, "RSS toeplitz/0x6d5a" },
	};
	struct rule rules[2];
	char why[WHY_MAX] = "";
	unsigned int i;

	if (s->conf->nb_queues == 1) {
		s->fate.type = RTE_FLOW_ACTION_TYPE_QUEUE;
		s->fate.queue.index = 0;
		s->fate.name = "QUEUE 0";
		note(s, "rss: not needed (1 RX queue)");
		return;
	}
	for (i = 0; i < RTE_DIM(funcs); i++) {
		fate_rss(s, funcs[i].func, funcs[i].name);
		match_l3_l4(rule_init(&rules[0], s->port_id, PRIO_SPREAD),
			    false, RTE_FLOW_ITEM_TYPE_END);
		add_fate(&rules[0], &s->fate);
		match_l3_l4(rule_init(&rules[1], s->port_id, PRIO_SPREAD),
			    true, RTE_FLOW_ITEM_TYPE_END);
		add_fate(&rules[1], &s->fate);
		/* The last refusal is kept: plain Toeplitz is the common
		 * case, so its reason is the telling one. */
		if (install(s, rules, RTE_DIM(rules), funcs[i].name, why,
			    sizeof(why)) == 0) {
			s->status->rss = true;
			note(s, "rss: hardware (%s, %u queues)",
			     funcs[i].name + 4, s->conf->nb_queues);
			return;
		}
	}
	s->fate.type = RTE_FLOW_ACTION_TYPE_END;
	note(s, "rss: software (%s)", why);
}

/* The prefilter's rules into @p rules; returns how many. */
static unsigned int
prefilter_rules(struct setup *s, struct rule *rules)
{
	const struct st_offload_conf *c = s->conf;
	unsigned int n = 0, i;
	int ipv6, dst;

	for (ipv6 = 0; ipv6 <= 1; ipv6++) {
		for (i = 0; i < c->nb_http_ports; i++)
			for (dst = 0; dst <= 1; dst++) {
				struct rule *r = rule_init(&rules[n++],
							   s->port_id,
							   PRIO_HTTP);

				match_tcp_port(r, ipv6, dst, c->http_ports[i]);
				add_fate(r, &s->fate);
			}
		/* Without a port list every TCP port may carry HTTP: TCP
		 * matches no rule here and is left unmarked. */
		if (c->nb_http_ports > 0) {
			struct rule *r = rule_init(&rules[n++], s->port_id,
						   PRIO_MARK);

			match_l3_l4(r, ipv6, RTE_FLOW_ITEM_TYPE_TCP);
			add_action(r, RTE_FLOW_ACTION_TYPE_MARK, &bypass_mark);
			add_fate(r, &s->fate);
		}
		match_l3_l4(rule_init(&rules[n], s->port_id, PRIO_MARK),
			    ipv6, RTE_FLOW_ITEM_TYPE_UDP);
		add_action(&rules[n], RTE_FLOW_ACTION_TYPE_MARK, &bypass_mark);
		add_fate(&rules[n++], &s->fate);
	}
	return n;
}

/* Without a fate for marked packets, still say whether MARK itself
 * validates (with QUEUE 0): it tells what else the NIC lacks. */
static void
probe_mark(struct setup *s, char *why, size_t whylen)
{
	const struct rte_flow_action_queue queue0 = { .index = 0 };
	struct rte_flow_error error;
	struct rule probe;
	int ret;

	match_l3_l4(rule_init(&probe, s->port_id, PRIO_MARK), false,
		    RTE_FLOW_ITEM_TYPE_UDP);
	add_action(&probe, RTE_FLOW_ACTION_TYPE_MARK, &bypass_mark);
	add_action(&probe, RTE_FLOW_ACTION_TYPE_QUEUE, &queue0);
	memset(&error, 0, sizeof(error));
	ret = rte_flow_validate(s->port_id, &probe.attr, probe.item,
				probe.action, &error);
	if (ret != 0)
		refusal(s, "MARK", ret, &error, why, whylen);
	else
		snprintf(why, whylen, "MARK validates");
}

/* prefilter: marks on what no route can select. */
static int
setup_prefilter(struct setup *s)
{
	char why[WHY_MAX] = "";
	struct rule *rules;
	unsigned int n;

	if (!s->conf->prefilter)
		return 0;
	if (s->ps->marks_refused) {
		note(s, "prefilter: software (%s cannot deliver flow marks: "
		     "rte_eth_rx_metadata_negotiate)", s->info.driver_name);
		return 0;
	}
	if (s->fate.type == RTE_FLOW_ACTION_TYPE_END) {
		probe_mark(s, why, sizeof(why));
		note(s, "prefilter: software (marked packets need the rss "
		     "rule to spread over %u queues; %s)", s->conf->nb_queues,
		     why);
		return 0;
	}
	rules = calloc(MAX_RULES, sizeof(*rules));
	if (rules == NULL)
		return -ENOMEM;
	n = prefilter_rules(s, rules);
	if (install(s, rules, n, "MARK", why, sizeof(why)) == 0) {
		s->status->prefilter = true;
		note(s, "prefilter: hardware (%u rules, %s)", n,
		     s->fate.name);
	} else {
		note(s, "prefilter: software (%s)", why);
	}
	free(rules);
	return 0;
}

/* SAMPLE ratio 1 (every packet) copied out of @p shadow, named by
 * REPRESENTED_PORT or, for older PMDs, PORT_ID. */
static void
add_sample(struct rule *r, uint16_t shadow, bool by_port_id)
{
	if (by_port_id) {
		r->copy_to_id.id = shadow;
		r->copy[0].type = RTE_FLOW_ACTION_TYPE_PORT_ID;
		r->copy[0].conf = &r->copy_to_id;
	} else {
		r->copy_to.port_id = shadow;
		r->copy[0].type = RTE_FLOW_ACTION_TYPE_REPRESENTED_PORT;
		r->copy[0].conf = &r->copy_to;
	}
	r->sample.ratio = 1;
	r->sample.actions = r->copy;
	add_action(r, RTE_FLOW_ACTION_TYPE_SAMPLE, &r->sample);
}

/* The mirroring rule in one of its forms (see setup_sample()). */
static bool
sample_rule(struct setup *s, unsigned int form, struct rule *r)
{
	struct rte_flow_error error;
	uint16_t proxy;

	if (form < 2) {
		rule_init(r, s->port_id, PRIO_SAMPLE);
		add_item(r, RTE_FLOW_ITEM_TYPE_ETH, NULL, NULL);
		add_sample(r, s->conf->sample_port, form == 1);
		if (s->fate.type != RTE_FLOW_ACTION_TYPE_END)
			add_fate(r, &s->fate);
		else	/* then on to the port's own RSS */
			add_action(r, RTE_FLOW_ACTION_TYPE_PASSTHRU, NULL);
		return true;
	}
	/* In the switch (transfer) domain, on the port's proxy: what comes
	 * in from the wire of this port is copied out of the shadow's and
	 * delivered to this ethdev as usual. */
	memset(&error, 0, sizeof(error));
	if (rte_flow_pick_transfer_proxy(s->port_id, &proxy, &error) != 0)
		return false;
	rule_init(r, proxy, 0);
	r->attr.ingress = 0;
	r->attr.transfer = 1;
	r->from.port_id = s->port_id;
	add_item(r, RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT, &r->from, NULL);
	add_item(r, RTE_FLOW_ITEM_TYPE_ETH, NULL, NULL);
	add_sample(r, s->conf->sample_port, false);
	r->deliver_to.port_id = s->port_id;
	add_action(r, RTE_FLOW_ACTION_TYPE_PORT_REPRESENTOR, &r->deliver_to);
	return true;
}

/* sample: every packet copied to the shadow port by the NIC. */
static void
setup_sample(struct setup *s)
{
	static const char *const forms[] = {
		"SAMPLE ratio 1 to REPRESENTED_PORT",
		"SAMPLE ratio 1 to PORT_ID",
		"transfer SAMPLE ratio 1 to REPRESENTED_PORT",
	};
	char why[WHY_MAX] = "", first_why[WHY_MAX] = "";
	struct rule r;
	unsigned int form;

	if (s->conf->sample_port == ST_OFFLOAD_NO_SAMPLE)
		return;
	for (form = 0; form < RTE_DIM(forms); form++) {
		if (!sample_rule(s, form, &r))
			continue;
		if (install(s, &r, 1, forms[form], why, sizeof(why)) == 0) {
			s->status->sample = true;
			note(s, "sample: hardware (%s %u)", forms[form],
			     s->conf->sample_port);
			return;
		}
		/* The first form is today's API: its refusal says most. */
		if (form == 0)
			snprintf(first_why, sizeof(first_why), "%s", why);
	}
	note(s, "sample: software (%s)", first_why);
}

static int
check_conf(uint16_t port_id, const struct st_offload_conf *c,
	   const struct rte_eth_dev_info *info, char *err, size_t errlen)
{
	unsigned int i, j;

	if (info->nb_rx_queues == 0) {
		snprintf(err, errlen, "port %u: offload set-up before the "
			 "port is configured", port_id);
		return -EINVAL;
	}
	if (c->nb_queues == 0 || c->nb_queues > info->nb_rx_queues) {
		snprintf(err, errlen, "port %u: offload over %u RX queues, "
			 "but the port has %u", port_id, c->nb_queues,
			 info->nb_rx_queues);
		return -EINVAL;
	}
	if (c->nb_http_ports > ST_OFFLOAD_MAX_HTTP_PORTS ||
	    (c->nb_http_ports > 0 && c->http_ports == NULL)) {
		snprintf(err, errlen, "port %u: %u HTTP ports for the "
			 "prefilter; at most %u", port_id, c->nb_http_ports,
			 ST_OFFLOAD_MAX_HTTP_PORTS);
		return -EINVAL;
	}
	for (i = 0; i < c->nb_http_ports; i++) {
		if (c->http_ports[i] == 0) {
			snprintf(err, errlen, "port %u: HTTP port 0 for the "
				 "prefilter", port_id);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (c->http_ports[j] == c->http_ports[i]) {
				snprintf(err, errlen, "port %u: HTTP port %u "
					 "given twice", port_id,
					 c->http_ports[i]);
				return -EINVAL;
			}
	}
	if (c->sample_port == ST_OFFLOAD_NO_SAMPLE)
		return 0;
	if (!rte_eth_dev_is_valid_port(c->sample_port)) {
		snprintf(err, errlen, "port %u: no shadow port %u to mirror "
			 "to", port_id, c->sample_port);
		return -ENODEV;
	}
	if (c->sample_port == port_id || c->prefilter) {
		snprintf(err, errlen, "port %u: hardware mirroring %s",
			 port_id, c->prefilter ?
				 "copies every flow, a prefilter means routes" :
				 "to the port itself");
		return -EINVAL;
	}
	return 0;
}

int
st_offload_prepare(uint16_t port_id)
{
	uint64_t features = RTE_ETH_RX_METADATA_USER_MARK;
	int ret;

	if (!rte_eth_dev_is_valid_port(port_id))
		return -ENODEV;
	ret = rte_eth_rx_metadata_negotiate(port_id, &features);
	/* -ENOTSUP: the PMD has nothing to negotiate; marks need nothing. */
	if (ret == -ENOTSUP)
		return 0;
	if (ret != 0)
		return ret;
	ports[port_id].marks_refused =
		(features & RTE_ETH_RX_METADATA_USER_MARK) == 0;
	return 0;
}

int
st_offload_setup(uint16_t port_id, const struct st_offload_conf *conf,
		 struct st_offload_status *status, char *err, size_t errlen)
{
	struct setup *s;
	int ret;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		snprintf(err, errlen, "offload: no port %u", port_id);
		return -ENODEV;
	}
	if (ports[port_id].set_up) {
		snprintf(err, errlen, "port %u: offload rules already set up",
			 port_id);
		return -EBUSY;
	}
	/* The fate's queue list is big: not on the stack. */
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "port %u: out of memory", port_id);
		return -ENOMEM;
	}
	ret = rte_eth_dev_info_get(port_id, &s->info);
	if (ret != 0) {
		snprintf(err, errlen, "port %u: no device info: %s", port_id,
			 strerror(-ret));
		goto out;
	}
	ret = check_conf(port_id, conf, &s->info, err, errlen);
	if (ret != 0)
		goto out;
	memset(status, 0, sizeof(*status));
	s->port_id = port_id;
	s->conf = conf;
	s->ps = &ports[port_id];
	s->status = status;
	setup_rss(s);
	ret = setup_prefilter(s);
	if (ret == 0)
		setup_sample(s);
	if (ret != 0) {
		remove_from(s->ps, 0);
		memset(status, 0, sizeof(*status));
		snprintf(err, errlen, "port %u: offload set-up: %s", port_id,
			 strerror(-ret));
		goto out;
	}
	s->ps->set_up = true;
out:
	free(s);
	return ret;
}

void
st_offload_teardown(uint16_t port_id)
{
	struct port_state *ps;

	if (port_id >= RTE_MAX_ETHPORTS)
		return;
	ps = &ports[port_id];
	remove_from(ps, 0);
	ps->set_up = false;
}
