/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the whole per-packet path from an Ethernet frame to a
 * route. The input is one frame; st_parse() finds its TCP payload, and each
 * request in it (pipelined ones too, while bodies have known lengths) goes
 * through method detection, head and body framing, and the classifier with
 * a fixed route set compiled once. Any answer out of range aborts, and so
 * does one that differs from the same routes' with every plain literal
 * written as a group ("^(?:/api/v1/)"): the classifier compares literals
 * in C and leaves the rest to Hyperscan, and both must agree.
 *
 * The worker's fast paths are held to their plain twins too: the parse's
 * IPv4 entry to the general parse (st_parse_any(), every byte of the
 * result), and a head's length and body length, which st_http_head_finish()
 * finds from LF masks, to what reading every line with st_http_head_next()
 * finds.
 *
 * Seeds: tests/fuzz/make_seeds.py writes each packet of the shared capture
 * corpus as one file, and a few requests of its own with framing fields
 * spelt as the captures seldom spell them.
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

/* The routes with their literals as such [0], and as groups [1]. */
static struct st_config cfg[2];
static struct st_classifier *classifier[2];
static struct st_classifier_scratch *scratch[2];

/* Route set being built, and whether its literals are written as groups. */
static struct st_config *building;
static int grouped;

/* A literal condition, plain or as a group. */
#define LIT(plain, group) (grouped ? (group) : (plain))

static struct st_route_conf *
route(const char *name, uint32_t methods, const char *path,
      const char *host)
{
	struct st_route_conf *r = &building->routes[building->nb_routes];

	r->line = (int)++building->nb_routes;
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

/* Routes using every kind of condition and anchor placement, literals
 * among them. */
static void
build(int i)
{
	const uint32_t get = (1u << ST_HTTP_GET) | (1u << ST_HTTP_HEAD);
	struct st_route_conf *r;
	char err[512];

	building = &cfg[i];
	grouped = i;
	snprintf(building->path, sizeof(building->path), "fuzz_classify.c");
	/* Small enough for inputs to reach it. */
	building->http.max_head_bytes = 512;
	route("api-v1", get, LIT("^/api/v1/", "^(?:/api/v1/)"),
	      LIT("^api\\.example\\.com$", "^(?:api\\.example\\.com)$"));
	r = route("rollout", ST_HTTP_ALL_METHODS, "", "");
	header(r, "x-rollout", LIT("^shadow$", "^(?:shadow)$"));
	header(r, "user-agent", LIT("curl", "(?:curl)"));
	route("static", get, "\\.(css|js|png)(\\?|$)", "");
	route("admin", ST_HTTP_ALL_METHODS, "^/admin|/root$", "example");
	route("json", ST_HTTP_ALL_METHODS, LIT("\\.json$", "(?:\\.json)$"),
	      LIT("^API\\.", "^(?:API\\.)"));
	route("writes", ST_HTTP_WRITE_METHODS, "", "");
	r = route("beta", ST_HTTP_ALL_METHODS, "(^/a|/b)\\b", "");
	header(r, "cookie", "(^|;\\s*)beta=1(;|$)");
	route("internal", ST_HTTP_ALL_METHODS, "", "\\.internal$");
	route("two-segments", get, "^/[^/]+/[^/]+$", "\\W\\D");
	header(route("debug", ST_HTTP_ALL_METHODS, "", ""), "x-debug",
	       LIT("", "(?:)"));
	/* Literals of one condition each, for requests of the seeds. */
	route("text", ST_HTTP_ALL_METHODS,
	      LIT("\\.txt$", "(?:\\.txt)$"), "");
	route("eicar", ST_HTTP_ALL_METHODS, LIT("eicar", "(?:eicar)"), "");
	route("www", ST_HTTP_ALL_METHODS, "",
	      LIT("^www\\.", "^(?:www\\.)"));
	route("rest", ST_HTTP_ALL_METHODS, "", "");
	if (st_classifier_create(building, &classifier[i], err,
				 sizeof(err)) != 0 ||
	    st_classifier_scratch_alloc(classifier[i], &scratch[i]) != 0) {
		fprintf(stderr, "fuzz_classify: %s\n", err);
		abort();
	}
}

/* The general parse gives what st_parse() gave, padding included. */
static void
check_parse(const uint8_t *data, uint32_t size,
	    const struct st_pkt_info *info, const struct st_flow_key *key)
{
	struct st_pkt_info any_info;
	struct st_flow_key any_key;

	memset(&any_info, 0x5a, sizeof(any_info));
	memset(&any_key, 0x5a, sizeof(any_key));
	st_parse_any(data, size, &any_info, &any_key);
	if (memcmp(info, &any_info, sizeof(any_info)) != 0 ||
	    memcmp(key, &any_key, sizeof(any_key)) != 0)
		abort();
}

/* The head at @p p read line by line (st_http_head_next()), against the
 * reader that skips to the lines that frame (st_http_head_finish(), behind
 * st_http_head_length() and st_http_body_length()). */
static void
check_head(const uint8_t *p, uint32_t rest, uint32_t head_len)
{
	struct st_http_head h;
	struct st_http_line line;

	st_http_head_begin(&h, p, rest);
	while (st_http_head_next(&h, &line))
		;
	if (h.len != head_len ||
	    h.body_len != st_http_body_length(p, head_len != 0 ? head_len :
								 rest))
		abort();
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

	if (classifier[0] == NULL) {
		build(0);
		build(1);
	}
	if (size > UINT16_MAX)
		return 0;	/* no frame is longer */
	st_parse(data, size, &info, &key);
	check_parse(data, (uint32_t)size, &info, &key);
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
		check_head(p, rest, head_len);
		/* A head not complete in this frame is classified on what
		 * is there, as the dataplane does. */
		ret = st_classifier_match(classifier[0], scratch[0], p,
					  head_len != 0 ? head_len : rest,
					  (enum st_http_method)method);
		if (ret < ST_ROUTE_NONE || ret >= (int)cfg[0].nb_routes)
			abort();
		if (ret != st_classifier_match(classifier[1], scratch[1], p,
					       head_len != 0 ? head_len : rest,
					       (enum st_http_method)method))
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
