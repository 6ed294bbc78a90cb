/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE	/* accept4, struct ucred */
#include "ctlsock.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LINE (64 * 1024)
/* A client that does not read its replies is dropped past this. */
#define MAX_PENDING_OUT (8 * 1024 * 1024)
/* Input thrown away after a last reply before the connection is cut. */
#define MAX_DRAIN (1024 * 1024)

struct client {
	int fd;			/* -1: free slot */
	bool closing;		/* close once the replies are out */
	bool draining;		/* replies out: discard input until EOF */
	size_t drained;
	size_t in_len;
	char *in;		/* MAX_LINE bytes and the newline */
	char *out;
	size_t out_len;
	size_t out_cap;
};

struct st_ctlsock {
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct st_ctlsock_command *commands;
	unsigned int nb_commands;
	void *arg;
	struct pollfd *pfds;	/* st_ctlsock_poll()'s, max_clients + 1 */
	unsigned int max_clients;
	struct client clients[];
};

/* --- requests and replies ------------------------------------------------ */

static int
check_keys(json_t *req, const struct st_ctlsock_command *cmd, char *err,
	   size_t errlen)
{
	const char *key;
	json_t *value;
	unsigned int i;

	json_object_foreach(req, key, value) {
		bool known = strcmp(key, "command") == 0 ||
			     strcmp(key, "id") == 0;

		for (i = 0; !known && cmd->args[i] != NULL; i++)
			known = strcmp(key, cmd->args[i]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s takes no '%s'", cmd->name,
				 key);
			return -1;
		}
	}
	return 0;
}

int
st_ctlsock_arg_string(json_t *req, const char *key, const char **out,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(req, key);

	if (!json_is_string(v)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
st_ctlsock_arg_percent(json_t *req, double *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, "percent");

	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 100) {
		snprintf(err, errlen,
			 "'percent' must be a number from 0 to 100");
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

/* "unknown command 'NAME' (every, name, of, the, table)" */
static void
unknown_command(const struct st_ctlsock_command *commands,
		unsigned int nb_commands, const char *name, char *err,
		size_t errlen)
{
	size_t len;
	unsigned int i;

	snprintf(err, errlen, "unknown command '%s' (", name);
	for (i = 0; i < nb_commands; i++) {
		len = strlen(err);
		snprintf(err + len, errlen - len, "%s%s", i > 0 ? ", " : "",
			 commands[i].name);
	}
	len = strlen(err);
	snprintf(err + len, errlen - len, ")");
}

/*
 * The "error" of a reply. jansson takes only UTF-8, and a message may not
 * be: snprintf() cuts the request's own text (a command's name, a key, a
 * name a handler quotes) at the buffer's end, perhaps inside a character,
 * and a handler may quote bytes that are not text (a file name). Rather
 * than a reply without its error, such a message goes out with '?' for
 * each byte outside ASCII.
 */
static json_t *
error_string(char *err)
{
	json_t *s = json_string(err);
	char *c;

	for (c = err; s == NULL && *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	return s != NULL ? s : json_string(err);
}

json_t *
st_ctlsock_request(const struct st_ctlsock_command *commands,
		   unsigned int nb_commands, void *arg, const char *line,
		   size_t len)
{
	json_t *reply = json_object(), *req = NULL, *name;
	const struct st_ctlsock_command *cmd = NULL;
	char err[1024] = "";
	json_error_t jerr;
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
	name = json_object_get(req, "command");
	if (!json_is_string(name)) {
		snprintf(err, sizeof(err), "'command' must be a string");
		goto done;
	}
	for (i = 0; i < nb_commands && cmd == NULL; i++)
		if (strcmp(commands[i].name, json_string_value(name)) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		unknown_command(commands, nb_commands, json_string_value(name),
				err, sizeof(err));
		goto done;
	}
	if (check_keys(req, cmd, err, sizeof(err)) == 0)
		ret = cmd->handler(arg, req, reply, err, sizeof(err));
done:
	json_decref(req);
	json_object_set_new(reply, "ok", json_boolean(ret == 0));
	if (ret != 0)
		json_object_set_new(reply, "error", error_string(err));
	return reply;
}

static void
client_close(struct client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Send what is pending, as far as the socket takes it. */
static void
client_flush(struct client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->closing = true, c->out_len = 0;
			if (errno != EINTR)
				break;
			continue;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	/* Closing a socket with unread input resets the connection, and the
	 * peer loses the last reply: stop sending, and read to the end. */
	if (c->closing && c->out_len == 0 && !c->draining) {
		shutdown(c->fd, SHUT_WR);
		c->draining = true;
	}
}

static void
client_drain(struct client *c)
{
	char sink[4096];
	ssize_t n;

	while ((n = recv(c->fd, sink, sizeof(sink), 0)) > 0)
		if ((c->drained += (size_t)n) > MAX_DRAIN)
			break;
	if (n == 0 || c->drained > MAX_DRAIN ||
	    (n < 0 && errno != EAGAIN && errno != EINTR))
		client_close(c);
}

static void
client_send(struct client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;

	json_decref(reply);
	if (text == NULL || c->out_len + len + 1 > MAX_PENDING_OUT) {
		/* Out of memory, or a client that reads nothing. */
		free(text);
		c->closing = true;
		c->out_len = 0;
		return;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = (c->out_len + len + 1) * 2;
		char *out = realloc(c->out, cap);

		if (out == NULL) {
			free(text);
			c->closing = true;
			return;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	free(text);
}

static json_t *
error_reply(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* Answer every complete line received; refuse a line that cannot end. */
static void
client_lines(struct st_ctlsock *s, struct client *c)
{
	char *nl;

	while (!c->closing &&
	       (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		size_t len = (size_t)(nl - c->in);
		size_t line_len = len > 0 && c->in[len - 1] == '\r' ? len - 1 :
								      len;

		client_send(c, st_ctlsock_request(s->commands, s->nb_commands,
						  s->arg, c->in, line_len));
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
	}
	if (!c->closing && c->in_len == MAX_LINE + 1) {
		client_send(c, error_reply("line too long (more than 65536 "
					   "bytes): closing"));
		c->closing = true;
	}
}

static void
client_read(struct st_ctlsock *s, struct client *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len,
				 MAX_LINE + 1 - c->in_len, 0);

		if (n == 0) {
			/* Done sending (perhaps only half-closed): its
			 * replies still go out, an unfinished line is not
			 * answered. */
			c->closing = true;
			return;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		c->in_len += (size_t)n;
		client_lines(s, c);
		if (c->closing || c->fd < 0)
			return;
	}
}

/* Whether the peer of @p fd had @p group among its supplementary groups
 * when it connected: 1, 0, or a negative errno. */
static int
peer_has_group(int fd, gid_t group)
{
	socklen_t size = 0;
	gid_t *groups;
	size_t i;
	int ret = 0;

	/* Sized first: a process may have up to NGROUPS_MAX (65536). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &size) != 0 &&
	    errno != ERANGE)
		return -errno;
	if (size == 0)
		return 0;
	groups = malloc(size);
	if (groups == NULL)
		return -ENOMEM;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &size) != 0)
		ret = -errno;
	for (i = 0; ret == 0 && i < size / sizeof(*groups); i++)
		ret = groups[i] == group;
	free(groups);
	return ret;
}

/*
 * A peer may talk to the program when it is root, runs as the same user,
 * or has the program's group among its groups, primary or supplementary:
 * what the socket's 0660 mode lets through, checked again for where file
 * modes are not (a socket opened up, an fd passed on). The credentials
 * are those the kernel took at connect(), SO_PEERCRED and SO_PEERGROUPS:
 * not the user database (getgrouplist() gives the groups a login would
 * get, not those the process has, and may block on a directory server),
 * nor /proc/PID/status (the groups of whatever process has that pid now).
 * A refusal is logged on stderr, and @p why says it for the peer.
 */
static bool
peer_allowed(const struct st_ctlsock *s, int fd, char *why, size_t len)
{
	const gid_t group = getegid();
	socklen_t size = sizeof(struct ucred);
	struct ucred cred;
	int member;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
		snprintf(why, len, "permission denied: no peer credentials: %s",
			 strerror(errno));
	} else {
		if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == group)
			return true;
		member = peer_has_group(fd, group);
		if (member == 1)
			return true;
		if (member < 0)
			snprintf(why, len, "permission denied: uid %u (pid %d): "
				 "its groups unknown: %s", cred.uid, cred.pid,
				 strerror(-member));
		else
			snprintf(why, len, "permission denied: uid %u (pid %d) "
				 "is neither root, uid %u, nor in group %u",
				 cred.uid, cred.pid, geteuid(), group);
	}
	fprintf(stderr, "control socket %s: refused a client: %s\n", s->path,
		why);
	return false;
}

static void
refuse(int fd, const char *why)
{
	char *text;
	json_t *reply = error_reply(why);

	text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (text != NULL) {
		/* Best effort: the peer is told why, then closed. */
		if (send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) >=
		    0)
			send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(text);
	}
	close(fd);
}

static void
accept_clients(struct st_ctlsock *s)
{
	char why[160];
	int fd;

	while ((fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct client *c = NULL;
		unsigned int i;

		if (!peer_allowed(s, fd, why, sizeof(why))) {
			refuse(fd, why);
			continue;
		}
		for (i = 0; i < s->max_clients && c == NULL; i++)
			if (s->clients[i].fd < 0)
				c = &s->clients[i];
		if (c == NULL) {
			snprintf(why, sizeof(why),
				 "too many clients (%u): try again later",
				 s->max_clients);
			refuse(fd, why);
			continue;
		}
		c->in = malloc(MAX_LINE + 1);
		if (c->in == NULL) {
			refuse(fd, "out of memory");
			continue;
		}
		c->fd = fd;
	}
}

unsigned int
st_ctlsock_fds(const struct st_ctlsock *s, struct pollfd *fds)
{
	unsigned int i, n = 0;

	fds[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	for (i = 0; i < s->max_clients; i++) {
		const struct client *c = &s->clients[i];
		short events = c->out_len > 0 ? POLLOUT : 0;

		if (c->fd < 0)
			continue;
		/* Input waits while the last replies go out. */
		if (!c->closing || c->draining)
			events |= POLLIN;
		fds[n++] = (struct pollfd){ .fd = c->fd, .events = events };
	}
	return n;
}

static void
serve_client(struct st_ctlsock *s, struct client *c, short revents)
{
	if (revents & (POLLHUP | POLLERR) && !(revents & POLLIN)) {
		client_close(c);	/* nobody left to answer */
		return;
	}
	if (c->draining) {
		if (revents & POLLIN)
			client_drain(c);
		return;
	}
	if (revents & POLLIN)
		client_read(s, c);
	if (c->fd >= 0)
		client_flush(c);
}

void
st_ctlsock_handle(struct st_ctlsock *s, const struct pollfd *fds,
		  unsigned int nb_fds)
{
	unsigned int i, j = 0;

	/* The clients come in the order of the table, each once: one walk
	 * of both finds them. Serving one touches no other. */
	for (i = 1; i < nb_fds; i++) {
		struct client *c = NULL;

		for (; j < s->max_clients && c == NULL; j++)
			if (s->clients[j].fd == fds[i].fd)
				c = &s->clients[j];
		if (c == NULL)
			break;
		serve_client(s, c, fds[i].revents);
	}
	if (nb_fds > 0 && fds[0].revents & POLLIN)
		accept_clients(s);
}

void
st_ctlsock_poll(struct st_ctlsock *s, int timeout_ms)
{
	unsigned int n = st_ctlsock_fds(s, s->pfds);

	if (poll(s->pfds, n, timeout_ms) > 0)
		st_ctlsock_handle(s, s->pfds, n);
}

/* --- the socket ---------------------------------------------------------- */

/* Is a live process serving @p addr? (A leftover socket file is not.) */
static bool
served(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 &&
		    connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) ==
			    0;

	if (fd >= 0)
		close(fd);
	return live;
}

static void
free_sock(struct st_ctlsock *s)
{
	free(s->pfds);
	free(s);
}

int
st_ctlsock_start(const char *path, unsigned int max_clients,
		 const struct st_ctlsock_command *commands,
		 unsigned int nb_commands, void *arg,
		 struct st_ctlsock **out, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[sizeof(addr.sun_path)];
	struct st_ctlsock *s;
	unsigned int i;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "--socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	strcpy(dir, path);
	if (mkdir(dirname(dir), 0750) != 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "--socket %s: cannot create %s: %s",
			 path, dir, strerror(errno));
		return ret;
	}
	if (served(&addr)) {
		snprintf(err, errlen,
			 "--socket %s: another process serves it (another "
			 "shadowtap?): give each its own --socket", path);
		return -EADDRINUSE;
	}
	s = calloc(1, sizeof(*s) + max_clients * sizeof(s->clients[0]));
	if (s == NULL ||
	    (s->pfds = calloc(max_clients + 1, sizeof(*s->pfds))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < max_clients; i++)
		s->clients[i].fd = -1;
	strcpy(s->path, path);
	s->commands = commands;
	s->nb_commands = nb_commands;
	s->arg = arg;
	s->max_clients = max_clients;
	unlink(path);	/* a leftover of a process that is gone */
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				       SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(path, 0660) != 0 ||
	    listen(s->listen_fd, (int)max_clients) != 0) {
		ret = -errno;
		snprintf(err, errlen, "--socket %s: %s", path, strerror(errno));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		free_sock(s);
		return ret;
	}
	*out = s;
	return 0;
}

void
st_ctlsock_stop(struct st_ctlsock *s)
{
	unsigned int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->max_clients; i++)
		if (s->clients[i].fd >= 0)
			client_close(&s->clients[i]);
	close(s->listen_fd);
	unlink(s->path);
	free_sock(s);
}
