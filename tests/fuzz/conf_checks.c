/* SPDX-License-Identifier: BSD-3-Clause */
/* What the config targets share (conf_checks.h). */
#include "conf_checks.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void
remove_dir(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

const char *
st_fuzz_file(const char *name, const void *data, size_t size)
{
	static char path[PATH_MAX];
	const char *p = data;
	int fd;

	if (dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/st_fuzz_conf_XXXXXX",
			 tmp != NULL ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL || atexit(remove_dir) != 0)
			abort();
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n <= 0)
			abort();
		p += n;
		size -= (size_t)n;
	}
	if (close(fd) != 0)
		abort();
	return path;
}

void
st_fuzz_check_failure(const char *path, int ret, const char *err)
{
	size_t len = strlen(path);

	if (ret >= 0 || ret < -4095)
		abort();	/* not a negative errno */
	if (strncmp(err, path, len) != 0 || err[len] != ':')
		abort();	/* the message does not name the file */
}

void
st_fuzz_check_name(const char *name)
{
	size_t len = strnlen(name, ST_NAME_MAX), i;

	if (len == 0 || len == ST_NAME_MAX)
		abort();
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("-_.", name[i]) == NULL)
			abort();
}

static void
check_regex(const struct st_regex_conf *re)
{
	if (strnlen(re->pattern, ST_REGEX_MAX) == ST_REGEX_MAX)
		abort();
}

static void
check_headers(const struct st_route_conf *r)
{
	unsigned int h, j;

	if (r->nb_headers > ST_MAX_ROUTE_HEADERS)
		abort();
	for (h = 0; h < r->nb_headers; h++) {
		const char *name = r->headers[h].name;
		size_t len = strnlen(name, ST_HEADER_NAME_MAX), i;

		if (len == 0 || len == ST_HEADER_NAME_MAX)
			abort();
		for (i = 0; i < len; i++)
			if (isupper((unsigned char)name[i]) ||
			    !isgraph((unsigned char)name[i]))
				abort();	/* stored lower case */
		for (j = 0; j < h; j++)
			if (strcmp(r->headers[j].name, name) == 0)
				abort();
		check_regex(&r->headers[h].value);
	}
}

void
st_fuzz_check_routes(const struct st_config *cfg, uint64_t copied)
{
	unsigned int i, j;

	if (cfg->nb_routes > ST_MAX_ROUTES ||
	    cfg->http.nb_ports > ST_MAX_HTTP_PORTS)
		abort();
	for (i = 0; i < cfg->nb_routes; i++) {
		const struct st_route_conf *r = &cfg->routes[i];

		st_fuzz_check_name(r->name);
		for (j = 0; j < i; j++)
			if (strcmp(cfg->routes[j].name, r->name) == 0)
				abort();
		if (!(r->percent >= 0 && r->percent <= 100))
			abort();
		if (r->methods == 0 || (r->methods & ~ST_HTTP_ALL_METHODS) != 0)
			abort();
		/* The promise a shadow's owner relies on most. */
		if ((copied >> i & 1) && !r->allow_writes &&
		    (r->methods & ST_HTTP_WRITE_METHODS) != 0)
			abort();
		check_regex(&r->path);
		check_regex(&r->host);
		check_headers(r);
	}
	for (i = 0; i < cfg->http.nb_ports; i++)
		for (j = 0; j < i; j++)
			if (cfg->http.ports[i] == 0 ||
			    cfg->http.ports[i] == cfg->http.ports[j])
				abort();
}

/* Reads and writes; a Host, none, and one in the target. */
static const struct request {
	enum st_http_method method;
	const char *head;
} requests[] = {
	{ ST_HTTP_GET, "GET /api/v1/items?id=1 HTTP/1.1\r\n"
		       "Host: api.example.com\r\nUser-Agent: curl/8.0\r\n"
		       "Cookie: a=b; beta=1\r\nX-Rollout: shadow\r\n\r\n" },
	{ ST_HTTP_HEAD, "HEAD /healthz HTTP/1.0\r\n\r\n" },
	{ ST_HTTP_POST, "POST /api/orders HTTP/1.1\r\nHost: shop.internal\r\n"
			"Content-Length: 2\r\nX-Debug: 1\r\n\r\nok" },
	{ ST_HTTP_DELETE, "DELETE http://api.example.com:8080/admin/x "
			  "HTTP/1.1\r\nHost: other\r\n\r\n" },
	{ ST_HTTP_CONNECT, "CONNECT api.example.com:443 HTTP/1.1\r\n\r\n" },
};

void
st_fuzz_classify(const struct st_config *cfg, const struct st_classifier *c,
		 struct st_classifier_scratch *s)
{
	size_t i;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		const struct request *q = &requests[i];
		int r = st_classifier_match(c, s, (const uint8_t *)q->head,
					    (uint32_t)strlen(q->head),
					    q->method);

		if (r == ST_ROUTE_NONE)
			continue;
		if (r < 0 || r >= (int)cfg->nb_routes ||
		    !(cfg->routes[r].methods & (1u << q->method)))
			abort();
	}
}
