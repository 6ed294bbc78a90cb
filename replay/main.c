/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shadowtap-replay: where the appliance's copies arrive. Reads them (an
 * interface or a pcap file), replays each captured HTTP request to a
 * shadow service, logs the primary's and the shadow's answers side by
 * side, and compares them per route (compare.h) with a gate.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "capture.h"
#include "compare.h"
#include "conf.h"
#include "engine.h"
#include "rctl.h"
#include "record.h"
#include "report.h"

#define PROG "shadowtap-replay"
#define EXIT_CONFIG 1	/* the configuration is wrong */
#define EXIT_USAGE 2	/* bad options, or the input cannot be read */
#define READ_BATCH 64	/* packets between two looks at everything else */
#define TICK_MS 1000	/* metrics snapshot, idle expiry, --duration */

struct options {
	const char *config;
	const char *interface;
	const char *pcap;
	const char *log;
	const char *socket;
	const char *metrics;
	const char *stats_file;
	const char *report;
	bool dry_run;
	bool fast;
	double speed;
	double duration_s;
};

struct app {
	struct options opt;
	struct st_replay_conf *conf;
	struct st_capture *capture;
	struct st_engine *engine;
	struct st_compare *compare;
	struct st_rctl *ctl;
	struct st_rmetrics *metrics;
	FILE *log;
	bool log_failed;
	bool packet_seen;	/* since the last tick */
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *out)
{
	fputs("usage: " PROG " --config replay.yaml (--interface IF | --pcap "
	      "FILE) [options]\n"
	      "  -c, --config FILE      the replay's configuration\n"
	      "  -i, --interface IF     capture live on IF (promiscuous). "
	      "Give IF no IP\n"
	      "                         address: the host then never answers "
	      "a copy itself\n"
	      "  -r, --pcap FILE        read a pcap file instead\n"
	      "  -n, --dry-run          replay nothing; log what would be\n"
	      "  -l, --log FILE         one JSON line per exchange\n"
	      "  -s, --socket PATH      control socket (shadowtapctl -s "
	      "PATH stats)\n"
	      "  -m, --metrics ADDR:PORT  Prometheus metrics at /metrics\n"
	      "  -x, --speed X          file at X times its captured pace "
	      "(default 1)\n"
	      "  -f, --fast             file as fast as it can be read\n"
	      "  -S, --stats-file FILE  the counters and the comparison as "
	      "JSON at exit\n"
	      "  -R, --report FILE      the comparison as an HTML page at "
	      "exit\n"
	      "  -d, --duration S       stop a live capture after S seconds\n"
	      "  -h, --help             this text\n"
	      "  -V, --version          the version\n"
	      "SIGINT or SIGTERM stop cleanly: what is in flight is "
	      "finished, counters written.\n",
	      out);
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (--help for usage)\n", stderr);
	return EXIT_USAGE;
}

static bool
parse_positive(const char *text, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	return errno == 0 && end != text && *end == '\0' && *out > 0 &&
	       *out < 1e9;
}

/* @return -1 to go on, else the exit status */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		{ "pcap", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "speed", required_argument, NULL, 'x' },
		{ "fast", no_argument, NULL, 'f' },
		{ "stats-file", required_argument, NULL, 'S' },
		{ "report", required_argument, NULL, 'R' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool speed_given = false;
	int c;

	o->speed = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:r:nl:s:m:x:fS:R:d:hV", longs,
				NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'i': o->interface = optarg; break;
		case 'r': o->pcap = optarg; break;
		case 'n': o->dry_run = true; break;
		case 'l': o->log = optarg; break;
		case 's': o->socket = optarg; break;
		case 'm': o->metrics = optarg; break;
		case 'f': o->fast = true; break;
		case 'S': o->stats_file = optarg; break;
		case 'R': o->report = optarg; break;
		case 'x':
			if (!parse_positive(optarg, &o->speed))
				return usage_error("--speed '%s': not a "
						   "positive number", optarg);
			speed_given = true;
			break;
		case 'd':
			if (!parse_positive(optarg, &o->duration_s))
				return usage_error("--duration '%s': not a "
						   "positive number of "
						   "seconds", optarg);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf(PROG " %s\n", ST_VERSION);
			return EXIT_SUCCESS;
		case ':':
			return usage_error("%s needs a value",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->config == NULL)
		return usage_error("--config is required");
	if ((o->interface == NULL) == (o->pcap == NULL))
		return usage_error("give one of --interface and --pcap");
	if (o->interface != NULL && (o->fast || speed_given))
		return usage_error("--speed and --fast are for --pcap");
	if (o->fast && speed_given)
		return usage_error("--speed and --fast exclude each other");
	if (o->pcap != NULL && o->duration_s > 0)
		return usage_error("--duration is for --interface (a file "
				   "ends by itself)");
	return -1;
}

/* --- records and counters ------------------------------------------------ */

/* The sink: the comparison, then the log. */
static void
on_record(void *arg, const struct st_record *r)
{
	struct app *app = arg;
	json_t *line;

	st_compare_record(app->compare, r);
	if (app->log == NULL)
		return;
	line = st_record_json(r);
	if (line == NULL ||
	    json_dumpf(line, app->log,
		       JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0 ||
	    fputc('\n', app->log) == EOF)
		app->log_failed = true;
	json_decref(line);
}

static json_t *
stats_document(void *arg)
{
	struct app *app = arg;
	struct st_capture_stats cs;
	json_t *doc = st_engine_stats_json(app->engine);

	if (doc == NULL)
		return NULL;
	st_capture_stats(app->capture, &cs);
	json_object_set_new(doc, "compare", st_compare_json(app->compare));
	json_object_set_new(doc, "program", json_string(PROG));
	json_object_set_new(doc, "version", json_string(ST_VERSION));
	json_object_set_new(
		doc, "capture",
		json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "source",
			  app->opt.interface ? "interface" : "pcap", "name",
			  app->opt.interface ? app->opt.interface :
					       app->opt.pcap,
			  "packets", (json_int_t)cs.packets, "bytes",
			  (json_int_t)cs.bytes, "kernel_dropped",
			  (json_int_t)cs.kernel_dropped, "interface_dropped",
			  (json_int_t)cs.interface_dropped));
	return doc;
}

static json_t *
compare_document(void *arg)
{
	const struct app *app = arg;

	return st_compare_json(app->compare);
}

static void
compare_reset(void *arg)
{
	struct app *app = arg;

	st_compare_reset(app->compare);
}

static void
publish_metrics(struct app *app)
{
	json_t *doc;

	if (app->metrics == NULL || (doc = stats_document(app)) == NULL)
		return;
	st_rmetrics_publish(app->metrics, doc);
	json_decref(doc);
}

static int
write_stats_file(struct app *app)
{
	json_t *doc = stats_document(app);
	int rc = doc != NULL ? json_dump_file(doc, app->opt.stats_file,
					      JSON_INDENT(2)) :
			       -1;

	json_decref(doc);
	if (rc != 0)
		fprintf(stderr, PROG ": --stats-file %s: cannot write it\n",
			app->opt.stats_file);
	return rc;
}

static int
write_report(struct app *app)
{
	json_t *doc = st_compare_json(app->compare);
	FILE *f = doc != NULL ? fopen(app->opt.report, "w") : NULL;
	int rc = f != NULL ? st_report_write(doc, "shadowtap-replay: primary "
					     "against shadow", f) : -1;

	if (f != NULL && fclose(f) != 0)
		rc = -1;
	json_decref(doc);
	if (rc != 0)
		fprintf(stderr, PROG ": --report %s: cannot write it\n",
			app->opt.report);
	return rc;
}

/* "N packets, N exchanges: N replayed, N dry_run, ..." on stderr. */
static void
summary(struct app *app)
{
	json_t *doc = stats_document(app), *records, *v;
	const char *outcome;

	if (doc == NULL)
		return;
	records = json_object_get(doc, "records");
	fprintf(stderr, PROG ": %" JSON_INTEGER_FORMAT " packets, "
		"%" JSON_INTEGER_FORMAT " exchanges",
		json_integer_value(
			json_object_get(json_object_get(doc, "capture"),
					"packets")),
		json_integer_value(json_object_get(records, "total")));
	json_object_foreach(json_object_get(records, "outcomes"), outcome, v)
		if (json_integer_value(v) > 0)
			fprintf(stderr, ", %" JSON_INTEGER_FORMAT " %s",
				json_integer_value(v), outcome);
	fputc('\n', stderr);
	json_decref(doc);
}

/* --- the loop ------------------------------------------------------------ */

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void
on_packet(void *arg, const struct st_capture_packet *p)
{
	struct app *app = arg;

	app->packet_seen = true;
	st_engine_packet(app->engine, p->data, p->caplen, p->wirelen,
			 p->ts_ns);
}

/* Once a second: metrics, and a live capture's idle connections. */
static void
tick(struct app *app)
{
	if (app->opt.interface != NULL && !app->packet_seen)
		st_engine_expire(app->engine, clock_ns(CLOCK_REALTIME));
	app->packet_seen = false;
	publish_metrics(app);
}

/* Read until the input ends or a stop. @return 0, or EXIT_USAGE when the
 * input fails. */
static int
run(struct app *app)
{
	const uint64_t start = clock_ns(CLOCK_MONOTONIC);
	uint64_t next_tick = start + TICK_MS * 1000000ull, now;
	struct pollfd fds[1 + ST_RCTL_MAX_FDS];
	unsigned int nb_fds, ctl_at;
	int n, wait_ms, timeout;
	char err[512];

	publish_metrics(app);
	while (!stop_requested) {
		n = st_capture_read(app->capture, READ_BATCH, on_packet, app,
				    &wait_ms, err, sizeof(err));
		if (n == ST_CAPTURE_EOF)
			return 0;
		if (n < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			return EXIT_USAGE;
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (app->opt.duration_s > 0 &&
		    now - start >= (uint64_t)(app->opt.duration_s * 1e9))
			return 0;
		if (now >= next_tick) {
			tick(app);
			next_tick = now + TICK_MS * 1000000ull;
		}
		timeout = (int)((next_tick - now) / 1000000);
		if (wait_ms >= 0 && wait_ms < timeout)
			timeout = wait_ms;
		nb_fds = 0;
		if (st_capture_fd(app->capture) >= 0)
			fds[nb_fds++] = (struct pollfd){
				.fd = st_capture_fd(app->capture),
				.events = POLLIN,
			};
		ctl_at = nb_fds;
		if (app->ctl != NULL)
			nb_fds += st_rctl_fds(app->ctl, fds + nb_fds);
		n = st_engine_poll(app->engine, fds, nb_fds, timeout);
		if (n < 0) {
			fprintf(stderr, PROG ": waiting: %s\n", strerror(-n));
			return EXIT_USAGE;
		}
		if (app->ctl != NULL && n > 0)
			st_rctl_handle(app->ctl, fds + ctl_at,
				       nb_fds - ctl_at);
	}
	return 0;
}

static int
start(struct app *app)
{
	const struct st_engine_opts eopts = {
		.dry_run = app->opt.dry_run,
		.wait_for_room = app->opt.pcap != NULL,
	};
	static const struct st_rctl_ops ctl_ops = {
		.stats = stats_document,
		.compare = compare_document,
		.compare_reset = compare_reset,
	};
	const struct st_http_conf *http = &app->conf->routes.http;
	struct st_capture_opts copts = {
		.interface = app->opt.interface,
		.file = app->opt.pcap,
		.speed = app->opt.speed,
		.fast = app->opt.fast,
		.conf = &app->conf->capture,
	};
	char err[1024];
	int rc;

	rc = st_replay_conf_load(app->opt.config, app->conf, err,
				 sizeof(err));
	copts.http_ports = http->nb_ports ? http->ports : NULL;
	copts.nb_http_ports = http->nb_ports;
	if (rc == 0)
		rc = st_engine_create(app->conf, &eopts, on_record, app,
				      &app->engine, err, sizeof(err));
	if (rc == 0)
		rc = st_compare_create(app->conf,
				       st_engine_sanitizer(app->engine),
				       &app->compare, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_CONFIG;
	}
	if (app->opt.log != NULL &&
	    (app->log = fopen(app->opt.log, "w")) == NULL) {
		fprintf(stderr, PROG ": --log %s: %s\n", app->opt.log,
			strerror(errno));
		return EXIT_USAGE;
	}
	/* A line per exchange as it ends, for whoever tails the log (the
	 * demo does); a live replay may run for days. */
	if (app->log != NULL)
		setvbuf(app->log, NULL, _IOLBF, 0);
	if (st_capture_open(&copts, &app->capture, err, sizeof(err)) != 0 ||
	    (app->opt.socket != NULL &&
	     st_rctl_start(app->opt.socket, &ctl_ops, app, &app->ctl, err,
			   sizeof(err)) != 0) ||
	    (app->opt.metrics != NULL &&
	     st_rmetrics_start(app->opt.metrics, &app->metrics, err,
			       sizeof(err)) != 0)) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_USAGE;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct app app = { 0 };
	int rc;

	rc = parse_options(argc, argv, &app.opt);
	if (rc >= 0)
		return rc;
	/* Routes make the configuration large: not on the stack. */
	app.conf = calloc(1, sizeof(*app.conf));
	if (app.conf == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_USAGE;
	}
	/* No SA_RESTART: a signal must cut the poll short. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = start(&app);
	if (rc < 0) {
		rc = run(&app);
		st_engine_finish(app.engine, app.opt.interface != NULL ?
						     clock_ns(CLOCK_REALTIME) :
						     0);
		if (app.opt.stats_file != NULL && write_stats_file(&app) != 0)
			rc = EXIT_USAGE;
		if (app.opt.report != NULL && write_report(&app) != 0)
			rc = EXIT_USAGE;
		summary(&app);
	}
	if (app.log != NULL && (fclose(app.log) != 0 || app.log_failed)) {
		fprintf(stderr, PROG ": --log %s: write failed\n",
			app.opt.log);
		rc = rc ? rc : EXIT_USAGE;
	}
	st_rmetrics_stop(app.metrics);
	st_rctl_stop(app.ctl);
	st_capture_close(app.capture);
	st_engine_free(app.engine);
	st_compare_free(app.compare);
	free(app.conf);
	return rc;
}
