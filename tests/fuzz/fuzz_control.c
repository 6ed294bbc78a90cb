/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the control protocol's line handler,
 * st_ctlsock_request() (mgmt/ctlsock.h), with a command table shaped like
 * the appliance's (control/ctl.c: the same names and arguments). Its
 * handlers check their arguments as the real ones do and change a small
 * state of mirrors and routes, so that a sequence of requests means
 * something; the real ones need a running dataplane.
 *
 * Input: request lines as a client sends them, each ended by LF (a CR
 * before it is dropped); a last line without one is answered too.
 *
 * Checked for each line, against a parse of the line made here:
 * - the reply is an object with a boolean "ok";
 * - a handler ran exactly when the request is an object whose "command"
 *   names it and whose keys it takes, and "ok" says what it returned;
 * - a failed request has a non-empty "error" (the handler's own message
 *   when one ran), a successful one none, also when the message was cut
 *   inside a character;
 * - the request's "id" is echoed, equal, and only when it has one;
 * - the reply prints as one line, as the socket sends it.
 *
 * Seeds: tests/fuzz/control_seeds.py (the requests of
 * tests/test_control.py).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctlsock.h"

#define NB_MIRRORS 2
#define NB_ROUTES 2

/* A mirror or a route: what commands name and change. */
struct item {
	const char *name;
	double percent;
};

/* What the handlers serve, and what the last one did. */
static struct appliance {
	struct item mirrors[NB_MIRRORS];
	struct item routes[NB_ROUTES];
	uint32_t mirrors_enabled;
	uint64_t generation;
	const char *ran;	/* name of the handler that ran, or NULL */
	int ret;
	char err[1024];		/* its message when it failed */
} app;

/* tests/test_control.py's config, as the appliance loads it. */
static void
load(struct appliance *a)
{
	a->mirrors[0] = (struct item){ "v2", 10 };
	a->mirrors[1] = (struct item){ "v3", 100 };
	a->routes[0] = (struct item){ "health", 100 };
	a->routes[1] = (struct item){ "api", 50 };
	a->mirrors_enabled = (1u << NB_MIRRORS) - 1;
	a->generation++;
}

/* --- handlers: arguments read as control/ctl.c reads them ------------- */

/* The item named @p name of @p kind ("mirror", "route"), or NULL. */
static struct item *
find(struct item *items, unsigned int n, const char *kind, const char *name,
     char *err, size_t errlen)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0)
			return &items[i];
	/* The user's text in the message, as the appliance writes it. */
	snprintf(err, errlen, "no %s named '%s'", kind, name);
	return NULL;
}

/* Record the run, for the checks after the reply. */
static int
ran(const char *name, int ret, const char *err)
{
	if (app.ran != NULL)
		abort();	/* two handlers for one line */
	app.ran = name;
	app.ret = ret;
	snprintf(app.err, sizeof(app.err), "%s", err);
	return ret;
}

static int
cmd_version(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)arg, (void)req, (void)errlen;
	json_object_set_new(reply, "version", json_string(ST_VERSION));
	return ran("version", 0, err);
}

static int
cmd_stats(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)arg, (void)req, (void)errlen;
	json_object_set_new(reply, "stats",
			    json_pack("{s:I}", "generation",
				      (json_int_t)app.generation));
	return ran("stats", 0, err);
}

static json_t *
items_json(const struct item *items, unsigned int n)
{
	json_t *list = json_array();
	unsigned int i;

	for (i = 0; i < n; i++)
		json_array_append_new(list,
				      json_pack("{s:s, s:f}", "name",
						items[i].name, "percent",
						items[i].percent));
	return list;
}

static int
cmd_show(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)arg, (void)req, (void)errlen;
	json_object_set_new(reply, "mirrors",
			    items_json(app.mirrors, NB_MIRRORS));
	json_object_set_new(reply, "routes",
			    items_json(app.routes, NB_ROUTES));
	json_object_set_new(reply, "enabled",
			    json_integer(app.mirrors_enabled));
	return ran("show", 0, err);
}

/* set_route_percent and set_mirror_percent: @p key names the kind. */
static int
set_percent(json_t *req, json_t *reply, const char *cmd, const char *key,
	    char *err, size_t errlen)
{
	bool route = strcmp(key, "route") == 0;
	struct item *it;
	const char *name;
	double percent;

	if (st_ctlsock_arg_string(req, key, &name, err, errlen) != 0 ||
	    st_ctlsock_arg_percent(req, &percent, err, errlen) != 0)
		return ran(cmd, -1, err);
	it = route ? find(app.routes, NB_ROUTES, key, name, err, errlen) :
		     find(app.mirrors, NB_MIRRORS, key, name, err, errlen);
	if (it == NULL)
		return ran(cmd, -1, err);
	it->percent = percent;
	app.generation++;
	json_object_set_new(reply, key, json_string(name));
	json_object_set_new(reply, "percent", json_real(percent));
	return ran(cmd, 0, err);
}

static int
cmd_set_route_percent(void *arg, json_t *req, json_t *reply, char *err,
		      size_t errlen)
{
	(void)arg;
	return set_percent(req, reply, "set_route_percent", "route", err,
			   errlen);
}

static int
cmd_set_mirror_percent(void *arg, json_t *req, json_t *reply, char *err,
		       size_t errlen)
{
	(void)arg;
	return set_percent(req, reply, "set_mirror_percent", "mirror", err,
			   errlen);
}

static int
cmd_mirror(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	json_t *enabled = json_object_get(req, "enabled");
	const struct item *m;
	const char *name;
	uint32_t bit;

	(void)arg;
	if (st_ctlsock_arg_string(req, "mirror", &name, err, errlen) != 0)
		return ran("mirror", -1, err);
	if (!json_is_boolean(enabled)) {
		snprintf(err, errlen, "'enabled' must be true or false");
		return ran("mirror", -1, err);
	}
	m = find(app.mirrors, NB_MIRRORS, "mirror", name, err, errlen);
	if (m == NULL)
		return ran("mirror", -1, err);
	bit = 1u << (m - app.mirrors);
	app.mirrors_enabled = json_is_true(enabled) ?
				      app.mirrors_enabled | bit :
				      app.mirrors_enabled & ~bit;
	app.generation++;
	json_object_set_new(reply, "mirror", json_string(name));
	json_object_set_new(reply, "enabled",
			    json_boolean(json_is_true(enabled)));
	return ran("mirror", 0, err);
}

/* With "dry_run": true, the same answer without the change. */
static int
cmd_reload(void *arg, json_t *req, json_t *reply, char *err, size_t errlen)
{
	json_t *dry_run = json_object_get(req, "dry_run");

	(void)arg;
	if (dry_run != NULL && !json_is_boolean(dry_run)) {
		snprintf(err, errlen, "'dry_run' must be true or false");
		return ran("reload", -1, err);
	}
	if (json_is_true(dry_run))
		json_object_set_new(reply, "dry_run", json_true());
	else
		load(&app);
	json_object_set_new(reply, "routes", json_integer(NB_ROUTES));
	return ran("reload", 0, err);
}

static const struct st_ctlsock_command commands[] = {
	{ "version", { NULL }, cmd_version },
	{ "stats", { NULL }, cmd_stats },
	{ "show", { NULL }, cmd_show },
	{ "set_route_percent", { "route", "percent", NULL },
	  cmd_set_route_percent },
	{ "set_mirror_percent", { "mirror", "percent", NULL },
	  cmd_set_mirror_percent },
	{ "mirror", { "mirror", "enabled", NULL }, cmd_mirror },
	{ "reload", { "dry_run", NULL }, cmd_reload },
};
#define NB_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* --- the checks ---------------------------------------------------------- */

/* The command @p req should reach, by the protocol's rules, or NULL. */
static const struct st_ctlsock_command *
expected_command(json_t *req)
{
	const struct st_ctlsock_command *cmd = NULL;
	json_t *name = json_object_get(req, "command"), *value;
	const char *key;
	unsigned int i, a;

	if (!json_is_object(req) || !json_is_string(name))
		return NULL;
	for (i = 0; i < NB_COMMANDS && cmd == NULL; i++)
		if (strcmp(commands[i].name, json_string_value(name)) == 0)
			cmd = &commands[i];
	json_object_foreach(req, key, value) {
		bool taken = strcmp(key, "command") == 0 ||
			     strcmp(key, "id") == 0;

		for (a = 0; cmd != NULL && !taken && cmd->args[a] != NULL; a++)
			taken = strcmp(key, cmd->args[a]) == 0;
		if (!taken)
			return NULL;
	}
	return cmd;
}

/* Whether @p error says the handler's @p err: the same text, or when that
 * is not UTF-8, as long (ctlsock.c sends it with '?' outside ASCII). */
static bool
same_message(json_t *error, const char *err)
{
	json_t *utf8 = json_string(err);
	bool same = utf8 != NULL ? json_equal(error, utf8) :
				   json_string_length(error) == strlen(err);

	json_decref(utf8);
	return same;
}

static void
check_reply(const char *line, size_t len, json_t *reply)
{
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const struct st_ctlsock_command *cmd = expected_command(req);
	json_t *ok = json_object_get(reply, "ok");
	json_t *error = json_object_get(reply, "error");
	json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	json_t *echoed = json_object_get(reply, "id");
	char *text;

	if (!json_is_object(reply) || !json_is_boolean(ok))
		abort();
	if ((cmd != NULL) != (app.ran != NULL) ||
	    (cmd != NULL && strcmp(cmd->name, app.ran) != 0))
		abort();	/* the wrong handler, or one that should not */
	if (json_is_true(ok) != (app.ran != NULL && app.ret == 0))
		abort();
	if (json_is_true(ok) ? error != NULL :
			       !json_is_string(error) ||
				       json_string_length(error) == 0)
		abort();
	if (app.ran != NULL && app.ret != 0 && !same_message(error, app.err))
		abort();	/* the handler's message lost */
	if (id != NULL ? !json_equal(id, echoed) : echoed != NULL)
		abort();
	text = json_dumps(reply, JSON_COMPACT);
	if (text == NULL || strchr(text, '\n') != NULL)
		abort();	/* the reply would not be one line */
	free(text);
	json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data, *end = line + size;

	/* Each input starts from the loaded config: what a line does
	 * depends only on the lines before it in the same input. */
	load(&app);
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = (size_t)((nl != NULL ? nl : end) - line);
		json_t *reply;

		if (len > 0 && nl != NULL && line[len - 1] == '\r')
			len--;
		app.ran = NULL;
		reply = st_ctlsock_request(commands, NB_COMMANDS, NULL, line,
					   len);
		check_reply(line, len, reply);
		json_decref(reply);
		line = nl != NULL ? nl + 1 : end;
	}
	return 0;
}
