/* SPDX-License-Identifier: BSD-3-Clause */
#include "rctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PREFIX "shadowtap_replay_"

struct st_rmetrics {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;	/* guards text */
	char *text;
	size_t len;
};

/* --- rendering ----------------------------------------------------------- */

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name,
		help, name, type);
}

/* A label value as the text format wants it: \, " and newline escaped. */
static void
label_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* One sample of member @p key of @p obj ("a.b": b of a), if a number. */
static void
sample(FILE *f, const char *name, const char *labels, const json_t *obj,
       const char *key)
{
	char first[64];
	const char *dot = strchr(key, '.');
	const json_t *v;

	if (dot != NULL && (size_t)(dot - key) < sizeof(first)) {
		memcpy(first, key, (size_t)(dot - key));
		first[dot - key] = '\0';
		v = json_object_get(json_object_get(obj, first), dot + 1);
	} else {
		v = json_object_get(obj, key);
	}
	if (!json_is_integer(v))
		return;
	fprintf(f, PREFIX "%s%s %" JSON_INTEGER_FORMAT "\n", name, labels,
		json_integer_value(v));
}

/* A family with one sample per integer member of @p obj, labelled
 * @p label="member name". */
static void
by_member(FILE *f, const char *name, const char *help, const char *label,
	  const json_t *obj)
{
	const char *key;
	json_t *v;

	family(f, name, "counter", help);
	json_object_foreach((json_t *)obj, key, v) {
		if (!json_is_integer(v))
			continue;
		fprintf(f, PREFIX "%s{%s=\"", name, label);
		label_value(f, key);
		fprintf(f, "\"} %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(v));
	}
}

/* Records of one route (or of none, route=""), by outcome. */
static void
route_records(FILE *f, const char *route, const json_t *counters)
{
	const char *outcome;
	json_t *v;

	json_object_foreach(json_object_get(counters, "outcomes"), outcome,
			    v) {
		fputs(PREFIX "records_total{route=\"", f);
		label_value(f, route);
		fprintf(f, "\",outcome=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			outcome, json_integer_value(v));
	}
}

static void
render(FILE *f, const json_t *doc)
{
	const json_t *capture = json_object_get(doc, "capture");
	const json_t *reasm = json_object_get(doc, "reasm");
	const json_t *shadow = json_object_get(doc, "shadow");
	const char *name;
	json_t *route;

	family(f, "packets_total", "counter", "Frames captured");
	sample(f, "packets_total", "", capture, "packets");
	by_member(f, "decap_packets_total",
		  "Frames by decapsulation result", "result",
		  json_object_get(doc, "decap"));
	family(f, "dropped_packets_total", "counter",
	       "Frames lost before the replay saw them, by cause");
	sample(f, "dropped_packets_total", "{cause=\"kernel\"}", capture,
	       "kernel_dropped");
	sample(f, "dropped_packets_total", "{cause=\"interface\"}", capture,
	       "interface_dropped");
	family(f, "streams_total", "counter", "TCP connections reassembled");
	sample(f, "streams_total", "", reasm, "connections");
	family(f, "streams_active", "gauge", "TCP connections tracked now");
	sample(f, "streams_active", "", reasm, "connections_active");
	by_member(f, "streams_ended_total", "TCP connections ended, by why",
		  "why", json_object_get(reasm, "ended"));
	family(f, "dropped_bytes_total", "counter",
	       "Stream bytes lost in reassembly, by cause");
	sample(f, "dropped_bytes_total", "{cause=\"gap\"}", reasm,
	       "gap_bytes");
	sample(f, "dropped_bytes_total", "{cause=\"stream_bound\"}", reasm,
	       "dropped.stream_bound");
	sample(f, "dropped_bytes_total", "{cause=\"total_bound\"}", reasm,
	       "dropped.total_bound");
	by_member(f, "exchanges_total",
		  "HTTP exchanges, by how the primary's side ended", "end",
		  json_object_get(json_object_get(doc, "exchanges"), "ended"));
	if (json_is_object(shadow)) {
		by_member(f, "shadow_requests_total",
			  "Requests the shadow finished, by outcome",
			  "outcome", json_object_get(shadow, "outcomes"));
		family(f, "shadow_in_flight", "gauge",
		       "Requests taken by the shadow client, not done");
		sample(f, "shadow_in_flight", "", shadow, "in_flight");
	}
	family(f, "records_total", "counter",
	       "Requests replayed or not, by route and outcome");
	json_object_foreach(json_object_get(doc, "routes"), name, route)
		route_records(f, name, route);
	route_records(f, "", json_object_get(doc, "unrouted"));
}

int
st_rmetrics_publish(struct st_rmetrics *m, const json_t *stats)
{
	char *text = NULL, *old;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return -ENOMEM;
	render(f, stats);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	old = m->text;
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	free(old);
	return 0;
}

/* --- the HTTP server ----------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, void *text,
      size_t len, enum MHD_ResponseMemoryMode mode, const char *type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, text, mode);
	enum MHD_Result ret;

	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	static char not_found[] = "not found: the metrics are at /metrics\n";
	static char not_allowed[] = "method not allowed: GET /metrics\n";
	struct st_rmetrics *m = cls;
	size_t len;
	char *copy;

	(void)version, (void)upload_data, (void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, not_found,
			     strlen(not_found), MHD_RESPMEM_PERSISTENT,
			     "text/plain; charset=utf-8");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			     strlen(not_allowed), MHD_RESPMEM_PERSISTENT,
			     "text/plain; charset=utf-8");
	/* A copy: the main loop may publish a new text during the send. */
	pthread_mutex_lock(&m->lock);
	len = m->len;
	copy = malloc(len + 1);
	if (copy != NULL && len > 0)
		memcpy(copy, m->text, len);
	pthread_mutex_unlock(&m->lock);
	if (copy == NULL)
		return MHD_NO;
	return reply(conn, MHD_HTTP_OK, copy, len, MHD_RESPMEM_MUST_FREE,
		     CONTENT_TYPE);
}

/* "ADDR:PORT" or "[ADDR6]:PORT", numeric only, into a socket address. */
static int
parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen,
	   char *err, size_t errlen)
{
	const struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_socktype = SOCK_STREAM,
	};
	const char *colon = strrchr(addr, ':');
	char host[INET6_ADDRSTRLEN + 2];
	struct addrinfo *ai;
	size_t n;

	if (colon == NULL || colon[1] == '\0' ||
	    (n = (size_t)(colon - addr)) >= sizeof(host)) {
		snprintf(err, errlen, "--metrics %s: give ADDR:PORT, for "
			 "example 127.0.0.1:9418", addr);
		return -EINVAL;
	}
	memcpy(host, addr, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	} else if (strchr(host, ':') != NULL) {
		snprintf(err, errlen, "--metrics %s: an IPv6 address goes in "
			 "brackets, for example [::1]:9418", addr);
		return -EINVAL;
	}
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535 ||
	    getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		snprintf(err, errlen, "--metrics %s: not a numeric address "
			 "and a port from 1 to 65535", addr);
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int
st_rmetrics_start(const char *addr, struct st_rmetrics **out, char *err,
		  size_t errlen)
{
	struct sockaddr_storage ss;
	struct st_rmetrics *m;
	socklen_t sslen;
	const int on = 1;
	int fd, rc;

	rc = parse_addr(addr, &ss, &sslen, err, errlen);
	if (rc != 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(fd, 16) != 0) {
		rc = -errno;
		snprintf(err, errlen, "--metrics %s: %s", addr,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
		on_request, m, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, 16u,
		MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (m->daemon == NULL) {
		/* MHD owns the socket from the call on and closed it. */
		pthread_mutex_destroy(&m->lock);
		free(m);
		snprintf(err, errlen, "--metrics %s: the HTTP server did not "
			 "start", addr);
		return -EIO;
	}
	*out = m;
	return 0;
}

void
st_rmetrics_stop(struct st_rmetrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->daemon);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}
