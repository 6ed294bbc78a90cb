/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_PORT_H
#define ST_PORT_H

/*
 * Ethernet port set-up for the appliance: queues, symmetric RSS where the
 * NIC has it, promiscuous mode on the wire ports, jumbo frames where the
 * NIC can scatter them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>

/* Descriptor ring sizes asked for; the PMD may adjust them. */
#define ST_RX_DESC 1024
#define ST_TX_DESC 1024

/**
 * Configure a port and its queues (it is not started).
 *
 * @param port_id  the port
 * @param role     "client", "server" or a mirror name, for messages
 * @param nb_rxq   RX queues (0 for a shadow port, which only sends)
 * @param nb_txq   TX queues, one per worker
 * @param pool     data mbufs for the RX queues; for a shadow port, for the
 *                 RX queues it gets all the same, never polled: one where
 *                 the driver has any, for capture tools, and as many as
 *                 TX queues on net_tap, which insists; or NULL for none
 * @param wire     a wire port: promiscuous, so it forwards every frame
 * @return 0, or a negative errno with @p err saying why
 */
int st_port_configure(uint16_t port_id, const char *role, uint16_t nb_rxq,
		      uint16_t nb_txq, struct rte_mempool *pool, bool wire,
		      char *err, size_t errlen);

/**
 * How many RX queues a port can give to @p nb_workers workers: one per
 * worker, or fewer when the device has fewer.
 */
uint16_t st_port_rx_queues(uint16_t port_id, unsigned int nb_workers);

/** Whether a port says it can send a chain of mbufs as one frame. */
bool st_port_tx_chains(uint16_t port_id);

/** NUMA socket of a port, or of the calling lcore when unknown. */
int st_port_socket(uint16_t port_id);

#endif
