/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shadow client's own HTTP/1.1 transport, for http:// (shadow.c's top
 * says why it is not libcurl): non-blocking sockets in one epoll set, a
 * pool of keep-alive connections to the address looked up at create, each
 * request written with one send() (head and body in one buffer), answers
 * framed by libhttp-parser (as exchange.c frames the captured ones).
 *
 * - Sockets are touched only from st_shadow_poll(): start() queues the
 *   connection for writing, so that a failure, and its done(), is never
 *   reported from submit.
 * - Every request's timeout is the same and runs from its slot: the
 *   requests in the order they got a slot are in deadline order, and
 *   that list is the timer.
 * - A kept-alive connection the shadow closed meanwhile (its idle
 *   timeout) fails the next request before any byte of an answer: that
 *   request is sent once more on a fresh connection, as libcurl does.
 * - Epoll is level-triggered and a connection stays registered for input
 *   while it lives, so a request costs no epoll_ctl(); output is watched
 *   only while a send() is incomplete.
 */
#include "shadow_int.h"

#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

/* Bytes read per recv(): answers larger than this take several. */
#define READ_BYTES 65536
/* Events taken per epoll_wait(). */
#define MAX_EVENTS 64
/* A name that did not resolve is looked up again at most this often. */
#define RESOLVE_RETRY_NS 1000000000ull

struct hconn;

/* Where the response head's last callback left off; AT_END once the head
 * is over (fields then are trailers, not reported). */
enum head_at { AT_NONE, AT_NAME, AT_VALUE, AT_END };

struct hxfer {
	struct shadow_xfer c;	/* first: what shadow.c knows */
	struct shadow_buf out;	/* the request, head and body, as sent */
	size_t out_off;		/* sent so far (this attempt) */
	bool head;		/* HEAD: the answer has no body */
	bool retried;		/* sent again on a fresh connection */
	unsigned int addr_tries;	/* addresses that refused it */
	/* the answer of this attempt */
	bool complete, keep_alive;
	enum head_at at;
	bool head_full;		/* SHADOW_HEAD_MAX_BYTES reached */
	size_t line_start;	/* of the field line being read */
	int status;
	uint64_t sent, received;	/* bytes, all attempts */
	uint64_t start_ns;	/* got its slot */
	uint64_t sent_ns;	/* last byte of the request written */
	uint64_t first_ns;	/* first byte of the answer read */
	struct hconn *conn;
	struct hxfer *prev, *next;	/* the timer: by start_ns */
};

struct hconn {
	int fd;			/* -1: spare */
	uint32_t events;	/* registered with epoll; 0: not */
	bool connecting;
	bool reused;		/* answered a request before */
	bool queued;		/* in the write queue */
	struct hxfer *x;	/* the request it serves; NULL when idle */
	struct hconn *next;	/* idle or spare list */
	struct hconn *wq_next;	/* write queue */
	http_parser hp;
};

struct http_tp {
	int epfd;
	char host[ST_REPLAY_URL_MAX];	/* brackets of IPv6 removed */
	char port[16];
	struct addrinfo *addrs;
	unsigned int nb_addrs, addr_at;	/* addresses, the one in use */
	uint64_t resolved_ns;		/* last look-up */
	char resolve_error[SHADOW_ERROR_SIZE];
	uint64_t timeout_ns;
	struct hconn *conns;		/* `connections` of them */
	struct hconn *idle, *spare;
	struct hconn *wq_head, *wq_tail;	/* to open or write */
	struct hxfer *t_head, *t_tail;	/* requests holding a slot */
	struct pollfd *pfds;		/* the epoll fd and the extra fds */
	unsigned int pfds_cap;
	http_parser_settings settings;
	char rbuf[READ_BYTES];
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * When the answer's first bytes reached this host, on the monotonic clock:
 * the kernel's receive stamp (SO_TIMESTAMPNS, realtime) of what @p msg
 * read, moved onto CLOCK_MONOTONIC. Waking up to read is late by however
 * busy the replay was (reading a capture, comparing answers): a shadow
 * timed by it would look slower the busier the replay, while the primary
 * is timed by capture stamps. Without a stamp, now.
 */
static uint64_t
arrival_ns(struct msghdr *msg)
{
	struct cmsghdr *cm;
	struct timespec real;
	uint64_t now = now_ns(), stamp_ns, real_ns;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		struct timespec stamp;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&stamp, CMSG_DATA(cm), sizeof(stamp));
		clock_gettime(CLOCK_REALTIME, &real);
		stamp_ns = (uint64_t)stamp.tv_sec * 1000000000ull +
			   (uint64_t)stamp.tv_nsec;
		real_ns = (uint64_t)real.tv_sec * 1000000000ull +
			  (uint64_t)real.tv_nsec;
		/* A stamp from the future (the clock was set) says nothing. */
		return stamp_ns <= real_ns && real_ns - stamp_ns < now ?
			       now - (real_ns - stamp_ns) :
			       now;
	}
	return now;
}

static double
ms_between(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (double)(to_ns - from_ns) / 1e6 : 0.0;
}

static struct hxfer *
hx(struct shadow_xfer *x)
{
	return (struct hxfer *)x;
}

/* --- the answer, through http_parser ------------------------------------ */

/* Append to the field lines, up to SHADOW_HEAD_MAX_BYTES; from there the
 * rest of the head is left out, whole lines only (short of memory too:
 * a head is not worth failing the answer for). */
static void
head_add(struct hxfer *x, const char *p, size_t n)
{
	if (x->head_full)
		return;
	if (x->c.head.len + n > SHADOW_HEAD_MAX_BYTES ||
	    shadow_buf_add(&x->c.head, p, n, SHADOW_HEAD_MAX_BYTES) < 0) {
		x->head_full = true;
		x->c.head.len = x->line_start;
	}
}

static int
on_message_begin(http_parser *hp)
{
	struct hxfer *x = hp->data;

	/* An interim 1xx answer is followed by another: only the last
	 * one's fields are kept. */
	x->c.head.len = 0;
	x->line_start = 0;
	x->head_full = false;
	x->at = AT_NONE;
	return 0;
}

/* A name or a value may come in pieces (one per read); an empty value
 * comes as a value of length 0. */
static int
on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct hxfer *x = hp->data;

	if (x->at == AT_END)
		return 0;
	if (x->at == AT_VALUE) {
		head_add(x, "\r\n", 2);
		x->line_start = x->c.head.len;
	}
	x->at = AT_NAME;
	head_add(x, at, len);
	return 0;
}

static int
on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct hxfer *x = hp->data;

	if (x->at == AT_END)
		return 0;
	if (x->at == AT_NAME)
		head_add(x, ": ", 2);
	x->at = AT_VALUE;
	head_add(x, at, len);
	return 0;
}

static int
on_headers_complete(http_parser *hp)
{
	struct hxfer *x = hp->data;

	if (x->at == AT_VALUE)
		head_add(x, "\r\n", 2);
	x->at = AT_END;
	x->status = hp->status_code;
	/* 1: no body follows, whatever the fields say */
	return x->head ? 1 : 0;
}

static int
on_body(http_parser *hp, const char *at, size_t len)
{
	return shadow_keep_body(hp->data, at, len) < 0 ? -1 : 0;
}

static int
on_message_complete(http_parser *hp)
{
	struct hxfer *x = hp->data;

	if (hp->status_code / 100 == 1)
		return 0;
	x->complete = true;
	x->keep_alive = http_should_keep_alive(hp) != 0;
	/* No pipelining: whatever follows is not an answer of ours. */
	http_parser_pause(hp, 1);
	return 0;
}

/* --- connections -------------------------------------------------------- */

static void
timer_add(struct http_tp *t, struct hxfer *x)
{
	x->next = NULL;
	x->prev = t->t_tail;
	if (t->t_tail != NULL)
		t->t_tail->next = x;
	else
		t->t_head = x;
	t->t_tail = x;
}

static void
timer_del(struct http_tp *t, struct hxfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		t->t_head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		t->t_tail = x->prev;
}

static void
queue_write(struct http_tp *t, struct hconn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	c->wq_next = NULL;
	if (t->wq_tail != NULL)
		t->wq_tail->wq_next = c;
	else
		t->wq_head = c;
	t->wq_tail = c;
}

/* Register @p c's fd with epoll for @p events, if not already. */
static int
watch(struct http_tp *t, struct hconn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(t->epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
		      c->fd, &ev) < 0)
		return -errno;
	c->events = events;
	return 0;
}

/* Close @p c (not idle) and make it spare; its request, if any, is the
 * caller's. */
static void
conn_close(struct http_tp *t, struct hconn *c)
{
	/* closing the fd takes it out of the epoll set */
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->events = 0;
	c->connecting = false;
	c->reused = false;
	c->x = NULL;
	c->next = t->spare;
	t->spare = c;
}

static void
idle_del(struct http_tp *t, struct hconn *c)
{
	struct hconn **pp = &t->idle;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
}

/* Give @p x a connection: an idle one unless @p fresh, else a new one.
 * There is one: @p x holds a slot, and every busy connection serves a
 * slot of its own. */
static void
attach(struct http_tp *t, struct hxfer *x, bool fresh)
{
	struct hconn *c;

	if (!fresh && t->idle != NULL) {
		c = t->idle;
		t->idle = c->next;
	} else {
		c = t->spare;
		t->spare = c->next;
	}
	c->x = x;
	x->conn = c;
	x->out_off = 0;
	x->complete = false;
	x->keep_alive = false;
	x->status = 0;
	x->sent_ns = 0;
	x->first_ns = 0;
	x->c.head.len = 0;
	x->c.body.len = 0;
	x->c.body_truncated = false;
	http_parser_init(&c->hp, HTTP_RESPONSE);
	c->hp.data = x;
	queue_write(t, c);
}

/* @p x is over with @p outcome; its connection was let go. */
static void
finish(struct st_shadow *s, struct hxfer *x, enum st_shadow_outcome outcome)
{
	struct st_shadow_response r = {
		.outcome = outcome,
		.status = x->status,
		.ttfb_ms = x->first_ns != 0 && x->sent_ns != 0 ?
				   ms_between(x->sent_ns, x->first_ns) :
				   0.0,
		.total_ms = ms_between(x->start_ns, now_ns()),
	};

	timer_del(s->be, x);
	shadow_finish(s, &x->c, &r, x->sent, x->received);
}

/* @p c failed here, not on the network: ERROR. */
static void
conn_fail(struct st_shadow *s, struct hconn *c, const char *what, int err)
{
	struct hxfer *x = c->x;

	snprintf(x->c.error, sizeof(x->c.error), "%s: %s", what,
		 strerror(err));
	conn_close(s->be, c);
	finish(s, x, ST_SHADOW_ERROR);
}

/* @p c broke with @p err (0: the shadow closed it). */
static void
conn_broke(struct st_shadow *s, struct hconn *c, int err)
{
	struct http_tp *t = s->be;
	struct hxfer *x = c->x;
	bool connecting = c->connecting, reused = c->reused;

	conn_close(t, c);
	if (connecting) {
		/* the name's next address, if it has another */
		t->addr_at = (t->addr_at + 1) % t->nb_addrs;
		if (++x->addr_tries < t->nb_addrs) {
			attach(t, x, true);
			return;
		}
		/* the host cut short: the message has a fixed room */
		snprintf(x->c.error, sizeof(x->c.error),
			 "connecting to %.100s port %s: %s", t->host, t->port,
			 strerror(err));
		finish(s, x, ST_SHADOW_REFUSED);
		return;
	}
	if (reused && x->received == 0 && !x->retried) {
		x->retried = true;
		attach(t, x, true);
		return;
	}
	if (err != 0)
		snprintf(x->c.error, sizeof(x->c.error), "%s", strerror(err));
	else
		snprintf(x->c.error, sizeof(x->c.error),
			 "the shadow closed the connection %s",
			 x->received == 0 ? "without answering" :
					    "in the middle of the answer");
	finish(s, x, ST_SHADOW_RESET);
}

/* Write what is left of @p c's request. */
static void
conn_send(struct st_shadow *s, struct hconn *c)
{
	struct hxfer *x = c->x;
	ssize_t w = send(c->fd, x->out.data + x->out_off,
			 x->out.len - x->out_off, MSG_NOSIGNAL);
	int rc;

	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		conn_broke(s, c, errno);
		return;
	}
	if (w > 0) {
		x->out_off += (size_t)w;
		x->sent += (uint64_t)w;
	}
	if (x->out_off == x->out.len)
		x->sent_ns = now_ns();
	/* the rest when the socket has room */
	rc = watch(s->be, c,
		   x->out_off < x->out.len ? EPOLLIN | EPOLLOUT : EPOLLIN);
	if (rc < 0)
		conn_fail(s, c, "epoll_ctl", -rc);
}

/* The shadow's addresses, looked up at create and, after a failure, again
 * at most once a second (meanwhile requests fail with ERROR). */
static int
resolve(struct http_tp *t)
{
	const struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	const struct addrinfo *a;
	uint64_t now;
	int rc;

	if (t->addrs != NULL)
		return 0;
	now = now_ns();
	if (t->resolved_ns != 0 && now - t->resolved_ns < RESOLVE_RETRY_NS)
		return -1;
	t->resolved_ns = now;
	rc = getaddrinfo(t->host, t->port, &hints, &t->addrs);
	if (rc != 0) {
		t->addrs = NULL;
		snprintf(t->resolve_error, sizeof(t->resolve_error),
			 "could not resolve %.100s: %s", t->host,
			 gai_strerror(rc));
		return -1;
	}
	t->nb_addrs = 0;
	for (a = t->addrs; a != NULL; a = a->ai_next)
		t->nb_addrs++;
	t->addr_at = 0;
	return 0;
}

/* Open a connection for @p c's request. */
static void
conn_open(struct st_shadow *s, struct hconn *c)
{
	struct http_tp *t = s->be;
	const struct addrinfo *a;
	unsigned int i;
	int one = 1, rc;

	if (resolve(t) < 0) {
		struct hxfer *x = c->x;

		snprintf(x->c.error, sizeof(x->c.error), "%s",
			 t->resolve_error);
		conn_close(t, c);
		finish(s, x, ST_SHADOW_ERROR);
		return;
	}
	for (a = t->addrs, i = 0; i < t->addr_at; i++)
		a = a->ai_next;
	c->fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (c->fd < 0) {
		conn_fail(s, c, "socket", errno);
		return;
	}
	/* A request is one send(), its answer awaited: Nagle would only
	 * hold back a request that did not fit in one segment. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Answers are timed by when they arrived (arrival_ns()). */
	setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	c->connecting = true;
	if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0) {
		c->connecting = false;
		conn_send(s, c);
		return;
	}
	if (errno != EINPROGRESS) {
		conn_broke(s, c, errno);
		return;
	}
	rc = watch(t, c, EPOLLIN | EPOLLOUT);
	if (rc < 0)
		conn_fail(s, c, "epoll_ctl", -rc);
}

/* Open and write what start() and retries queued. */
static void
flush(struct st_shadow *s)
{
	struct http_tp *t = s->be;
	struct hconn *c;

	while ((c = t->wq_head) != NULL) {
		t->wq_head = c->wq_next;
		if (t->wq_head == NULL)
			t->wq_tail = NULL;
		c->queued = false;
		/* its request ended (timed out) before it was written */
		if (c->x == NULL)
			continue;
		if (c->fd < 0)
			conn_open(s, c);
		else if (!c->connecting)
			conn_send(s, c);
	}
}

/* @p c's answer is complete: keep the connection for the next request
 * if the shadow keeps it, said nothing more, and took the whole request
 * (it may answer early). */
static void
answered(struct st_shadow *s, struct hconn *c, bool more)
{
	struct http_tp *t = s->be;
	struct hxfer *x = c->x;

	if (x->keep_alive && !more && x->out_off == x->out.len) {
		c->x = NULL;
		c->reused = true;
		c->next = t->idle;
		t->idle = c;
	} else {
		conn_close(t, c);
	}
	finish(s, x, ST_SHADOW_ANSWERED);
}

/* Read @p c's answer. */
static void
conn_read(struct st_shadow *s, struct hconn *c)
{
	struct http_tp *t = s->be;
	struct hxfer *x = c->x;
	enum http_errno he;
	ssize_t r;
	size_t n;

	do {
		union {
			char buf[CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { t->rbuf, sizeof(t->rbuf) };
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};

		r = recvmsg(c->fd, &msg, 0);
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_broke(s, c, errno);
			return;
		}
		if (r > 0 && x->received == 0) {
			x->first_ns = arrival_ns(&msg);
			/* Sent and answered while the replay was away: the
			 * answer cannot precede the request's last byte. */
			if (x->first_ns < x->sent_ns)
				x->first_ns = x->sent_ns;
		}
		x->received += (uint64_t)r;
		/* 0 bytes tell the parser the input ended: that completes
		 * an answer whose body runs to the close */
		n = http_parser_execute(&c->hp, &t->settings, t->rbuf,
					(size_t)r);
		if (x->complete) {
			answered(s, c, n < (size_t)r);
			return;
		}
		if (r == 0) {
			conn_broke(s, c, 0);
			return;
		}
		he = HTTP_PARSER_ERRNO(&c->hp);
		if (he != HPE_OK) {
			snprintf(x->c.error, sizeof(x->c.error),
				 "the shadow's answer: %s",
				 http_errno_description(he));
			conn_close(t, c);
			finish(s, x, ST_SHADOW_ERROR);
			return;
		}
	} while (r == (ssize_t)sizeof(t->rbuf));
}

static void
conn_event(struct st_shadow *s, struct hconn *c, uint32_t ev)
{
	struct http_tp *t = s->be;
	int err = 0;
	socklen_t len = sizeof(err);

	/* closed earlier in this round of events */
	if (c->fd < 0)
		return;
	if (c->x == NULL) {
		/* idle: the shadow closed it (or spoke unasked) */
		idle_del(t, c);
		conn_close(t, c);
		return;
	}
	if (c->connecting) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		/* a hang-up without an error is a failure all the same */
		if (err == 0 && !(ev & EPOLLOUT) &&
		    (ev & (EPOLLERR | EPOLLHUP)))
			err = ECONNRESET;
		if (err != 0) {
			conn_broke(s, c, err);
			return;
		}
		/* still connecting */
		if (!(ev & EPOLLOUT))
			return;
		c->connecting = false;
		conn_send(s, c);
		return;
	}
	if ((ev & EPOLLOUT) && c->x->out_off < c->x->out.len) {
		conn_send(s, c);
		/* it broke, and its request may be on this one again */
		if (c->x == NULL || c->fd < 0 || c->connecting)
			return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(s, c);
}

/* Requests past their deadline at @p now time out. */
static void
expire(struct st_shadow *s, uint64_t now)
{
	struct http_tp *t = s->be;
	struct hxfer *x;

	while ((x = t->t_head) != NULL && x->start_ns + t->timeout_ns <= now) {
		snprintf(x->c.error, sizeof(x->c.error),
			 "timed out after %u ms with %llu bytes received",
			 s->conf.timeout_ms, (unsigned long long)x->received);
		conn_close(t, x->conn);
		finish(s, x, ST_SHADOW_TIMEOUT);
	}
}

/* The wait: @p timeout_ms, shortened to the first deadline. */
static int
wait_ms(const struct http_tp *t, int timeout_ms)
{
	uint64_t due, now, ms;

	if (t->t_head == NULL)
		return timeout_ms;
	due = t->t_head->start_ns + t->timeout_ns;
	now = now_ns();
	ms = due > now ? (due - now + 999999) / 1000000 : 0;
	if (ms > INT_MAX)
		ms = INT_MAX;
	return timeout_ms >= 0 && (uint64_t)timeout_ms < ms ? timeout_ms :
							      (int)ms;
}

/* Wait on the epoll set and @p extra at once: poll() on both, then the
 * set's events without waiting. @return the epoll events at @p ev, or a
 * negative errno; @p ready receives the extra fds with events. */
static int
wait_extra(struct http_tp *t, struct pollfd *extra, unsigned int nb_extra,
	   int timeout, struct epoll_event *ev, int *ready)
{
	unsigned int i;
	int n;

	if (nb_extra + 1 > t->pfds_cap) {
		struct pollfd *p =
			realloc(t->pfds, (nb_extra + 1) * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		t->pfds = p;
		t->pfds_cap = nb_extra + 1;
	}
	t->pfds[0] = (struct pollfd){ .fd = t->epfd, .events = POLLIN };
	for (i = 0; i < nb_extra; i++)
		t->pfds[i + 1] = (struct pollfd){
			.fd = extra[i].fd,
			.events = extra[i].events &
				  (POLLIN | POLLPRI | POLLOUT),
		};
	n = poll(t->pfds, nb_extra + 1, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < nb_extra; i++) {
		short r = t->pfds[i + 1].revents;

		/* as libcurl reported them (shadow.h) */
		if (r & POLLHUP)
			r |= POLLIN;
		if (r & POLLERR)
			r |= POLLIN | POLLOUT;
		extra[i].revents = r & (POLLIN | POLLPRI | POLLOUT);
		*ready += extra[i].revents != 0;
	}
	if (t->pfds[0].revents == 0)
		return 0;
	n = epoll_wait(t->epfd, ev, MAX_EVENTS, 0);
	return n < 0 ? (errno == EINTR ? 0 : -errno) : n;
}

static int
http_poll(struct st_shadow *s, struct pollfd *extra, unsigned int nb_extra,
	  int timeout_ms)
{
	struct http_tp *t = s->be;
	struct epoll_event ev[MAX_EVENTS];
	uint64_t done = s->stats.submitted - s->in_flight;
	int i, n, ready = 0, timeout;

	flush(s);
	/* no waiting once done() was called (a connection refused at
	 * once): the caller has progress to see */
	timeout = s->stats.submitted - s->in_flight != done ?
			  0 :
			  wait_ms(t, timeout_ms);
	if (nb_extra > 0) {
		n = wait_extra(t, extra, nb_extra, timeout, ev, &ready);
	} else {
		n = epoll_wait(t->epfd, ev, MAX_EVENTS, timeout);
		if (n < 0)
			n = errno == EINTR ? 0 : -errno;
	}
	if (n == -ENOMEM)
		return n;
	if (n < 0)
		return -EIO;
	for (i = 0; i < n; i++)
		conn_event(s, ev[i].data.ptr, ev[i].events);
	expire(s, now_ns());
	/* what done() submitted, and retries */
	flush(s);
	return ready;
}

static void
http_start(struct st_shadow *s, struct shadow_xfer *sx)
{
	struct http_tp *t = s->be;
	struct hxfer *x = hx(sx);

	x->start_ns = now_ns();
	timer_add(t, x);
	attach(t, x, false);
}

static int
out_add(struct hxfer *x, const void *p, size_t n)
{
	return shadow_buf_add(&x->out, p, n, SIZE_MAX);
}

/* The request as written: request line, fields, Content-Length for a
 * body, the body. */
static int
http_prepare(struct st_shadow *s, struct shadow_xfer *sx,
	     const struct shadow_msg *m)
{
	struct hxfer *x = hx(sx);
	char cl[40];
	int n = 0;

	(void)s;
	x->head = m->head;
	x->out.len = 0;
	if (m->with_body)
		n = snprintf(cl, sizeof(cl), "Content-Length: %u\r\n",
			     m->body_len);
	if (out_add(x, m->method, strlen(m->method)) < 0 ||
	    out_add(x, " ", 1) < 0 ||
	    out_add(x, m->target, strlen(m->target)) < 0 ||
	    out_add(x, " HTTP/1.1\r\n", 11) < 0 ||
	    out_add(x, m->fields, m->fields_len) < 0 ||
	    out_add(x, cl, (size_t)n) < 0 || out_add(x, "\r\n", 2) < 0 ||
	    (m->with_body && out_add(x, m->body, m->body_len) < 0))
		return -ENOMEM;
	return 0;
}

static struct shadow_xfer *
http_xfer_new(void)
{
	struct hxfer *x = calloc(1, sizeof(*x));

	return x != NULL ? &x->c : NULL;
}

static void
http_xfer_reset(struct shadow_xfer *sx)
{
	struct hxfer *x = hx(sx);

	shadow_buf_recycle(&x->out);
	x->retried = false;
	x->addr_tries = 0;
	x->sent = 0;
	x->received = 0;
	x->conn = NULL;
}

static void
http_xfer_free(struct st_shadow *s, struct shadow_xfer *sx)
{
	struct hxfer *x = hx(sx);

	(void)s;
	free(x->out.data);
	free(x);
}

static int
http_init(struct st_shadow *s, const char *host, const char *port, char *err,
	  size_t errlen)
{
	struct http_tp *t = calloc(1, sizeof(*t));
	size_t len = strlen(host);
	unsigned int i;

	if (t == NULL) {
		snprintf(err, errlen, "shadow: out of memory");
		return -ENOMEM;
	}
	s->be = t;
	t->epfd = -1;
	t->conns = calloc(s->conf.connections, sizeof(*t->conns));
	if (t->conns == NULL) {
		snprintf(err, errlen, "shadow: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < s->conf.connections; i++) {
		t->conns[i].fd = -1;
		t->conns[i].next = t->spare;
		t->spare = &t->conns[i];
	}
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0) {
		snprintf(err, errlen, "shadow: epoll: %s", strerror(errno));
		return -errno;
	}
	if (host[0] == '[' && len >= 2 && host[len - 1] == ']')
		snprintf(t->host, sizeof(t->host), "%.*s", (int)(len - 2),
			 host + 1);
	else
		snprintf(t->host, sizeof(t->host), "%s", host);
	snprintf(t->port, sizeof(t->port), "%s", port);
	t->timeout_ns = (uint64_t)s->conf.timeout_ms * 1000000ull;
	t->settings.on_message_begin = on_message_begin;
	t->settings.on_header_field = on_header_field;
	t->settings.on_header_value = on_header_value;
	t->settings.on_headers_complete = on_headers_complete;
	t->settings.on_body = on_body;
	t->settings.on_message_complete = on_message_complete;
	/* A name that does not resolve yet fails requests, not the start:
	 * the shadow may come up later. */
	resolve(t);
	return 0;
}

static void
http_fini(struct st_shadow *s)
{
	struct http_tp *t = s->be;
	unsigned int i;

	if (t == NULL)
		return;
	for (i = 0; t->conns != NULL && i < s->conf.connections; i++)
		if (t->conns[i].fd >= 0)
			close(t->conns[i].fd);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->addrs != NULL)
		freeaddrinfo(t->addrs);
	free(t->conns);
	free(t->pfds);
	free(t);
	s->be = NULL;
}

const struct shadow_transport shadow_http = {
	.init = http_init,
	.fini = http_fini,
	.xfer_new = http_xfer_new,
	.prepare = http_prepare,
	.start = http_start,
	.xfer_reset = http_xfer_reset,
	.xfer_free = http_xfer_free,
	.poll = http_poll,
};
