/* SPDX-License-Identifier: BSD-3-Clause */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "offload.h"

#define JUMBO_MTU 9000

/* The symmetric key (st_offload_symmetric_key()): both directions of a
 * connection reach the same worker. */
static uint8_t symmetric_rss_key[64];

int
st_port_socket(uint16_t port_id)
{
	int socket = rte_eth_dev_socket_id(port_id);

	return socket < 0 ? (int)rte_socket_id() : socket;
}

uint16_t
st_port_rx_queues(uint16_t port_id, unsigned int nb_workers)
{
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(port_id, &info) != 0 ||
	    info.max_rx_queues == 0)
		return 1;
	return (uint16_t)RTE_MIN(nb_workers, (unsigned int)info.max_rx_queues);
}

bool
st_port_tx_chains(uint16_t port_id)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port_id, &info) == 0 &&
	       (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
}

/*
 * The largest MTU a port takes, as ethdev checks it: its largest frame
 * less the L2 overhead it declares (header and CRC when it declares none).
 * net_tap offers scatter but frames of 1522 bytes at most.
 */
static uint16_t
max_mtu(const struct rte_eth_dev_info *info)
{
	uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;

	if (info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu)
		overhead = info->max_rx_pktlen - info->max_mtu;
	return (uint16_t)RTE_MIN((uint32_t)info->max_mtu,
				 info->max_rx_pktlen - overhead);
}

static void
fill_conf(const struct rte_eth_dev_info *info, uint16_t nb_rxq,
	  struct rte_eth_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	if (nb_rxq > 1 && info->flow_type_rss_offloads != 0) {
		st_offload_symmetric_key(symmetric_rss_key,
					 sizeof(symmetric_rss_key));
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_key = symmetric_rss_key;
		conf->rx_adv_conf.rss_conf.rss_key_len =
			info->hash_key_size ? info->hash_key_size : 40;
		conf->rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info->flow_type_rss_offloads;
	}
	/* Jumbo frames arrive in several segments where the NIC can
	 * scatter, and mirror copies may be chains: ask for both. */
	if (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) {
		conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
		conf->rxmode.mtu = RTE_MIN(max_mtu(info), JUMBO_MTU);
	}
	if (info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf->txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
}

int
st_port_configure(uint16_t port_id, const char *role, uint16_t nb_rxq,
		  uint16_t nb_txq, struct rte_mempool *pool, bool wire,
		  char *err, size_t errlen)
{
	char name[RTE_ETH_NAME_MAX_LEN] = "?";
	uint16_t nb_rxd = ST_RX_DESC, nb_txd = ST_TX_DESC, q;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int socket = st_port_socket(port_id);
	int ret;

	rte_eth_dev_get_name_by_port(port_id, name);
	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret != 0) {
		snprintf(err, errlen, "%s port %u (%s): no device info: %s",
			 role, port_id, name, strerror(-ret));
		return ret;
	}
	if (nb_txq > info.max_tx_queues) {
		snprintf(err, errlen,
			 "%s port %u (%s) has %u TX queues; one per worker "
			 "(%u) is needed: use fewer worker lcores%s", role,
			 port_id, name, info.max_tx_queues, nb_txq,
			 strncmp(name, "net_pcap", 8) == 0 ?
				 " or give one tx_pcap= per worker" : "");
		return -EINVAL;
	}
	/* Marks must be asked for before the first configure. */
	if (wire) {
		ret = st_offload_prepare(port_id);
		if (ret != 0)
			RTE_LOG(WARNING, USER1, "%s port %u (%s): flow marks: "
				"%s\n", role, port_id, name, strerror(-ret));
	}
	/* A shadow port only sends, yet it gets an RX queue that nobody
	 * polls where it can have one: dpdk-dumpcap asks lib/pdump for both
	 * directions of a port and fails on a port without RX queues. net_tap
	 * takes only as many RX queues as TX queues. The data pool counts RX
	 * descriptors on every port, shadow ports too. Nothing is spread over
	 * them. */
	fill_conf(&info, nb_rxq, &conf);
	if (!wire && nb_rxq == 0 && pool != NULL && info.max_rx_queues > 0)
		nb_rxq = strcmp(info.driver_name, "net_tap") == 0 ? nb_txq : 1;
	ret = rte_eth_dev_configure(port_id, nb_rxq, nb_txq, &conf);
	if (ret == 0)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd,
						       &nb_txd);
	for (q = 0; ret == 0 && q < nb_rxq; q++)
		ret = rte_eth_rx_queue_setup(port_id, q, nb_rxd, socket, NULL,
					     pool);
	for (q = 0; ret == 0 && q < nb_txq; q++)
		ret = rte_eth_tx_queue_setup(port_id, q, nb_txd, socket, NULL);
	if (ret != 0) {
		snprintf(err, errlen, "%s port %u (%s): queue set-up: %s",
			 role, port_id, name, strerror(-ret));
		return ret;
	}
	if (wire) {
		ret = rte_eth_promiscuous_enable(port_id);
		if (ret != 0 && ret != -ENOTSUP) {
			snprintf(err, errlen,
				 "%s port %u (%s): promiscuous mode: %s", role,
				 port_id, name, strerror(-ret));
			return ret;
		}
	}
	RTE_LOG(INFO, USER1, "%s: port %u (%s) socket %d, %u RX / %u TX "
		"queues%s\n", role, port_id, name, socket, nb_rxq, nb_txq,
		conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ?
			", symmetric RSS" : "");
	return 0;
}
