/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CTLSOCK_H
#define ST_CTLSOCK_H

/*
 * The control socket both programs serve (docs/control.md), without the
 * commands: each program gives its own table of them.
 *
 * What a client sees: a unix stream socket, mode 0660, that refuses (with
 * an error reply, then a close, and a line on the server's stderr) a peer
 * that is neither root, the server's user nor in its group, primary or
 * supplementary, as the peer's credentials were at connect()
 * (SO_PEERCRED, SO_PEERGROUPS), and a client past the table's size. One JSON object per line in (CRLF accepted), one reply per line
 * out, in order. Every reply has "ok"; a failed request gets
 * {"ok":false,"error":"..."} and the connection stays open: an empty
 * line, malformed JSON, not an object, no string "command", an unknown
 * command (the error lists the table's names), a key the command does not
 * take, or whatever the handler says. An "id" of a request is echoed in
 * its reply, whatever its JSON type. A line longer than 64 KiB is answered
 * "line too long (more than 65536 bytes): closing" and the connection is
 * closed once the replies are out. A client that does not read its
 * replies is dropped past 8 MiB of them.
 *
 * Everything here runs on one thread, the caller's: either
 * st_ctlsock_poll() in a loop of its own, or st_ctlsock_fds() and
 * st_ctlsock_handle() around the program's own poll().
 */

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

/* The most arguments a command takes. */
#define ST_CTLSOCK_ARGS_MAX 3

/*
 * Serve command @p req (its keys checked against the command's): add the
 * answer to @p reply and return 0, or write why not in @p err and return
 * -1. @p arg is st_ctlsock_start()'s.
 */
typedef int (*st_ctlsock_handler_fn)(void *arg, json_t *req, json_t *reply,
				     char *err, size_t errlen);

/* One entry of a program's command table. */
struct st_ctlsock_command {
	const char *name;
	/* The keys it takes besides "command" and "id"; NULL-terminated. */
	const char *args[ST_CTLSOCK_ARGS_MAX + 1];
	st_ctlsock_handler_fn handler;
};

struct st_ctlsock;

/**
 * Create the socket at @p path (and its directory, mode 0750) with mode
 * 0660 and listen. A leftover socket file is replaced; a path another
 * process serves is refused, so a second program never steals a live
 * socket.
 *
 * @param max_clients  clients served at once (1 or more)
 * @param commands     the command table, kept (not copied) until stop
 * @param arg          given to every handler
 * @param out          the socket on success
 * @param err          on error, "--socket PATH: why"
 * @return 0; -ENAMETOOLONG; -EADDRINUSE when another process serves
 *         @p path; -ENOMEM; the errno of mkdir(), socket(), bind(),
 *         chmod() or listen()
 */
int st_ctlsock_start(const char *path, unsigned int max_clients,
		     const struct st_ctlsock_command *commands,
		     unsigned int nb_commands, void *arg,
		     struct st_ctlsock **out, char *err, size_t errlen);

/** Close every connection and remove the socket file (NULL is fine). */
void st_ctlsock_stop(struct st_ctlsock *s);

/**
 * The fds to poll and their events: the listener first, then each
 * client; max_clients + 1 at most.
 *
 * @return how many were written to @p fds
 */
unsigned int st_ctlsock_fds(const struct st_ctlsock *s, struct pollfd *fds);

/**
 * Serve what a poll found: accept, read, answer, send, close. @p fds are
 * those st_ctlsock_fds() gave, in its order, with revents set; nothing
 * else may touch the socket in between.
 */
void st_ctlsock_handle(struct st_ctlsock *s, const struct pollfd *fds,
		       unsigned int nb_fds);

/**
 * Wait up to @p timeout_ms for activity and serve it: st_ctlsock_fds(),
 * poll() and st_ctlsock_handle(), for a thread that has nothing else to
 * poll.
 */
void st_ctlsock_poll(struct st_ctlsock *s, int timeout_ms);

/**
 * A handler's string argument @p key of @p req.
 *
 * @return 0 with @p out set (valid as long as @p req), or -1 with
 *         "'KEY' must be a string" in @p err
 */
int st_ctlsock_arg_string(json_t *req, const char *key, const char **out,
			  char *err, size_t errlen);

/**
 * A handler's "percent" argument: a number from 0 to 100.
 *
 * @return 0 with @p out set, or -1 with the reason in @p err
 */
int st_ctlsock_arg_percent(json_t *req, double *out, char *err,
			   size_t errlen);

/**
 * The line handler: answer one request line as the socket answers each
 * line of a client (what the top of this file says, but the framing and
 * the line length). The socket gives it every line without its newline
 * and a CR before it; tests and fuzzers drive the protocol through it
 * without a socket. Touches nothing but what the handler does. An error
 * that is not UTF-8 (cut inside a character at its 1 KiB, or quoting
 * bytes that are not text) goes out with '?' for each byte outside ASCII.
 *
 * @param commands  the command table, @p nb_commands entries
 * @param arg       given to the handler
 * @param line      the request, @p len bytes, not NUL-terminated
 * @return the reply, a new reference: "ok", then "error" or what the
 *         handler added, and the request's "id"; NULL only when out of
 *         memory
 */
json_t *st_ctlsock_request(const struct st_ctlsock_command *commands,
			   unsigned int nb_commands, void *arg,
			   const char *line, size_t len);

#endif
