/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier alone: what one request start costs a worker, on the
 * request heads of a capture. Each head goes through what the dataplane
 * does on a request start: its method, one pass over it (its end, its
 * body length, the fields routes look at), the route match.
 *
 * usage: st_bench_classify CONFIG PCAP [SECONDS]
 * prints one JSON object: heads, rounds, ns per request start, heads with
 * a body of known length, matches per route.
 *
 * Instructions per request start, which machine load does not change:
 * valgrind --tool=callgrind '--toggle-collect=classify_all*' with SECONDS
 * 0.001 counts rounds + 1 calls of classify_all() (one warms the caches).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier.h"
#include "config.h"
#include "http.h"
#include "parse.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define MAX_FRAME 65535

struct heads {
	uint8_t *bytes;		/* every head, one after the other */
	uint32_t *off;
	uint32_t *len;
	size_t count, cap, used, room;
};

static int
add_head(struct heads *h, const uint8_t *p, uint32_t len)
{
	if (h->count == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		uint32_t *off = realloc(h->off, cap * sizeof(*off));
		uint32_t *l = off ? realloc(h->len, cap * sizeof(*l)) : NULL;

		if (off != NULL)
			h->off = off;
		if (l == NULL)
			return -ENOMEM;
		h->len = l;
		h->cap = cap;
	}
	if (h->used + len > h->room) {
		size_t room = 2 * (h->room + len);
		uint8_t *b = realloc(h->bytes, room);

		if (b == NULL)
			return -ENOMEM;
		h->bytes = b;
		h->room = room;
	}
	memcpy(h->bytes + h->used, p, len);
	h->off[h->count] = (uint32_t)h->used;
	h->len[h->count++] = len;
	h->used += len;
	return 0;
}

static uint32_t
swap32(uint32_t v, int swapped)
{
	return swapped ? __builtin_bswap32(v) : v;
}

/* The TCP payloads of @p path that start a request, cut to @p max. */
static int
read_heads(const char *path, uint32_t max, struct heads *h)
{
	static uint8_t frame[MAX_FRAME];
	uint32_t ghdr[6], rec[4], magic;
	FILE *f = fopen(path, "rb");
	int swapped, ret = 0;

	if (f == NULL)
		return -errno;
	if (fread(ghdr, sizeof(ghdr), 1, f) != 1) {
		fclose(f);
		return -EINVAL;
	}
	magic = ghdr[0];
	swapped = magic == __builtin_bswap32(PCAP_MAGIC_US) ||
		  magic == __builtin_bswap32(PCAP_MAGIC_NS);
	if (!swapped && magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS) {
		fclose(f);
		return -EINVAL;
	}
	while (ret == 0 && fread(rec, sizeof(rec), 1, f) == 1) {
		uint32_t caplen = swap32(rec[2], swapped);
		struct st_pkt_info info;
		struct st_flow_key key;
		const uint8_t *payload;

		if (caplen > MAX_FRAME || fread(frame, caplen, 1, f) != 1) {
			ret = -EINVAL;
			break;
		}
		st_parse(frame, caplen, &info, &key);
		if (info.l4_proto != IPPROTO_TCP || info.payload_len == 0)
			continue;
		payload = frame + info.payload_off;
		if (st_http_request_method(payload, info.payload_len) >= 0)
			ret = add_head(h, payload,
				       info.payload_len < max ?
					       info.payload_len :
					       max);
	}
	fclose(f);
	return ret;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Every head, as a worker sees request starts; kept out of line for
 * callgrind. Returns the heads followed by a body of known length. */
static __attribute__((noinline)) uint64_t
classify_all(const struct st_classifier *c, struct st_classifier_scratch *s,
	     const struct heads *h, uint64_t *matches)
{
	uint64_t with_body = 0;
	size_t i;

	for (i = 0; i < h->count; i++) {
		const uint8_t *p = h->bytes + h->off[i];
		int method = st_http_request_method(p, h->len[i]);
		struct st_http_head head;
		int route;

		st_http_head_begin(&head, p, h->len[i]);
		st_classifier_read(c, s, &head, (enum st_http_method)method);
		st_http_head_finish(&head);
		route = st_classifier_route(c, s);
		matches[route >= 0 ? route : ST_MAX_ROUTES]++;
		with_body += head.len > 0 && head.body_len > 0;
	}
	return with_body;
}

int
main(int argc, char **argv)
{
	static struct st_config cfg;
	static uint64_t matches[ST_MAX_ROUTES + 1];
	struct st_classifier_scratch *scratch = NULL;
	struct st_classifier *c = NULL;
	struct heads heads = { 0 };
	double seconds = argc > 3 ? atof(argv[3]) : 2.0, start, elapsed;
	uint64_t rounds = 0, with_body = 0;
	char err[512];
	unsigned int i;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CONFIG PCAP [SECONDS]\n", argv[0]);
		return 2;
	}
	ret = st_config_load(argv[1], &cfg, err, sizeof(err));
	if (ret == 0)
		ret = st_classifier_create(&cfg, &c, err, sizeof(err));
	if (ret != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	ret = st_classifier_scratch_alloc(c, &scratch);
	if (ret == 0)
		ret = read_heads(argv[2], cfg.http.max_head_bytes, &heads);
	if (ret != 0 || heads.count == 0) {
		fprintf(stderr, "%s: %s\n", argv[2],
			ret ? strerror(-ret) : "no request starts");
		return 1;
	}
	classify_all(c, scratch, &heads, matches);	/* warm the caches */
	memset(matches, 0, sizeof(matches));
	start = now_ns();
	do {
		with_body = classify_all(c, scratch, &heads, matches);
		rounds++;
		elapsed = now_ns() - start;
	} while (elapsed < seconds * 1e9);

	printf("{\"heads\": %zu, \"rounds\": %llu, \"ns_per_request\": %.1f, "
	       "\"with_body\": %llu, \"matches\": {", heads.count,
	       (unsigned long long)rounds,
	       elapsed / (double)(rounds * heads.count),
	       (unsigned long long)with_body);
	for (i = 0; i < cfg.nb_routes; i++)
		printf("\"%s\": %llu, ", cfg.routes[i].name,
		       (unsigned long long)(matches[i] / rounds));
	printf("\"(none)\": %llu}}\n",
	       (unsigned long long)(matches[ST_MAX_ROUTES] / rounds));
	st_classifier_scratch_free(scratch);
	st_classifier_free(c);
	free(heads.bytes);
	free(heads.off);
	free(heads.len);
	return 0;
}
