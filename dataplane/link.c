/* SPDX-License-Identifier: BSD-3-Clause */
#include "link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_log.h>

struct wire_port {
	uint16_t port_id;
	char name[RTE_ETH_NAME_MAX_LEN];
	bool up;		/* as last polled */
	bool faulty;		/* down by itself, past any settling */
	bool held;		/* taken down by shadowtap */
	bool failed;		/* taking it down failed in this fault */
	bool no_control;	/* its driver said -ENOTSUP, which was logged */
	bool release_failed;	/* bringing it up failed, and was logged */
	uint64_t settle_end_tsc;	/* down before this is not a fault */
};

struct st_link_watch {
	struct st_view *view;
	struct st_mirror_set *mirrors;
	uint64_t settle_tsc;
	struct wire_port wire[ST_SIDE_COUNT];
	/* What the view shows, published at the end of each poll. */
	struct st_link_view wire_link[ST_SIDE_COUNT];
	struct st_link_view mirror_link[ST_MAX_MIRRORS];
};

/* 1 when the link is up, 0 when down, -1 when it cannot be read. */
static int
link_up(uint16_t port_id)
{
	struct rte_eth_link link;

	if (rte_eth_link_get_nowait(port_id, &link) != 0)
		return -1;
	return link.link_status == RTE_ETH_LINK_UP;
}

static const char *
mirror_name(const struct st_link_watch *lw, unsigned int i)
{
	return lw->view->cfg->mirrors[i].name;
}

struct st_link_watch *
st_link_watch_create(struct st_view *view, const uint16_t wire[ST_SIDE_COUNT],
		     struct st_mirror_set *mirrors)
{
	struct st_link_watch *lw = calloc(1, sizeof(*lw));
	uint64_t now = rte_get_timer_cycles();
	unsigned int i;
	int side, up;

	if (lw == NULL)
		return NULL;
	lw->view = view;
	lw->mirrors = mirrors;
	lw->settle_tsc = ST_LINK_SETTLE_MS * rte_get_timer_hz() / 1000;
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		struct wire_port *p = &lw->wire[side];

		p->port_id = wire[side];
		rte_eth_dev_get_name_by_port(p->port_id, p->name);
		/* Links negotiate after a start, like after a release. */
		p->settle_end_tsc = now + lw->settle_tsc;
	}
	for (i = 0; i < st_mirror_set_count(mirrors); i++) {
		up = link_up(st_mirror_set_port(mirrors, i));
		lw->mirror_link[i].up = up != 0;
		st_mirror_set_link(mirrors, i, up != 0);
		if (up == 0)
			RTE_LOG(WARNING, USER1,
				"mirror '%s': port %u has no link: its copies "
				"are dropped (link_down) until it comes up\n",
				mirror_name(lw, i),
				st_mirror_set_port(mirrors, i));
	}
	st_link_watch_poll(lw);
	return lw;
}

void
st_link_watch_free(struct st_link_watch *lw)
{
	free(lw);
}

static void
poll_mirrors(struct st_link_watch *lw)
{
	unsigned int i;

	for (i = 0; i < st_mirror_set_count(lw->mirrors); i++) {
		struct st_link_view *l = &lw->mirror_link[i];
		uint16_t port_id = st_mirror_set_port(lw->mirrors, i);
		int up = link_up(port_id);

		if (up < 0 || up == l->up)
			continue;
		l->up = up;
		st_mirror_set_link(lw->mirrors, i, up);
		if (up) {
			RTE_LOG(INFO, USER1, "mirror '%s': port %u link up: "
				"copies resume\n", mirror_name(lw, i), port_id);
		} else {
			l->down_events++;
			RTE_LOG(WARNING, USER1, "mirror '%s': port %u link "
				"down: its copies are dropped (link_down)\n",
				mirror_name(lw, i), port_id);
		}
	}
}

/* Read a wire port's link: is it down by itself, a fault? */
static void
poll_wire(struct st_link_watch *lw, int side, uint64_t now)
{
	struct wire_port *p = &lw->wire[side];
	int up = link_up(p->port_id);
	bool faulty;

	if (up < 0)
		return;
	p->up = up;
	if (p->up)
		p->settle_end_tsc = 0;
	faulty = !p->up && !p->held && now >= p->settle_end_tsc;
	if (faulty && !p->faulty) {
		lw->wire_link[side].down_events++;
		RTE_LOG(WARNING, USER1, "%s port %u (%s): link down\n",
			st_stats_side_name(side), p->port_id, p->name);
	} else if (!faulty && p->faulty) {
		RTE_LOG(INFO, USER1, "%s port %u (%s): link up\n",
			st_stats_side_name(side), p->port_id, p->name);
	}
	p->faulty = faulty;
}

/* The peer of @p side has no link: take @p side down, once per fault. */
static void
take_down(struct st_link_watch *lw, int side)
{
	struct wire_port *p = &lw->wire[side], *peer = &lw->wire[!side];
	struct st_link_view *l = &lw->wire_link[side];
	int ret = rte_eth_dev_set_link_down(p->port_id);

	if (ret == 0) {
		p->held = true;
		p->up = false;	/* shown so at once, not a poll later */
		l->propagated_downs++;
		RTE_LOG(WARNING, USER1,
			"link propagation: %s port %u (%s) taken down: %s "
			"port %u (%s) has no link\n", st_stats_side_name(side),
			p->port_id, p->name, st_stats_side_name(!side),
			peer->port_id, peer->name);
		return;
	}
	l->propagation_failures++;
	p->failed = true;
	if (ret == -ENOTSUP && p->no_control)
		return;
	if (ret == -ENOTSUP)
		p->no_control = true;
	RTE_LOG(WARNING, USER1,
		"link propagation: %s port %u (%s) cannot be taken down: %s; "
		"its link stays up while %s port %u (%s) has none%s\n",
		st_stats_side_name(side), p->port_id, p->name,
		ret == -ENOTSUP ? "its driver has no link control" :
				  strerror(-ret),
		st_stats_side_name(!side), peer->port_id, peer->name,
		ret == -ENOTSUP ? " (said once, counted each time in "
				  "propagation_failures)" : "");
}

/* Bring a held port back up; it then has its time to settle. */
static void
release(struct st_link_watch *lw, int side, uint64_t now, bool propagate)
{
	struct wire_port *p = &lw->wire[side], *peer = &lw->wire[!side];
	int ret = rte_eth_dev_set_link_up(p->port_id);

	if (ret != 0) {
		/* Held still: tried again at the next poll, said once. */
		if (!p->release_failed)
			RTE_LOG(ERR, USER1,
				"link propagation: %s port %u (%s) cannot be "
				"brought back up: %s\n",
				st_stats_side_name(side), p->port_id, p->name,
				strerror(-ret));
		p->release_failed = true;
		return;
	}
	p->held = false;
	p->release_failed = false;
	p->settle_end_tsc = now + lw->settle_tsc;
	if (propagate)
		RTE_LOG(INFO, USER1,
			"link propagation: %s port %u (%s) brought back up: "
			"%s port %u (%s) has its link again\n",
			st_stats_side_name(side), p->port_id, p->name,
			st_stats_side_name(!side), peer->port_id, peer->name);
	else
		RTE_LOG(INFO, USER1,
			"link propagation is off: %s port %u (%s) brought "
			"back up\n", st_stats_side_name(side), p->port_id,
			p->name);
}

void
st_link_watch_poll(struct st_link_watch *lw)
{
	const bool propagate = lw->view->cfg->link_propagation;
	uint64_t now = rte_get_timer_cycles();
	int side;

	poll_mirrors(lw);
	for (side = 0; side < ST_SIDE_COUNT; side++)
		poll_wire(lw, side, now);
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		struct wire_port *p = &lw->wire[side];
		const struct wire_port *peer = &lw->wire[!side];

		if (p->held && (!propagate || !peer->faulty))
			release(lw, side, now, propagate);
		else if (propagate && peer->faulty && !p->held && p->up &&
			 !p->failed)
			take_down(lw, side);
		if (!peer->faulty)
			p->failed = false;
	}

	pthread_mutex_lock(&lw->view->lock);
	for (side = 0; side < ST_SIDE_COUNT; side++) {
		lw->wire_link[side].up = lw->wire[side].up;
		lw->wire_link[side].held_down = lw->wire[side].held;
	}
	memcpy(lw->view->wire_link, lw->wire_link, sizeof(lw->wire_link));
	memcpy(lw->view->mirror_link, lw->mirror_link,
	       sizeof(lw->mirror_link));
	pthread_mutex_unlock(&lw->view->lock);
}
