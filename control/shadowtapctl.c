/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shadowtapctl: the command-line client of shadowtap's control socket
 * (docs/control.md). One JSON request per line out, one JSON reply per
 * line back.
 *
 *   shadowtapctl [-s PATH] [-H] COMMAND [ARGS]
 *   shadowtapctl --help | --version
 *
 * Arguments are checked before the socket is opened. Exit status: 0 when
 * the appliance said ok, 1 when it answered with an error, 2 for a usage
 * error or when no answer could be had (the socket cannot be reached, the
 * connection broke, no reply within 5 s, a reply that is not JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "compare_view.h"
#include "judge.h"
#include "report.h"

#define PROG "shadowtapctl"
#define DEFAULT_SOCKET "/run/shadowtap/ctl.sock"
#define REPLY_TIMEOUT_MS 5000
#define REPLY_MAX_BYTES (64u << 20)	/* a stats document is far smaller */
#define RECV_CHUNK_BYTES 65536
#define WATCH_PERIOD_NS 1000000000L

#define EXIT_REFUSED 1		/* the appliance answered with an error */
#define EXIT_USAGE 2		/* bad arguments, or no answer at all */
#define CALL_INTERRUPTED (-1)	/* a signal asked watch to stop */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CELL_MIN_WIDTH 10
#define MAX_INT(a, b) ((a) > (b) ? (a) : (b))

/* A connection to the appliance, opened by the first request. */
struct ctl {
	const char *path;
	bool human;		/* -H: tables instead of JSON */
	int fd;			/* -1 until connected */
	char *buf;		/* received bytes not consumed yet */
	size_t len;
	size_t cap;
};

/*
 * A command line verb: its name, how many words follow it, what runs it
 * and what prints the appliance's ok reply. run() gets the words after the
 * name, checks them, makes the request and returns the exit status.
 */
struct command {
	const char *name;
	int min_args;
	int max_args;
	int (*run)(struct ctl *ctl, const struct command *cmd, char **args,
		   int nb_args);
	void (*print)(json_t *reply);
	void (*print_human)(json_t *reply);	/* -H, when it differs */
};

/* One column of a table: its heading and the counter it shows, a member
 * of each row's object ("a.b" for a member of a member). */
struct column {
	const char *heading;
	const char *key;
};

/* The columns of one section of a table (ports, mirrors, routes). */
struct section {
	const struct column *columns;
	size_t nb_columns;
};

#define SECTION(columns) { columns, ARRAY_SIZE(columns) }

/* Set by SIGINT and SIGTERM while watch runs. */
static volatile sig_atomic_t stop_requested;

/** Print the synopsis of every command to @p out. */
static void
usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " [-s PATH] [-H] COMMAND\n"
		"  stats                         counters as JSON "
		"(-H: a readable table)\n"
		"  show                          mirrors and routes as running "
		"now\n"
		"  set route NAME percent P      change a route's percent\n"
		"  set mirror NAME percent P     change a mirror's default "
		"percent\n"
		"  mirror NAME on|off            switch copies to a mirror on "
		"or off\n"
		"  reload [--dry-run]            re-read the config file "
		"(--dry-run: check it\n"
		"                                as a reload would, change "
		"nothing)\n"
		"  watch [-n COUNT]              rates per port, route and "
		"mirror, every second\n"
		"  version\n"
		"  compare [--json] [--gate] [--route NAME] [--html FILE] "
		"[--from STATS]...\n"
		"                                shadowtap-replay: primary "
		"against shadow, per\n"
		"                                route (a table; --gate: exit 1 "
		"when a route\n"
		"                                fails; --from: judge replay "
		"stats files, merged,\n"
		"                                without a socket)\n"
		"  compare --reset               the replay's comparison starts "
		"over\n"
		"options:\n"
		"  -s PATH       control socket (default " DEFAULT_SOCKET ")\n"
		"  -H            human-readable output\n"
		"  -h, --help    this text\n"
		"  --version     this client's version (the command version "
		"asks the\n"
		"                appliance for its own)\n");
}

/**
 * Report a usage error: the reason, then the synopsis, on stderr.
 *
 * @return EXIT_USAGE, for the caller to return
 */
static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

/** Milliseconds of CLOCK_MONOTONIC. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** Signal handler of watch: ask the loop to stop. */
static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/**
 * Open the connection to ctl->path. Sending (and connect() itself, which
 * waits when the appliance's backlog is full) gives up after the reply
 * timeout.
 *
 * @return 0, or a negative errno with "cannot reach PATH: reason" in @p err
 */
static int
ctl_connect(struct ctl *ctl, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = REPLY_TIMEOUT_MS / 1000 };
	int fd, rc;

	if (strlen(ctl->path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "cannot reach %s: path too long",
			 ctl->path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, ctl->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot reach %s: %s", ctl->path,
			 strerror(errno));
		return rc;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout,
		       sizeof(timeout)) != 0 ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		/* A full backlog that stays full: say what it means. */
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (rc == -EINTR && stop_requested)
			err[0] = '\0';
		else
			snprintf(err, errlen, "cannot reach %s: %s",
				 ctl->path, strerror(-rc));
		close(fd);
		return rc;
	}
	ctl->fd = fd;
	return 0;
}

/** Close the connection, if any, and free what was received. */
static void
ctl_close(struct ctl *ctl)
{
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
	free(ctl->buf);
	ctl->buf = NULL;
	ctl->len = 0;
	ctl->cap = 0;
}

/**
 * Send @p len bytes. MSG_NOSIGNAL: a closed peer is an error to report,
 * not a SIGPIPE.
 *
 * @return 0, or a negative errno (-EINTR only once a stop was requested)
 */
static int
send_all(struct ctl *ctl, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(ctl->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR && !stop_requested)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/**
 * Receive one reply line and parse it. Bytes after the line stay in
 * ctl->buf for the next call. The whole line must arrive within the reply
 * timeout, however it is split.
 *
 * @param reply  receives the parsed reply (a new reference)
 * @return 0, or a negative errno with the reason in @p err (-EINTR, with
 *         an empty @p err, once a stop was requested)
 */
static int
recv_reply(struct ctl *ctl, json_t **reply, char *err, size_t errlen)
{
	const int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
	struct pollfd pfd = { .fd = ctl->fd, .events = POLLIN };
	size_t scanned = 0, line_len;
	int64_t left_ms;
	json_error_t jerr;
	char *newline, *grown;
	ssize_t n;
	int ready;

	/* ctl->buf is NULL until the first bytes arrive. */
	while (ctl->len == scanned ||
	       (newline = memchr(ctl->buf + scanned, '\n',
				 ctl->len - scanned)) == NULL) {
		scanned = ctl->len;
		if (ctl->cap - ctl->len < RECV_CHUNK_BYTES) {
			if (ctl->cap >= REPLY_MAX_BYTES) {
				snprintf(err, errlen, "%s: reply longer than "
					 "%u bytes", ctl->path,
					 REPLY_MAX_BYTES);
				return -EMSGSIZE;
			}
			grown = realloc(ctl->buf, ctl->cap * 2 +
						  RECV_CHUNK_BYTES);
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			ctl->buf = grown;
			ctl->cap = ctl->cap * 2 + RECV_CHUNK_BYTES;
		}
		left_ms = deadline - now_ms();
		ready = poll(&pfd, 1, left_ms > 0 ? (int)left_ms : 0);
		if (ready == 0) {
			snprintf(err, errlen, "%s: no reply within %d s",
				 ctl->path, REPLY_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		if (ready > 0)
			n = recv(ctl->fd, ctl->buf + ctl->len,
				 ctl->cap - ctl->len, 0);
		else
			n = -1;	/* poll() failed: errno says why */
		if (n > 0) {
			ctl->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			if (!stop_requested)
				continue;
			err[0] = '\0';
			return -EINTR;
		}
		snprintf(err, errlen, "%s: %s", ctl->path,
			 n == 0 ? "the appliance closed the connection" :
				  strerror(errno));
		return n == 0 ? -ECONNRESET : -errno;
	}
	line_len = (size_t)(newline - ctl->buf);
	*reply = json_loadb(ctl->buf, line_len, 0, &jerr);
	ctl->len -= line_len + 1;
	memmove(ctl->buf, newline + 1, ctl->len);
	if (*reply == NULL) {
		snprintf(err, errlen, "%s: reply is not JSON: %s", ctl->path,
			 jerr.text);
		return -EBADMSG;
	}
	return 0;
}

/**
 * Send @p request as one line.
 *
 * @return 0, or a negative errno with the reason in @p err (-EINTR, with
 *         an empty @p err, once a stop was requested)
 */
static int
send_request(struct ctl *ctl, const json_t *request, char *err,
	     size_t errlen)
{
	size_t len = json_dumpb(request, NULL, 0, JSON_COMPACT);
	char *line = len > 0 ? malloc(len + 1) : NULL;
	int rc;

	err[0] = '\0';
	if (line == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_dumpb(request, line, len, JSON_COMPACT);
	line[len] = '\n';
	rc = send_all(ctl, line, len + 1);
	free(line);
	if (rc != 0 && rc != -EINTR)
		snprintf(err, errlen, "%s: sending the request: %s",
			 ctl->path, strerror(-rc));
	return rc;
}

/**
 * What a reply says: ok, or the appliance's error (printed), or nothing
 * usable (printed).
 *
 * @return EXIT_SUCCESS, EXIT_REFUSED or EXIT_USAGE
 */
static int
check_reply(const struct ctl *ctl, const json_t *reply)
{
	const json_t *ok = json_object_get(reply, "ok");
	const json_t *error = json_object_get(reply, "error");

	if (!json_is_boolean(ok)) {
		fprintf(stderr, PROG ": %s: reply without \"ok\"\n",
			ctl->path);
		return EXIT_USAGE;
	}
	if (json_is_true(ok))
		return EXIT_SUCCESS;
	fprintf(stderr, PROG ": %s\n",
		json_is_string(error) ? json_string_value(error) :
					"the appliance refused the request");
	return EXIT_REFUSED;
}

/**
 * Send one request and read its reply, connecting first if needed.
 *
 * @param request  the request (NULL: out of memory); its reference is
 *                 taken
 * @param reply    receives the reply when the appliance said ok
 * @return EXIT_SUCCESS with @p reply set; EXIT_REFUSED when the appliance
 *         answered with an error (printed); EXIT_USAGE when no answer
 *         could be had (printed); CALL_INTERRUPTED when a stop was
 *         requested (nothing printed)
 */
static int
ctl_call(struct ctl *ctl, json_t *request, json_t **reply)
{
	char err[512], recv_err[512];
	json_t *answer = NULL;
	int rc;

	*reply = NULL;
	if (request == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_USAGE;
	}
	rc = ctl->fd < 0 ? ctl_connect(ctl, err, sizeof(err)) : 0;
	if (rc == 0)
		rc = send_request(ctl, request, err, sizeof(err));
	json_decref(request);
	/* A peer that closed on us may have said why first (too many
	 * clients): a reply, when there is one, says more than the send. */
	if (ctl->fd >= 0 && rc != -EINTR &&
	    recv_reply(ctl, &answer, rc == 0 ? err : recv_err,
		       sizeof(err)) == 0)
		rc = 0;
	else if (rc == 0)
		rc = -EIO;
	if (rc != 0) {
		if (stop_requested)
			return CALL_INTERRUPTED;
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_USAGE;
	}
	rc = check_reply(ctl, answer);
	if (rc == EXIT_SUCCESS)
		*reply = answer;
	else
		json_decref(answer);
	return rc;
}

/**
 * Send @p request, then print the reply with the printer of @p cmd when it
 * is ok: its human one with -H, if it has one.
 *
 * @return the exit status of ctl_call()
 */
static int
ctl_run(struct ctl *ctl, const struct command *cmd, json_t *request)
{
	json_t *reply;
	int rc = ctl_call(ctl, request, &reply);

	if (rc == EXIT_SUCCESS) {
		if (ctl->human && cmd->print_human != NULL)
			cmd->print_human(reply);
		else
			cmd->print(reply);
		json_decref(reply);
	}
	return rc;
}

/** A request of @p command with no argument (a new reference). */
static json_t *
request_of(const char *command)
{
	return json_pack("{s:s}", "command", command);
}

/** Print @p value pretty-printed, in the order the appliance sent it. */
static void
print_json(const json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/** Print a reply that is not of the expected shape, as it came. */
static void
print_unexpected(const json_t *reply)
{
	json_dumpf(reply, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/** stats: the counters document. */
static void
print_stats_json(json_t *reply)
{
	const json_t *stats = json_object_get(reply, "stats");

	print_json(stats != NULL ? stats : reply);
}

/** show: the reply without its "ok". */
static void
print_show(json_t *reply)
{
	json_object_del(reply, "ok");
	print_json(reply);
}

/** version: one "key: value" line per member, strings unquoted. */
static void
print_version(json_t *reply)
{
	const char *key;
	json_t *value;

	json_object_foreach(reply, key, value) {
		if (strcmp(key, "ok") == 0)
			continue;
		printf("%s: ", key);
		if (json_is_string(value))
			fputs(json_string_value(value), stdout);
		else
			json_dumpf(value, stdout,
				   JSON_COMPACT | JSON_ENCODE_ANY);
		putchar('\n');
	}
}

/**
 * set route|mirror: "route NAME: percent P" or "mirror NAME: default
 * percent P", as the appliance confirmed it.
 */
static void
print_percent(json_t *reply)
{
	const bool route = json_object_get(reply, "route") != NULL;
	const char *kind = route ? "route" : "mirror";
	const char *name;
	double percent;

	if (json_unpack(reply, "{s:s, s:F}", kind, &name, "percent",
			&percent) == 0)
		printf("%s %s: %spercent %g\n", kind, name,
		       route ? "" : "default ", percent);
	else
		print_unexpected(reply);
}

/** mirror on|off: "mirror NAME: on". */
static void
print_mirror_switch(json_t *reply)
{
	const char *name;
	int enabled;

	if (json_unpack(reply, "{s:s, s:b}", "mirror", &name, "enabled",
			&enabled) == 0)
		printf("mirror %s: %s\n", name, enabled ? "on" : "off");
	else
		print_unexpected(reply);
}

/** reload: "reloaded: N routes"; a dry run says it changed nothing. */
static void
print_reload(json_t *reply)
{
	json_int_t routes;

	if (json_unpack(reply, "{s:I}", "routes", &routes) != 0)
		print_unexpected(reply);
	else if (json_is_true(json_object_get(reply, "dry_run")))
		printf("dry run: the file would reload, %" JSON_INTEGER_FORMAT
		       " routes; nothing changed\n", routes);
	else
		printf("reloaded: %" JSON_INTEGER_FORMAT " routes\n", routes);
}

/**
 * The member of @p obj at @p path, where "a.b" is member b of member a.
 *
 * @return a borrowed reference, or NULL when there is none
 */
static json_t *
member(const json_t *obj, const char *path)
{
	char key[64];
	const char *dot;
	size_t len;

	while ((dot = strchr(path, '.')) != NULL) {
		len = (size_t)(dot - path);
		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		obj = json_object_get(obj, key);
		path = dot + 1;
	}
	return json_object_get(obj, path);
}

/**
 * Format one cell: the value @p now, or with @p has_prev its rate per
 * second since @p before over @p seconds; "-" when there is no number,
 * no earlier value, or the counter went down.
 */
static void
format_cell(char *cell, size_t size, const json_t *now, const json_t *before,
	    bool has_prev, double seconds)
{
	if (!json_is_number(now) ||
	    (has_prev && (!json_is_number(before) ||
			  json_number_value(now) < json_number_value(before))))
		snprintf(cell, size, "-");
	else if (has_prev)
		snprintf(cell, size, "%.1f",
			 (json_number_value(now) - json_number_value(before)) /
				 seconds);
	else if (json_is_integer(now))
		snprintf(cell, size, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(now));
	else
		snprintf(cell, size, "%g", json_real_value(now));
}

/**
 * Print one section of a table: a heading line, then one line per member
 * of @p rows: its name, then a cell per column (see format_cell()): with
 * @p rates, rates since @p prev_rows, the same section of an earlier
 * document.
 */
static void
print_section(const char *title, const json_t *rows,
	      const struct section *section, bool rates,
	      const json_t *prev_rows, double seconds)
{
	const struct column *col;
	int name_width = (int)strlen(title);
	const char *name;
	json_t *row;
	char cell[32];
	size_t c;

	json_object_foreach((json_t *)rows, name, row)
		if ((int)strlen(name) > name_width)
			name_width = (int)strlen(name);
	printf("%-*s", name_width, title);
	for (c = 0; c < section->nb_columns; c++)
		printf("  %*s", CELL_MIN_WIDTH, section->columns[c].heading);
	putchar('\n');
	json_object_foreach((json_t *)rows, name, row) {
		printf("%-*s", name_width, name);
		for (c = 0; c < section->nb_columns; c++) {
			col = &section->columns[c];
			format_cell(cell, sizeof(cell), member(row, col->key),
				    member(json_object_get(prev_rows, name),
					   col->key),
				    rates, seconds);
			/* As wide as the heading above it, at least. */
			printf("  %*s", MAX_INT(CELL_MIN_WIDTH,
						    (int)strlen(col->heading)),
			       cell);
		}
		putchar('\n');
	}
}

/**
 * The routes of a stats document with the traffic no route claims as one
 * more row, "(unrouted)". A new reference; NULL when out of memory.
 */
static json_t *
route_rows(const json_t *stats)
{
	json_t *rows = json_object();
	const json_t *routes = json_object_get(stats, "routes");
	const json_t *unrouted = json_object_get(stats, "unrouted");

	if (rows == NULL)
		return NULL;
	if (json_is_object(routes))
		json_object_update(rows, (json_t *)routes);
	if (unrouted != NULL)
		json_object_set(rows, "(unrouted)", (json_t *)unrouted);
	return rows;
}

/** Whether a stats document is shadowtap-replay's rather than the
 * appliance's. */
static bool
is_replay(const json_t *stats)
{
	const json_t *program = json_object_get(stats, "program");

	return json_is_string(program) &&
	       strcmp(json_string_value(program), "shadowtap-replay") == 0;
}

/**
 * The rows of section @p i (0 or 1) of a stats document: the appliance's
 * ports or mirrors; the replay's capture or shadow, one row each. A new
 * reference; NULL when there is none.
 */
static json_t *
section_rows(const json_t *stats, int i)
{
	static const char *const appliance[2] = { "ports", "mirrors" };
	static const char *const replay[2] = { "capture", "shadow" };
	json_t *rows;

	if (stats == NULL)
		return NULL;
	if (!is_replay(stats)) {
		rows = json_object_get(stats, appliance[i]);
		return rows != NULL ? json_incref(rows) : NULL;
	}
	rows = json_object_get(stats, replay[i]);
	return json_is_object(rows) ? json_pack("{s:O}", replay[i], rows) :
				      NULL;
}

/**
 * Print the three sections of a stats document, ports, mirrors and
 * routes (the replay's: capture, shadow and routes), with the columns of
 * @p sections: values (@p prev NULL) or rates since @p prev.
 */
static void
print_stats_sections(const json_t *stats, const json_t *prev,
		     const struct section sections[3], double seconds)
{
	static const char *const titles[2][2] = { { "port", "mirror" },
						  { "input", "shadow" } };
	json_t *routes = route_rows(stats);
	json_t *prev_routes = prev != NULL ? route_rows(prev) : NULL;
	const bool rates = prev != NULL;
	json_t *rows, *prev_rows;
	int i;

	for (i = 0; i < 2; i++) {
		rows = section_rows(stats, i);
		prev_rows = section_rows(prev, i);
		print_section(titles[is_replay(stats)][i], rows, &sections[i],
			      rates, prev_rows, seconds);
		putchar('\n');
		json_decref(rows);
		json_decref(prev_rows);
	}
	print_section("route", routes, &sections[2], rates, prev_routes,
		      seconds);
	json_decref(routes);
	json_decref(prev_routes);
}

/** stats -H: ports, mirrors and routes as a table of counters. */
static void
print_stats_table(json_t *reply)
{
	static const struct column ports[] = {
		{ "rx", "rx_packets" },
		{ "forwarded", "forwarded_packets" },
		{ "dropped", "dropped_packets" },
	};
	static const struct column mirrors[] = {
		{ "default %", "percent" },
		{ "packets", "mirrored_packets" },
		{ "flows", "mirrored_flows" },
		{ "ring_full", "dropped_by_cause.ring_full" },
		{ "no_mbuf", "dropped_by_cause.no_mbuf" },
		{ "link_down", "dropped_by_cause.link_down" },
	};
	static const struct column routes[] = {
		{ "requests", "requests" },
		{ "flows selected", "flows_selected" },
		{ "packets", "mirrored_packets" },
	};
	static const struct section sections[3] = {
		SECTION(ports), SECTION(mirrors), SECTION(routes)
	};
	static const struct column replay_input[] = {
		{ "packets", "packets" },
		{ "bytes", "bytes" },
		{ "kernel_dropped", "kernel_dropped" },
		{ "if_dropped", "interface_dropped" },
	};
	static const struct column replay_shadow[] = {
		{ "sent", "submitted" },
		{ "answered", "outcomes.answered" },
		{ "timeout", "outcomes.timeout" },
		{ "refused", "outcomes.refused" },
		{ "reset", "outcomes.reset" },
		{ "error", "outcomes.error" },
		{ "busy", "busy" },
		{ "in_flight", "in_flight" },
	};
	static const struct column replay_routes[] = {
		{ "exchanges", "exchanges" },
		{ "replayed", "replayed" },
		{ "skipped_write", "outcomes.skipped_write" },
		{ "skipped_busy", "outcomes.skipped_busy" },
	};
	static const struct section replay_sections[3] = {
		SECTION(replay_input), SECTION(replay_shadow),
		SECTION(replay_routes)
	};
	const json_t *stats = json_object_get(reply, "stats");

	print_stats_sections(stats, NULL,
			     is_replay(stats) ? replay_sections : sections, 0);
}

/** One screen of watch: rates per second between two stats documents. */
static void
print_rates(const struct ctl *ctl, const json_t *prev, const json_t *now,
	    double seconds)
{
	static const struct column ports[] = {
		{ "rx/s", "rx_packets" },
		{ "forwarded/s", "forwarded_packets" },
		{ "dropped/s", "dropped_packets" },
	};
	static const struct column mirrors[] = {
		{ "copies/s", "mirrored_packets" },
		{ "drops/s", "mirror_dropped_packets" },
	};
	static const struct column routes[] = {
		{ "requests/s", "requests" },
		{ "copies/s", "mirrored_packets" },
	};
	static const struct section sections[3] = {
		SECTION(ports), SECTION(mirrors), SECTION(routes)
	};
	static const struct column replay_input[] = {
		{ "packets/s", "packets" },
		{ "dropped/s", "kernel_dropped" },
	};
	static const struct column replay_shadow[] = {
		{ "sent/s", "submitted" },
		{ "answered/s", "outcomes.answered" },
		{ "busy/s", "busy" },
	};
	static const struct column replay_routes[] = {
		{ "exchanges/s", "exchanges" },
		{ "replayed/s", "replayed" },
	};
	static const struct section replay_sections[3] = {
		SECTION(replay_input), SECTION(replay_shadow),
		SECTION(replay_routes)
	};
	const bool replay = is_replay(now);

	printf("%s at %s: per-second rates over %.2f s\n\n",
	       replay ? "shadowtap-replay" : "shadowtap", ctl->path, seconds);
	print_stats_sections(now, prev, replay ? replay_sections : sections,
			     seconds);
}

/**
 * Check a percent given on the command line: a decimal number from 0 to
 * 100. strtod() alone would also take "inf", "nan", hex and spaces.
 *
 * @return 0 with @p percent set, or -EINVAL
 */
static int
parse_percent(const char *text, double *percent)
{
	char *end;

	if (text[0] == '\0' || strspn(text, "0123456789.") != strlen(text))
		return -EINVAL;
	errno = 0;
	*percent = strtod(text, &end);
	if (errno != 0 || *end != '\0' || *percent < 0 || *percent > 100)
		return -EINVAL;
	return 0;
}

/**
 * Check a count given on the command line: a positive decimal integer.
 *
 * @return 0 with @p count set, or -EINVAL
 */
static int
parse_count(const char *text, unsigned long *count)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	*count = strtoul(text, &end, 10);
	return errno == 0 && *end == '\0' && *count > 0 ? 0 : -EINVAL;
}

/** A percent as JSON: an integer when it is one, so requests read well. */
static json_t *
percent_json(double percent)
{
	if (percent == (double)(json_int_t)percent)
		return json_integer((json_int_t)percent);
	return json_real(percent);
}

/** stats, show, version: a request of the command's name alone. */
static int
cmd_plain(struct ctl *ctl, const struct command *cmd, char **args,
	  int nb_args)
{
	(void)args;
	(void)nb_args;
	return ctl_run(ctl, cmd, request_of(cmd->name));
}

/** reload [--dry-run]. */
static int
cmd_reload(struct ctl *ctl, const struct command *cmd, char **args,
	   int nb_args)
{
	if (nb_args == 0)
		return ctl_run(ctl, cmd, request_of(cmd->name));
	if (strcmp(args[0], "--dry-run") != 0)
		return usage_error("reload: '%s' is not --dry-run", args[0]);
	return ctl_run(ctl, cmd,
		       json_pack("{s:s, s:b}", "command", cmd->name, "dry_run",
				 true));
}

/** set route|mirror NAME percent P. */
static int
cmd_set(struct ctl *ctl, const struct command *cmd, char **args, int nb_args)
{
	const char *kind = args[0], *name = args[1];
	bool route = strcmp(kind, "route") == 0;
	json_t *name_json;
	double percent;

	(void)nb_args;
	if (!route && strcmp(kind, "mirror") != 0)
		return usage_error("set: '%s' is neither route nor mirror",
				   kind);
	if (strcmp(args[2], "percent") != 0)
		return usage_error("set %s %s: expected 'percent', not '%s'",
				   kind, name, args[2]);
	if (parse_percent(args[3], &percent) != 0)
		return usage_error("percent: '%s' is not a number from 0 to "
				   "100", args[3]);
	name_json = json_string(name);
	if (name_json == NULL)
		return usage_error("%s name: not valid UTF-8", kind);
	return ctl_run(ctl, cmd,
		       json_pack("{s:s, s:o, s:o}", "command",
				 route ? "set_route_percent" :
					 "set_mirror_percent",
				 kind, name_json, "percent",
				 percent_json(percent)));
}

/** mirror NAME on|off. */
static int
cmd_mirror(struct ctl *ctl, const struct command *cmd, char **args,
	   int nb_args)
{
	const char *state = args[1];
	bool on = strcmp(state, "on") == 0;
	json_t *name_json;

	(void)nb_args;
	if (!on && strcmp(state, "off") != 0)
		return usage_error("mirror %s: '%s' is neither on nor off",
				   args[0], state);
	name_json = json_string(args[0]);
	if (name_json == NULL)
		return usage_error("mirror name: not valid UTF-8");
	return ctl_run(ctl, cmd,
		       json_pack("{s:s, s:o, s:b}", "command", "mirror",
				 "mirror", name_json, "enabled", on));
}

/**
 * Ask for the counters once.
 *
 * @param stats  receives the stats document (a new reference)
 * @param at_ns  receives when it arrived, in ns of CLOCK_MONOTONIC
 * @return as ctl_call()
 */
static int
sample_stats(struct ctl *ctl, json_t **stats, int64_t *at_ns)
{
	struct timespec ts;
	json_t *reply;
	int rc = ctl_call(ctl, request_of("stats"), &reply);

	if (rc != EXIT_SUCCESS)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	*at_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	*stats = json_object_get(reply, "stats");
	if (!json_is_object(*stats)) {
		fprintf(stderr, PROG ": %s: stats reply without \"stats\"\n",
			ctl->path);
		json_decref(reply);
		return EXIT_USAGE;
	}
	json_incref(*stats);
	json_decref(reply);
	return EXIT_SUCCESS;
}

/**
 * Sleep until @p deadline (ns of CLOCK_MONOTONIC) or a stop request.
 *
 * @return false when a stop was requested
 */
static bool
sleep_until(int64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000000000,
			       .tv_nsec = deadline % 1000000000 };

	while (!stop_requested &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
		       EINTR)
		;
	return !stop_requested;
}

/**
 * watch [-n COUNT]: every second, a screen of rates since the previous
 * sample; COUNT screens, or until SIGINT / SIGTERM, which end it with
 * status 0. The screen is cleared only on a terminal, so a pipe gets
 * plain successive screens.
 */
static int
cmd_watch(struct ctl *ctl, const struct command *cmd, char **args,
	  int nb_args)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	const bool terminal = isatty(STDOUT_FILENO) == 1;
	unsigned long count = 0, screen;
	int64_t prev_ns, now_ns, tick;
	json_t *prev, *now;
	int rc;

	(void)cmd;
	if (nb_args > 0 && (nb_args != 2 || strcmp(args[0], "-n") != 0 ||
			    parse_count(args[1], &count) != 0))
		return usage_error("watch: expected -n COUNT, a positive "
				   "number of refreshes");
	/* No SA_RESTART: a signal must cut a sleep or a wait short. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = sample_stats(ctl, &prev, &prev_ns);
	if (rc != EXIT_SUCCESS)
		return rc == CALL_INTERRUPTED ? EXIT_SUCCESS : rc;
	tick = prev_ns;
	for (screen = 0; count == 0 || screen < count; screen++) {
		tick += WATCH_PERIOD_NS;
		if (!sleep_until(tick))
			break;
		rc = sample_stats(ctl, &now, &now_ns);
		if (rc != EXIT_SUCCESS)
			break;
		if (terminal)
			fputs("\033[H\033[2J", stdout);
		else if (screen > 0)
			putchar('\n');
		print_rates(ctl, prev, now, (double)(now_ns - prev_ns) / 1e9);
		fflush(stdout);
		json_decref(prev);
		prev = now;
		prev_ns = now_ns;
	}
	json_decref(prev);
	return rc == CALL_INTERRUPTED ? EXIT_SUCCESS : rc;
}

/* compare's own options. */
struct compare_opts {
	bool json;
	bool gate;
	bool reset;
	const char *route;
	const char *html;
	char **from;		/* stats files, nb_from of them */
	int nb_from;
};

static int
parse_compare(char **args, int nb_args, struct compare_opts *o)
{
	int i;

	o->from = calloc((size_t)nb_args + 1, sizeof(*o->from));
	if (o->from == NULL)
		return usage_error("out of memory");
	for (i = 0; i < nb_args; i++) {
		const char *a = args[i];
		bool has_value = i + 1 < nb_args;

		if (strcmp(a, "--json") == 0)
			o->json = true;
		else if (strcmp(a, "--gate") == 0)
			o->gate = true;
		else if (strcmp(a, "--reset") == 0)
			o->reset = true;
		else if (strcmp(a, "--route") == 0 && has_value)
			o->route = args[++i];
		else if (strcmp(a, "--html") == 0 && has_value)
			o->html = args[++i];
		else if (strcmp(a, "--from") == 0 && has_value)
			o->from[o->nb_from++] = args[++i];
		else
			return usage_error("compare: '%s'%s", a,
					   strncmp(a, "--", 2) == 0 ?
						   " needs a value or is "
						   "unknown" :
						   ": unknown option");
	}
	if (o->reset && (o->json || o->gate || o->route || o->html ||
			 o->nb_from > 0))
		return usage_error("compare --reset takes no other option");
	return -1;
}

/* The judged document of replay stats files, merged. @return NULL after
 * saying why on stderr. */
static json_t *
compare_from(char **files, int nb_files)
{
	json_t *doc = NULL;
	char err[256];
	int i, rc = 0;

	for (i = 0; i < nb_files && rc == 0; i++) {
		json_error_t jerr;
		json_t *stats = json_load_file(files[i], 0, &jerr);
		json_t *part = json_object_get(stats, "compare");

		if (stats == NULL) {
			fprintf(stderr, PROG ": %s:%d: %s\n", files[i],
				jerr.line, jerr.text);
			json_decref(doc);
			return NULL;
		}
		if (!json_is_object(part)) {
			snprintf(err, sizeof(err), "no \"compare\" object "
				 "(not a shadowtap-replay stats file)");
			rc = -EINVAL;
		} else if (doc == NULL) {
			doc = json_deep_copy(part);
			rc = doc != NULL ? st_compare_judge(doc, err,
							    sizeof(err)) :
					   -ENOMEM;
		} else {
			rc = st_compare_merge(doc, part, err, sizeof(err));
		}
		json_decref(stats);
		if (rc != 0)
			fprintf(stderr, PROG ": %s: %s\n", files[i],
				rc == -ENOMEM ? "out of memory" : err);
	}
	if (rc != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int
write_html(const json_t *doc, const char *path)
{
	FILE *f = fopen(path, "w");
	int rc = f != NULL ? st_report_write(doc, "shadowtap: primary against "
					     "shadow", f) : -errno;

	if (f != NULL && fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc != 0)
		fprintf(stderr, PROG ": --html %s: %s\n", path,
			strerror(-rc));
	return rc;
}

/* Print what the options ask for. @return the exit status */
static int
show_compare(const json_t *doc, const struct compare_opts *o)
{
	const json_t *route = NULL, *r;
	size_t i;

	if (o->route != NULL) {
		json_array_foreach(json_object_get(doc, "routes"), i, r)
			if (strcmp(json_string_value(json_object_get(r, "name")),
				   o->route) == 0)
				route = r;
		if (route == NULL) {
			fprintf(stderr, PROG ": compare: no route '%s' (no "
				"record of it yet?)\n", o->route);
			return EXIT_REFUSED;
		}
	}
	if (o->html != NULL && write_html(doc, o->html) != 0)
		return EXIT_USAGE;
	if (o->json)
		print_json(route != NULL ? route : doc);
	else if (route != NULL)
		st_compare_view_route(doc, o->route, stdout);
	else if (o->html == NULL)
		st_compare_view_table(doc, stdout);
	if (o->gate && strcmp(json_string_value(json_object_get(doc,
								"verdict")),
			      "fail") == 0)
		return EXIT_REFUSED;
	return EXIT_SUCCESS;
}

/** compare: the replay's comparison (or stats files'), its gate. */
static int
cmd_compare(struct ctl *ctl, const struct command *cmd, char **args,
	    int nb_args)
{
	struct compare_opts o = { 0 };
	json_t *reply = NULL, *doc;
	int rc = parse_compare(args, nb_args, &o);

	(void)cmd;
	if (rc >= 0) {
		free(o.from);
		return rc;
	}
	if (o.reset) {
		rc = ctl_call(ctl, request_of("compare_reset"), &reply);
		if (rc == EXIT_SUCCESS)
			puts("the comparison starts over");
	} else if (o.nb_from > 0) {
		doc = compare_from(o.from, o.nb_from);
		rc = doc != NULL ? show_compare(doc, &o) : EXIT_USAGE;
		json_decref(doc);
	} else {
		rc = ctl_call(ctl, request_of("compare"), &reply);
		doc = json_object_get(reply, "compare");
		if (rc == EXIT_SUCCESS && !json_is_object(doc)) {
			print_unexpected(reply);
			rc = EXIT_USAGE;
		} else if (rc == EXIT_SUCCESS) {
			rc = show_compare(doc, &o);
		}
	}
	json_decref(reply);
	free(o.from);
	return rc == CALL_INTERRUPTED ? EXIT_USAGE : rc;
}

static const struct command commands[] = {
	{ "stats", 0, 0, cmd_plain, print_stats_json, print_stats_table },
	{ "show", 0, 0, cmd_plain, print_show, NULL },
	{ "set", 4, 4, cmd_set, print_percent, NULL },
	{ "mirror", 2, 2, cmd_mirror, print_mirror_switch, NULL },
	{ "reload", 0, 1, cmd_reload, print_reload, NULL },
	{ "watch", 0, 2, cmd_watch, NULL, NULL },
	{ "version", 0, 0, cmd_plain, print_version, NULL },
	{ "compare", 0, 64, cmd_compare, NULL, NULL },
};

/** The command called @p name, or NULL. */
static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .path = DEFAULT_SOCKET, .fd = -1 };
	const struct command *cmd;
	int opt, nb_args, rc;

	/* '+': options stop at the command, whose own options are its. */
	while ((opt = getopt_long(argc, argv, "+s:Hh", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			ctl.path = optarg;
			break;
		case 'H':
			ctl.human = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf(PROG " %s\n", ST_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command");
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return usage_error("unknown command '%s'", argv[optind]);
	nb_args = argc - optind - 1;
	if (nb_args < cmd->min_args || nb_args > cmd->max_args)
		return usage_error("%s: wrong number of arguments", cmd->name);
	rc = cmd->run(&ctl, cmd, argv + optind + 1, nb_args);
	ctl_close(&ctl);
	return rc;
}
