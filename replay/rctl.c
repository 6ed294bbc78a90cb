/* SPDX-License-Identifier: BSD-3-Clause */
#include "rctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctlsock.h"

struct st_rctl {
	struct st_ctlsock *sock;
	struct st_rctl_ops ops;
	void *arg;
};

static int
cmd_version(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)arg, (void)req, (void)err, (void)errlen;
	json_object_set_new(reply, "version", json_string(ST_VERSION));
	json_object_set_new(reply, "program", json_string("shadowtap-replay"));
	return 0;
}

/* Put @p doc (a new reference) in @p reply under @p key; NULL is an
 * error naming @p what. */
static int
reply_with(json_t *reply, const char *key, json_t *doc, const char *what,
	   char *err, size_t errlen)
{
	if (doc == NULL) {
		snprintf(err, errlen, "cannot render the %s", what);
		return -1;
	}
	json_object_set_new(reply, key, doc);
	return 0;
}

static int
cmd_stats(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	const struct st_rctl *c = arg;

	(void)req;
	return reply_with(reply, "stats", c->ops.stats(c->arg), "counters",
			  err, errlen);
}

static int
cmd_compare(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	const struct st_rctl *c = arg;

	(void)req;
	return reply_with(reply, "compare", c->ops.compare(c->arg),
			  "comparison", err, errlen);
}

static int
cmd_compare_reset(void *arg, json_t *req, json_t *reply, char *err,
		  size_t errlen)
{
	const struct st_rctl *c = arg;

	(void)req, (void)reply, (void)err, (void)errlen;
	c->ops.compare_reset(c->arg);
	return 0;
}

/* No command takes an argument. */
static const struct st_ctlsock_command commands[] = {
	{ "version", { NULL }, cmd_version },
	{ "stats", { NULL }, cmd_stats },
	{ "compare", { NULL }, cmd_compare },
	{ "compare_reset", { NULL }, cmd_compare_reset },
};

int
st_rctl_start(const char *path, const struct st_rctl_ops *ops, void *arg,
	      struct st_rctl **out, char *err, size_t errlen)
{
	struct st_rctl *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->ops = *ops;
	c->arg = arg;
	rc = st_ctlsock_start(path, ST_RCTL_MAX_FDS - 1, commands,
			      sizeof(commands) / sizeof(commands[0]), c,
			      &c->sock, err, errlen);
	if (rc != 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
st_rctl_stop(struct st_rctl *c)
{
	if (c == NULL)
		return;
	st_ctlsock_stop(c->sock);
	free(c);
}

unsigned int
st_rctl_fds(const struct st_rctl *c, struct pollfd *fds)
{
	return st_ctlsock_fds(c->sock, fds);
}

void
st_rctl_handle(struct st_rctl *c, const struct pollfd *fds, unsigned int nb_fds)
{
	st_ctlsock_handle(c->sock, fds, nb_fds);
}
