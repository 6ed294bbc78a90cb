/* SPDX-License-Identifier: BSD-3-Clause */
#include "verdict.h"

#include <netinet/in.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_malloc.h>

#include "http.h"

/* Request heads gathered at once per worker; a head that finds no slot is
 * decided on its first segment. */
#define HEADS_PER_WORKER 256
/* Segments of one head held for the shadow; a head in more pieces than
 * this is decided on what the first ones said. */
#define HEAD_MAX_SEGMENTS 32
/* Requests looked at in one segment (pipelining): a full segment holds
 * dozens of small ones. Past this, the stream's track is given up. */
#define MAX_REQUESTS_PER_SEGMENT 64

_Static_assert(HEADS_PER_WORKER < UINT16_MAX, "st_flow.head is 16 bits");
_Static_assert(ST_MAX_ROUTES < ST_FLOW_ROUTE_DEFAULT,
	       "route indexes must fit below the special values");

/* A request head being gathered over TCP segments. */
struct head {
	struct st_flow *flow;
	uint64_t started_tsc;
	uint32_t flow_hash;
	uint32_t start_seq;	/* stream position of its first byte */
	uint32_t next_seq;	/* where the next segment must start */
	uint32_t len;		/* bytes in buf */
	uint8_t dir;		/* the direction it came in: direction() */
	uint8_t nb_held;
	struct rte_mbuf *held[HEAD_MAX_SEGMENTS];
	uint8_t *buf;
};

/* Copies queue_copy() was given, for send_due(): a burst's. */
#define DUE_MAX 32

struct due {
	struct rte_mbuf *m;
	struct st_flow *flow;
	uint32_t mirrors;
	uint32_t flow_hash;
};

struct st_verdict {
	struct st_mirror_worker *mirror;
	struct st_worker_stats *stats;
	unsigned int worker;		/* index of its classifier scratch */
	uint64_t head_timeout_tsc;
	uint32_t buf_size;
	uint16_t nb_free;
	uint16_t free_slot[HEADS_PER_WORKER];
	uint16_t nb_used;
	uint16_t used_slot[HEADS_PER_WORKER];	/* for the expiry sweep */
	struct head heads[HEADS_PER_WORKER];
	uint16_t nb_due;
	struct due due[DUE_MAX];
};

struct st_verdict *
st_verdict_create(struct st_mirror_worker *mirror,
		  struct st_worker_stats *stats, unsigned int worker,
		  uint32_t max_head_bytes, int socket)
{
	struct st_verdict *v;
	uint8_t *bufs;
	unsigned int i;

	v = rte_zmalloc_socket("st_verdict", sizeof(*v), RTE_CACHE_LINE_SIZE,
			       socket);
	bufs = rte_malloc_socket("st_heads",
				 (size_t)HEADS_PER_WORKER * max_head_bytes, 0,
				 socket);
	if (v == NULL || bufs == NULL) {
		rte_free(bufs);
		rte_free(v);
		return NULL;
	}
	v->mirror = mirror;
	v->stats = stats;
	v->worker = worker;
	v->buf_size = max_head_bytes;
	v->head_timeout_tsc = rte_get_tsc_hz() * ST_FLOW_HEAD_TIMEOUT_MS / 1000;
	for (i = 0; i < HEADS_PER_WORKER; i++) {
		v->heads[i].buf = bufs + (size_t)i * max_head_bytes;
		v->free_slot[i] = (uint16_t)(HEADS_PER_WORKER - 1 - i);
	}
	v->nb_free = HEADS_PER_WORKER;
	return v;
}

static void
drop_held(struct head *h)
{
	rte_pktmbuf_free_bulk(h->held, h->nb_held);
	h->nb_held = 0;
}

void
st_verdict_free(struct st_verdict *v)
{
	unsigned int i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nb_used; i++)
		drop_held(&v->heads[v->used_slot[i]]);
	rte_free(v->heads[0].buf);
	rte_free(v);
}

/* Where a flow's copies are counted: its route, if of this route table. */
static inline unsigned int
route_stats_index(const struct st_policy *policy, const struct st_flow *flow)
{
	return flow->route < ST_MAX_ROUTES &&
			       flow->routes_generation ==
				       policy->routes_generation ?
		       policy->route[flow->route].stats_slot :
		       ST_ROUTE_STATS_DEFAULT;
}

/* Count a copy of @p m to @p mirrors for the flow and its route; the
 * copy's length. */
static inline uint32_t
count_copy(struct st_verdict *v, const struct st_policy *policy,
	   struct st_flow *flow, const struct rte_mbuf *m, uint32_t mirrors)
{
	struct st_route_stats *rs =
		&v->stats->route[route_stats_index(policy, flow)];
	uint32_t first = mirrors & ~(uint32_t)flow->mirrored;
	uint32_t len = rte_pktmbuf_pkt_len(m);

	/* A flow counts once per mirror, with its first copy there: its
	 * later copies (nearly all) neither write the flow nor loop. */
	if (unlikely(first != 0)) {
		flow->mirrored |= (uint8_t)mirrors;
		do {
			v->stats->mirror[rte_bsf32(first)].flows++;
			first &= first - 1;
		} while (first != 0);
	}
	rs->packets++;
	rs->bytes += len;
	return len;
}

/*
 * Copy what queue_copy() was given, in the order it was. A run of copies
 * to one session that takes the originals as they are (the usual set-up)
 * goes into its buffer in one go; st_mirror_send() would read the session,
 * the share budget and the buffer once a copy. Out of line, so that
 * perf/profile counts every copy's cost in it.
 */
static __rte_noinline void
send_due(struct st_verdict *v, const struct st_policy *policy)
{
	const struct due *d = v->due, *end = v->due + v->nb_due;

	while (d < end) {
		struct rte_mbuf **room;
		uint32_t mirrors = d->mirrors;
		uint64_t bytes = 0;
		unsigned int n, i;

		room = st_mirror_reserve(v->mirror, mirrors, end - d, &n);
		if (room == NULL) {
			/* Refused for what holds for the burst (sessions that
			 * clone or wrap, several of them, a link down, no
			 * budget): not asked again for the run. */
			do {
				count_copy(v, policy, d->flow, d->m, mirrors);
				st_mirror_send(v->mirror, d->m, mirrors,
					       d->flow_hash);
				d++;
			} while (d < end && d->mirrors == mirrors);
			continue;
		}
		for (i = 0; i < n && d->mirrors == mirrors; i++, d++) {
			bytes += count_copy(v, policy, d->flow, d->m, mirrors);
			st_mirror_ref(d->m);
			room[i] = d->m;
		}
		st_mirror_commit(v->mirror, mirrors, i, bytes);
	}
	v->nb_due = 0;
}

/*
 * Copy @p m to @p mirrors (none: nothing) with the burst's others, at
 * send_due(). Whether a packet is copied is a coin its flow tossed: at
 * 10%, a branch on it mispredicted for nearly every copy. Every packet is
 * written to the list instead, and only those copied are counted in it.
 */
static inline void
queue_copy(struct st_verdict *v, const struct st_policy *policy,
	   struct st_flow *flow, struct rte_mbuf *m, uint32_t mirrors,
	   uint32_t flow_hash)
{
	struct due *d;

	if (unlikely(v->nb_due == DUE_MAX))
		send_due(v, policy);
	d = &v->due[v->nb_due];
	d->m = m;
	d->flow = flow;
	d->flow_hash = flow_hash;
	d->mirrors = mirrors;
	v->nb_due += mirrors != 0;
}

/* A packet that starts no request: it follows the flow's verdict. */
static inline void
follow_verdict(struct st_verdict *v, const struct st_policy *policy,
	       struct st_flow *flow, struct rte_mbuf *m, uint32_t flow_hash)
{
	queue_copy(v, policy, flow, m,
		   st_policy_mirrors(policy, flow, flow_hash), flow_hash);
}

/*
 * Read a request head once: the fields routes look at (when it has a
 * method), its end and its body length. classify() then decides on what
 * was read.
 */
static void
read_head(struct st_verdict *v, const struct st_policy *policy,
	  struct st_http_head *head, const uint8_t *p, uint32_t len,
	  int method)
{
	st_http_head_begin(head, p, len);
	if (method >= 0)
		st_classifier_read(st_policy_classifier(policy),
				   st_policy_scratch(policy, v->worker), head,
				   (enum st_http_method)method);
	st_http_head_finish(head);
}

/* The request head just read says which route the flow follows from now
 * on. */
static void
classify(struct st_verdict *v, const struct st_policy *policy,
	 struct st_flow *flow, enum st_http_method method, uint32_t flow_hash)
{
	int route = st_classifier_route(st_policy_classifier(policy),
					st_policy_scratch(policy, v->worker));
	uint8_t next = route >= 0 ? (uint8_t)route : ST_FLOW_ROUTE_DEFAULT;
	/* A flow is counted when a run of requests of a route starts to
	 * select it, not for each of them. */
	bool run_goes_on = flow->selected && flow->route == next;
	struct st_route_stats *rs;

	flow->route = next;
	flow->routes_generation = policy->routes_generation;
	flow->write = (ST_HTTP_WRITE_METHODS >> method) & 1;
	rs = &v->stats->route[route_stats_index(policy, flow)];
	rs->requests++;
	flow->selected = st_policy_decide(policy, flow, flow_hash) != 0;
	rs->flows += flow->selected && !run_goes_on;
}

static inline uint32_t
tcp_seq(const struct rte_mbuf *m, const struct st_pkt_info *info)
{
	const uint8_t *th = rte_pktmbuf_mtod(m, const uint8_t *) + info->l4_off;

	return (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 |
	       (uint32_t)th[6] << 8 | th[7];
}

/* The direction a segment goes: 1 or 2, so that 0 can mean "unknown". */
static inline uint8_t
direction(const struct st_pkt_info *info)
{
	return 1 + ((info->flags & ST_PKT_SWAPPED) != 0);
}

/*
 * After a request head of @p head_len bytes that starts at @p seq and says
 * its body has @p body bytes (st_http_body_length()): where the next
 * request of the stream starts, when that is known. Pipelined requests
 * are found there even when segments cut them anywhere.
 */
static void
expect_next_request(struct st_flow *flow, uint32_t head_len, int64_t body,
		    uint32_t seq, uint8_t dir)
{
	if (body < 0 || body > INT32_MAX) {	/* chunked, or no telling */
		flow->next_request_dir = 0;
		return;
	}
	flow->next_request_seq = seq + head_len + (uint32_t)body;
	flow->next_request_dir = dir;
}

/* Decide a gathered head on what it holds, and send what it held.
 * Returns the mirrors those segments went to. */
static uint32_t
head_finish(struct st_verdict *v, const struct st_policy *policy,
	    uint16_t slot)
{
	struct head *h = &v->heads[slot];
	struct st_flow *flow = h->flow;
	int method = st_http_request_method(h->buf, h->len);
	struct st_http_head head;
	uint32_t mirrors;
	unsigned int i;

	read_head(v, policy, &head, h->buf, h->len, method);
	/* A prefix of a method that never completed is no request: the
	 * flow keeps the verdict it had. */
	if (method >= 0)
		classify(v, policy, flow, (enum st_http_method)method,
			 h->flow_hash);
	if (head.len > 0)
		expect_next_request(flow, head.len, head.body_len,
				    h->start_seq, h->dir);
	else
		flow->next_request_dir = 0;
	mirrors = st_policy_mirrors(policy, flow, h->flow_hash);
	for (i = 0; i < h->nb_held; i++)
		queue_copy(v, policy, flow, h->held[i], mirrors, h->flow_hash);
	/* Sent before the references are dropped. */
	send_due(v, policy);
	drop_held(h);
	flow->head = 0;

	for (i = 0; i < v->nb_used; i++)
		if (v->used_slot[i] == slot) {
			v->used_slot[i] = v->used_slot[--v->nb_used];
			break;
		}
	v->free_slot[v->nb_free++] = slot;
	return mirrors;
}

static void
head_hold(struct st_verdict *v, struct head *h, struct rte_mbuf *m)
{
	struct rte_mbuf *ref = st_mirror_hold(v->mirror, m);

	if (likely(ref != NULL))
		h->held[h->nb_held++] = ref;
	else
		v->stats->http_hold_failed++;
}

/* Append the part of a segment not seen yet. Returns whether the head is
 * complete, or has to be decided on what it holds. */
static bool
head_append(struct st_verdict *v, const struct st_policy *policy,
	    struct head *h, const uint8_t *data, uint32_t len, uint32_t seq)
{
	uint32_t skip = h->next_seq - seq;	/* a retransmitted part */
	uint32_t room = RTE_MIN(policy->max_head_bytes, v->buf_size) - h->len;
	/* Only new bytes can end the head: an LF is told from the two bytes
	 * after it, so the last two bytes held are looked at again. */
	uint32_t from = h->len > 2 ? h->len - 2 : 0;
	uint32_t n;

	if (skip < len) {
		n = RTE_MIN(len - skip, room);
		memcpy(h->buf + h->len, data + skip, n);
		h->len += n;
		h->next_seq = seq + len;
	}
	if (st_http_head_length(h->buf + from, h->len - from) > 0)
		return true;
	if (h->len == RTE_MIN(policy->max_head_bytes, v->buf_size) ||
	    h->nb_held == HEAD_MAX_SEGMENTS) {
		v->stats->http_heads_partial++;
		return true;
	}
	return false;
}

/*
 * Start gathering a head that a segment's end cuts: @p data at stream
 * position @p seq. When the head starts the segment, the segment is held
 * too; a head starting further in follows a request the segment was
 * already sent for. Returns false when no slot is free.
 */
static bool
head_start(struct st_verdict *v, const struct st_policy *policy,
	   struct st_flow *flow, struct rte_mbuf *m,
	   const struct st_pkt_info *info, uint32_t flow_hash,
	   const uint8_t *data, uint32_t len, uint32_t seq, bool hold,
	   uint64_t now_tsc)
{
	uint16_t slot;
	struct head *h;

	if (unlikely(v->nb_free == 0))
		return false;
	slot = v->free_slot[--v->nb_free];
	v->used_slot[v->nb_used++] = slot;
	h = &v->heads[slot];
	h->flow = flow;
	h->started_tsc = now_tsc;
	h->flow_hash = flow_hash;
	h->dir = direction(info);
	h->len = 0;
	h->nb_held = 0;
	h->start_seq = seq;
	h->next_seq = seq;
	flow->head = (uint16_t)(slot + 1);
	v->stats->http_heads_split++;
	if (hold)
		head_hold(v, h, m);
	if (head_append(v, policy, h, data, len, seq))
		head_finish(v, policy, slot);
	return true;
}

/*
 * Classify the requests of a segment from @p off on: every complete head,
 * each followed by its body, as far as body lengths tell. A head cut by
 * the segment's end is gathered from the next segments (and the segment
 * held, with @p hold, when the head starts it: *held is set then).
 * @p seq is the segment's sequence number. Returns the mirrors of the
 * requests classified; *found counts them.
 */
static uint32_t
scan_requests(struct st_verdict *v, const struct st_policy *policy,
	      struct st_flow *flow, struct rte_mbuf *m,
	      const struct st_pkt_info *info, uint32_t flow_hash,
	      uint64_t now_tsc, uint32_t seq, uint32_t off, bool hold,
	      bool *held, unsigned int *found)
{
	const uint8_t *data =
		rte_pktmbuf_mtod(m, const uint8_t *) + info->payload_off;
	uint32_t len = info->payload_len;
	uint32_t mirrors = 0;
	int n;

	*held = false;
	*found = 0;
	for (n = 0; n < MAX_REQUESTS_PER_SEGMENT && off < len; n++) {
		int method = st_http_request_method(data + off, len - off);
		struct st_http_head head;
		uint32_t head_len;

		if (method == ST_HTTP_NOT_REQUEST)
			break;
		read_head(v, policy, &head, data + off, len - off, method);
		head_len = head.len;
		if (head_len == 0) {
			if (head_start(v, policy, flow, m, info, flow_hash,
				       data + off, len - off, seq + off,
				       hold && off == 0, now_tsc)) {
				*held = hold && off == 0;
				(*found)++;
				break;
			}
			if (method < 0)
				break;
			/* No slot: decided on what is there. */
			v->stats->http_heads_partial++;
			head_len = len - off;
		}
		classify(v, policy, flow, (enum st_http_method)method,
			 flow_hash);
		(*found)++;
		mirrors |= st_policy_mirrors(policy, flow, flow_hash);
		expect_next_request(flow, head_len, head.body_len, seq + off,
				    direction(info));
		if (flow->next_request_dir == 0)
			break;
		off = flow->next_request_seq - seq;
	}
	if (n == MAX_REQUESTS_PER_SEGMENT && off < len) {
		v->stats->http_heads_partial++;
		flow->next_request_dir = 0;
	}
	return mirrors;
}

/*
 * Where in a segment the next request starts: at its start when it begins
 * with a method (what a request start is), else where the previous
 * request's body ends, when that is in this segment. Returns false when
 * the segment lies wholly inside that body.
 */
static bool
request_offset(struct st_flow *flow, struct rte_mbuf *m,
	       const struct st_pkt_info *info, uint32_t seq, uint32_t *off)
{
	const uint8_t *data =
		rte_pktmbuf_mtod(m, const uint8_t *) + info->payload_off;
	uint32_t ahead = flow->next_request_seq - seq;

	*off = 0;
	if (flow->next_request_dir != direction(info) ||
	    st_http_request_method(data, info->payload_len) !=
		    ST_HTTP_NOT_REQUEST)
		return true;
	if (ahead < info->payload_len) {
		*off = ahead;
		return true;
	}
	if ((int32_t)ahead > 0)
		return false;
	/* Past it without seeing it (a gap): lost, look at segment starts. */
	flow->next_request_dir = 0;
	return true;
}

/* A segment of a flow whose request head is still incomplete. */
static void
head_continue(struct st_verdict *v, const struct st_policy *policy,
	      struct st_flow *flow, struct rte_mbuf *m,
	      const struct st_pkt_info *info, uint32_t flow_hash,
	      uint64_t now_tsc)
{
	uint16_t slot = (uint16_t)(flow->head - 1);
	struct head *h = &v->heads[slot];
	uint32_t seq, sent, mirrors, off;
	unsigned int found;
	bool held;

	/* The other direction, or no data: the verdict so far holds. */
	if (direction(info) != h->dir || info->payload_len == 0) {
		follow_verdict(v, policy, flow, m, flow_hash);
		return;
	}
	seq = tcp_seq(m, info);
	/* Data beyond a gap: the head is decided on what came before (an
	 * incomplete head, so the stream's track is lost too), and this
	 * segment follows that decision. */
	if ((int32_t)(seq - h->next_seq) > 0) {
		v->stats->http_heads_partial++;
		head_finish(v, policy, slot);
		follow_verdict(v, policy, flow, m, flow_hash);
		return;
	}
	head_hold(v, h, m);
	if (!head_append(v, policy, h,
			 rte_pktmbuf_mtod(m, const uint8_t *) +
			     info->payload_off,
			 info->payload_len, seq))
		return;
	sent = head_finish(v, policy, slot);
	/* Requests pipelined after the head in this segment: classified, and
	 * the segment copied to the mirrors they add. */
	if (request_offset(flow, m, info, seq, &off) && off > 0) {
		mirrors = scan_requests(v, policy, flow, m, info, flow_hash,
					now_tsc, seq, off, false, &held,
					&found);
		queue_copy(v, policy, flow, m, mirrors & ~sent, flow_hash);
	}
}

/*
 * A TCP segment with data and no head pending. The requests it starts
 * (at its start, or where the previous request's body ends) are
 * classified, the last one setting the flow's verdict; the segment is
 * copied to the mirrors of any of them, and of the request its first
 * bytes belong to. A segment that starts a split head is held instead.
 */
static void
request_segment(struct st_verdict *v, const struct st_policy *policy,
		struct st_flow *flow, struct rte_mbuf *m,
		const struct st_pkt_info *info, uint32_t flow_hash,
		uint64_t now_tsc)
{
	uint32_t seq = tcp_seq(m, info), off, mirrors = 0;
	unsigned int found = 0;
	bool held = false;

	if (request_offset(flow, m, info, seq, &off)) {
		mirrors = scan_requests(v, policy, flow, m, info, flow_hash,
					now_tsc, seq, off, true, &held, &found);
		if (held)
			return;
		if (off > 0 && found == 0)	/* no request where due */
			flow->next_request_dir = 0;
	}
	/* Bytes before the first request start belong to the one before. */
	if (off > 0 || found == 0)
		mirrors |= st_policy_mirrors(policy, flow, flow_hash);
	queue_copy(v, policy, flow, m, mirrors, flow_hash);
}

/*
 * Whether a segment of a flow without a pending head may start a
 * request: it has data, and begins like one or a request is due
 * somewhere in this direction. Most segments (answers, bodies, bare ACKs)
 * do none of this and follow the flow's verdict as they are, touching
 * nothing but the flow. One branch for all of it, at the caller: each
 * test a branch of its own mispredicted on the traffic's mix. A segment
 * let through that starts nothing (st_http_may_start_request() says
 * "may") is found so by request_segment() and follows the verdict too.
 */
static inline bool
may_start_request(const struct st_flow *flow, const struct rte_mbuf *m,
		  const struct st_pkt_info *info)
{
	unsigned int due = (flow->next_request_dir == direction(info)) &
			   (info->payload_len > 0);
	unsigned int starts = st_http_may_start_request(
		rte_pktmbuf_mtod(m, const uint8_t *) + info->payload_off,
		info->payload_len);

	return (due | starts) != 0;
}

void
st_verdict_packet(struct st_verdict *v, const struct st_policy *policy,
		  struct st_flow *flow, struct rte_mbuf *m,
		  const struct st_pkt_info *info, uint32_t flow_hash,
		  uint64_t now_tsc)
{
	/* No room to remember the flow: no verdict to follow, no copy. */
	if (unlikely(flow == NULL))
		return;
	if (info->flags & ST_PKT_HTTP) {
		/* Copies due go before those of a request's packets, and
		 * are counted for the route their flow had. */
		if (flow->head != 0) {
			send_due(v, policy);
			head_continue(v, policy, flow, m, info, flow_hash,
				      now_tsc);
			return;
		}
		if (may_start_request(flow, m, info)) {
			send_due(v, policy);
			request_segment(v, policy, flow, m, info, flow_hash,
					now_tsc);
			return;
		}
	}
	follow_verdict(v, policy, flow, m, flow_hash);
}

void
st_verdict_send(struct st_verdict *v, const struct st_policy *policy)
{
	send_due(v, policy);
}

/* Decide pending heads on what they hold: those older than the timeout,
 * or all of them. */
static void
finish_heads(struct st_verdict *v, const struct st_policy *policy,
	     uint64_t now_tsc, bool all)
{
	unsigned int i = 0;

	/* Copies queued before a head is decided are counted for the route
	 * their flow had, as in st_verdict_packet(). */
	send_due(v, policy);
	while (i < v->nb_used) {
		uint16_t slot = v->used_slot[i];

		if (all || now_tsc - v->heads[slot].started_tsc >
			       v->head_timeout_tsc) {
			v->stats->http_heads_partial++;
			head_finish(v, policy, slot);	/* moves a slot here */
		} else {
			i++;
		}
	}
}

void
st_verdict_expire(struct st_verdict *v, const struct st_policy *policy,
		  uint64_t now_tsc)
{
	finish_heads(v, policy, now_tsc, false);
}

void
st_verdict_drain(struct st_verdict *v, const struct st_policy *policy)
{
	finish_heads(v, policy, 0, true);
}
