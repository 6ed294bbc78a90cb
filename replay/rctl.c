/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE	/* accept4, struct ucred */
#include "rctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The appliance's control/ctl.c serves the same protocol, but it lives in
 * a library that links DPDK; the line handling here is kept to what two
 * commands need, with the appliance's error texts.
 */
#define MAX_CLIENTS (ST_RCTL_MAX_FDS - 1)
#define MAX_LINE (64 * 1024)
/* A client that does not read its replies is dropped past this. */
#define MAX_PENDING_OUT (8 * 1024 * 1024)

struct client {
	int fd;			/* -1: free slot */
	bool closing;		/* close once the replies are out */
	size_t in_len;
	char in[MAX_LINE + 1];	/* a line and its newline */
	char *out;
	size_t out_len;
};

struct st_rctl {
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	st_rctl_stats_fn stats;
	void *stats_arg;
	struct client clients[MAX_CLIENTS];
};

/* --- requests ------------------------------------------------------------ */

static int
cmd_version(struct st_rctl *c, json_t *reply, char *err, size_t errlen)
{
	(void)c, (void)err, (void)errlen;
	json_object_set_new(reply, "version", json_string(ST_VERSION));
	json_object_set_new(reply, "program",
			    json_string("shadowtap-replay"));
	return 0;
}

static int
cmd_stats(struct st_rctl *c, json_t *reply, char *err, size_t errlen)
{
	json_t *stats = c->stats(c->stats_arg);

	if (stats == NULL) {
		snprintf(err, errlen, "cannot render the counters");
		return -1;
	}
	json_object_set_new(reply, "stats", stats);
	return 0;
}

/* Neither command takes an argument. */
static const struct {
	const char *name;
	int (*handler)(struct st_rctl *c, json_t *reply, char *err,
		       size_t errlen);
} commands[] = {
	{ "version", cmd_version },
	{ "stats", cmd_stats },
};

/* One request line's reply (NULL only when out of memory). */
static json_t *
run_request(struct st_rctl *c, const char *line, size_t len)
{
	json_t *reply = json_object(), *req = NULL, *v;
	char err[512] = "";
	json_error_t jerr;
	const char *name, *key;
	unsigned int i;
	int ret = -1;

	if (len == 0) {
		snprintf(err, sizeof(err), "empty request");
		goto done;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		snprintf(err, sizeof(err), "malformed JSON at column %d: %s",
			 jerr.column, jerr.text);
		goto done;
	}
	if (json_object_get(req, "id") != NULL)
		json_object_set(reply, "id", json_object_get(req, "id"));
	if (!json_is_object(req)) {
		snprintf(err, sizeof(err), "a request is a JSON object");
		goto done;
	}
	if (!json_is_string(json_object_get(req, "command"))) {
		snprintf(err, sizeof(err), "'command' must be a string");
		goto done;
	}
	name = json_string_value(json_object_get(req, "command"));
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		snprintf(err, sizeof(err),
			 "unknown command '%s' (version, stats)", name);
		goto done;
	}
	json_object_foreach(req, key, v) {
		if (strcmp(key, "command") != 0 && strcmp(key, "id") != 0) {
			snprintf(err, sizeof(err), "%s takes no '%s'", name,
				 key);
			goto done;
		}
	}
	ret = commands[i].handler(c, reply, err, sizeof(err));
done:
	json_decref(req);
	json_object_set_new(reply, "ok", json_boolean(ret == 0));
	if (ret != 0)
		json_object_set_new(reply, "error", json_string(err));
	return reply;
}

/* --- clients ------------------------------------------------------------- */

static void
client_close(struct client *cl)
{
	close(cl->fd);
	free(cl->out);
	cl->fd = -1;
	cl->out = NULL;
	cl->out_len = 0;
	cl->in_len = 0;
	cl->closing = false;
}

/* Queue a reply line; a client past the bound is closed. */
static void
client_send(struct client *cl, json_t *reply)
{
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;
	char *out;

	json_decref(reply);
	out = text && cl->out_len + len + 1 <= MAX_PENDING_OUT ?
		      realloc(cl->out, cl->out_len + len + 1) :
		      NULL;
	if (out == NULL) {
		free(text);
		cl->closing = true;
		cl->out_len = 0;
		return;
	}
	memcpy(out + cl->out_len, text, len);
	out[cl->out_len + len] = '\n';
	cl->out = out;
	cl->out_len += len + 1;
	free(text);
}

static void
client_flush(struct client *cl)
{
	ssize_t n;

	while (cl->out_len > 0) {
		n = send(cl->fd, cl->out, cl->out_len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				client_close(cl);
			if (errno != EINTR)
				return;
			continue;
		}
		memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
		cl->out_len -= (size_t)n;
	}
	/* A peer half-closes when done: its replies went out, close. */
	if (cl->closing)
		client_close(cl);
}

static void
client_read(struct st_rctl *c, struct client *cl)
{
	ssize_t n = recv(cl->fd, cl->in + cl->in_len,
			 sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);
	char *nl;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			cl->closing = true;
		return;
	}
	cl->in_len += (size_t)n;
	while (!cl->closing &&
	       (nl = memchr(cl->in, '\n', cl->in_len)) != NULL) {
		size_t len = (size_t)(nl - cl->in);

		client_send(cl, run_request(c, cl->in,
					    len > 0 && cl->in[len - 1] == '\r' ?
						    len - 1 :
						    len));
		memmove(cl->in, nl + 1, cl->in_len - len - 1);
		cl->in_len -= len + 1;
	}
	if (!cl->closing && cl->in_len == sizeof(cl->in)) {
		client_send(cl, json_pack("{s:b, s:s}", "ok", 0, "error",
					  "line too long (more than 65536 "
					  "bytes): closing"));
		cl->closing = true;
	}
}

/* As the appliance: root, the same user or the socket's group. */
static bool
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid() ||
	       cred.gid == getegid();
}

static void
refuse(int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line),
			 "{\"ok\":false,\"error\":\"%s\"}\n", why);

	/* Best effort: the peer is told why, then closed. */
	(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void
accept_clients(struct st_rctl *c)
{
	unsigned int i;
	int fd;

	while ((fd = accept4(c->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (!peer_allowed(fd)) {
			refuse(fd, "permission denied");
			continue;
		}
		for (i = 0; i < MAX_CLIENTS && c->clients[i].fd >= 0; i++)
			;
		if (i == MAX_CLIENTS) {
			refuse(fd, "too many clients: try again later");
			continue;
		}
		c->clients[i].fd = fd;
	}
}

unsigned int
st_rctl_fds(const struct st_rctl *c, struct pollfd *fds)
{
	unsigned int i, n = 0;

	fds[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
	for (i = 0; i < MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			fds[n++] = (struct pollfd){
				.fd = c->clients[i].fd,
				.events = (short)(POLLIN |
						  (c->clients[i].out_len ?
							   POLLOUT :
							   0)),
			};
	return n;
}

void
st_rctl_handle(struct st_rctl *c, const struct pollfd *fds,
	       unsigned int nb_fds)
{
	unsigned int i, j;

	for (i = 1; i < nb_fds; i++) {
		struct client *cl = NULL;

		if (fds[i].revents == 0)
			continue;
		for (j = 0; j < MAX_CLIENTS && cl == NULL; j++)
			if (c->clients[j].fd == fds[i].fd)
				cl = &c->clients[j];
		if (cl == NULL)
			continue;
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			client_read(c, cl);
		if (cl->fd >= 0)
			client_flush(cl);
	}
	if (nb_fds > 0 && fds[0].revents & POLLIN)
		accept_clients(c);
}

/* --- the socket ---------------------------------------------------------- */

/* Is a live process serving @p addr? (A leftover socket file is not.) */
static bool
served(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && connect(fd, (const struct sockaddr *)addr,
				       sizeof(*addr)) == 0;

	if (fd >= 0)
		close(fd);
	return live;
}

int
st_rctl_start(const char *path, st_rctl_stats_fn stats, void *arg,
	      struct st_rctl **out, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct st_rctl *c;
	unsigned int i;
	int rc;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "--socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	if (served(&addr)) {
		snprintf(err, errlen, "--socket %s: another process serves "
			 "it: give each its own --socket", path);
		return -EADDRINUSE;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	strcpy(c->path, path);
	c->stats = stats;
	c->stats_arg = arg;
	unlink(path);	/* a leftover of a process that is gone */
	c->listen_fd = socket(AF_UNIX,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0 ||
	    bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(path, 0660) != 0 || listen(c->listen_fd, MAX_CLIENTS) != 0) {
		rc = -errno;
		snprintf(err, errlen, "--socket %s: %s", path, strerror(errno));
		if (c->listen_fd >= 0)
			close(c->listen_fd);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
st_rctl_stop(struct st_rctl *c)
{
	unsigned int i;

	if (c == NULL)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			client_close(&c->clients[i]);
	close(c->listen_fd);
	unlink(c->path);
	free(c);
}
