/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_LINK_H
#define ST_LINK_H

/*
 * The link watch: the control thread polls every port's link and acts on
 * what changed. Nothing here runs on a worker.
 *
 * Shadow ports: while a shadow port's link is down its session gets no
 * copies, counted as link_down drops (tx_shadow/mirror.h), and copies
 * resume at the first poll that finds it up.
 *
 * Wire ports, with link propagation on (ports.link_propagation, the
 * default): an inline box that keeps one side's link up while the other
 * side's is down black-holes the traffic of the side still up, whose
 * router never fails over. So while one wire port has no link, shadowtap
 * takes the other one down (rte_eth_dev_set_link_down), and brings it back
 * up (rte_eth_dev_set_link_up) when the first one returns.
 *
 * - A port shadowtap took down is held down: its missing link is
 *   shadowtap's doing, never a fault that propagates back.
 * - A port brought back up may take seconds to negotiate its link: for
 *   ST_LINK_SETTLE_MS after it is brought up (and after start, for both),
 *   its link being down is not a fault either, unless it stays down that
 *   long. Without this, the two ports would take each other down in turn
 *   for ever.
 * - A port whose own link is down is not taken down: whichever side comes
 *   back first is taken down until the other one is back too.
 * - A driver without link control (net_pcap, net_null, net_af_packet:
 *   -ENOTSUP) leaves its port up. That is logged once per port and
 *   counted at each fault (propagation_failures). A failure is not retried
 *   until the next fault.
 * - Turning propagation off (a reload) brings a held port back up.
 *
 * Every change is logged, and counted in the view (struct st_link_view).
 */

#include <stdint.h>

#include "mirror.h"
#include "stats.h"
#include "view.h"

/* How long a port's link may take to come up, after start or after
 * shadowtap brought it back up, before its absence is a fault. */
#define ST_LINK_SETTLE_MS 5000

struct st_link_watch;

/**
 * Watch the links of the wire ports @p wire and of the sessions of
 * @p mirrors, once the ports are started. Reads the links once: a shadow
 * port down from the start is not a down event.
 *
 * @param view  where links are shown; its running config says whether
 *              links propagate
 * @return the watch, or NULL when out of memory
 */
struct st_link_watch *st_link_watch_create(struct st_view *view,
					   const uint16_t wire[ST_SIDE_COUNT],
					   struct st_mirror_set *mirrors);

/**
 * Poll every link once, act on what changed (sessions switched, wire
 * ports taken down or brought up) and update the view under its lock.
 * Control thread only: it is the view's config's writer.
 */
void st_link_watch_poll(struct st_link_watch *lw);

/** Free a watch (NULL is fine). */
void st_link_watch_free(struct st_link_watch *lw);

#endif
