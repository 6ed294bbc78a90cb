/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_OFFLOAD_H
#define ST_OFFLOAD_H

/*
 * What a wire port's NIC can do for shadowtap through rte_flow, found at
 * start-up by asking it (rte_flow_validate, then rte_flow_create). What it
 * cannot do stays in software exactly as without this module, so a refusal
 * is never an error: st_offload_status says what is where, and why.
 *
 * rss        Symmetric RSS of IPv4 and IPv6 by flow rules, spread over the
 *            port's RX queues: the NIC's symmetric Toeplitz, or Toeplitz
 *            with the repeated 0x6d5a key, so both directions of a
 *            connection reach the same worker whatever the port-level RSS
 *            configuration does once flow rules exist. Only these two are
 *            accepted: a PMD's "default" function may ignore the key (the
 *            TAP PMD does) and would split connections. Not needed, and
 *            not set up, with one RX queue.
 *
 * prefilter  Packets no route can select carry the mark
 *            ST_OFFLOAD_MARK_BYPASS (st_offload_bypass()): UDP, and TCP
 *            whose source and destination ports are both outside
 *            conf->http_ports. Only what the NIC positively recognises is
 *            marked: a packet its parser cannot see into (an IPv6 extension
 *            header it does not know, a tunnel, ICMP, non-IP) is not
 *            marked and takes the software path, which is always right.
 *            So a mark means "no route can select this", never the
 *            reverse. Marked packets keep their RSS spread (or go to
 *            queue 0 when there is only one queue).
 *
 * sample     Hardware mirroring: a SAMPLE action copying every packet
 *            arriving on the port to the shadow port, next to the normal
 *            delivery. rte_flow samples 1 packet in `ratio`, each packet
 *            drawn on its own; shadowtap's percents pick whole flows (every
 *            packet of both directions, by the flow's hash) so that a
 *            shadow sees complete connections: a packet-sampled TCP stream
 *            is of no use to it. The two agree only at ratio 1, all
 *            packets of all flows, which is what a mirror does that takes
 *            100% of flows when there are no routes (routes depend on HTTP
 *            content the NIC cannot read). So this module only ever asks
 *            for ratio 1, and the caller asks only in that case, for a
 *            mirror without `truncate` or `encap` (the NIC copies frames
 *            as they are) and only on both wire ports. Hardware copies
 *            bypass the workers: the mirror's software counters do not
 *            see them.
 *
 * Order of use, per wire port, from the control thread:
 *   st_offload_prepare()   before rte_eth_dev_configure()
 *   rte_eth_dev_configure(), queue set-up, rte_eth_dev_start()
 *   st_offload_setup()     after start (PMDs without
 *                          RTE_ETH_DEV_CAPA_FLOW_RULE_KEEP, TAP among
 *                          them, take rules only on a started port)
 *   ... forwarding ...
 *   st_offload_teardown()  before rte_eth_dev_stop() (the same PMDs do
 *                          not remove rules on stop)
 *
 * Nothing here is thread-safe: one control thread calls it all.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

/* The mark on packets no route can select ("ST"). */
#define ST_OFFLOAD_MARK_BYPASS 0x5354
/* TCP ports a prefilter can list: 4 rules each. */
#define ST_OFFLOAD_MAX_HTTP_PORTS 16
/* conf->sample_port when no hardware mirroring is wanted. */
#define ST_OFFLOAD_NO_SAMPLE UINT16_MAX
#define ST_OFFLOAD_DETAIL_MAX 512

/* What the NIC's flow engine does for a wire port. */
struct st_offload_status {
	bool rss;	/* symmetric RSS by flow rules */
	bool prefilter;	/* unroutable packets marked ST_OFFLOAD_MARK_BYPASS */
	bool sample;	/* every packet copied to the shadow port by the NIC */
	/* One clause per feature asked for, "; "-separated, saying where it
	 * runs and, when in software, the PMD's own reason, e.g.
	 * "rss: software (net_tap refused RSS toeplitz/0x6d5a: non-default
	 * RSS hash functions are not supported)". */
	char detail[ST_OFFLOAD_DETAIL_MAX];
};

/* What is wanted on a wire port. */
struct st_offload_conf {
	uint16_t nb_queues;	/* RX queues 0..nb_queues-1 to spread over */
	bool prefilter;		/* wanted: routes exist and no mirror takes
				 * flows no route claims */
	/* The only TCP ports routes can see (HTTP servers), both directions;
	 * 0 ports: any TCP port may carry HTTP, only UDP is marked. */
	const uint16_t *http_ports;
	unsigned int nb_http_ports;
	/* Shadow port for hardware mirroring of everything arriving here,
	 * or ST_OFFLOAD_NO_SAMPLE. Not with a prefilter: one wants routes,
	 * the other none. */
	uint16_t sample_port;
};

/**
 * Ask the PMD to deliver flow marks to the application. Must run before
 * the port's first rte_eth_dev_configure(); the outcome is remembered for
 * st_offload_setup(), which does not try to mark when the PMD said no. Not
 * calling it is allowed: marks are then tried anyway.
 *
 * @return 0 (also when the PMD has no negotiation, which means marks need
 *         none), -ENODEV for a bad port, -EBUSY when called too late
 */
int st_offload_prepare(uint16_t port_id);

/**
 * Find out what the port's flow engine can do and set up the rules that
 * work. Each feature is all or nothing: every rule it needs validated and
 * created, or none left behind. The port must be configured, with at least
 * @p conf->nb_queues RX queues, and (see above) started.
 *
 * @param port_id  a wire port
 * @param conf     what is wanted
 * @param status   filled in on success: what runs in hardware, and why
 *                 the rest does not
 * @return 0 whether the work went to hardware or stays in software;
 *         -ENODEV (bad port), -EINVAL (bad @p conf), -EBUSY (already set
 *         up; tear down first) with @p err saying why
 */
int st_offload_setup(uint16_t port_id, const struct st_offload_conf *conf,
		     struct st_offload_status *status, char *err,
		     size_t errlen);

/**
 * Destroy every rule st_offload_setup() created on the port (none: no-op).
 * Before rte_eth_dev_stop() and close.
 */
void st_offload_teardown(uint16_t port_id);

/**
 * Fill @p key with the Toeplitz key of repeated 0x6d5a. It repeats every
 * 16 bits, so an input bit and the one 16 bits on add the same word: the
 * hash depends on the XOR of the tuple's 16-bit words alone, and swapping
 * source and destination keeps it. Both directions of a connection reach
 * the same queue; the hash is a poor one (docs/flows.md), for spreading
 * only. @p len is even.
 */
static inline void
st_offload_symmetric_key(uint8_t *key, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 2) {
		key[i] = 0x6d;
		key[i + 1] = 0x5a;
	}
}

/**
 * Whether a received packet carries the prefilter's mark: no route can
 * select its flow. It says nothing of a mirror's own percent, which can
 * change at run time: a packet may skip classification on this mark only
 * while the running policy copies no flow that no route claims.
 * Hot path; thread-safe.
 */
static inline bool
st_offload_bypass(const struct rte_mbuf *m)
{
	return (m->ol_flags & RTE_MBUF_F_RX_FDIR_ID) != 0 &&
	       m->hash.fdir.hi == ST_OFFLOAD_MARK_BYPASS;
}

#endif
