/* SPDX-License-Identifier: BSD-3-Clause */
#include "metricsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTTP_CONNECTIONS_MAX 16
#define HTTP_TIMEOUT_S 10
#define LISTEN_BACKLOG 16

struct st_metricsd {
	struct MHD_Daemon *daemon;
	st_metricsd_text_fn text;
	void *arg;
	st_metricsd_log_fn log;
};

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned int status, const char *text,
	   bool allow_get)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (allow_get)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	struct st_metricsd *d = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;
	char *text;

	(void)version, (void)upload_data, (void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "not found: the metrics are at /metrics\n",
				  false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed: GET /metrics\n", true);
	text = d->text(d->arg, &len);
	if (text == NULL)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory\n", false);
	resp = MHD_create_response_from_buffer(len, text,
					       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
log_mhd(void *cls, const char *fmt, va_list ap)
{
	const struct st_metricsd *d = cls;
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (d->log != NULL)
		d->log(msg);
	else
		fputs(msg, stderr);
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into a socket address. */
static int
parse_listen(const char *addr, uint16_t example_port,
	     struct sockaddr_storage *ss, socklen_t *sslen, char *err,
	     size_t errlen)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *port_str, *end;
	unsigned long port;
	bool ipv6;
	size_t n;

	if (addr == NULL || addr[0] == '\0') {
		snprintf(err, errlen, "metrics address is empty: give "
			 "ADDR:PORT, for example 127.0.0.1:%u",
			 (unsigned int)example_port);
		return -EINVAL;
	}
	ipv6 = addr[0] == '[';
	if (ipv6) {
		end = strchr(addr, ']');
		if (end == NULL) {
			snprintf(err, errlen, "metrics address '%s': no ']' "
				 "after the IPv6 address", addr);
			return -EINVAL;
		}
		n = (size_t)(end - addr - 1);
		memcpy(host, addr + 1, min_size(n, sizeof(host) - 1));
		if (end[1] != ':') {
			snprintf(err, errlen, "metrics address '%s': no port "
				 "after ']': give [ADDR]:PORT", addr);
			return -EINVAL;
		}
		port_str = end + 2;
	} else {
		end = strrchr(addr, ':');
		if (end == NULL) {
			snprintf(err, errlen, "metrics address '%s': no port: "
				 "give ADDR:PORT, for example 127.0.0.1:%u",
				 addr, (unsigned int)example_port);
			return -EINVAL;
		}
		n = (size_t)(end - addr);
		if (memchr(addr, ':', n) != NULL) {
			snprintf(err, errlen, "metrics address '%s': an IPv6 "
				 "address goes in brackets, for example "
				 "[::1]:%u", addr, (unsigned int)example_port);
			return -EINVAL;
		}
		memcpy(host, addr, min_size(n, sizeof(host) - 1));
		port_str = end + 1;
	}
	host[min_size(n, sizeof(host) - 1)] = '\0';
	if (port_str[0] == '\0' || strlen(port_str) > 5 ||
	    strspn(port_str, "0123456789") != strlen(port_str)) {
		snprintf(err, errlen, "metrics address '%s': port '%s' is "
			 "not a number", addr, port_str);
		return -EINVAL;
	}
	port = strtoul(port_str, NULL, 10);
	if (port == 0 || port > 65535) {
		snprintf(err, errlen, "metrics address '%s': port %lu is out "
			 "of range 1..65535", addr, port);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (ipv6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		if (n < sizeof(host) &&
		    inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1)
			return 0;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		if (n < sizeof(host) &&
		    inet_pton(AF_INET, host, &sin->sin_addr) == 1)
			return 0;
	}
	snprintf(err, errlen, "metrics address '%s': '%.*s' is not an %s "
		 "address%s", addr, (int)n, ipv6 ? addr + 1 : addr,
		 ipv6 ? "IPv6" : "IPv4",
		 ipv6 ? "" : " (host names are not resolved)");
	return -EINVAL;
}

/* A listening socket on conf->addr, or a negative errno. */
static int
open_listener(const struct st_metricsd_conf *conf, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const int on = 1;
	int fd, ret;

	ret = parse_listen(conf->addr, conf->example_port, &ss, &sslen, err,
			   errlen);
	if (ret != 0)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "metrics address '%s': socket: %s",
			 conf->addr, strerror(errno));
		return ret;
	}
	/* A restart must not wait for the old connections' TIME_WAIT; an
	 * IPv6 address means that address only, not IPv4 too. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) !=
		     0) ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		ret = -errno;
		snprintf(err, errlen, "metrics address '%s': cannot bind: %s",
			 conf->addr, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

int
st_metricsd_start(const struct st_metricsd_conf *conf,
		  struct st_metricsd **out, char *err, size_t errlen)
{
	struct st_metricsd *d;
	int fd;

	fd = open_listener(conf, err, errlen);
	if (fd < 0)
		return fd;
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory for the metrics server");
		return -ENOMEM;
	}
	d->text = conf->text;
	d->arg = conf->arg;
	d->log = conf->log;
	/* MHD's own thread polls the socket: never the caller's. */
	d->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, d,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, d,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTIONS_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
		MHD_OPTION_END);
	if (d->daemon == NULL) {
		/* The socket is MHD's from the call on, and it closes it
		 * when it fails; closing it here again could close a
		 * descriptor another thread has opened since. */
		free(d);
		snprintf(err, errlen, "metrics address '%s': the HTTP server "
			 "did not start (see the log)", conf->addr);
		return -EIO;
	}
	*out = d;
	return 0;
}

void
st_metricsd_stop(struct st_metricsd *d)
{
	if (d == NULL)
		return;
	MHD_stop_daemon(d->daemon);
	free(d);
}
