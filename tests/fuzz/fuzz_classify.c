/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the whole per-packet path from an Ethernet frame to a
 * route. The input is one frame; st_parse() finds its TCP payload, and each
 * request in it (pipelined ones too, while bodies have known lengths) goes
 * through method detection, head and body framing, and the classifier with
 * a fixed route set compiled once. Any answer out of range aborts.
 *
 * Seeds: tests/fuzz/make_seeds.py writes each packet of the shared capture
 * corpus as one file.
 */

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "http.h"
#include "parse.h"

/* Most requests looked at in one frame. */
#define REQUESTS_MAX 16

static struct st_config cfg;
static struct st_classifier *classifier;
static struct st_classifier_scratch *scratch;

static struct st_route_conf *
route(const char *name, uint32_t methods, const char *path,
      const char *host)
{
	struct st_route_conf *r = &cfg.routes[cfg.nb_routes];

	r->line = (int)++cfg.nb_routes;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->methods = methods;
	snprintf(r->path.pattern, sizeof(r->path.pattern), "%s", path);
	snprintf(r->host.pattern, sizeof(r->host.pattern), "%s", host);
	r->percent = 100;
	return r;
}

static void
header(struct st_route_conf *r, const char *name, const char *regex)
{
	struct st_route_header_conf *h = &r->headers[r->nb_headers++];

	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->value.pattern, sizeof(h->value.pattern), "%s", regex);
}

/* Routes using every kind of condition and anchor placement. */
static void
setup(void)
{
	const uint32_t get = (1u << ST_HTTP_GET) | (1u << ST_HTTP_HEAD);
	struct st_route_conf *r;
	char err[512];

	snprintf(cfg.path, sizeof(cfg.path), "fuzz_classify.c");
	/* Small enough for inputs to reach it. */
	cfg.http.max_head_bytes = 512;
	route("api-v1", get, "^/api/v1/", "^api\\.example\\.com$");
	r = route("rollout", ST_HTTP_ALL_METHODS, "", "");
	header(r, "x-rollout", "^shadow$");
	header(r, "user-agent", "curl");
	route("static", get, "\\.(css|js|png)(\\?|$)", "");
	route("admin", ST_HTTP_ALL_METHODS, "^/admin|/root$", "example");
	route("writes", ST_HTTP_WRITE_METHODS, "", "");
	r = route("beta", ST_HTTP_ALL_METHODS, "(^/a|/b)\\b", "");
	header(r, "cookie", "(^|;\\s*)beta=1(;|$)");
	route("internal", ST_HTTP_ALL_METHODS, "", "\\.internal$");
	route("two-segments", get, "^/[^/]+/[^/]+$", "\\W\\D");
	header(route("debug", ST_HTTP_ALL_METHODS, "", ""), "x-debug", "");
	route("rest", ST_HTTP_ALL_METHODS, "", "");
	if (st_classifier_create(&cfg, &classifier, err, sizeof(err)) != 0 ||
	    st_classifier_scratch_alloc(classifier, &scratch) != 0) {
		fprintf(stderr, "fuzz_classify: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_pkt_info info;
	struct st_flow_key key;
	const uint8_t *payload;
	uint32_t len, off = 0;
	unsigned int n;

	if (classifier == NULL)
		setup();
	if (size > UINT16_MAX)
		return 0;	/* no frame is longer */
	st_parse(data, size, &info, &key);
	if (info.l4_proto != IPPROTO_TCP || info.payload_len == 0)
		return 0;
	if ((size_t)info.payload_off + info.payload_len > size)
		abort();	/* st_parse() promised missing bytes */
	payload = data + info.payload_off;
	len = info.payload_len;

	for (n = 0; n < REQUESTS_MAX && off < len; n++) {
		const uint8_t *p = payload + off;
		uint32_t head_len, rest = len - off;
		int64_t body;
		int method, ret;

		method = st_http_request_method(p, rest);
		if (method < 0)
			break;	/* not a request, or only its start */
		head_len = st_http_head_length(p, rest);
		if (head_len > rest)
			abort();
		/* A head not complete in this frame is classified on what
		 * is there, as the dataplane does. */
		ret = st_classifier_match(classifier, scratch, p,
					  head_len != 0 ? head_len : rest,
					  (enum st_http_method)method);
		if (ret < ST_ROUTE_NONE || ret >= (int)cfg.nb_routes)
			abort();
		if (head_len == 0)
			break;
		body = st_http_body_length(p, head_len);
		if (body < -1)
			abort();
		if (body < 0 || (uint64_t)body > rest - head_len)
			break;	/* unknown end, or in a later segment */
		off += head_len + (uint32_t)body;
	}
	return 0;
}
