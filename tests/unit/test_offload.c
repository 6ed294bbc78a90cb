/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rte_flow offload (dataplane/offload.c), three ways:
 *
 * - on a stand-in flow engine, for the rules it creates and what they do
 *   to packets: the linker's --wrap sends rte_flow_* calls for one net_null
 *   port here, where they are checked, recorded, and applied to frames the
 *   way a NIC would (the highest-priority matching rule wins), so a frame
 *   is shown marked or not through st_offload_bypass();
 * - on PMDs without a flow API (net_pcap, net_null, net_ring): everything
 *   stays in software, the status says why, and set-up succeeds;
 * - on the TAP PMD, which implements rte_flow with Linux TC: its real
 *   answers, and frames sent into its kernel interface read back through
 *   rte_eth_rx_burst(). Skipped, saying why, when the TAP port cannot be
 *   created (no /dev/net/tun, no CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "eal_fixture.h"
#include "offload.h"
#include "parse.h"

#define ENGINE_QUEUES 4
#define NULL_QUEUES 4
#define TAP_QUEUES 2
#define TAP_NAME "net_tap0"
#define TAP_IFACE "sttap0"
#define MAX_FAKE_RULES 128
#define FRAME_MAX 128

static struct rte_mempool *pool;
static uint16_t engine_port, null_port, ring_port, pcap_port, shadow_port;
static char pcap_path[64];

/* ---- the stand-in flow engine ---------------------------------------- */

struct fake_rule {
	bool live;
	bool transfer;
	uint32_t priority;
	int family;		/* 0 (any), 4 or 6 */
	uint8_t proto;		/* 0 (any), IPPROTO_TCP or IPPROTO_UDP */
	int port_field;		/* 0: none; 1: source; 2: destination */
	uint16_t port;
	bool mark;
	uint32_t mark_id;
	enum rte_flow_action_type fate;
	bool sample;
	uint16_t sample_to;
};

static struct {
	uint64_t actions_ok;	/* bit (1 << type) per action accepted */
	uint32_t funcs_ok;	/* bit per RSS hash function accepted */
	uint32_t max_priority;
	bool transfer_ok;
	bool marks_refused;	/* what rx_metadata_negotiate answers */
	unsigned int fail_create_at;	/* the Nth create fails; 0: none */
	unsigned int creates;
	struct fake_rule rule[MAX_FAKE_RULES];
} fake;

#define ACT(t) (UINT64_C(1) << RTE_FLOW_ACTION_TYPE_##t)
#define EVERY_ACTION                                                       \
	(ACT(MARK) | ACT(RSS) | ACT(QUEUE) | ACT(PASSTHRU) | ACT(SAMPLE) |  \
	 ACT(REPRESENTED_PORT) | ACT(PORT_ID) | ACT(PORT_REPRESENTOR))

int __real_rte_flow_validate(uint16_t port_id,
			     const struct rte_flow_attr *attr,
			     const struct rte_flow_item pattern[],
			     const struct rte_flow_action actions[],
			     struct rte_flow_error *error);
struct rte_flow *__real_rte_flow_create(uint16_t port_id,
					const struct rte_flow_attr *attr,
					const struct rte_flow_item pattern[],
					const struct rte_flow_action actions[],
					struct rte_flow_error *error);
int __real_rte_flow_destroy(uint16_t port_id, struct rte_flow *flow,
			    struct rte_flow_error *error);
int __real_rte_flow_pick_transfer_proxy(uint16_t port_id,
					uint16_t *proxy_port_id,
					struct rte_flow_error *error);
int __real_rte_eth_rx_metadata_negotiate(uint16_t port_id,
					 uint64_t *features);

static void
fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.actions_ok = EVERY_ACTION;
	fake.funcs_ok = 1u << RTE_ETH_HASH_FUNCTION_TOEPLITZ;
	fake.max_priority = 2;
}

static unsigned int
fake_live(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAX_FAKE_RULES; i++)
		n += fake.rule[i].live;
	return n;
}

static int
refuse(struct rte_flow_error *error, enum rte_flow_error_type type,
       const void *cause, const char *why)
{
	return rte_flow_error_set(error, ENOTSUP, type, cause, why);
}

/* The only spreading that keeps connections on one worker: symmetric
 * Toeplitz, or Toeplitz with a 0x6d5a key, over every engine queue. */
static int
check_rss(const struct rte_flow_action *a, struct rte_flow_error *error)
{
	const struct rte_flow_action_rss *rss = a->conf;
	unsigned int i;

	if (!(fake.funcs_ok & (1u << rss->func)))
		return refuse(error, RTE_FLOW_ERROR_TYPE_ACTION_CONF, a,
			      "fake: hash function not supported");
	assert_true(rss->func == RTE_ETH_HASH_FUNCTION_TOEPLITZ ||
		    rss->func == RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ);
	assert_int_equal(rss->level, 0);
	assert_true(rss->key_len >= 40);
	for (i = 0; i < rss->key_len; i++)
		assert_int_equal(rss->key[i], i % 2 ? 0x5a : 0x6d);
	assert_true(rss->types & RTE_ETH_RSS_IP);
	assert_int_equal(rss->queue_num, ENGINE_QUEUES);
	for (i = 0; i < rss->queue_num; i++)
		assert_int_equal(rss->queue[i], i);
	return 0;
}

static int
parse_items(const struct rte_flow_item *item, struct fake_rule *r,
	    struct rte_flow_error *error)
{
	if (r->transfer) {
		const struct rte_flow_item_ethdev *from = item->spec;

		if (item->type != RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT)
			return refuse(error, RTE_FLOW_ERROR_TYPE_ITEM, item,
				      "fake: transfer rules match a port");
		assert_int_equal(from->port_id, engine_port);
		item++;
	}
	if (item->type != RTE_FLOW_ITEM_TYPE_ETH)
		return refuse(error, RTE_FLOW_ERROR_TYPE_ITEM, item,
			      "fake: eth first");
	assert_null(item->spec);
	for (item++; item->type != RTE_FLOW_ITEM_TYPE_END; item++) {
		const struct rte_flow_item_tcp *spec = item->spec;
		const struct rte_flow_item_tcp *mask = item->mask;

		switch (item->type) {
		case RTE_FLOW_ITEM_TYPE_IPV4:
		case RTE_FLOW_ITEM_TYPE_IPV6:
			assert_int_equal(r->family, 0);
			assert_null(item->spec);
			r->family = item->type == RTE_FLOW_ITEM_TYPE_IPV4 ? 4 :
									    6;
			break;
		case RTE_FLOW_ITEM_TYPE_UDP:
			assert_int_not_equal(r->family, 0);
			assert_null(item->spec);
			r->proto = IPPROTO_UDP;
			break;
		case RTE_FLOW_ITEM_TYPE_TCP:
			assert_int_not_equal(r->family, 0);
			r->proto = IPPROTO_TCP;
			if (spec == NULL)
				break;
			/* One port, fully masked, nothing else. */
			assert_non_null(mask);
			assert_int_equal(mask->hdr.src_port ^ mask->hdr.dst_port,
					 0xffff);
			r->port_field = mask->hdr.src_port ? 1 : 2;
			r->port = rte_be_to_cpu_16(r->port_field == 1 ?
							   spec->hdr.src_port :
							   spec->hdr.dst_port);
			break;
		default:
			return refuse(error, RTE_FLOW_ERROR_TYPE_ITEM, item,
				      "fake: item not supported");
		}
	}
	return 0;
}

static int
parse_sample(const struct rte_flow_action *a, struct fake_rule *r,
	     struct rte_flow_error *error)
{
	const struct rte_flow_action_sample *sample = a->conf;
	const struct rte_flow_action *copy = sample->actions;

	assert_int_equal(sample->ratio, 1);
	if (!(fake.actions_ok & (UINT64_C(1) << copy->type)))
		return refuse(error, RTE_FLOW_ERROR_TYPE_ACTION, copy,
			      "fake: sample action not supported");
	if (copy->type == RTE_FLOW_ACTION_TYPE_PORT_ID)
		r->sample_to = (uint16_t)((const struct
					   rte_flow_action_port_id *)
						  copy->conf)->id;
	else if (copy->type == RTE_FLOW_ACTION_TYPE_REPRESENTED_PORT)
		r->sample_to = ((const struct rte_flow_action_ethdev *)
					copy->conf)->port_id;
	else
		fail_msg("sample copies to action %d", copy->type);
	assert_int_equal(copy[1].type, RTE_FLOW_ACTION_TYPE_END);
	r->sample = true;
	return 0;
}

static int
parse_actions(const struct rte_flow_action *a, struct fake_rule *r,
	      struct rte_flow_error *error)
{
	int ret;

	r->fate = RTE_FLOW_ACTION_TYPE_END;
	for (; a->type != RTE_FLOW_ACTION_TYPE_END; a++) {
		if (!(fake.actions_ok & (UINT64_C(1) << a->type)))
			return refuse(error, RTE_FLOW_ERROR_TYPE_ACTION, a,
				      "fake: action not supported");
		switch (a->type) {
		case RTE_FLOW_ACTION_TYPE_MARK:
			r->mark = true;
			r->mark_id =
				((const struct rte_flow_action_mark *)a->conf)
					->id;
			continue;
		case RTE_FLOW_ACTION_TYPE_SAMPLE:
			ret = parse_sample(a, r, error);
			if (ret != 0)
				return ret;
			continue;
		case RTE_FLOW_ACTION_TYPE_RSS:
			ret = check_rss(a, error);
			if (ret != 0)
				return ret;
			break;
		case RTE_FLOW_ACTION_TYPE_QUEUE:
			assert_int_equal(((const struct rte_flow_action_queue *)
						  a->conf)->index, 0);
			break;
		case RTE_FLOW_ACTION_TYPE_PORT_REPRESENTOR:
			assert_int_equal(((const struct rte_flow_action_ethdev *)
						  a->conf)->port_id,
					 engine_port);
			break;
		default:
			break;
		}
		/* Exactly one fate. */
		assert_int_equal(r->fate, RTE_FLOW_ACTION_TYPE_END);
		r->fate = a->type;
	}
	assert_int_not_equal(r->fate, RTE_FLOW_ACTION_TYPE_END);
	return 0;
}

static int
fake_parse(const struct rte_flow_attr *attr,
	   const struct rte_flow_item pattern[],
	   const struct rte_flow_action actions[], struct fake_rule *r,
	   struct rte_flow_error *error)
{
	int ret;

	memset(r, 0, sizeof(*r));
	assert_int_equal(attr->group, 0);
	assert_false(attr->egress);
	assert_true(attr->ingress != attr->transfer);
	if (attr->transfer && !fake.transfer_ok)
		return refuse(error, RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER, NULL,
			      "fake: no transfer");
	if (attr->priority > fake.max_priority)
		return refuse(error, RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY, NULL,
			      "fake: priority too big");
	r->transfer = attr->transfer;
	r->priority = attr->priority;
	ret = parse_items(pattern, r, error);
	return ret != 0 ? ret : parse_actions(actions, r, error);
}

int
__wrap_rte_flow_validate(uint16_t port_id, const struct rte_flow_attr *attr,
			 const struct rte_flow_item pattern[],
			 const struct rte_flow_action actions[],
			 struct rte_flow_error *error)
{
	struct fake_rule r;

	if (port_id != engine_port)
		return __real_rte_flow_validate(port_id, attr, pattern,
						actions, error);
	return fake_parse(attr, pattern, actions, &r, error);
}

struct rte_flow *
__wrap_rte_flow_create(uint16_t port_id, const struct rte_flow_attr *attr,
		       const struct rte_flow_item pattern[],
		       const struct rte_flow_action actions[],
		       struct rte_flow_error *error)
{
	struct fake_rule r;
	unsigned int i;

	if (port_id != engine_port)
		return __real_rte_flow_create(port_id, attr, pattern, actions,
					      error);
	if (fake_parse(attr, pattern, actions, &r, error) != 0)
		return NULL;
	if (++fake.creates == fake.fail_create_at) {
		rte_flow_error_set(error, ENOSPC, RTE_FLOW_ERROR_TYPE_HANDLE,
				   NULL, "fake: rule table full");
		return NULL;
	}
	for (i = 0; i < MAX_FAKE_RULES && fake.rule[i].live; i++)
		;
	assert_true(i < MAX_FAKE_RULES);
	fake.rule[i] = r;
	fake.rule[i].live = true;
	return (struct rte_flow *)(uintptr_t)(i + 1);
}

int
__wrap_rte_flow_destroy(uint16_t port_id, struct rte_flow *flow,
			struct rte_flow_error *error)
{
	uintptr_t i = (uintptr_t)flow - 1;

	if (port_id != engine_port)
		return __real_rte_flow_destroy(port_id, flow, error);
	assert_true(i < MAX_FAKE_RULES && fake.rule[i].live);
	fake.rule[i].live = false;
	return 0;
}

int
__wrap_rte_flow_pick_transfer_proxy(uint16_t port_id, uint16_t *proxy,
				    struct rte_flow_error *error)
{
	if (port_id != engine_port)
		return __real_rte_flow_pick_transfer_proxy(port_id, proxy,
							   error);
	*proxy = port_id;
	return 0;
}

int
__wrap_rte_eth_rx_metadata_negotiate(uint16_t port_id, uint64_t *features)
{
	if (port_id != engine_port)
		return __real_rte_eth_rx_metadata_negotiate(port_id, features);
	if (fake.marks_refused)
		*features = 0;
	return 0;
}

static bool
fake_matches(const struct fake_rule *r, const uint8_t *frame,
	     const struct st_pkt_info *info)
{
	const uint8_t *l4 = frame + info->l4_off;
	uint16_t sport, dport;

	if (r->family != 0 &&
	    (info->l3_off == 0 || frame[info->l3_off] >> 4 != r->family))
		return false;
	if (r->proto != 0 && (info->l4_off == 0 || info->l4_proto != r->proto))
		return false;
	if (r->port_field == 0)
		return true;
	sport = (uint16_t)(l4[0] << 8 | l4[1]);
	dport = (uint16_t)(l4[2] << 8 | l4[3]);
	return (r->port_field == 1 ? sport : dport) == r->port;
}

/*
 * What the NIC does with a received frame: the live ingress rule of the
 * lowest priority number that matches decides (rules of one priority that
 * both match must agree: rte_flow leaves the choice open). Returns that
 * rule, or NULL, and marks the mbuf as a PMD would.
 */
static const struct fake_rule *
fake_receive(struct rte_mbuf *m)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct fake_rule *best = NULL;
	struct st_pkt_info info;
	struct st_flow_key key;
	unsigned int i;

	st_parse(frame, rte_pktmbuf_data_len(m), &info, &key);
	for (i = 0; i < MAX_FAKE_RULES; i++) {
		const struct fake_rule *r = &fake.rule[i];

		if (!r->live || r->transfer || !fake_matches(r, frame, &info))
			continue;
		if (best != NULL && r->priority == best->priority)
			assert_int_equal(r->mark, best->mark);
		if (best == NULL || r->priority < best->priority)
			best = r;
	}
	if (best != NULL && best->mark) {
		m->ol_flags |= RTE_MBUF_F_RX_FDIR | RTE_MBUF_F_RX_FDIR_ID;
		m->hash.fdir.hi = best->mark_id;
	}
	return best;
}

/* ---- frames ------------------------------------------------------------ */

static const uint8_t test_src_mac[6] = { 0x02, 0x53, 0x54, 0, 0, 0x01 };
static const char test_payload[] = "shadowtap offload";

/* Ethernet / IPv4 or IPv6 / TCP, UDP or ICMP (proto) / a payload; or ARP
 * when @p proto is 0. Returns its length. */
static unsigned int
build_frame(uint8_t *buf, bool ipv6, uint8_t proto, uint16_t sport,
	    uint16_t dport)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	unsigned int l4_len, off = sizeof(*eth);
	uint8_t *l4;

	memset(buf, 0, FRAME_MAX);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	memcpy(&eth->src_addr, test_src_mac, RTE_ETHER_ADDR_LEN);
	if (proto == 0) {
		eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
		memcpy(buf + off, test_payload, sizeof(test_payload));
		return 60;
	}
	l4_len = proto == IPPROTO_TCP ? sizeof(struct rte_tcp_hdr) :
					sizeof(struct rte_udp_hdr);
	l4_len += sizeof(test_payload);
	if (ipv6) {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(buf + off);

		eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = RTE_BE32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)l4_len);
		ip->proto = proto;
		ip->hop_limits = 64;
		ip->src_addr[0] = 0xfd;
		ip->src_addr[15] = 1;
		ip->dst_addr[0] = 0xfd;
		ip->dst_addr[15] = 2;
		off += sizeof(*ip);
	} else {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(buf + off);

		eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length =
			rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + l4_len));
		ip->time_to_live = 64;
		ip->next_proto_id = proto;
		ip->src_addr = RTE_BE32(RTE_IPV4(10, 0, 0, 1));
		ip->dst_addr = RTE_BE32(RTE_IPV4(10, 0, 0, 2));
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		off += sizeof(*ip);
	}
	l4 = buf + off;
	if (proto == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;

		tcp->src_port = rte_cpu_to_be_16(sport);
		tcp->dst_port = rte_cpu_to_be_16(dport);
		tcp->data_off = 5 << 4;
		tcp->tcp_flags = RTE_TCP_SYN_FLAG;
		off += sizeof(*tcp);
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;

		/* ICMP is only a type and code here: its bytes as UDP's. */
		udp->src_port = rte_cpu_to_be_16(sport);
		udp->dst_port = rte_cpu_to_be_16(dport);
		udp->dgram_len = rte_cpu_to_be_16((uint16_t)l4_len);
		off += sizeof(*udp);
	}
	memcpy(buf + off, test_payload, sizeof(test_payload));
	off += sizeof(test_payload);
	return RTE_MAX(off, 60u);
}

static struct rte_mbuf *
frame_mbuf(bool ipv6, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t buf[FRAME_MAX];
	unsigned int len = build_frame(buf, ipv6, proto, sport, dport);

	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), buf, len);
	return m;
}

/* Whether the engine's rules leave this frame marked for bypass. */
static bool
engine_marks(bool ipv6, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct rte_mbuf *m = frame_mbuf(ipv6, proto, sport, dport);
	bool marked;

	fake_receive(m);
	marked = st_offload_bypass(m);
	rte_pktmbuf_free(m);
	return marked;
}

/* ---- set-up ------------------------------------------------------------ */

static int
start_port(uint16_t port_id, uint16_t nb_rxq, uint16_t nb_txq)
{
	struct rte_eth_conf conf;
	uint16_t q;
	int ret;

	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_configure(port_id, nb_rxq, nb_txq, &conf);
	for (q = 0; ret == 0 && q < nb_rxq; q++)
		ret = rte_eth_rx_queue_setup(port_id, q, 64, SOCKET_ID_ANY,
					     NULL, pool);
	for (q = 0; ret == 0 && q < nb_txq; q++)
		ret = rte_eth_tx_queue_setup(port_id, q, 64, SOCKET_ID_ANY,
					     NULL);
	return ret == 0 ? rte_eth_dev_start(port_id) : ret;
}

static int
port_by_name(const char *name, uint16_t *port_id)
{
	return rte_eth_dev_get_port_by_name(name, port_id);
}

/* An rx_pcap file with no packet in it. */
static int
write_empty_pcap(const char *path)
{
	static const uint32_t header[6] = { 0xa1b2c3d4, 0x00040002, 0, 0,
					    65535, 1 };
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	fwrite(header, sizeof(header), 1, f);
	return fclose(f);
}

static int
setup(void **state)
{
	static char pcap_vdev[128];
	const char *vdevs[] = { "net_null0", "net_null1", "net_null2",
				"net_ring0", pcap_vdev, NULL };

	(void)state;
	snprintf(pcap_path, sizeof(pcap_path), "/tmp/st_offload_%d.pcap",
		 (int)getpid());
	snprintf(pcap_vdev, sizeof(pcap_vdev),
		 "net_pcap0,rx_pcap=%s,tx_pcap=/dev/null", pcap_path);
	if (write_empty_pcap(pcap_path) != 0 ||
	    st_test_eal_init("offload", vdevs) != 0)
		return -1;
	pool = rte_pktmbuf_pool_create("t_offload", 1024, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL || port_by_name("net_null0", &null_port) != 0 ||
	    port_by_name("net_null1", &engine_port) != 0 ||
	    port_by_name("net_null2", &shadow_port) != 0 ||
	    port_by_name("net_ring0", &ring_port) != 0 ||
	    port_by_name("net_pcap0", &pcap_port) != 0)
		return -1;
	/* Marks are negotiated before configure, as port.c will. */
	if (st_offload_prepare(engine_port) != 0 ||
	    st_offload_prepare(null_port) != 0)
		return -1;
	return start_port(null_port, NULL_QUEUES, 1) ||
	       start_port(engine_port, ENGINE_QUEUES, 1) ||
	       start_port(shadow_port, 1, 1) || start_port(ring_port, 1, 1) ||
	       start_port(pcap_port, 1, 1);
}

static int
teardown(void **state)
{
	uint16_t port_id;

	(void)state;
	RTE_ETH_FOREACH_DEV(port_id) {
		rte_eth_dev_stop(port_id);
		rte_eth_dev_close(port_id);
	}
	rte_mempool_free(pool);
	unlink(pcap_path);
	return st_test_eal_cleanup();
}

static const uint16_t http_ports[] = { 80, 8080 };

static struct st_offload_conf
prefilter_conf(uint16_t nb_queues)
{
	struct st_offload_conf c = {
		.nb_queues = nb_queues,
		.prefilter = true,
		.http_ports = http_ports,
		.nb_http_ports = RTE_DIM(http_ports),
		.sample_port = ST_OFFLOAD_NO_SAMPLE,
	};

	return c;
}

static void
setup_ok(uint16_t port_id, const struct st_offload_conf *c,
	 struct st_offload_status *status)
{
	char err[256] = "";

	assert_int_equal(st_offload_setup(port_id, c, status, err,
					  sizeof(err)), 0);
	print_message("port %u: %s\n", port_id, status->detail);
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", s, part);
}

/* ---- the stand-in engine ----------------------------------------------- */

static void
test_engine_prefilter(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;
	int ipv6;

	(void)state;
	fake_reset();
	setup_ok(engine_port, &c, &st);
	assert_true(st.rss);
	assert_true(st.prefilter);
	assert_false(st.sample);
	/* Symmetric Toeplitz was asked first, refused, then plain. */
	assert_contains(st.detail, "rss: hardware (toeplitz/0x6d5a, 4 queues)");
	assert_contains(st.detail, "prefilter: hardware (12 rules, RSS");
	/* 2 spreading + per family: 2 ports x 2 directions, TCP, UDP. */
	assert_int_equal(fake_live(), 2 + 2 * (2 * 2 + 2));

	for (ipv6 = 0; ipv6 <= 1; ipv6++) {
		/* UDP can never be HTTP: marked, whatever its ports. */
		assert_true(engine_marks(ipv6, IPPROTO_UDP, 5353, 53));
		assert_true(engine_marks(ipv6, IPPROTO_UDP, 1234, 80));
		/* TCP from or to an HTTP port, either direction: not. */
		assert_false(engine_marks(ipv6, IPPROTO_TCP, 40000, 80));
		assert_false(engine_marks(ipv6, IPPROTO_TCP, 80, 40000));
		assert_false(engine_marks(ipv6, IPPROTO_TCP, 40000, 8080));
		assert_false(engine_marks(ipv6, IPPROTO_TCP, 8080, 40000));
		assert_false(engine_marks(ipv6, IPPROTO_TCP, 80, 8080));
		/* Other TCP: marked. */
		assert_true(engine_marks(ipv6, IPPROTO_TCP, 40000, 443));
		assert_true(engine_marks(ipv6, IPPROTO_TCP, 443, 40000));
		assert_true(engine_marks(ipv6, IPPROTO_TCP, 81, 79));
	}
	/* What the NIC does not positively recognise stays unmarked. */
	assert_false(engine_marks(false, IPPROTO_ICMP, 0x0800, 0));
	assert_false(engine_marks(false, 0, 0, 0));

	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_engine_any_tcp_port(void **state)
{
	struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.funcs_ok |= 1u << RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ;
	c.nb_http_ports = 0;
	setup_ok(engine_port, &c, &st);
	assert_true(st.rss && st.prefilter);
	assert_contains(st.detail, "rss: hardware (symmetric_toeplitz");
	assert_int_equal(fake_live(), 2 + 2);
	assert_true(engine_marks(false, IPPROTO_UDP, 1, 2));
	assert_true(engine_marks(true, IPPROTO_UDP, 1, 2));
	assert_false(engine_marks(false, IPPROTO_TCP, 40000, 443));
	assert_false(engine_marks(true, IPPROTO_TCP, 40000, 22));
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_engine_one_queue(void **state)
{
	const struct st_offload_conf c = prefilter_conf(1);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	setup_ok(engine_port, &c, &st);
	assert_false(st.rss);
	assert_true(st.prefilter);
	assert_contains(st.detail, "rss: not needed (1 RX queue)");
	assert_contains(st.detail, "QUEUE 0");
	assert_int_equal(fake_live(), 12);
	assert_true(engine_marks(false, IPPROTO_TCP, 1000, 2000));
	assert_false(engine_marks(false, IPPROTO_TCP, 1000, 80));
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_engine_no_mark(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.actions_ok &= ~ACT(MARK);
	setup_ok(engine_port, &c, &st);
	assert_true(st.rss);
	assert_false(st.prefilter);
	assert_contains(st.detail, "prefilter: software (net_null refused "
				   "MARK: fake: action not supported)");
	assert_int_equal(fake_live(), 2);
	assert_false(engine_marks(false, IPPROTO_UDP, 1, 2));
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_engine_marks_refused(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.marks_refused = true;
	assert_int_equal(st_offload_prepare(engine_port), 0);
	setup_ok(engine_port, &c, &st);
	assert_false(st.prefilter);
	assert_contains(st.detail, "cannot deliver flow marks");
	assert_int_equal(fake_live(), 2);
	st_offload_teardown(engine_port);
	fake.marks_refused = false;
	assert_int_equal(st_offload_prepare(engine_port), 0);
}

/* A rule that validated but could not be created: the feature's rules
 * created before it are removed, the others stay. */
static void
test_engine_rollback(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.fail_create_at = 2 + 5;	/* the 5th prefilter rule */
	setup_ok(engine_port, &c, &st);
	assert_true(st.rss);
	assert_false(st.prefilter);
	assert_contains(st.detail, "fake: rule table full");
	assert_int_equal(fake_live(), 2);
	assert_false(engine_marks(false, IPPROTO_UDP, 1, 2));
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);

	/* The second spreading rule fails: none stays, so none is used. */
	fake_reset();
	fake.fail_create_at = 2;
	setup_ok(engine_port, &c, &st);
	assert_false(st.rss);
	assert_false(st.prefilter);
	assert_contains(st.detail, "rss: software (net_null refused RSS "
				   "toeplitz/0x6d5a: fake: rule table full)");
	assert_contains(st.detail, "MARK validates");
	assert_int_equal(fake_live(), 0);
	st_offload_teardown(engine_port);
}

/* Only a "default" hash function: its key may be ignored, so no. */
static void
test_engine_default_hash_only(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.funcs_ok = 1u << RTE_ETH_HASH_FUNCTION_DEFAULT;
	setup_ok(engine_port, &c, &st);
	assert_false(st.rss);
	assert_false(st.prefilter);
	assert_contains(st.detail, "fake: hash function not supported");
	assert_int_equal(fake_live(), 0);
	st_offload_teardown(engine_port);
}

static void
test_engine_priorities(void **state)
{
	const struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	struct st_offload_status st;

	(void)state;
	fake_reset();
	fake.max_priority = 1;
	setup_ok(engine_port, &c, &st);
	assert_false(st.rss);
	assert_contains(st.detail, "fake: priority too big");
	assert_int_equal(fake_live(), 0);
	st_offload_teardown(engine_port);
}

static void
test_engine_sample(void **state)
{
	struct st_offload_conf c = {
		.nb_queues = ENGINE_QUEUES,
		.sample_port = shadow_port,
	};
	struct st_offload_status st;
	unsigned int i;

	(void)state;
	fake_reset();
	setup_ok(engine_port, &c, &st);
	assert_true(st.rss && st.sample);
	assert_false(st.prefilter);
	assert_contains(st.detail, "SAMPLE ratio 1 to REPRESENTED_PORT");
	assert_int_equal(fake_live(), 3);
	for (i = 0; i < MAX_FAKE_RULES; i++)
		if (fake.rule[i].live && fake.rule[i].sample) {
			assert_int_equal(fake.rule[i].sample_to, shadow_port);
			assert_int_equal(fake.rule[i].fate,
					 RTE_FLOW_ACTION_TYPE_RSS);
			assert_int_equal(fake.rule[i].priority, 0);
		}
	st_offload_teardown(engine_port);

	/* An older PMD: PORT_ID. */
	fake_reset();
	fake.actions_ok &= ~ACT(REPRESENTED_PORT);
	setup_ok(engine_port, &c, &st);
	assert_true(st.sample);
	assert_contains(st.detail, "SAMPLE ratio 1 to PORT_ID");
	st_offload_teardown(engine_port);

	/* No SAMPLE at all: nothing left behind, the first refusal told. */
	fake_reset();
	fake.actions_ok &= ~ACT(SAMPLE);
	setup_ok(engine_port, &c, &st);
	assert_false(st.sample);
	assert_contains(st.detail, "sample: software (net_null refused SAMPLE "
				   "ratio 1 to REPRESENTED_PORT: fake: action "
				   "not supported)");
	assert_int_equal(fake_live(), 2);
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_engine_transfer_sample(void **state)
{
	const struct st_offload_conf c = {
		.nb_queues = ENGINE_QUEUES,
		.sample_port = shadow_port,
	};
	struct st_offload_status st;
	unsigned int i, transfer = 0;

	(void)state;
	fake_reset();
	/* No RSS, QUEUE nor PASSTHRU: no fate an ingress SAMPLE could
	 * take, nor PORT_ID; only the switch domain's form is left. */
	fake.actions_ok = ACT(SAMPLE) | ACT(REPRESENTED_PORT) |
			  ACT(PORT_REPRESENTOR);
	fake.transfer_ok = true;
	setup_ok(engine_port, &c, &st);
	assert_false(st.rss);
	assert_true(st.sample);
	assert_contains(st.detail, "transfer SAMPLE ratio 1");
	for (i = 0; i < MAX_FAKE_RULES; i++)
		if (fake.rule[i].live) {
			assert_true(fake.rule[i].transfer);
			assert_int_equal(fake.rule[i].fate,
				RTE_FLOW_ACTION_TYPE_PORT_REPRESENTOR);
			transfer++;
		}
	assert_int_equal(transfer, 1);
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
}

static void
test_bad_conf(void **state)
{
	struct st_offload_conf c = prefilter_conf(ENGINE_QUEUES);
	const uint16_t twice[] = { 80, 443, 80 };
	const uint16_t zero[] = { 0 };
	uint16_t many[ST_OFFLOAD_MAX_HTTP_PORTS + 1];
	struct st_offload_status st;
	char err[256];
	unsigned int i;

	(void)state;
	fake_reset();
	assert_int_equal(st_offload_setup(RTE_MAX_ETHPORTS - 1, &c, &st, err,
					  sizeof(err)), -ENODEV);
	c.nb_queues = ENGINE_QUEUES + 1;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "the port has 4");
	c.nb_queues = 0;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	c = prefilter_conf(ENGINE_QUEUES);
	for (i = 0; i < RTE_DIM(many); i++)
		many[i] = (uint16_t)(1000 + i);
	c.http_ports = many;
	c.nb_http_ports = RTE_DIM(many);
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	c.http_ports = twice;
	c.nb_http_ports = RTE_DIM(twice);
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	assert_contains(err, "HTTP port 80 given twice");
	c.http_ports = zero;
	c.nb_http_ports = 1;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	/* Mirroring everything and routes: never both. */
	c = prefilter_conf(ENGINE_QUEUES);
	c.sample_port = shadow_port;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	c.prefilter = false;
	c.sample_port = engine_port;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EINVAL);
	c.sample_port = RTE_MAX_ETHPORTS - 1;
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -ENODEV);
	assert_int_equal(fake_live(), 0);

	/* Twice without a teardown. */
	c = prefilter_conf(ENGINE_QUEUES);
	setup_ok(engine_port, &c, &st);
	assert_int_equal(st_offload_setup(engine_port, &c, &st, err,
					  sizeof(err)), -EBUSY);
	st_offload_teardown(engine_port);
	st_offload_teardown(engine_port);
	assert_int_equal(fake_live(), 0);
	/* Marks are negotiated before configure only. */
	assert_int_equal(st_offload_prepare(null_port), -EBUSY);
	assert_int_equal(st_offload_prepare(RTE_MAX_ETHPORTS - 1), -ENODEV);
}

static void
test_bypass_flag(void **state)
{
	struct rte_mbuf *m = frame_mbuf(false, IPPROTO_UDP, 1, 2);

	(void)state;
	assert_false(st_offload_bypass(m));
	/* The mark id without the flag is an RSS hash, not a mark. */
	m->hash.fdir.hi = ST_OFFLOAD_MARK_BYPASS;
	assert_false(st_offload_bypass(m));
	m->ol_flags |= RTE_MBUF_F_RX_FDIR | RTE_MBUF_F_RX_FDIR_ID;
	assert_true(st_offload_bypass(m));
	m->hash.fdir.hi = ST_OFFLOAD_MARK_BYPASS + 1;
	assert_false(st_offload_bypass(m));
	rte_pktmbuf_free(m);
}

/* ---- PMDs without a flow API ------------------------------------------- */

static void
check_no_flow_api(uint16_t port_id, const char *driver, uint16_t nb_queues)
{
	struct st_offload_conf c = prefilter_conf(nb_queues);
	struct st_offload_status st;
	char no_api[64];

	snprintf(no_api, sizeof(no_api), "%s has no flow API", driver);
	setup_ok(port_id, &c, &st);
	assert_false(st.rss || st.prefilter || st.sample);
	assert_contains(st.detail, no_api);
	st_offload_teardown(port_id);

	c.prefilter = false;
	c.sample_port = shadow_port;
	setup_ok(port_id, &c, &st);
	assert_false(st.rss || st.prefilter || st.sample);
	assert_contains(st.detail, "sample: software");
	assert_contains(st.detail, no_api);
	st_offload_teardown(port_id);
}

static void
test_pcap_software(void **state)
{
	(void)state;
	check_no_flow_api(pcap_port, "net_pcap", 1);
}

static void
test_null_software(void **state)
{
	(void)state;
	check_no_flow_api(null_port, "net_null", NULL_QUEUES);
}

static void
test_ring_software(void **state)
{
	(void)state;
	check_no_flow_api(ring_port, "net_ring", 1);
}

/* ---- the TAP PMD ------------------------------------------------------- */

static uint16_t tap_port = RTE_MAX_ETHPORTS;
static char tap_missing[256];

static int
tap_setup(void **state)
{
	int ret;

	(void)state;
	ret = rte_dev_probe(TAP_NAME ",iface=" TAP_IFACE);
	if (ret != 0) {
		snprintf(tap_missing, sizeof(tap_missing),
			 "no TAP port (%s): it needs /dev/net/tun and "
			 "CAP_NET_ADMIN", strerror(-ret));
		return 0;
	}
	if (port_by_name(TAP_NAME, &tap_port) != 0 ||
	    start_port(tap_port, TAP_QUEUES, TAP_QUEUES) != 0) {
		snprintf(tap_missing, sizeof(tap_missing),
			 "the TAP port would not start");
		tap_port = RTE_MAX_ETHPORTS;
	}
	return 0;
}

static int
tap_teardown(void **state)
{
	(void)state;
	if (tap_port < RTE_MAX_ETHPORTS) {
		st_offload_teardown(tap_port);
		rte_eth_dev_stop(tap_port);
		rte_eth_dev_close(tap_port);
		rte_eal_hotplug_remove("vdev", TAP_NAME);
	}
	return 0;
}

static bool
tap_present(void)
{
	if (tap_port < RTE_MAX_ETHPORTS)
		return true;
	print_message("SKIP (TAP): %s\n", tap_missing);
	return false;
}

static struct st_offload_status tap_status;

/*
 * What net_tap answers. MARK and SAMPLE are not among its actions in any
 * kernel (it takes one fate: DROP, PASSTHRU, QUEUE or RSS), and its RSS is
 * an eBPF program with a fixed, asymmetric key that refuses any function
 * but the default on creation: none of the three can be offloaded to it.
 */
static void
test_tap_answers(void **state)
{
	struct st_offload_conf c = prefilter_conf(TAP_QUEUES);
	struct st_offload_status sample_status;

	(void)state;
	if (!tap_present())
		skip();
	setup_ok(tap_port, &c, &tap_status);
	assert_false(tap_status.rss);
	assert_false(tap_status.prefilter);
	assert_contains(tap_status.detail, "rss: software (net_tap refused "
					   "RSS toeplitz/0x6d5a");
	assert_contains(tap_status.detail, "net_tap refused MARK: action not "
					   "supported");
	st_offload_teardown(tap_port);

	c.prefilter = false;
	c.sample_port = shadow_port;
	setup_ok(tap_port, &c, &sample_status);
	assert_false(sample_status.sample);
	assert_contains(sample_status.detail, "sample: software (net_tap "
					      "refused SAMPLE ratio 1 to "
					      "REPRESENTED_PORT: action not "
					      "supported)");
	st_offload_teardown(tap_port);

	/* Left as the worker will find it, for the next test. */
	c = prefilter_conf(TAP_QUEUES);
	setup_ok(tap_port, &c, &tap_status);
}

/* Send @p len bytes out of the kernel side of the TAP interface. */
static int
kernel_send(int fd, int ifindex, const uint8_t *frame, unsigned int len)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET,
		.sll_ifindex = ifindex,
		.sll_halen = ETH_ALEN,
	};

	memcpy(to.sll_addr, frame, ETH_ALEN);
	return sendto(fd, frame, len, 0, (struct sockaddr *)&to,
		      sizeof(to)) == (ssize_t)len ? 0 : -1;
}

/*
 * Frames the kernel sends on the TAP interface come out of
 * rte_eth_rx_burst(): a UDP one, marked only if the prefilter runs, and a
 * TCP one to port 80, never marked.
 */
static void
test_tap_end_to_end(void **state)
{
	uint8_t udp[FRAME_MAX], tcp[FRAME_MAX];
	unsigned int udp_len, tcp_len;
	bool got_udp = false, got_tcp = false;
	bool udp_marked = false, tcp_marked = false;
	uint64_t deadline;
	int fd, ifindex;

	(void)state;
	if (!tap_present())
		skip();
	ifindex = (int)if_nametoindex(TAP_IFACE);
	assert_true(ifindex > 0);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		print_message("SKIP (TAP): no AF_PACKET socket: %s\n",
			      strerror(errno));
		skip();
	}
	udp_len = build_frame(udp, false, IPPROTO_UDP, 5353, 53);
	tcp_len = build_frame(tcp, false, IPPROTO_TCP, 40000, 80);
	assert_int_equal(kernel_send(fd, ifindex, udp, udp_len), 0);
	assert_int_equal(kernel_send(fd, ifindex, tcp, tcp_len), 0);
	close(fd);

	deadline = rte_get_timer_cycles() + 2 * rte_get_timer_hz();
	while ((!got_udp || !got_tcp) && rte_get_timer_cycles() < deadline) {
		struct rte_mbuf *pkts[32];
		uint16_t q, nb, i;

		for (q = 0; q < TAP_QUEUES; q++) {
			nb = rte_eth_rx_burst(tap_port, q, pkts, 32);
			for (i = 0; i < nb; i++) {
				const uint8_t *p = rte_pktmbuf_mtod(
					pkts[i], const uint8_t *);
				uint32_t len = rte_pktmbuf_data_len(pkts[i]);

				/* The kernel's own frames (IPv6 neighbour
				 * discovery...) are not ours. */
				if (len >= udp_len &&
				    memcmp(p, udp, udp_len) == 0) {
					got_udp = true;
					udp_marked = st_offload_bypass(pkts[i]);
				} else if (len >= tcp_len &&
					   memcmp(p, tcp, tcp_len) == 0) {
					got_tcp = true;
					tcp_marked = st_offload_bypass(pkts[i]);
				}
				rte_pktmbuf_free(pkts[i]);
			}
		}
	}
	print_message("TAP: UDP frame %s, bypass %d; TCP:80 frame %s, "
		      "bypass %d; prefilter %s\n",
		      got_udp ? "received" : "lost", udp_marked,
		      got_tcp ? "received" : "lost", tcp_marked,
		      tap_status.prefilter ? "on" : "off");
	assert_true(got_udp);
	assert_true(got_tcp);
	assert_int_equal(udp_marked, tap_status.prefilter);
	assert_false(tcp_marked);
	st_offload_teardown(tap_port);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bypass_flag),
		cmocka_unit_test(test_engine_prefilter),
		cmocka_unit_test(test_engine_any_tcp_port),
		cmocka_unit_test(test_engine_one_queue),
		cmocka_unit_test(test_engine_no_mark),
		cmocka_unit_test(test_engine_marks_refused),
		cmocka_unit_test(test_engine_rollback),
		cmocka_unit_test(test_engine_default_hash_only),
		cmocka_unit_test(test_engine_priorities),
		cmocka_unit_test(test_engine_sample),
		cmocka_unit_test(test_engine_transfer_sample),
		cmocka_unit_test(test_bad_conf),
		cmocka_unit_test(test_pcap_software),
		cmocka_unit_test(test_null_software),
		cmocka_unit_test(test_ring_software),
		cmocka_unit_test_setup_teardown(test_tap_answers, tap_setup,
						NULL),
		cmocka_unit_test_teardown(test_tap_end_to_end, tap_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
